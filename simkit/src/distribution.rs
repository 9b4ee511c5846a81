//! Random durations (latency, lag, delays) described the way people measure them.
//!
//! In TOML a distribution is a duration alone (`"300ms"`, fixed) or one table, in one of
//! three forms:
//! - `{ fixed = "300ms" }`;
//! - `{ min = "0s", max = "2s" }`: uniform;
//! - `{ p50 = "500ms", p90 = "1200ms", p99 = "2000ms" }` with optional `min`, `p95`, `max`:
//!   an empirical quantile function, linear between the given points. `min` defaults to
//!   40 % of p50 and `max` to p99 plus (p99 − p90), so the tail beyond p99 is bounded.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A distribution of durations. Sampling is a pure function of the random stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DistributionInput", into = "DistributionSpec")]
pub enum Distribution {
    Fixed(Duration),
    Uniform {
        min: Duration,
        max: Duration,
    },
    /// (quantile, value) points, quantiles strictly increasing from 0 to 1.
    Quantiles(Vec<(f64, Duration)>),
}

impl Distribution {
    pub const ZERO: Distribution = Distribution::Fixed(Duration::ZERO);

    pub fn fixed(d: Duration) -> Self {
        Distribution::Fixed(d)
    }

    pub fn uniform(min: Duration, max: Duration) -> Self {
        Distribution::Uniform { min, max }
    }

    /// From the three percentiles the seeds measured, with the default min and max.
    pub fn percentiles(p50: Duration, p90: Duration, p99: Duration) -> Self {
        DistributionSpec {
            p50: Some(p50),
            p90: Some(p90),
            p99: Some(p99),
            ..DistributionSpec::default()
        }
        .try_into()
        .expect("valid percentiles")
    }

    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        match self {
            Distribution::Fixed(d) => *d,
            Distribution::Uniform { min, max } => {
                if max <= min {
                    *min
                } else {
                    let span = (*max - *min).as_nanos() as u64;
                    *min + Duration::from_nanos(rng.random_range(0..=span))
                }
            }
            Distribution::Quantiles(points) => quantile(points, rng.random::<f64>()),
        }
    }

    /// The value at quantile `q` (0..=1): exact for the forms above, used by tests and docs.
    pub fn quantile(&self, q: f64) -> Duration {
        match self {
            Distribution::Fixed(d) => *d,
            Distribution::Uniform { min, max } => {
                *min + (max.saturating_sub(*min)).mul_f64(q.clamp(0.0, 1.0))
            }
            Distribution::Quantiles(points) => quantile(points, q),
        }
    }
}

fn quantile(points: &[(f64, Duration)], q: f64) -> Duration {
    let q = q.clamp(0.0, 1.0);
    for pair in points.windows(2) {
        let ((q0, v0), (q1, v1)) = (pair[0], pair[1]);
        if q <= q1 {
            let t = (q - q0) / (q1 - q0);
            let (a, b) = (v0.as_secs_f64(), v1.as_secs_f64());
            return Duration::from_secs_f64(a + (b - a) * t);
        }
    }
    points.last().map_or(Duration::ZERO, |p| p.1)
}

/// The TOML form of a [`Distribution`]: every field optional, checked after parsing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributionSpec {
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub fixed: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub min: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub p50: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub p90: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub p95: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub p99: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub max: Option<Duration>,
}

/// What a distribution may be written as: a duration alone (fixed), or a table (whose own
/// errors, such as an unknown field, come through as they are).
pub struct DistributionInput(DistributionSpec);

impl<'de> Deserialize<'de> for DistributionInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Input;
        impl<'de> serde::de::Visitor<'de> for Input {
            type Value = DistributionInput;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a duration such as \"300ms\" or a table such as \
                     { p50 = \"500ms\", p90 = \"1200ms\", p99 = \"2s\" }",
                )
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let fixed =
                    humantime::parse_duration(v).map_err(|e| E::custom(format!("\"{v}\": {e}")))?;
                Ok(DistributionInput(DistributionSpec {
                    fixed: Some(fixed),
                    ..DistributionSpec::default()
                }))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                DistributionSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(DistributionInput)
            }
        }
        d.deserialize_any(Input)
    }
}

impl TryFrom<DistributionInput> for Distribution {
    type Error = String;

    fn try_from(input: DistributionInput) -> Result<Self, String> {
        Distribution::try_from(input.0)
    }
}

impl TryFrom<DistributionSpec> for Distribution {
    type Error = String;

    fn try_from(s: DistributionSpec) -> Result<Self, String> {
        // Every latency, lag and delay the harness models is under a day; larger values
        // would overflow the arithmetic below (and mean a typo).
        let given = [s.fixed, s.min, s.p50, s.p90, s.p95, s.p99, s.max];
        if let Some(too_big) = given.iter().flatten().find(|v| **v > crate::limits::DAY) {
            return Err(format!(
                "\"{}\": expected durations up to 1day in a distribution",
                crate::limits::show(*too_big)
            ));
        }
        let percentiles = [(0.5, s.p50), (0.9, s.p90), (0.95, s.p95), (0.99, s.p99)];
        let any_percentile = percentiles.iter().any(|(_, v)| v.is_some());
        if let Some(fixed) = s.fixed {
            if any_percentile || s.min.is_some() || s.max.is_some() {
                return Err("a distribution with `fixed` takes no other field".into());
            }
            return Ok(Distribution::Fixed(fixed));
        }
        if !any_percentile {
            return match (s.min, s.max) {
                (Some(min), Some(max)) if min <= max => Ok(Distribution::Uniform { min, max }),
                (Some(_), Some(_)) => Err("`min` must not exceed `max`".into()),
                _ => Err(
                    "expected `fixed = \"300ms\"`, `min` and `max` (uniform), or percentiles \
                     such as `p50`, `p90`, `p99`"
                        .into(),
                ),
            };
        }
        let p50 = s.p50.ok_or("percentiles need at least `p50`")?;
        let mut points = vec![(0.0, s.min.unwrap_or(p50.mul_f64(0.4)))];
        points.extend(percentiles.iter().filter_map(|(q, v)| v.map(|v| (*q, v))));
        let (last_q, last_v) = *points.last().expect("p50 is present");
        let default_max = match (s.p90, s.p99) {
            (Some(p90), Some(p99)) => p99 + p99.saturating_sub(p90),
            _ => last_v.mul_f64(1.5),
        };
        if last_q < 1.0 {
            points.push((1.0, s.max.unwrap_or(default_max)));
        }
        if points.windows(2).any(|w| w[1].1 < w[0].1) {
            return Err("values must not decrease: min <= p50 <= p90 <= p95 <= p99 <= max".into());
        }
        Ok(Distribution::Quantiles(points))
    }
}

impl From<Distribution> for DistributionSpec {
    fn from(d: Distribution) -> Self {
        match d {
            Distribution::Fixed(v) => DistributionSpec {
                fixed: Some(v),
                ..Default::default()
            },
            Distribution::Uniform { min, max } => DistributionSpec {
                min: Some(min),
                max: Some(max),
                ..Default::default()
            },
            Distribution::Quantiles(points) => {
                let mut spec = DistributionSpec::default();
                for (q, v) in points {
                    let slot = match q {
                        0.0 => &mut spec.min,
                        0.5 => &mut spec.p50,
                        0.9 => &mut spec.p90,
                        0.95 => &mut spec.p95,
                        0.99 => &mut spec.p99,
                        _ => &mut spec.max,
                    };
                    *slot = Some(v);
                }
                spec
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeedStreams;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn sampled_percentiles_match_the_configured_ones() {
        let dist = Distribution::percentiles(ms(500), ms(1200), ms(2000));
        let mut rng = SeedStreams::new(1).stream("test");
        let mut samples: Vec<Duration> = (0..100_000).map(|_| dist.sample(&mut rng)).collect();
        samples.sort();
        let at = |q: f64| samples[(q * samples.len() as f64) as usize].as_millis() as i64;
        assert!((at(0.5) - 500).abs() < 15, "p50 {}", at(0.5));
        assert!((at(0.9) - 1200).abs() < 25, "p90 {}", at(0.9));
        assert!((at(0.99) - 2000).abs() < 40, "p99 {}", at(0.99));
        assert!(samples[0] >= ms(200) && *samples.last().unwrap() <= ms(2800));
    }

    #[test]
    fn toml_forms_parse_and_bad_ones_explain_themselves() {
        let parse = |s: &str| toml::from_str::<Wrapper>(s).map(|w| w.d);
        assert_eq!(
            parse(r#"d = { fixed = "300ms" }"#).unwrap(),
            Distribution::Fixed(ms(300))
        );
        // A duration alone is fixed (what `--set` and sweep parameters write).
        assert_eq!(
            parse(r#"d = "300ms""#).unwrap(),
            Distribution::Fixed(ms(300))
        );
        let e = parse(r#"d = "300 apples""#).unwrap_err().to_string();
        assert!(e.contains("300 apples"), "{e}");
        let e = parse("d = 3").unwrap_err().to_string();
        assert!(e.contains("a duration such as"), "{e}");
        let e = parse(r#"d = { p50 = "1s", p51 = "2s" }"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("p51"), "{e}");
        assert_eq!(
            parse(r#"d = { min = "0s", max = "2s" }"#).unwrap(),
            Distribution::uniform(Duration::ZERO, ms(2000))
        );
        assert_eq!(
            parse(r#"d = { p50 = "500ms", p90 = "1200ms", p99 = "2s" }"#).unwrap(),
            Distribution::percentiles(ms(500), ms(1200), ms(2000))
        );
        let err = parse(r#"d = { p50 = "2s", p90 = "1s" }"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must not decrease"), "{err}");
        let err = parse(r#"d = { p51 = "2s" }"#).unwrap_err().to_string();
        assert!(err.contains("unknown field `p51`"), "{err}");
        let err = parse(r#"d = { fixed = "soon" }"#).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn serialises_back_to_the_same_distribution() {
        let dist = Distribution::percentiles(ms(400), ms(1000), ms(1500));
        let text = toml::to_string(&Wrapper { d: dist.clone() }).unwrap();
        assert_eq!(toml::from_str::<Wrapper>(&text).unwrap().d, dist);
    }

    #[derive(Serialize, Deserialize)]
    struct Wrapper {
        d: Distribution,
    }
}

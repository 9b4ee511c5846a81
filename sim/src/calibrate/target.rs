//! What `calibrate` fits to: a target file (percentiles per latency name, a cache hit
//! rate, a tolerance) or raw production durations (`{"name": …, "ms": …}` per line).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use simkit::limits;

/// The function calls and requests a target may name (as `summary.json`'s `latency_ms`).
pub const CALLS: [&str; 5] = [
    "check_availability",
    "start_booking",
    "compound_booking",
    "call",
    "lock_wait",
];

/// The percentiles a target may give, as written and as quantiles.
pub const PERCENTILES: [(&str, f64); 6] = [
    ("p50", 0.50),
    ("p75", 0.75),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.9", 0.999),
];

/// One figure to meet.
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    /// A latency percentile of `name` (`check_availability`, `calcom.slots`), in ms.
    Latency {
        name: String,
        label: String,
        q: f64,
        ms: f64,
    },
    /// The availability cache's hit rate (hits / lookups).
    CacheHit(f64),
}

impl Figure {
    /// `check_availability p95`, `cache_hit`.
    pub fn label(&self) -> String {
        match self {
            Figure::Latency { name, label, .. } => format!("{name} {label}"),
            Figure::CacheHit(_) => "cache_hit".into(),
        }
    }

    pub fn value(&self) -> f64 {
        match self {
            Figure::Latency { ms, .. } => *ms,
            Figure::CacheHit(r) => *r,
        }
    }

    /// The figure's value written as the target file writes it.
    pub fn show(&self, value: f64) -> String {
        match self {
            Figure::Latency { .. } => format!("{value:.0} ms"),
            Figure::CacheHit(_) => format!("{:.1} %", value * 100.0),
        }
    }
}

/// The figures, and how far (relative) each may miss.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub tolerance: f64,
    pub figures: Vec<Figure>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    tolerance: Option<f64>,
    #[serde(default)]
    latency: BTreeMap<String, PercentilesFile>,
    rates: Option<RatesFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PercentilesFile {
    #[serde(default, with = "humantime_serde::option")]
    p50: Option<Duration>,
    #[serde(default, with = "humantime_serde::option")]
    p75: Option<Duration>,
    #[serde(default, with = "humantime_serde::option")]
    p90: Option<Duration>,
    #[serde(default, with = "humantime_serde::option")]
    p95: Option<Duration>,
    #[serde(default, with = "humantime_serde::option")]
    p99: Option<Duration>,
    #[serde(default, rename = "p99.9", with = "humantime_serde::option")]
    p999: Option<Duration>,
}

impl PercentilesFile {
    fn given(&self) -> Vec<(&'static str, f64, Duration)> {
        let values = [self.p50, self.p75, self.p90, self.p95, self.p99, self.p999];
        PERCENTILES
            .iter()
            .zip(values)
            .filter_map(|((label, q), v)| v.map(|v| (*label, *q, v)))
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RatesFile {
    cache_hit: Option<f64>,
}

/// Whether `name` is a latency a target may give: a function call, or `calcom.<endpoint>`.
pub fn known_name(name: &str) -> bool {
    CALLS.contains(&name)
        || name.strip_prefix("calcom.").is_some_and(|e| {
            mock_calcom::config::Endpoint::ALL
                .iter()
                .any(|x| x.name() == e)
        })
}

fn names_expected() -> String {
    let endpoints: Vec<String> = mock_calcom::config::Endpoint::ALL
        .iter()
        .map(|e| format!("calcom.{}", e.name()))
        .collect();
    format!("{}, {}", CALLS.join(", "), endpoints.join(", "))
}

impl Target {
    /// Reads a target file; errors name the file, the line where known, and the field.
    pub fn parse(text: &str, origin: &str) -> Result<Target, String> {
        let file: TargetFile =
            toml::from_str(text).map_err(|e| format!("{origin}: {}", e.to_string().trim_end()))?;
        let at = |field: &str, message: String| match limits::line_of(text, field) {
            Some(line) => format!("{origin}:{line}: {message}"),
            None => format!("{origin}: {message}"),
        };
        let tolerance = file.tolerance.unwrap_or(0.15);
        limits::number("tolerance", tolerance, 0.001, 1.0)
            .map_err(|e| at("tolerance", e.to_string()))?;
        let mut figures = Vec::new();
        for (name, percentiles) in &file.latency {
            // A dotted name is written quoted (`[latency."calcom.slots"]`): its line is the
            // `latency` table's.
            let field = if name.contains('.') {
                "latency".to_owned()
            } else {
                format!("latency.{name}")
            };
            if !known_name(name) {
                return Err(at(
                    &field,
                    format!(
                        "latency.\"{name}\": unknown latency name; expected one of {}",
                        names_expected()
                    ),
                ));
            }
            let given = percentiles.given();
            if given.is_empty() {
                return Err(at(
                    &field,
                    format!(
                        "latency.\"{name}\": expected at least one of p50, p75, p90, p95, p99, \"p99.9\""
                    ),
                ));
            }
            let mut previous: Option<(&str, Duration)> = None;
            for (label, q, value) in given {
                limits::duration(
                    &format!("latency.\"{name}\".{label}"),
                    value,
                    Duration::from_millis(1),
                    limits::HOUR,
                )
                .map_err(|e| at(&field, e.to_string()))?;
                if let Some((before, v)) = previous
                    && value < v
                {
                    return Err(at(
                        &field,
                        format!(
                            "latency.\"{name}\".{label}: \"{}\" is below {before} (\"{}\"); \
                             percentiles must not decrease",
                            limits::show(value),
                            limits::show(v)
                        ),
                    ));
                }
                previous = Some((label, value));
                figures.push(Figure::Latency {
                    name: name.clone(),
                    label: label.to_owned(),
                    q,
                    ms: value.as_secs_f64() * 1000.0,
                });
            }
        }
        if let Some(rate) = file.rates.and_then(|r| r.cache_hit) {
            limits::probability("rates.cache_hit", rate)
                .map_err(|e| at("rates.cache_hit", e.to_string()))?;
            figures.push(Figure::CacheHit(rate));
        }
        if figures.is_empty() {
            return Err(format!(
                "{origin}: no figure to fit; expected a `[latency.NAME]` table with percentiles \
                 (p50 = \"1.1s\") or `[rates] cache_hit`"
            ));
        }
        Ok(Target { tolerance, figures })
    }

    /// A target from raw durations, one JSON object a line: `{"name": "check_availability",
    /// "ms": 1234}` (other fields are ignored). Per name the percentiles its count supports:
    /// p50 from 1 duration, p90 from 10, p95 from 20, p99 from 100, p99.9 from 1000.
    pub fn from_durations(text: &str, origin: &str) -> Result<Target, String> {
        #[derive(Deserialize)]
        struct Line {
            name: String,
            ms: f64,
        }
        let mut by_name: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = |m: String| format!("{origin}:{}: {m}", i + 1);
            let l: Line = serde_json::from_str(line).map_err(|e| {
                at(format!(
                    "{e}; expected {{\"name\": \"check_availability\", \"ms\": 1234}}"
                ))
            })?;
            if !known_name(&l.name) {
                return Err(at(format!(
                    "name \"{}\": unknown latency name; expected one of {}",
                    l.name,
                    names_expected()
                )));
            }
            limits::number("ms", l.ms, 0.0, 3_600_000.0).map_err(|e| at(e.to_string()))?;
            by_name.entry(l.name).or_default().push(l.ms);
        }
        let mut figures = Vec::new();
        for (name, mut values) in by_name {
            values.sort_by(f64::total_cmp);
            let n = values.len();
            for (label, q) in PERCENTILES {
                let needed = match label {
                    "p50" => 1,
                    "p90" => 10,
                    "p95" => 20,
                    "p99" => 100,
                    "p99.9" => 1000,
                    _ => continue, // p75 adds little beside p50 and p90
                };
                if n >= needed {
                    figures.push(Figure::Latency {
                        name: name.clone(),
                        label: label.to_owned(),
                        q,
                        ms: nearest_rank(&values, q).max(1.0),
                    });
                }
            }
        }
        if figures.is_empty() {
            return Err(format!("{origin}: no durations"));
        }
        Ok(Target {
            tolerance: 0.15,
            figures,
        })
    }

    /// The target as a target file would write it (for the calibrated scenario's comments).
    pub fn to_toml(&self) -> String {
        let mut out = format!("tolerance = {}\n", self.tolerance);
        let mut name_now = None;
        for f in &self.figures {
            match f {
                Figure::Latency {
                    name, label, ms, ..
                } => {
                    if name_now != Some(name) {
                        out.push_str(&format!("[latency.\"{name}\"]\n"));
                        name_now = Some(name);
                    }
                    let key = if label.contains('.') {
                        format!("\"{label}\"")
                    } else {
                        label.clone()
                    };
                    out.push_str(&format!("{key} = \"{ms:.0}ms\"\n"));
                }
                Figure::CacheHit(r) => out.push_str(&format!("[rates]\ncache_hit = {r}\n")),
            }
        }
        out
    }
}

/// The value at quantile `q` of sorted `values` (nearest rank, as HdrHistogram reports).
pub fn nearest_rank(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let rank = (q * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

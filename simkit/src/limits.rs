//! The documented range of every configuration value, and the error that names a value
//! outside it. Scenario files, the mock's configuration and the engine's policy all check
//! their fields with these, so a value the harness cannot run (a rate of `inf`, a TTL of
//! 600 million years, a probability of 1.5) is refused with its field and the range it
//! must lie in, instead of crashing or hanging a run later.

use std::fmt;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use crate::Distribution;

/// A value outside its range: the field (dotted path), the value as written, and the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfRange {
    pub field: String,
    pub value: String,
    pub expected: String,
}

impl OutOfRange {
    pub fn new(
        field: impl Into<String>,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        OutOfRange {
            field: field.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// The same problem one table further out: `rate` in `journeys[0]` is `journeys[0].rate`.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {}: expected {}",
            self.field, self.value, self.expected
        )
    }
}

impl std::error::Error for OutOfRange {}

pub type Checked = Result<(), OutOfRange>;

/// Common upper bounds.
pub const SECOND: Duration = Duration::from_secs(1);
pub const MINUTE: Duration = Duration::from_secs(60);
pub const HOUR: Duration = Duration::from_secs(3600);
pub const DAY: Duration = Duration::from_secs(86_400);
/// A year as durations are written (`1y` = 365.25 days).
pub const YEAR: Duration = Duration::from_secs(31_557_600);

/// Durations as people write them (`1h 30m`).
pub fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A number as people read it: `0.25`, `3600`, `1e-300`, `inf`.
pub fn show_number(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() || a == 0.0 || (1e-4..1e9).contains(&a) {
        // Shortest form that reads back as the same number.
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// `d` in `[min, max]`.
pub fn duration(field: &str, d: Duration, min: Duration, max: Duration) -> Checked {
    if d < min || d > max {
        return Err(OutOfRange::new(
            field,
            format!("\"{}\"", show(d)),
            format!("a duration from {} to {}", show(min), show(max)),
        ));
    }
    Ok(())
}

/// A finite number in `[min, max]`.
pub fn number(field: &str, x: f64, min: f64, max: f64) -> Checked {
    if !x.is_finite() || x < min || x > max {
        return Err(OutOfRange::new(
            field,
            show_number(x),
            format!("a number from {} to {}", show_number(min), show_number(max)),
        ));
    }
    Ok(())
}

/// A whole number in `[min, max]`.
pub fn count(field: &str, n: u64, min: u64, max: u64) -> Checked {
    if n < min || n > max {
        return Err(OutOfRange::new(
            field,
            n,
            format!("a whole number from {min} to {max}"),
        ));
    }
    Ok(())
}

/// A probability: a finite number in `[0, 1]`.
pub fn probability(field: &str, p: f64) -> Checked {
    if !p.is_finite() || !(0.0..=1.0).contains(&p) {
        return Err(OutOfRange::new(
            field,
            show_number(p),
            "a probability from 0 to 1",
        ));
    }
    Ok(())
}

/// A distribution none of whose values exceeds `max`.
pub fn distribution(field: &str, d: &Distribution, max: Duration) -> Checked {
    let top = d.quantile(1.0);
    if top > max {
        return Err(OutOfRange::new(
            field,
            format!("a distribution up to \"{}\"", show(top)),
            format!("values up to {}", show(max)),
        ));
    }
    Ok(())
}

/// The line (1-based) of `field` (`journeys[0].arrivals.rate`, `calcom.faults[1]`) in the
/// TOML `text`: of the field itself, or of the deepest enclosing table that is written there.
pub fn line_of(text: &str, field: &str) -> Option<usize> {
    let doc = DeTable::parse(text).ok()?;
    let mut span = None;
    let mut here: &DeValue<'_> = &DeValue::Table(doc.into_inner());
    // `DeValue` borrows from a temporary above; walk it by reference.
    let path = field.replace('[', ".").replace(']', "");
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let next = match here {
            DeValue::Table(t) => t
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == part)
                .map(|(k, v)| (k.span(), v)),
            DeValue::Array(a) => part
                .parse::<usize>()
                .ok()
                .and_then(|i| a.get(i))
                .map(|v| (v.span(), v)),
            _ => None,
        };
        let Some((at, value)) = next else { break };
        span = Some(at);
        here = value.get_ref();
    }
    let start = span?.start;
    Some(text[..start.min(text.len())].matches('\n').count() + 1)
}

/// The dotted field an error message starts with (`journeys[0].weights: …`,
/// `policy.lock_ttl = …`, `catalog.services[1] (Dauerwelle).staff: …`).
pub fn field_of(message: &str) -> &str {
    let end = message.find([':', ' ', '(']).unwrap_or(message.len());
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_their_range_name_field_value_and_range() {
        let e = duration("lock_ttl", YEAR * 2, SECOND, HOUR).unwrap_err();
        assert_eq!(e.field, "lock_ttl");
        assert!(
            e.to_string().contains("expected a duration from 1s to 1h"),
            "{e}"
        );
        assert!(duration("lock_ttl", MINUTE, SECOND, HOUR).is_ok());
        for bad in [f64::NAN, f64::INFINITY, -0.5, 1.5] {
            assert!(probability("p", bad).is_err(), "{bad}");
        }
        assert!(probability("p", 1.0).is_ok());
        assert!(number("rate", f64::NEG_INFINITY, 0.0, 10.0).is_err());
        assert_eq!(
            number("rate", 1e9, 0.0, 1000.0)
                .unwrap_err()
                .within("journeys[0].arrivals")
                .field,
            "journeys[0].arrivals.rate"
        );
        assert!(count("retries", 11, 0, 10).is_err());
        assert_eq!(show_number(1e-300), "1e-300");
        assert_eq!(show_number(0.25), "0.25");
        assert_eq!(show_number(f64::INFINITY), "inf");
        let d = Distribution::uniform(Duration::ZERO, DAY);
        assert!(distribution("latency", &d, HOUR).is_err());
        assert!(distribution("latency", &d, DAY).is_ok());
    }
}

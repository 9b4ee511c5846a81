//! Gates: thresholds over a run's results in a k6-like grammar, e.g.
//! `race_failure_rate < 0.01`, `p95(start_booking) < 2s`, `invariants.double_booking == 0`,
//! `outcomes.booked >= 2900`. A metric is a dotted path into the summary's JSON
//! (`calcom.create_booking.429`, `engine.cache_hits`), or `pNN(op)`/`max(op)` for latencies.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Lt => left < right,
            Op::Le => left <= right,
            Op::Gt => left > right,
            Op::Ge => left >= right,
            Op::Eq => (left - right).abs() < 1e-9,
            Op::Ne => (left - right).abs() >= 1e-9,
        }
    }
}

/// A parsed gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub metric: String,
    pub op: Op,
    /// The threshold; durations are in milliseconds.
    pub threshold: f64,
}

/// A gate's verdict on one run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GateResult {
    pub gate: String,
    pub value: Option<f64>,
    pub pass: bool,
}

impl Gate {
    pub fn parse(text: &str) -> Result<Self, String> {
        const OPS: [(&str, Op); 6] = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        let (at, token, op) = OPS
            .iter()
            .filter_map(|(token, op)| text.find(token).map(|at| (at, *token, *op)))
            .min_by_key(|(at, token, _)| (*at, usize::MAX - token.len()))
            .ok_or("expected a comparison: <, <=, >, >=, == or !=")?;
        let metric = text[..at].trim();
        let value = text[at + token.len()..].trim();
        if metric.is_empty() {
            return Err("expected a metric before the comparison".into());
        }
        Ok(Gate {
            metric: metric.to_owned(),
            op,
            threshold: parse_threshold(value)?,
        })
    }

    /// Whether a value passes the comparison.
    pub fn holds(&self, value: f64) -> bool {
        self.op.holds(value, self.threshold)
    }

    /// The metric's value in a summary, if it has one.
    pub fn value(&self, summary: &Value) -> Option<f64> {
        if let Some((func, rest)) = self.metric.split_once('(') {
            let op = rest.strip_suffix(')')?.trim();
            let stats = summary.get("latency_ms")?.get(op)?;
            return stats.get(func.trim()).and_then(Value::as_f64);
        }
        let mut v = summary;
        for part in self.metric.split('.') {
            v = v.get(part)?;
        }
        v.as_f64()
    }

    /// Evaluates against a summary; a metric the run does not have fails the gate (a typo
    /// must not pass silently), except that a missing count reads as zero.
    pub fn check(&self, text: &str, summary: &Value) -> GateResult {
        let value = self.value(summary).or_else(|| {
            let counted = ["outcomes.", "invariants.", "calcom.", "engine."];
            counted
                .iter()
                .any(|p| self.metric.starts_with(p))
                .then_some(0.0)
        });
        GateResult {
            gate: text.to_owned(),
            value,
            pass: value.is_some_and(|v| self.op.holds(v, self.threshold)),
        }
    }
}

fn parse_threshold(text: &str) -> Result<f64, String> {
    let bad = || {
        format!("expected a number, a percentage or a duration after the comparison, got `{text}`")
    };
    if let Some(percent) = text.strip_suffix('%') {
        return percent
            .trim()
            .parse::<f64>()
            .map(|v| v / 100.0)
            .map_err(|_| bad());
    }
    if let Ok(v) = text.parse::<f64>() {
        return Ok(v);
    }
    humantime::parse_duration(text)
        .map(|d| d.as_secs_f64() * 1000.0)
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gates_parse_and_evaluate() {
        let summary = json!({
            "race_failure_rate": 0.25,
            "outcomes": { "booked": 3 },
            "invariants": { "double_booking": 1 },
            "latency_ms": { "start_booking": { "p95": 1800.0 } },
        });
        let check = |text: &str| Gate::parse(text).unwrap().check(text, &summary);
        assert!(check("race_failure_rate < 0.5").pass);
        assert!(!check("race_failure_rate < 1%").pass);
        assert!(check("p95(start_booking) < 2s").pass);
        assert!(!check("p95(start_booking) <= 1.5s").pass);
        assert!(
            !check("invariants.double_booking == 0").pass,
            "a double booking must fail the gate"
        );
        assert!(
            check("invariants.ghost_booking == 0").pass,
            "a missing count is zero"
        );
        assert!(check("outcomes.booked >= 3").pass);
        assert!(
            !check("p99(nonexistent) < 1s").pass,
            "an unknown latency fails"
        );
        assert_eq!(Gate::parse("x >= 2").unwrap().op, Op::Ge);
        assert!(Gate::parse("race_failure_rate").is_err());
        assert!(Gate::parse("< 3").is_err());
        assert!(Gate::parse("x < soon").is_err());
    }
}

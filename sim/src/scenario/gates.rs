//! Gates: thresholds over a run's results in a k6-like grammar, e.g.
//! `race_failure_rate < 0.01`, `p95(start_booking) < 2s`, `invariants.double_booking == 0`,
//! `outcomes.booked >= 2900`. A metric is a dotted path into the summary's JSON
//! (`calcom.create_booking.429`, `engine.cache_hits`), or `pNN(op)`/`max(op)` for latencies.

use serde_json::Value;

use crate::kinds::{Coverage, Invariant, Outcome, Unavailability};

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
    /// The threshold; durations are in milliseconds, percentages as fractions.
    pub threshold: f64,
    /// How the threshold was written, so `p99(start_booking) < 2` (seconds? milliseconds?)
    /// or `false_refusal_rate < 2` (meaning 2 %) is refused instead of judged.
    pub unit: Unit,
}

/// How a gate's threshold was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Number,
    Percent,
    Duration,
}

/// What a metric measures, which decides the thresholds that make sense for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `pNN(op)`, `max(op)`: a duration.
    Latency,
    /// A fraction from 0 to 1 (or a percentage).
    Rate,
    /// Seconds as a plain number.
    Seconds,
    /// Everything else: a count.
    Count,
}

fn kind(metric: &str) -> Kind {
    match metric.split_once('(') {
        Some((func, _)) if func.trim() != "count" => Kind::Latency,
        Some(_) => Kind::Count,
        None if metric.ends_with("_rate") => Kind::Rate,
        None if metric == "sim.simulated_seconds" => Kind::Seconds,
        None => Kind::Count,
    }
}

/// A gate's verdict on one run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateResult {
    pub gate: String,
    pub value: Option<f64>,
    pub pass: bool,
    /// A live run cannot see what the gate reads (the engine's store, locks or Cal.com
    /// requests): neither passed nor failed, and said so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_observable: bool,
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
        let (threshold, unit) = parse_threshold(value)?;
        Ok(Gate {
            metric: metric.to_owned(),
            op,
            threshold,
            unit,
        })
    }

    /// Whether the metric is one a summary has (the schema in the README): a typo such as
    /// `invariants.dubble_booking` is an error naming the closest valid names, not a gate
    /// that reads nothing and passes. And whether the threshold is written in the metric's
    /// unit: a latency takes a duration, a rate a fraction or percentage, a count a number.
    pub fn check_metric(&self) -> Result<(), String> {
        if metric_is_known(&self.metric) {
            return self.check_unit();
        }
        let mut candidates: Vec<(usize, String)> = example_metrics()
            .into_iter()
            .map(|m| (strsim::levenshtein(&m, &self.metric), m))
            .collect();
        candidates.sort();
        let closest: Vec<String> = candidates.into_iter().take(3).map(|(_, m)| m).collect();
        Err(format!(
            "unknown metric `{}`; closest: {}",
            self.metric,
            closest.join(", ")
        ))
    }

    fn check_unit(&self) -> Result<(), String> {
        let (t, m) = (self.threshold, &self.metric);
        match (kind(m), self.unit) {
            (Kind::Latency, Unit::Duration) => Ok(()),
            // Zero needs no unit: `max(lock_wait) == 0`.
            (Kind::Latency, Unit::Number) if t == 0.0 => Ok(()),
            (Kind::Latency, _) => Err(format!(
                "`{m}` is a latency: write the threshold as a duration, e.g. `2s` or `1400ms`"
            )),
            (Kind::Rate, Unit::Number | Unit::Percent) if (0.0..=1.0).contains(&t) => Ok(()),
            (Kind::Rate, _) => Err(format!(
                "`{m}` is a rate from 0 to 1: write the threshold as a fraction or a percentage, \
                 e.g. `0.02` or `2%`"
            )),
            (Kind::Seconds | Kind::Count, Unit::Number) if t >= 0.0 => Ok(()),
            (Kind::Seconds, _) => Err(format!(
                "`{m}` is a number of seconds: write the threshold as a number >= 0, e.g. `300`"
            )),
            (Kind::Count, _) => Err(format!(
                "`{m}` is a count: write the threshold as a number >= 0, e.g. `0` or `2900`"
            )),
        }
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

    /// [`Self::value`], with a count the summary does not list read as zero (no 429 was
    /// answered: `calcom.create_booking.429` is absent); `None` for anything else missing.
    pub fn measured(&self, summary: &Value) -> Option<f64> {
        self.value(summary).or_else(|| {
            let counted = [
                "outcomes.",
                "outcome_errors.",
                "invariants.",
                "calcom.",
                "engine.",
                "unavailable_free.",
            ];
            (counted.iter().any(|p| self.metric.starts_with(p))
                || self.metric == "refused_connections")
                .then_some(0.0)
        })
    }

    /// Evaluates against a summary; a metric the run does not have fails the gate (a typo
    /// must not pass silently), except that a missing count reads as zero.
    pub fn check(&self, text: &str, summary: &Value) -> GateResult {
        let value = self.measured(summary);
        GateResult {
            gate: text.to_owned(),
            value,
            pass: value.is_some_and(|v| self.op.holds(v, self.threshold)),
            not_observable: false,
        }
    }
}

/// Scalars of the summary.
const SCALARS: [&str; 8] = [
    "calls",
    "refused_connections",
    "told_available",
    "race_failure_rate",
    "false_refusal_rate",
    "told_unavailable",
    "unavailable_free_rate",
    "sim.simulated_seconds",
];
/// Latency statistics and the operations they are kept for.
const STATS: [&str; 6] = ["count", "p50", "p90", "p95", "p99", "max"];
const OPERATIONS: [&str; 5] = [
    "check_availability",
    "start_booking",
    "compound_booking",
    "call",
    "lock_wait",
];
const ENDPOINTS: [&str; 9] = [
    "slots",
    "create_booking",
    "get_booking",
    "cancel_booking",
    "reschedule_booking",
    "reserve_slot",
    "reservation",
    "webhooks",
    "event_types",
];
/// The engine's counters, by the names `EngineStats` serializes (one list: the struct's).
fn engine_counters() -> Vec<String> {
    match serde_json::to_value(booking_engine::engine::EngineStats::default()) {
        Ok(Value::Object(fields)) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    }
}
const WEBHOOKS: [&str; 4] = ["delivered", "rejected", "failed", "lost"];
const LOCAL_RESERVATIONS: [&str; 4] = ["held", "converted", "expired", "cancelled"];
const CALCOM_RESERVATIONS: [&str; 3] = ["held", "released", "expired"];

fn is_operation(op: &str) -> bool {
    OPERATIONS.contains(&op)
        || op
            .strip_prefix("calcom.")
            .is_some_and(|e| ENDPOINTS.contains(&e))
}

pub fn metric_is_known(metric: &str) -> bool {
    if let Some((func, rest)) = metric.split_once('(') {
        return STATS.contains(&func.trim())
            && rest
                .strip_suffix(')')
                .is_some_and(|op| is_operation(op.trim()));
    }
    if SCALARS.contains(&metric) {
        return true;
    }
    let parts: Vec<&str> = metric.split('.').collect();
    let outcome = |o: &str| Outcome::named(o).is_some();
    match parts.as_slice() {
        ["outcomes", o] => outcome(o),
        // A booked call has no error type.
        ["outcome_errors", o, e] => outcome(o) && *o != "booked" && error_types().any(|t| t == *e),
        ["invariants", k] => Invariant::named(k).is_some(),
        ["calcom", e, status] => {
            ENDPOINTS.contains(e) && status.parse::<u16>().is_ok_and(|s| STATUSES.contains(&s))
        }
        ["engine", c] => engine_counters().iter().any(|k| k == c),
        ["webhooks", w] => WEBHOOKS.contains(w),
        ["reservations", "local", r] => LOCAL_RESERVATIONS.contains(r),
        ["reservations", "calcom", r] => CALCOM_RESERVATIONS.contains(r),
        ["coverage", c] => Coverage::named(c).is_some(),
        ["unavailable_free", u] => *u == "all" || Unavailability::named(u).is_some(),
        _ => false,
    }
}

/// The error types an outcome is counted under: the engine's (`ERROR_TYPES`), and the
/// harness's own for calls whose last word had none (`no_answer`, `not_available`, `none`).
fn error_types() -> impl Iterator<Item = &'static str> {
    booking_engine::booking::ERROR_TYPES
        .into_iter()
        .chain(["no_answer", "not_available", "none"])
}

/// The statuses a Cal.com request can end with: 0 (no answer: timeout, reset,
/// unreachable), what Cal.com answers (the reference), what a failing proxy before it
/// answers (502-504), and what the HTTP layer answers a request it cannot take. A gate on
/// another (`.492`) is a typo that would always hold.
const STATUSES: [u16; 18] = [
    0, 200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 502, 503, 504,
];

/// Concrete metric names, for suggestions.
fn example_metrics() -> Vec<String> {
    let mut out: Vec<String> = SCALARS.iter().map(|s| (*s).to_owned()).collect();
    out.extend(
        Outcome::ALL
            .iter()
            .map(|o| format!("outcomes.{}", o.name())),
    );
    out.extend(Invariant::ALL.iter().map(|k| format!("invariants.{k}")));
    for o in Outcome::ALL.iter().filter(|o| o.name() != "booked") {
        out.extend(error_types().map(|t| format!("outcome_errors.{}.{t}", o.name())));
    }
    for e in ENDPOINTS {
        out.extend(
            ["200", "201", "400", "409", "422", "429", "500"].map(|s| format!("calcom.{e}.{s}")),
        );
    }
    out.extend(engine_counters().iter().map(|c| format!("engine.{c}")));
    out.extend(WEBHOOKS.iter().map(|w| format!("webhooks.{w}")));
    out.extend(
        LOCAL_RESERVATIONS
            .iter()
            .map(|r| format!("reservations.local.{r}")),
    );
    out.extend(
        CALCOM_RESERVATIONS
            .iter()
            .map(|r| format!("reservations.calcom.{r}")),
    );
    out.push("unavailable_free.all".into());
    out.extend(
        Unavailability::ALL
            .iter()
            .map(|u| format!("unavailable_free.{u}")),
    );
    let ops = OPERATIONS
        .iter()
        .map(|o| (*o).to_owned())
        .chain(ENDPOINTS.iter().map(|e| format!("calcom.{e}")));
    for op in ops {
        out.extend(STATS.iter().map(|s| format!("{s}({op})")));
    }
    out
}

fn parse_threshold(text: &str) -> Result<(f64, Unit), String> {
    let bad = || {
        format!(
            "expected a finite number, a percentage or a duration after the comparison, got `{text}`"
        )
    };
    let finite = |v: f64| if v.is_finite() { Ok(v) } else { Err(bad()) };
    if let Some(percent) = text.strip_suffix('%') {
        let v = percent.trim().parse::<f64>().map_err(|_| bad())?;
        return Ok((finite(v / 100.0)?, Unit::Percent));
    }
    if let Ok(v) = text.parse::<f64>() {
        return Ok((finite(v)?, Unit::Number));
    }
    humantime::parse_duration(text)
        .map(|d| (d.as_secs_f64() * 1000.0, Unit::Duration))
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_metric_the_summary_does_not_have_is_an_error_naming_the_closest() {
        let typo = Gate::parse("invariants.dubble_booking == 0").unwrap();
        let e = typo.check_metric().unwrap_err();
        assert!(e.contains("invariants.double_booking"), "{e}");
        for bad in [
            "p95(start_bookin) < 2s",
            "p42(start_booking) < 2s",
            "calcom.create_booking.9999 == 0",
            "calcom.create_booking.492 == 0",
            "calcom.cancel_booking.249 >= 1",
            "outcomes.racelost == 0",
            "race_failure == 0",
            "engine.cache_hit > 1",
            "outcome_errors.race_lost.slot_takn == 0",
            "outcome_errors.booked.slot_taken == 0",
            "outcome_errors.failed. == 0",
        ] {
            assert!(Gate::parse(bad).unwrap().check_metric().is_err(), "{bad}");
        }
        // A misspelled error type names the one meant.
        let e = Gate::parse("outcome_errors.race_lost.slot_takn == 0")
            .unwrap()
            .check_metric()
            .unwrap_err();
        assert!(e.contains("outcome_errors.race_lost.slot_taken"), "{e}");
        for good in [
            "p95(start_booking) < 2s",
            "max(calcom.create_booking) < 2s",
            "calcom.reserve_slot.429 > 0",
            "outcomes.refused_free == 0",
            "outcome_errors.race_lost.slot_taken >= 1",
            "reservations.local.converted > 0",
            "false_refusal_rate < 1%",
            "race_failure_rate <= 0.05",
            "max(lock_wait) == 0",
            "count(check_availability) >= 3000",
            "sim.simulated_seconds >= 300",
        ] {
            Gate::parse(good).unwrap().check_metric().unwrap();
        }
    }

    /// A status gate names a status a Cal.com request can end with, and every status the
    /// catalogue's runs saw (their committed baselines) is one: a typo (`.492`) would
    /// always hold, a status missing from the list could never be gated.
    #[test]
    fn status_gates_take_exactly_the_statuses_requests_end_with() {
        for status in 0..1000u16 {
            let gate = Gate::parse(&format!("calcom.create_booking.{status} == 0")).unwrap();
            assert_eq!(
                gate.check_metric().is_ok(),
                STATUSES.contains(&status),
                "{status}"
            );
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/baselines");
        let mut seen = 0;
        for file in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
            let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
            for (endpoint, statuses) in summary["calcom"].as_object().unwrap() {
                for status in statuses.as_object().unwrap().keys() {
                    let gate = Gate::parse(&format!("calcom.{endpoint}.{status} >= 0")).unwrap();
                    assert!(gate.check_metric().is_ok(), "calcom.{endpoint}.{status}");
                    seen += 1;
                }
            }
        }
        assert!(seen > 100, "{seen} statuses in the baselines");
    }

    /// A threshold in the wrong unit is a typo that would judge something else: refused,
    /// saying which unit the metric takes.
    #[test]
    fn a_threshold_in_the_wrong_unit_is_refused_naming_the_unit() {
        for (bad, says) in [
            ("p99(check_availability) < 1", "duration"),
            ("p95(start_booking) < 5%", "duration"),
            ("max(calcom.slots) <= 2000", "duration"),
            ("false_refusal_rate < 2", "fraction"),
            ("race_failure_rate < 2s", "fraction"),
            ("race_failure_rate < 150%", "fraction"),
            ("outcomes.booked >= 10ms", "count"),
            ("invariants.double_booking == 0%", "count"),
            ("outcomes.booked >= -1", "count"),
            ("count(start_booking) > 1s", "count"),
            ("sim.simulated_seconds > 5m", "seconds"),
        ] {
            let e = Gate::parse(bad).unwrap().check_metric().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        // The class, over every metric the summary has: each takes exactly the units of
        // its kind (a latency a duration, a rate a fraction or percentage, anything else a
        // number), and zero written bare.
        for metric in example_metrics() {
            let latency = metric.contains('(') && !metric.starts_with("count(");
            let rate = metric.ends_with("_rate");
            for (threshold, fits) in [
                ("0", true),
                ("1500ms", latency),
                ("2%", rate),
                ("0.5", rate || !latency),
                ("3", !latency && !rate),
            ] {
                let gate = format!("{metric} < {threshold}");
                let checked = Gate::parse(&gate).unwrap().check_metric();
                assert_eq!(checked.is_ok(), fits, "{gate}: {checked:?}");
            }
        }
        for bad in [
            "p99(call) < nan",
            "outcomes.booked >= inf",
            "calls > -inf",
            "calls < 1e999",
        ] {
            let e = Gate::parse(bad).unwrap_err();
            assert!(e.contains("finite"), "{bad}: {e}");
        }
        for example in example_metrics() {
            assert!(metric_is_known(&example), "{example}");
        }
    }

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

    /// A gate on an error type no call ended with reads 0 (the summary lists only those
    /// that occurred), like any other count; every type the engine answers with is known.
    #[test]
    fn an_error_type_that_did_not_occur_counts_zero() {
        let summary = serde_json::json!({ "outcome_errors": { "race_lost": { "slot_taken": 2 } } });
        for t in booking_engine::booking::ERROR_TYPES {
            let gate = Gate::parse(&format!("outcome_errors.failed.{t} == 0")).unwrap();
            gate.check_metric().unwrap();
            assert_eq!(gate.measured(&summary), Some(0.0), "{t}");
        }
        let taken = Gate::parse("outcome_errors.race_lost.slot_taken == 2").unwrap();
        assert!(taken.check("", &summary).pass);
        let absent = Gate::parse("outcome_errors.race_lost.lock_timeout == 0").unwrap();
        assert!(absent.check("", &summary).pass);
    }
}

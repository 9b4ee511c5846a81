//! A live run's own figures (`summary.json` under `live`): the generator's send skew,
//! latency from each call's due instant, and what cannot be observed from outside.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use mock_calcom::GroundTruth;
use serde::{Deserialize, Serialize};

use crate::kinds::Invariant;
use crate::scenario::Scenario;
use crate::world::live::LiveRun;
use crate::world::record::{CallRecord, RunRecord};

/// A live run's own figures, in `summary.json` under `live`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSection {
    pub engine: String,
    pub calcom: String,
    /// The wall-clock instant the run's millisecond offsets count from.
    pub started_at: String,
    /// How many weeks every absolute date and instant of the scenario was moved forward.
    pub weeks_shifted: u32,
    /// The run's tag, appended to every call id.
    pub tag: String,
    /// Stopped early (Ctrl-C) or cut short by a failure: calls not yet started never ran,
    /// the settle was cut short.
    pub incomplete: bool,
    /// Why the run is incomplete: stopped, or what failed after calls had run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete_reason: Option<String>,
    /// Calls that never sent a function call (the run was stopped first): in no outcome,
    /// so that gates judge what ran.
    #[serde(default)]
    pub not_started: u64,
    /// Function calls whose connection the engine refused or did not accept in time
    /// (`connect failed`, `connect timed out`): a saturated engine.
    #[serde(default)]
    pub refused_connections: u64,
    /// Why this run's own numbers are invalid (the generator fell behind its schedule
    /// beyond `[live] max_send_skew`, the engine refused connections beyond
    /// `[live] max_refused`); empty when valid. An invalid run fails unless
    /// `[live] allow_invalid`.
    #[serde(default)]
    pub invalid: Vec<String>,
    /// `[live] allow_invalid`: an invalid run is reported, not failed.
    #[serde(default)]
    pub allow_invalid: bool,
    /// Why the run could not judge the engine: function calls without a 2xx answer beyond
    /// `[live] max_unanswered` (an engine unreachable, at another path, failing), answers
    /// the profile could not read beyond `[live] max_unreadable`. Fails the run whatever
    /// `allow_invalid` says: a run that never reached an engine is not a pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unjudgeable: Vec<String>,
    /// How the engine's answers read with `[live.answers]`.
    #[serde(default)]
    pub answers: crate::world::live_answers::Readings,
    /// What could not be checked with what the engine wrote into Cal.com, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<String>,
    /// The policy the engine said it runs (`GET /api/info`), checked against the
    /// scenario's before the run: its preset (`null` when overridden) and every switch.
    /// Absent when the engine does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_preset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_policy: Option<serde_json::Value>,
    /// How late the generator sent each function call after it could have (microseconds):
    /// the run's health figure (its p99 should be far below the latencies measured).
    pub send_skew_us: Skew,
    /// Latency from the instant each function call was due (corrected for coordinated
    /// omission, as wrk2 does), beside `latency_ms`, which counts from when it was sent.
    pub latency_from_scheduled_ms: BTreeMap<String, crate::results::metrics::LatencyStats>,
    /// Invariants that need the engine's own store or locks: not checked, never reported as
    /// holding.
    pub not_observable: Vec<String>,
}

/// Send skew percentiles, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skew {
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl LiveSection {
    /// Whether the run's numbers stand (or the scenario allows them not to).
    pub fn valid(&self) -> bool {
        (self.invalid.is_empty() || self.allow_invalid) && self.unjudgeable.is_empty()
    }
}

/// Function calls whose connection was refused or not accepted in time.
pub(crate) fn refused(calls: &[CallRecord]) -> u64 {
    calls
        .iter()
        .flat_map(|c| &c.steps)
        .filter(|s| {
            serde_json::from_str::<serde_json::Value>(&s.answer)
                .is_ok_and(|a| crate::world::never_connected(&a))
        })
        .count() as u64
}

/// Why a run with this skew and these refusals is invalid under `bounds`.
pub fn invalid(skew: &Skew, refused: u64, bounds: &crate::scenario::LiveBounds) -> Vec<String> {
    let mut why = Vec::new();
    let bound_us = u64::try_from(bounds.max_send_skew.as_micros()).unwrap_or(u64::MAX);
    if skew.p99 > bound_us {
        why.push(format!(
            "send skew p99 {:.1} ms > live.max_send_skew {:.1} ms: the generator fell behind its schedule, the load was not applied as planned",
            skew.p99 as f64 / 1000.0,
            bound_us as f64 / 1000.0
        ));
    }
    if refused > bounds.max_refused {
        why.push(format!(
            "{refused} function call(s) refused a connection by the engine (or not accepted in time) > live.max_refused {}: the engine was saturated",
            bounds.max_refused
        ));
    }
    why
}

/// Why a run whose answers read as `readings` could not judge the engine at `engine`.
pub fn unjudgeable(
    readings: &crate::world::live_answers::Readings,
    engine: &str,
    bounds: &crate::scenario::LiveBounds,
) -> Vec<String> {
    let mut why = Vec::new();
    let unanswered: u64 = readings.unanswered.values().sum();
    let judged = readings.judged.max(1);
    if unanswered > 0 && unanswered as f64 / judged as f64 > bounds.max_unanswered {
        let (cause, n) = readings
            .unanswered
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(c, n)| (c.as_str(), *n))
            .unwrap_or_default();
        let route = format!("POST {engine}/api/webhooks/retell/function");
        let what = match cause {
            "HTTP 404" | "HTTP 405" => format!(
                "the engine answered {cause} to {n} of {} function calls at {route}: no such route there (is it mounted at another path? `--engine` is the base URL; live appends /api/webhooks/retell/function)",
                readings.judged
            ),
            c if c.starts_with("no answer (connect") => format!(
                "{n} of {} function calls reached no engine at {engine} ({}): is it running and listening there?",
                readings.judged,
                c.trim_start_matches("no answer (").trim_end_matches(')')
            ),
            c if c.starts_with("HTTP ") => format!(
                "the engine answered {c} to {n} of {} function calls at {route}",
                readings.judged
            ),
            c => format!(
                "{n} of {} function calls got {c} from the engine at {route}",
                readings.judged
            ),
        };
        why.push(format!(
            "{what}; {unanswered} without a 2xx answer in all > live.max_unanswered {}",
            bounds.max_unanswered
        ));
    }
    if readings.unreadable > bounds.max_unreadable {
        why.push(format!(
            "{} answer(s) the answer profile could not read (unreadable_answer) > live.max_unreadable {}, e.g. {}: describe the engine's answers in [live.answers] (docs/live.md)",
            readings.unreadable,
            bounds.max_unreadable,
            readings.unreadable_examples.first().map_or("", String::as_str)
        ));
    }
    why
}

/// The section of `run`'s summary.
pub fn section(run: &LiveRun) -> LiveSection {
    let calls = &run.record.calls;
    let send_skew_us = skew(calls);
    let refused_connections = refused(calls);
    let bounds = &run.scenario.live;
    LiveSection {
        engine: run.engine.clone(),
        calcom: run.calcom.clone(),
        started_at: crate::history::iso(run.origin),
        weeks_shifted: run.weeks_shifted,
        tag: run.tag.clone(),
        incomplete: run.incomplete,
        incomplete_reason: run.failure.clone().or_else(|| {
            run.incomplete
                .then(|| "stopped (Ctrl-C): calls not yet started never ran".to_owned())
        }),
        not_started: run.not_started,
        refused_connections,
        invalid: invalid(&send_skew_us, refused_connections, bounds),
        allow_invalid: bounds.allow_invalid,
        unjudgeable: unjudgeable(&run.readings, &run.engine, bounds),
        answers: run.readings.clone(),
        unchecked: run.unchecked.clone(),
        engine_preset: run.engine_policy.as_ref().and_then(|s| s.preset.clone()),
        engine_policy: run.engine_policy.as_ref().map(|s| s.policy.clone()),
        send_skew_us,
        latency_from_scheduled_ms: from_scheduled(calls, &run.scenario),
        // Without the mock's ground truth at the end, no invariant could be checked.
        not_observable: Invariant::ALL
            .iter()
            .filter(|k| k.engine_only() || !run.truth_read)
            .map(|k| k.name().to_owned())
            .collect(),
    }
}

fn skew(calls: &[CallRecord]) -> Skew {
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
    for s in calls.iter().flat_map(|c| &c.steps) {
        h.saturating_record(u64::from(s.skew_us).max(1));
    }
    if h.is_empty() {
        return Skew::default();
    }
    Skew {
        count: h.len(),
        p50: h.value_at_quantile(0.5),
        p99: h.value_at_quantile(0.99),
        max: h.max(),
    }
}

/// Latency from each function call's due instant, by operation.
fn from_scheduled(
    calls: &[CallRecord],
    scenario: &Scenario,
) -> BTreeMap<String, crate::results::metrics::LatencyStats> {
    let mut shifted: Vec<CallRecord> = calls.to_vec();
    for s in shifted.iter_mut().flat_map(|c| c.steps.iter_mut()) {
        s.invoked_ms = s.scheduled_ms;
    }
    let record = RunRecord::seen_from_outside(shifted, GroundTruth::default(), Duration::ZERO);
    let samples = crate::results::metrics::samples(&record, scenario);
    crate::results::metrics::latency_table(&crate::results::metrics::histograms(&samples))
}

/// Whether a gate's metric can be read in a live run: the engine's counters, its local
/// reservations, lock waits and its own Cal.com request latencies cannot, nor the
/// invariants only its store shows, nor why a "nicht verfügbar" was wrong.
pub fn observable(metric: &str) -> bool {
    let engine_only = Invariant::ALL
        .iter()
        .any(|k| k.engine_only() && metric == format!("invariants.{k}"));
    let counters = ["engine.", "reservations.local"]
        .iter()
        .any(|p| metric.starts_with(p));
    let latencies = metric.contains("(lock_wait)") || metric.contains("(calcom.");
    let coverage = [
        "coverage.lock_contention",
        "coverage.lock_timeout",
        "coverage.saga_compensation",
        "coverage.reservation_expired",
        "coverage.reservation_expired_mid_call",
    ]
    .contains(&metric);
    // Why a "nicht verfügbar" was wrong needs the holds, which a live run does not see (the
    // rate and `all` it does).
    let reasons = metric.starts_with("unavailable_free.") && metric != "unavailable_free.all";
    !(engine_only || counters || latencies || coverage || reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_on_what_the_engine_alone_knows_are_not_observable() {
        for metric in [
            "invariants.orphan_calcom",
            "invariants.dangling_lock",
            "engine.cache_hits",
            "reservations.local.held",
            "p99(lock_wait)",
            "p95(calcom.create_booking)",
            "coverage.saga_compensation",
        ] {
            assert!(!observable(metric), "{metric}");
        }
        for metric in [
            "invariants.double_booking",
            "invariants.ghost_booking",
            "outcomes.booked",
            "p95(start_booking)",
            "calcom.create_booking.201",
            "coverage.race_window",
            "race_failure_rate",
        ] {
            assert!(observable(metric), "{metric}");
        }
    }

    proptest::proptest! {
        /// Any skew, refusals and bounds: invalid exactly when the skew's p99 passes its
        /// bound or the refusals pass theirs, each named.
        /// Any mix of unanswered function calls (by cause) and unreadable answers, under
        /// any bounds: the run cannot judge the engine exactly when a bound is passed, and
        /// the message names the main cause.
        #[test]
        fn a_run_is_unjudgeable_exactly_when_too_few_answers_were_read(
            judged in 1u64..500, refused in 0u64..200, missing in 0u64..200, failing in 0u64..200,
            unreadable in 0u64..50, max_unreadable in 0u64..50, max_share in 0.0f64..1.0,
        ) {
            let mut readings = crate::world::live_answers::Readings {
                judged: judged + refused + missing + failing,
                unreadable,
                ..Default::default()
            };
            for (cause, n) in [("no answer (connect failed)", refused), ("HTTP 404", missing), ("HTTP 500", failing)] {
                if n > 0 {
                    readings.unanswered.insert(cause.to_owned(), n);
                }
            }
            let bounds = crate::scenario::LiveBounds {
                max_unreadable,
                max_unanswered: max_share,
                ..Default::default()
            };
            let why = unjudgeable(&readings, "http://e", &bounds);
            let unanswered = refused + missing + failing;
            let share = unanswered as f64 / readings.judged as f64;
            proptest::prop_assert_eq!(
                why.iter().any(|w| w.contains("live.max_unanswered")),
                unanswered > 0 && share > max_share
            );
            proptest::prop_assert_eq!(
                why.iter().any(|w| w.contains("live.max_unreadable")),
                unreadable > max_unreadable
            );
            if let Some(w) = why.iter().find(|w| w.contains("live.max_unanswered")) {
                let main = refused.max(missing).max(failing);
                let named = (refused == main && w.contains("reached no engine at http://e"))
                    || (missing == main && w.contains("HTTP 404") && w.contains("another path"))
                    || (failing == main && w.contains("HTTP 500"));
                proptest::prop_assert!(named, "{}", w);
            }
        }

        #[test]
        fn a_run_is_invalid_exactly_when_a_bound_is_passed(
            p99_us in 0u64..10_000_000, bound_ms in 1u64..10_000,
            refused in 0u64..1000, max_refused in 0u64..1000,
        ) {
            let bounds = crate::scenario::LiveBounds {
                max_send_skew: Duration::from_millis(bound_ms),
                max_refused,
                allow_invalid: false,
                ..Default::default()
            };
            let skew = Skew { count: 1, p50: 0, p99: p99_us, max: p99_us };
            let why = invalid(&skew, refused, &bounds);
            let (late, saturated) = (p99_us > bound_ms * 1000, refused > max_refused);
            proptest::prop_assert_eq!(why.len(), usize::from(late) + usize::from(saturated));
            proptest::prop_assert_eq!(why.iter().any(|w| w.contains("live.max_send_skew")), late);
            proptest::prop_assert_eq!(why.iter().any(|w| w.contains("live.max_refused")), saturated);
        }
    }

    #[test]
    fn live_bounds_out_of_range_are_refused_naming_the_field() {
        let base = "name = \"t\"\nstart = \"2025-11-24T09:00:00\"\nduration = \"1m\"\n";
        for (table, field) in [
            ("[live]\nmax_send_skew = \"0s\"\n", "live.max_send_skew"),
            ("[live]\nmax_send_skew = \"2h\"\n", "live.max_send_skew"),
            ("[live]\nmax_refused = 2000000000\n", "live.max_refused"),
            ("[live]\nallow_invalid = \"yes\"\n", "allow_invalid"),
            ("[live]\nmax_skew = \"1s\"\n", "max_skew"),
        ] {
            let err = Scenario::parse(&format!("{base}{table}"), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{table}: {err}");
        }
        let ok = Scenario::parse(
            &format!(
                "{base}[live]\nmax_send_skew = \"250ms\"\nmax_refused = 3\nallow_invalid = true\n"
            ),
            "t",
        )
        .unwrap();
        assert_eq!(ok.live.max_refused, 3);
    }
}

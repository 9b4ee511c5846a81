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
    /// Stopped early (Ctrl-C): calls not yet started never ran, the settle was cut short.
    pub incomplete: bool,
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

/// The section of `run`'s summary.
pub fn section(run: &LiveRun) -> LiveSection {
    let calls = &run.record.calls;
    LiveSection {
        engine: run.engine.clone(),
        calcom: run.calcom.clone(),
        started_at: crate::history::iso(run.origin),
        weeks_shifted: run.weeks_shifted,
        tag: run.tag.clone(),
        incomplete: run.incomplete,
        send_skew_us: skew(calls),
        latency_from_scheduled_ms: from_scheduled(calls, &run.scenario),
        not_observable: Invariant::ALL
            .iter()
            .filter(|k| k.engine_only())
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
}

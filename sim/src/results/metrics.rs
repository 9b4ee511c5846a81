//! Latency samples and HdrHistograms (milliseconds, 3 significant digits) per operation.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::scenario::Scenario;
use crate::world::record::RunRecord;
use crate::world::record::is_check;

/// Histograms by operation name.
pub type Histograms = BTreeMap<String, Histogram<u64>>;

/// Latency statistics of one operation (the reports' model: a summary and a sweep show them).
pub use reports::model::LatencyStats;

/// One latency: which operation, when it ended (ms since the scenario's start), how long.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub op: String,
    pub end_ms: u64,
    pub latency_ms: u64,
}

/// An empty histogram with the bounds every histogram here shares (1 ms to 1 h), so that
/// any two can be added exactly.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000, 3).expect("valid bounds")
}

/// Every latency of a run: `check_availability`, `start_booking`, `compound_booking` (a
/// start_booking of a compound service), `call` (end to end), `lock_wait`, and
/// `calcom.<endpoint>` for every Cal.com request the engine made. Sorted by end, then op.
pub fn samples(run: &RunRecord, scenario: &Scenario) -> Vec<Sample> {
    let catalog = scenario.catalog();
    let start_ms = scenario.start_utc().timestamp_millis();
    let mut out = Vec::new();
    let mut push = |op: &str, end_ms: u64, latency_ms: u64| {
        out.push(Sample {
            op: op.to_owned(),
            end_ms,
            latency_ms,
        })
    };
    for s in &run.calcom_samples {
        let sent = u64::try_from(s.at_ms - start_ms).unwrap_or(0);
        push(
            &format!("calcom.{}", s.endpoint),
            sent + s.latency_ms,
            s.latency_ms,
        );
    }
    // Lock waits carry no instant; they count at the run's end.
    let end = u64::try_from(run.simulated.as_millis()).unwrap_or(u64::MAX);
    for wait in &run.lock_waits {
        push("lock_wait", end, *wait);
    }
    let compound = |service: Option<&str>| {
        service
            .and_then(|s| catalog.service(s))
            .is_some_and(|s| s.is_compound())
    };
    for call in &run.calls {
        for step in &call.steps {
            let op = if is_check(&step.function) {
                "check_availability"
            } else if step.function == "start_booking" {
                "start_booking"
            } else {
                continue;
            };
            let took = step.completed_ms.saturating_sub(step.invoked_ms);
            push(op, step.completed_ms, took);
            if op == "start_booking" && {
                let args = step.args();
                compound(
                    args["service_name"]
                        .as_str()
                        .or(args["dienstleistung"].as_str()),
                )
            } {
                push("compound_booking", step.completed_ms, took);
            }
        }
        if let (Some(first), Some(last)) = (call.steps.first(), call.steps.last()) {
            push(
                "call",
                last.completed_ms,
                last.completed_ms
                    .saturating_sub(first.invoked_ms.min(call.start_ms)),
            );
        }
    }
    out.sort_by(|a, b| (a.end_ms, &a.op).cmp(&(b.end_ms, &b.op)));
    out
}

/// One histogram per operation.
pub fn histograms(samples: &[Sample]) -> Histograms {
    let mut h = Histograms::new();
    for s in samples {
        h.entry(s.op.clone())
            .or_insert_with(histogram)
            .saturating_record(s.latency_ms.max(1));
    }
    h
}

/// Histograms per interval of `width_ms` (by when the operation ended), for latency over
/// time and HdrHistogram interval logs; intervals without samples are left out. Lazy, one
/// interval at a time: an hour's worth of them would not fit in memory at once.
pub fn intervals(samples: &[Sample], width_ms: u64) -> impl Iterator<Item = (u64, Histograms)> {
    let width = width_ms.max(1);
    samples
        .chunk_by(move |a, b| a.end_ms / width == b.end_ms / width)
        .map(move |chunk| (chunk[0].end_ms / width * width, histograms(chunk)))
}

pub fn stats(h: &Histogram<u64>) -> LatencyStats {
    LatencyStats {
        count: h.len(),
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p95: h.value_at_quantile(0.95),
        p99: h.value_at_quantile(0.99),
        max: h.max(),
    }
}

/// Latency statistics of every histogram, by operation.
pub fn latency_table(h: &Histograms) -> BTreeMap<String, LatencyStats> {
    h.iter().map(|(op, h)| (op.clone(), stats(h))).collect()
}

//! Latency histograms (HdrHistogram, milliseconds, 3 significant digits) per operation.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use booking_engine::catalog::Catalog;

use crate::record::is_check;
use crate::world::RunRecord;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyStats {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub max: u64,
}

/// Histograms by operation: `check_availability`, `start_booking`, `compound_booking` (a
/// start_booking of a compound service), `call` (end to end), `lock_wait`, and
/// `calcom.<endpoint>` for every Cal.com request the engine made.
pub fn histograms(run: &RunRecord, catalog: &Catalog) -> BTreeMap<String, Histogram<u64>> {
    let mut h: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut record = |op: &str, ms: u64| {
        h.entry(op.to_owned())
            .or_insert_with(|| Histogram::new_with_bounds(1, 3_600_000, 3).expect("valid bounds"))
            .saturating_record(ms.max(1));
    };
    for sample in &run.calcom_samples {
        record(&format!("calcom.{}", sample.endpoint), sample.latency_ms);
    }
    for wait in &run.lock_waits {
        record("lock_wait", *wait);
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
            record(op, took);
            if op == "start_booking"
                && compound(
                    step.args["service_name"]
                        .as_str()
                        .or(step.args["dienstleistung"].as_str()),
                )
            {
                record("compound_booking", took);
            }
        }
        if let (Some(first), Some(last)) = (call.steps.first(), call.steps.last()) {
            record(
                "call",
                last.completed_ms
                    .saturating_sub(first.invoked_ms.min(call.start_ms)),
            );
        }
    }
    h
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

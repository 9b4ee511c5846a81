//! Latency histograms (HdrHistogram, milliseconds, 3 significant digits) per operation.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::record::{CallRecord, is_check};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyStats {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub max: u64,
}

/// Histograms by operation: `check_availability`, `start_booking`, `call` (end to end).
pub fn histograms(calls: &[CallRecord]) -> BTreeMap<&'static str, Histogram<u64>> {
    let mut h: BTreeMap<&'static str, Histogram<u64>> = BTreeMap::new();
    let mut record = |op: &'static str, ms: u64| {
        h.entry(op)
            .or_insert_with(|| Histogram::new_with_bounds(1, 3_600_000, 3).expect("valid bounds"))
            .saturating_record(ms.max(1));
    };
    for call in calls {
        for step in &call.steps {
            let op = if is_check(&step.function) {
                "check_availability"
            } else if step.function == "start_booking" {
                "start_booking"
            } else {
                continue;
            };
            record(op, step.completed_ms.saturating_sub(step.invoked_ms));
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

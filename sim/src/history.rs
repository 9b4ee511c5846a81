//! The run's history in the Jepsen style: every operation as an `invoke` followed by `ok`,
//! `fail` or `info` (no answer: it may or may not have happened), ordered by simulated time.
//! Processes are the calls (function calls to the engine) and `engine` (its Cal.com requests).

use serde_json::{Value, json};

use crate::record::Completion;
use crate::scenario::Scenario;
use crate::world::RunRecord;

/// One line per event, in time order (ties keep the order they were recorded in).
pub fn history(scenario: &Scenario, run: &RunRecord) -> Vec<Value> {
    let mut events: Vec<(u64, Value)> = Vec::new();
    for call in &run.calls {
        for step in &call.steps {
            events.push((step.invoked_ms, json!({ "t_ms": step.invoked_ms, "process": call.id, "type": "invoke", "f": step.function, "value": step.args })));
            let kind = match step.completion {
                Completion::Ok => "ok",
                Completion::Fail => "fail",
                Completion::Info => "info",
            };
            events.push((step.completed_ms, json!({ "t_ms": step.completed_ms, "process": call.id, "type": kind, "f": step.function, "value": step.answer })));
        }
    }
    let start_ms = scenario.start_utc().timestamp_millis();
    for s in &run.calcom_samples {
        let at = u64::try_from((s.at_ms - start_ms).max(0)).unwrap_or(0);
        let f = format!("calcom.{}", s.endpoint);
        let kind = match s.status {
            0 => "info",
            200..=299 => "ok",
            _ => "fail",
        };
        events.push((
            at,
            json!({ "t_ms": at, "process": "engine", "type": "invoke", "f": f }),
        ));
        events.push((at + s.latency_ms, json!({ "t_ms": at + s.latency_ms, "process": "engine", "type": kind, "f": f, "value": s.status })));
    }
    events.sort_by_key(|(t, _)| *t);
    events.into_iter().map(|(_, v)| v).collect()
}

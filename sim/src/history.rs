//! The run's history in the Jepsen style: every operation as an `invoke` followed by `ok`,
//! `fail` or `info` (no answer: it may or may not have happened), ordered by simulated time.
//! Processes are the calls (function calls to the engine) and `engine` (its Cal.com requests).

use std::io::Write;

use booking_engine::calcom::CalcomSample;
use serde_json::{Value, json};

use crate::record::{CallRecord, Completion, StepRecord};
use crate::scenario::Scenario;
use crate::world::RunRecord;

/// An event, by reference into the record: the history is written a line at a time and
/// never held whole in memory.
enum Event<'a> {
    Invoke(&'a CallRecord, &'a StepRecord),
    Complete(&'a CallRecord, &'a StepRecord),
    CalcomInvoke(u64, &'a CalcomSample),
    CalcomComplete(u64, &'a CalcomSample),
}

impl Event<'_> {
    fn to_json(&self) -> Value {
        match *self {
            Event::Invoke(call, step) => {
                json!({ "t_ms": step.invoked_ms, "process": call.id, "type": "invoke", "f": step.function, "value": step.args })
            }
            Event::Complete(call, step) => {
                let kind = match step.completion {
                    Completion::Ok => "ok",
                    Completion::Fail => "fail",
                    Completion::Info => "info",
                };
                json!({ "t_ms": step.completed_ms, "process": call.id, "type": kind, "f": step.function, "value": step.answer })
            }
            Event::CalcomInvoke(at, s) => {
                json!({ "t_ms": at, "process": "engine", "type": "invoke", "f": format!("calcom.{}", s.endpoint) })
            }
            Event::CalcomComplete(at, s) => {
                let kind = match s.status {
                    0 => "info",
                    200..=299 => "ok",
                    _ => "fail",
                };
                json!({ "t_ms": at, "process": "engine", "type": kind, "f": format!("calcom.{}", s.endpoint), "value": s.status })
            }
        }
    }
}

/// Writes one JSON line per event, in time order (ties keep the order they were recorded in).
pub fn write(scenario: &Scenario, run: &RunRecord, out: &mut impl Write) -> std::io::Result<()> {
    let mut events: Vec<(u64, Event<'_>)> = Vec::new();
    for call in &run.calls {
        for step in &call.steps {
            events.push((step.invoked_ms, Event::Invoke(call, step)));
            events.push((step.completed_ms, Event::Complete(call, step)));
        }
    }
    let start_ms = scenario.start_utc().timestamp_millis();
    for s in &run.calcom_samples {
        let at = u64::try_from((s.at_ms - start_ms).max(0)).unwrap_or(0);
        events.push((at, Event::CalcomInvoke(at, s)));
        events.push((
            at + s.latency_ms,
            Event::CalcomComplete(at + s.latency_ms, s),
        ));
    }
    events.sort_by_key(|(t, _)| *t);
    for (_, e) in &events {
        serde_json::to_writer(&mut *out, &e.to_json())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

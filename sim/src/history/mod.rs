//! The run's history in the Jepsen style, one JSON line per event, ordered by simulated time
//! (`t_ms` since the scenario's start): what the invariant checker ([`crate::check`])
//! reads, from a run or from a file (`bookingsim check history.jsonl`).
//!
//! Processes and what their events mean:
//! - a call id: the caller's function calls, `invoke` then `ok`, `fail` or `info` (no answer:
//!   it may or may not have happened); `f` is the function, `value` its arguments or answer;
//! - `engine`: its Cal.com requests (`f = "calcom.<endpoint>"`, `value` the status), each
//!   appointment it saved (`save`, `f = "appointment"`, at its creation, with the Cal.com
//!   uids of its staffed segments as they ended, `null` for one never booked), and at the end
//!   what it still holds (`settle`: `f = "reservations"` or `"locks"`);
//! - `calcom`: every booking Cal.com committed (`commit`, `f = "booking"`: uid, host, start,
//!   end, source, the call or appointment it belongs to, and for a compound service how many
//!   staffed segments make it whole), every cancel (`cancel`; `by = "staff"` when staff
//!   cancelled or moved it in the app), and the reservations still held at the end (`settle`);
//! - `nemesis`: each fault's `start` and `stop` (`f` its kind), from which liveness is judged.

use std::io::Write;

use booking_engine::calcom::CalcomSample;
use booking_engine::catalog::Catalog;
use booking_engine::store::AppointmentStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::scenario::{Fault, Scenario};
use crate::world::record::RunRecord;
use crate::world::record::{CallRecord, Completion, StepRecord};

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub t_ms: u64,
    pub process: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub f: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
}

impl Event {
    fn new(t_ms: u64, process: &str, kind: &str, f: &str, value: Value) -> Self {
        Event {
            t_ms,
            process: process.to_owned(),
            kind: kind.to_owned(),
            f: f.to_owned(),
            value,
        }
    }
}

/// An event by reference into the record, so that a long run's history is written a line
/// at a time and never held whole in memory.
enum Ref<'a> {
    Invoke(&'a CallRecord, &'a StepRecord),
    Complete(&'a CallRecord, &'a StepRecord),
    CalcomInvoke(u64, &'a CalcomSample),
    CalcomComplete(u64, &'a CalcomSample),
    State(&'a Event),
}

impl Ref<'_> {
    fn event(&self) -> Event {
        match self {
            Ref::Invoke(call, step) => Event::new(
                step.invoked_ms,
                &call.id,
                "invoke",
                &step.function,
                step.args(),
            ),
            Ref::Complete(call, step) => {
                let kind = match step.completion {
                    Completion::Ok => "ok",
                    Completion::Fail => "fail",
                    Completion::Info => "info",
                };
                Event::new(
                    step.completed_ms,
                    &call.id,
                    kind,
                    &step.function,
                    step.answer(),
                )
            }
            Ref::CalcomInvoke(at, s) => Event::new(
                *at,
                "engine",
                "invoke",
                &format!("calcom.{}", s.endpoint),
                Value::Null,
            ),
            Ref::CalcomComplete(at, s) => {
                let kind = match s.status {
                    0 => "info",
                    200..=299 => "ok",
                    _ => "fail",
                };
                Event::new(
                    *at,
                    "engine",
                    kind,
                    &format!("calcom.{}", s.endpoint),
                    s.status.into(),
                )
            }
            Ref::State(e) => (*e).clone(),
        }
    }
}

/// Milliseconds from `start` to `t` (0 before it).
fn ms_since(start: DateTime<Utc>, t: DateTime<Utc>) -> u64 {
    u64::try_from((t - start).num_milliseconds().max(0)).unwrap_or(0)
}

/// Order among events of one instant: faults and cancels first (a booking cancelled in the
/// instant another is made never coexisted with it), commits, the rest, and `settle` last.
fn rank(e: &Ref<'_>) -> u8 {
    match e {
        Ref::State(e) if e.kind == "stop" || e.kind == "start" => 0,
        Ref::State(e) if e.kind == "cancel" => 1,
        Ref::State(e) if e.kind == "commit" => 2,
        Ref::State(e) if e.kind == "settle" => 4,
        _ => 3,
    }
}

/// The events Cal.com's ground truth, the engine's store and the faults contribute.
fn state_events(scenario: &Scenario, run: &RunRecord) -> Result<Vec<Event>, String> {
    let start = scenario.start_utc();
    let catalog = scenario.catalog();
    let end_ms = u64::try_from(run.simulated.as_millis()).unwrap_or(u64::MAX);
    let mut out = Vec::new();
    if !run.engine_visible {
        out.push(Event::new(
            0,
            "harness",
            "info",
            "not_observable",
            json!(
                crate::kinds::Invariant::ALL
                    .iter()
                    .filter(|k| k.engine_only())
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
            ),
        ));
    }
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    for f in &scenario.faults {
        let (kind, at, until) = match *f {
            Fault::EngineCrash { at, restart_after } => ("engine_crash", at, at + restart_after),
            Fault::Partition { at, duration } => ("partition", at, at + duration),
            Fault::Redis { at, duration, .. } => ("redis", at, at + duration),
            Fault::Database { at, duration, .. } => ("database", at, at + duration),
        };
        out.push(Event::new(ms(at), "nemesis", "start", kind, Value::Null));
        out.push(Event::new(ms(until), "nemesis", "stop", kind, Value::Null));
    }
    for f in &scenario.engine.faults {
        use crate::scenario::workers::WorkerFault;
        let (kind, at) = match *f {
            WorkerFault::WorkerCrash { at, .. } => ("worker_crash", at),
            WorkerFault::WorkerStall { at, .. } => ("worker_stall", at),
        };
        let what = json!({ "worker": f.worker() });
        out.push(Event::new(ms(at), "nemesis", "start", kind, what.clone()));
        out.push(Event::new(ms(f.end()), "nemesis", "stop", kind, what));
    }
    for rule in &scenario.calcom.faults {
        let endpoint = match rule.endpoint {
            mock_calcom::config::EndpointSelector::Any => "any",
            mock_calcom::config::EndpointSelector::One(e) => e.name(),
        };
        let what = json!({ "endpoint": endpoint });
        out.push(Event::new(
            ms(rule.from),
            "nemesis",
            "start",
            "calcom_fault",
            what.clone(),
        ));
        // A fault without an end never heals: liveness is not judged in that run.
        if let Some(until) = rule.until {
            out.push(Event::new(
                ms(until),
                "nemesis",
                "stop",
                "calcom_fault",
                what,
            ));
        }
    }
    let truth = &run.truth;
    for b in &truth.bookings {
        let mut value = json!({
            "uid": b.uid, "hostId": b.host_id, "start": iso(b.start), "end": iso(b.end),
            "source": b.source,
        });
        if let Some(at) = b.admitted_at {
            value["admittedMs"] = ms_since(start, at).into();
        }
        if let Some(from) = b.wire.get("rescheduledFromUid").and_then(Value::as_str) {
            value["rescheduledFrom"] = from.into();
        }
        for key in ["call_id", "appointment_id", "service"] {
            if let Some(v) = b.meta(key) {
                value[key] = v.into();
            }
        }
        if let Some(svc) = b
            .meta("service")
            .and_then(|s| catalog.service(s))
            .filter(|s| s.is_compound())
        {
            let staffed = svc
                .segments
                .iter()
                .filter(|seg| seg.event_type_id.is_some())
                .count();
            value["segments"] = staffed.into();
        }
        out.push(Event::new(
            ms_since(start, b.created_at),
            "calcom",
            "commit",
            "booking",
            value,
        ));
        // Not active and no instant given (a history from elsewhere): it is taken to have
        // blocked nothing, rather than to prove a double booking it may never have been.
        let cancelled = b.cancelled_at.or((!b.active()).then_some(b.created_at));
        if let Some(at) = cancelled {
            out.push(Event::new(
                ms_since(start, at),
                "calcom",
                "cancel",
                "booking",
                if b.by_staff {
                    json!({ "uid": b.uid, "by": "staff" })
                } else {
                    json!({ "uid": b.uid })
                },
            ));
        }
    }
    for a in run
        .appointments
        .iter()
        .filter(|a| a.status == AppointmentStatus::Booked)
    {
        let uids: Vec<Option<&str>> = a
            .segments
            .iter()
            .filter(|p| p.calcom_uid.is_some() || is_staffed(&catalog, a.service_id, &p.segment))
            .map(|p| p.calcom_uid.as_deref())
            .collect();
        out.push(Event::new(
            ms_since(start, a.created_at),
            "engine",
            "save",
            "appointment",
            json!({ "id": a.id, "call_id": a.call_id, "uids": uids, "sync": format!("{:?}", a.sync) }),
        ));
    }
    // A hold whose time is still to come at the end is its caller's, not a leak: a
    // simulated run waits until every hold lapsed, a live one cannot (its settle is the
    // scenario's), so this matters live only.
    let end_at = start + chrono::TimeDelta::milliseconds(i64::try_from(end_ms).unwrap_or(i64::MAX));
    let held: Vec<&str> = truth
        .reservations
        .iter()
        .filter(|r| r.state == "held")
        .filter(|r| {
            r.wire
                .get("reservationUntil")
                .and_then(Value::as_str)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_none_or(|until| until <= end_at)
        })
        .map(|r| r.reservation_uid.as_str())
        .collect();
    out.push(Event::new(
        end_ms,
        "calcom",
        "settle",
        "reservations",
        json!({ "held": held }),
    ));
    if !run.engine_visible {
        return Ok(out);
    }
    // A hold past its time no longer holds anything (the engine reads it so), even before
    // the background job marks it expired.
    let end = end_at;
    let local: Vec<Value> = run
        .reservations
        .iter()
        .filter(|r| r.state == "held" && r.until > end)
        .map(|r| json!({ "token": r.token, "call_id": r.call_id }))
        .collect();
    out.push(Event::new(
        end_ms,
        "engine",
        "settle",
        "reservations",
        json!({ "held": local }),
    ));
    out.push(Event::new(
        end_ms,
        "engine",
        "settle",
        "locks",
        json!({ "held": run.locks_held }),
    ));
    Ok(out)
}

fn is_staffed(catalog: &Catalog, service_id: u64, segment: &str) -> bool {
    catalog
        .service_by_event_type_in(service_id, segment)
        .is_some()
}

/// An instant as Cal.com writes it (`2025-11-25T11:00:00.000Z`).
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Every event of the run, in order, handed to `each` one at a time.
pub fn for_each<E: From<String>>(
    scenario: &Scenario,
    run: &RunRecord,
    mut each: impl FnMut(Event) -> Result<(), E>,
) -> Result<(), E> {
    let state = state_events(scenario, run)?;
    // References only (a long run has hundreds of thousands of events), sized once, sorted
    // in place; ties keep the order they were recorded in, within their rank.
    let steps: usize = run.calls.iter().map(|c| c.steps.len()).sum();
    let mut events: Vec<(u64, u8, u32, Ref<'_>)> =
        Vec::with_capacity(2 * steps + 2 * run.calcom_samples.len() + state.len());
    fn push<'a>(events: &mut Vec<(u64, u8, u32, Ref<'a>)>, t: u64, e: Ref<'a>) {
        let seq = u32::try_from(events.len()).unwrap_or(u32::MAX);
        events.push((t, rank(&e), seq, e));
    }
    for call in &run.calls {
        for step in &call.steps {
            push(&mut events, step.invoked_ms, Ref::Invoke(call, step));
            push(&mut events, step.completed_ms, Ref::Complete(call, step));
        }
    }
    let start_ms = scenario.start_utc().timestamp_millis();
    for s in &run.calcom_samples {
        let at = u64::try_from((s.at_ms - start_ms).max(0)).unwrap_or(0);
        push(&mut events, at, Ref::CalcomInvoke(at, s));
        push(
            &mut events,
            at + s.latency_ms,
            Ref::CalcomComplete(at + s.latency_ms, s),
        );
    }
    for e in &state {
        push(&mut events, e.t_ms, Ref::State(e));
    }
    events.sort_unstable_by_key(|&(t, rank, seq, _)| (t, rank, seq));
    for (.., e) in &events {
        each(e.event())?;
    }
    Ok(())
}

/// Writes one JSON line per event.
pub fn write(scenario: &Scenario, run: &RunRecord, out: &mut impl Write) -> std::io::Result<()> {
    for_each(scenario, run, |e| -> Result<(), HistoryError> {
        serde_json::to_writer(&mut *out, &e).map_err(|e| HistoryError(e.to_string()))?;
        out.write_all(b"\n")
            .map_err(|e| HistoryError(e.to_string()))
    })
    .map_err(|e| std::io::Error::other(e.0))
}

/// A history that could not be built or written.
#[derive(Debug)]
pub struct HistoryError(pub String);

impl From<String> for HistoryError {
    fn from(s: String) -> Self {
        HistoryError(s)
    }
}

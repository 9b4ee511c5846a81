//! How a live run reads a foreign engine: what each call asked comes from the request live
//! sent (the arguments: service, date, time), whether a stylist was free from Cal.com's
//! truth, and from the engine's answer only what only it can say: yes or no, and in which
//! words (`[live.answers]`, [`AnswerProfile`]). No outcome depends on a field only this
//! repository's engine sends (`error_type`, `service`, `requested_time`); where those
//! exist they are a cross-check ([`CrossCheck`]).

use std::collections::BTreeMap;

use booking_engine::booking::place;
use booking_engine::catalog::Catalog;
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use mock_calcom::{GroundTruth, MockConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::scenario::AnswerProfile;
use crate::world::record::{CallRecord, Completion, SHORT_NOTICE, StepRecord, THROTTLED, is_check};

/// What the engine said to one function call, as the profile reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    /// A check: the slot is free.
    Available,
    /// A check: the slot is not free.
    NotAvailable,
    /// A booking made.
    Booked,
    /// A booking refused as taken or not bookable ("vergeben").
    Refused,
    /// "Try again later" (the calendar not reachable).
    TryLater,
    /// Failed (`success: false`) in words the profile does not know.
    Failed,
    /// An answer the profile cannot read.
    Unreadable,
    /// No answer: transport error or timeout.
    NoAnswer,
    /// A status other than 2xx.
    Status(u16),
    /// A function whose answer live does not judge.
    Other,
}

/// The error type a step's normalized record carries for what was said (the judge and
/// [`CallRecord::outcome`] read these).
pub const REFUSED: &str = "slot_taken";
pub const TRY_LATER: &str = "try_later";
pub const FAILED: &str = "engine_failed";
pub const UNREADABLE: &str = "unreadable_answer";

fn contains_any(text: &str, words: &[String]) -> bool {
    words.iter().any(|w| text.contains(&w.to_lowercase()))
}

/// Reads one answer of `function` with `profile`.
pub fn read(
    function: &str,
    completion: Completion,
    answer: &Value,
    profile: &AnswerProfile,
) -> Said {
    if completion == Completion::Info {
        return Said::NoAnswer;
    }
    if let Some(object) = answer.as_object()
        && object.len() == 1
        && let Some(status) = object.get("http_status").and_then(Value::as_u64)
    {
        return Said::Status(u16::try_from(status).unwrap_or(u16::MAX));
    }
    let check = is_check(function);
    if !check && function != "start_booking" {
        return Said::Other;
    }
    let mut root = answer
        .pointer(&profile.root)
        .cloned()
        .unwrap_or(Value::Null);
    if let Value::String(text) = &root
        && let Ok(inner @ Value::Object(_)) = serde_json::from_str::<Value>(text)
    {
        root = inner;
    }
    let (success, available, text) = match &root {
        Value::String(text) => (None, None, text.to_lowercase()),
        Value::Object(_) => (
            root.pointer(&profile.success).and_then(Value::as_bool),
            root.pointer(&profile.available).and_then(Value::as_bool),
            profile
                .text
                .iter()
                .filter_map(|p| root.pointer(p).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase(),
        ),
        _ => return Said::Unreadable,
    };
    let refused = contains_any(&text, &profile.refused_words);
    let later = contains_any(&text, &profile.try_later_words);
    if check {
        return match available {
            Some(true) => Said::Available,
            Some(false) => Said::NotAvailable,
            None if refused => Said::NotAvailable,
            None if later => Said::TryLater,
            None if success != Some(false) && contains_any(&text, &profile.available_words) => {
                Said::Available
            }
            None if success == Some(false) => Said::Failed,
            None => Said::Unreadable,
        };
    }
    match success {
        Some(true) => Said::Booked,
        _ if refused => Said::Refused,
        _ if later => Said::TryLater,
        Some(false) => Said::Failed,
        None if contains_any(&text, &profile.booked_words) => Said::Booked,
        None => Said::Unreadable,
    }
}

/// Rewrites a step's record to what was said: the flags and a neutral error type (the
/// engine's own `error_type`, if any, is dropped here and kept by the caller).
fn normalize(step: &mut StepRecord, said: Said) {
    let (available, success, error_type) = match said {
        Said::Available => (Some(true), true, None),
        Said::NotAvailable => (Some(false), true, None),
        Said::Booked => (None, true, None),
        Said::Refused => (None, false, Some(REFUSED)),
        Said::TryLater => (None, false, Some(TRY_LATER)),
        Said::Failed => (None, false, Some(FAILED)),
        Said::Unreadable => (None, false, Some(UNREADABLE)),
        Said::NoAnswer | Said::Status(_) => (None, false, None),
        Said::Other => return,
    };
    step.available = available;
    step.success = success;
    step.error_type = error_type.map(Into::into);
    if !matches!(said, Said::NoAnswer) {
        step.completion = if success {
            Completion::Ok
        } else {
            Completion::Fail
        };
    }
}

/// The service (its catalogue name) and local start (`%Y-%m-%d %H:%M`) a request asked
/// for, from the arguments live sent; relative words ("morgen") read from `today`.
pub fn asked(args: &Value, catalog: &Catalog, today: NaiveDate) -> Option<(String, String)> {
    let service = catalog.service(&booking_engine::retell::text(
        args,
        &["dienstleistung", "service_name", "service"],
    )?)?;
    let local = booking_engine::dates::resolve_datetime(
        booking_engine::retell::text(args, &["datetime", "appointment_datetime"]).as_deref(),
        booking_engine::retell::text(args, &["datum", "date", "appointment_date"]).as_deref(),
        booking_engine::retell::text(args, &["uhrzeit", "time", "appointment_time"]).as_deref(),
        today,
        catalog.time_zone,
    )?;
    Some((service.name.clone(), booking_engine::dates::compact(local)))
}

/// What reading a run's answers found, for `summary.json`'s `live` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readings {
    /// Function calls judged (checks and bookings).
    pub judged: u64,
    /// Answers the profile could not read (`unreadable_answer`), and a few of them.
    pub unreadable: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable_examples: Vec<String>,
    /// Function calls without a 2xx answer, by cause (`no answer: …`, `HTTP 404`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unanswered: BTreeMap<String, u64>,
    /// Where the engine also said why (this repository's `error_type`): the outcome its
    /// words give beside the one judged from the request and the truth.
    pub cross_check: CrossCheck,
}

/// The engine's own `error_type` against the judgement from outside.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossCheck {
    pub agree: u64,
    pub disagree: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

const EXAMPLES: usize = 5;

/// Reads every answer of `calls` with `profile` and rewrites their records to what was
/// said; sets what each step asked from its arguments. Returns the engine's own error
/// types (per call, per step) for [`cross_check`].
pub fn read_all(
    calls: &mut [CallRecord],
    profile: &AnswerProfile,
    catalog: &Catalog,
    origin: DateTime<Utc>,
    readings: &mut Readings,
) -> Vec<Vec<Option<Box<str>>>> {
    let mut own = Vec::with_capacity(calls.len());
    for call in calls.iter_mut() {
        let mut theirs = Vec::with_capacity(call.steps.len());
        for step in call.steps.iter_mut() {
            theirs.push(step.error_type.take());
            let said = read(&step.function, step.completion, &step.answer(), profile);
            match said {
                Said::Other => {}
                Said::NoAnswer => {
                    let why = step.answer()["transport_error"]
                        .as_str()
                        .unwrap_or("no answer")
                        .to_owned();
                    *readings
                        .unanswered
                        .entry(format!("no answer ({why})"))
                        .or_default() += 1;
                }
                Said::Status(s) => {
                    *readings.unanswered.entry(format!("HTTP {s}")).or_default() += 1;
                }
                Said::Unreadable => {
                    readings.unreadable += 1;
                    if readings.unreadable_examples.len() < EXAMPLES {
                        let answer: String = step.answer.chars().take(120).collect();
                        readings
                            .unreadable_examples
                            .push(format!("{} to {}: {answer}", call.id, step.function));
                    }
                }
                _ => {}
            }
            if said != Said::Other {
                readings.judged += 1;
            }
            normalize(step, said);
            let at = origin + TimeDelta::milliseconds(i64::try_from(step.invoked_ms).unwrap_or(0));
            let today = at.with_timezone(&catalog.time_zone).date_naive();
            step.asked = asked(&step.args(), catalog, today).map(|(s, t)| (s.into(), t.into()));
        }
        own.push(theirs);
    }
    own
}

/// After the judge has set `slot_free`: a booking refused after "frei" whose slot had come
/// closer than its event types' minimum notice is `short_notice`; one refused while Cal.com
/// was throttling (its truth's blocks) and a stylist was free is `throttled`.
pub fn judge_from_truth(
    calls: &mut [CallRecord],
    truth: &GroundTruth,
    calcom: &MockConfig,
    catalog: &Catalog,
    origin: DateTime<Utc>,
) {
    let at = |ms: u64| origin + TimeDelta::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX));
    let notice = |id: u64| {
        calcom
            .event_types
            .iter()
            .find(|e| e.id == id)
            .map_or(TimeDelta::zero(), |e| {
                TimeDelta::from_std(e.minimum_notice).unwrap_or(TimeDelta::zero())
            })
    };
    for call in calls.iter_mut().filter(|c| c.told_available()) {
        for step in call
            .steps
            .iter_mut()
            .filter(|s| s.function == "start_booking" && s.error_type.as_deref() == Some(REFUSED))
        {
            let Some((service, start)) = asked_start(step, catalog) else {
                continue;
            };
            let done = at(step.completed_ms);
            let too_soon = place(&service, start).iter().any(|seg| {
                seg.event_type_id
                    .is_some_and(|id| seg.start - done < notice(id))
            });
            if too_soon {
                step.error_type = Some(SHORT_NOTICE.into());
                continue;
            }
            let (from, to) = (at(step.invoked_ms), done);
            let throttled = truth
                .throttle_blocks
                .iter()
                .any(|b| b.from < to && from < b.until);
            if throttled && step.slot_free != Some(false) {
                step.error_type = Some(THROTTLED.into());
            }
        }
    }
}

/// The service and start (UTC) a step asked for.
fn asked_start(
    step: &StepRecord,
    catalog: &Catalog,
) -> Option<(booking_engine::catalog::Service, DateTime<Utc>)> {
    let (service, time) = step.asked.as_ref()?;
    let service = catalog.service(service)?.clone();
    let local = chrono::NaiveDateTime::parse_from_str(time, "%Y-%m-%d %H:%M").ok()?;
    let start = catalog
        .time_zone
        .from_local_datetime(&local)
        .earliest()?
        .with_timezone(&Utc);
    Some((service, start))
}

/// Compares each call's outcome judged from outside with the one the engine's own
/// `error_type`s give (where it sent any).
pub fn cross_check(calls: &[CallRecord], own: &[Vec<Option<Box<str>>>], check: &mut CrossCheck) {
    for (call, theirs) in calls.iter().zip(own) {
        if theirs.iter().all(Option::is_none) {
            continue;
        }
        let mut as_they_say = call.clone();
        for (step, t) in as_they_say.steps.iter_mut().zip(theirs) {
            if t.is_some() {
                step.error_type.clone_from(t);
            }
        }
        let (outside, engine) = (call.outcome(), as_they_say.outcome());
        if outside == engine {
            check.agree += 1;
        } else {
            check.disagree += 1;
            if check.examples.len() < EXAMPLES {
                check.examples.push(format!(
                    "{}: judged {outside}, the engine's error_type ({}) says {engine}",
                    call.id,
                    as_they_say.decisive_error()
                ));
            }
        }
    }
}

/// Cal.com bookings the engine made without the `service` metadata this repository's
/// engine writes: the service is taken from the request of the call named in its
/// `call_id` (when the booking's event type is one of that service's segments), else from
/// the one service whose segments use the event type. Marked `service_from: "request"`.
/// Returns how many bookings had neither `call_id` nor `service` (their compound
/// wholes cannot be told apart).
pub fn infer_services(truth: &mut GroundTruth, calls: &[CallRecord], catalog: &Catalog) -> u64 {
    let asked: BTreeMap<&str, &str> = calls
        .iter()
        .flat_map(|c| {
            c.steps
                .iter()
                .filter(|s| s.function == "start_booking")
                .filter_map(move |s| s.asked.as_ref().map(|(svc, _)| (c.id.as_str(), &**svc)))
        })
        .collect();
    let mut anonymous = 0;
    for b in truth.bookings.iter_mut().filter(|b| b.source == "api") {
        if b.meta("service").is_some() {
            continue;
        }
        let Some(call) = b.meta("call_id").map(str::to_owned) else {
            anonymous += 1;
            continue;
        };
        let event_type = b.wire.get("eventTypeId").and_then(Value::as_u64);
        let uses = |svc: &booking_engine::catalog::Service| {
            event_type.is_none_or(|id| svc.segments.iter().any(|s| s.event_type_id == Some(id)))
        };
        let service = asked
            .get(call.as_str())
            .and_then(|name| catalog.service(name))
            .filter(|s| uses(s))
            .or_else(|| event_type.and_then(|id| catalog.service_by_event_type(id)));
        if let Some(service) = service {
            b.metadata
                .insert("service".into(), Value::String(service.name.clone()));
            b.metadata
                .insert("service_from".into(), Value::String("request".into()));
        }
    }
    anonymous
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn said(function: &str, answer: Value, profile: &AnswerProfile) -> Said {
        read(function, Completion::Ok, &answer, profile)
    }

    /// The seed system's answers, this repository's, wrapped and plain text: each read as
    /// what it says, whatever fields beside it.
    #[test]
    fn the_default_profile_reads_the_seed_systems_answers_and_ours() {
        let p = AnswerProfile::default();
        let b = "start_booking";
        let c = "check_availability_v17";
        let cases = [
            (
                b,
                json!({"success": false, "error": "Dieser Termin wurde gerade vergeben"}),
                Said::Refused,
            ),
            (
                b,
                json!({"success": false, "error": "Dieser Termin wurde gerade vergeben. Bitte wählen Sie einen anderen Zeitpunkt."}),
                Said::Refused,
            ),
            (
                b,
                json!({"success": false, "error_type": "slot_taken", "error": "Dieser Termin wurde gerade vergeben."}),
                Said::Refused,
            ),
            (
                b,
                json!({"success": false, "error": "Der Kalender ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal."}),
                Said::TryLater,
            ),
            (
                b,
                json!({"success": false, "error": "Interner Fehler"}),
                Said::Failed,
            ),
            (
                b,
                json!({"success": true, "message": "Perfekt! Ihr Termin ist gebucht."}),
                Said::Booked,
            ),
            (b, json!({"result": "ok"}), Said::Unreadable),
            (b, json!("Ihr Termin ist gebucht."), Said::Booked),
            (
                b,
                json!("Dieser Termin wurde gerade vergeben."),
                Said::Refused,
            ),
            (
                c,
                json!({"success": true, "available": true, "requested_time": "2025-11-25 12:00"}),
                Said::Available,
            ),
            (
                c,
                json!({"success": true, "available": false}),
                Said::NotAvailable,
            ),
            (
                c,
                json!({"success": true, "message": "Ja, Dauerwelle ist verfügbar am Freitag."}),
                Said::Available,
            ),
            (
                c,
                json!({"success": true, "message": "Leider ist Dauerwelle am Freitag nicht verfügbar."}),
                Said::NotAvailable,
            ),
            (
                c,
                json!({"success": false, "error": "Fehler beim Prüfen der Verfügbarkeit"}),
                Said::Failed,
            ),
            (
                c,
                json!({"result": {"success": true, "available": true}}),
                Said::Unreadable,
            ),
            (c, Value::Null, Said::Unreadable),
            ("get_current_context", json!({}), Said::Other),
            (b, json!({"http_status": 404}), Said::Status(404)),
        ];
        for (function, answer, expected) in cases {
            assert_eq!(
                said(function, answer.clone(), &p),
                expected,
                "{function}: {answer}"
            );
        }
        assert_eq!(
            read(
                b,
                Completion::Info,
                &json!({"transport_error": "connect failed"}),
                &p
            ),
            Said::NoAnswer
        );
    }

    fn incident() -> crate::scenario::Scenario {
        let file = format!(
            "{}/../scenarios/incident-741.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        crate::scenario::Scenario::parse(&std::fs::read_to_string(file).unwrap(), "i").unwrap()
    }

    fn step(function: &str, (from, to): (u64, u64), answer: &Value) -> StepRecord {
        StepRecord::new(
            function.into(),
            (from, to),
            Completion::Ok,
            0,
            serde_json::value::to_raw_value(&json!({})).unwrap(),
            answer,
            &Default::default(),
        )
    }

    /// Refusals after "frei" over generated worlds: the slot's lead against the event
    /// type's minimum notice, Cal.com throttling during the booking's flight or not (or only
    /// before it), and the truth having a stylist free or not. The outcome follows the truth
    /// alone: `short_notice` when too soon, else `race_lost` when taken, else `throttled`
    /// when throttled, else `refused_free`; never told "frei", `unavailable`.
    #[test]
    fn refusals_are_judged_from_the_truth_alone() {
        use crate::kinds::Outcome;
        use rand::Rng;
        let scenario = incident();
        let catalog = scenario.catalog();
        // The booking's answer (12 s in) on a whole minute, as the slots are.
        let origin: DateTime<Utc> = "2025-11-25T07:59:48Z".parse().unwrap();
        let mut rng = simkit::SeedStreams::new(30).stream("live-judge");
        let mut seen = std::collections::BTreeSet::new();
        for case in 0..400 {
            let notice_min: i64 = *[0, 30, 120].get(rng.random_range(0..3)).unwrap();
            let lead_min: i64 = rng.random_range(1..240);
            let throttle = rng.random_range(0..3); // none, during, before
            let free = [Some(true), Some(false), None][rng.random_range(0..3)];
            let told = rng.random_bool(0.85);
            let mut calcom = scenario.calcom.clone();
            for e in calcom.event_types.iter_mut().filter(|e| e.id == 1002) {
                e.minimum_notice = std::time::Duration::from_secs(60 * notice_min as u64);
            }
            // The booking in flight from 10 s to 12 s; the slot `lead` after its answer.
            let done = origin + TimeDelta::seconds(12);
            let start = done + TimeDelta::minutes(lead_min);
            let local = start.with_timezone(&catalog.time_zone).naive_local();
            let mut truth = GroundTruth::default();
            let block = |from: i64, until: i64| mock_calcom::rate_limit::ThrottleBlock {
                key: "cal_".into(),
                from: origin + TimeDelta::seconds(from),
                until: origin + TimeDelta::seconds(until),
            };
            match throttle {
                1 => truth.throttle_blocks.push(block(11, 70)),
                2 => truth.throttle_blocks.push(block(1, 9)),
                _ => {}
            }
            let check = step(
                "check_availability",
                (1_000, 2_000),
                &json!({"success": true, "available": told}),
            );
            let mut booking = step(
                "start_booking",
                (10_000, 12_000),
                &json!({"success": false, "error": "vergeben"}),
            );
            booking.error_type = Some(REFUSED.into());
            booking.success = false;
            booking.completion = Completion::Fail;
            booking.slot_free = free;
            booking.asked = Some((
                "Dauerwelle".into(),
                booking_engine::dates::compact(local).into(),
            ));
            let mut calls = vec![CallRecord {
                id: "c".into(),
                kind: crate::world::workload::CallKind::Scripted,
                start_ms: 0,
                steps: vec![check, booking],
                abandoned: false,
            }];
            judge_from_truth(&mut calls, &truth, &calcom, &catalog, origin);
            let too_soon = lead_min < notice_min;
            let expected = match (told, too_soon, free, throttle == 1) {
                (false, ..) => Outcome::Unavailable,
                (true, true, ..) => Outcome::ShortNotice,
                (true, false, Some(false), _) => Outcome::RaceLost,
                (true, false, _, true) => Outcome::Throttled,
                (true, false, Some(true), false) => Outcome::RefusedFree,
                (true, false, None, false) => Outcome::RaceLost,
            };
            assert_eq!(
                calls[0].outcome(),
                expected,
                "case {case}: notice {notice_min} min, lead {lead_min} min, throttle {throttle}, free {free:?}, told {told}"
            );
            seen.insert(expected.to_string());
        }
        assert_eq!(seen.len(), 5, "{seen:?}");
    }

    #[test]
    fn a_profile_reads_wrapped_and_text_answers() {
        let wrapped = AnswerProfile {
            root: "/result".into(),
            ..AnswerProfile::default()
        };
        let c = "check_availability";
        assert_eq!(
            said(
                c,
                json!({"result": {"success": true, "available": true}}),
                &wrapped
            ),
            Said::Available
        );
        assert_eq!(
            said(
                c,
                json!({"result": "{\"success\":true,\"available\":false}"}),
                &wrapped
            ),
            Said::NotAvailable
        );
        assert_eq!(
            said(
                "start_booking",
                json!({"result": "Leider schon vergeben."}),
                &wrapped
            ),
            Said::Refused
        );
        let english = AnswerProfile {
            refused_words: vec!["taken".into()],
            booked_words: vec!["booked".into()],
            available_words: vec!["is free".into()],
            ..AnswerProfile::default()
        };
        assert_eq!(
            said(c, json!("Monday 10:00 is free"), &english),
            Said::Available
        );
        assert_eq!(
            said(c, json!("Monday 10:00 is taken"), &english),
            Said::NotAvailable
        );
        assert_eq!(
            said("start_booking", json!("You are booked"), &english),
            Said::Booked
        );
        assert_eq!(
            said("start_booking", json!("Sorry?"), &english),
            Said::Unreadable
        );
    }
}

//! What a run records: a Jepsen-style history of every function call (invoke, then ok, fail
//! or info when the answer never came), and each call's outcome.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use booking_engine::calcom::CalcomSample;
use booking_engine::engine::EngineStats;
use booking_engine::store::{Appointment, LocalReservation};
use mock_calcom::GroundTruth;
use mock_calcom::mock::RequestStats;

use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::kinds::Outcome;
use crate::world::workload::CallKind;

/// How a function call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Completion {
    /// The engine answered `success: true`.
    Ok,
    /// The engine answered, and the answer is a refusal or failure.
    Fail,
    /// No answer (timeout, connection lost): it may or may not have happened.
    Info,
}

/// The answers of a run, each text kept once: a long run's tens of thousands of answers are
/// a few thousand different texts ("Ja, … ist verfügbar am Dienstag …").
#[derive(Debug, Clone, Default)]
pub struct Answers(Arc<Mutex<BTreeSet<Arc<str>>>>);

impl Answers {
    fn keep(&self, text: String) -> Arc<str> {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(same) = known.get(text.as_str()) {
            return same.clone();
        }
        let text: Arc<str> = text.into();
        known.insert(text.clone());
        text
    }
}

/// JSON text written as the JSON it is.
fn raw_json<S: Serializer>(text: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    RawValue::from_string(text.to_string())
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

/// One function call. Arguments and answer are kept as JSON text: a long run holds tens of
/// thousands of them, and parsed JSON costs several times its text in memory. What the
/// outcome needs is read from the answer once.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub function: String,
    pub invoked_ms: u64,
    pub completed_ms: u64,
    pub completion: Completion,
    /// Retell's retries of this function call.
    pub retries: u32,
    pub args: Box<RawValue>,
    #[serde(serialize_with = "raw_json")]
    pub answer: Arc<str>,
    /// The answer's `available`, `success` and `error_type`.
    #[serde(skip)]
    pub available: Option<bool>,
    #[serde(skip)]
    pub success: bool,
    #[serde(skip)]
    pub error_type: Option<Box<str>>,
    /// For a booking refused after "frei", and for a check that said "frei": whether Cal.com's
    /// ground truth had a qualified stylist free for every staffed segment at the instant of
    /// the answer (see [`crate::world::judge`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot_free: Option<bool>,
    /// For a check that said "nicht verfügbar" while a qualified stylist was free
    /// (`slot_free`): why the slot looked taken (see [`crate::world::judge`]).
    #[serde(skip)]
    pub unavailable_why: Option<crate::kinds::Unavailability>,
    /// The instant the step was due (its offset in the call, ms since the run's start): the
    /// base of latency corrected for coordinated omission.
    #[serde(skip)]
    pub scheduled_ms: u64,
    /// How late it was sent after it could have been (its offset, or the previous answer
    /// when that came later), in microseconds: the load generator's own lag.
    #[serde(skip)]
    pub skew_us: u32,
    /// The service (its catalogue name) and local start (`%Y-%m-%d %H:%M`) the request
    /// asked for, read from its arguments (a live run sets it; the judge then reads it
    /// instead of the answer's `service` and `requested_time`).
    #[serde(skip)]
    pub asked: Option<(Box<str>, Box<str>)>,
}

impl StepRecord {
    pub fn new(
        function: String,
        (invoked_ms, completed_ms): (u64, u64),
        completion: Completion,
        retries: u32,
        args: Box<RawValue>,
        answer: &Value,
        answers: &Answers,
    ) -> Self {
        StepRecord {
            function,
            invoked_ms,
            completed_ms,
            completion,
            retries,
            args,
            answer: answers.keep(answer.to_string()),
            available: answer["available"].as_bool(),
            success: answer["success"] == true,
            error_type: answer["error_type"].as_str().map(Into::into),
            slot_free: None,
            unavailable_why: None,
            scheduled_ms: invoked_ms,
            skew_us: 0,
            asked: None,
        }
    }

    /// The arguments, parsed.
    pub fn args(&self) -> Value {
        serde_json::from_str(self.args.get()).unwrap_or(Value::Null)
    }

    /// The answer, parsed.
    pub fn answer(&self) -> Value {
        serde_json::from_str(&self.answer).unwrap_or(Value::Null)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub id: String,
    pub kind: CallKind,
    pub start_ms: u64,
    pub steps: Vec<StepRecord>,
    pub abandoned: bool,
}

/// Error types with which the engine says "the slot is taken" (the caller hears "vergeben").
pub const TAKEN: [&str; 5] = [
    "slot_taken",
    "availability_changed",
    "pre_sync_conflict",
    "slot_reserved",
    "lock_timeout",
];

/// The error type of Cal.com's rate limit.
pub const THROTTLED: &str = "rate_limited";

/// The error type of a start refused as closer than the minimum notice (not taken).
pub const SHORT_NOTICE: &str = "short_notice";

pub fn is_check(function: &str) -> bool {
    function.starts_with("check_availability")
}

impl CallRecord {
    /// Whether a check told the caller the slot was free.
    pub fn told_available(&self) -> bool {
        self.steps
            .iter()
            .any(|s| is_check(&s.function) && s.available == Some(true))
    }

    pub fn booked(&self) -> bool {
        self.steps
            .iter()
            .any(|s| s.function == "start_booking" && s.success)
    }

    /// The last `start_booking` of the call.
    pub fn last_booking(&self) -> Option<&StepRecord> {
        self.steps
            .iter()
            .rev()
            .find(|s| s.function == "start_booking")
    }

    pub fn outcome(&self) -> Outcome {
        if self.booked() {
            return Outcome::Booked;
        }
        let told = self.told_available();
        match self.last_booking() {
            Some(b) if b.completion == Completion::Info => {
                if told {
                    Outcome::Failed
                } else {
                    Outcome::Error
                }
            }
            Some(b) => {
                let error_type = b.error_type.as_deref().unwrap_or_default();
                if error_type == SHORT_NOTICE {
                    return if told {
                        Outcome::ShortNotice
                    } else {
                        Outcome::Unavailable
                    };
                }
                match (TAKEN.contains(&error_type), told) {
                    (true, true) if b.slot_free == Some(true) => Outcome::RefusedFree,
                    (true, true) => Outcome::RaceLost,
                    (true, false) => Outcome::Unavailable,
                    (false, true) if error_type == THROTTLED => Outcome::Throttled,
                    (false, true) => Outcome::Failed,
                    (false, false) => Outcome::Error,
                }
            }
            None if self.abandoned => Outcome::Abandoned,
            None => match self.steps.iter().rev().find(|s| is_check(&s.function)) {
                Some(c) if c.available == Some(false) => Outcome::Unavailable,
                Some(c) if c.completion == Completion::Ok && c.available == Some(true) => {
                    Outcome::Abandoned
                }
                _ => Outcome::Error,
            },
        }
    }

    /// Why the call ended as it did: the `error_type` of the step that decided it
    /// (`no_answer` when none came, `none` when the call ended without a refusal).
    pub fn decisive_error(&self) -> &str {
        let step = self
            .last_booking()
            .or_else(|| self.steps.iter().rev().find(|s| is_check(&s.function)));
        match step {
            Some(s) if s.completion == Completion::Info => "no_answer",
            Some(s) => s
                .error_type
                .as_deref()
                .or(match s.available {
                    Some(false) => Some("not_available"),
                    _ => None,
                })
                .unwrap_or("none"),
            None => "none",
        }
    }
}

/// Everything a run leaves behind, for invariants, metrics and replays.
pub struct RunRecord {
    pub calls: Vec<CallRecord>,
    pub truth: GroundTruth,
    pub calcom_requests: RequestStats,
    pub appointments: Vec<Appointment>,
    pub reservations: Vec<LocalReservation>,
    pub engine: EngineStats,
    /// Every Cal.com request the engine made (since its last start).
    pub calcom_samples: Vec<CalcomSample>,
    /// Every lock acquisition's wait, in milliseconds.
    pub lock_waits: Vec<u64>,
    /// The engine's locks still held once the run settled.
    pub locks_held: Vec<String>,
    pub simulated: Duration,
    /// Whether the engine's store, locks and Cal.com requests were seen (a simulation), or
    /// only what callers were told and Cal.com holds (a live run against a foreign engine).
    pub engine_visible: bool,
}

impl RunRecord {
    /// What a run against an engine that is not bookingsim's leaves: the calls and Cal.com's
    /// ground truth, nothing of the engine's own.
    pub fn seen_from_outside(
        calls: Vec<CallRecord>,
        truth: GroundTruth,
        simulated: Duration,
    ) -> Self {
        RunRecord {
            calls,
            calcom_requests: truth.requests.clone(),
            truth,
            appointments: Vec::new(),
            reservations: Vec::new(),
            engine: EngineStats::default(),
            calcom_samples: Vec::new(),
            lock_waits: Vec::new(),
            locks_held: Vec::new(),
            simulated,
            engine_visible: false,
        }
    }
}

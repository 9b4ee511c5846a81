//! What a run records: a Jepsen-style history of every function call (invoke, then ok, fail
//! or info when the answer never came), and each call's outcome.

use serde::Serialize;
use serde_json::Value;

use crate::workload::CallKind;

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

#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub function: String,
    pub invoked_ms: u64,
    pub completed_ms: u64,
    pub completion: Completion,
    /// Retell's retries of this function call.
    pub retries: u32,
    pub args: Value,
    pub answer: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub id: String,
    pub kind: CallKind,
    pub start_ms: u64,
    pub steps: Vec<StepRecord>,
    pub abandoned: bool,
}

/// Every call ends in exactly one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Booked,
    /// Told available, then the booking failed because the slot was taken.
    RaceLost,
    Unavailable,
    Error,
    Abandoned,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Booked,
        Outcome::RaceLost,
        Outcome::Unavailable,
        Outcome::Error,
        Outcome::Abandoned,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Booked => "booked",
            Outcome::RaceLost => "race_lost",
            Outcome::Unavailable => "unavailable",
            Outcome::Error => "error",
            Outcome::Abandoned => "abandoned",
        }
    }
}

/// Error types with which the engine says "the slot is taken" (the caller hears "vergeben").
pub const TAKEN: [&str; 5] = [
    "slot_taken",
    "availability_changed",
    "pre_sync_conflict",
    "slot_reserved",
    "lock_timeout",
];

pub fn is_check(function: &str) -> bool {
    function.starts_with("check_availability")
}

impl CallRecord {
    /// Whether a check told the caller the slot was free.
    pub fn told_available(&self) -> bool {
        self.steps
            .iter()
            .any(|s| is_check(&s.function) && s.answer["available"] == true)
    }

    pub fn booked(&self) -> bool {
        self.steps
            .iter()
            .any(|s| s.function == "start_booking" && s.answer["success"] == true)
    }

    pub fn outcome(&self) -> Outcome {
        if self.booked() {
            return Outcome::Booked;
        }
        let last_booking = self
            .steps
            .iter()
            .rev()
            .find(|s| s.function == "start_booking");
        match last_booking {
            Some(b) if b.completion == Completion::Info => Outcome::Error,
            Some(b) => {
                let taken = b.answer["error_type"]
                    .as_str()
                    .is_some_and(|t| TAKEN.contains(&t));
                match (taken, self.told_available()) {
                    (true, true) => Outcome::RaceLost,
                    (true, false) => Outcome::Unavailable,
                    (false, _) => Outcome::Error,
                }
            }
            None if self.abandoned => Outcome::Abandoned,
            None => match self.steps.iter().rev().find(|s| is_check(&s.function)) {
                Some(c) if c.answer["available"] == false => Outcome::Unavailable,
                Some(c) if c.completion == Completion::Ok && c.answer["available"] == true => {
                    Outcome::Abandoned
                }
                _ => Outcome::Error,
            },
        }
    }
}

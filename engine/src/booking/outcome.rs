//! What a booking or a check comes to: the outcomes the function calls answer with.

use chrono::NaiveDateTime;

use super::Resolved;
use crate::calcom::CalcomError;
use crate::store::Appointment;

/// Every `error_type` the engine answers a function call with: the failures' codes
/// ([`Failure::code`]), the refusals' reasons, and the answers to requests it cannot take or
/// cancels that failed. Gates name them (`outcome_errors.OUTCOME.TYPE`); `validate` refuses
/// any other. (A test reads the engine's sources for every type it writes.)
pub const ERROR_TYPES: [&str; 16] = [
    "calcom_unavailable",
    "calcom_timeout",
    "rate_limited",
    "calcom_rejected",
    "lock_timeout",
    "lock_lost",
    "post_sync_rejected",
    "store_failed",
    "short_notice",
    "infra_unavailable",
    "slot_taken",
    "slot_reserved",
    "pre_sync_conflict",
    "availability_changed",
    "invalid_request",
    "calcom_error",
];

/// Why a request failed without telling anything about the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    CalcomUnavailable,
    CalcomTimeout,
    RateLimited,
    CalcomRejected,
    LockTimeout,
    /// The booking's locks lapsed or were taken over before its create (`lock_fencing`):
    /// nothing was created unguarded, and nothing is said about the slot.
    LockLost,
    PostSyncRejected,
    /// The local save failed after Cal.com booked.
    StoreFailed,
    /// Cal.com refused the start as closer than the event type's minimum notice: it came
    /// too close while the caller talked. Not taken: nothing is said of the slot.
    ShortNotice,
    /// Redis or the database was down (refused, timed out, restarting, failing over):
    /// nothing was booked, and nothing is said about the slot.
    InfraUnavailable,
}

impl Failure {
    pub fn code(self) -> &'static str {
        match self {
            Failure::CalcomUnavailable => "calcom_unavailable",
            Failure::CalcomTimeout => "calcom_timeout",
            Failure::RateLimited => "rate_limited",
            Failure::CalcomRejected => "calcom_rejected",
            Failure::LockTimeout => "lock_timeout",
            Failure::LockLost => "lock_lost",
            Failure::PostSyncRejected => "post_sync_rejected",
            Failure::StoreFailed => "store_failed",
            Failure::ShortNotice => "short_notice",
            Failure::InfraUnavailable => "infra_unavailable",
        }
    }

    pub(super) fn of(e: &CalcomError) -> Self {
        match e {
            CalcomError::RateLimited { .. } => Failure::RateLimited,
            CalcomError::Timeout | CalcomError::ConnectionLost(_) => Failure::CalcomTimeout,
            CalcomError::Server(_) | CalcomError::Unreachable(_) => Failure::CalcomUnavailable,
            CalcomError::TooSoon(_) => Failure::ShortNotice,
            _ => Failure::CalcomRejected,
        }
    }
}

#[derive(Debug, Clone)]
pub enum CheckOutcome {
    Available {
        request: Resolved,
        reservation: Option<String>,
    },
    Unavailable {
        request: Resolved,
        alternatives: Vec<NaiveDateTime>,
    },
    Invalid(String),
    Failed {
        failure: Failure,
        detail: String,
    },
}

#[derive(Debug, Clone)]
pub enum BookOutcome {
    Booked {
        request: Resolved,
        appointment: Appointment,
        repeated: bool,
    },
    /// The slot is (or became) taken; `reason` says which layer saw it.
    Taken {
        request: Resolved,
        reason: &'static str,
        alternatives: Vec<NaiveDateTime>,
    },
    Invalid(String),
    Failed {
        request: Resolved,
        failure: Failure,
        detail: String,
    },
}

impl BookOutcome {
    /// The answer to an attempt whose booking is already saved: that booking, repeated.
    pub(crate) fn repeated(request: Resolved, appointment: Appointment) -> Self {
        BookOutcome::Booked {
            request,
            appointment,
            repeated: true,
        }
    }
}

/// What became of a caller's `cancel_appointment`.
pub enum CancelOutcome {
    Cancelled(Appointment),
    /// The call's booking was still at work after the cancel waited for it: the caller's
    /// word is recorded, and that booking undoes what it makes instead of saving it.
    CancelledInFlight,
    /// The call holds no appointment.
    NotFound,
    /// Cal.com refused a part (without an outbox the appointment stays).
    Failed(CalcomError),
}

/// Why a check under the lock stops the booking: the slot is taken, or the database it
/// reads was down.
pub(super) enum Stop {
    Taken(Refusal),
    Down(crate::infra::Down),
}

/// Why a layer refuses the slot as taken (`BookOutcome::Taken`'s reason), and whether the
/// alternatives offered instead are read fresh from Cal.com.
pub(super) struct Refusal {
    pub(super) reason: &'static str,
    pub(super) fresh: bool,
}

#[cfg(test)]
mod tests {
    /// Every error type the engine's sources write (`"error_type": "…"`, a refusal's
    /// `reason: "…"`, a failure's code) is in [`super::ERROR_TYPES`], so a gate on it passes
    /// `validate`; and every listed type is written somewhere.
    #[test]
    fn error_types_lists_every_type_the_engine_answers_with() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut written = std::collections::BTreeSet::new();
        let mut dirs = vec![src];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for marker in ["\"error_type\": \"", "reason: \"", "=> \""] {
                    for (at, _) in text.match_indices(marker) {
                        let rest = &text[at + marker.len()..];
                        let word: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                            .collect();
                        let closed = rest[word.len()..].starts_with('"');
                        // `=> "…"` is read in `Failure::code` only.
                        if closed
                            && !word.is_empty()
                            && (marker != "=> \"" || path.ends_with("outcome.rs"))
                        {
                            written.insert(word);
                        }
                    }
                }
            }
        }
        let listed: std::collections::BTreeSet<String> =
            super::ERROR_TYPES.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(written, listed);
    }
}

//! What a booking or a check comes to: the outcomes the function calls answer with.

use chrono::NaiveDateTime;

use super::Resolved;
use crate::calcom::CalcomError;
use crate::store::Appointment;

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
            Failure::InfraUnavailable => "infra_unavailable",
        }
    }

    pub(super) fn of(e: &CalcomError) -> Self {
        match e {
            CalcomError::RateLimited { .. } => Failure::RateLimited,
            CalcomError::Timeout | CalcomError::ConnectionLost(_) => Failure::CalcomTimeout,
            CalcomError::Server(_) | CalcomError::Unreachable(_) => Failure::CalcomUnavailable,
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

/// What became of a caller's `cancel_appointment`.
pub enum CancelOutcome {
    Cancelled(Appointment),
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

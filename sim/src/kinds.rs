//! The names every layer shares: how a call ended ([`Outcome`]), the invariants
//! ([`KINDS`]) and the rare paths a run counts ([`COVERAGE`]). They sit below the scenario
//! format so that a gate naming one can be checked where it is read.

use serde::Serialize;

/// Every call ends in exactly one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Booked,
    /// Told available, then refused because the slot really was taken: no qualified stylist
    /// was free in Cal.com at the instant of the refusal. The race the seeds are about.
    RaceLost,
    /// Told available, then refused ("vergeben") while a qualified stylist was free in
    /// Cal.com: the seeds' exact-start check, a caller tripping over its own hold, a lock
    /// that timed out. Not a race: a false refusal.
    RefusedFree,
    /// Told available, then the booking hit Cal.com's rate limit (429).
    Throttled,
    /// Told available, then the booking failed otherwise (Cal.com 5xx or timeout, no answer,
    /// post-sync rejection, failed save).
    Failed,
    /// Told not free at the check (or refused without ever being told free).
    Unavailable,
    /// Never told available, and a function call failed.
    Error,
    Abandoned,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Booked,
        Outcome::RaceLost,
        Outcome::RefusedFree,
        Outcome::Throttled,
        Outcome::Failed,
        Outcome::Unavailable,
        Outcome::Error,
        Outcome::Abandoned,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Booked => "booked",
            Outcome::RaceLost => "race_lost",
            Outcome::RefusedFree => "refused_free",
            Outcome::Throttled => "throttled",
            Outcome::Failed => "failed",
            Outcome::Unavailable => "unavailable",
            Outcome::Error => "error",
            Outcome::Abandoned => "abandoned",
        }
    }
}

/// The kinds, in report order.
pub const KINDS: [&str; 9] = [
    "double_booking",
    "orphan_calcom",
    "orphan_local",
    "partial_compound",
    "ghost_booking",
    "lost_booking",
    "dangling_reservation",
    "no_answer_after_heal",
    "dangling_lock",
];

/// The invariants only the engine's own store and locks can show: not observable in a live
/// run against a foreign engine (listed there, never reported as holding).
pub const ENGINE_ONLY: [&str; 3] = ["orphan_calcom", "orphan_local", "dangling_lock"];

/// The rare paths a run's `coverage` counts.
pub const COVERAGE: [&str; 18] = [
    "race_window",
    "external_race",
    "calcom_409",
    "calcom_400",
    "calcom_422",
    "calcom_429",
    "lock_contention",
    "lock_timeout",
    "saga_compensation",
    "webhook_lost",
    "webhook_duplicated",
    "reservation_expired",
    "reservation_expired_mid_call",
    "stale_available",
    "engine_crash",
    "crash_mid_booking",
    "booked_unanswered",
    "retell_retry",
];

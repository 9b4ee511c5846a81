//! The names every layer shares: how a call ended ([`Outcome`]), the invariants
//! ([`Invariant`]) and the rare paths a run counts ([`Coverage`]). Enums, so that a
//! misspelt name is a compile error; they sit below the scenario format so that a gate
//! naming one can be checked where it is read.

use serde::{Deserialize, Serialize};

/// An enum whose variants have snake_case names, listed in report order in `ALL`.
macro_rules! named {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            /// Every one, in report order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// Its name in results, gates and histories.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// The one named `text`.
            pub fn named(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|k| k.name() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named! {
    /// Every call ends in exactly one outcome.
    pub enum Outcome {
        Booked = "booked",
        /// Told available, then refused because the slot really was taken: no qualified
        /// stylist was free in Cal.com at the instant of the refusal. The race the incident analyses are
        /// about.
        RaceLost = "race_lost",
        /// Told available, then refused ("vergeben") while a qualified stylist was free in
        /// Cal.com: the incident analyses' exact-start check, a caller tripping over its own hold, a lock
        /// that timed out. Not a race: a false refusal.
        RefusedFree = "refused_free",
        /// Told available, then refused because the slot had come closer than the event
        /// type's minimum notice while the caller talked (Cal.com's 400 for it): too soon,
        /// not taken; no booking holds it.
        ShortNotice = "short_notice",
        /// Told available, then the booking hit Cal.com's rate limit (429).
        Throttled = "throttled",
        /// Told available, then the booking failed otherwise (Cal.com 5xx or timeout, no
        /// answer, post-sync rejection, failed save).
        Failed = "failed",
        /// Told not free at the check (or refused without ever being told free).
        Unavailable = "unavailable",
        /// Never told available, and a function call failed.
        Error = "error",
        Abandoned = "abandoned",
    }
}

named! {
    /// What must hold in every run of a correct policy (see `check`).
    pub enum Invariant {
        /// Two active Cal.com bookings overlapping for one staff member.
        DoubleBooking = "double_booking",
        /// A Cal.com booking with no local appointment.
        OrphanCalcom = "orphan_calcom",
        /// A local appointment with no Cal.com booking.
        OrphanLocal = "orphan_local",
        /// Some segments of a compound service booked, others not.
        PartialCompound = "partial_compound",
        /// A caller told it failed, yet booked.
        GhostBooking = "ghost_booking",
        /// A caller told "gebucht", with no booking.
        LostBooking = "lost_booking",
        /// A reservation neither converted, expired nor cancelled.
        DanglingReservation = "dangling_reservation",
        /// A function call made after every fault ended got no answer.
        NoAnswerAfterHeal = "no_answer_after_heal",
        /// A lock still held once the run settled.
        DanglingLock = "dangling_lock",
    }
}

impl Invariant {
    /// Only the engine's own store and locks can show it: not observable in a live run
    /// against a foreign engine (listed there, never reported as holding).
    pub fn engine_only(self) -> bool {
        matches!(
            self,
            Invariant::OrphanCalcom | Invariant::OrphanLocal | Invariant::DanglingLock
        )
    }
}

named! {
    /// The rare paths a run's `coverage` counts: a scenario can gate on still exercising
    /// what it is for (`coverage.race_window >= 1`).
    pub enum Coverage {
        RaceWindow = "race_window",
        ExternalRace = "external_race",
        Calcom409 = "calcom_409",
        Calcom400 = "calcom_400",
        Calcom422 = "calcom_422",
        Calcom429 = "calcom_429",
        LockContention = "lock_contention",
        LockTimeout = "lock_timeout",
        SagaCompensation = "saga_compensation",
        WebhookLost = "webhook_lost",
        WebhookDuplicated = "webhook_duplicated",
        ReservationExpired = "reservation_expired",
        ReservationExpiredMidCall = "reservation_expired_mid_call",
        StaleAvailable = "stale_available",
        EngineCrash = "engine_crash",
        CrashMidBooking = "crash_mid_booking",
        BookedUnanswered = "booked_unanswered",
        RetellRetry = "retell_retry",
    }
}

named! {
    /// Why a check said "nicht verfügbar" while a qualified stylist could have taken the
    /// slot in Cal.com at that instant (`unavailable_free`), judged from the ground truth
    /// and the holds of the run: which layer cost the caller.
    pub enum Unavailability {
        /// Another caller, still deciding, held it in Cal.com (a native reservation hides
        /// the slot from listings).
        CalcomHold = "calcom_hold",
        /// Another caller, still deciding, held it in the engine's own reservations.
        LocalHold = "local_hold",
        /// It was held by a caller who had already moved on (checked or booked another
        /// slot, or hung up) and whose hold was never released: a lapsed, unreleased hold.
        PassedOverHold = "passed_over_hold",
        /// Nothing held it: the listing the engine answered from (its cache, Cal.com's
        /// lagging listing) was stale.
        StaleListing = "stale_listing",
    }
}

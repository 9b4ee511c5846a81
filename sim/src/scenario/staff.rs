//! `[[staff]]`: what staff do in the Cal.com app at an instant, behind the engine's back:
//! cancel or move a booking (Cal.com fires `BOOKING_CANCELLED` / `BOOKING_RESCHEDULED`,
//! subject to `[calcom.webhooks]`' faults), block time for a host (an out-of-office or busy
//! entry: its slots go, no booking, no webhook) or change a host's working hours from that
//! instant on (no webhook). A booking is named by what an author knows before the run (the
//! call that made it, its attendee, its start, or its place in the calendar), never its uid.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use mock_calcom::config::WeeklyHours;
use schemars::JsonSchema;
use serde::Deserialize;
use simkit::limits::{self, Checked, DAY};

use super::Scenario;

/// One thing staff do in the Cal.com app at `at` (from the simulation's start).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, tag = "action", rename_all = "snake_case")]
pub enum StaffAction {
    /// Cancel a booking (`BOOKING_CANCELLED` fires). Which one: every filter given must
    /// match, then the `nth` (default 1) of the matches in start order.
    Cancel {
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        at: Duration,
        /// The call that made it (its metadata's `call_id`), e.g. `"call_1"`.
        #[serde(default)]
        call: Option<String>,
        /// Its attendee's name, e.g. `"Anrufer 0"`.
        #[serde(default)]
        attendee: Option<String>,
        /// Its start, with its offset.
        #[serde(default)]
        start: Option<DateTime<FixedOffset>>,
        /// The n-th of the matching bookings in start order, from 1 (default 1).
        #[serde(default)]
        nth: Option<u32>,
    },
    /// Move a booking to `to`, or `later` than it was (`BOOKING_RESCHEDULED` fires for the
    /// new booking, which refers to the old one; the old one is cancelled). Refused like a
    /// new booking when no host of its event type is free then.
    Reschedule {
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        at: Duration,
        /// The call that made it (its metadata's `call_id`), e.g. `"call_1"`.
        #[serde(default)]
        call: Option<String>,
        /// Its attendee's name, e.g. `"Anrufer 0"`.
        #[serde(default)]
        attendee: Option<String>,
        /// Its start, with its offset.
        #[serde(default)]
        start: Option<DateTime<FixedOffset>>,
        /// The n-th of the matching bookings in start order, from 1 (default 1).
        #[serde(default)]
        nth: Option<u32>,
        /// The new start, with its offset, e.g. `2025-11-25T15:00:00+01:00`.
        #[serde(default)]
        to: Option<DateTime<FixedOffset>>,
        /// Or: the new start this long after the old one.
        #[serde(default, with = "humantime_serde")]
        #[schemars(with = "Option<simkit::schema::HumanDuration>")]
        later: Option<Duration>,
    },
    /// Block `[start, start + length)` of `host` (out of office, a busy entry): no booking,
    /// no webhook; the host's slots there go and Cal.com refuses bookings there.
    Block {
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        at: Duration,
        host: u64,
        /// With its offset, e.g. `2025-11-25T12:00:00+01:00`.
        start: DateTime<FixedOffset>,
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        length: Duration,
    },
    /// Replace `host`'s working hours from `at` on (bookings already made stay; no webhook).
    Hours {
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        at: Duration,
        host: u64,
        working_hours: WeeklyHours,
    },
}

/// Which booking a staff action concerns, among the bookings active at its instant: every
/// filter given must match, then the `nth` (default 1) of the matches in start order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookingChoice {
    pub call: Option<String>,
    pub attendee: Option<String>,
    pub start: Option<DateTime<chrono::Utc>>,
    pub nth: Option<u32>,
}

impl BookingChoice {
    /// Whether any filter was given.
    pub fn names_one(&self) -> bool {
        self.call.is_some() || self.attendee.is_some() || self.start.is_some() || self.nth.is_some()
    }
}

impl StaffAction {
    /// The booking a cancel or a reschedule names.
    pub fn booking(&self) -> Option<BookingChoice> {
        match self {
            StaffAction::Cancel {
                call,
                attendee,
                start,
                nth,
                ..
            }
            | StaffAction::Reschedule {
                call,
                attendee,
                start,
                nth,
                ..
            } => Some(BookingChoice {
                call: call.clone(),
                attendee: attendee.clone(),
                start: start.map(|t| t.to_utc()),
                nth: *nth,
            }),
            _ => None,
        }
    }

    pub fn at(&self) -> Duration {
        match self {
            StaffAction::Cancel { at, .. }
            | StaffAction::Reschedule { at, .. }
            | StaffAction::Block { at, .. }
            | StaffAction::Hours { at, .. } => *at,
        }
    }

    /// `cancel`, `reschedule`, `block` or `hours`.
    pub fn name(&self) -> &'static str {
        match self {
            StaffAction::Cancel { .. } => "cancel",
            StaffAction::Reschedule { .. } => "reschedule",
            StaffAction::Block { .. } => "block",
            StaffAction::Hours { .. } => "hours",
        }
    }
}

/// Every `[[staff]]` entry within its ranges and naming what exists.
pub fn check(s: &Scenario, max: Duration) -> Result<(), String> {
    for (i, a) in s.staff.iter().enumerate() {
        let field = format!("staff[{i}]");
        check_ranges(&field, a, max).map_err(|e| e.to_string())?;
        let host = match a {
            StaffAction::Block { host, .. } | StaffAction::Hours { host, .. } => Some(*host),
            _ => None,
        };
        if let Some(host) = host
            && !s.calcom.hosts.iter().any(|h| h.id == host)
        {
            let defined: Vec<String> = s.calcom.hosts.iter().map(|h| h.id.to_string()).collect();
            return Err(format!(
                "{field}.host: host {host} is not in [calcom] (defined: {})",
                defined.join(", ")
            ));
        }
        if let Some(booking) = a.booking()
            && !booking.names_one()
        {
            return Err(format!(
                "{field}: a {} names its booking: expected one of `call`, `attendee`, `start`, `nth`",
                a.name()
            ));
        }
        if let StaffAction::Reschedule { to, later, .. } = a
            && to.is_some() == later.is_some()
        {
            return Err(format!(
                "{field}: a reschedule says where to: expected exactly one of `to` and `later`"
            ));
        }
    }
    Ok(())
}

fn check_ranges(field: &str, a: &StaffAction, max: Duration) -> Checked {
    limits::duration(&format!("{field}.at"), a.at(), Duration::ZERO, max)?;
    match a {
        StaffAction::Cancel { nth, .. } | StaffAction::Reschedule { nth, .. } => {
            if let Some(n) = *nth {
                limits::count(&format!("{field}.nth"), n.into(), 1, 10_000)?;
            }
            if let StaffAction::Reschedule {
                later: Some(later), ..
            } = a
            {
                limits::duration(&format!("{field}.later"), *later, limits::MINUTE, 365 * DAY)?;
            }
            Ok(())
        }
        StaffAction::Block { length, .. } => limits::duration(
            &format!("{field}.length"),
            *length,
            limits::MINUTE,
            365 * DAY,
        ),
        StaffAction::Hours { .. } => Ok(()),
    }
}

//! Cal.com's ground truth at the end of a run, typed: what the invariant checker and the
//! summary read, with real instants instead of strings and no field silently defaulted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mock_calcom::GroundTruth;
use serde::Deserialize;
use serde_json::Value;

/// One Cal.com booking as the mock's state lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Booking {
    pub uid: String,
    pub host_id: u64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `accepted`, `cancelled`, …
    pub status: String,
    /// `api` (through the API: the engine), `external` (staff in the app), `initial`.
    pub source: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
    /// When Cal.com checked its host free; absent in histories that do not say.
    #[serde(default)]
    pub admitted_at: Option<DateTime<Utc>>,
    /// When it began to block its time, and when a cancel (or a reschedule) ended that.
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl Booking {
    pub fn active(&self) -> bool {
        self.status == "accepted"
    }

    pub fn by_api(&self) -> bool {
        self.source == "api"
    }

    pub fn overlaps(&self, other: &Booking) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// How long both blocked their time together (`None`: never), so that a double booking
    /// a later cancel undid still counts; `Some(None)`: still both active at the end.
    pub fn coexisted(&self, other: &Booking) -> Option<Option<chrono::TimeDelta>> {
        let from = self.created_at.max(other.created_at);
        let until = match (self.cancelled_at, other.cancelled_at) {
            (None, None) => return Some(None),
            (Some(a), None) | (None, Some(a)) => a,
            (Some(a), Some(b)) => a.min(b),
        };
        (from < until).then(|| Some(until - from))
    }

    /// Whether Cal.com itself let these two through: a booking staff made in the app
    /// committed while the other, an API create, was between Cal.com's check and its commit.
    /// No client can prevent that (the staff booking did not exist when the engine asked),
    /// so it is counted apart (`coverage.external_race`), not as the engine's double booking.
    pub fn calcom_race(&self, other: &Booking) -> bool {
        let raced = |api: &Booking, staff: &Booking| {
            api.by_api()
                && staff.source == "external"
                && api
                    .admitted_at
                    .is_some_and(|at| at <= staff.created_at && staff.created_at <= api.created_at)
        };
        raced(self, other) || raced(other, self)
    }

    /// A metadata value written as text (`call_id`, `service`, `appointment_id`).
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }
}

/// One Cal.com reservation and how it ended.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub reservation_uid: String,
    /// `held`, `released` or `expired`.
    pub state: String,
}

/// The bookings and reservations of a ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    pub bookings: Vec<Booking>,
    pub reservations: Vec<Reservation>,
}

impl Truth {
    /// Pairs of overlapping bookings of one host that Cal.com let through in its own race
    /// with staff (see [`Booking::calcom_race`]).
    pub fn calcom_races(&self) -> u64 {
        let mut n = 0;
        for (i, a) in self.bookings.iter().enumerate() {
            for b in &self.bookings[i + 1..] {
                n += u64::from(
                    a.host_id == b.host_id
                        && a.overlaps(b)
                        && a.coexisted(b).is_some()
                        && a.calcom_race(b),
                );
            }
        }
        n
    }

    /// Reads the mock's state; an entry that does not have the documented shape is an
    /// error naming it, never a field read as empty.
    pub fn of(truth: &GroundTruth) -> Result<Self, String> {
        let bookings = truth
            .bookings
            .iter()
            .map(|b| {
                serde_json::from_value(b.clone())
                    .map_err(|e| format!("ground truth booking {}: {e}", b["uid"]))
            })
            .collect::<Result<_, _>>()?;
        let reservations = truth
            .reservations
            .iter()
            .map(|r| {
                serde_json::from_value(r.clone())
                    .map_err(|e| format!("ground truth reservation {}: {e}", r["reservationUid"]))
            })
            .collect::<Result<_, _>>()?;
        Ok(Truth {
            bookings,
            reservations,
        })
    }
}

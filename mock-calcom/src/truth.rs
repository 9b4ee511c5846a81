//! Cal.com's ground truth, typed: every booking and reservation as `GET /_mock/state` lists
//! them, and as the harness checks its invariants against them. One record type each, for
//! the mock and the harness alike.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One booking, whatever became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingRecord {
    pub uid: String,
    pub host_id: u64,
    #[serde(with = "millis")]
    pub start: DateTime<Utc>,
    #[serde(with = "millis")]
    pub end: DateTime<Utc>,
    /// `accepted`, `cancelled`, …
    pub status: String,
    /// `api` (through the API: the engine), `external` (staff in the app), `initial`.
    pub source: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
    /// When Cal.com checked its host free; absent in states that do not say.
    #[serde(default, with = "millis_opt", skip_serializing_if = "Option::is_none")]
    pub admitted_at: Option<DateTime<Utc>>,
    /// When it began to block its time, and when a cancel (or a reschedule) ended that.
    #[serde(with = "millis")]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "millis_opt", skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Cancelled or moved away by staff in the Cal.com app (not through the API).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_staff: bool,
    /// The rest of Cal.com's booking as its API returns it (title, attendees, hosts, …).
    #[serde(flatten)]
    pub wire: Map<String, Value>,
}

impl BookingRecord {
    pub fn active(&self) -> bool {
        self.status == "accepted"
    }

    pub fn by_api(&self) -> bool {
        self.source == "api"
    }

    pub fn overlaps(&self, other: &BookingRecord) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// How long both blocked their time together (`None`: never), so that a double booking
    /// a later cancel undid still counts; `Some(None)`: still both active at the end.
    pub fn coexisted(&self, other: &BookingRecord) -> Option<Option<TimeDelta>> {
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
    /// so the harness counts it apart (`coverage.external_race`), not as a double booking.
    pub fn calcom_race(&self, other: &BookingRecord) -> bool {
        let raced = |api: &BookingRecord, staff: &BookingRecord| {
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

/// One reservation (a slot held for a caller) and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationRecord {
    pub reservation_uid: String,
    /// `held`, `released` or `expired`.
    pub state: String,
    /// The rest of Cal.com's reservation as its API returns it.
    #[serde(flatten)]
    pub wire: Map<String, Value>,
}

/// Pairs of overlapping bookings of one host that Cal.com let through in its own race with
/// staff (see [`BookingRecord::calcom_race`]).
pub fn calcom_races(bookings: &[BookingRecord]) -> u64 {
    let mut n = 0;
    for (i, a) in bookings.iter().enumerate() {
        for b in &bookings[i + 1..] {
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

/// Instants as Cal.com writes them: milliseconds and `Z`.
mod millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::wire::iso_ms(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(d)
    }
}

mod millis_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&crate::wire::iso_ms(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<DateTime<Utc>>::deserialize(d)
    }
}

//! Following staff in the Cal.com app (`follow_staff_changes`, `staff_reconcile`). Staff
//! cancel and move bookings there; Cal.com tells the engine with `BOOKING_CANCELLED` and
//! `BOOKING_RESCHEDULED` (the new booking, `rescheduleUid` naming the old, which Cal.com
//! cancelled). The appointment holding the booking follows, so that the salon's own view
//! is not left wrong: cancelled with it (a compound service's other parts cancelled in
//! Cal.com too: the service is booked whole or not at all), or moved to the new booking (a
//! new appointment row for the same call; the old one cancelled). Cal.com's classic sender
//! does not retry, so a lost webhook stays lost: every `staff_reconcile` the engine reads
//! Cal.com's bookings of the event types its future appointments use and follows what it
//! missed (a cancelled booking; a moved one, following `rescheduledFromUid` to the booking
//! that stands now). A listing Cal.com refuses is tried again at the next 30-s round.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta};
use serde_json::Value;

use crate::calcom::CalcomBooking;
use crate::engine::Engine;
use crate::store::{Appointment, AppointmentSegment, AppointmentStatus};

/// The reason the engine gives Cal.com for the other parts of a compound appointment.
const REASON: &str = "Teil im Cal.com-Kalender storniert: ganzer Termin storniert";

/// A change staff made to one booking, as the engine learns it.
#[derive(Debug, Clone)]
pub(crate) enum StaffChange {
    Cancelled { uid: String },
    Moved { old_uid: String, new: CalcomBooking },
}

impl StaffChange {
    /// The change a Cal.com webhook tells of, if any.
    pub(crate) fn of_webhook(trigger: &str, event: &Value) -> Option<Self> {
        let payload = event.get("payload")?;
        let text = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_owned);
        let time = |k: &str| {
            text(k)
                .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                .map(|t| t.to_utc())
        };
        match trigger {
            "BOOKING_CANCELLED" => Some(StaffChange::Cancelled { uid: text("uid")? }),
            "BOOKING_RESCHEDULED" => Some(StaffChange::Moved {
                old_uid: text("rescheduleUid")?,
                new: CalcomBooking {
                    id: payload.get("bookingId").and_then(Value::as_u64)?,
                    uid: text("uid")?,
                    start: time("startTime")?,
                    end: time("endTime")?,
                    status: text("status").unwrap_or_default().to_lowercase(),
                    created_at: None,
                    metadata: BTreeMap::new(),
                    host_id: payload.pointer("/organizer/id").and_then(Value::as_u64),
                    rescheduled_from: text("rescheduleUid"),
                    rescheduled_to: None,
                },
            }),
            _ => None,
        }
    }

    fn uid(&self) -> &str {
        match self {
            StaffChange::Cancelled { uid } => uid,
            StaffChange::Moved { old_uid, .. } => old_uid,
        }
    }
}

impl Engine {
    /// Applies `change` to the booked appointment holding its booking, if one does (none:
    /// the engine's own cancel, a duplicate or late webhook, a booking not the salon's).
    pub(crate) async fn follow(self: &Arc<Self>, change: StaffChange) {
        // Most webhooks concern no appointment (the engine's own cancels, bookings not the
        // salon's): the look-up by uid is the index's; the write pays the round trip.
        if self.holding(change.uid()).is_none() {
            return;
        }
        self.database_retrying().await;
        let Some(held) = self.holding(change.uid()) else {
            return;
        };
        for s in &held.segments {
            if let Some(et) = self
                .catalog()
                .service_by_event_type_in(held.service_id, &s.segment)
            {
                self.invalidate(et, s.start);
                if let StaffChange::Moved { new, .. } = &change {
                    self.invalidate(et, new.start);
                }
            }
        }
        match change {
            StaffChange::Cancelled { uid } => {
                tracing::info!(appointment = held.id, %uid, "booking cancelled in Cal.com: appointment cancelled");
                self.appointments.cancel(held.id);
                let rest: Vec<CalcomBooking> = held
                    .segments
                    .iter()
                    .filter(|s| s.calcom_uid.as_deref().is_some_and(|u| u != uid))
                    .map(segment_booking)
                    .collect();
                if !rest.is_empty() {
                    self.compensate(&rest, REASON).await;
                }
            }
            StaffChange::Moved { old_uid, new } => {
                tracing::info!(appointment = held.id, old = %old_uid, new = %new.uid, "booking moved in Cal.com: appointment moved");
                let mut moved = held.clone();
                for s in &mut moved.segments {
                    if s.calcom_uid.as_deref() == Some(old_uid.as_str()) {
                        s.calcom_uid = Some(new.uid.clone());
                        s.calcom_id = Some(new.id);
                        s.start = new.start;
                        s.end = new.end;
                        s.host_id = new.host_id.or(s.host_id);
                    }
                }
                moved.start = moved
                    .segments
                    .iter()
                    .map(|s| s.start)
                    .min()
                    .unwrap_or(new.start);
                moved.end = moved
                    .segments
                    .iter()
                    .map(|s| s.end)
                    .max()
                    .unwrap_or(new.end);
                moved.created_at = self.now();
                self.appointments.cancel(held.id);
                self.appointments.insert(moved);
            }
        }
    }

    /// The booked appointment holding Cal.com booking `uid`.
    fn holding(&self, uid: &str) -> Option<Appointment> {
        self.appointments.appointments().into_iter().find(|a| {
            a.status == AppointmentStatus::Booked
                && a.segments
                    .iter()
                    .any(|s| s.calcom_uid.as_deref() == Some(uid))
        })
    }

    /// The staff changes a lost webhook left unfollowed: reads Cal.com's bookings of the event
    /// types the booked, not yet ended appointments use, and follows each of their bookings
    /// found cancelled. Whether Cal.com could be read (nothing to read counts as read).
    pub(crate) async fn reconcile_staff_changes(self: &Arc<Self>) -> bool {
        // Appointments' times are true times: read by the stores' clock, not this worker's.
        let now = self.store_now();
        let held: Vec<Appointment> = self
            .appointments
            .appointments()
            .into_iter()
            .filter(|a| {
                a.status == AppointmentStatus::Booked
                    && a.end > now
                    && a.segments.iter().any(|s| s.calcom_uid.is_some())
            })
            .collect();
        if held.is_empty() {
            return true;
        }
        // A safety net that can wait a round: while the API key's budget is spent (a 429's
        // block not over) its reads would only keep the sync and the bookings from it.
        if self.calcom.budget_low() {
            return false;
        }
        self.database_retrying().await;
        // A booking moved since its appointment was saved starts after that (Cal.com books
        // nothing in the past).
        let from = held
            .iter()
            .map(|a| a.start.min(a.created_at))
            .min()
            .unwrap_or(now);
        let until = now
            + TimeDelta::from_std(self.policy().booking_horizon).unwrap_or(TimeDelta::days(365));
        // The whole account in one read (paged), not event type by event type: on a key
        // throttled to a few requests a minute, several workers' reads of six event types
        // each spent the budget and none ever read them all (explore seed 2622004).
        let Ok(listed) = self.list_account(from, until).await else {
            return false;
        };
        let found: BTreeMap<String, CalcomBooking> =
            listed.into_iter().map(|b| (b.uid.clone(), b)).collect();
        let next: BTreeMap<&str, &CalcomBooking> = found
            .values()
            .filter_map(|b| b.rescheduled_from.as_deref().map(|from| (from, b)))
            .collect();
        let mut changes = Vec::new();
        for a in &held {
            for uid in a.segments.iter().filter_map(|s| s.calcom_uid.as_deref()) {
                if found.get(uid).is_none_or(|b| b.status != "cancelled") {
                    continue;
                }
                // Where it went: the chain of moves up to the booking that stands now.
                let mut at = uid;
                let mut seen = 0;
                while let Some(b) = next.get(at)
                    && seen < found.len()
                {
                    at = &b.uid;
                    seen += 1;
                }
                changes.push(match found.get(at) {
                    Some(b) if at != uid && b.status != "cancelled" => StaffChange::Moved {
                        old_uid: uid.to_owned(),
                        new: b.clone(),
                    },
                    _ => StaffChange::Cancelled {
                        uid: uid.to_owned(),
                    },
                });
            }
        }
        for change in changes {
            tracing::warn!(
                uid = change.uid(),
                "a staff change whose webhook never came"
            );
            self.follow(change).await;
        }
        true
    }
}

/// A segment's Cal.com booking as the engine recorded it.
fn segment_booking(s: &AppointmentSegment) -> CalcomBooking {
    CalcomBooking {
        id: s.calcom_id.unwrap_or_default(),
        uid: s.calcom_uid.clone().unwrap_or_default(),
        start: s.start,
        end: s.end,
        status: "accepted".into(),
        created_at: None,
        metadata: BTreeMap::new(),
        host_id: s.host_id,
        rescheduled_from: None,
        rescheduled_to: None,
    }
}

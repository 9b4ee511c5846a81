//! What a caller asks for: the request, resolved against the catalogue and the clock.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

use crate::calcom::CalcomBooking;
use crate::catalog::Service;
use crate::dates;
use crate::engine::Engine;
use crate::store::AppointmentSegment;

/// A caller's request for a slot, as the function-call arguments give it.
#[derive(Debug, Clone, Default)]
pub struct SlotRequest {
    pub call_id: String,
    pub service: Option<String>,
    /// `2025-11-28T10:00` (start_booking) …
    pub datetime: Option<String>,
    /// … or a date and a time (check_availability): `nächster Freitag`, `10:00`.
    pub date: Option<String>,
    pub time: Option<String>,
    pub customer_name: Option<String>,
}

impl SlotRequest {
    /// The customer's name as booked: `Unbekannt` when the agent gave none.
    pub(crate) fn customer(&self) -> String {
        self.customer_name
            .clone()
            .unwrap_or_else(|| "Unbekannt".into())
    }
}

/// One segment of a requested service, placed in time.
#[derive(Debug, Clone)]
pub struct PlacedSegment {
    pub name: String,
    pub event_type_id: Option<u64>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A request resolved against the catalogue and the clock.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub service: Service,
    pub local: NaiveDateTime,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub segments: Vec<PlacedSegment>,
}

impl Resolved {
    /// The segments of the appointment this request makes, the staffed ones carrying the
    /// Cal.com bookings in `booked` (one per staffed segment, in order; missing ones stay
    /// unbooked).
    pub fn appointment_segments(&self, booked: &[CalcomBooking]) -> Vec<AppointmentSegment> {
        let mut booked = booked.iter();
        self.segments
            .iter()
            .map(|seg| {
                let b = seg.event_type_id.and_then(|_| booked.next());
                AppointmentSegment {
                    segment: seg.name.clone(),
                    start: seg.start,
                    end: seg.end,
                    calcom_uid: b.map(|b| b.uid.clone()),
                    calcom_id: b.map(|b| b.id),
                    host_id: b.and_then(|b| b.host_id),
                }
            })
            .collect()
    }

    pub fn staffed(&self) -> impl Iterator<Item = (&PlacedSegment, u64)> {
        self.segments
            .iter()
            .filter_map(|s| s.event_type_id.map(|id| (s, id)))
    }
}

/// The segments of `service` placed from `start` on.
pub fn place(service: &Service, start: DateTime<Utc>) -> Vec<PlacedSegment> {
    service
        .timeline()
        .map(|(offset, seg)| {
            let seg_start = start + TimeDelta::minutes(offset.into());
            PlacedSegment {
                name: seg.name.clone(),
                event_type_id: seg.event_type_id,
                start: seg_start,
                end: seg_start + TimeDelta::minutes(seg.minutes.into()),
            }
        })
        .collect()
}

impl Engine {
    /// Resolves the service and the time, or says in German what is wrong.
    pub fn resolve(&self, req: &SlotRequest) -> Result<Resolved, String> {
        let name = req.service.as_deref().unwrap_or_default();
        let service = self
            .catalog()
            .service(name)
            .ok_or_else(|| format!("Die Dienstleistung \"{name}\" bieten wir leider nicht an."))?
            .clone();
        let local = dates::resolve_datetime(req.datetime.as_deref(), req.date.as_deref(), req.time.as_deref(), self.today(), self.catalog().time_zone)
            .ok_or("Ich konnte Datum und Uhrzeit leider nicht verstehen. Können Sie sie bitte wiederholen?")?;
        // Bounded before any arithmetic: a year like +262142 overflows chrono.
        let horizon = self.today()
            + TimeDelta::from_std(self.policy().booking_horizon).unwrap_or(TimeDelta::days(365));
        if local.date() > horizon {
            return Err(format!(
                "So weit im Voraus kann ich leider nicht buchen: Termine gibt es bis zum {}.",
                horizon.format("%d.%m.%Y")
            ));
        }
        let start = self
            .utc(local)
            .ok_or("Diese Uhrzeit gibt es an dem Tag nicht (Zeitumstellung).")?;
        if start < self.now() {
            return Err("Dieser Zeitpunkt liegt leider in der Vergangenheit.".into());
        }
        let mut segments = place(&service, start);
        // A staffed segment lasts what Cal.com books for its event type, when that is known
        // and differs from the catalogue: the lock and the checks cover that span.
        for seg in &mut segments {
            if let Some(minutes) = seg.event_type_id.and_then(|id| self.booked_minutes(id)) {
                seg.end = seg.start + TimeDelta::minutes(minutes.into());
            }
        }
        let end = segments.iter().map(|s| s.end).max().unwrap_or(start);
        Ok(Resolved {
            service,
            local,
            start,
            end,
            segments,
        })
    }
}

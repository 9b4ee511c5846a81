//! Cal.com's JSON shapes: how bookings, reservations, subscriptions and webhook payloads
//! look on the wire (see the OpenAPI schemas `BookingOutput_2024_08_13`,
//! `ReserveSlotOutput_2024_09_04`, `UserWebhookOutputDto`).

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::model::{Booking, Reservation, Subscription, World};

/// Whether `t` lies in the years 0001 to 9999, the instants a request may name: the mock's
/// calendar arithmetic (days either side, slot lengths, notice) then stays far inside
/// chrono's range (±262 143 years), where it would panic.
pub fn supported(t: DateTime<Utc>) -> bool {
    (1..=9999).contains(&chrono::Datelike::year(&t))
}

/// An ISO 8601 instant as requests give it (RFC 3339, any offset), in UTC; `None` if it is
/// malformed or outside [`supported`] years.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.to_utc())
        .filter(|t| supported(*t))
}

/// `2025-11-25T11:00:00.000Z`: Cal.com's REST time format.
pub fn iso_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A time in a zone with milliseconds and the offset (`…000+01:00`), `Z` for UTC.
pub fn iso_in_zone(t: DateTime<Utc>, tz: Option<Tz>) -> String {
    match tz {
        None | Some(Tz::UTC) => iso_ms(t),
        Some(tz) => t
            .with_timezone(&tz)
            .to_rfc3339_opts(SecondsFormat::Millis, false),
    }
}

/// A booking as `GET /v2/bookings/{uid}` returns it (`BookingOutput_2024_08_13`).
pub fn booking(world: &World, b: &Booking) -> Value {
    let host = world.host(b.host_id);
    let event_type = world.event_type(b.event_type_id);
    let mut attendee = json!({
        "name": b.attendee.name,
        "email": b.attendee.email,
        "timeZone": b.attendee.time_zone,
        "language": b.attendee.language,
        "absent": false,
    });
    if let Some(phone) = &b.attendee.phone_number {
        attendee["phoneNumber"] = json!(phone);
    }
    let mut out = json!({
        "id": b.id,
        "uid": b.uid,
        "title": b.title,
        "description": b.description,
        "hosts": host.map(|h| vec![json!({
            "id": h.id,
            "name": h.name,
            "email": h.email(),
            "username": h.username(),
            "timeZone": h.time_zone.name(),
        })]).unwrap_or_default(),
        "status": b.status.as_str(),
        "start": iso_ms(b.start),
        "end": iso_ms(b.end),
        "duration": b.duration_minutes(),
        "eventTypeId": b.event_type_id,
        "eventType": { "id": b.event_type_id, "slug": event_type.map(|e| e.slug.as_str()).unwrap_or_default() },
        "location": b.location,
        "absentHost": false,
        "createdAt": iso_ms(b.created_at),
        "updatedAt": iso_ms(b.updated_at),
        "metadata": b.metadata,
        "attendees": [attendee],
        "guests": b.guests,
        "bookingFieldsResponses": booking_fields(b),
    });
    for (field, value) in [
        ("cancellationReason", &b.cancellation_reason),
        ("rescheduledFromUid", &b.rescheduled_from_uid),
        ("rescheduledToUid", &b.rescheduled_to_uid),
        ("reschedulingReason", &b.rescheduling_reason),
    ] {
        if let Some(v) = value {
            out[field] = json!(v);
        }
    }
    out
}

fn booking_fields(b: &Booking) -> Value {
    let mut fields =
        json!({ "name": b.attendee.name, "email": b.attendee.email, "guests": b.guests });
    if let Some(phone) = &b.attendee.phone_number {
        fields["attendeePhoneNumber"] = json!(phone);
    }
    for (k, v) in &b.responses {
        fields[k] = v.clone();
    }
    fields
}

/// A reservation as `POST /v2/slots/reservations` returns it (`ReserveSlotOutput_2024_09_04`).
pub fn reservation(r: &Reservation) -> Value {
    json!({
        "eventTypeId": r.event_type_id,
        "slotStart": iso_ms(r.start),
        "slotEnd": iso_ms(r.end),
        "slotDuration": (r.end - r.start).num_minutes(),
        "reservationUid": r.uid,
        "reservationDuration": r.reservation_minutes,
        "reservationUntil": iso_ms(r.until),
    })
}

/// A subscription as `/v2/webhooks` returns it (`UserWebhookOutputDto`).
pub fn subscription(s: &Subscription) -> Value {
    let mut out = json!({
        "id": s.id,
        "userId": s.user_id,
        "subscriberUrl": s.subscriber_url,
        "triggers": s.triggers,
        "active": s.active,
        "payloadTemplate": s.payload_template,
    });
    if let Some(secret) = &s.secret {
        out["secret"] = json!(secret);
    }
    out
}

/// The body Cal.com POSTs to a subscriber: upper-case status, `startTime`/`endTime`.
pub fn webhook_body(
    world: &World,
    trigger: &str,
    b: &Booking,
    rescheduled_from: Option<&Booking>,
    created_at: DateTime<Utc>,
) -> Value {
    let host = world.host(b.host_id);
    let event_type = world.event_type(b.event_type_id);
    let mut payload = json!({
        "bookingId": b.id,
        "uid": b.uid,
        "eventTypeId": b.event_type_id,
        "type": event_type.map(|e| e.slug.as_str()).unwrap_or_default(),
        "title": b.title,
        "description": b.description,
        "startTime": iso_ms(b.start),
        "endTime": iso_ms(b.end),
        "length": b.duration_minutes(),
        "organizer": host.map(|h| json!({
            "id": h.id,
            "name": h.name,
            "email": h.email(),
            "username": h.username(),
            "timeZone": h.time_zone.name(),
            "language": { "locale": "de" },
        })),
        "attendees": [{
            "name": b.attendee.name,
            "email": b.attendee.email,
            "timeZone": b.attendee.time_zone,
            "phoneNumber": b.attendee.phone_number,
            "language": { "locale": b.attendee.language },
        }],
        "location": b.location,
        "metadata": b.metadata,
        "responses": booking_fields(b),
        "status": b.status.as_str().to_uppercase(),
    });
    if let Some(reason) = &b.cancellation_reason {
        payload["cancellationReason"] = json!(reason);
    }
    if let Some(old) = rescheduled_from {
        payload["rescheduleId"] = json!(old.id);
        payload["rescheduleUid"] = json!(old.uid);
        payload["rescheduleStartTime"] = json!(iso_ms(old.start));
        payload["rescheduleEndTime"] = json!(iso_ms(old.end));
    }
    json!({ "triggerEvent": trigger, "createdAt": iso_ms(created_at), "payload": payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_carry_milliseconds_and_offsets() {
        let t = DateTime::parse_from_rfc3339("2025-11-25T11:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(iso_ms(t), "2025-11-25T11:00:00.000Z");
        assert_eq!(
            iso_in_zone(t, Some(chrono_tz::Europe::Berlin)),
            "2025-11-25T12:00:00.000+01:00"
        );
        assert_eq!(iso_in_zone(t, None), "2025-11-25T11:00:00.000Z");
    }
}

//! Staff actions in the Cal.com app, judged both ways: what staff cancelled or moved is the
//! salon's decision (no `lost_booking`), and the engine must follow it (`orphan_local`,
//! `orphan_calcom` when its appointment still names the old booking).

use super::*;

/// The caller's booking, cancelled by staff at 08:00:30 UTC.
fn cancelled_by_staff(r: &mut RunRecord) {
    let b = &mut r.truth.bookings[0];
    b.status = "cancelled".into();
    b.cancelled_at = Some(t("2025-11-24T08:00:30.000Z"));
    b.by_staff = true;
}

/// The caller's booking moved by staff to 11:00: the old one cancelled, a new one made by
/// staff with the old one's metadata.
fn moved_by_staff(r: &mut RunRecord) {
    cancelled_by_staff(r);
    let mut new = booking(
        "moved",
        1,
        "2025-11-25T11:00:00.000Z",
        "2025-11-25T11:30:00.000Z",
        "c1",
        "accepted",
    );
    new.source = "external".into();
    new.created_at = t("2025-11-24T08:00:30.000Z");
    new.wire.insert("rescheduledFromUid".into(), "a".into());
    r.truth.bookings.push(new);
}

#[test]
fn a_booking_staff_cancelled_is_not_lost_and_the_engine_must_follow() {
    // Followed: the appointment is cancelled too. Nothing to report.
    let mut followed = consistent();
    cancelled_by_staff(&mut followed);
    followed.appointments[0].status = AppointmentStatus::Cancelled;
    assert!(kinds(&followed).is_empty(), "{:?}", kinds(&followed));
    // Not followed: the salon still shows an appointment Cal.com no longer has.
    let mut stale = consistent();
    cancelled_by_staff(&mut stale);
    assert_eq!(kinds(&stale), ["orphan_local"]);
    // The same cancel not by staff: the engine lost the caller's booking.
    let mut lost = consistent();
    cancelled_by_staff(&mut lost);
    lost.truth.bookings[0].by_staff = false;
    lost.appointments[0].status = AppointmentStatus::Cancelled;
    assert_eq!(kinds(&lost), ["lost_booking"]);
}

#[test]
fn a_booking_staff_moved_must_be_followed_by_the_appointment() {
    // Followed: the appointment now holds the new booking.
    let mut followed = consistent();
    moved_by_staff(&mut followed);
    followed.appointments[0].status = AppointmentStatus::Cancelled;
    let mut now = appointment(2, "c1", &["moved"]);
    now.created_at = t("2025-11-24T08:00:31Z");
    followed.appointments.push(now);
    assert!(kinds(&followed).is_empty(), "{:?}", kinds(&followed));
    // Not followed: the appointment names the cancelled booking.
    let mut stale = consistent();
    moved_by_staff(&mut stale);
    assert_eq!(kinds(&stale), ["orphan_local"]);
    // A booking staff made themselves (no caller's metadata) is nobody's orphan.
    let mut own = consistent();
    let mut walk_in = booking(
        "walk-in",
        2,
        "2025-11-25T11:00:00.000Z",
        "2025-11-25T11:30:00.000Z",
        "c1",
        "accepted",
    );
    walk_in.source = "external".into();
    walk_in.metadata.clear();
    own.truth.bookings.push(walk_in);
    assert!(kinds(&own).is_empty(), "{:?}", kinds(&own));
}

#[test]
fn a_staff_cancel_reaches_the_history_and_back() {
    let mut r = consistent();
    cancelled_by_staff(&mut r);
    let mut out = Vec::new();
    crate::history::write(&scenario(), &r, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(r#""by":"staff""#), "{text}");
    let found: Vec<String> = check_history(text.as_bytes())
        .unwrap()
        .into_iter()
        .map(|v| v.kind.name().to_owned())
        .collect();
    assert_eq!(found, ["orphan_local"]);
}

#[test]
fn a_moved_booking_the_engine_cancels_is_lost_and_a_compound_it_cancels_whole_is_not() {
    // Staff moved it; then the engine cancelled the booking staff made: lost.
    let mut r = consistent();
    moved_by_staff(&mut r);
    r.truth.bookings[1].status = "cancelled".into();
    r.truth.bookings[1].cancelled_at = Some(t("2025-11-24T08:01:00.000Z"));
    r.appointments[0].status = AppointmentStatus::Cancelled;
    assert_eq!(kinds(&r), ["lost_booking"]);
    // Staff cancelled one part of a compound; the engine cancelled the other part after it
    // (the service is whole or nothing): the caller's booking is the salon's decision.
    let mut r = consistent();
    cancelled_by_staff(&mut r);
    let mut other = booking(
        "b",
        1,
        "2025-11-25T10:45:00.000Z",
        "2025-11-25T11:15:00.000Z",
        "c1",
        "cancelled",
    );
    other.cancelled_at = Some(t("2025-11-24T08:01:00.000Z"));
    r.truth.bookings.push(other);
    r.appointments[0].status = AppointmentStatus::Cancelled;
    assert!(kinds(&r).is_empty(), "{:?}", kinds(&r));
}

#[test]
fn a_compound_part_staff_cancelled_exempts_the_parts_staff_moved_that_the_engine_cancels() {
    // Part "a" moved by staff to "moved"; part "b" cancelled by staff outright; the engine
    // cancels the whole appointment, "moved" included: the salon's decision, not lost.
    let mut r = consistent();
    moved_by_staff(&mut r);
    r.truth.bookings[1].status = "cancelled".into();
    r.truth.bookings[1].cancelled_at = Some(t("2025-11-24T08:01:00.000Z"));
    let mut b = booking(
        "b",
        2,
        "2025-11-25T10:45:00.000Z",
        "2025-11-25T11:15:00.000Z",
        "c1",
        "cancelled",
    );
    b.cancelled_at = Some(t("2025-11-24T08:00:40.000Z"));
    b.by_staff = true;
    r.truth.bookings.push(b);
    r.appointments[0].status = AppointmentStatus::Cancelled;
    assert!(kinds(&r).is_empty(), "{:?}", kinds(&r));
}

//! Invariants checked once a run has settled, against Cal.com's ground truth, the engine's
//! store and what callers were told. Each must hold in every run of a correct policy.

use std::collections::BTreeMap;

use booking_engine::catalog::Catalog;
use booking_engine::store::AppointmentStatus;
use serde::Serialize;

use crate::record::Outcome;
use crate::truth::{Booking, Truth};
use crate::world::RunRecord;

/// The kinds, in report order.
pub const KINDS: [&str; 7] = [
    "double_booking",
    "orphan_calcom",
    "orphan_local",
    "partial_compound",
    "ghost_booking",
    "lost_booking",
    "dangling_reservation",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Violation {
    pub kind: String,
    pub detail: String,
}

/// An instant as Cal.com writes it (`2025-11-25T11:00:00.000Z`).
fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn violation(kind: &str, detail: String) -> Violation {
    Violation {
        kind: kind.to_owned(),
        detail,
    }
}

/// Every violation in a settled run. An unreadable ground truth is an error: the checker
/// never reads a missing field as empty.
pub fn check(run: &RunRecord, catalog: &Catalog) -> Result<Vec<Violation>, String> {
    let truth = Truth::of(&run.truth)?;
    let mut out = Vec::new();
    let active: Vec<&Booking> = truth.bookings.iter().filter(|b| b.active()).collect();

    // Two bookings overlapping for one staff member while both were active, at the end or
    // for a while before a cancel undid one (a transient double booking counts too).
    let all: Vec<&Booking> = truth.bookings.iter().collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            if a.host_id != b.host_id || !a.overlaps(b) || a.calcom_race(b) {
                continue;
            }
            let Some(how_long) = a.coexisted(b) else {
                continue;
            };
            let lasting = how_long.map_or_else(String::new, |d| {
                format!(
                    " for {} s until a cancel",
                    d.num_milliseconds() as f64 / 1000.0
                )
            });
            out.push(violation(
                "double_booking",
                format!(
                    "host {} has {} ({}, {}) and {} ({}, {}){lasting}",
                    a.host_id,
                    a.uid,
                    iso(a.start),
                    a.source,
                    b.uid,
                    iso(b.start),
                    b.source
                ),
            ));
        }
    }

    // Orphans: the engine's bookings on one side and not the other.
    let local_uids: BTreeMap<&str, u64> = run
        .appointments
        .iter()
        .filter(|a| a.status == AppointmentStatus::Booked)
        .flat_map(|a| {
            a.phases
                .iter()
                .filter_map(move |p| p.calcom_uid.as_deref().map(|u| (u, a.id)))
        })
        .collect();
    for b in active.iter().filter(|b| b.by_api()) {
        if !local_uids.contains_key(b.uid.as_str()) {
            out.push(violation(
                "orphan_calcom",
                format!(
                    "Cal.com booking {} ({}) has no local appointment",
                    b.uid,
                    iso(b.start)
                ),
            ));
        }
    }
    let active_uids: Vec<&str> = active.iter().map(|b| b.uid.as_str()).collect();
    for a in run
        .appointments
        .iter()
        .filter(|a| a.status == AppointmentStatus::Booked)
    {
        let staffed = a
            .phases
            .iter()
            .filter(|p| p.calcom_uid.is_some() || is_staffed(catalog, a.service_id, &p.segment));
        let missing = staffed
            .filter(|p| {
                p.calcom_uid
                    .as_deref()
                    .is_none_or(|u| !active_uids.contains(&u))
            })
            .count();
        if missing > 0 {
            out.push(violation(
                "orphan_local",
                format!(
                    "appointment {} ({:?}) misses {missing} Cal.com booking(s)",
                    a.id, a.sync
                ),
            ));
        }
    }

    // Compound services: all staffed segments or none, per call.
    let mut groups: BTreeMap<(String, String), usize> = BTreeMap::new();
    for b in truth.bookings.iter().filter(|b| b.by_api()) {
        let owner = b
            .meta("call_id")
            .or_else(|| b.meta("appointment_id"))
            .unwrap_or("(no owner)");
        let service = b.meta("service").unwrap_or("(no service)");
        *groups
            .entry((owner.to_owned(), service.to_owned()))
            .or_default() += usize::from(b.active());
    }
    for ((owner, service), active_n) in &groups {
        let Some(svc) = catalog.service(service).filter(|s| s.is_compound()) else {
            continue;
        };
        let staffed = svc
            .segments
            .iter()
            .filter(|seg| seg.event_type_id.is_some())
            .count();
        if *active_n > 0 && *active_n < staffed {
            out.push(violation(
                "partial_compound",
                format!("{service} of {owner}: {active_n} of {staffed} segments booked"),
            ));
        }
    }

    // What callers were told against what exists.
    for call in &run.calls {
        let theirs = active
            .iter()
            .filter(|b| b.meta("call_id") == Some(call.id.as_str()))
            .count();
        match call.outcome() {
            Outcome::Booked if theirs == 0 => out.push(violation(
                "lost_booking",
                format!("{} was told \"gebucht\" and has no booking", call.id),
            )),
            Outcome::Booked => {}
            outcome if theirs > 0 => out.push(violation(
                "ghost_booking",
                format!(
                    "{} ended {} but holds {theirs} booking(s)",
                    call.id,
                    outcome.name()
                ),
            )),
            _ => {}
        }
    }

    // Every reservation converted, expired or cancelled once the run settled.
    for r in truth.reservations.iter().filter(|r| r.state == "held") {
        out.push(violation(
            "dangling_reservation",
            format!("Cal.com reservation {} still held", r.reservation_uid),
        ));
    }
    for r in run.reservations.iter().filter(|r| r.state == "held") {
        out.push(violation(
            "dangling_reservation",
            format!("local reservation {} of {} still held", r.token, r.call_id),
        ));
    }
    Ok(out)
}

fn is_staffed(catalog: &Catalog, service_id: u64, segment: &str) -> bool {
    catalog
        .service_by_event_type_in(service_id, segment)
        .is_some()
}

#[cfg(test)]
mod tests {
    //! Each checker on hand-built records: one where it must fire, one where it must not.

    use std::time::Duration;

    use booking_engine::store::{Appointment, LocalReservation, Phase, SyncStatus};
    use chrono::{DateTime, Utc};
    use mock_calcom::GroundTruth;
    use mock_calcom::mock::RequestStats;
    use serde_json::{Value, json};

    use super::*;
    use crate::record::{CallRecord, Completion, StepRecord};
    use crate::workload::CallKind;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    /// A Cal.com booking as the ground truth lists it.
    fn booking(uid: &str, host: u64, start: &str, end: &str, call: &str, status: &str) -> Value {
        json!({ "uid": uid, "hostId": host, "start": start, "end": end, "status": status,
                "source": "api", "metadata": { "call_id": call, "service": "Herrenhaarschnitt" },
                "createdAt": "2025-11-24T08:00:00.000Z" })
    }

    fn appointment(id: u64, call: &str, uids: &[&str]) -> Appointment {
        Appointment {
            id,
            service_id: 1,
            call_id: Some(call.into()),
            customer_name: "X".into(),
            start: t("2025-11-25T10:00:00Z"),
            end: t("2025-11-25T10:30:00Z"),
            status: AppointmentStatus::Booked,
            sync: SyncStatus::Synced,
            phases: uids
                .iter()
                .map(|u| Phase {
                    segment: "Haarschnitt".into(),
                    start: t("2025-11-25T10:00:00Z"),
                    end: t("2025-11-25T10:30:00Z"),
                    calcom_uid: Some((*u).into()),
                    calcom_id: None,
                    host_id: Some(1),
                })
                .collect(),
            created_at: t("2025-11-24T08:00:00Z"),
        }
    }

    /// A call told `answer` by its booking.
    fn call(id: &str, booked: bool) -> CallRecord {
        let answer = if booked {
            json!({ "success": true, "booked": true })
        } else {
            json!({ "success": false, "error_type": "calcom_unavailable" })
        };
        let args = serde_json::value::to_raw_value(&json!({})).unwrap();
        CallRecord {
            id: id.into(),
            kind: CallKind::Scripted,
            start_ms: 0,
            steps: vec![StepRecord::new(
                "start_booking".into(),
                (0, 1000),
                if booked {
                    Completion::Ok
                } else {
                    Completion::Fail
                },
                0,
                args,
                &answer,
            )],
            abandoned: false,
        }
    }

    fn run(
        bookings: Vec<Value>,
        appointments: Vec<Appointment>,
        calls: Vec<CallRecord>,
    ) -> RunRecord {
        RunRecord {
            calls,
            truth: GroundTruth {
                now: "2025-11-24T09:00:00.000Z".into(),
                bookings,
                reservations: Vec::new(),
                subscriptions: Vec::new(),
                webhook_deliveries: Vec::new(),
                requests: RequestStats::default(),
                race_windows: 0,
            },
            calcom_requests: RequestStats::default(),
            appointments,
            reservations: Vec::new(),
            engine: Default::default(),
            calcom_samples: Vec::new(),
            lock_waits: Vec::new(),
            simulated: Duration::from_secs(60),
        }
    }

    fn kinds(run: &RunRecord) -> Vec<String> {
        check(run, &Catalog::demo())
            .unwrap()
            .into_iter()
            .map(|v| v.kind)
            .collect()
    }

    /// One caller, booked, with its booking on both sides: nothing to report.
    fn consistent() -> RunRecord {
        run(
            vec![booking(
                "a",
                1,
                "2025-11-25T10:00:00.000Z",
                "2025-11-25T10:30:00.000Z",
                "c1",
                "accepted",
            )],
            vec![appointment(1, "c1", &["a"])],
            vec![call("c1", true)],
        )
    }

    #[test]
    fn a_consistent_run_reports_nothing() {
        assert!(
            kinds(&consistent()).is_empty(),
            "{:?}",
            kinds(&consistent())
        );
    }

    #[test]
    fn double_booking_fires_on_overlap_for_one_host_only() {
        let mut r = consistent();
        r.truth.bookings.push(booking(
            "b",
            1,
            "2025-11-25T10:15:00.000Z",
            "2025-11-25T10:45:00.000Z",
            "c2",
            "accepted",
        ));
        r.appointments.push(appointment(2, "c2", &["b"]));
        r.calls.push(call("c2", true));
        assert_eq!(kinds(&r), ["double_booking"]);
        // Back to back, another host, or cancelled: no double booking.
        for other in [
            booking(
                "b",
                1,
                "2025-11-25T10:30:00.000Z",
                "2025-11-25T11:00:00.000Z",
                "c2",
                "accepted",
            ),
            booking(
                "b",
                2,
                "2025-11-25T10:15:00.000Z",
                "2025-11-25T10:45:00.000Z",
                "c2",
                "accepted",
            ),
        ] {
            r.truth.bookings[1] = other;
            assert!(kinds(&r).is_empty(), "{:?}", kinds(&r));
        }
    }

    /// A double booking that a later cancel undid still happened: it counts, with how long
    /// it lasted. One cancelled before the other was made never coexisted with it.
    #[test]
    fn a_transient_double_booking_counts() {
        let mut r = consistent();
        let mut b = booking(
            "b",
            1,
            "2025-11-25T10:15:00.000Z",
            "2025-11-25T10:45:00.000Z",
            "c2",
            "cancelled",
        );
        b["createdAt"] = "2025-11-24T08:00:10.000Z".into();
        b["cancelledAt"] = "2025-11-24T08:00:50.000Z".into();
        r.truth.bookings.push(b.clone());
        let found = check(&r, &Catalog::demo()).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, "double_booking");
        assert!(found[0].detail.contains("for 40 s"), "{}", found[0].detail);
        // Cancelled before the other booking existed: never a double booking.
        r.truth.bookings[0]["createdAt"] = "2025-11-24T08:01:00.000Z".into();
        assert!(kinds(&r).is_empty(), "{:?}", kinds(&r));
    }

    /// Staff booking in the app while the engine's create was between Cal.com's check and
    /// its commit: Cal.com's own race, counted apart. Staff booked before the check: the
    /// engine's create should have been refused, so it is the engine's double booking.
    #[test]
    fn a_staff_booking_inside_calcoms_window_is_calcoms_race() {
        let mut r = consistent();
        r.truth.bookings[0]["admittedAt"] = "2025-11-24T08:00:00.000Z".into();
        r.truth.bookings[0]["createdAt"] = "2025-11-24T08:00:02.000Z".into();
        r.truth.bookings.push(json!({ "uid": "s", "hostId": 1, "start": "2025-11-25T10:15:00.000Z",
            "end": "2025-11-25T10:45:00.000Z", "status": "accepted", "source": "external", "metadata": {},
            "createdAt": "2025-11-24T08:00:01.000Z" }));
        assert!(kinds(&r).is_empty(), "{:?}", kinds(&r));
        assert_eq!(Truth::of(&r.truth).unwrap().calcom_races(), 1);
        r.truth.bookings[1]["createdAt"] = "2025-11-24T07:59:59.000Z".into();
        assert_eq!(kinds(&r), ["double_booking"]);
        assert_eq!(Truth::of(&r.truth).unwrap().calcom_races(), 0);
    }

    #[test]
    fn orphans_fire_on_either_side() {
        let mut r = consistent();
        r.appointments.clear();
        assert!(kinds(&r).contains(&"orphan_calcom".to_owned()));
        let mut r = consistent();
        r.truth.bookings[0]["status"] = "cancelled".into();
        assert!(kinds(&r).contains(&"orphan_local".to_owned()));
        // A booking staff made in the app has no local appointment, by design.
        let mut r = consistent();
        r.truth.bookings.push(json!({ "uid": "s", "hostId": 2, "start": "2025-11-25T12:00:00.000Z",
            "end": "2025-11-25T12:30:00.000Z", "status": "accepted", "source": "external", "metadata": {},
            "createdAt": "2025-11-24T08:00:00.000Z" }));
        assert!(kinds(&r).is_empty());
    }

    #[test]
    fn partial_compound_fires_when_some_segments_stay() {
        let perm = |uid: &str, status: &str| {
            let mut b = booking(
                uid,
                1,
                "2025-11-25T10:00:00.000Z",
                "2025-11-25T10:45:00.000Z",
                "c1",
                status,
            );
            b["metadata"]["service"] = "Dauerwelle".into();
            b
        };
        let all = run(
            vec![
                perm("a", "accepted"),
                perm("b", "accepted"),
                perm("d", "accepted"),
            ],
            vec![appointment(1, "c1", &["a", "b", "d"])],
            vec![call("c1", true)],
        );
        assert!(!kinds(&all).contains(&"partial_compound".to_owned()));
        let mut some = all;
        some.truth.bookings[2]["status"] = "cancelled".into();
        assert!(kinds(&some).contains(&"partial_compound".to_owned()));
    }

    #[test]
    fn ghost_and_lost_bookings_compare_what_callers_were_told() {
        let mut ghost = consistent();
        ghost.calls = vec![call("c1", false)];
        assert!(kinds(&ghost).contains(&"ghost_booking".to_owned()));
        let mut lost = consistent();
        lost.truth.bookings[0]["metadata"]["call_id"] = "someone_else".into();
        assert!(kinds(&lost).contains(&"lost_booking".to_owned()));
        // Told it failed and nothing exists: the truth.
        let honest = run(Vec::new(), Vec::new(), vec![call("c1", false)]);
        assert!(kinds(&honest).is_empty());
    }

    #[test]
    fn dangling_reservations_fire_while_held_only() {
        let mut r = consistent();
        r.truth
            .reservations
            .push(json!({ "reservationUid": "r1", "state": "held" }));
        r.reservations.push(LocalReservation {
            token: "t1".into(),
            call_id: "c1".into(),
            service_id: 1,
            stylist: 1,
            start: t("2025-11-25T10:00:00Z"),
            end: t("2025-11-25T10:30:00Z"),
            until: t("2025-11-25T10:02:00Z"),
            state: "held",
        });
        assert_eq!(kinds(&r), ["dangling_reservation", "dangling_reservation"]);
        r.truth.reservations[0]["state"] = "expired".into();
        r.reservations[0].state = "converted";
        assert!(kinds(&r).is_empty());
    }
}

//! Invariants checked once a run has settled, against Cal.com's ground truth, the engine's
//! store and what callers were told. Each must hold in every run of a correct policy.

use std::collections::BTreeMap;

use booking_engine::catalog::Catalog;
use booking_engine::store::AppointmentStatus;
use serde::Serialize;
use serde_json::Value;

use crate::record::Outcome;
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub kind: &'static str,
    pub detail: String,
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

pub fn check(run: &RunRecord, catalog: &Catalog) -> Vec<Violation> {
    let mut out = Vec::new();
    let active: Vec<&Value> = run
        .truth
        .bookings
        .iter()
        .filter(|b| s(b, "status") == "accepted")
        .collect();

    // Two active bookings overlapping for one staff member.
    for (i, a) in active.iter().enumerate() {
        for b in &active[i + 1..] {
            if a["hostId"] == b["hostId"]
                && s(a, "start") < s(b, "end")
                && s(b, "start") < s(a, "end")
            {
                out.push(Violation {
                    kind: "double_booking",
                    detail: format!(
                        "host {} has {} ({}) and {} ({})",
                        a["hostId"],
                        s(a, "uid"),
                        s(a, "start"),
                        s(b, "uid"),
                        s(b, "start")
                    ),
                });
            }
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
    for b in active.iter().filter(|b| s(b, "source") == "api") {
        if !local_uids.contains_key(s(b, "uid")) {
            out.push(Violation {
                kind: "orphan_calcom",
                detail: format!(
                    "Cal.com booking {} ({}) has no local appointment",
                    s(b, "uid"),
                    s(b, "start")
                ),
            });
        }
    }
    let active_uids: Vec<&str> = active.iter().map(|b| s(b, "uid")).collect();
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
            out.push(Violation {
                kind: "orphan_local",
                detail: format!(
                    "appointment {} ({:?}) misses {missing} Cal.com booking(s)",
                    a.id, a.sync
                ),
            });
        }
    }

    // Compound services: all staffed segments or none, per call.
    let mut groups: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for b in run
        .truth
        .bookings
        .iter()
        .filter(|b| s(b, "source") == "api")
    {
        let meta = &b["metadata"];
        let owner = meta["call_id"]
            .as_str()
            .or_else(|| meta["appointment_id"].as_str())
            .unwrap_or_default();
        let service = meta["service"].as_str().unwrap_or_default();
        let entry = groups
            .entry((owner.to_owned(), service.to_owned()))
            .or_default();
        entry.0 += 1;
        entry.1 += usize::from(s(b, "status") == "accepted");
    }
    for ((owner, service), (_, active_n)) in &groups {
        let Some(svc) = catalog.service(service).filter(|s| s.is_compound()) else {
            continue;
        };
        let staffed = svc
            .segments
            .iter()
            .filter(|seg| seg.event_type_id.is_some())
            .count();
        if *active_n > 0 && *active_n < staffed {
            out.push(Violation {
                kind: "partial_compound",
                detail: format!("{service} of {owner}: {active_n} of {staffed} segments booked"),
            });
        }
    }

    // What callers were told against what exists.
    for call in &run.calls {
        let theirs = active
            .iter()
            .filter(|b| b["metadata"]["call_id"].as_str() == Some(call.id.as_str()))
            .count();
        match call.outcome() {
            Outcome::Booked if theirs == 0 => out.push(Violation {
                kind: "lost_booking",
                detail: format!("{} was told \"gebucht\" and has no booking", call.id),
            }),
            Outcome::Booked => {}
            outcome if theirs > 0 => out.push(Violation {
                kind: "ghost_booking",
                detail: format!(
                    "{} ended {} but holds {theirs} booking(s)",
                    call.id,
                    outcome.name()
                ),
            }),
            _ => {}
        }
    }

    // Every reservation converted, expired or cancelled once the run settled.
    for r in run
        .truth
        .reservations
        .iter()
        .filter(|r| s(r, "state") == "held")
    {
        out.push(Violation {
            kind: "dangling_reservation",
            detail: format!("Cal.com reservation {} still held", s(r, "reservationUid")),
        });
    }
    for r in run.reservations.iter().filter(|r| r.state == "held") {
        out.push(Violation {
            kind: "dangling_reservation",
            detail: format!("local reservation {} of {} still held", r.token, r.call_id),
        });
    }
    out
}

fn is_staffed(catalog: &Catalog, service_id: u64, segment: &str) -> bool {
    catalog
        .service_by_event_type_in(service_id, segment)
        .is_some()
}

//! No orphan and no partial compound: every Cal.com booking the engine made has its local
//! appointment and every appointment its Cal.com bookings; a compound service is booked
//! whole or not at all.

use std::collections::{BTreeMap, BTreeSet};

use super::{Booked, Checker, Invariant, Push, callers};
use crate::history;

impl Checker {
    /// The engine's bookings on one side and not the other.
    pub(super) fn orphans(&self, push: Push<'_>) {
        // Orphans: the engine's bookings on one side and not the other.
        let saved: BTreeSet<&str> = self
            .saves
            .iter()
            .flat_map(|(_, s)| s.uids.iter().flatten().map(String::as_str))
            .collect();
        // A booking staff moved in the app is staff's (an appointment that still names the
        // old one is `orphan_local`), even one the engine meant to undo.
        let engine_made = |b: &Booked| b.commit.source == "api";
        for uid in &self.order {
            let b = &self.bookings[uid];
            if b.active() && engine_made(b) && !saved.contains(uid.as_str()) {
                push(
                    Invariant::OrphanCalcom,
                    format!(
                        "Cal.com booking {uid} ({}) has no local appointment",
                        history::iso(b.commit.start)
                    ),
                    b.at,
                );
            }
        }
        for (t, save) in &self.saves {
            // A sync still under way at the end while a fault never ended (a Cal.com that
            // refuses some creates for good): the engine is still trying. No verdict, as for
            // an unanswered call during a fault; once every fault healed, it must have landed.
            if save.sync.as_deref() == Some("Pending") && self.faults_open > 0 {
                continue;
            }
            let mut missing = 0;
            let mut since = *t;
            for uid in &save.uids {
                match uid.as_deref().and_then(|u| self.bookings.get(u)) {
                    Some(b) if b.active() => {}
                    Some(b) => {
                        missing += 1;
                        since = since.max(b.cancelled.unwrap_or(*t));
                    }
                    None => missing += 1,
                }
            }
            if missing > 0 {
                push(
                    Invariant::OrphanLocal,
                    format!(
                        "appointment {}{} ({}) misses {missing} Cal.com booking(s)",
                        save.id,
                        save.call_id
                            .as_deref()
                            .map_or_else(String::new, |c| format!(" of {c}")),
                        save.sync.as_deref().unwrap_or("sync unknown")
                    ),
                    since,
                );
            }
        }
    }

    /// Compound services: all staffed segments or none, per owner.
    pub(super) fn partial_compounds(&self, push: Push<'_>) {
        // Grouped by the booking attempt that made the parts (a call's attempts apart, see
        // `callers::attempt`; an appointment's sync is one attempt), not by call and
        // service: a call booking the same service twice holds two wholes. A part an
        // appointment holds belongs to that appointment, whichever attempt made it: a rebook
        // that adopted a part an unanswered cancel left behind holds one whole.
        let held_by: BTreeMap<&str, u64> = self
            .saves
            .iter()
            .flat_map(|(_, s)| s.uids.iter().flatten().map(move |u| (u.as_str(), s.id)))
            .collect();
        let mut groups: BTreeMap<(String, Whole, String), (usize, usize, u64)> = BTreeMap::new();
        for (uid, b) in self.order.iter().map(|u| (u, &self.bookings[u])) {
            let (Some(service), Some(segments)) = (&b.commit.service, b.commit.segments) else {
                continue;
            };
            let owner = match (&b.commit.call_id, &b.commit.appointment_id) {
                (Some(call), _) => call.clone(),
                (None, Some(appointment)) => appointment.clone(),
                (None, None) => "(no owner)".into(),
            };
            let whole = match (held_by.get(uid.as_str()), &b.commit.call_id) {
                (Some(id), _) => Whole::Appointment(*id),
                (None, Some(call)) => Whole::Attempt(
                    self.calls
                        .get(call)
                        .map_or(1, |state| callers::attempt(&state.told, b)),
                ),
                (None, None) => Whole::Attempt(1),
            };
            let g = groups
                .entry((owner, whole, service.clone()))
                .or_insert((0, segments, 0));
            g.0 += usize::from(b.active());
            g.2 = g.2.max(b.cancelled.unwrap_or(b.at));
        }
        for ((owner, whole, service), (n, segments, at)) in &groups {
            if *n > 0 && n < segments {
                let which = match whole {
                    Whole::Attempt(1) => String::new(),
                    Whole::Attempt(attempt) => format!(" (its booking {attempt})"),
                    Whole::Appointment(id) => format!(" (appointment {id})"),
                };
                push(
                    Invariant::PartialCompound,
                    format!("{service} of {owner}{which}: {n} of {segments} segments booked"),
                    *at,
                );
            }
        }
    }
}

/// What one compound whole is: the parts an appointment holds, or else the parts one
/// booking attempt made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Whole {
    Appointment(u64),
    Attempt(usize),
}

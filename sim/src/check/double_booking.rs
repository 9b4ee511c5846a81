//! No double booking: two active Cal.com bookings overlapping for one staff member, dated
//! from the commit that made them overlap, with how long they lasted if a cancel undid it.
//! Bookings of one host piling onto one slot are one booking group: one violation counting
//! its overlapping pairs, so that memory and output follow the history, not its square
//! (10 000 commits of one slot are 50 million pairs).

use chrono::{DateTime, Utc};

use super::{Booked, Checker, Commit, Invariant};
use crate::history;

/// An active booking of a host, as the overlap scan reads it (no map look-up per pair).
#[derive(Debug)]
pub(super) struct Active {
    uid: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    external: bool,
    at: u64,
    group: Option<usize>,
}

/// Bookings of one host piling onto one slot: one violation, counting their pairs.
#[derive(Debug)]
pub(super) struct Group {
    /// Its violation in `found`.
    pub(super) violation: usize,
    pub(super) members: u64,
    /// Members not cancelled yet.
    active: u64,
    pub(super) pairs: u64,
    /// Its last overlap was cancelled (and the violation says when).
    pub(super) ended: bool,
}

impl Checker {
    pub(super) fn commit(&mut self, commit: Commit, t: u64) {
        if let Some((at, by_staff)) = self.early_cancels.remove(&commit.uid) {
            self.order.push(commit.uid.clone());
            let booked = Booked {
                commit,
                at: t,
                cancelled: Some(at),
                by_staff,
            };
            self.bookings.insert(booked.commit.uid.clone(), booked);
            return;
        }
        // Overlapping an active booking of the same host: a double booking from now on,
        // unless Cal.com itself let a staff booking into an API create's window.
        let api = commit.source == "api";
        let active = self.active.entry(commit.host_id).or_default();
        let mut pairs = 0u64;
        let mut first: Option<usize> = None;
        let mut joined: Option<usize> = None;
        for (i, b) in active.iter().enumerate() {
            let race = b.external && api && commit.admitted_ms.is_some_and(|at| at <= b.at);
            if b.start < commit.end && commit.start < b.end && !race {
                pairs += 1;
                first.get_or_insert(i);
                if let Some(g) = b.group {
                    joined = Some(joined.map_or(g, |j: usize| j.min(g)));
                }
            }
        }
        let mut group = None;
        if let Some(first) = first {
            let g = match joined {
                Some(g) => {
                    let group = &mut self.groups[g];
                    group.pairs += pairs;
                    group.members += 1;
                    group.active += 1;
                    group.ended = false;
                    self.found[group.violation].count += pairs;
                    g
                }
                None => {
                    let a = &self.bookings[&active[first].uid].commit;
                    let detail = format!(
                        "host {} has {} ({}, {}) and {} ({}, {})",
                        a.host_id,
                        a.uid,
                        history::iso(a.start),
                        a.source,
                        commit.uid,
                        history::iso(commit.start),
                        commit.source
                    );
                    self.found.push(super::Violation {
                        kind: Invariant::DoubleBooking,
                        detail,
                        at_ms: t,
                        count: pairs,
                    });
                    self.groups.push(Group {
                        violation: self.found.len() - 1,
                        members: 2,
                        active: 2,
                        pairs,
                        ended: false,
                    });
                    let g = self.groups.len() - 1;
                    self.active.get_mut(&commit.host_id).expect("entered above")[first].group =
                        Some(g);
                    g
                }
            };
            group = Some(g);
        }
        self.active
            .get_mut(&commit.host_id)
            .expect("entered above")
            .push(Active {
                uid: commit.uid.clone(),
                start: commit.start,
                end: commit.end,
                external: commit.source == "external",
                at: t,
                group,
            });
        self.order.push(commit.uid.clone());
        self.bookings.insert(
            commit.uid.clone(),
            Booked {
                commit,
                at: t,
                cancelled: None,
                by_staff: false,
            },
        );
    }

    pub(super) fn cancel(&mut self, uid: &str, t: u64, by_staff: bool) {
        let host = match self.bookings.get_mut(uid) {
            Some(b) => {
                if b.cancelled.is_some() {
                    return;
                }
                b.cancelled = Some(t);
                b.by_staff = by_staff;
                b.commit.host_id
            }
            None => {
                self.early_cancels.insert(uid.to_owned(), (t, by_staff));
                return;
            }
        };
        let Some(active) = self.active.get_mut(&host) else {
            return;
        };
        let Some(i) = active.iter().position(|b| b.uid == uid) else {
            return;
        };
        let Some(g) = active.remove(i).group else {
            return;
        };
        // A group's double booking ends when no two of its bookings are active any more:
        // say how long it lasted.
        let group = &mut self.groups[g];
        group.active = group.active.saturating_sub(1);
        if group.active < 2 && !group.ended {
            group.ended = true;
            let (pairs, members) = (group.pairs, group.members);
            let v = &mut self.found[group.violation];
            let lasted = t.saturating_sub(v.at_ms) as f64 / 1000.0;
            if pairs > 1 {
                v.detail.push_str(&format!(
                    ", {members} bookings in all overlapping in {pairs} pairs"
                ));
            }
            v.detail
                .push_str(&format!(" for {lasted} s until a cancel"));
        }
    }
}

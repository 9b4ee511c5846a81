//! No double booking: two active Cal.com bookings overlapping for one staff member, dated
//! from the commit that made them overlap, with how long they lasted if a cancel undid it.

use super::{Booked, Checker, Commit, Invariant};
use crate::history;

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
        let clashes: Vec<String> = self
            .order
            .iter()
            .filter(|uid| {
                let b = &self.bookings[*uid];
                b.active()
                    && b.commit.host_id == commit.host_id
                    && b.commit.start < commit.end
                    && commit.start < b.commit.end
                    && !calcom_race(b, &commit)
            })
            .cloned()
            .collect();
        for uid in clashes {
            let a = &self.bookings[&uid].commit;
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
            let i = self.push(Invariant::DoubleBooking, detail, t);
            self.open_doubles.push((uid, commit.uid.clone(), i));
        }
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
        match self.bookings.get_mut(uid) {
            Some(b) => {
                if b.cancelled.is_none() {
                    b.cancelled = Some(t);
                    b.by_staff = by_staff;
                }
            }
            None => {
                self.early_cancels.insert(uid.to_owned(), (t, by_staff));
            }
        }
        // A double booking ends with either booking: say how long it lasted.
        let (ended, open): (Vec<_>, Vec<_>) = std::mem::take(&mut self.open_doubles)
            .into_iter()
            .partition(|(a, b, _)| a == uid || b == uid);
        self.open_doubles = open;
        for (_, _, i) in ended {
            let v = &mut self.found[i];
            let lasted = t.saturating_sub(v.at_ms) as f64 / 1000.0;
            v.detail
                .push_str(&format!(" for {lasted} s until a cancel"));
        }
    }
}

/// Whether Cal.com let `new` (an API create) through while the staff booking `earlier` was
/// committed inside its window (see [`mock_calcom::truth::BookingRecord::calcom_race`]).
fn calcom_race(earlier: &Booked, new: &Commit) -> bool {
    earlier.commit.source == "external"
        && new.source == "api"
        && new.admitted_ms.is_some_and(|at| at <= earlier.at)
}

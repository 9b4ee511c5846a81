//! Layer: post-sync validation, every Cal.com answer checked against what was asked.

use chrono::TimeDelta;

use super::{Resolved, SlotRequest};
use crate::calcom::CalcomBooking;
use crate::engine::Engine;

/// Post-sync validation refused an answer: what is wrong with which booking, and the
/// bookings among the answers Cal.com made for this call (the ones a compensation undoes).
pub(super) struct Rejected {
    pub(super) detail: String,
    pub(super) made: Vec<CalcomBooking>,
}

impl Engine {
    /// Post-sync validation of every answer: Cal.com booked the time asked, a fresh booking
    /// (not someone else's returned for this create), this call's, and (`post_sync_status`)
    /// an active one. `Err` says what is wrong with which booking and which answers are
    /// this call's own new bookings (as the seeds: no compensation on rejection, unless
    /// `post_sync_compensation`).
    pub(super) fn post_sync_validation(
        &self,
        req: &SlotRequest,
        request: &Resolved,
        booked: &[CalcomBooking],
    ) -> Result<(), Rejected> {
        if !self.policy().post_sync_validation {
            return Ok(());
        }
        let fresh_after =
            self.now() - TimeDelta::from_std(self.policy().freshness).unwrap_or(TimeDelta::MAX);
        let mut first = None;
        let mut made = Vec::new();
        for (b, (seg, _)) in booked.iter().zip(request.staffed()) {
            let call = b.metadata.get("call_id").and_then(|v| v.as_str());
            // A booking carrying this call's id is its own however old (one a lost
            // answer hid, found again by reconciliation); staleness only gives away
            // someone else's booking returned for this create.
            let own = call == Some(req.call_id.as_str());
            let active = b.status == "accepted";
            let problem = if self.policy().post_sync_status && !active {
                // Cal.com's idempotency key matched a booking it should have let go of (the
                // caller's own, cancelled since): nothing was booked.
                Some("Cal.com answered with a booking that is not active")
            } else if self.policy().post_sync_status && self.cancelled_locally(&b.uid) {
                // The same, before the cancel reached Cal.com (its request timed out and
                // waits in the outbox): still `accepted` now, cancelled once it lands.
                Some("Cal.com answered with a booking this engine cancelled")
            } else if b.start != seg.start {
                Some("Cal.com booked another time")
            } else if !own && b.created_at.is_some_and(|c| c < fresh_after) {
                Some("stale booking (idempotency collision)")
            } else if !own && (call.is_some() || !req.call_id.is_empty()) {
                // Another call's booking, or one with no call at all (staff's, another
                // integration's) handed back by Cal.com's idempotency: not this call's.
                Some("call id mismatch")
            } else {
                None
            };
            // Made for this request (or, refused, made by Cal.com for this call at another
            // time) and held by no appointment: what a compensation undoes.
            if (problem.is_none() || own && active) && !self.held_locally(&b.uid) {
                made.push(b.clone());
            }
            if let Some(problem) = problem {
                first.get_or_insert_with(|| format!("{problem}: booking {}", b.uid));
            }
        }
        match first {
            Some(detail) => Err(Rejected { detail, made }),
            None => Ok(()),
        }
    }

    /// Whether a cancelled local appointment, and no active one, holds Cal.com booking `uid`.
    fn cancelled_locally(&self, uid: &str) -> bool {
        let holds = |a: &crate::store::Appointment| {
            a.segments
                .iter()
                .any(|p| p.calcom_uid.as_deref() == Some(uid))
        };
        let appointments = self.appointments.appointments();
        appointments
            .iter()
            .any(|a| a.status == crate::store::AppointmentStatus::Cancelled && holds(a))
            && !appointments.iter().any(|a| a.is_active() && holds(a))
    }

    /// Whether an active local appointment holds Cal.com booking `uid`.
    fn held_locally(&self, uid: &str) -> bool {
        self.appointments.appointments().iter().any(|a| {
            a.is_active()
                && a.segments
                    .iter()
                    .any(|p| p.calcom_uid.as_deref() == Some(uid))
        })
    }
}

//! Layer: post-sync validation, every Cal.com answer checked against what was asked.

use chrono::TimeDelta;

use super::{Resolved, SlotRequest};
use crate::calcom::CalcomBooking;
use crate::engine::Engine;

impl Engine {
    /// Post-sync validation of every answer: Cal.com booked the time asked, a fresh booking
    /// (not someone else's returned for this create), this call's. `Err` says what is
    /// wrong with which booking (as the seeds: no compensation on rejection).
    pub(super) fn post_sync_validation(
        &self,
        req: &SlotRequest,
        request: &Resolved,
        booked: &[CalcomBooking],
    ) -> Result<(), String> {
        if !self.policy().post_sync_validation {
            return Ok(());
        }
        let fresh_after =
            self.now() - TimeDelta::from_std(self.policy().freshness).unwrap_or(TimeDelta::MAX);
        for (b, (seg, _)) in booked.iter().zip(request.staffed()) {
            // A booking carrying this call's id is its own however old (one a lost
            // answer hid, found again by reconciliation); staleness only gives away
            // someone else's booking returned for this create.
            let own =
                b.metadata.get("call_id").and_then(|v| v.as_str()) == Some(req.call_id.as_str());
            let problem = if b.start != seg.start {
                Some("Cal.com booked another time")
            } else if !own && b.created_at.is_some_and(|c| c < fresh_after) {
                Some("stale booking (idempotency collision)")
            } else if b
                .metadata
                .get("call_id")
                .and_then(|v| v.as_str())
                .is_some_and(|c| c != req.call_id)
            {
                Some("call id mismatch")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(format!("{problem}: booking {}", b.uid));
            }
        }
        Ok(())
    }
}

//! Layer: the double-check, fresh slots from Cal.com right before booking.

use super::{Refusal, Resolved, SlotRequest};
use crate::engine::Engine;

impl Engine {
    /// The double-check: fresh slots right before booking. A caller holding the slot in
    /// Cal.com would find it hidden by its own reservation (listings cannot tell whose), so
    /// then the hold, admitted against Cal.com's bookings at the check, stands for it, and
    /// Cal.com's own check of the create is the last word.
    pub(super) async fn double_check(
        &self,
        req: &SlotRequest,
        request: &Resolved,
    ) -> Result<(), Refusal> {
        if !self.policy().double_check
            || self.holds_in_calcom(&req.call_id, request.service.id, request.start)
        {
            return Ok(());
        }
        match self.segments_listed(request, true).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Refusal {
                reason: "availability_changed",
                fresh: true,
            }),
            // As the seeds: a failed double-check is logged, and booking goes on.
            Err(e) => {
                tracing::warn!(error = %e, "double-check failed; proceeding");
                Ok(())
            }
        }
    }
}

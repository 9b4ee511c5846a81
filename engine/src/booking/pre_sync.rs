//! Layer: the pre-sync conflict check against the local store, before Cal.com is asked.

use chrono::{DateTime, Utc};

use super::{Refusal, Resolved, SlotRequest};
use crate::engine::Engine;
use crate::policy::ConflictCheck;

impl Engine {
    /// The pre-sync conflict check: an active local appointment at the start
    /// (`ExactStart`) or one leaving no stylist free over the interval (`Overlap`).
    pub(super) async fn pre_sync_check(
        &self,
        req: &SlotRequest,
        request: &Resolved,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let check = self.policy().pre_sync_check;
        if check == ConflictCheck::Off {
            return Ok(());
        }
        self.database().await;
        let conflict = match check {
            ConflictCheck::ExactStart => {
                self.appointments.conflict_at_start(request.start).is_some()
            }
            ConflictCheck::Overlap => self
                .free_stylists(&req.call_id, request, now, false)
                .is_empty(),
            ConflictCheck::Off => false,
        };
        if conflict {
            return Err(Refusal {
                reason: "pre_sync_conflict",
                fresh: false,
            });
        }
        Ok(())
    }
}

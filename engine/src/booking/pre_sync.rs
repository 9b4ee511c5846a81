//! Layer: the pre-sync conflict check against the local store, before Cal.com is asked.

use chrono::{DateTime, Utc};

use super::{Refusal, Resolved, SlotRequest, Stop};
use crate::engine::Engine;
use crate::policy::ConflictCheck;

impl Engine {
    /// The pre-sync conflict check: an active local appointment at the start
    /// (`ExactStart`), or (`Overlap`) a staffed segment for which local appointments leave
    /// no stylist free. Each segment is checked over its own span, as Cal.com assigns each
    /// part a host of its own: a stylist busy only in another part's time, or in a
    /// processing gap, does not refuse the booking.
    pub(super) async fn pre_sync_check(
        &self,
        req: &SlotRequest,
        request: &Resolved,
        now: DateTime<Utc>,
    ) -> Result<(), Stop> {
        let check = self.policy().pre_sync_check;
        if check == ConflictCheck::Off {
            return Ok(());
        }
        self.database().await.map_err(Stop::Down)?;
        let conflict = match check {
            ConflictCheck::ExactStart => {
                self.appointments.conflict_at_start(request.start).is_some()
            }
            ConflictCheck::Overlap => request.staffed().any(|(seg, _)| {
                self.free_over(&req.call_id, request, (seg.start, seg.end), now, false)
                    .is_empty()
            }),
            ConflictCheck::Off => false,
        };
        if conflict {
            return Err(Stop::Taken(Refusal {
                reason: "pre_sync_conflict",
                fresh: false,
            }));
        }
        Ok(())
    }
}

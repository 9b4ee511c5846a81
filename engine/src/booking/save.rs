//! Layer: the local save, the appointment recorded once Cal.com booked it.

use super::{Began, Resolved, SlotRequest};
use crate::calcom::CalcomBooking;
use crate::engine::Engine;
use crate::store::{Appointment, AppointmentStatus, SyncStatus};

/// The local save failed after Cal.com booked: nothing was recorded.
pub(super) struct Unsaved;

impl Engine {
    /// The local save: the appointment with its Cal.com bookings, the caller's local
    /// reservation converted, and the cached weeks it touched dropped (an internal booking).
    pub(super) async fn save(
        &self,
        req: &SlotRequest,
        request: &Resolved,
        booked: &[CalcomBooking],
        began: Began,
    ) -> Result<Appointment, Unsaved> {
        let segments = request.appointment_segments(booked);
        // The database down: nothing is recorded (the query did not run), as a failed save.
        let down = self.database().await.is_err();
        if self.save_fails() || down {
            return Err(Unsaved);
        }
        // Its caller cancelled while it worked (the cancel did not wait for it to end).
        if self.cancelled_while_booking(&req.call_id, began.arrived) {
            tracing::warn!(call = %req.call_id, "its caller cancelled while it worked: undone");
            return Err(Unsaved);
        }
        // Its caller asked for another slot since (it heard no answer to this one), or was
        // told "not booked" meanwhile: by this process for another slot (Retell
        // gave up on this attempt, the caller asked for another slot and heard no), or by
        // another worker (a retry there gave up on this attempt, stalled past Retell's
        // timeout): what this attempt made is undone, not saved.
        if crate::store::told_unbooked_since(
            &crate::engine::lock(&self.told_unbooked),
            &crate::engine::lock(&self.asked),
            &req.call_id,
            request.service.id,
            request.start,
            began.arrived,
            began.locked,
        ) {
            tracing::warn!(call = %req.call_id, "its caller was told no while it worked: undone");
            return Err(Unsaved);
        }
        let Some(appointment) = self.appointments.insert_unless_answered(
            Appointment {
                id: 0,
                service_id: request.service.id,
                call_id: Some(req.call_id.clone()),
                customer_name: req.customer(),
                start: request.start,
                end: request.end,
                status: AppointmentStatus::Booked,
                sync: SyncStatus::Synced,
                segments,
                created_at: self.store_now(),
            },
            began.arrived,
            began.locked,
        ) else {
            tracing::warn!(call = %req.call_id, "its caller was told no while it worked: undone");
            return Err(Unsaved);
        };
        if let Some(held) = self.reservations.reservation_of(
            &req.call_id,
            request.service.id,
            request.start,
            self.store_now(),
        ) {
            self.reservations
                .set_reservation_state(&held.token, "converted");
        }
        // Internal booking: drop the cached weeks it touched.
        for (seg, id) in request.staffed() {
            self.invalidate(id, seg.start);
        }
        Ok(appointment)
    }
}

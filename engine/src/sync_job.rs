//! Layer 12, the async sync job: appointments made by other channels (the salon's own
//! admin, walk-ins) are saved locally first and pushed to Cal.com by a queued job after a
//! delay (5-30 s in the seeds). Until then Cal.com shows the slot free: the #751 story.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::booking::{Resolved, SlotRequest};
use crate::calcom::NewBooking;
use crate::engine::Engine;
use crate::store::{Appointment, AppointmentStatus, Phase, SyncStatus};

impl Engine {
    /// Saves an appointment made by another channel as `pending` and queues its sync.
    pub async fn create_from_channel(
        self: &Arc<Self>,
        req: &SlotRequest,
    ) -> Result<Appointment, String> {
        let request = self.resolve(req)?;
        self.database().await;
        let appointment = self.appointments.insert(Appointment {
            id: 0,
            service_id: request.service.id,
            call_id: None,
            customer_name: req
                .customer_name
                .clone()
                .unwrap_or_else(|| "Kunde (Salon)".into()),
            start: request.start,
            end: request.end,
            status: AppointmentStatus::Booked,
            sync: SyncStatus::Pending,
            phases: phases(&request, &[]),
            created_at: self.now(),
        });
        let engine = self.clone();
        let id = appointment.id;
        tokio::spawn(async move { engine.run_sync(id, request).await });
        Ok(appointment)
    }

    async fn run_sync(self: Arc<Self>, id: u64, request: Resolved) {
        let policy = self.policy().clone();
        tokio::time::sleep(self.draw(&policy.sync_queue_delay)).await;
        for attempt in 1..=policy.sync_attempts.max(1) {
            match self.push(id, &request).await {
                Ok(uids) => {
                    self.database().await;
                    self.appointments.set_sync(
                        id,
                        SyncStatus::Synced,
                        Some(phases(&request, &uids)),
                    );
                    for (seg, event_type_id) in request.staffed() {
                        self.invalidate(event_type_id, seg.start);
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(appointment = id, attempt, error = %e, "sync to Cal.com failed");
                    if attempt < policy.sync_attempts {
                        tokio::time::sleep(self.draw(&policy.sync_retry_delay)).await;
                    }
                }
            }
        }
        self.database().await;
        self.appointments.set_sync(id, SyncStatus::Failed, None);
    }

    /// Books every staffed segment; on a failure cancels the booked ones (saga).
    async fn push(&self, id: u64, r: &Resolved) -> Result<Vec<(String, u64, Option<u64>)>, String> {
        let name = self
            .appointments
            .appointment(id)
            .map(|a| a.customer_name.clone())
            .unwrap_or_default();
        let mut done: Vec<(String, u64, Option<u64>)> = Vec::new();
        for (seg, event_type_id) in r.staffed() {
            let booking = NewBooking {
                event_type_id,
                start: seg.start,
                attendee_name: name.clone(),
                attendee_email: Some("noreply@placeholder.local".into()),
                attendee_phone: None,
                time_zone: self.catalog().time_zone.name().into(),
                language: "de".into(),
                metadata: [("appointment_id".to_string(), id.to_string())].into(),
            };
            match self.calcom.create_booking(&booking).await {
                Ok(b) => done.push((b.uid, b.id, b.host_id)),
                Err(e) => {
                    if self.policy().saga_compensation {
                        for (uid, _, _) in &done {
                            let _ = self
                                .calcom
                                .cancel_booking(
                                    uid,
                                    "Kompensation: Synchronisierung fehlgeschlagen",
                                )
                                .await;
                        }
                    }
                    return Err(e.to_string());
                }
            }
        }
        Ok(done)
    }
}

/// The phases of `r`, the staffed ones carrying the Cal.com bookings in `booked` (in order).
fn phases(r: &Resolved, booked: &[(String, u64, Option<u64>)]) -> Vec<Phase> {
    let mut booked = booked.iter();
    r.segments
        .iter()
        .map(|seg| {
            let b = seg.event_type_id.and_then(|_| booked.next());
            Phase {
                segment: seg.name.clone(),
                start: seg.start,
                end: seg.end,
                calcom_uid: b.map(|b| b.0.clone()),
                calcom_id: b.map(|b| b.1),
                host_id: b.and_then(|b| b.2),
            }
        })
        .collect()
}

/// When a pending appointment was created, for reports of sync lag.
pub fn pending_since(a: &Appointment) -> Option<DateTime<Utc>> {
    (a.sync == SyncStatus::Pending).then_some(a.created_at)
}

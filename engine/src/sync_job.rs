//! Layer 12, the async sync job: appointments made by other channels (the salon's own
//! admin, walk-ins) are saved locally first and pushed to Cal.com by a queued job after a
//! delay (5-30 s in the seeds). Until then Cal.com shows the slot free: the #751 story.

use std::sync::Arc;

use crate::booking::{Resolved, SlotRequest};
use crate::calcom::{CalcomBooking, CalcomError};
use crate::engine::{Engine, Lease, RepairBackoff};
use crate::policy::LockMode;
use crate::store::{Appointment, AppointmentStatus, SyncStatus};

/// Why one sync attempt did not land.
#[derive(Debug)]
enum SyncError {
    /// A stylist's lock was still taken after the wait.
    Lock(String),
    /// A stylist's lock was lost before a create (`lock_fencing`): nothing was sent unguarded.
    LockLost(String),
    Calcom(CalcomError),
    /// Post-sync validation: Cal.com answered a create with a booking that is not this
    /// sync's (its idempotency handing back another's, or a cancelled one).
    NotOurs(String),
}

impl SyncError {
    /// Refused for now (throttled, Cal.com failing or out of reach, a lock taken), not for
    /// good (the slot taken, the request refused).
    fn transient(&self) -> bool {
        match self {
            // A create answered with another's booking may be answered rightly next time.
            SyncError::Lock(_) | SyncError::LockLost(_) | SyncError::NotOurs(_) => true,
            SyncError::Calcom(e) => e.is_transient(),
        }
    }
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::Lock(key) => write!(f, "lock {key} still taken after the wait"),
            SyncError::LockLost(key) => write!(f, "lock {key} lost before the create"),
            SyncError::Calcom(e) => write!(f, "{e}"),
            SyncError::NotOurs(why) => f.write_str(why),
        }
    }
}

/// Why the salon's channel refused an appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelRefusal {
    /// The request itself is wrong (unknown service, bad date).
    Invalid(String),
    /// The slot is already filled (`channel_conflict_check`): where it was seen.
    Conflict(String),
}

impl std::fmt::Display for ChannelRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelRefusal::Invalid(m) | ChannelRefusal::Conflict(m) => f.write_str(m),
        }
    }
}

impl Engine {
    /// Saves an appointment made by another channel as `pending` and queues its sync. With
    /// `channel_conflict_check`, one whose slot is already filled is refused first: by an
    /// active local appointment leaving none of the service's stylists free, by Cal.com's
    /// fresh listing no longer offering it, or by Cal.com's bookings leaving none of them
    /// free (booked in the app, by a caller, by another integration, while the listing
    /// still lags). Such an appointment could never sync: saved anyway, its sync fails and
    /// it stays `Failed`, an appointment the salon believes in and Cal.com never learns of.
    /// Cal.com out of reach is no conflict: the appointment is saved and the sync tries.
    pub async fn create_from_channel(
        self: &Arc<Self>,
        req: &SlotRequest,
    ) -> Result<Appointment, ChannelRefusal> {
        let request = self.resolve(req).map_err(ChannelRefusal::Invalid)?;
        self.database_retrying().await;
        if self.policy().channel_conflict_check {
            if self
                .free_stylists("", &request, self.store_now(), false)
                .is_empty()
            {
                return Err(ChannelRefusal::Conflict(format!(
                    "{} at {} is already booked in the salon's calendar",
                    request.service.name, request.local
                )));
            }
            // The salon's desk does not wait out Cal.com's timeouts and retries: an answer
            // within 5 s, or the appointment is taken and the sync finds out. The listing
            // (working hours, blocked time) and the bookings (which the listing can show
            // minutes late) are read together.
            let within = std::time::Duration::from_secs(5);
            let (listed, unbooked) = futures_util::future::join(
                simkit::time::timeout(within, self.segments_listed(&request, true)),
                simkit::time::timeout(within, self.segments_unbooked(&request)),
            )
            .await;
            if let Ok(Ok(false)) = listed {
                return Err(ChannelRefusal::Conflict(format!(
                    "{} at {} is no longer free in Cal.com",
                    request.service.name, request.local
                )));
            }
            if let Ok(Ok(false)) = unbooked {
                return Err(ChannelRefusal::Conflict(format!(
                    "{} at {} is already booked in Cal.com",
                    request.service.name, request.local
                )));
            }
        }
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
            segments: request.appointment_segments(&[]),
            created_at: self.store_now(),
        });
        let engine = self.clone();
        let id = appointment.id;
        tokio::spawn(async move { engine.run_sync(id, request).await });
        Ok(appointment)
    }

    pub(crate) async fn run_sync(self: Arc<Self>, id: u64, request: Resolved) {
        let policy = self.policy().clone();
        simkit::time::sleep(self.draw(&policy.sync_queue_delay)).await;
        // Until the sync lands, Cal.com offers the slot to anyone (a walk-in booked in the
        // app): once a minute at the most, not the recovery's 5, so that it lands soon
        // after Cal.com recovers.
        let mut backoff = RepairBackoff::capped(std::time::Duration::from_secs(60));
        let mut last_error = None;
        for attempt in 1.. {
            // Under the per-stylist lock every booking the engine makes in Cal.com takes the
            // stylists' locks, the sync job's too (the seeds' job took none: baseline keeps that).
            let locks = match policy.lock {
                LockMode::StaffInterval => self.locks_for(&request),
                _ => Vec::new(),
            };
            // The result is saved before the locks go: whoever takes them next (a booking, the
            // recovery after a restart) finds the Cal.com bookings recorded.
            let pushed = match self.acquire_all(&locks).await {
                Ok(guard) => {
                    // Under the locks, the store says whether this sync is still to do (a
                    // second job for one appointment must not book it twice); read with the
                    // appointment `push` loads.
                    let pending = self
                        .appointments
                        .appointment(id)
                        .is_some_and(|a| a.sync == SyncStatus::Pending);
                    if !pending {
                        self.release(guard).await;
                        return;
                    }
                    let pushed = self.push(id, &request, &guard.fence()).await;
                    if let Ok(booked) = &pushed {
                        self.database_retrying().await;
                        self.appointments.set_sync(
                            id,
                            SyncStatus::Synced,
                            Some(request.appointment_segments(booked)),
                        );
                    }
                    self.release(guard).await;
                    pushed
                }
                Err(refused) => Err(SyncError::Lock(refused.to_string())),
            };
            match pushed {
                Ok(_) => {
                    for (seg, event_type_id) in request.staffed() {
                        self.invalidate(event_type_id, seg.start);
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(appointment = id, attempt, error = %e, "sync to Cal.com failed");
                    if attempt < policy.sync_attempts {
                        simkit::time::sleep(self.draw(&policy.sync_retry_delay)).await;
                    } else if policy.sync_retry_transient
                        && e.transient()
                        && self.now() < request.start
                    {
                        backoff.wait().await;
                    } else {
                        last_error = Some(e);
                        break;
                    }
                }
            }
        }
        // Given up: what a lost answer may have made in Cal.com is undone once it answers.
        self.defer_uncertain(self.sync_bookings(id, &request));
        self.database_retrying().await;
        self.appointments.set_sync(id, SyncStatus::Failed, None);
        // Refused for good: Cal.com will never hold this appointment (`push` undid any part
        // it made), so the salon must not count on it either.
        if let Some(e) = last_error.filter(|e| policy.sync_refusal_cancels && !e.transient()) {
            tracing::warn!(
                appointment = id,
                error = %e,
                "Cal.com refused the sync for good: appointment cancelled, the salon must tell the customer"
            );
            self.appointments.cancel(id);
        }
    }

    /// The Cal.com bookings an appointment's sync makes, one per staffed segment.
    pub(crate) fn sync_bookings(&self, id: u64, r: &Resolved) -> Vec<crate::calcom::NewBooking> {
        let name = self
            .appointments
            .appointment(id)
            .map(|a| a.customer_name.clone())
            .unwrap_or_default();
        r.staffed()
            .map(|(seg, event_type_id)| {
                let metadata = [("appointment_id".to_string(), id.to_string())].into();
                self.segment_booking(event_type_id, seg.start, &name, metadata)
            })
            .collect()
    }

    /// Post-sync validation of a sync's create (`post_sync_validation`), as a caller's
    /// booking's: Cal.com booked the time asked, an active booking, and this appointment's
    /// (its `appointment_id`). Cal.com's idempotency handed a sync a caller's booking
    /// (`replay`); saved as the salon's appointment it was later reconciled away with the
    /// caller's appointment (lost_booking: explore seed 2003252 under swarm drawing).
    fn not_this_sync(
        &self,
        id: u64,
        asked: &crate::calcom::NewBooking,
        answer: &CalcomBooking,
    ) -> Option<&'static str> {
        if !self.policy().post_sync_validation {
            return None;
        }
        let appointment = answer
            .metadata
            .get("appointment_id")
            .and_then(|v| v.as_str());
        if answer.start != asked.start {
            Some("Cal.com booked another time")
        } else if answer.status != "accepted" {
            Some("Cal.com answered with a booking that is not active")
        } else if appointment != Some(id.to_string().as_str()) {
            Some("another's booking (idempotency collision)")
        } else {
            None
        }
    }

    /// Books every staffed segment, each create fenced by the locks' `lease`; on a failure
    /// cancels the booked ones (saga).
    async fn push(
        &self,
        id: u64,
        r: &Resolved,
        lease: &Lease,
    ) -> Result<Vec<CalcomBooking>, SyncError> {
        let mut done = Vec::new();
        for booking in self.sync_bookings(id, r) {
            if let Err(key) = self.fence(lease).await {
                self.compensate(&done, "Kompensation: Synchronisierung fehlgeschlagen")
                    .await;
                return Err(SyncError::LockLost(key));
            }
            match self.create(&booking).await {
                Ok(b) => {
                    if let Some(problem) = self.not_this_sync(id, &booking, &b) {
                        // Someone else's booking: never saved as this appointment's, never
                        // undone by it (its holder keeps it).
                        self.compensate(&done, "Kompensation: Synchronisierung fehlgeschlagen")
                            .await;
                        return Err(SyncError::NotOurs(format!("{problem}: booking {}", b.uid)));
                    }
                    done.push(b)
                }
                Err(e) => {
                    self.compensate(&done, "Kompensation: Synchronisierung fehlgeschlagen")
                        .await;
                    return Err(SyncError::Calcom(e));
                }
            }
        }
        Ok(done)
    }
}

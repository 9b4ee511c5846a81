//! `cancel_appointment`: a caller's appointment cancelled, locally and every part in Cal.com.

use std::time::Duration;

use super::CancelOutcome;
use crate::engine::{Engine, lock};
use crate::store::{Appointment, AppointmentStatus};

/// How long a cancel waits for the same call's booking still at work: well within Retell's
/// timeout for a function call (10 s and more).
const CANCEL_WAIT: Duration = Duration::from_secs(5);

impl Engine {
    /// `cancel_appointment`: cancels this call's appointment, locally and every part in
    /// Cal.com. With an outbox the caller's word is final: the appointment is cancelled
    /// locally first and each part tried once; one Cal.com refuses for now waits in the
    /// outbox, as a compensation does (cancelling part by part with the client's retries
    /// gave up halfway under 429s and left the appointment standing on a part already
    /// gone). Without one, the first refusal keeps the appointment and says so.
    pub async fn cancel_appointment(&self, call_id: &str) -> CancelOutcome {
        // One cancel of a call waits at a time: two (Retell's retry beside the first) waiting
        // for the same booking handed its guard to each other for ever, within one instant,
        // and the world never went on (explore seed 6805 under full).
        // The wait is bounded: a booking stuck on a create Cal.com never answers (sent into a
        // partition, waited out for the client's whole timeout) held the cancel past
        // Retell's timeout (explore seed 964 around `cancel-during-booking`). Past the bound
        // the caller's word is recorded, and the booking undoes what it makes at its save.
        let mut in_flight = false;
        let _turn = if self.policy().cancel_waits_for_booking {
            let turn = self.cancel_turn(call_id).lock_owned().await;
            let waited = simkit::time::timeout(CANCEL_WAIT, self.await_bookings_of(call_id)).await;
            if waited.is_err() {
                // Recorded before the appointments are read, with no wait between, so a
                // booking saves either before (and is found below) or not at all.
                lock(&self.cancelled_in_flight).insert(call_id.to_owned(), self.store_now());
                in_flight = true;
            }
            Some(turn)
        } else {
            None
        };
        let found = self
            .appointments
            .appointments()
            .into_iter()
            .find(|a| a.is_active() && a.call_id.as_deref() == Some(call_id));
        let Some(appointment) = found else {
            if in_flight {
                return CancelOutcome::CancelledInFlight;
            }
            // Retell's retry of a cancel that went through: cancelled, as it said.
            let done = self
                .appointments
                .appointments()
                .into_iter()
                .rev()
                .find(|a| {
                    a.status == AppointmentStatus::Cancelled
                        && a.call_id.as_deref() == Some(call_id)
                });
            return done.map_or(CancelOutcome::NotFound, CancelOutcome::Cancelled);
        };
        let reason = "Vom Kunden telefonisch abgesagt";
        let uids: Vec<String> = appointment
            .segments
            .iter()
            .filter_map(|p| p.calcom_uid.clone())
            .collect();
        let retries = self.policy().compensation_retries;
        if self.policy().saga_compensation && retries > 0 {
            self.cancel_locally(&appointment);
            for uid in uids {
                let answer = self.calcom.cancel_booking_once(&uid, reason).await;
                self.compensated(uid, reason.to_owned(), retries, answer);
            }
        } else {
            for uid in uids {
                if let Err(e) = self.calcom.cancel_booking(&uid, reason).await {
                    return CancelOutcome::Failed(e);
                }
            }
            self.cancel_locally(&appointment);
        }
        CancelOutcome::Cancelled(appointment)
    }

    /// Whether a cancel of `call_id` stopped waiting for its bookings at or after `began`
    /// (see [`Self::cancel_appointment`]): the attempt begun then must not save.
    pub(super) fn cancelled_while_booking(
        &self,
        call_id: &str,
        began: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        lock(&self.cancelled_in_flight)
            .get(call_id)
            .is_some_and(|at| *at >= began)
    }

    /// The turn of `call_id`'s cancels (see [`Self::cancel_appointment`]).
    fn cancel_turn(&self, call_id: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut turns = lock(&self.cancel_turns);
        // Turns nobody holds any more are dropped, so the map follows the calls in progress.
        turns.retain(|_, t| std::sync::Arc::strong_count(t) > 1);
        turns.entry(call_id.to_owned()).or_default().clone()
    }

    /// Waits until no booking attempt of `call_id` is at work: a booking whose answer was
    /// lost (Retell gave up on it) still runs to its end, and the caller's cancel is meant
    /// for what it makes. Attempts that start meanwhile are waited for too.
    async fn await_bookings_of(&self, call_id: &str) {
        loop {
            let running: Vec<_> = lock(&self.attempts)
                .iter()
                .filter(|((call, _), attempt)| call == call_id && attempt.try_lock().is_err())
                .map(|(_, attempt)| attempt.clone())
                .collect();
            if running.is_empty() {
                return;
            }
            for attempt in running {
                drop(attempt.lock().await);
            }
        }
    }

    /// Marks `appointment` cancelled and drops the cached weeks its segments were in.
    fn cancel_locally(&self, appointment: &Appointment) {
        self.appointments.cancel(appointment.id);
        // Its attempts' bookings are no answer to a retry any more.
        for ((call, _), attempt) in lock(&self.attempts).iter() {
            if appointment.call_id.as_deref() == Some(call.as_str())
                && let Ok(mut last) = attempt.try_lock()
            {
                *last = None;
            }
        }
        for p in &appointment.segments {
            if let Some(et) = self
                .catalog()
                .service_by_event_type_in(appointment.service_id, &p.segment)
            {
                self.invalidate(et, p.start);
            }
        }
    }
}

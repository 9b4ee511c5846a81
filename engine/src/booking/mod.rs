//! The booking path: `start_booking` as its protection layers, top-down in the order they run.

// What a caller asks for, and what it is answered.
mod outcome;
mod request;
// `check_availability`, and the listings and stylists the layers read.
mod availability;
// The layers of `start_booking`, in the order they run (see `book_locked`):
// 1. the lock;
mod locks;
// 2. the local reservation (and the Cal.com holds, let go once the booking is answered);
mod reservation;
// 3. the double-check against fresh Cal.com slots;
mod double_check;
// 4. the pre-sync conflict check against the local store;
mod pre_sync;
// 5. the create in Cal.com;
mod create;
// 6. the post-sync validation of Cal.com's answers;
mod post_sync;
// 7. the local save;
mod save;
// 8. the compensation (saga) of a failed create or save.
mod compensation;
// `cancel_appointment`.
mod cancel;

use std::sync::Arc;

use crate::engine::Lease;

use chrono::{DateTime, Utc};

use crate::engine::{Engine, lock};
use crate::store::Appointment;
pub(crate) use create::CreateKey;
pub use outcome::{BookOutcome, CancelOutcome, CheckOutcome, ERROR_TYPES, Failure};
use outcome::{Refusal, Stop};
pub use request::{PlacedSegment, Resolved, SlotRequest, place};
use save::Unsaved;

/// When a booking attempt began, by the database's clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct Began {
    /// When its request came (a Retell retry may then wait for the attempt before it): a
    /// cancel of the call after this is meant for what it makes.
    pub arrived: DateTime<Utc>,
    /// When it had the call's attempt guard and started work.
    pub locked: DateTime<Utc>,
}

impl Engine {
    /// `start_booking`: book the slot through every layer the policy switches on. The
    /// request is resolved, one attempt per call and slot runs at a time, a repeated one
    /// answers with its booking, then the lock layer runs [`Self::book_locked`] (the
    /// layers under the lock) and the caller's Cal.com holds are let go.
    pub async fn start_booking(&self, req: &SlotRequest) -> BookOutcome {
        let request = match self.resolve(req) {
            Ok(r) => r,
            Err(message) => return BookOutcome::Invalid(message),
        };
        // One attempt per call and slot at a time: Retell's retry of an attempt still at work
        // (its answer was too slow) waits for it, then finds its booking below.
        let attempt = self.attempt_slot(&req.call_id, request.start);
        let arrived = self.store_now();
        // The caller moved on from its other slots: their attempts still at work do not save.
        crate::store::record_unbooked(
            &mut lock(&self.asked),
            &req.call_id,
            request.service.id,
            request.start,
            arrived,
        );
        let mut last = attempt.lock().await;
        let began = Began {
            arrived,
            locked: self.store_now(),
        };
        // Its caller cancelled while it waited (a Retell retry behind the attempt a cancel
        // stopped waiting for): nothing is booked.
        if self.cancelled_while_booking(&req.call_id, arrived) {
            return BookOutcome::Failed {
                request,
                failure: Failure::StoreFailed,
                detail: "its caller cancelled while it waited; nothing booked".into(),
            };
        }
        // Its caller asked for another slot (or was told no) while it waited: a Retell retry
        // of an attempt the caller has moved on from books nothing (its save would undo it).
        if crate::store::told_unbooked_since(
            &lock(&self.told_unbooked),
            &lock(&self.asked),
            &req.call_id,
            request.service.id,
            request.start,
            began.arrived,
            began.locked,
        ) {
            return BookOutcome::Failed {
                request,
                failure: Failure::StoreFailed,
                detail: "its caller moved on while it waited; nothing booked".into(),
            };
        }
        let previous = last.as_ref().map(|(done, _)| done.clone());
        let outcome = self.book_attempt(req, request, began, previous).await;
        if let BookOutcome::Booked { appointment, .. } = &outcome {
            *last = Some((appointment.clone(), self.store_now()));
        }
        self.answer(req, arrived, outcome).await
    }

    /// One attempt of [`Self::start_booking`], begun at `began` (the database's clock).
    async fn book_attempt(
        &self,
        req: &SlotRequest,
        request: Resolved,
        began: Began,
        previous: Option<Appointment>,
    ) -> BookOutcome {
        // Booking one slot, the caller lets go of the others it held.
        self.release_passed_over(&req.call_id, request.service.id, request.start)
            .await;
        // Retell retries a failed call: the same call, service and slot books once (another
        // service at that start is another booking, not a retry).
        if let Err(down) = self.database().await {
            // A Retell retry of an attempt that booked (it waited behind it, or came just
            // after): that booking is the answer, known without the database (explore seeds
            // 1400583, 1712953: the database went down between the attempt's save and its
            // retry's look-up, and the caller holding the booking heard "vergeben").
            if let Some(done) = previous.filter(|a| a.service_id == request.service.id) {
                // Unless the caller cancelled it since on another worker (this memory is
                // this worker's) and books the slot again: Cal.com, which holds the
                // booking's truth when the database cannot be asked, must still hold every
                // part (explore seed 2113022: "gebucht" for a cancelled booking).
                if self.still_held_in_calcom(&done).await {
                    return BookOutcome::repeated(request, done);
                }
            }
            return Self::infra_down(request, &down);
        }
        // The database answered: it keeps the request for the other workers (the query
        // above), so that this call's attempts at other slots there do not save.
        if !self.worker().is_empty() {
            self.appointments.ask(
                &req.call_id,
                request.service.id,
                request.start,
                began.arrived,
            );
        }
        if let Some(done) = self.already_booked(req, &request) {
            return BookOutcome::repeated(request, done);
        }
        // Layer: the lock (`locks`). Timed out, nothing else runs.
        let outcome = match self
            .under_lock(request, |request, lease| {
                self.book_locked(req, request, lease, began)
            })
            .await
        {
            Ok(outcome) => outcome,
            Err(lock_timeout) => return lock_timeout,
        };
        // Layer: reservations (`reservation`): the Cal.com holds have done their work.
        if let BookOutcome::Booked { request, .. }
        | BookOutcome::Taken { request, .. }
        | BookOutcome::Failed { request, .. } = &outcome
        {
            self.release_calcom_holds(&req.call_id, request.service.id, request.start)
                .await;
        }
        // A caller refused moves on: with `release_passed_over`, its local hold of the slot
        // is let go too instead of hiding the slot from the others until it lapses.
        if let BookOutcome::Taken { request, .. } | BookOutcome::Failed { request, .. } = &outcome {
            self.release_local_hold(&req.call_id, request.service.id, request.start)
                .await;
        }
        outcome
    }

    /// Several workers on one database: a "not booked" answer is recorded, so that this
    /// call's attempt still at work on another worker (stalled past Retell's timeout, its
    /// retry answered here) undoes what it made instead of saving it; and if that attempt
    /// saved its booking meanwhile, the booking is the answer. One engine process orders a
    /// call's attempts itself (the attempt guard), so it records nothing.
    async fn answer(
        &self,
        req: &SlotRequest,
        arrived: DateTime<Utc>,
        outcome: BookOutcome,
    ) -> BookOutcome {
        let (BookOutcome::Taken { request, .. } | BookOutcome::Failed { request, .. }) = &outcome
        else {
            return outcome;
        };
        // This process remembers it too (no database needed): its own attempts of the call at
        // other slots, still at work after Retell gave up on them, undo what they make.
        // With the request's arrival: this call's attempts of the same slot whose requests
        // came before it (Retell gave up on them) are answered by it too.
        let told = |at| crate::store::Told { at, arrived };
        crate::store::record_answer(
            &mut lock(&self.told_unbooked),
            &req.call_id,
            request.service.id,
            request.start,
            told(self.store_now()),
        );
        if self.worker().is_empty() || self.database().await.is_err() {
            return outcome;
        }
        let saved = self.appointments.answer_unbooked(
            &req.call_id,
            request.service.id,
            request.start,
            told(self.store_now()),
        );
        match (saved, outcome) {
            (
                Some(appointment),
                BookOutcome::Taken { request, .. } | BookOutcome::Failed { request, .. },
            ) => BookOutcome::repeated(request, appointment),
            (_, outcome) => outcome,
        }
    }

    /// The layers under the lock, in the order they run, each in its own file: a check
    /// answers "go on" or refuses the slot as taken; the create books in Cal.com; what
    /// fails after it is compensated. A new protection layer goes into this list where
    /// its check belongs.
    async fn book_locked(
        &self,
        req: &SlotRequest,
        request: Resolved,
        lease: Arc<Lease>,
        began: Began,
    ) -> BookOutcome {
        let now = self.store_now();
        // Layer: local reservation (`reservation`): other callers' holds.
        match self.local_reservation_check(req, &request, now).await {
            Ok(()) => {}
            Err(Stop::Taken(refusal)) => return self.taken(request, refusal).await,
            Err(Stop::Down(down)) => return Self::infra_down(request, &down),
        }
        // Layer: double-check (`double_check`): fresh slots from Cal.com.
        if let Err(refusal) = self.double_check(req, &request).await {
            return self.taken(request, refusal).await;
        }
        // Layer: pre-sync check (`pre_sync`): a conflict in the local store.
        match self.pre_sync_check(req, &request, now).await {
            Ok(()) => {}
            Err(Stop::Taken(refusal)) => {
                // The conflict may be this very attempt, saved by another worker while this
                // retry waited for the lock (the attempt guard is one worker's memory; a
                // worker that stalled past Retell's timeout saves its booking late): that
                // booking is the answer, never "vergeben" for the caller's own slot.
                if let Some(done) = self.already_booked(req, &request) {
                    return BookOutcome::repeated(request, done);
                }
                return self.taken(request, refusal).await;
            }
            Err(Stop::Down(down)) => return Self::infra_down(request, &down),
        }
        // Layer: create (`create`): Cal.com, segment by segment or all at once, each create
        // fenced: sent only while the booking still holds its locks (`lock_fencing`).
        let booked = match self.create_segments(req, &request, &lease).await {
            Ok(booked) => booked,
            // Layer: compensation (`compensation`): what a failed create made is undone.
            Err(failed) => return self.undo_failed_create(request, failed).await,
        };
        // Layer: post-sync validation (`post_sync`) of every answer; a rejection is
        // compensated (`compensation`) when the policy says so (the seeds did not).
        if let Err(rejected) = self.post_sync_validation(req, &request, &booked) {
            return self.undo_rejected(request, rejected).await;
        }
        // Layer: the fence before the save (`lock_fencing`): a booking whose locks lapsed
        // while it worked (its worker stalled past the TTL) is no longer the stylist's
        // holder: another worker's retry of this call, or a restarted worker's recovery, may
        // have acted on it meanwhile. Booked by this call's retry: that is the answer;
        // otherwise what it made is undone, never saved behind their backs.
        if self.fence_if_stale(&lease).await.is_err() {
            // The database down: nothing can be looked up; what was made is undone below.
            if self.database().await.is_err() {
                return self.undo_unsaved(request, &booked).await;
            }
            return match self.already_booked(req, &request) {
                Some(done) => BookOutcome::repeated(request, done),
                None => self.undo_unsaved(request, &booked).await,
            };
        }
        // Layer: local save (`save`).
        match self.save(req, &request, &booked, began).await {
            Ok(appointment) => BookOutcome::Booked {
                request,
                appointment,
                repeated: false,
            },
            // Layer: compensation (`compensation`): what cannot be recorded is undone.
            Err(Unsaved) => self.undo_unsaved(request, &booked).await,
        }
    }

    /// This call's booking of the service and slot, already saved (by an earlier attempt,
    /// or by another worker's): the answer to repeat.
    fn already_booked(&self, req: &SlotRequest, request: &Resolved) -> Option<Appointment> {
        self.appointments
            .booked_by_call(&req.call_id, request.service.id, request.start)
    }

    /// The answer when Redis or the database is down: a technical refusal, nothing booked,
    /// nothing said about the slot.
    fn infra_down(request: Resolved, down: &crate::infra::Down) -> BookOutcome {
        BookOutcome::Failed {
            request,
            failure: Failure::InfraUnavailable,
            detail: down.to_string(),
        }
    }

    /// The answer of a layer that refuses the slot: taken, with up to three alternatives.
    async fn taken(&self, request: Resolved, refusal: Refusal) -> BookOutcome {
        let alternatives = self.alternatives(&request, refusal.fresh).await;
        BookOutcome::Taken {
            request,
            reason: refusal.reason,
            alternatives,
        }
    }

    /// Whether Cal.com still holds every booked part of `appointment` (each asked; a part
    /// it cannot be asked about counts as not held).
    async fn still_held_in_calcom(&self, appointment: &Appointment) -> bool {
        for uid in appointment
            .segments
            .iter()
            .filter_map(|s| s.calcom_uid.as_deref())
        {
            match self.calcom.get_booking(uid).await {
                Ok(b) if b.status == "accepted" => {}
                _ => return false,
            }
        }
        true
    }

    /// The guard of one (call, start) booking attempt (see [`Self::start_booking`]), with
    /// what its last attempt booked.
    fn attempt_slot(
        &self,
        call_id: &str,
        start: DateTime<Utc>,
    ) -> Arc<tokio::sync::Mutex<crate::engine::Attempt>> {
        let now = self.store_now();
        let mut attempts = lock(&self.attempts);
        // Entries nobody holds any more are dropped, so the map follows the calls in
        // progress; a booking is remembered for a while (its call's retries).
        attempts.retain(|_, a| {
            Arc::strong_count(a) > 1
                || a.try_lock().is_ok_and(|last| {
                    last.as_ref()
                        .is_some_and(|(_, at)| now - *at < chrono::TimeDelta::minutes(10))
                })
        });
        attempts
            .entry((call_id.to_owned(), start))
            .or_default()
            .clone()
    }

    /// `start_booking` on a task of its own, so that a caller hanging up (Retell's timeout
    /// closes the connection) never cancels a booking halfway, between Cal.com's create and
    /// the local save: the work runs to its end, as a PHP request does after a disconnect.
    pub async fn start_booking_detached(self: &Arc<Self>, req: SlotRequest) -> BookOutcome {
        let engine = self.clone();
        detached(async move { engine.start_booking(&req).await }).await
    }

    /// `cancel_appointment` on a task of its own, for the same reason: a caller hanging up
    /// while Cal.com is slow never leaves an appointment cancelled locally with parts
    /// nobody sent a cancel for.
    pub async fn cancel_appointment_detached(self: &Arc<Self>, call_id: &str) -> CancelOutcome {
        let (engine, call_id) = (self.clone(), call_id.to_owned());
        detached(async move { engine.cancel_appointment(&call_id).await }).await
    }
}

/// Runs `work` on a task of its own and waits for it: dropping the wait (the caller's
/// connection closed) leaves the work running to its end.
async fn detached<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    match tokio::spawn(work).await {
        Ok(outcome) => outcome,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

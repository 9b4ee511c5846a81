//! Layer: compensation (the saga), undoing in Cal.com what a failed booking made there.

use super::create::{CreateError, FailedCreate};
use super::post_sync::Rejected;
use super::{BookOutcome, CreateKey, Failure, Refusal, Resolved};
use crate::calcom::{CalcomBooking, CalcomError, NewBooking};
use crate::engine::{Engine, lock};
use chrono::TimeDelta;

impl Engine {
    /// After a failed create: a partly booked compound service is undone, and what the
    /// lost answers may have made is undone once Cal.com can be asked; the caller hears the
    /// slot is taken, or why the booking failed (a lock lost before a create included).
    pub(super) async fn undo_failed_create(
        &self,
        request: Resolved,
        failed: FailedCreate,
    ) -> BookOutcome {
        let FailedCreate {
            error,
            booked,
            uncertain,
        } = failed;
        self.compensate_answering(&booked, "Kompensation: Teilbuchung fehlgeschlagen")
            .await;
        self.defer_uncertain(uncertain);
        let error = match error {
            CreateError::Calcom(e) => e,
            // Honest: the booking was not refused by the slot, its guard went away.
            CreateError::LockLost(key) => {
                return BookOutcome::Failed {
                    request,
                    failure: Failure::LockLost,
                    detail: format!("lock {key} lost before the create; nothing was booked"),
                };
            }
        };
        match error {
            CalcomError::SlotTaken(_) | CalcomError::Conflict => {
                let refusal = Refusal {
                    reason: "slot_taken",
                    fresh: true,
                };
                self.taken(request, refusal).await
            }
            e => BookOutcome::Failed {
                request,
                failure: Failure::of(&e),
                detail: e.to_string(),
            },
        }
    }

    /// After a failed local save: undo in Cal.com what the engine cannot record; without
    /// it, orphans.
    pub(super) async fn undo_unsaved(
        &self,
        request: Resolved,
        booked: &[CalcomBooking],
    ) -> BookOutcome {
        self.compensate_answering(booked, "Kompensation: lokale Speicherung fehlgeschlagen")
            .await;
        BookOutcome::Failed {
            request,
            failure: Failure::StoreFailed,
            detail: format!(
                "saving the appointment failed after {} Cal.com booking(s)",
                booked.len()
            ),
        }
    }

    /// After a post-sync rejection: with `post_sync_compensation`, what Cal.com made for
    /// this call is undone (the other parts of a compound booking, a booking at the wrong
    /// time), as after any other failure; what it handed back that is not this call's (a
    /// booking of someone else, a cancelled one) is left alone. The caller hears it failed.
    pub(super) async fn undo_rejected(&self, request: Resolved, rejected: Rejected) -> BookOutcome {
        let Rejected { detail, made } = rejected;
        if self.policy().post_sync_compensation {
            self.compensate_answering(&made, "Kompensation: Post-Sync-Validierung abgelehnt")
                .await;
        }
        BookOutcome::Failed {
            request,
            failure: Failure::PostSyncRejected,
            detail,
        }
    }

    /// The saga's compensation: cancel in Cal.com what was booked, if the policy says so,
    /// each cancel with the client's retries (nobody waits for an answer: a salon sync).
    pub(crate) async fn compensate(&self, booked: &[CalcomBooking], reason: &str) {
        self.compensate_tries(booked, reason, false).await;
    }

    /// [`Self::compensate`] while a caller waits for the answer: with an outbox each cancel
    /// is tried once, and one Cal.com refuses for now waits there for the background job
    /// instead of holding the answer through the client's backoff (Retell hangs up after
    /// 32 s). Without an outbox the client's retries are its only chance.
    pub(crate) async fn compensate_answering(&self, booked: &[CalcomBooking], reason: &str) {
        self.compensate_tries(booked, reason, true).await;
    }

    async fn compensate_tries(&self, booked: &[CalcomBooking], reason: &str, answering: bool) {
        if self.policy().saga_compensation {
            *lock(&self.compensations) += booked.len() as u64;
            let retries = self.policy().compensation_retries;
            for b in booked {
                let answer = if answering && retries > 0 {
                    self.calcom.cancel_booking_once(&b.uid, reason).await
                } else {
                    self.calcom.cancel_booking(&b.uid, reason).await
                };
                self.compensated(b.uid.clone(), reason.to_owned(), retries, answer);
            }
        }
    }

    /// One compensating cancel, sent with the client's retries (see [`Self::compensated`]).
    pub(crate) async fn compensate_one(&self, uid: String, reason: String, left: u32) {
        let answer = self.calcom.cancel_booking(&uid, &reason).await;
        self.compensated(uid, reason, left, answer);
    }

    /// What Cal.com answered a compensating cancel. Refused for now (rate limit, server
    /// error, no answer) it goes to the outbox the background job retries, while tries are
    /// `left`; a 4xx other than 429 (already cancelled, gone) is final.
    pub(super) fn compensated(
        &self,
        uid: String,
        reason: String,
        left: u32,
        answer: Result<CalcomBooking, CalcomError>,
    ) {
        match answer {
            Ok(_) => {
                lock(&self.compensated).insert(uid);
            }
            Err(e) if left > 0 && e.is_transient() => {
                tracing::warn!(%uid, error = ?e, "compensation refused for now; retried later");
                lock(&self.cancel_outbox).push((uid, reason, left - 1));
            }
            // Cancelled already: perhaps moved by staff in the app (Cal.com cancels the old
            // booking and makes a new one carrying its metadata) while this cancel waited.
            Err(CalcomError::BadRequest(_)) if self.policy().follow_staff_changes => {
                tracing::warn!(%uid, "compensation found the booking cancelled; following a move");
                lock(&self.moved_outbox).push((uid, reason, left));
            }
            Err(e) => tracing::warn!(%uid, error = ?e, "compensation failed"),
        }
    }

    /// A booking the engine meant to cancel was found cancelled already: if staff moved it
    /// in the Cal.com app, the booking it was moved to (a caller's failed or cancelled
    /// booking all the same: nobody holds it) is cancelled in its place, unless an
    /// appointment holds it (checked under its stylist's lock). Without this, a saga's part
    /// or a cancelled appointment's part that staff moved while its cancel was on its way
    /// stayed in Cal.com (`partial_compound`, `orphan_calcom`: explore seed 1103058). While
    /// Cal.com cannot be asked, tried again at the next round while tries are `left`.
    pub(crate) async fn follow_undone_move(&self, uid: String, reason: String, left: u32) {
        let why = match self.calcom.get_booking(&uid).await {
            Ok(old) => {
                let Some(to) = old.rescheduled_to else {
                    return;
                };
                match self.calcom.get_booking(&to).await {
                    // Moved again, or cancelled since: the same question of the next one.
                    Ok(new) if new.status != "accepted" => {
                        if new.rescheduled_to.is_some() {
                            lock(&self.moved_outbox).push((new.uid, reason, left));
                        }
                        return;
                    }
                    Ok(new) => match self.lock_if_unsaved(&new).await {
                        Ok(Some(guard)) => {
                            tracing::info!(old = %uid, new = %new.uid, "cancelling the booking staff moved one being undone to");
                            *lock(&self.compensations) += 1;
                            self.compensate_one(new.uid, reason, left).await;
                            self.release(guard).await;
                            return;
                        }
                        Ok(None) => return,
                        Err(e) => e,
                    },
                    Err(e) => e.to_string(),
                }
            }
            Err(e) => e.to_string(),
        };
        if left > 0 {
            tracing::warn!(%uid, error = %why, "a moved booking cannot be followed yet");
            lock(&self.moved_outbox).push((uid, reason, left - 1));
        } else {
            tracing::warn!(%uid, error = %why, "a moved booking was given up");
        }
    }

    /// Own bookings of a create nobody holds (its answer lost) that staff moved in the
    /// Cal.com app before the engine found them: the bookings they were moved to are
    /// followed as a cancel's are ([`Self::follow_undone_move`]: cancelled unless an
    /// appointment holds them). Looked for at the old start only, a moved part stayed in
    /// Cal.com, half a service nobody holds (`partial_compound`: seed 63250 of
    /// `compensation-moved-by-staff`).
    fn follow_moved(&self, moved: &[CalcomBooking], reason: &str, left: u32) {
        if !self.policy().follow_staff_changes {
            return;
        }
        let mut outbox = lock(&self.moved_outbox);
        for m in moved {
            if !outbox.iter().any(|(uid, _, _)| *uid == m.uid) {
                outbox.push((m.uid.clone(), reason.to_owned(), left));
            }
        }
    }

    /// Hands the uncertain ones among `creates` (answer lost, Cal.com not asked yet) of a
    /// booking that failed to the background job, which cancels what Cal.com made once it
    /// answers: nobody will hold those bookings.
    pub(crate) fn defer_uncertain(&self, creates: Vec<NewBooking>) {
        if !self.policy().saga_compensation {
            return;
        }
        let uncertain = lock(&self.uncertain_creates);
        let mut outbox = lock(&self.uncertain_outbox);
        for b in creates {
            if uncertain.contains(&CreateKey::of(&b)) {
                outbox.push((b, self.policy().compensation_retries));
            }
        }
    }

    /// One uncertain create of a failed booking: taken off the books (a later attempt that
    /// adopted it took it off first, and then there is nothing to do), looked up, and
    /// cancelled if Cal.com made it and no appointment holds it (a later attempt of the same
    /// call may have made one just like it since: checked under the stylist's lock); while
    /// Cal.com still cannot be asked, kept for the next round while tries are `left`.
    pub(crate) async fn settle_uncertain(&self, b: NewBooking, left: u32) {
        let key = CreateKey::of(&b);
        if !lock(&self.uncertain_creates).remove(&key) {
            return;
        }
        let why = match self.own_bookings_and_moved(&b).await {
            Ok((own, moved)) => {
                self.follow_moved(&moved, "Kompensation: Buchung ohne Antwort", left);
                let Some(made) = own.into_iter().next() else {
                    return;
                };
                match self.lock_if_unsaved(&made).await {
                    Ok(Some(guard)) => {
                        *lock(&self.compensations) += 1;
                        let reason = "Kompensation: Buchung ohne Antwort".to_owned();
                        self.compensate_one(made.uid, reason, left).await;
                        self.release(guard).await;
                        return;
                    }
                    Ok(None) => return,
                    Err(e) => e,
                }
            }
            Err(e) => e.to_string(),
        };
        if left > 0 {
            tracing::warn!(error = %why, "an uncertain create cannot be settled yet");
            lock(&self.uncertain_creates).insert(key);
            lock(&self.uncertain_outbox).push((b, left - 1));
        } else {
            tracing::warn!(error = %why, "an uncertain create was given up");
        }
    }

    /// Watches the key of a create whose answer was lost (see [`Self::settle_late_creates`]):
    /// looked at once twice the client's total timeout has passed, Cal.com's slowest answer
    /// to a request the engine still waited for. A key watched already is watched until the
    /// later of the two.
    pub(crate) fn watch_late_create(&self, b: &NewBooking) {
        if !(self.policy().settle_late_creates && self.policy().saga_compensation) {
            return;
        }
        let grace = self.policy().timeouts.total.saturating_mul(2);
        let not_before = self.now() + TimeDelta::from_std(grace).unwrap_or(TimeDelta::MAX);
        let key = CreateKey::of(b);
        let mut late = lock(&self.late_creates);
        match late.iter_mut().find(|(w, _, _)| CreateKey::of(w) == key) {
            Some((_, at, _)) => *at = (*at).max(not_before),
            None => late.push((b.clone(), not_before, self.policy().compensation_retries)),
        }
    }

    /// The background job's round over watched creates that are due: every own booking of
    /// the key that no appointment holds (checked under the stylist's lock, so a booking
    /// being saved right now is waited for) is cancelled. A create Cal.com made after the
    /// engine looked, found nothing and created again would otherwise stay with no local
    /// appointment (`orphan_calcom`), held by a caller who was told otherwise. While Cal.com
    /// cannot be asked the key stays watched, while tries are left.
    pub(crate) async fn settle_late_creates(&self) {
        let now = self.now();
        let due: Vec<_> = {
            let mut late = lock(&self.late_creates);
            let (due, later) = std::mem::take(&mut *late)
                .into_iter()
                .partition(|(_, at, _)| *at <= now);
            *late = later;
            due
        };
        for (b, at, left) in due {
            let why = match self.own_bookings_and_moved(&b).await {
                Ok((made, moved)) => {
                    self.follow_moved(&moved, "Kompensation: verspätete Buchung", left);
                    let mut failed = None;
                    for made in made {
                        match self.lock_if_unsaved(&made).await {
                            Ok(Some(guard)) => {
                                *lock(&self.compensations) += 1;
                                let reason = "Kompensation: verspätete Buchung".to_owned();
                                self.compensate_one(made.uid, reason, left).await;
                                self.release(guard).await;
                            }
                            Ok(None) => {}
                            Err(e) => failed = Some(e),
                        }
                    }
                    match failed {
                        None => continue,
                        Some(e) => e,
                    }
                }
                Err(e) => e.to_string(),
            };
            if left > 0 {
                tracing::warn!(error = %why, "a late create cannot be settled yet");
                lock(&self.late_creates).push((b, at, left - 1));
            } else {
                tracing::warn!(error = %why, "a late create was given up");
            }
        }
    }
}

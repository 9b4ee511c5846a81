//! Layer: the create in Cal.com, segment by segment or all at once, lost answers reconciled.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::{PlacedSegment, Resolved, SlotRequest};
use crate::calcom::{CalcomBooking, CalcomError, NewBooking};
use crate::engine::{Engine, Lease, lock};
use crate::policy::SegmentMode;

/// Why a create failed: Cal.com refused (or did not answer), or the booking's locks were
/// lost before it was sent (the fence: nothing was sent unguarded).
pub(super) enum CreateError {
    Calcom(CalcomError),
    LockLost(String),
}

/// Whether `made`, Cal.com's answer to the create of `b`, is the booking `b` asked for: at
/// its start and carrying its metadata (its call or appointment id).
pub(crate) fn answers(b: &NewBooking, made: &CalcomBooking) -> bool {
    made.start == b.start
        && b.metadata
            .iter()
            .all(|(k, v)| made.metadata.get(k).and_then(|m| m.as_str()) == Some(v.as_str()))
}

/// A create that failed: the first refusal, what Cal.com made before or beside it, and the
/// creates whose answer was lost (Cal.com may have made them).
pub(super) struct FailedCreate {
    pub(super) error: CreateError,
    pub(super) booked: Vec<CalcomBooking>,
    pub(super) uncertain: Vec<NewBooking>,
}

/// What became of a compensating cancel when its booking was to be kept.
enum Withdrawn {
    /// It was pending and is withdrawn: the booking is kept.
    Kept(CalcomBooking),
    /// None was pending.
    NonePending(CalcomBooking),
    /// It was on its way and Cal.com took it: the booking is gone.
    Cancelled,
}

impl Withdrawn {
    /// The booking, unless it was cancelled.
    fn kept(self) -> Option<CalcomBooking> {
        match self {
            Withdrawn::Kept(made) | Withdrawn::NonePending(made) => Some(made),
            Withdrawn::Cancelled => None,
        }
    }
}

/// What makes two creates the same booking: event type, start and the engine's metadata
/// (call or appointment id, service).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct CreateKey(u64, DateTime<Utc>, Vec<(String, String)>);

impl CreateKey {
    pub(crate) fn of(b: &NewBooking) -> Self {
        let meta = b
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        CreateKey(b.event_type_id, b.start, meta)
    }
}

impl Engine {
    /// The create layer: every staffed segment of `request` booked in Cal.com for this
    /// call, one after the other (stopping at the first failure) or all at once, as the
    /// policy says; the bookings in segment order, or what failed. Each create is fenced
    /// ([`Engine::fence`]): sent only while `lease` still holds the booking's locks.
    pub(super) async fn create_segments(
        &self,
        req: &SlotRequest,
        request: &Resolved,
        lease: &Lease,
    ) -> Result<Vec<CalcomBooking>, FailedCreate> {
        let name = req.customer();
        let metadata = BTreeMap::from([
            ("call_id".to_string(), req.call_id.clone()),
            ("service".to_string(), request.service.name.clone()),
        ]);
        let new_booking = |event_type_id: u64, start: DateTime<Utc>| {
            self.segment_booking(event_type_id, start, &name, metadata.clone())
        };
        let staffed: Vec<(PlacedSegment, u64)> =
            request.staffed().map(|(s, id)| (s.clone(), id)).collect();
        let mut lost = None;
        let results: Vec<Result<CalcomBooking, CalcomError>> = match self.policy().segments {
            SegmentMode::Sequential => {
                let mut results = Vec::new();
                for (seg, id) in &staffed {
                    if let Err(key) = self.fence(lease).await {
                        lost = Some(key);
                        break;
                    }
                    let r = self.create(&new_booking(*id, seg.start)).await;
                    let failed = r.is_err();
                    results.push(r);
                    if failed {
                        break;
                    }
                }
                results
            }
            SegmentMode::Parallel => {
                if let Err(key) = self.fence(lease).await {
                    return Err(FailedCreate {
                        error: CreateError::LockLost(key),
                        booked: Vec::new(),
                        uncertain: Vec::new(),
                    });
                }
                let calls = staffed.iter().map(|(seg, id)| {
                    let b = new_booking(*id, seg.start);
                    async move { self.create(&b).await }
                });
                futures_util::future::join_all(calls).await
            }
        };
        let uncertain: Vec<NewBooking> = staffed
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.as_ref().is_err_and(CalcomError::is_indeterminate))
            .map(|((seg, id), _)| new_booking(*id, seg.start))
            .collect();
        let validate = self.policy().post_sync_validation;
        let failed = results.iter().any(Result::is_err) || lost.is_some();
        let mut booked = Vec::new();
        let mut errors = Vec::new();
        for ((seg, id), r) in staffed.iter().zip(results) {
            match r {
                // A failed saga undoes what it made. Cal.com's idempotency can answer a
                // create with another booking of the event type (a caller's, staff's):
                // not made by this create, so not this saga's to undo (post-sync
                // validation judges the answers of a saga that succeeded).
                Ok(b) if failed && validate && !answers(&new_booking(*id, seg.start), &b) => {
                    tracing::warn!(uid = %b.uid, "Cal.com answered a create with a booking it did not make for it: not undone");
                }
                Ok(b) => booked.push(b),
                Err(e) => errors.push(e),
            }
        }
        match (errors.into_iter().next(), lost) {
            (Some(error), _) => Err(FailedCreate {
                error: CreateError::Calcom(error),
                booked,
                uncertain,
            }),
            (_, Some(key)) => Err(FailedCreate {
                error: CreateError::LockLost(key),
                booked,
                uncertain,
            }),
            _ => Ok(booked),
        }
    }

    /// The Cal.com booking of one staffed segment for `customer`, tagged with `metadata`.
    pub(crate) fn segment_booking(
        &self,
        event_type_id: u64,
        start: DateTime<Utc>,
        customer: &str,
        metadata: BTreeMap<String, String>,
    ) -> NewBooking {
        NewBooking {
            event_type_id,
            start,
            attendee_name: customer.to_owned(),
            attendee_email: Some("noreply@placeholder.local".into()),
            attendee_phone: None,
            time_zone: self.catalog().time_zone.name().into(),
            language: "de".into(),
            metadata,
        }
    }

    /// Creates a booking in Cal.com. An answer lost on the way back (timeout, dropped
    /// connection) may hide a booking Cal.com made: with `reconcile_lost_creates` the engine
    /// looks for it (its own metadata at that start) and adopts it, and creates again only
    /// when it is not there, instead of telling the caller it failed while Cal.com booked, or
    /// booking twice by retrying blindly. When Cal.com cannot be asked either, the create
    /// stays uncertain: a later create of the same booking (Retell's retry, the caller
    /// again) asks first and never creates blindly, or it would be refused by its own lost
    /// booking and tell the caller "vergeben" while holding it. Refused because the slot is
    /// taken, it may be taken by its own earlier booking whose compensating cancel Cal.com
    /// has not taken yet (a failed attempt undone, then tried again): that one is reclaimed.
    /// Whatever it adopts, a cancel of it still pending is withdrawn first (`withdraw_cancel`).
    pub(crate) async fn create(&self, b: &NewBooking) -> Result<CalcomBooking, CalcomError> {
        // Recorded in flight until its answer comes back. One lost may still land, and one
        // cut off by a crash (this future dropped) may too: both stay, abandoned.
        let flight = self.in_flight.begin(self.store_clock());
        let made = self.create_recorded(b).await;
        if !made.as_ref().is_err_and(CalcomError::is_indeterminate) {
            flight.answered();
        }
        made
    }

    async fn create_recorded(&self, b: &NewBooking) -> Result<CalcomBooking, CalcomError> {
        if !self.policy().reconcile_lost_creates {
            return self.calcom.create_booking(b).await;
        }
        let key = CreateKey::of(b);
        if lock(&self.uncertain_creates).contains(&key) {
            let found = self.find_own(b).await?;
            lock(&self.uncertain_creates).remove(&key);
            if let Some(found) = found
                && let Some(made) = self.adopt(found).await
            {
                return Ok(made);
            }
        }
        let compensating =
            !lock(&self.cancel_outbox).is_empty() || lock(&self.cancelling).is_some();
        let first = self.send_create(b).await;
        if compensating
            && matches!(
                first,
                Err(CalcomError::SlotTaken(_)
                    | CalcomError::Conflict
                    | CalcomError::ReservationConflict(_))
            )
        {
            // The slot may be taken by its own booking from an attempt undone since.
            return match self.find_own(b).await {
                Ok(Some(made)) => match self.withdraw_cancel(made).await {
                    Withdrawn::Kept(made) => {
                        *lock(&self.reconciled) += 1;
                        Ok(made)
                    }
                    // Its own booking stands and nobody undoes it: the refusal stands.
                    Withdrawn::NonePending(_) => first,
                    Withdrawn::Cancelled => self.send_create(b).await,
                },
                // Cancelled while this create was on its way, or someone else's.
                Ok(None) => self.send_create(b).await,
                // Cal.com cannot be asked: whose booking takes the slot is not known yet,
                // so the refusal is not final either (a sync tries again later).
                Err(e) => Err(e),
            };
        }
        if !first.as_ref().is_err_and(CalcomError::is_indeterminate) {
            return first;
        }
        match self.find_own(b).await {
            Ok(Some(found)) => match self.adopt(found).await {
                Some(made) => Ok(made),
                None => self.send_create(b).await,
            },
            Ok(None) => self.send_create(b).await,
            // Cal.com still out of reach: the booking may or may not exist.
            Err(_) => {
                lock(&self.uncertain_creates).insert(key);
                first
            }
        }
    }

    /// One create sent to Cal.com. Its answer lost, Cal.com may make the booking later
    /// than the engine can look for it (a request it was slow to process): the key is
    /// watched until Cal.com's slowest answer has passed ([`Engine::settle_late_creates`]).
    async fn send_create(&self, b: &NewBooking) -> Result<CalcomBooking, CalcomError> {
        let answer = self.calcom.create_booking(b).await;
        if answer.as_ref().is_err_and(CalcomError::is_indeterminate) {
            self.watch_late_create(b);
        }
        answer
    }

    /// An own booking found in Cal.com, kept (counted as reconciled) with any compensating
    /// cancel of it withdrawn; `None` when that cancel already landed: it is gone.
    async fn adopt(&self, found: CalcomBooking) -> Option<CalcomBooking> {
        let made = self.withdraw_cancel(found).await.kept()?;
        *lock(&self.reconciled) += 1;
        Some(made)
    }

    /// An own booking found in Cal.com, about to be kept: a compensating cancel of it that
    /// still waits in the outbox is withdrawn (under the outbox's lock, so the background
    /// job cannot send it now); one the job is sending right now is awaited: refused again,
    /// it is back in the outbox and withdrawn; taken, the booking is gone.
    async fn withdraw_cancel(&self, made: CalcomBooking) -> Withdrawn {
        let mut waited = false;
        loop {
            {
                let mut outbox = lock(&self.cancel_outbox);
                if let Some(at) = outbox.iter().position(|(uid, _, _)| *uid == made.uid) {
                    outbox.remove(at);
                    return Withdrawn::Kept(made);
                }
            }
            if lock(&self.cancelling).as_deref() != Some(made.uid.as_str()) {
                break;
            }
            waited = true;
            simkit::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        // Cancelled already (a listing may still show it): gone.
        if waited || lock(&self.compensated).contains(&made.uid) {
            Withdrawn::Cancelled
        } else {
            Withdrawn::NonePending(made)
        }
    }

    /// The booking `b` describes, if Cal.com made it (its own metadata at that start).
    pub(super) async fn find_own(
        &self,
        b: &NewBooking,
    ) -> Result<Option<CalcomBooking>, CalcomError> {
        Ok(self.own_bookings(b).await?.into_iter().next())
    }

    /// Every booking Cal.com holds that `b` describes (its own metadata at that start): more
    /// than one when a create landed after the engine looked for it and created again.
    pub(super) async fn own_bookings(
        &self,
        b: &NewBooking,
    ) -> Result<Vec<CalcomBooking>, CalcomError> {
        Ok(self.own_bookings_and_moved(b).await?.0)
    }

    /// [`Self::own_bookings`], and (from the same listing) those of `b`'s bookings that staff
    /// moved in the Cal.com app: cancelled there, with the booking they were moved to (at
    /// another start, carrying their metadata) named.
    pub(super) async fn own_bookings_and_moved(
        &self,
        b: &NewBooking,
    ) -> Result<(Vec<CalcomBooking>, Vec<CalcomBooking>), CalcomError> {
        let ours = |x: &CalcomBooking| {
            x.start == b.start
                && b.metadata
                    .iter()
                    .all(|(k, v)| x.metadata.get(k).and_then(|m| m.as_str()) == Some(v.as_str()))
        };
        let found = self
            .calcom
            .list_bookings(b.event_type_id, b.start, b.start + TimeDelta::days(1))
            .await?;
        let (own, gone): (Vec<_>, Vec<_>) = found
            .into_iter()
            .filter(ours)
            .partition(|x| x.status == "accepted");
        let moved = gone
            .into_iter()
            .filter(|x| x.rescheduled_to.is_some())
            .collect();
        Ok((own, moved))
    }
}

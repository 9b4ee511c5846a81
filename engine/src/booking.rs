//! The booking path: `check_availability` and `start_booking`, layer by layer as the
//! [`Policy`](crate::policy::Policy) switches them, for simple and compound services.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};

use crate::cache::Slots;

use crate::calcom::{CalcomBooking, CalcomError, NewBooking, SlotReservation};
use crate::catalog::Service;
use crate::dates;
use crate::engine::{Engine, lock};
use crate::lock::Span;
use crate::policy::{ConflictCheck, LockMode, SegmentMode};
use crate::store::{Appointment, AppointmentStatus, LocalReservation, Phase, SyncStatus};

/// A caller's request for a slot, as the function-call arguments give it.
#[derive(Debug, Clone, Default)]
pub struct SlotRequest {
    pub call_id: String,
    pub service: Option<String>,
    /// `2025-11-28T10:00` (start_booking) …
    pub datetime: Option<String>,
    /// … or a date and a time (check_availability): `nächster Freitag`, `10:00`.
    pub date: Option<String>,
    pub time: Option<String>,
    pub customer_name: Option<String>,
}

/// One segment of a requested service, placed in time.
#[derive(Debug, Clone)]
pub struct PlacedSegment {
    pub name: String,
    pub event_type_id: Option<u64>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A request resolved against the catalogue and the clock.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub service: Service,
    pub local: NaiveDateTime,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub segments: Vec<PlacedSegment>,
}

impl Resolved {
    /// The phases of this request, the staffed ones carrying the Cal.com bookings in `booked`
    /// (one per staffed segment, in order; missing ones stay unbooked).
    pub fn phases(&self, booked: &[CalcomBooking]) -> Vec<Phase> {
        let mut booked = booked.iter();
        self.segments
            .iter()
            .map(|seg| {
                let b = seg.event_type_id.and_then(|_| booked.next());
                Phase {
                    segment: seg.name.clone(),
                    start: seg.start,
                    end: seg.end,
                    calcom_uid: b.map(|b| b.uid.clone()),
                    calcom_id: b.map(|b| b.id),
                    host_id: b.and_then(|b| b.host_id),
                }
            })
            .collect()
    }

    pub fn staffed(&self) -> impl Iterator<Item = (&PlacedSegment, u64)> {
        self.segments
            .iter()
            .filter_map(|s| s.event_type_id.map(|id| (s, id)))
    }
}

/// Why a request failed without telling anything about the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    CalcomUnavailable,
    CalcomTimeout,
    RateLimited,
    CalcomRejected,
    LockTimeout,
    PostSyncRejected,
    /// The local save failed after Cal.com booked.
    StoreFailed,
}

impl Failure {
    pub fn code(self) -> &'static str {
        match self {
            Failure::CalcomUnavailable => "calcom_unavailable",
            Failure::CalcomTimeout => "calcom_timeout",
            Failure::RateLimited => "rate_limited",
            Failure::CalcomRejected => "calcom_rejected",
            Failure::LockTimeout => "lock_timeout",
            Failure::PostSyncRejected => "post_sync_rejected",
            Failure::StoreFailed => "store_failed",
        }
    }

    fn of(e: &CalcomError) -> Self {
        match e {
            CalcomError::RateLimited { .. } => Failure::RateLimited,
            CalcomError::Timeout | CalcomError::ConnectionLost(_) => Failure::CalcomTimeout,
            CalcomError::Server(_) | CalcomError::Unreachable(_) => Failure::CalcomUnavailable,
            _ => Failure::CalcomRejected,
        }
    }
}

#[derive(Debug, Clone)]
pub enum CheckOutcome {
    Available {
        request: Resolved,
        reservation: Option<String>,
    },
    Unavailable {
        request: Resolved,
        alternatives: Vec<NaiveDateTime>,
    },
    Invalid(String),
    Failed {
        failure: Failure,
        detail: String,
    },
}

#[derive(Debug, Clone)]
pub enum BookOutcome {
    Booked {
        request: Resolved,
        appointment: Appointment,
        repeated: bool,
    },
    /// The slot is (or became) taken; `reason` says which layer saw it.
    Taken {
        request: Resolved,
        reason: &'static str,
        alternatives: Vec<NaiveDateTime>,
    },
    Invalid(String),
    Failed {
        request: Resolved,
        failure: Failure,
        detail: String,
    },
}

/// The segments of `service` placed from `start` on.
pub fn place(service: &Service, start: DateTime<Utc>) -> Vec<PlacedSegment> {
    service
        .timeline()
        .map(|(offset, seg)| {
            let seg_start = start + TimeDelta::minutes(offset.into());
            PlacedSegment {
                name: seg.name.clone(),
                event_type_id: seg.event_type_id,
                start: seg_start,
                end: seg_start + TimeDelta::minutes(seg.minutes.into()),
            }
        })
        .collect()
}

/// What became of a caller's `cancel_appointment`.
pub enum CancelOutcome {
    Cancelled(Appointment),
    /// The call holds no appointment.
    NotFound,
    /// Cal.com refused a part (without an outbox the appointment stays).
    Failed(CalcomError),
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
    /// Resolves the service and the time, or says in German what is wrong.
    pub fn resolve(&self, req: &SlotRequest) -> Result<Resolved, String> {
        let name = req.service.as_deref().unwrap_or_default();
        let service = self
            .catalog()
            .service(name)
            .ok_or_else(|| format!("Die Dienstleistung \"{name}\" bieten wir leider nicht an."))?
            .clone();
        let local = dates::resolve_datetime(req.datetime.as_deref(), req.date.as_deref(), req.time.as_deref(), self.today())
            .ok_or("Ich konnte Datum und Uhrzeit leider nicht verstehen. Können Sie sie bitte wiederholen?")?;
        // Bounded before any arithmetic: a year like +262142 overflows chrono.
        let horizon = self.today()
            + TimeDelta::from_std(self.policy().booking_horizon).unwrap_or(TimeDelta::days(365));
        if local.date() > horizon {
            return Err(format!(
                "So weit im Voraus kann ich leider nicht buchen: Termine gibt es bis zum {}.",
                horizon.format("%d.%m.%Y")
            ));
        }
        let start = self
            .utc(local)
            .ok_or("Diese Uhrzeit gibt es an dem Tag nicht (Zeitumstellung).")?;
        if start < self.now() {
            return Err("Dieser Zeitpunkt liegt leider in der Vergangenheit.".into());
        }
        let segments = place(&service, start);
        let end = segments.last().map_or(start, |s| s.end);
        Ok(Resolved {
            service,
            local,
            start,
            end,
            segments,
        })
    }

    /// Whether every staffed segment's start is a listed Cal.com slot of its event type.
    async fn segments_listed(&self, r: &Resolved, fresh: bool) -> Result<bool, CalcomError> {
        for (seg, event_type_id) in r.staffed() {
            let slots = self
                .week_slots(event_type_id, self.local(seg.start).date(), fresh)
                .await?;
            if slots.binary_search(&seg.start).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Up to three free starts the same day, nearest to the requested one, at which every
    /// staffed segment is listed (a compound service's later segments too).
    async fn alternatives(&self, r: &Resolved, fresh: bool) -> Vec<NaiveDateTime> {
        let Some(event_type_id) = r.service.lead_event_type() else {
            return Vec::new();
        };
        let Ok(slots) = self.week_slots(event_type_id, r.local.date(), fresh).await else {
            return Vec::new();
        };
        let mut same_day: Vec<DateTime<Utc>> = slots
            .iter()
            .copied()
            .filter(|s| *s != r.start && self.local(*s).date() == r.local.date())
            .collect();
        same_day.sort_by_key(|s| (*s - r.start).num_seconds().abs());
        // The later segments' listings for the day, each read once and all at once, through
        // the cache when there is one: the check read them moments ago, and the lead's
        // listing (fresh when asked) already decides which starts are free.
        let later: BTreeSet<(u64, NaiveDate)> = same_day
            .iter()
            .flat_map(|start| place(&r.service, *start).into_iter().skip(1))
            .filter_map(|seg| {
                seg.event_type_id
                    .map(|id| (id, self.local(seg.start).date()))
            })
            .collect();
        let reads = later.iter().map(|&(id, day)| async move {
            ((id, day), self.week_slots(id, day, false).await.ok())
        });
        let listings: BTreeMap<(u64, NaiveDate), Option<Slots>> =
            futures_util::future::join_all(reads)
                .await
                .into_iter()
                .collect();
        let listed = |start: DateTime<Utc>| {
            place(&r.service, start).iter().skip(1).all(|seg| {
                seg.event_type_id.is_none_or(|id| {
                    listings
                        .get(&(id, self.local(seg.start).date()))
                        .and_then(Option::as_ref)
                        .is_some_and(|slots| slots.binary_search(&seg.start).is_ok())
                })
            })
        };
        let mut out: Vec<DateTime<Utc>> = same_day
            .into_iter()
            .filter(|s| listed(*s))
            .take(3)
            .collect();
        out.sort_unstable();
        out.into_iter().map(|s| self.local(s)).collect()
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
        let first = self.calcom.create_booking(b).await;
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
                    Withdrawn::Cancelled => self.calcom.create_booking(b).await,
                },
                // Cancelled while this create was on its way, or someone else's.
                Ok(None) => self.calcom.create_booking(b).await,
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
                None => self.calcom.create_booking(b).await,
            },
            Ok(None) => self.calcom.create_booking(b).await,
            // Cal.com still out of reach: the booking may or may not exist.
            Err(_) => {
                lock(&self.uncertain_creates).insert(key);
                first
            }
        }
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
        let why = match self.find_own(&b).await {
            Ok(Some(made)) => match self.lock_if_unsaved(&made).await {
                Ok(Some(guard)) => {
                    *lock(&self.compensations) += 1;
                    let reason = "Kompensation: Buchung ohne Antwort".to_owned();
                    self.compensate_one(made.uid, reason, left).await;
                    self.release(guard).await;
                    return;
                }
                Ok(None) => return,
                Err(e) => e,
            },
            Ok(None) => return,
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

    /// The lock every booking takes on stylist `host` over `span` (`StaffInterval`).
    pub(crate) fn staff_lock(&self, host: u64, span: Span) -> (String, Option<Span>) {
        let company = self.catalog().company_id;
        (format!("booking_lock:{company}:staff:{host}"), Some(span))
    }

    /// The booking `b` describes, if Cal.com made it (its own metadata at that start).
    async fn find_own(&self, b: &NewBooking) -> Result<Option<CalcomBooking>, CalcomError> {
        let ours = |x: &CalcomBooking| {
            x.start == b.start
                && x.status == "accepted"
                && b.metadata
                    .iter()
                    .all(|(k, v)| x.metadata.get(k).and_then(|m| m.as_str()) == Some(v.as_str()))
        };
        let found = self
            .calcom
            .list_bookings(b.event_type_id, b.start, b.start + TimeDelta::days(1))
            .await?;
        Ok(found.into_iter().find(ours))
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
    fn compensated(
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
            Err(e) => tracing::warn!(%uid, error = ?e, "compensation failed"),
        }
    }

    /// `cancel_appointment`: cancels this call's appointment, locally and every part in
    /// Cal.com. With an outbox the caller's word is final: the appointment is cancelled
    /// locally first and each part tried once; one Cal.com refuses for now waits in the
    /// outbox, as a compensation does (cancelling part by part with the client's retries
    /// gave up halfway under 429s and left the appointment standing on a part already
    /// gone). Without one, the first refusal keeps the appointment and says so.
    pub async fn cancel_appointment(&self, call_id: &str) -> CancelOutcome {
        let found = self
            .appointments
            .appointments()
            .into_iter()
            .find(|a| a.is_active() && a.call_id.as_deref() == Some(call_id));
        let Some(appointment) = found else {
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
            .phases
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

    /// Marks `appointment` cancelled and drops the cached weeks its phases were in.
    fn cancel_locally(&self, appointment: &Appointment) {
        self.appointments.cancel(appointment.id);
        for p in &appointment.phases {
            if let Some(et) = self
                .catalog()
                .service_by_event_type_in(appointment.service_id, &p.segment)
            {
                self.invalidate(et, p.start);
            }
        }
    }

    /// `check_availability`: is the slot free, and (as the policy says) hold it.
    pub async fn check_availability(&self, req: &SlotRequest) -> CheckOutcome {
        let request = match self.resolve(req) {
            Ok(r) => r,
            Err(message) => return CheckOutcome::Invalid(message),
        };
        // A caller who already holds this slot in Cal.com (a repeated check, Retell's retry)
        // would find it hidden by its own reservation: the hold itself says it is free.
        let own_calcom_hold = self.holds_in_calcom(&req.call_id, request.start);
        let listed = if own_calcom_hold {
            true
        } else {
            match self.segments_listed(&request, false).await {
                Ok(listed) => listed,
                Err(e) => {
                    return CheckOutcome::Failed {
                        failure: Failure::of(&e),
                        detail: e.to_string(),
                    };
                }
            }
        };
        let now = self.now();
        let own_hold = match self.policy().local_reservation_ttl {
            Some(_) => {
                self.database().await;
                self.reservations
                    .reservation_of(&req.call_id, request.start, now)
            }
            None => None,
        };
        // With local reservations, the stylist this caller's hold will count on.
        let stylist = match (self.policy().local_reservation_ttl, &own_hold) {
            (None, _) => None,
            (Some(_), Some(own)) => Some(own.stylist),
            (Some(_), None) => match self
                .free_stylists(&req.call_id, &request, now, true)
                .first()
            {
                Some(s) => Some(*s),
                None => {
                    let alternatives = self.alternatives(&request, false).await;
                    return CheckOutcome::Unavailable {
                        request,
                        alternatives,
                    };
                }
            },
        };
        if !listed {
            let alternatives = self.alternatives(&request, false).await;
            return CheckOutcome::Unavailable {
                request,
                alternatives,
            };
        }
        if let Some(minutes) = self
            .policy()
            .calcom_reservation_minutes
            .filter(|_| !own_calcom_hold)
        {
            match self.hold_in_calcom(&req.call_id, &request, minutes).await {
                Ok(()) => {}
                Err(CalcomError::ReservationConflict(_)) => {
                    let alternatives = self.alternatives(&request, false).await;
                    return CheckOutcome::Unavailable {
                        request,
                        alternatives,
                    };
                }
                // Holding is best effort: the caller was still told the truth.
                Err(e) => tracing::warn!(error = %e, "Cal.com reservation failed"),
            }
        }
        let reservation = match (self.policy().local_reservation_ttl, own_hold, stylist) {
            (Some(_), Some(own), _) => Some(own.token),
            (Some(ttl), None, Some(stylist)) => {
                let token = self.token();
                self.database().await;
                self.reservations.hold(LocalReservation {
                    token: token.clone(),
                    call_id: req.call_id.clone(),
                    service_id: request.service.id,
                    stylist,
                    start: request.start,
                    end: request.end,
                    until: now
                        .checked_add_signed(TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX))
                        .unwrap_or(DateTime::<Utc>::MAX_UTC),
                    state: "held",
                });
                Some(token)
            }
            _ => None,
        };
        CheckOutcome::Available {
            request,
            reservation,
        }
    }

    /// The service's stylists whom nothing the engine knows occupies over `r`: no active
    /// local appointment overlaps for them and, with `holds`, no other caller's held
    /// reservation counts on them. An appointment not yet synced (its host unknown) or a
    /// hold whose stylist was taken since takes the first of its service's staff still
    /// free. A caller's own holds never count against it.
    pub(crate) fn free_stylists(
        &self,
        call_id: &str,
        r: &Resolved,
        now: DateTime<Utc>,
        holds: bool,
    ) -> Vec<u64> {
        let mut busy = BTreeSet::new();
        let mut unplaced: Vec<(u64, Option<u64>)> = Vec::new();
        for a in self.appointments.overlapping(r.start, r.end) {
            let hosts: Vec<u64> = a
                .phases
                .iter()
                .filter(|p| p.start < r.end && r.start < p.end)
                .filter_map(|p| p.host_id)
                .collect();
            if hosts.is_empty() {
                unplaced.push((a.service_id, None));
            }
            busy.extend(hosts);
        }
        if holds {
            for h in self
                .reservations
                .held_by_others(call_id, r.start, r.end, now)
            {
                unplaced.push((h.service_id, Some(h.stylist)));
            }
        }
        for (service_id, preferred) in unplaced {
            let staff = self
                .catalog()
                .services
                .iter()
                .find(|s| s.id == service_id)
                .map_or(&[][..], |s| &s.staff[..]);
            let claim = preferred
                .filter(|p| !busy.contains(p))
                .or_else(|| staff.iter().copied().find(|s| !busy.contains(s)));
            busy.extend(claim);
        }
        r.service
            .staff
            .iter()
            .copied()
            .filter(|s| !busy.contains(s))
            .collect()
    }

    /// Whether this call holds `start` in Cal.com: an expired hold holds nothing (the
    /// slot is Cal.com's to list again, maybe booked since) and is forgotten.
    fn holds_in_calcom(&self, call_id: &str, start: DateTime<Utc>) -> bool {
        let key = (call_id.to_owned(), start);
        let now = self.now();
        let mut holds = lock(&self.calcom_holds);
        match holds.get(&key) {
            Some(held) if held.iter().all(|h| h.until > now) => true,
            Some(_) => {
                holds.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Reserves every staffed segment in Cal.com for `minutes`; all or none.
    async fn hold_in_calcom(
        &self,
        call_id: &str,
        r: &Resolved,
        minutes: u32,
    ) -> Result<(), CalcomError> {
        let mut held = Vec::new();
        for (seg, event_type_id) in r.staffed() {
            match self
                .calcom
                .reserve_slot(event_type_id, seg.start, minutes)
                .await
            {
                Ok(hold) => held.push(hold),
                Err(e) => {
                    self.release_holds(None, held).await;
                    return Err(e);
                }
            }
        }
        let now = self.now();
        let mut holds = lock(&self.calcom_holds);
        // Holds nobody came back for (a release Cal.com refused) are gone by now.
        holds.retain(|_, held| held.iter().all(|h| h.until > now));
        holds.insert((call_id.to_owned(), r.start), held);
        Ok(())
    }

    async fn release_calcom_holds(&self, call_id: &str, start: DateTime<Utc>) {
        let key = (call_id.to_owned(), start);
        let held = lock(&self.calcom_holds).remove(&key);
        self.release_holds(Some(key), held.unwrap_or_default())
            .await;
    }

    /// Releases `held`, each tried once: the caller's answer never waits out a backoff for
    /// what expires on its own anyway, and a throttled key is left for bookings. A hold
    /// Cal.com refused to let go of for now stays `holder`'s until it expires (it still
    /// hides the slot from everyone else, and from the holder's own listings).
    async fn release_holds(
        &self,
        holder: Option<(String, DateTime<Utc>)>,
        held: Vec<SlotReservation>,
    ) {
        let mut kept = Vec::new();
        for hold in held {
            if let Err(e) = self.calcom.release_slot_once(&hold.uid).await
                && e.is_transient()
            {
                kept.push(hold);
            }
        }
        if let Some(holder) = holder.filter(|_| !kept.is_empty()) {
            lock(&self.calcom_holds)
                .entry(holder)
                .or_default()
                .extend(kept);
        }
    }

    /// The locks the policy takes for a request, in the order they are taken.
    ///
    /// `StaffInterval` locks every stylist the booking can land on (Cal.com picks the host
    /// among the service's staff), each over the booked interval, in ascending id order.
    /// Why this cannot double-book: two bookings that could put one stylist in two places
    /// share that stylist and overlap in time, so they want the same key over overlapping
    /// spans and the second waits until the first has Cal.com's answer; by then the first
    /// booking is committed, and Cal.com's own check at the second's arrival sees it and
    /// picks another free host or refuses. Bookings with disjoint staff or disjoint times
    /// take disjoint locks and never collide in Cal.com. Taking the keys in one global order
    /// means no two requests each hold a key the other waits for, so there is no deadlock.
    pub(crate) fn locks_for(&self, r: &Resolved) -> Vec<(String, Option<Span>)> {
        let company = self.catalog().company_id;
        match self.policy().lock {
            LockMode::Off => Vec::new(),
            LockMode::ExactStart => vec![(
                format!(
                    "booking_lock:{company}:{}:{}",
                    r.service.id,
                    r.local.format("%Y-%m-%d_%H:%M")
                ),
                None,
            )],
            LockMode::StaffInterval => {
                let staff: BTreeSet<u64> = r.service.staff.iter().copied().collect();
                staff
                    .into_iter()
                    .map(|s| self.staff_lock(s, (r.start, r.end)))
                    .collect()
            }
        }
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

    /// The guard of one (call, start) booking attempt (see [`Self::start_booking`]).
    fn attempt_slot(&self, call_id: &str, start: DateTime<Utc>) -> Arc<tokio::sync::Mutex<()>> {
        let mut attempts = lock(&self.attempts);
        // Entries nobody holds any more are dropped, so the map follows the calls in progress.
        attempts.retain(|_, a| Arc::strong_count(a) > 1);
        attempts
            .entry((call_id.to_owned(), start))
            .or_default()
            .clone()
    }

    /// `start_booking`: book the slot through every layer the policy switches on.
    pub async fn start_booking(&self, req: &SlotRequest) -> BookOutcome {
        let request = match self.resolve(req) {
            Ok(r) => r,
            Err(message) => return BookOutcome::Invalid(message),
        };
        // One attempt per call and slot at a time: Retell's retry of an attempt still at work
        // (its answer was too slow) waits for it, then finds its booking below.
        let attempt = self.attempt_slot(&req.call_id, request.start);
        let _attempt = attempt.lock().await;
        // Retell retries a failed call: the same call and slot books once.
        self.database().await;
        if let Some(done) = self
            .appointments
            .booked_by_call(&req.call_id, request.start)
        {
            return BookOutcome::Booked {
                request,
                appointment: done,
                repeated: true,
            };
        }
        let guard = match self.acquire_all(&self.locks_for(&request)).await {
            Ok(guard) => guard,
            Err(key) => {
                return BookOutcome::Failed {
                    request,
                    failure: Failure::LockTimeout,
                    detail: format!("lock {key} still taken after the wait"),
                };
            }
        };
        let outcome = self.book_locked(req, request).await;
        self.release(guard).await;
        if let BookOutcome::Booked { request, .. }
        | BookOutcome::Taken { request, .. }
        | BookOutcome::Failed { request, .. } = &outcome
        {
            self.release_calcom_holds(&req.call_id, request.start).await;
        }
        outcome
    }

    async fn book_locked(&self, req: &SlotRequest, request: Resolved) -> BookOutcome {
        let now = self.now();
        let policy = self.policy().clone();
        // Local reservation: other callers' holds leave no stylist for this one (a caller's
        // own hold was counted when it was made, and never counts against it).
        if policy.local_reservation_ttl.is_some() {
            self.database().await;
            self.reservations.expire_reservations(now);
            let reserved = self
                .reservations
                .reservation_of(&req.call_id, request.start, now)
                .is_none()
                && self
                    .free_stylists(&req.call_id, &request, now, true)
                    .is_empty()
                && !self
                    .free_stylists(&req.call_id, &request, now, false)
                    .is_empty();
            if reserved {
                let alternatives = self.alternatives(&request, false).await;
                return BookOutcome::Taken {
                    request,
                    reason: "slot_reserved",
                    alternatives,
                };
            }
        }
        // Double-check: fresh slots right before booking. A caller holding the slot in Cal.com
        // would find it hidden by its own reservation (listings cannot tell whose), so then
        // the hold, admitted against Cal.com's bookings at the check, stands for it, and
        // Cal.com's own check of the create is the last word.
        if policy.double_check && !self.holds_in_calcom(&req.call_id, request.start) {
            match self.segments_listed(&request, true).await {
                Ok(true) => {}
                Ok(false) => {
                    let alternatives = self.alternatives(&request, true).await;
                    return BookOutcome::Taken {
                        request,
                        reason: "availability_changed",
                        alternatives,
                    };
                }
                // As the seeds: a failed double-check is logged, and booking goes on.
                Err(e) => tracing::warn!(error = %e, "double-check failed; proceeding"),
            }
        }
        // Pre-sync conflict check against the local store.
        if policy.pre_sync_check != ConflictCheck::Off {
            self.database().await;
            let conflict = match policy.pre_sync_check {
                ConflictCheck::ExactStart => {
                    self.appointments.conflict_at_start(request.start).is_some()
                }
                ConflictCheck::Overlap => self
                    .free_stylists(&req.call_id, &request, now, false)
                    .is_empty(),
                ConflictCheck::Off => false,
            };
            if conflict {
                let alternatives = self.alternatives(&request, false).await;
                return BookOutcome::Taken {
                    request,
                    reason: "pre_sync_conflict",
                    alternatives,
                };
            }
        }
        // Cal.com, segment by segment or all at once.
        let name = req
            .customer_name
            .clone()
            .unwrap_or_else(|| "Unbekannt".into());
        let metadata = BTreeMap::from([
            ("call_id".to_string(), req.call_id.clone()),
            ("service".to_string(), request.service.name.clone()),
        ]);
        let new_booking = |event_type_id: u64, start: DateTime<Utc>| {
            self.segment_booking(event_type_id, start, &name, metadata.clone())
        };
        let staffed: Vec<(PlacedSegment, u64)> =
            request.staffed().map(|(s, id)| (s.clone(), id)).collect();
        let results: Vec<Result<CalcomBooking, CalcomError>> = match policy.segments {
            SegmentMode::Sequential => {
                let mut results = Vec::new();
                for (seg, id) in &staffed {
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
        let (booked, errors): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
        let booked: Vec<CalcomBooking> = booked.into_iter().map(Result::unwrap).collect();
        if let Some(Err(error)) = errors.into_iter().next() {
            // Saga: a partly booked compound service is undone, and what the lost answers
            // may have made is undone once Cal.com can be asked.
            self.compensate_answering(&booked, "Kompensation: Teilbuchung fehlgeschlagen")
                .await;
            self.defer_uncertain(uncertain);
            return match error {
                CalcomError::SlotTaken(_) | CalcomError::Conflict => {
                    let alternatives = self.alternatives(&request, true).await;
                    BookOutcome::Taken {
                        request,
                        reason: "slot_taken",
                        alternatives,
                    }
                }
                e => BookOutcome::Failed {
                    request,
                    failure: Failure::of(&e),
                    detail: e.to_string(),
                },
            };
        }
        // Post-sync validation of every answer (as the seeds: no compensation on rejection).
        if policy.post_sync_validation {
            let fresh_after =
                self.now() - TimeDelta::from_std(policy.freshness).unwrap_or(TimeDelta::MAX);
            for (b, (seg, _)) in booked.iter().zip(&staffed) {
                // A booking carrying this call's id is its own however old (one a lost
                // answer hid, found again by reconciliation); staleness only gives away
                // someone else's booking returned for this create.
                let own = b.metadata.get("call_id").and_then(|v| v.as_str())
                    == Some(req.call_id.as_str());
                let problem = if b.start != seg.start {
                    Some("Cal.com booked another time")
                } else if !own && b.created_at.is_some_and(|c| c < fresh_after) {
                    Some("stale booking (idempotency collision)")
                } else if b
                    .metadata
                    .get("call_id")
                    .and_then(|v| v.as_str())
                    .is_some_and(|c| c != req.call_id)
                {
                    Some("call id mismatch")
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return BookOutcome::Failed {
                        request,
                        failure: Failure::PostSyncRejected,
                        detail: format!("{problem}: booking {}", b.uid),
                    };
                }
            }
        }
        // Local save.
        let phases = request.phases(&booked);
        self.database().await;
        if self.save_fails() {
            // Saga: undo in Cal.com what the engine cannot record; without it, orphans.
            self.compensate_answering(&booked, "Kompensation: lokale Speicherung fehlgeschlagen")
                .await;
            return BookOutcome::Failed {
                request,
                failure: Failure::StoreFailed,
                detail: format!(
                    "saving the appointment failed after {} Cal.com booking(s)",
                    booked.len()
                ),
            };
        }
        let appointment = self.appointments.insert(Appointment {
            id: 0,
            service_id: request.service.id,
            call_id: Some(req.call_id.clone()),
            customer_name: name,
            start: request.start,
            end: request.end,
            status: AppointmentStatus::Booked,
            sync: SyncStatus::Synced,
            phases,
            created_at: self.now(),
        });
        if let Some(held) =
            self.reservations
                .reservation_of(&req.call_id, request.start, self.now())
        {
            self.reservations
                .set_reservation_state(&held.token, "converted");
        }
        // Internal booking: drop the cached weeks it touched.
        for (seg, id) in &staffed {
            self.invalidate(*id, seg.start);
        }
        BookOutcome::Booked {
            request,
            appointment,
            repeated: false,
        }
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

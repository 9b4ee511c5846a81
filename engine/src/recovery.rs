//! Start-up recovery after a crash (`policy.recover_on_restart`). What a process keeps only in
//! memory dies with it: the sync job's queue, and the bookings Cal.com made for requests whose
//! local save never happened. On a restart (the store remembers earlier starts) the engine
//! first waits until any create sent before the crash has landed, then cancels in Cal.com
//! every booking of its own that the store does not hold (nobody was told it was booked:
//! the answer comes after the save), and re-queues every appointment still waiting for its
//! sync. While Cal.com cannot be read or a cancel is refused (throttled, down), the sweep is
//! tried again, 30 s later and then twice as long each time up to 5 minutes, until it is
//! complete: an unsaved booking must not outlive a bad minute of Cal.com's. A throttled round
//! stops at the 429 and the next starts when the key is free again, reading only the event
//! types not yet swept clean: several workers recovering at once on a tight plan (10
//! requests a minute) otherwise each restarted a whole sweep every round, spent the plan
//! between them and none ever finished (a failed booking's compensation, in the crashed
//! worker's outbox, stayed in Cal.com: explore seed 1104321).
//!
//! Several workers share the stores, and an engine crash takes them all: each restarts and
//! recovers. The sweep and the re-queue are about the whole store and all of Cal.com, not
//! one worker's part of it, so they are done once, not once per worker ([`Recoveries`]):
//! sweeps take turns (MySQL's `GET_LOCK('recovery')`, which a crashed worker's connection
//! lets go), a worker whose turn comes after a complete sweep that began once its own
//! crashed creates had landed has nothing left to sweep, and a pending appointment a
//! recovery queued again after this worker restarted is not queued twice. Run side by side,
//! the workers' sweeps took the same stylists' locks at once and each gave up on the
//! others' (a lock wait shorter than a Redis round trip), and their listings and syncs
//! tripled the calls on a throttled Cal.com key: the sweeps went on past the run's end.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::booking::SlotRequest;
use crate::calcom::{CalcomBooking, CalcomError};
use crate::engine::{Engine, RepairBackoff, lock};
use crate::policy::LockMode;
use crate::store::{AppointmentStatus, SyncStatus};

/// Page size of the booking list (Cal.com answers at most 250).
const PAGE: usize = 100;

impl Engine {
    /// Records this start in the store; whether it follows a crash and the policy wants
    /// [`Self::recover`] run.
    pub fn boot(&self) -> bool {
        let worker = self.worker();
        let earlier = if worker.is_empty() {
            self.appointments.boot()
        } else {
            self.appointments.boot_worker(&worker)
        };
        earlier > 0 && self.policy().recover_on_restart
    }

    /// The recovery after a restart (see the module).
    pub async fn recover(self: Arc<Self>) {
        let started = self.store_now();
        // A create sent just before the crash lands within the client's timeout.
        simkit::time::sleep(self.policy().timeouts.total).await;
        // Every create this process sent before its crash has landed by now: a sweep that
        // begins from here on, by any worker, finds what it left.
        let landed = self.store_now();
        // One sweep at a time; held until this one is complete (a crash lets it go).
        let _turn = self.recoveries.turn().await;
        // The event types swept clean: a later round reads only the others, so that rounds
        // cut short by a tight plan (several workers recovering at once share its budget)
        // still add up to a whole sweep, which began with the first round.
        let mut swept = BTreeSet::new();
        let began = self.store_now();
        let mut round = Ok(());
        if !self.recoveries.swept_since(landed) {
            // A booking staff moved while the engine was down is its caller's, not an
            // unsaved one: the appointment follows it first.
            if self.policy().follow_staff_changes && self.policy().staff_reconcile.is_some() {
                self.reconcile_staff_changes().await;
            }
            round = self.sweep(began, &mut swept).await;
        }
        self.requeue_pending_syncs(started).await;
        let mut backoff = RepairBackoff::new();
        while let Err(throttled) = round {
            match throttled {
                // Throttled: the round stopped at the refusal, spending nothing more of the
                // plan; the next starts when the key is free again.
                Some(reset) => {
                    tracing::warn!(
                        ?reset,
                        "recovery throttled: trying again once the key is free"
                    );
                    simkit::time::sleep(reset).await;
                }
                None => {
                    tracing::warn!(
                        wait = ?backoff.next(),
                        "recovery incomplete (Cal.com unreadable or a cancel refused): trying again"
                    );
                    backoff.wait().await;
                }
            }
            round = self.sweep(began, &mut swept).await;
        }
    }

    /// One round of a sweep ([`Self::cancel_unsaved_bookings`]); the sweep that `began` then
    /// is recorded for the other workers once a round completes it.
    async fn sweep(
        &self,
        began: DateTime<Utc>,
        swept: &mut BTreeSet<u64>,
    ) -> Result<(), Option<Duration>> {
        let round = self.cancel_unsaved_bookings(swept).await;
        if round.is_ok() {
            self.recoveries.swept(began);
        }
        round
    }

    /// Cancels the engine's Cal.com bookings (its metadata names a call or an appointment)
    /// that no booked appointment holds, in the event types not yet in `swept` (each added
    /// once it was read and every such booking of it cancelled). Each is re-checked under
    /// its stylist's lock, so a booking a live request made and is about to save is never
    /// taken for one. `Ok` once every event type is swept; `Err(Some(wait))` when Cal.com
    /// throttled the round (stopped there, to try again after `wait`), `Err(None)` when
    /// some event type could not be read or a booking not cancelled.
    async fn cancel_unsaved_bookings(
        &self,
        swept: &mut BTreeSet<u64>,
    ) -> Result<(), Option<Duration>> {
        let mut complete = true;
        let now = self.now();
        let until = now
            + TimeDelta::from_std(self.policy().booking_horizon).unwrap_or(TimeDelta::days(365));
        let event_types: BTreeSet<u64> = self
            .catalog()
            .services
            .iter()
            .flat_map(|s| s.segments.iter().filter_map(|seg| seg.event_type_id))
            .filter(|id| !swept.contains(id))
            .collect();
        for event_type_id in event_types {
            let found = match self.list_all(event_type_id, now, until).await {
                Ok(found) => found,
                Err(CalcomError::RateLimited { reset_seconds }) => {
                    let reset = reset_seconds.unwrap_or(60).clamp(1, 300) + 1;
                    return Err(Some(std::time::Duration::from_secs(reset)));
                }
                Err(_) => {
                    complete = false;
                    continue;
                }
            };
            let mut clean = true;
            for b in found.into_iter().filter(|b| {
                b.status == "accepted"
                    && (b.metadata.contains_key("call_id")
                        || b.metadata.contains_key("appointment_id"))
            }) {
                let Ok(guard) = self.lock_if_unsaved(&b).await else {
                    clean = false;
                    continue;
                };
                if let Some(guard) = guard {
                    tracing::info!(uid = %b.uid, "cancelling a booking the crash left unsaved");
                    let cancelled = self
                        .calcom
                        .cancel_booking(&b.uid, "Wiederherstellung: Buchung nie gespeichert")
                        .await;
                    if cancelled.is_ok() {
                        *lock(&self.recovered) += 1;
                    } else {
                        clean = false;
                    }
                    self.release(guard).await;
                }
            }
            if clean {
                swept.insert(event_type_id);
            } else {
                complete = false;
            }
        }
        if complete { Ok(()) } else { Err(None) }
    }

    /// Whether the engine's Cal.com booking `b` is held by no booked appointment, checked
    /// under its stylist's lock (as every booking takes it from before its create until
    /// after its save), so that a booking about to be saved is never taken for an unsaved
    /// one: the lock, held, when it is unsaved (cancel it, then release); `None` when it is
    /// saved; `Err` when the lock could not be had (try later).
    pub(crate) async fn lock_if_unsaved(
        &self,
        b: &CalcomBooking,
    ) -> Result<Option<crate::engine::LockGuard>, String> {
        let locks = match (self.policy().lock, b.host_id) {
            (LockMode::StaffInterval, Some(host)) => vec![self.staff_lock(host, (b.start, b.end))],
            _ => Vec::new(),
        };
        let guard = self
            .acquire_all(&locks)
            .await
            .map_err(|refused| refused.to_string())?;
        self.database_retrying().await;
        if self.saved(b) {
            self.release(guard).await;
            return Ok(None);
        }
        Ok(Some(guard))
    }

    /// Whether a booked appointment holds the Cal.com booking `b`, or will: a part its sync
    /// made before a crash, which the sync queued again keeps (its creates ask first), or
    /// a booking staff moved in the app from one it holds (it carries the old one's
    /// metadata; the staff reconciliation moves the appointment to it, and cancelling it
    /// here would cancel the caller's appointment behind everyone's back).
    fn saved(&self, b: &CalcomBooking) -> bool {
        let appointment = b.metadata.get("appointment_id").and_then(|v| v.as_str());
        let holds = |a: &crate::store::Appointment, uid: &str| {
            a.segments
                .iter()
                .any(|p| p.calcom_uid.as_deref() == Some(uid))
        };
        self.appointments.appointments().iter().any(|a| {
            a.status == AppointmentStatus::Booked
                && (holds(a, &b.uid)
                    || b.rescheduled_from
                        .as_deref()
                        .is_some_and(|from| holds(a, from))
                    || (a.sync == SyncStatus::Pending
                        && appointment == Some(a.id.to_string().as_str())))
        })
    }

    /// Every booking of an event type starting in `[from, until]`, page by page; Cal.com's
    /// refusal when it cannot be read.
    pub(crate) async fn list_all(
        &self,
        event_type_id: u64,
        from: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<CalcomBooking>, CalcomError> {
        self.list_paged(Some(event_type_id), from, until).await
    }

    /// Bookings of one event type, or of the whole account, page by page.
    async fn list_paged(
        &self,
        event_type_id: Option<u64>,
        from: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<CalcomBooking>, CalcomError> {
        let mut all = Vec::new();
        loop {
            let page = match event_type_id {
                Some(id) => {
                    self.calcom
                        .list_bookings_page(id, from, until, PAGE, all.len())
                        .await?
                }
                None => {
                    self.calcom
                        .list_all_bookings_page(from, until, PAGE, all.len())
                        .await?
                }
            };
            let last = page.len() < PAGE;
            all.extend(page);
            if last {
                return Ok(all);
            }
        }
    }

    /// Every booking of the account (all event types, all hosts) starting in `[from,
    /// until]`, page by page: one request where reading event type by event type takes one
    /// each (a throttled key's budget); Cal.com's refusal when it cannot be read.
    pub(crate) async fn list_account(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<CalcomBooking>, CalcomError> {
        self.list_paged(None, from, until).await
    }

    /// The sync queue lived in the crashed process: queue again every appointment still
    /// pending from before this start (later ones were queued by this process).
    async fn requeue_pending_syncs(self: &Arc<Self>, started: chrono::DateTime<chrono::Utc>) {
        self.database_retrying().await;
        for a in self.appointments.appointments() {
            if a.status != AppointmentStatus::Booked
                || a.sync != SyncStatus::Pending
                || a.created_at >= started
                || !self.recoveries.requeue(a.id, started, self.store_now())
            {
                continue;
            }
            let service = self
                .catalog()
                .services
                .iter()
                .find(|s| s.id == a.service_id)
                .map(|s| s.name.clone());
            let request = SlotRequest {
                call_id: String::new(),
                service,
                datetime: Some(self.local(a.start).format("%Y-%m-%dT%H:%M").to_string()),
                date: None,
                time: None,
                customer_name: Some(a.customer_name.clone()),
            };
            match self.resolve(&request) {
                Ok(resolved) => {
                    // The crashed process may have booked some of its parts before it died:
                    // each create asks Cal.com first and keeps its own (`Engine::create`),
                    // instead of being refused by it and failing the sync.
                    let made_before = self.sync_bookings(a.id, &resolved);
                    lock(&self.uncertain_creates)
                        .extend(made_before.iter().map(crate::booking::CreateKey::of));
                    let engine = self.clone();
                    tokio::spawn(async move { engine.run_sync(a.id, resolved).await });
                }
                // Already past: nothing left to book.
                Err(_) => self.appointments.set_sync(a.id, SyncStatus::Failed, None),
            }
        }
    }
}

/// What the crash recoveries of several workers share, where every worker sees it and a
/// crash does not wipe it (a database table and a MySQL `GET_LOCK` in production; here
/// beside the store, without its latency): whose turn it is to sweep, when the last complete
/// sweep began, and when each pending appointment's sync was last queued again. Times are
/// the stores' clock.
#[derive(Debug, Default)]
pub struct Recoveries {
    /// Held by the worker sweeping (released when its task ends, a crash included).
    turn: Arc<tokio::sync::Mutex<()>>,
    state: Mutex<RecoveryState>,
}

#[derive(Debug, Default)]
struct RecoveryState {
    /// When the last complete sweep began.
    swept: Option<DateTime<Utc>>,
    /// When a recovery last queued each appointment's sync again.
    requeued: BTreeMap<u64, DateTime<Utc>>,
}

/// How often a worker waiting for its turn to sweep asks again.
const TURN_POLL: Duration = Duration::from_secs(1);

impl Recoveries {
    /// Waits for the turn to sweep (asking again every second, as `GET_LOCK` with a
    /// timeout is retried); held until the guard is dropped.
    pub(crate) async fn turn(&self) -> tokio::sync::OwnedMutexGuard<()> {
        loop {
            if let Ok(turn) = self.turn.clone().try_lock_owned() {
                return turn;
            }
            simkit::time::sleep(TURN_POLL).await;
        }
    }

    /// Whether a complete sweep began at or after `at`.
    pub(crate) fn swept_since(&self, at: DateTime<Utc>) -> bool {
        lock(&self.state).swept.is_some_and(|s| s >= at)
    }

    /// A complete sweep began at `began`.
    pub(crate) fn swept(&self, began: DateTime<Utc>) {
        let mut state = lock(&self.state);
        state.swept = state.swept.max(Some(began));
    }

    /// Whether the recovery of a worker restarted at `started` should queue appointment
    /// `id`'s sync again (recorded at `now` if so): not when another recovery did since
    /// that restart (its process was alive after this one's crash; if it crashed since, its
    /// own recovery queues it again).
    pub(crate) fn requeue(&self, id: u64, started: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let mut state = lock(&self.state);
        if state.requeued.get(&id).is_some_and(|at| *at >= started) {
            return false;
        }
        state.requeued.insert(id, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-11-25T11:00:00Z")
            .unwrap()
            .to_utc()
            + TimeDelta::seconds(s)
    }

    #[test]
    fn a_sweep_covers_the_workers_whose_creates_landed_before_it_began() {
        let r = Recoveries::default();
        assert!(!r.swept_since(t(0)), "nothing swept yet");
        r.swept(t(60));
        assert!(r.swept_since(t(60)), "restarted with it: covered");
        assert!(
            !r.swept_since(t(61)),
            "its creates landed after the sweep began: sweep again"
        );
        r.swept(t(10));
        assert!(r.swept_since(t(60)), "an older sweep does not undo a newer");
    }

    #[test]
    fn a_pending_sync_is_queued_again_once_per_restart() {
        let r = Recoveries::default();
        assert!(r.requeue(2, t(100), t(160)), "the first recovery queues it");
        assert!(
            !r.requeue(2, t(100), t(161)),
            "a worker restarted with it does not"
        );
        assert!(
            r.requeue(3, t(100), t(161)),
            "another appointment is its own"
        );
        assert!(
            r.requeue(2, t(200), t(260)),
            "a worker restarted after that queueing (its process may have died) does"
        );
    }

    #[tokio::test]
    async fn one_worker_sweeps_at_a_time_and_a_crash_lets_the_turn_go() {
        let r = Arc::new(Recoveries::default());
        let first = r.turn().await;
        assert!(
            r.turn.clone().try_lock_owned().is_err(),
            "held while sweeping"
        );
        drop(first);
        let waiting = tokio::spawn({
            let r = r.clone();
            async move {
                let _turn = r.turn().await;
                std::future::pending::<()>().await;
            }
        });
        tokio::task::yield_now().await;
        assert!(
            r.turn.clone().try_lock_owned().is_err(),
            "the next one has it"
        );
        waiting.abort();
        let _ = waiting.await;
        assert!(
            r.turn.clone().try_lock_owned().is_ok(),
            "its task cut off (a crash): the turn is free"
        );
    }
}

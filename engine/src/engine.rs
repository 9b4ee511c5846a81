//! [`Engine`]: one booking engine, its state and the infrastructure the booking path uses
//! (cache, lock, store), each with the latency of the real thing.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use simkit::seed::StreamRng;
use simkit::transport::Network;
use simkit::{Distribution, SeedStreams, SharedClock, ids};

use crate::cache::{AvailabilityCache, InMemoryCache, Slots};
use crate::calcom::{CalcomClient, CalcomError};
use crate::catalog::Catalog;
use crate::infra::{Down, Infra, Part};
use crate::lock::{InMemoryLocks, LockService, Span};
use crate::policy::Policy;
use crate::store::{AppointmentStore, InMemoryStore, ReservationStore};

/// The booking attempt in progress per (call, start): a retry waits on its mutex.
type Attempts =
    std::collections::BTreeMap<(String, DateTime<Utc>), Arc<tokio::sync::Mutex<Attempt>>>;

/// What the last attempt of a (call, start) booked, and when (the stores' clock): a Retell
/// retry behind it answers with it when the database cannot be asked.
pub(crate) type Attempt = Option<(crate::store::Appointment, DateTime<Utc>)>;

/// Who holds Cal.com reservations: a call, for a service, at a start.
pub(crate) type HoldKey = (String, u64, DateTime<Utc>);

/// Cal.com reservations held per (call, service, start).
type CalcomHolds = std::collections::BTreeMap<HoldKey, Vec<crate::calcom::SlotReservation>>;

/// How an engine is set up.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub catalog: Catalog,
    pub policy: Policy,
    pub calcom_url: String,
    pub calcom_api_key: String,
    /// Secret of the Cal.com webhook subscription; `None`: webhooks are refused.
    pub webhook_secret: Option<String>,
    /// Retell API key; `None`: function calls are not signature-checked.
    pub retell_api_key: Option<String>,
}

/// Where the engine keeps its state: the seed system's Redis (cache, locks) and database
/// (appointments, reservations). Outlives an engine process: hand the same backends to the
/// engine after a restart and it finds its data again.
#[derive(Clone)]
pub struct Backends {
    pub cache: Arc<dyn AvailabilityCache>,
    pub locks: Arc<dyn LockService>,
    pub appointments: Arc<dyn AppointmentStore>,
    pub reservations: Arc<dyn ReservationStore>,
    /// How Redis and the database misbehave (a scenario's faults; none when served).
    pub infra: Arc<Infra>,
    /// The Cal.com creates in flight (see [`crate::infra::InFlight`]).
    pub in_flight: Arc<crate::infra::InFlight>,
    /// What the crash recoveries of several workers share (see [`crate::recovery::Recoveries`]).
    pub recoveries: Arc<crate::recovery::Recoveries>,
}

impl Backends {
    /// Everything in memory.
    pub fn in_memory() -> Self {
        let store = Arc::new(InMemoryStore::default());
        Self {
            cache: Arc::new(InMemoryCache::default()),
            locks: Arc::new(InMemoryLocks::default()),
            appointments: store.clone(),
            reservations: store,
            infra: Infra::none(),
            in_flight: Arc::default(),
            recoveries: Arc::default(),
        }
    }

    /// Appointments and local reservations in an SQLite file in `dir` (they survive a
    /// crash); the cache and the locks in memory, as Redis without persistence. `fresh`:
    /// the file emptied first (`serve --data DIR --fresh`: a run after a run starts clean).
    pub fn persistent(dir: &std::path::Path, fresh: bool) -> Result<Self, String> {
        let store = Arc::new(if fresh {
            crate::store::sqlite::SqliteStore::open_empty(dir)?
        } else {
            crate::store::sqlite::SqliteStore::open(dir)?
        });
        Ok(Self {
            appointments: store.clone(),
            reservations: store,
            ..Self::in_memory()
        })
    }
}

/// Counters the harness reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineStats {
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_invalidations: u64,
    pub locks_acquired: u64,
    /// Lock attempts that found the lock taken (and waited or gave up).
    pub lock_contended: u64,
    pub lock_timeouts: u64,
    pub calcom_retries: u64,
    /// Saga compensations: Cal.com bookings cancelled because the rest of their booking failed.
    pub compensations: u64,
    /// Creates whose answer was lost, found in Cal.com afterwards and adopted.
    pub reconciled: u64,
    /// Cal.com bookings a crash left without their local save, cancelled at the restart.
    pub recovered: u64,
    pub webhooks_accepted: u64,
    pub webhooks_rejected: u64,
}

impl EngineStats {
    /// Adds another run's counters (a sweep point sums its runs).
    pub fn add(&mut self, o: &EngineStats) {
        self.cache_hits += o.cache_hits;
        self.cache_misses += o.cache_misses;
        self.cache_invalidations += o.cache_invalidations;
        self.locks_acquired += o.locks_acquired;
        self.lock_contended += o.lock_contended;
        self.lock_timeouts += o.lock_timeouts;
        self.calcom_retries += o.calcom_retries;
        self.compensations += o.compensations;
        self.reconciled += o.reconciled;
        self.recovered += o.recovered;
        self.webhooks_accepted += o.webhooks_accepted;
        self.webhooks_rejected += o.webhooks_rejected;
    }
}

pub struct Engine {
    pub settings: EngineSettings,
    clock: SharedClock,
    pub(crate) calcom: CalcomClient,
    pub(crate) cache: Arc<dyn AvailabilityCache>,
    pub(crate) locks: Arc<dyn LockService>,
    /// The local database: appointments and reservations.
    pub appointments: Arc<dyn AppointmentStore>,
    pub reservations: Arc<dyn ReservationStore>,
    /// The faults of Redis and the database every round trip to them meets.
    pub(crate) infra: Arc<Infra>,
    pub(crate) in_flight: Arc<crate::infra::InFlight>,
    pub(crate) recoveries: Arc<crate::recovery::Recoveries>,
    rng: Mutex<StreamRng>,
    pub(crate) lock_timeouts: Mutex<u64>,
    pub(crate) compensations: Mutex<u64>,
    pub(crate) reconciled: Mutex<u64>,
    pub(crate) recovered: Mutex<u64>,
    /// The booking attempt in progress per (call, start).
    pub(crate) attempts: Mutex<Attempts>,
    /// Per call, when its last cancel stopped waiting for a booking still at work: an
    /// attempt of the call begun before that undoes what it makes instead of saving it.
    pub(crate) cancelled_in_flight: Mutex<std::collections::BTreeMap<String, DateTime<Utc>>>,
    /// This process's "not booked" answers, per (call, service, start): an attempt of the
    /// call told no since it arrived undoes what it makes (see
    /// [`crate::store::told_unbooked_since`]; the store keeps the same for several workers).
    pub(crate) told_unbooked: Mutex<crate::store::Answers>,
    /// This process's requests, per (call, service, start): when each was last asked for.
    pub(crate) asked: Mutex<crate::store::Answered>,
    /// Per call, the turn of its cancels waiting for its bookings (one at a time).
    pub(crate) cancel_turns: Mutex<std::collections::BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Compensating cancels Cal.com refused for now: (uid, reason, tries left).
    pub(crate) cancel_outbox: Mutex<Vec<(String, String, u32)>>,
    /// Bookings a compensating (or caller's) cancel found cancelled already: staff may have
    /// moved them in the app meanwhile, and the booking moved to is undone in their place
    /// by the background job: (uid, reason, tries left).
    pub(crate) moved_outbox: Mutex<Vec<(String, String, u32)>>,
    /// Locks whose release Redis could not take (down, timing out): let go by the
    /// background job once it answers, as a lease held for a create's whole flight
    /// (`lock_outlives_create`) would otherwise keep the stylist locked for minutes.
    pub(crate) unreleased_locks: Mutex<Vec<u64>>,
    /// The booking the background job is cancelling from the outbox right now.
    pub(crate) cancelling: Mutex<Option<String>>,
    /// Bookings a compensating cancel has cancelled (a listing read since may lag behind).
    pub(crate) compensated: Mutex<std::collections::BTreeSet<String>>,
    /// Creates whose answer was lost and that Cal.com could not be asked about: whether they
    /// were made is unknown until it can (see `Engine::create`).
    pub(crate) uncertain_creates: Mutex<std::collections::BTreeSet<crate::booking::CreateKey>>,
    /// Uncertain creates of bookings that failed (the caller or the salon was told so): found
    /// and cancelled by the background job once Cal.com answers, (create, tries left).
    pub(crate) uncertain_outbox: Mutex<Vec<(crate::calcom::NewBooking, u32)>>,
    /// Creates whose answer was lost, whatever became of their booking: Cal.com may still
    /// make them after the engine looked and found nothing (a request it was slow to
    /// process). Looked at again once Cal.com's slowest answer has passed, and every own
    /// booking of the key no appointment holds is cancelled: (create, not before, tries left).
    pub(crate) late_creates: Mutex<Vec<(crate::calcom::NewBooking, DateTime<Utc>, u32)>>,
    pub(crate) webhooks: Mutex<(u64, u64)>,
    /// Cal.com reservation uids held per (call, service, start) between check and booking.
    pub(crate) calcom_holds: Mutex<CalcomHolds>,
    /// Cal.com holds whose release was refused for now (`release_retries`): the hold, when
    /// it is due again and the wait after that.
    pub(crate) release_outbox:
        Mutex<Vec<(crate::calcom::SlotReservation, DateTime<Utc>, Duration)>>,
    /// What Cal.com books for an event type, in minutes, where it is known (learnt from
    /// Cal.com): a booking locks and checks that span, whatever the catalogue says.
    event_type_minutes: Mutex<std::collections::BTreeMap<u64, u32>>,
    /// How long each lock acquisition waited (ms), taken or not.
    lock_waits: Mutex<Vec<u64>>,
    /// The Redis latency of lock renewals and fencing checks: a stream of its own, so that
    /// switching fencing on does not shift the draws of every other Redis or database call.
    lock_rng: Arc<Mutex<StreamRng>>,
    /// How long this process is paused from now (a GC or CPU stall), if it is.
    stall: Mutex<Option<StallGate>>,
    /// The clock of Redis and the database, where it is not this process's own (a worker
    /// whose clock is off): see [`Engine::store_now`].
    store_clock: Mutex<Option<SharedClock>>,
    /// This worker's name among several sharing the stores (empty: the only process).
    worker: Mutex<String>,
}

/// How long the process stays paused from now (zero: running): a GC or CPU stall that holds
/// its Redis, database and request work and its lock renewals.
pub type StallGate = Arc<dyn Fn() -> Duration + Send + Sync>;

/// Waits out a stall `gate` reports, if any.
async fn stalled(gate: Option<&StallGate>) {
    if let Some(gate) = gate {
        let left = gate();
        if !left.is_zero() {
            simkit::time::sleep(left).await;
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How often a waiting lock is retried (Laravel's `block()` sleeps 250 ms between tries).
const LOCK_POLL: Duration = Duration::from_millis(250);

/// How a repair Cal.com refused for now (crash recovery's sweep, a salon appointment's
/// sync) waits before its next try: 30 s, then twice as long each time, up to a cap.
pub(crate) struct RepairBackoff(Duration, Duration);

impl RepairBackoff {
    /// Crash recovery's sweep: at most 5 min between tries.
    pub(crate) fn new() -> Self {
        Self::capped(Duration::from_secs(300))
    }

    /// At most `cap` between tries: a salon appointment's sync, whose slot Cal.com offers
    /// to anyone until it lands, tries again at least once a minute.
    pub(crate) fn capped(cap: Duration) -> Self {
        RepairBackoff(Duration::from_secs(30).min(cap), cap)
    }

    /// The wait before the next try.
    pub(crate) fn next(&self) -> Duration {
        self.0
    }

    /// Waits before the next try; the one after waits twice as long.
    pub(crate) async fn wait(&mut self) {
        simkit::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(self.1);
    }
}

impl Engine {
    /// An engine with the in-memory cache, lock and store.
    pub fn new(
        settings: EngineSettings,
        clock: SharedClock,
        seed: SeedStreams,
        network: Network,
    ) -> Arc<Self> {
        Self::with_backends(settings, clock, seed, network, Backends::in_memory())
    }

    /// An engine on the given backends (e.g. the ones a crashed engine left behind).
    pub fn with_backends(
        settings: EngineSettings,
        clock: SharedClock,
        seed: SeedStreams,
        network: Network,
        backends: Backends,
    ) -> Arc<Self> {
        let calcom = CalcomClient::new(
            network,
            &settings.calcom_url,
            &settings.calcom_api_key,
            settings.policy.timeouts,
            settings.policy.retry.clone(),
            seed.stream("engine.retry"),
        )
        .with_clock(clock.clone())
        .with_bookings_version(settings.policy.calcom_bookings_version.header());
        Arc::new(Self {
            calcom,
            clock,
            cache: backends.cache,
            locks: backends.locks,
            appointments: backends.appointments,
            reservations: backends.reservations,
            infra: backends.infra,
            in_flight: backends.in_flight,
            recoveries: backends.recoveries,
            rng: Mutex::new(seed.stream("engine.infra")),
            lock_rng: Arc::new(Mutex::new(seed.stream("engine.locks"))),
            lock_timeouts: Mutex::default(),
            compensations: Mutex::default(),
            reconciled: Mutex::default(),
            recovered: Mutex::default(),
            cancel_outbox: Mutex::default(),
            moved_outbox: Mutex::default(),
            unreleased_locks: Mutex::default(),
            cancelling: Mutex::default(),
            compensated: Mutex::default(),
            uncertain_creates: Mutex::default(),
            uncertain_outbox: Mutex::default(),
            late_creates: Mutex::default(),
            attempts: Mutex::default(),
            cancel_turns: Mutex::default(),
            cancelled_in_flight: Mutex::default(),
            told_unbooked: Mutex::default(),
            asked: Mutex::default(),
            webhooks: Mutex::default(),
            calcom_holds: Mutex::default(),
            release_outbox: Mutex::default(),
            event_type_minutes: Mutex::default(),
            lock_waits: Mutex::default(),
            stall: Mutex::default(),
            store_clock: Mutex::default(),
            worker: Mutex::default(),
            settings,
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.settings.policy
    }

    pub fn catalog(&self) -> &Catalog {
        &self.settings.catalog
    }

    /// Learns from Cal.com how long each event type's bookings are (`GET
    /// /v2/event-types`), so a booking locks and checks what Cal.com will book; `Err` when
    /// Cal.com cannot be asked. The catalogue's segments that disagree are returned (see
    /// [`Catalog::check_lengths`]) for the operator to fix.
    pub async fn learn_event_types(&self) -> Result<Result<(), String>, CalcomError> {
        let lengths = self.calcom.event_type_lengths().await?;
        let verdict = self.catalog().check_lengths(&lengths);
        self.set_event_type_minutes(lengths);
        Ok(verdict)
    }

    /// Tells the engine what Cal.com books for each event type (minutes by id).
    pub fn set_event_type_minutes(&self, lengths: std::collections::BTreeMap<u64, u32>) {
        *lock(&self.event_type_minutes) = lengths;
    }

    /// What Cal.com books for `event_type_id`, in minutes, if known.
    pub(crate) fn booked_minutes(&self, event_type_id: u64) -> Option<u32> {
        lock(&self.event_type_minutes).get(&event_type_id).copied()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Names this process as one of several workers sharing the stores: a restart after a
    /// crash is then this worker's own, not any start of another (see [`Engine::boot`]).
    pub fn set_worker(&self, name: &str) {
        name.clone_into(&mut lock(&self.worker));
    }

    pub(crate) fn worker(&self) -> String {
        lock(&self.worker).clone()
    }

    /// Tells the engine the clock Redis and the database keep (by default its own).
    pub fn set_store_clock(&self, clock: SharedClock) {
        *lock(&self.store_clock) = Some(clock);
    }

    pub(crate) fn store_clock(&self) -> SharedClock {
        lock(&self.store_clock)
            .clone()
            .unwrap_or_else(|| self.clock.clone())
    }

    /// "Now" as Redis and the database see it: every expiry they keep (a lock's TTL, a
    /// cached week's age, a reservation's hold, an appointment's `created_at`) is theirs to
    /// enforce, as `SET key v NX PX ttl`, `SETEX` and SQL's `NOW()` do, never measured by a
    /// worker's clock. Several workers whose clocks disagree would otherwise each read a
    /// lock's expiry by their own clock: one running ahead takes over a lock still held.
    pub fn store_now(&self) -> DateTime<Utc> {
        self.store_clock().now()
    }

    /// Every Cal.com request this engine made.
    pub fn calcom_samples(&self) -> Vec<crate::calcom::CalcomSample> {
        self.calcom.samples()
    }

    /// The locks still held now (a run that settled should hold none).
    pub fn held_locks(&self) -> Vec<String> {
        self.infra.apply_losses(&*self.locks, &*self.cache);
        self.locks.held(self.store_now())
    }

    /// How long each lock acquisition waited, in milliseconds.
    pub fn lock_waits(&self) -> Vec<u64> {
        lock(&self.lock_waits).clone()
    }

    pub fn stats(&self) -> EngineStats {
        let cache = self.cache.counters();
        let webhooks = *lock(&self.webhooks);
        EngineStats {
            cache_hits: cache.hits,
            cache_misses: cache.misses,
            cache_invalidations: cache.invalidations,
            locks_acquired: self.locks.counters().acquired,
            lock_contended: self.locks.counters().contended,
            lock_timeouts: *lock(&self.lock_timeouts),
            calcom_retries: self.calcom.retries(),
            compensations: *lock(&self.compensations),
            reconciled: *lock(&self.reconciled),
            recovered: *lock(&self.recovered),
            webhooks_accepted: webhooks.0,
            webhooks_rejected: webhooks.1,
        }
    }

    /// Pauses this process whenever `gate` says it is stalled (see [`StallGate`]).
    pub fn set_stall_gate(&self, gate: StallGate) {
        *lock(&self.stall) = Some(gate);
    }

    async fn stalled(&self) {
        let gate = lock(&self.stall).clone();
        stalled(gate.as_ref()).await;
    }

    async fn pause(&self, d: &Distribution) {
        self.stalled().await;
        let wait = d.sample(&mut *lock(&self.rng));
        if !wait.is_zero() {
            simkit::time::sleep(wait).await;
        }
    }

    /// One round trip to Redis (cache or lock): `Err` when Redis is down ([`crate::infra`]).
    pub(crate) async fn redis(&self) -> Result<(), Down> {
        self.stalled().await;
        let base = self.draw(&self.settings.policy.infra.redis);
        self.redis_after(base).await
    }

    /// A round trip to Redis whose own latency `base` is already drawn.
    async fn redis_after(&self, base: Duration) -> Result<(), Down> {
        self.infra
            .round_trip(Part::Redis, base, Some((&*self.locks, &*self.cache)))
            .await
    }

    /// The application's own processing of one function call.
    pub(crate) async fn request_overhead(&self) {
        self.pause(&self.settings.policy.infra.request_overhead)
            .await;
    }

    /// One database query: `Err` when the database is down ([`crate::infra`]).
    pub(crate) async fn database(&self) -> Result<(), Down> {
        self.stalled().await;
        let base = self.draw(&self.settings.policy.infra.database);
        self.infra.round_trip(Part::Database, base, None).await
    }

    /// One database query of a background job (the sync queue, the recovery sweep): a
    /// query the database refuses is tried again every second until it answers, as a queue
    /// worker's job is retried.
    pub(crate) async fn database_retrying(&self) {
        while self.database().await.is_err() {
            simkit::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Whether this save fails (the policy's injected failure rate).
    pub(crate) fn save_fails(&self) -> bool {
        let p = self.settings.policy.infra.save_failure_probability;
        p > 0.0 && rand::Rng::random_bool(&mut *lock(&self.rng), p.min(1.0))
    }

    /// Draws a delay from `d` with the engine's stream.
    pub(crate) fn draw(&self, d: &Distribution) -> Duration {
        d.sample(&mut *lock(&self.rng))
    }

    pub(crate) fn token(&self) -> String {
        ids::uuid_v4(&mut *lock(&self.rng)).to_string()
    }

    /// A UTC instant as the salon's local time.
    pub fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.settings.catalog.time_zone)
            .naive_local()
    }

    /// The salon's local time as UTC (`None` for a time a DST change skips).
    pub fn utc(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        self.settings
            .catalog
            .time_zone
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }

    pub fn today(&self) -> NaiveDate {
        self.local(self.now()).date()
    }

    /// Cal.com slots of `event_type_id` for the local week (Monday to Sunday) holding `day`,
    /// from the cache when the policy has one and `fresh` is not asked for.
    pub(crate) async fn week_slots(
        &self,
        event_type_id: u64,
        day: NaiveDate,
        fresh: bool,
    ) -> Result<Slots, CalcomError> {
        let monday = crate::dates::monday_of(day);
        let key = (event_type_id, monday);
        let ttl = self.policy().cache_ttl.filter(|_| !fresh);
        // Redis down: the cache is skipped (read from Cal.com, nothing written back).
        let mut cache_up = true;
        if let Some(ttl) = ttl {
            cache_up = self.redis().await.is_ok();
            let ttl = TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX);
            if cache_up && let Some(slots) = self.cache.get(key, ttl, self.store_now()) {
                return Ok(slots);
            }
        }
        // Monday 00:00 to Sunday 23:59:59 local: a week the clocks change in is not 7×24 h.
        let (start, end) = crate::dates::week_bounds(day, self.catalog().time_zone);
        let slots: Slots = Arc::new(self.calcom.slots(event_type_id, start, end).await?);
        if self.policy().cache_ttl.is_some() && cache_up && self.redis().await.is_ok() {
            self.cache.put(key, slots.clone(), self.store_now());
        }
        Ok(slots)
    }

    /// Drops the cached week of `event_type_id` holding instant `t`.
    pub(crate) fn invalidate(&self, event_type_id: u64, t: DateTime<Utc>) {
        let monday = crate::dates::monday_of(self.local(t).date());
        self.cache.invalidate((event_type_id, monday));
    }

    /// Takes the lock `key` (over `span` for an interval lock), waiting up to the policy's
    /// `lock_wait`; `None` when it stays taken.
    /// Takes every lock of `locks` in the order given (callers sort them, so two requests
    /// needing the same locks cannot deadlock), waiting up to the policy's `lock_wait` for
    /// all of them together. On a timeout the ones taken are let go and the key that stayed
    /// taken is returned.
    pub(crate) async fn acquire_all(
        &self,
        locks: &[(String, Option<Span>)],
    ) -> Result<LockGuard, LockRefused> {
        let policy = self.policy();
        let ttl = TimeDelta::from_std(policy.lock_ttl).unwrap_or(TimeDelta::MAX);
        let deadline = self
            .now()
            .checked_add_signed(TimeDelta::from_std(policy.lock_wait).unwrap_or(TimeDelta::zero()))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let began = tokio::time::Instant::now();
        let mut guard = LockGuard {
            locks: self.locks.clone(),
            lease: Arc::default(),
            last_attempt: TimeDelta::from_std(policy.create_attempt_max())
                .unwrap_or(TimeDelta::MAX),
            clock: self.store_clock(),
            renewal: None,
        };
        // With fencing the lease is renewed from the first lock on: the first stylist's lock
        // must not lapse while the booking waits for the others.
        let early_renewal = policy.lock_fencing;
        let mut result = Ok(());
        'locks: for (key, span) in locks {
            loop {
                // Redis down: no lock can be had, and none is waited for (Laravel's
                // `block()` throws on a refused connection): the booking is refused.
                let sent = tokio::time::Instant::now();
                if let Err(down) = self.redis().await {
                    result = Err(LockRefused::Down(down));
                    break 'locks;
                }
                let now = self.store_now();
                let until = now
                    .checked_add_signed(ttl)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                // `lock_outlives_create`: no lock while a create sent before Redis lost its
                // locks may be in flight.
                let delayed = policy.lock_outlives_create
                    && self.locks.last_loss().is_some_and(|lost| {
                        let span = |d| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
                        self.in_flight
                            .guarded_until(
                                lost,
                                span(policy.create_in_flight_max()),
                                span(policy.create_attempt_max()),
                            )
                            .is_some_and(|end| now < end)
                    });
                if !delayed && let Some(token) = self.locks.try_acquire(key, *span, now, until) {
                    lock(&guard.lease.tokens).push((token, key.clone(), *span));
                    lock(&guard.lease.confirmed).get_or_insert(sent);
                    lock(&guard.lease.began).get_or_insert(now);
                    if early_renewal && guard.renewal.is_none() {
                        guard.renewal = self.renew(&guard.lease);
                    }
                    break;
                }
                if now + TimeDelta::from_std(LOCK_POLL).unwrap_or_default() > deadline {
                    *lock(&self.lock_timeouts) += 1;
                    result = Err(LockRefused::Taken(key.clone()));
                    break 'locks;
                }
                simkit::time::sleep(LOCK_POLL).await;
            }
        }
        let ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
        lock(&self.lock_waits).push(ms);
        match result {
            Ok(()) => {
                if guard.renewal.is_none() {
                    guard.renewal = self.renew(&guard.lease);
                }
                Ok(guard)
            }
            Err(key) => {
                self.release(guard).await;
                Err(key)
            }
        }
    }

    /// Extends the lease's locks every third of the lock TTL for as long as the task lives
    /// (a lease, as Redlock clients renew theirs): without it a booking that outlasts the TTL
    /// loses its locks while its create is still in flight, and another booking for the same
    /// stylist gets through. If the engine dies, renewal stops and the TTL frees the locks.
    ///
    /// With `lock_fencing` each renewal pays its Redis round trip (the extension lands when
    /// Redis has it, not when it was sent) and a lock Redis no longer holds for this token
    /// (lapsed, taken over) marks the lease lost: the booking learns it at its fence instead
    /// of creating in Cal.com unguarded. Without it (the renewal as first written) renewals
    /// are free and their answer ignored.
    fn renew(&self, lease: &Arc<Lease>) -> Option<tokio::task::AbortHandle> {
        if lock(&lease.tokens).is_empty() || !self.policy().lock_renewal {
            return None;
        }
        let ttl = self.policy().lock_ttl;
        let every = ttl / 3;
        let fencing = self.policy().lock_fencing;
        let retake = self.policy().lock_outlives_create;
        let redis = self.policy().infra.redis.clone();
        let (locks, cache, infra, clock, rng) = (
            self.locks.clone(),
            self.cache.clone(),
            self.infra.clone(),
            self.store_clock(),
            self.lock_rng.clone(),
        );
        let lease = lease.clone();
        let gate = lock(&self.stall).clone();
        let task = tokio::spawn(async move {
            let ttl = TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX);
            loop {
                simkit::time::sleep(every).await;
                stalled(gate.as_ref()).await;
                let sent = tokio::time::Instant::now();
                let wait = if fencing {
                    redis.sample(&mut *lock(&rng))
                } else {
                    Duration::ZERO
                };
                // Redis down: this renewal did not land; the fence before the create asks
                // again, and finds the lock lapsed if it did.
                if infra
                    .round_trip(Part::Redis, wait, Some((&*locks, &*cache)))
                    .await
                    .is_err()
                {
                    continue;
                }
                let now = clock.now();
                let until = now
                    .checked_add_signed(ttl)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                let tokens = lock(&lease.tokens).clone();
                let began = *lock(&lease.began);
                let mut all = true;
                for (token, key, span) in tokens {
                    if locks.extend(token, now, until) {
                        continue;
                    }
                    // Redis forgot the lock (a restart, a failover) after this lease took
                    // it: with `lock_outlives_create` nobody was granted it since (the
                    // lock-delay covers this lease's create), so the holder takes it again
                    // (`SET NX`) and keeps the stylist until it lets go: the work after its
                    // create (the save) stays under the lock that every look at "unsaved"
                    // bookings takes (`lock_if_unsaved`). Taken by another since, it is lost.
                    let forgotten =
                        retake && began.is_some_and(|b| locks.last_loss().is_some_and(|l| l >= b));
                    if forgotten && let Some(again) = locks.try_acquire(&key, span, now, until) {
                        for held in lock(&lease.tokens).iter_mut() {
                            if held.0 == token {
                                held.0 = again;
                            }
                        }
                        continue;
                    }
                    all = false;
                    if fencing {
                        lease.lose(&key);
                    }
                }
                if all {
                    *lock(&lease.confirmed) = Some(sent);
                }
            }
        });
        Some(task.abort_handle())
    }

    /// The fence before an irreversible step (a Cal.com create): with `lock_fencing`, one
    /// Redis round trip that checks every fencing token of `lease` is still the holder of its
    /// key and extends it by a full TTL (Redis: a Lua compare-and-`PEXPIRE`). `Err` names a
    /// lock that was lost (lapsed or taken over, now or noticed by a renewal before): the
    /// step must not run. Without fencing, or without locks, always `Ok`.
    pub(crate) async fn fence(&self, lease: &Lease) -> Result<(), String> {
        if !self.policy().lock_fencing {
            return Ok(());
        }
        let tokens = lock(&lease.tokens).clone();
        if tokens.is_empty() {
            return Ok(());
        }
        // A create may follow from here on: cut off, the locks are not let go.
        *lock(&lease.creating) = true;
        if let Some(key) = lease.lost() {
            return Err(key);
        }
        self.stalled().await;
        let sent = tokio::time::Instant::now();
        let wait = self.policy().infra.redis.sample(&mut *lock(&self.lock_rng));
        // Redis down: whether the locks are still ours cannot be known, so the step must
        // not run (the lease is not marked lost: a later fence may find them held).
        if let Err(down) = self.redis_after(wait).await {
            return Err(format!("{} ({down})", tokens[0].1));
        }
        // `lock_outlives_create`: the step's whole flight is leased at once, so that a lock
        // cannot lapse under a create in flight while Redis is down for its renewals.
        let lease_for = match self.policy().lock_outlives_create {
            true => self
                .policy()
                .lock_ttl
                .max(self.policy().create_in_flight_max()),
            false => self.policy().lock_ttl,
        };
        let ttl = TimeDelta::from_std(lease_for).unwrap_or(TimeDelta::MAX);
        let now = self.store_now();
        let until = now
            .checked_add_signed(ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        for (token, key, _) in tokens {
            if !self.locks.extend(token, now, until) {
                lease.lose(&key);
                return Err(key);
            }
        }
        *lock(&lease.confirmed) = Some(sent);
        lease.lost().map_or(Ok(()), Err)
    }

    /// [`Self::fence`] where it is needed: a lease Redis confirmed less than half a TTL ago
    /// (by this process's monotonic time, which no clock skew touches) is still held, no
    /// round trip needed; one older (the process stalled, Redis slow) is checked again.
    pub(crate) async fn fence_if_stale(&self, lease: &Lease) -> Result<(), String> {
        if !self.policy().lock_fencing {
            return Ok(());
        }
        // Redis forgot the locks (a restart, a failover) after they were taken: with
        // `lock_outlives_create` no lock was granted while this booking's create was in
        // flight, so nobody acted on the stylists meanwhile; the booking stands (undoing it
        // would turn its caller away for nothing).
        let began = *lock(&lease.began);
        if self.policy().lock_outlives_create
            && let (Some(lost), Some(began)) = (self.locks.last_loss(), began)
            && lost >= began
        {
            return Ok(());
        }
        if let Some(key) = lease.lost() {
            return Err(key);
        }
        let confirmed = *lock(&lease.confirmed);
        match confirmed {
            Some(at) if at.elapsed() < self.policy().lock_ttl / 2 => Ok(()),
            None => Ok(()),
            Some(_) => self.fence(lease).await,
        }
    }

    /// Lets go of the locks whose release Redis refused (one round trip, only when there
    /// are any); a token since expired and taken by another holder is not theirs to free.
    async fn release_unreleased_locks(&self) {
        if lock(&self.unreleased_locks).is_empty() || self.redis().await.is_err() {
            return;
        }
        for token in std::mem::take(&mut *lock(&self.unreleased_locks)) {
            self.locks.release(token);
        }
    }

    /// Lets go of the locks `guard` holds (one Redis round trip).
    pub(crate) async fn release(&self, mut guard: LockGuard) {
        if !lock(&guard.lease.tokens).is_empty() {
            match self.redis().await {
                Ok(()) => guard.release_now(),
                // Redis down: released by the background job once it answers (or freed by
                // their TTL, whichever comes first).
                Err(_) => lock(&self.unreleased_locks).extend(guard.abandon()),
            }
        }
    }

    /// What the engine does on its own every 30 s: expire local reservations, retry the
    /// compensating cancels Cal.com refused for now, settle failed bookings' uncertain
    /// creates, and undo creates that landed after their answer was lost.
    pub async fn run_background(self: Arc<Self>) {
        let mut tick = simkit::time::interval(Duration::from_secs(30));
        // Due by the stores' clock, which each round reads (`store_now`): a worker's own
        // clock ahead of it put the first read past the end of the day.
        let mut reconcile_due = self.store_now()
            + self
                .policy()
                .staff_reconcile
                .and_then(|d| chrono::TimeDelta::from_std(d).ok())
                .unwrap_or_default();
        loop {
            tick.tick().await;
            let now = self.store_now();
            let expired = self.reservations.expire_reservations(now);
            if expired > 0 {
                tracing::debug!(expired, "local reservations expired");
            }
            // One at a time, those due when the round starts (one refused again goes to the
            // back, for the next round): the others stay in the outbox, where a create that
            // finds its own booking among them can still keep it (`Engine::create`).
            let due = lock(&self.cancel_outbox).len();
            for _ in 0..due {
                let next = {
                    let mut outbox = lock(&self.cancel_outbox);
                    (!outbox.is_empty()).then(|| outbox.remove(0))
                };
                let Some((uid, reason, left)) = next else {
                    break;
                };
                *lock(&self.cancelling) = Some(uid.clone());
                self.compensate_one(uid, reason, left).await;
                *lock(&self.cancelling) = None;
            }
            let moved = std::mem::take(&mut *lock(&self.moved_outbox));
            for (uid, reason, left) in moved {
                self.follow_undone_move(uid, reason, left).await;
            }
            let uncertain = std::mem::take(&mut *lock(&self.uncertain_outbox));
            for (create, left) in uncertain {
                self.settle_uncertain(create, left).await;
            }
            self.settle_late_creates().await;
            self.retry_releases().await;
            self.release_unreleased_locks().await;
            // Staff changes whose webhook was lost, every `staff_reconcile` (a listing Cal.com
            // refused: again at the next round).
            if let Some(every) = self.policy().staff_reconcile
                && self.policy().follow_staff_changes
                && now >= reconcile_due
                && self.reconcile_staff_changes().await
            {
                reconcile_due = now + chrono::TimeDelta::from_std(every).unwrap_or_default();
            }
        }
    }
}

/// Locks held by one request. Dropped without [`Engine::release`] (a request cancelled
/// mid-booking, a task that panicked, the worker crashed under it) before any create was
/// sent under them, it still lets them go instead of leaving them taken until their TTL.
/// Dropped after a create was sent (`lock_fencing`), it does not: that create may still
/// land in Cal.com, so the locks are left to Redis ([`LockService::abandon`]), held until
/// the create's last attempt is over, as a crashed worker's locks are in the seed system.
pub(crate) struct LockGuard {
    locks: Arc<dyn LockService>,
    lease: Arc<Lease>,
    /// How long a create cut off with the guard may still land: one attempt's bound.
    last_attempt: TimeDelta,
    /// The stores' clock (true time), which lock expiries are read by.
    clock: SharedClock,
    /// Keeps the locks from expiring while their holder still works (a Cal.com create can
    /// outlast the TTL: timeouts, retries, backoff). Ends with the guard.
    renewal: Option<tokio::task::AbortHandle>,
}

impl LockGuard {
    /// The lease the work under these locks fences its irreversible steps with
    /// ([`Engine::fence`]).
    pub(crate) fn fence(&self) -> Arc<Lease> {
        self.lease.clone()
    }

    /// Stops renewing and forgets the locks without releasing them (Redis could not be
    /// reached): their tokens, for a release once it answers.
    fn abandon(&mut self) -> Vec<u64> {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        std::mem::take(&mut *lock(&self.lease.tokens))
            .into_iter()
            .map(|(token, _, _)| token)
            .collect()
    }

    fn release_now(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        let tokens = std::mem::take(&mut *lock(&self.lease.tokens));
        for (token, _, _) in tokens {
            self.locks.release(token);
        }
    }
}

/// Why `acquire_all` took no locks: one stayed taken past the wait, or Redis was down.
#[derive(Debug, Clone)]
pub(crate) enum LockRefused {
    Taken(String),
    Down(Down),
}

impl std::fmt::Display for LockRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockRefused::Taken(key) => write!(f, "{key}"),
            LockRefused::Down(down) => write!(f, "{down}"),
        }
    }
}

/// What one request's locks share with their renewal and their fence: the fencing token of
/// each lock held, with its key, and the key of the first one found lost.
#[derive(Default)]
pub(crate) struct Lease {
    tokens: Mutex<Vec<(u64, String, Option<Span>)>>,
    lost: Mutex<Option<String>>,
    /// When the last request that Redis confirmed for every lock was sent (each lock holds
    /// at least a TTL from then).
    confirmed: Mutex<Option<tokio::time::Instant>>,
    /// When its first lock was taken, by the stores' clock.
    began: Mutex<Option<DateTime<Utc>>>,
    /// A create was (or was about to be) sent under it ([`Engine::fence`]).
    creating: Mutex<bool>,
}

impl Lease {
    /// The lock found lost first, if any.
    pub(crate) fn lost(&self) -> Option<String> {
        lock(&self.lost).clone()
    }

    fn lose(&self, key: &str) {
        lock(&self.lost).get_or_insert_with(|| key.to_owned());
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if *lock(&self.lease.creating) {
            // Its last attempt was sent by now: it lands within one attempt's bound.
            let until = self
                .clock
                .now()
                .checked_add_signed(self.last_attempt)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            for token in self.abandon() {
                self.locks.abandon(token, until);
            }
        } else {
            self.release_now();
        }
    }
}

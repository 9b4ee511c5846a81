//! Redis and the database as parts of the world that misbehave for a while.
//!
//! The engine reaches Redis (its locks and its availability cache) and the database (its
//! appointments and reservations) through their traits ([`crate::lock::LockService`],
//! [`crate::cache::AvailabilityCache`], [`crate::store::AppointmentStore`]); every round trip
//! to them goes through [`Infra::round_trip`], which pays the policy's latency and meets the
//! faults scheduled for that part at that instant:
//!
//! - `slow`: each round trip takes `latency` longer;
//! - `refuse`: the connection is refused at once (Laravel: a `ConnectionException`);
//! - `timeout`: the request hangs `latency` (the client's timeout), then fails;
//! - `pause`: requests hang until the window ends, then complete (a GC or `BGSAVE` stall,
//!   a stopped VM): whatever they read or wrote happens at the end of the pause;
//! - `restart` (Redis): refused for the window, then back **empty** (no persistence): every
//!   lock and every cached week is gone;
//! - `failover` (Redis): refused for the window (the failover's election), then a replica is
//!   primary that missed the writes of the last `lost_writes` before the failover began:
//!   locks taken (and cached weeks written) in that stretch are forgotten. The replica keeps
//!   every earlier lock with the expiry it had, so a renewal lost with it errs on the long
//!   side; and the token counter does not go back (the engine's lock values are unique per
//!   acquisition, as Laravel's random owner strings are), so a holder whose lock was
//!   forgotten can never take someone else's lock for its own.
//!
//! The schedule runs on a clock of its own (the simulation's), so a part misbehaves for the
//! same window whatever the engine's clock says. A round trip that is still under way when an
//! outage begins fails with it (the connection dropped). Without faults ([`Infra::none`], the
//! served engine's), a round trip is the policy's latency and nothing else, drawn as before.
//!
//! Simplifications: a cache invalidation (a Redis `DEL` sent on an internal booking or a
//! webhook) is not a round trip here and always lands, even in an outage; a query that
//! timed out did not run (a real one may have committed).
//!
//! A database failover that loses the last writes is not modelled: a committed appointment
//! that vanishes after Cal.com booked it is an orphan no layer of the engine can see (it
//! cannot tell a lost row from one never written), and only the crash recovery's sweep, at
//! the next restart, would repair it. Modelling it would only show that, so it is left out.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use simkit::SharedClock;

use crate::cache::AvailabilityCache;
use crate::lock::LockService;

/// Which part of the stack a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Redis,
    Database,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Redis => "redis",
            Part::Database => "database",
        }
    }
}

/// How a part misbehaves for its window (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every round trip takes `latency` longer.
    Slow,
    /// Connections are refused.
    Refuse,
    /// Requests hang for `latency` (the client's timeout), then fail.
    Timeout,
    /// Requests hang until the window ends, then complete.
    Pause,
    /// Redis only: down for the window, then back with nothing (no persistence).
    Restart,
    /// Redis only: down for the window, then a replica that missed the last `lost_writes`.
    Failover,
}

impl Mode {
    pub const ALL: [Mode; 6] = [
        Mode::Slow,
        Mode::Refuse,
        Mode::Timeout,
        Mode::Pause,
        Mode::Restart,
        Mode::Failover,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Slow => "slow",
            Mode::Refuse => "refuse",
            Mode::Timeout => "timeout",
            Mode::Pause => "pause",
            Mode::Restart => "restart",
            Mode::Failover => "failover",
        }
    }

    /// Whether the part answers nothing during the window (requests fail).
    fn down(self) -> bool {
        matches!(
            self,
            Mode::Refuse | Mode::Timeout | Mode::Restart | Mode::Failover
        )
    }
}

/// One fault: `part` misbehaves as `mode` over `[from, until)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub part: Part,
    pub mode: Mode,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// `slow`: the added latency; `timeout`: how long a request hangs before it fails.
    pub latency: Duration,
    /// `failover`: how much of the writes before `from` the new primary missed.
    pub lost_writes: Duration,
}

/// A round trip that failed: the part was down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    pub part: Part,
    pub mode: Mode,
}

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.mode {
            Mode::Timeout => "timed out",
            Mode::Restart => "is restarting",
            Mode::Failover => "is failing over",
            _ => "refused the connection",
        };
        write!(f, "{} {what}", self.part.name())
    }
}

/// What one request meets at an instant.
enum Meet {
    /// An answer, after the added latency.
    Answer(Duration),
    /// The part is down: the request fails after this long.
    Fails(Duration, Mode),
}

/// The faults of the engine's Redis and database, on the clock they run by.
pub struct Infra {
    windows: Vec<Window>,
    clock: Option<SharedClock>,
    /// How many of the state losses (restarts, failovers, by `from`) were applied.
    applied: Mutex<usize>,
    /// Round trips that failed, per part.
    failed: Mutex<(u64, u64)>,
}

impl Infra {
    /// No faults: every round trip is the policy's latency.
    pub fn none() -> Arc<Self> {
        Arc::new(Self {
            windows: Vec::new(),
            clock: None,
            applied: Mutex::default(),
            failed: Mutex::default(),
        })
    }

    /// The faults in `windows`, scheduled on `clock`.
    pub fn new(mut windows: Vec<Window>, clock: SharedClock) -> Arc<Self> {
        windows.sort_by_key(|w| (w.from, w.until, w.part));
        Arc::new(Self {
            windows,
            clock: Some(clock),
            applied: Mutex::default(),
            failed: Mutex::default(),
        })
    }

    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// Round trips that failed so far: (Redis, database).
    pub fn failed(&self) -> (u64, u64) {
        *crate::engine::lock(&self.failed)
    }

    fn meet(&self, part: Part, now: DateTime<Utc>) -> Meet {
        let mut added = Duration::ZERO;
        for w in self
            .windows
            .iter()
            .filter(|w| w.part == part && w.from <= now && now < w.until)
        {
            match w.mode {
                Mode::Slow => added += w.latency,
                Mode::Pause => added = added.max((w.until - now).to_std().unwrap_or_default()),
                Mode::Timeout => return Meet::Fails(w.latency, w.mode),
                mode => return Meet::Fails(Duration::ZERO, mode),
            }
        }
        Meet::Answer(added)
    }

    /// The mode of an outage of `part` at `now`, if one is on.
    fn outage(&self, part: Part, now: DateTime<Utc>) -> Option<Mode> {
        self.windows
            .iter()
            .find(|w| w.part == part && w.mode.down() && w.from <= now && now < w.until)
            .map(|w| w.mode)
    }

    /// Applies to Redis's state the restarts and failovers that began by `now` and were not
    /// applied yet. Nothing reaches Redis during their outage, so applying them at the first
    /// round trip after (or at the end of the run) is the same as at their instant.
    pub fn apply_losses(&self, locks: &dyn LockService, cache: &dyn AvailabilityCache) {
        let Some(now) = self.clock.as_ref().map(|c| c.now()) else {
            return;
        };
        let mut applied = crate::engine::lock(&self.applied);
        let due: Vec<&Window> = self
            .windows
            .iter()
            .filter(|w| w.part == Part::Redis && matches!(w.mode, Mode::Restart | Mode::Failover))
            .filter(|w| w.from <= now)
            .collect();
        for w in due.iter().skip(*applied) {
            let since = match w.mode {
                Mode::Restart => DateTime::<Utc>::MIN_UTC,
                _ => w
                    .from
                    .checked_sub_signed(
                        chrono::TimeDelta::from_std(w.lost_writes).unwrap_or_default(),
                    )
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
            };
            tracing::debug!(mode = w.mode.name(), %since, "redis lost its writes");
            locks.lose_writes(since, now);
            cache.forget_since(since);
        }
        *applied = due.len();
    }

    /// One round trip to `part`, whose own latency is `base`: `Err` when the part is down
    /// (refused at once, or after the client's timeout), or goes down before the answer.
    /// `redis`: Redis's state, which restarts and failovers reach first.
    pub async fn round_trip(
        &self,
        part: Part,
        base: Duration,
        redis: Option<(&dyn LockService, &dyn AvailabilityCache)>,
    ) -> Result<(), Down> {
        let Some(clock) = &self.clock else {
            if !base.is_zero() {
                simkit::time::sleep(base).await;
            }
            return Ok(());
        };
        if let Some((locks, cache)) = redis {
            self.apply_losses(locks, cache);
        }
        match self.meet(part, clock.now()) {
            Meet::Fails(after, mode) => {
                if !after.is_zero() {
                    simkit::time::sleep(after).await;
                }
                self.fail(part);
                Err(Down { part, mode })
            }
            Meet::Answer(added) => {
                let wait = base + added;
                if !wait.is_zero() {
                    simkit::time::sleep(wait).await;
                }
                if let Some((locks, cache)) = redis {
                    self.apply_losses(locks, cache);
                }
                match self.outage(part, clock.now()) {
                    Some(mode) => {
                        self.fail(part);
                        Err(Down { part, mode })
                    }
                    None => Ok(()),
                }
            }
        }
    }

    fn fail(&self, part: Part) {
        let mut failed = crate::engine::lock(&self.failed);
        match part {
            Part::Redis => failed.0 += 1,
            Part::Database => failed.1 += 1,
        }
    }
}

/// The Cal.com creates in flight, by when they were sent: what `lock_outlives_create`'s
/// lock-delay waits for after Redis lost locks. Kept where every engine process sees it and
/// a crash does not wipe it (a database table in production; here beside the store, without
/// its latency). A create whose answer came back is struck off. One still being sent by a
/// live process may be in flight for the create's whole bound (every retry). One whose
/// process stopped sending it (the worker crashed under it, or its answer was lost: it may
/// still land) is abandoned: no further attempt follows, so only its last attempt can still
/// land, within one attempt's bound of when it was abandoned (the last attempt was sent
/// before that).
#[derive(Debug, Default)]
pub struct InFlight(Mutex<(u64, std::collections::BTreeMap<u64, Flight>)>);

/// One create in flight: when it was sent and, once its process stopped sending it, when.
#[derive(Debug, Clone, Copy)]
struct Flight {
    sent: DateTime<Utc>,
    abandoned: Option<DateTime<Utc>>,
}

/// A create's entry while its process sends it: dropped without [`FlightGuard::answered`]
/// (the task cut off by a crash, or the answer lost), the entry is marked abandoned.
pub(crate) struct FlightGuard {
    flights: Arc<InFlight>,
    id: u64,
    answered: bool,
    /// The stores' clock (true time), which the entry's times are read by.
    clock: SharedClock,
}

impl FlightGuard {
    /// The create's answer came back: struck off.
    pub(crate) fn answered(mut self) {
        self.answered = true;
        crate::engine::lock(&self.flights.0).1.remove(&self.id);
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        if !self.answered {
            let now = self.clock.now();
            if let Some(f) = crate::engine::lock(&self.flights.0).1.get_mut(&self.id) {
                f.abandoned.get_or_insert(now);
            }
        }
    }
}

impl InFlight {
    /// A create sent now by `clock` (the stores' clock): its entry, held by the process
    /// sending it.
    pub(crate) fn begin(self: &Arc<Self>, clock: SharedClock) -> FlightGuard {
        let now = clock.now();
        let mut t = crate::engine::lock(&self.0);
        t.0 += 1;
        let id = t.0;
        t.1.insert(
            id,
            Flight {
                sent: now,
                abandoned: None,
            },
        );
        FlightGuard {
            flights: self.clone(),
            id,
            answered: false,
            clock,
        }
    }

    /// Until when a create sent before `loss` may still be in flight, `None` when none can:
    /// one still sent by a live process at most `max` after it was sent, an abandoned one
    /// also at most `attempt` after it was abandoned.
    pub(crate) fn guarded_until(
        &self,
        loss: DateTime<Utc>,
        max: chrono::TimeDelta,
        attempt: chrono::TimeDelta,
    ) -> Option<DateTime<Utc>> {
        let mut t = crate::engine::lock(&self.0);
        let end = |f: &Flight| {
            let whole = f.sent.checked_add_signed(max);
            let last = f.abandoned.and_then(|at| at.checked_add_signed(attempt));
            match (whole, last) {
                (Some(w), Some(l)) => w.min(l),
                (w, l) => w.or(l).unwrap_or(DateTime::<Utc>::MAX_UTC),
            }
        };
        t.1.retain(|_, f| end(f) > loss);
        t.1.values().filter(|f| f.sent <= loss).map(end).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::InMemoryCache;
    use crate::lock::InMemoryLocks;
    use chrono::TimeDelta;
    use simkit::clock::ManualClock;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-11-25T11:00:00Z")
            .unwrap()
            .to_utc()
            + TimeDelta::seconds(s)
    }

    fn window(part: Part, mode: Mode, from: i64, until: i64) -> Window {
        Window {
            part,
            mode,
            from: t(from),
            until: t(until),
            latency: Duration::from_secs(2),
            lost_writes: Duration::from_secs(5),
        }
    }

    #[test]
    fn a_window_hits_only_its_part_and_its_time() {
        let clock = ManualClock::new(t(0));
        let infra = Infra::new(
            vec![
                window(Part::Redis, Mode::Refuse, 10, 20),
                window(Part::Database, Mode::Slow, 0, 5),
                window(Part::Database, Mode::Pause, 30, 40),
            ],
            Arc::new(clock.clone()),
        );
        assert!(matches!(infra.meet(Part::Redis, t(9)), Meet::Answer(d) if d.is_zero()));
        assert!(matches!(
            infra.meet(Part::Redis, t(10)),
            Meet::Fails(_, Mode::Refuse)
        ));
        assert!(matches!(infra.meet(Part::Redis, t(20)), Meet::Answer(_)));
        assert!(
            matches!(infra.meet(Part::Database, t(4)), Meet::Answer(d) if d == Duration::from_secs(2))
        );
        assert!(
            matches!(infra.meet(Part::Database, t(35)), Meet::Answer(d) if d == Duration::from_secs(5)),
            "a pause holds the request to its end"
        );
        assert_eq!(infra.outage(Part::Database, t(35)), None);
    }

    #[test]
    fn a_restart_forgets_every_lock_and_a_failover_only_the_latest() {
        let clock = ManualClock::new(t(0));
        let locks = InMemoryLocks::default();
        let cache = InMemoryCache::default();
        let infra = Infra::new(
            vec![
                window(Part::Redis, Mode::Failover, 100, 101),
                window(Part::Redis, Mode::Restart, 200, 201),
            ],
            Arc::new(clock.clone()),
        );
        let far = t(1000);
        let old = locks.try_acquire("old", None, t(90), far).unwrap();
        let new = locks.try_acquire("new", None, t(97), far).unwrap();
        clock.set(t(150));
        assert_eq!(locks.last_loss(), None);
        infra.apply_losses(&locks, &cache);
        assert_eq!(locks.last_loss(), Some(t(150)), "noticed when applied");
        assert!(
            locks.extend(old, t(150), far),
            "taken before the lost stretch"
        );
        assert!(
            !locks.extend(new, t(150), far),
            "taken in the last 5 s: forgotten"
        );
        let again = locks.try_acquire("new", None, t(150), far).unwrap();
        assert!(again > new, "tokens never go back");
        infra.apply_losses(&locks, &cache);
        assert!(locks.extend(again, t(150), far), "applied once");
        clock.set(t(201));
        infra.apply_losses(&locks, &cache);
        assert!(
            locks.held(t(201)).is_empty(),
            "a restart forgets everything"
        );
    }

    #[test]
    fn the_lock_delay_waits_only_for_creates_sent_before_the_loss() {
        let flights = Arc::new(InFlight::default());
        let clock = ManualClock::new(t(0));
        let shared: SharedClock = Arc::new(clock.clone());
        let (max, attempt) = (TimeDelta::seconds(100), TimeDelta::seconds(30));
        flights.begin(shared.clone()).answered();
        assert_eq!(
            flights.guarded_until(t(10), max, attempt),
            None,
            "answered: not in flight"
        );
        clock.set(t(5));
        let sending = flights.begin(shared.clone());
        clock.set(t(20));
        let _later = flights.begin(shared.clone());
        assert_eq!(
            flights.guarded_until(t(10), max, attempt),
            Some(t(105)),
            "a live process may send it until its whole bound"
        );
        sending.answered();
        assert_eq!(
            flights.guarded_until(t(10), max, attempt),
            None,
            "one sent after the loss was fenced after it"
        );
    }

    #[test]
    fn an_abandoned_create_is_in_flight_only_for_its_last_attempt() {
        let flights = Arc::new(InFlight::default());
        let clock = ManualClock::new(t(5));
        let shared: SharedClock = Arc::new(clock.clone());
        let (max, attempt) = (TimeDelta::seconds(100), TimeDelta::seconds(30));
        let crashed = flights.begin(shared.clone());
        clock.set(t(6));
        let live = flights.begin(shared.clone());
        assert_eq!(flights.guarded_until(t(10), max, attempt), Some(t(106)));
        // Cut off at 40 (its last attempt was sent before): it lands by 70.
        clock.set(t(40));
        drop(live);
        drop(crashed);
        assert_eq!(flights.guarded_until(t(10), max, attempt), Some(t(70)));
        // Abandoned close to its whole bound: the whole bound still holds.
        clock.set(t(8));
        let late = flights.begin(shared.clone());
        clock.set(t(95));
        drop(late);
        assert_eq!(flights.guarded_until(t(10), max, attempt), Some(t(108)));
    }
}

//! `[engine]` and `[clocks]`: the engine as several workers behind one URL (the seed
//! system's PHP workers sharing Redis and the database), a worker crashing or stalling while
//! the others go on, and hosts whose clocks disagree.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use simkit::limits::{self, Checked, DAY, HOUR};

/// Most workers a world may run (each is a turmoil host: the cost grows with hosts).
pub const MAX_WORKERS: u32 = 16;

/// Largest clock offset a host may have (either way).
pub const MAX_OFFSET_MS: i64 = 3_600_000;

/// Largest clock drift (parts per million, either way): 1000 ppm is 86 s a day, far worse
/// than any NTP-less server's quartz.
pub const MAX_DRIFT_PPM: f64 = 1000.0;

/// `[engine]`: how the engine runs. `workers = 4` runs four engine processes over the same
/// Redis (locks, cache) and database (appointments, reservations); Retell's function calls,
/// their retries and the salon's channel are spread over them by `balancer`. Cal.com's
/// webhooks go to worker 0 (the URL the subscription names).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSpec {
    /// Engine workers (1-16); 1 is the single engine host.
    pub workers: u32,
    /// How a request picks its worker.
    pub balancer: Balancer,
    /// Faults of single workers (`engine_crash` in `[[faults]]` takes all of them down).
    pub faults: Vec<WorkerFault>,
}

impl Default for EngineSpec {
    fn default() -> Self {
        Self {
            workers: 1,
            balancer: Balancer::RoundRobin,
            faults: Vec::new(),
        }
    }
}

/// How the load balancer in front of the workers picks one for each request (a retry is a
/// new request: it may land elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Balancer {
    /// Each request to the next worker in turn.
    RoundRobin,
    /// Each request to a worker drawn from the run's seed.
    Random,
}

/// A fault of one engine worker, at `at` from the simulation's start.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum WorkerFault {
    /// Worker `worker` dies (its in-flight requests are lost, its in-process memory too)
    /// and restarts `restart_after` later; the others go on.
    WorkerCrash {
        worker: u32,
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        at: Duration,
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        restart_after: Duration,
    },
    /// Worker `worker` stalls for `duration` (a GC or CPU pause): none of its Redis,
    /// database or request work, nor its lock renewals, progress until the pause ends.
    WorkerStall {
        worker: u32,
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        at: Duration,
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        duration: Duration,
    },
}

impl WorkerFault {
    /// When the fault is over.
    pub fn end(&self) -> Duration {
        match *self {
            WorkerFault::WorkerCrash {
                at, restart_after, ..
            } => at + restart_after,
            WorkerFault::WorkerStall { at, duration, .. } => at + duration,
        }
    }

    pub fn worker(&self) -> u32 {
        match *self {
            WorkerFault::WorkerCrash { worker, .. } | WorkerFault::WorkerStall { worker, .. } => {
                worker
            }
        }
    }
}

/// A host's clock against true time: `offset_ms` ahead (negative: behind) at the start,
/// drifting `drift_ppm` microseconds a second from there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Skew {
    /// Milliseconds ahead of true time at the start (-3600000 to 3600000).
    pub offset_ms: i64,
    /// Parts per million the clock gains (negative: loses), -1000 to 1000.
    pub drift_ppm: f64,
}

impl Skew {
    pub fn is_zero(&self) -> bool {
        self.offset_ms == 0 && self.drift_ppm == 0.0
    }

    fn check(&self, field: &str) -> Checked {
        if !(-MAX_OFFSET_MS..=MAX_OFFSET_MS).contains(&self.offset_ms) {
            return Err(limits::OutOfRange::new(
                format!("{field}.offset_ms"),
                self.offset_ms,
                format!("{}..={MAX_OFFSET_MS} (an hour either way)", -MAX_OFFSET_MS),
            ));
        }
        limits::number(
            &format!("{field}.drift_ppm"),
            self.drift_ppm,
            -MAX_DRIFT_PPM,
            MAX_DRIFT_PPM,
        )
    }
}

/// `[clocks]`: how far each host's clock is off. Redis and the database keep true time
/// (lock, cache and reservation expiry are theirs to enforce).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Clocks {
    /// Engine worker `i`'s clock is `engine[i % len]` (empty: true time).
    pub engine: Vec<Skew>,
    /// Cal.com's clock: what it calls past, when its reservations lapse, `createdAt`.
    pub calcom: Skew,
    /// Retell's clock: what its request signatures are dated by.
    pub retell: Skew,
}

impl Clocks {
    /// Engine worker `i`'s skew.
    pub fn worker(&self, i: u32) -> Skew {
        if self.engine.is_empty() {
            return Skew::default();
        }
        self.engine[i as usize % self.engine.len()]
    }

    pub fn is_zero(&self) -> bool {
        self.engine.iter().all(Skew::is_zero) && self.calcom.is_zero() && self.retell.is_zero()
    }
}

/// The ranges of `[engine]` and `[clocks]`; `max` bounds fault instants.
pub fn check(engine: &EngineSpec, clocks: &Clocks, max: Duration) -> Checked {
    limits::count(
        "engine.workers",
        u64::from(engine.workers),
        1,
        u64::from(MAX_WORKERS),
    )?;
    for (i, f) in engine.faults.iter().enumerate() {
        let at = format!("engine.faults[{i}]");
        limits::count(
            &format!("{at}.worker"),
            u64::from(f.worker()),
            0,
            u64::from(engine.workers - 1),
        )?;
        match *f {
            WorkerFault::WorkerCrash {
                at: t,
                restart_after,
                ..
            } => {
                limits::duration(&format!("{at}.at"), t, Duration::ZERO, max)?;
                limits::duration(
                    &format!("{at}.restart_after"),
                    restart_after,
                    Duration::ZERO,
                    DAY,
                )?;
            }
            WorkerFault::WorkerStall {
                at: t, duration, ..
            } => {
                limits::duration(&format!("{at}.at"), t, Duration::ZERO, max)?;
                limits::duration(&format!("{at}.duration"), duration, Duration::ZERO, HOUR)?;
            }
        }
    }
    limits::count("clocks.engine", clocks.engine.len() as u64, 0, 64)?;
    for (i, s) in clocks.engine.iter().enumerate() {
        s.check(&format!("clocks.engine[{i}]"))?;
    }
    clocks.calcom.check("clocks.calcom")?;
    clocks.retell.check("clocks.retell")
}

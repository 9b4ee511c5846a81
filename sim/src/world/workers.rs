//! The engine as N workers (the seed system's PHP workers behind one URL): their hosts, the
//! load balancer in front of them, their clocks and their stalls.
//!
//! Each worker is a turmoil host running the same engine code with its own in-process memory
//! (the sync queue, the compensation outboxes, the Cal.com holds it made, its HTTP client)
//! over the SAME backends: one lock store and cache (Redis), one appointment and reservation
//! store (the database), whose clock is true time. Every worker runs its own background job
//! (reservation expiry over the shared store is idempotent; the outboxes it works through
//! are its own memory, which no other worker can see) and, after its own crash, its own
//! recovery. Cal.com's webhooks go to worker 0, the URL the subscription names.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use booking_engine::Engine;
use booking_engine::calcom::CalcomSample;
use booking_engine::engine::EngineStats;
use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use simkit::seed::StreamRng;
use simkit::{SeedStreams, SharedClock, SimClock};

use crate::scenario::workers::{Balancer, Skew, WorkerFault};

/// Worker `i`'s host name: `engine` for the first (a world of one worker is the world as it
/// always was), `engine-1`, `engine-2`, ... for the others.
pub fn host(i: u32) -> String {
    if i == 0 {
        "engine".into()
    } else {
        format!("engine-{i}")
    }
}

/// Worker `i`'s random streams: the first keeps the single engine's.
pub fn streams(seed: SeedStreams, i: u32) -> SeedStreams {
    seed.derive(&host(i))
}

/// The load balancer in front of the workers: each request (a retry too) to the next in
/// turn, or to one drawn from the run's own stream.
pub struct Balance {
    hosts: Vec<String>,
    mode: Balancer,
    state: Mutex<(usize, StreamRng)>,
}

impl Balance {
    pub fn new(workers: u32, mode: Balancer, seed: SeedStreams) -> Self {
        Balance {
            hosts: (0..workers).map(host).collect(),
            mode,
            state: Mutex::new((0, seed.stream("balancer"))),
        }
    }

    /// The worker host the next request goes to.
    pub fn pick(&self) -> &str {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let i = match self.mode {
            Balancer::RoundRobin => {
                let i = state.0 % self.hosts.len();
                state.0 += 1;
                i
            }
            Balancer::Random => state.1.random_range(0..self.hosts.len()),
        };
        &self.hosts[i]
    }

    /// `path` on the next worker, e.g. `http://engine-2/api/appointments`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.pick())
    }
}

/// A host's clock: true (simulated) time, skewed as `skew` says from `origin` on.
pub fn clock(skew: Skew, origin: DateTime<Utc>) -> SharedClock {
    if skew.is_zero() {
        return Arc::new(SimClock::new());
    }
    Arc::new(simkit::clock::SkewedClock::new(
        Arc::new(SimClock::new()),
        origin,
        TimeDelta::milliseconds(skew.offset_ms),
        skew.drift_ppm,
    ))
}

/// The stall windows `(from, until)` (simulation time) of worker `i`.
pub fn stalls(faults: &[WorkerFault], i: u32) -> Vec<(Duration, Duration)> {
    faults
        .iter()
        .filter_map(|f| match *f {
            WorkerFault::WorkerStall {
                worker,
                at,
                duration,
            } if worker == i => Some((at, at + duration)),
            _ => None,
        })
        .collect()
}

/// The gate a worker's engine waits at while one of `windows` is on: how long is left of
/// the stall the simulation is in now.
pub fn stall_gate(windows: Vec<(Duration, Duration)>) -> booking_engine::engine::StallGate {
    Arc::new(move || {
        let now = turmoil::sim_elapsed().unwrap_or_default();
        windows
            .iter()
            .filter(|(from, until)| *from <= now && now < *until)
            .map(|(_, until)| *until - now)
            .max()
            .unwrap_or_default()
    })
}

/// What the workers did, as one engine: the first's counters (the cache's and the locks'
/// are the shared stores', counted once) plus the others' own, their Cal.com requests
/// re-stamped from each worker's clock to true time (within a millisecond), their lock waits.
pub fn merged(
    engines: &[(Arc<Engine>, Skew)],
    origin: DateTime<Utc>,
) -> (EngineStats, Vec<CalcomSample>, Vec<u64>) {
    let (first, _) = &engines[0];
    let mut stats = first.stats();
    if engines.len() == 1 && engines[0].1.is_zero() {
        return (stats, first.calcom_samples(), first.lock_waits());
    }
    let (mut samples, mut waits) = (Vec::new(), Vec::new());
    for (i, (engine, skew)) in engines.iter().enumerate() {
        if i > 0 {
            let own = engine.stats();
            stats.lock_timeouts += own.lock_timeouts;
            stats.calcom_retries += own.calcom_retries;
            stats.compensations += own.compensations;
            stats.reconciled += own.reconciled;
            stats.recovered += own.recovered;
            stats.webhooks_accepted += own.webhooks_accepted;
            stats.webhooks_rejected += own.webhooks_rejected;
        }
        let origin_ms = origin.timestamp_millis();
        let p = skew.drift_ppm / 1e6;
        samples.extend(engine.calcom_samples().into_iter().map(|mut s| {
            // s = t + offset + (t - origin)·p, solved for t.
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let t = origin_ms
                + ((s.at_ms - origin_ms - skew.offset_ms) as f64 / (1.0 + p)).round() as i64;
            s.at_ms = t;
            s
        }));
        waits.extend(engine.lock_waits());
    }
    samples.sort_by_key(|s| s.at_ms);
    (stats, samples, waits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_visits_every_worker_in_turn_and_random_spreads() {
        let rr = Balance::new(3, Balancer::RoundRobin, SeedStreams::new(1));
        let picks: Vec<String> = (0..6).map(|_| rr.pick().to_owned()).collect();
        assert_eq!(
            picks,
            [
                "engine", "engine-1", "engine-2", "engine", "engine-1", "engine-2"
            ]
        );
        let random = Balance::new(4, Balancer::Random, SeedStreams::new(7));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(random.pick().to_owned());
        }
        assert_eq!(seen.len(), 4, "every worker gets requests: {seen:?}");
        let again = Balance::new(4, Balancer::Random, SeedStreams::new(7));
        let first: Vec<String> = (0..20).map(|_| again.pick().to_owned()).collect();
        let replay = Balance::new(4, Balancer::Random, SeedStreams::new(7));
        let second: Vec<String> = (0..20).map(|_| replay.pick().to_owned()).collect();
        assert_eq!(first, second, "same seed, same picks");
    }

    #[test]
    fn stall_windows_belong_to_their_worker() {
        let faults = vec![
            WorkerFault::WorkerStall {
                worker: 1,
                at: Duration::from_secs(5),
                duration: Duration::from_secs(3),
            },
            WorkerFault::WorkerCrash {
                worker: 1,
                at: Duration::from_secs(9),
                restart_after: Duration::from_secs(1),
            },
        ];
        assert_eq!(
            stalls(&faults, 1),
            [(Duration::from_secs(5), Duration::from_secs(8))]
        );
        assert!(stalls(&faults, 0).is_empty());
    }
}

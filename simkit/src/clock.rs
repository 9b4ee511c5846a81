//! Time reaches code through a [`Clock`] it is given, never through the wall clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current instant in UTC.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// A clock shared between the parts of one component.
pub type SharedClock = Arc<dyn Clock>;

/// Wall-clock time as seen by a tokio runtime: an anchor instant in UTC plus the time tokio
/// says has elapsed since the clock was made. For real-time processes ([`TokioClock::real_time`])
/// and paused-runtime tests; simulated components use [`SimClock`].
pub struct TokioClock {
    anchor_utc: DateTime<Utc>,
    anchor: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `anchor_utc` now and advances with the current tokio runtime.
    pub fn anchored(anchor_utc: DateTime<Utc>) -> Self {
        Self {
            anchor_utc,
            anchor: tokio::time::Instant::now(),
        }
    }

    /// Inside a turmoil simulation: anchored at the simulation's epoch plus its elapsed time,
    /// so every host agrees on "now" (also after a host restart).
    ///
    /// # Panics
    /// Outside a turmoil simulation.
    pub fn simulated() -> Self {
        let since_epoch =
            turmoil::since_epoch().expect("TokioClock::simulated outside a simulation");
        let anchor_utc = DateTime::<Utc>::UNIX_EPOCH
            + TimeDelta::from_std(since_epoch).expect("simulation epoch out of range");
        Self::anchored(anchor_utc)
    }

    /// Real time: anchored at the wall clock. Only for real-time processes (standalone servers).
    #[allow(clippy::disallowed_methods)] // reason: the one place real time enters a real-time process
    pub fn real_time() -> Self {
        Self::anchored(Utc::now())
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.anchor.elapsed();
        self.anchor_utc + TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::MAX)
    }
}

/// The simulation's clock: turmoil's global virtual time (its epoch plus elapsed time), the
/// same on every host and after a host restart. Read after the simulation has ended (to take
/// the final ground truth), it answers the last instant it saw, so results stay deterministic.
#[derive(Debug, Default)]
pub struct SimClock {
    last_micros: AtomicI64,
}

impl SimClock {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        let micros = match turmoil::since_epoch() {
            Some(d) => {
                let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
                self.last_micros.store(micros, Ordering::Relaxed);
                micros
            }
            None => self.last_micros.load(Ordering::Relaxed),
        };
        DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }
}

/// A clock that moves only when told: for unit tests of time-dependent rules.
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.0.lock().expect("clock poisoned");
        *now += TimeDelta::from_std(by).expect("advance out of range");
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().expect("clock poisoned") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock poisoned")
    }
}

/// A host's clock that disagrees with true time: `offset` ahead (negative: behind) at
/// `origin`, gaining `drift_ppm` microseconds per second of true time from there (an NTP-less
/// server's quartz, a VM whose clock jumped).
pub struct SkewedClock {
    base: SharedClock,
    origin: DateTime<Utc>,
    offset: TimeDelta,
    drift_ppm: f64,
}

impl SkewedClock {
    pub fn new(
        base: SharedClock,
        origin: DateTime<Utc>,
        offset: TimeDelta,
        drift_ppm: f64,
    ) -> Self {
        Self {
            base,
            origin,
            offset,
            drift_ppm,
        }
    }
}

impl Clock for SkewedClock {
    fn now(&self) -> DateTime<Utc> {
        let now = self.base.now();
        let since = (now - self.origin).num_microseconds().unwrap_or(0);
        // Whole microseconds, rounded toward zero: the same instant on every platform.
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let drift = (since as f64 * self.drift_ppm / 1e6) as i64;
        now + self.offset + TimeDelta::microseconds(drift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2025-11-21T09:00:00Z")
            .unwrap()
            .to_utc();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(std::time::Duration::from_millis(1500));
        assert_eq!(clock.now(), start + TimeDelta::milliseconds(1500));
    }

    #[test]
    fn sim_clock_is_the_simulations_virtual_time_on_every_host() {
        let epoch = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_763_971_200);
        let clock = Arc::new(SimClock::new());
        let mut sim = turmoil::Builder::new()
            .epoch(epoch)
            .simulation_duration(std::time::Duration::from_secs(120))
            .build();
        let seen = clock.clone();
        sim.client("a", async move {
            crate::time::sleep(std::time::Duration::from_secs(90)).await;
            assert_eq!(seen.now().to_rfc3339(), "2025-11-24T08:01:30+00:00");
            Ok(())
        });
        sim.run().unwrap();
        // After the run it keeps the last instant it saw.
        assert_eq!(clock.now().to_rfc3339(), "2025-11-24T08:01:30+00:00");
    }

    #[test]
    fn skewed_clock_is_offset_and_drifts_from_its_origin() {
        let start = DateTime::parse_from_rfc3339("2025-11-21T09:00:00Z")
            .unwrap()
            .to_utc();
        let base = ManualClock::new(start);
        let skewed = SkewedClock::new(
            Arc::new(base.clone()),
            start,
            TimeDelta::seconds(-30),
            1000.0,
        );
        assert_eq!(skewed.now(), start - TimeDelta::seconds(30));
        base.advance(std::time::Duration::from_secs(1000));
        // 1000 s at 1000 ppm: one second gained.
        assert_eq!(skewed.now(), start + TimeDelta::seconds(1000 - 30 + 1));
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_the_runtimes_virtual_time() {
        let start = DateTime::parse_from_rfc3339("2025-11-21T09:00:00Z")
            .unwrap()
            .to_utc();
        let clock = TokioClock::anchored(start);
        crate::time::sleep(std::time::Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + TimeDelta::seconds(90));
    }
}

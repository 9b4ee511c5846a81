//! The seeded Poisson injector: bookings that appear behind the application's back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use rand::Rng;

use crate::mock::{ExternalBooking, MockCalcom};
use crate::model::SlotQuery;

/// Runs forever: the injector of the world loaded, started over whenever another is.
pub async fn run_injector(mock: Arc<MockCalcom>) {
    let mut generations = mock.generations();
    loop {
        tokio::select! {
            biased;
            changed = generations.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = inject(mock.clone()) => {}
        }
    }
}

/// Runs forever (idle when the rate is zero): after each exponential gap, books a uniformly
/// chosen free slot of a configured event type.
async fn inject(mock: Arc<MockCalcom>) {
    let cfg = mock.config().external.clone();
    if cfg.rate_per_hour <= 0.0 {
        return std::future::pending().await;
    }
    let mut rng = mock.seed().stream("calcom.external");
    let event_types: Vec<u64> = if cfg.event_types.is_empty() {
        mock.with_world(|w| w.event_types().map(|e| e.id).collect())
    } else {
        cfg.event_types.clone()
    };
    if event_types.is_empty() {
        return std::future::pending().await;
    }
    let mean_gap_secs = 3600.0 / cfg.rate_per_hour;
    let mut n = 0u64;
    loop {
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        simkit::time::sleep(Duration::from_secs_f64(-u.ln() * mean_gap_secs)).await;
        let event_type_id = event_types[rng.random_range(0..event_types.len())];
        let now = mock.now();
        let from = now + TimeDelta::from_std(cfg.lead).unwrap_or_default();
        let to = now + TimeDelta::from_std(cfg.horizon).unwrap_or_default();
        let slots = mock
            .with_world(|w| w.available_slots(&SlotQuery::new(event_type_id, from, to), now, now))
            .unwrap_or_default();
        if slots.is_empty() {
            continue;
        }
        let slot = slots[rng.random_range(0..slots.len())];
        n += 1;
        let _ = mock.book_external(ExternalBooking {
            event_type_id,
            start: slot.start,
            length_minutes: None,
            host_id: None,
            attendee_name: format!("Laufkundschaft {n}"),
            metadata: BTreeMap::new(),
            force: false,
        });
    }
}

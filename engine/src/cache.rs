//! The availability cache of the seed system: Cal.com slots per event type and week, kept
//! for a TTL (60 s in the seeds), dropped on internal bookings and, as a fix, on webhooks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// `calcom_availability:{eventTypeId}:{weekStart}`.
pub type CacheKey = (u64, NaiveDate);

/// Slot start times as Cal.com listed them.
pub type Slots = Arc<Vec<DateTime<Utc>>>;

/// Hits, misses and invalidations so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounters {
    pub hits: u64,
    pub misses: u64,
    pub invalidations: u64,
}

/// Where cached availability lives (Redis in the seed system).
pub trait AvailabilityCache: Send + Sync {
    /// The cached slots for `key` if fetched less than `ttl` ago.
    fn get(&self, key: CacheKey, ttl: TimeDelta, now: DateTime<Utc>) -> Option<Slots>;
    fn put(&self, key: CacheKey, slots: Slots, now: DateTime<Utc>);
    fn invalidate(&self, key: CacheKey);
    fn counters(&self) -> CacheCounters;
    /// Redis lost every write from `since` on (a restart, a failover): entries put since
    /// are gone.
    fn forget_since(&self, since: DateTime<Utc>);
}

/// The cache in the engine's memory.
#[derive(Debug, Default)]
pub struct InMemoryCache(Mutex<Entries>);

#[derive(Debug, Default)]
struct Entries {
    entries: BTreeMap<CacheKey, (DateTime<Utc>, Slots)>,
    counters: CacheCounters,
}

impl InMemoryCache {
    fn inner(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl AvailabilityCache for InMemoryCache {
    fn get(&self, key: CacheKey, ttl: TimeDelta, now: DateTime<Utc>) -> Option<Slots> {
        let mut inner = self.inner();
        let found = match inner.entries.get(&key) {
            Some((fetched, slots)) if now - *fetched < ttl => Some(slots.clone()),
            _ => None,
        };
        match found {
            Some(_) => inner.counters.hits += 1,
            None => inner.counters.misses += 1,
        }
        found
    }

    fn put(&self, key: CacheKey, slots: Slots, now: DateTime<Utc>) {
        self.inner().entries.insert(key, (now, slots));
    }

    fn invalidate(&self, key: CacheKey) {
        let mut inner = self.inner();
        if inner.entries.remove(&key).is_some() {
            inner.counters.invalidations += 1;
        }
    }

    fn counters(&self) -> CacheCounters {
        self.inner().counters
    }

    fn forget_since(&self, since: DateTime<Utc>) {
        self.inner().entries.retain(|_, (put, _)| *put < since);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_for_the_ttl_and_die_on_invalidation() {
        let t0 = DateTime::parse_from_rfc3339("2025-11-21T10:00:00Z")
            .unwrap()
            .to_utc();
        let key = (1001, NaiveDate::from_ymd_opt(2025, 11, 24).unwrap());
        let ttl = TimeDelta::seconds(60);
        let cache = InMemoryCache::default();
        assert!(cache.get(key, ttl, t0).is_none());
        cache.put(key, Arc::new(vec![t0]), t0);
        assert!(cache.get(key, ttl, t0 + TimeDelta::seconds(59)).is_some());
        assert!(
            cache.get(key, ttl, t0 + TimeDelta::seconds(60)).is_none(),
            "stale after the TTL"
        );
        cache.put(key, Arc::new(vec![t0]), t0);
        cache.invalidate(key);
        assert!(cache.get(key, ttl, t0).is_none());
        let c = cache.counters();
        assert_eq!((c.hits, c.misses, c.invalidations), (1, 3, 1));
    }
}

//! The availability cache of the seed system: Cal.com slots per event type and week, kept
//! for a TTL (60 s in the seeds), dropped on internal bookings and, as a fix, on webhooks.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// `calcom_availability:{eventTypeId}:{weekStart}`.
pub type CacheKey = (u64, NaiveDate);

/// Slot start times as Cal.com listed them.
pub type Slots = Arc<Vec<DateTime<Utc>>>;

#[derive(Debug, Default)]
pub struct AvailabilityCache {
    entries: BTreeMap<CacheKey, (DateTime<Utc>, Slots)>,
    pub hits: u64,
    pub misses: u64,
    pub invalidations: u64,
}

impl AvailabilityCache {
    /// The cached slots for `key` if fetched less than `ttl` ago.
    pub fn get(&mut self, key: CacheKey, ttl: TimeDelta, now: DateTime<Utc>) -> Option<Slots> {
        match self.entries.get(&key) {
            Some((fetched, slots)) if now - *fetched < ttl => {
                self.hits += 1;
                Some(slots.clone())
            }
            _ => {
                self.misses += 1;
                None
            }
        }
    }

    pub fn put(&mut self, key: CacheKey, slots: Slots, now: DateTime<Utc>) {
        self.entries.insert(key, (now, slots));
    }

    pub fn invalidate(&mut self, key: CacheKey) {
        if self.entries.remove(&key).is_some() {
            self.invalidations += 1;
        }
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
        let mut cache = AvailabilityCache::default();
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
        assert_eq!((cache.hits, cache.misses, cache.invalidations), (1, 3, 1));
    }
}

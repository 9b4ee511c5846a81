//! Cal.com's throttler: `limit` requests per `window` per key, counted from the first
//! request of a window; the request that exceeds the limit blocks the key for `block`.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::config::RateLimitConfig;

/// The verdict on one request and what the `X-RateLimit-*-Default` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets or the block ends.
    pub reset_seconds: u64,
}

#[derive(Debug, Clone)]
struct KeyState {
    window_start: DateTime<Utc>,
    hits: u32,
    blocked_until: Option<DateTime<Utc>>,
}

/// One block the throttler imposed: from the request that exceeded the limit until requests
/// of that key are counted again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleBlock {
    /// The API key's first characters, or `ip:` and the client's address.
    pub key: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// Blocks remembered at most (the first ones; a key is blocked at most once per `block`).
pub const MAX_BLOCKS: usize = 10_000;

/// Keys tracked at most. Idle keys (window over, not blocked) are dropped when the table is
/// full; beyond that, new keys share one bucket instead of growing the table.
pub const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct RateLimiter {
    config: RateLimitConfig,
    keys: BTreeMap<String, KeyState>,
    /// After a prune that freed nothing, none is tried again before this (each costs a
    /// pass over the table).
    no_prune_before: Option<DateTime<Utc>>,
    blocks: Vec<ThrottleBlock>,
}

fn ceil_seconds(d: TimeDelta) -> u64 {
    let ms = d.num_milliseconds().max(0) as u64;
    ms.div_ceil(1000)
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            keys: BTreeMap::new(),
            no_prune_before: None,
            blocks: Vec::new(),
        }
    }

    /// The blocks imposed so far, in the order they began.
    pub fn blocks(&self) -> &[ThrottleBlock] {
        &self.blocks
    }

    /// Keys tracked now.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// Counts one request by `key` at `now`.
    pub fn hit(&mut self, key: &str, now: DateTime<Utc>) -> RateDecision {
        let limit = self.config.limit;
        if !self.config.enabled {
            return RateDecision {
                allowed: true,
                limit,
                remaining: limit,
                reset_seconds: 0,
            };
        }
        let window = TimeDelta::from_std(self.config.window).unwrap_or(TimeDelta::MAX);
        let block = TimeDelta::from_std(self.config.block).unwrap_or(TimeDelta::MAX);
        let mut key = key;
        if !self.keys.contains_key(key) && self.keys.len() >= MAX_KEYS {
            if self.no_prune_before.is_none_or(|t| now >= t) {
                self.keys.retain(|_, s| {
                    s.blocked_until.is_some_and(|until| now < until)
                        || now < s.window_start + window
                });
                self.no_prune_before = (self.keys.len() >= MAX_KEYS).then(|| now + window);
            }
            if self.keys.len() >= MAX_KEYS {
                key = "overflow";
            }
        }
        let state = self.keys.entry(key.to_owned()).or_insert(KeyState {
            window_start: now,
            hits: 0,
            blocked_until: None,
        });
        if let Some(until) = state.blocked_until {
            if now < until {
                return RateDecision {
                    allowed: false,
                    limit,
                    remaining: 0,
                    reset_seconds: ceil_seconds(until - now),
                };
            }
            *state = KeyState {
                window_start: now,
                hits: 0,
                blocked_until: None,
            };
        }
        if now >= state.window_start + window {
            state.window_start = now;
            state.hits = 0;
        }
        state.hits += 1;
        if state.hits > limit {
            state.blocked_until = Some(now + block);
            if self.blocks.len() < MAX_BLOCKS {
                let shown = if key.starts_with("ip:") {
                    key.to_owned()
                } else {
                    format!("{}…", key.chars().take(8).collect::<String>())
                };
                self.blocks.push(ThrottleBlock {
                    key: shown,
                    from: now,
                    until: now + block,
                });
            }
            return RateDecision {
                allowed: false,
                limit,
                remaining: 0,
                reset_seconds: ceil_seconds(block),
            };
        }
        RateDecision {
            allowed: true,
            limit,
            remaining: limit - state.hits,
            reset_seconds: ceil_seconds(state.window_start + window - now),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_of_keys_stays_bounded_and_forgets_idle_keys() {
        let mut limiter = RateLimiter::new(RateLimitConfig::default());
        let start = DateTime::parse_from_rfc3339("2025-11-21T10:00:00Z")
            .unwrap()
            .to_utc();
        for i in 0..(MAX_KEYS + 5000) {
            limiter.hit(&format!("cal_{i}"), start);
        }
        assert!(limiter.keys() <= MAX_KEYS + 1, "{}", limiter.keys());
        // A window later the idle keys go as soon as a new one needs the room.
        let later = start + TimeDelta::seconds(61);
        for i in 0..20 {
            limiter.hit(&format!("new_{i}"), later);
        }
        assert!(limiter.keys() < 100, "{}", limiter.keys());
    }

    use super::*;
    use std::time::Duration;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-11-21T10:00:00Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn the_121st_request_in_a_minute_blocks_the_key_for_60_seconds() {
        let mut limiter = RateLimiter::new(RateLimitConfig::default());
        for i in 0..120 {
            let d = limiter.hit("cal_key", t0() + TimeDelta::milliseconds(i * 100));
            assert!(d.allowed, "request {} refused", i + 1);
            assert_eq!(d.remaining, 119 - i as u32);
        }
        let at = t0() + TimeDelta::seconds(30);
        let refused = limiter.hit("cal_key", at);
        assert_eq!(
            (refused.allowed, refused.remaining, refused.reset_seconds),
            (false, 0, 60)
        );
        // Still blocked although the first window has ended.
        let later = limiter.hit("cal_key", at + TimeDelta::seconds(59));
        assert_eq!((later.allowed, later.reset_seconds), (false, 1));
        // Other keys are unaffected.
        assert!(limiter.hit("cal_other", at).allowed);
        // The block ends 60 s after it began: a fresh window.
        let after = limiter.hit("cal_key", at + TimeDelta::seconds(60));
        assert_eq!(
            (after.allowed, after.remaining, after.reset_seconds),
            (true, 119, 60)
        );
        // One block, remembered with the key's first characters only.
        assert_eq!(
            limiter.blocks(),
            [ThrottleBlock {
                key: "cal_key…".into(),
                from: at,
                until: at + TimeDelta::seconds(60),
            }]
        );
    }

    #[test]
    fn a_window_resets_after_its_length() {
        let mut limiter = RateLimiter::new(RateLimitConfig {
            limit: 2,
            ..Default::default()
        });
        assert!(limiter.hit("k", t0()).allowed);
        assert_eq!(
            limiter
                .hit("k", t0() + TimeDelta::seconds(20))
                .reset_seconds,
            40
        );
        assert!(
            limiter.hit("k", t0() + TimeDelta::seconds(60)).allowed,
            "new window"
        );
    }

    #[test]
    fn disabled_limiter_allows_everything() {
        let mut limiter = RateLimiter::new(RateLimitConfig {
            enabled: false,
            limit: 1,
            window: Duration::from_secs(60),
            block: Duration::from_secs(60),
        });
        assert!((0..10).all(|_| limiter.hit("k", t0()).allowed));
    }
}

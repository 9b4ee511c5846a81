//! The distributed-lock stand-in (the seeds' Redis `Cache::lock($key, 30)->block(10)`):
//! named locks with an expiry, optionally over an interval so that a per-staff lock excludes
//! only overlapping bookings.
//!
//! # Leases and fencing tokens
//!
//! The seed system's Laravel `Cache::lock($key, 30)` is Redis `SET key owner NX PX 30000`
//! with a random owner string: the owner is only used so that `release()` (a Lua
//! compare-and-delete) cannot free someone else's lock. Nothing renews it, and nothing tells
//! the holder when its 30 s have run out: a holder paused longer than the TTL (a slow Redis,
//! a long stall, a hung Cal.com create) carries on as if it still held the lock while the
//! next booking for the same stylist has taken it, and both create in Cal.com. An owner
//! string can only say "is this lock mine *now*"; it cannot order two holders.
//!
//! Here every acquisition hands out a **fencing token**, a number that only grows (per
//! store, hence per key: a later holder of a key always has a larger token than an earlier
//! one). The token is what the holder presents to renew ([`LockService::extend`], Redis
//! `PEXPIRE` in a Lua script that first compares the stored token, so a lapsed holder is
//! refused instead of resurrecting a lock someone else holds) and to release. Cal.com cannot
//! check a fencing token on its create (a storage service that could would simply refuse the
//! stale, smaller token), so the engine fences on its own side, as close to the create as it
//! can: with `policy.lock_fencing` the lease is renewed from the first lock taken, each
//! renewal pays its Redis round trip and a refused one marks the locks lost, and right before
//! each create the holder checks-and-extends every token in one round trip; a booking whose
//! tokens were superseded or lapsed never reaches the create (`Failure::LockLost`). The
//! create is then sent holding a lease renewed a moment ago, kept alive while it runs, and
//! `Policy::check_ranges` refuses TTLs a renewal cannot keep up with.
//!
//! Fencing guards everything up to the create; it cannot guard a create already sent. A
//! renewal cannot land while Redis is down, so a lock extended for one TTL could lapse under
//! a create that Cal.com and the client's retries keep in flight longer: with
//! `policy.lock_outlives_create` the fence leases the create's whole flight
//! ([`crate::policy::Policy::create_in_flight_max`]) instead. When Redis itself forgets a lock (a restart without persistence, a failover to a replica that
//! missed the acquisition: [`crate::infra`]), the holder's create may be in flight, and the
//! next booking for the stylist would take the lock and create beside it. With
//! `policy.lock_outlives_create` no lock is granted after such a loss for as long as a create can
//! be in flight (Chubby's lock-delay; [`LockService::last_loss`] is what a client reads as the
//! instance's `run_id`/`master_replid` changing). The holder whose lock was forgotten takes it again
//! at its next renewal (nobody was granted it meanwhile), so it keeps the stylist until it
//! lets go, its save included. Redis `WAIT` after each `SET NX` would keep
//! failovers (not restarts) from forgetting acknowledged locks; the delay covers both.

use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};

/// A half-open interval `[start, end)` a lock covers.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

/// Where locks live (Redis in the seed system).
pub trait LockService: Send + Sync {
    /// Takes the lock if nothing unexpired conflicts; returns its fencing token (larger than
    /// every token handed out before).
    fn try_acquire(
        &self,
        key: &str,
        span: Option<Span>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<u64>;
    /// Releases the lock `token` holds (a no-op once it expired and was taken over).
    fn release(&self, token: u64);
    /// Extends the lock `token` holds to `until` (Redis `PEXPIRE` on a lock still ours);
    /// `false` when it is no longer held.
    fn extend(&self, token: u64, now: DateTime<Utc>, until: DateTime<Utc>) -> bool;
    /// Locks taken and attempts refused so far.
    fn counters(&self) -> LockCounters;
    /// The keys of the locks still held (unexpired) at `now`.
    fn held(&self, now: DateTime<Utc>) -> Vec<String>;
    /// Redis lost every write from `since` on (a restart without persistence: all of them;
    /// a failover: the last ones the replica missed), noticed at `now`: the locks taken
    /// since are gone.
    fn lose_writes(&self, since: DateTime<Utc>, now: DateTime<Utc>);
    /// The holder of `token` stopped (its worker crashed, its request was cut off) after a
    /// create may have been sent under it: nobody renews or releases it. It stays held
    /// until that create can no longer land (`until`: its last attempt's bound from when the
    /// holder stopped), and never past its own expiry. Redis needs no call for it (the lock
    /// lapses by its TTL, which a fence stretched over the create's flight); the default
    /// does nothing.
    fn abandon(&self, _token: u64, _until: DateTime<Utc>) {}
    /// When Redis last lost writes, if it ever did (what a client reads from the instance's
    /// `run_id` / `master_replid` changing under it).
    fn last_loss(&self) -> Option<DateTime<Utc>>;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockCounters {
    pub acquired: u64,
    pub contended: u64,
}

/// A held lock.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    key: String,
    /// With a span, the lock excludes only overlapping spans under the same key.
    span: Option<Span>,
    token: u64,
    until: DateTime<Utc>,
    /// When it was taken.
    taken: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Table {
    held: Vec<Held>,
    next_token: u64,
    counters: LockCounters,
    lost_at: Option<DateTime<Utc>>,
}

/// Locks in the engine's memory.
#[derive(Debug, Default)]
pub struct InMemoryLocks(Mutex<Table>);

impl InMemoryLocks {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl LockService for InMemoryLocks {
    fn try_acquire(
        &self,
        key: &str,
        span: Option<Span>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<u64> {
        let mut t = self.table();
        t.held.retain(|h| h.until > now);
        let conflicts = t.held.iter().any(|h| {
            h.key == key
                && match (h.span, span) {
                    (Some((a0, a1)), Some((b0, b1))) => a0 < b1 && b0 < a1,
                    _ => true,
                }
        });
        if conflicts {
            t.counters.contended += 1;
            return None;
        }
        t.next_token += 1;
        t.counters.acquired += 1;
        let token = t.next_token;
        t.held.push(Held {
            key: key.to_owned(),
            span,
            token,
            until,
            taken: now,
        });
        Some(token)
    }

    fn release(&self, token: u64) {
        self.table().held.retain(|h| h.token != token);
    }

    fn extend(&self, token: u64, now: DateTime<Utc>, until: DateTime<Utc>) -> bool {
        let mut t = self.table();
        match t
            .held
            .iter_mut()
            .find(|h| h.token == token && h.until > now)
        {
            Some(h) => {
                h.until = h.until.max(until);
                true
            }
            None => false,
        }
    }

    fn counters(&self) -> LockCounters {
        self.table().counters
    }

    fn abandon(&self, token: u64, until: DateTime<Utc>) {
        if let Some(h) = self.table().held.iter_mut().find(|h| h.token == token) {
            h.until = h.until.min(until);
        }
    }

    fn held(&self, now: DateTime<Utc>) -> Vec<String> {
        let t = self.table();
        t.held
            .iter()
            .filter(|h| h.until > now)
            .map(|h| h.key.clone())
            .collect()
    }

    fn lose_writes(&self, since: DateTime<Utc>, now: DateTime<Utc>) {
        let mut t = self.table();
        t.held.retain(|h| h.taken < since);
        t.lost_at = Some(now);
    }

    fn last_loss(&self) -> Option<DateTime<Utc>> {
        self.table().lost_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-11-25T11:00:00Z")
            .unwrap()
            .to_utc()
            + TimeDelta::minutes(min)
    }

    #[test]
    fn exact_keys_exclude_each_other_until_release_or_expiry() {
        let locks = InMemoryLocks::default();
        let now = t(0);
        let key = "booking_lock:15:1:2025-11-25_12:00";
        let a = locks
            .try_acquire(key, None, now, now + TimeDelta::seconds(30))
            .unwrap();
        assert!(
            locks
                .try_acquire(key, None, now, now + TimeDelta::seconds(30))
                .is_none()
        );
        assert!(
            locks
                .try_acquire("booking_lock:15:1:2025-11-25_12:15", None, now, now)
                .is_some(),
            "another start does not contend"
        );
        locks.release(a);
        assert!(
            locks
                .try_acquire(key, None, now, now + TimeDelta::seconds(30))
                .is_some()
        );
        let later = now + TimeDelta::seconds(31);
        assert!(
            locks.try_acquire(key, None, later, later).is_some(),
            "expired after its TTL"
        );
        assert_eq!(locks.counters().contended, 1);
    }

    #[test]
    fn an_abandoned_lock_is_held_until_its_last_attempt_is_over() {
        let locks = InMemoryLocks::default();
        let a = locks.try_acquire("k", None, t(0), t(10)).unwrap();
        // Its holder stopped at 1; the create it was sent can land until 3.
        locks.abandon(a, t(3));
        assert!(
            locks.try_acquire("k", None, t(2), t(20)).is_none(),
            "held while the create may still land"
        );
        assert!(locks.try_acquire("k", None, t(3), t(20)).is_some());
        // Its own expiry comes first: that holds.
        let b = locks.try_acquire("j", None, t(0), t(1)).unwrap();
        locks.abandon(b, t(3));
        assert!(locks.try_acquire("j", None, t(1), t(20)).is_some());
    }

    #[test]
    fn a_lock_extended_in_time_stays_held() {
        let locks = InMemoryLocks::default();
        let a = locks.try_acquire("k", None, t(0), t(1)).unwrap();
        assert!(locks.extend(a, t(0), t(3)));
        assert!(
            locks.try_acquire("k", None, t(2), t(4)).is_none(),
            "still held at 2"
        );
        assert!(
            !locks.extend(a, t(3), t(5)),
            "expired at 3: too late to extend"
        );
        assert!(locks.try_acquire("k", None, t(3), t(4)).is_some());
    }

    #[test]
    fn interval_locks_exclude_only_overlaps() {
        let locks = InMemoryLocks::default();
        let until = t(1);
        assert!(
            locks
                .try_acquire("staff:1", Some((t(0), t(30))), t(0), until)
                .is_some()
        );
        assert!(
            locks
                .try_acquire("staff:1", Some((t(15), t(45))), t(0), until)
                .is_none()
        );
        assert!(
            locks
                .try_acquire("staff:1", Some((t(30), t(60))), t(0), until)
                .is_some()
        );
        assert!(
            locks
                .try_acquire("staff:2", Some((t(15), t(45))), t(0), until)
                .is_some()
        );
    }
}

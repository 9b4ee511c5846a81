//! The distributed-lock stand-in (the seeds' Redis `Cache::lock($key, 30)->block(10)`):
//! named locks with an expiry, optionally over an interval so that a per-staff lock excludes
//! only overlapping bookings.

use chrono::{DateTime, Utc};

/// A half-open interval `[start, end)` a lock covers.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

/// A held lock.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    key: String,
    /// With a span, the lock excludes only overlapping spans under the same key.
    span: Option<Span>,
    token: u64,
    until: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct LockTable {
    held: Vec<Held>,
    next_token: u64,
    pub acquired: u64,
    pub contended: u64,
}

impl LockTable {
    /// Takes the lock if nothing unexpired conflicts; returns its token.
    pub fn try_acquire(
        &mut self,
        key: &str,
        span: Option<Span>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<u64> {
        self.held.retain(|h| h.until > now);
        let conflicts = self.held.iter().any(|h| {
            h.key == key
                && match (h.span, span) {
                    (Some((a0, a1)), Some((b0, b1))) => a0 < b1 && b0 < a1,
                    _ => true,
                }
        });
        if conflicts {
            self.contended += 1;
            return None;
        }
        self.next_token += 1;
        self.acquired += 1;
        self.held.push(Held {
            key: key.to_owned(),
            span,
            token: self.next_token,
            until,
        });
        Some(self.next_token)
    }

    /// Releases the lock `token` holds (a no-op once it expired and was taken over).
    pub fn release(&mut self, token: u64) {
        self.held.retain(|h| h.token != token);
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
        let mut locks = LockTable::default();
        let now = t(0);
        let a = locks
            .try_acquire(
                "booking_lock:15:1:2025-11-25_12:00",
                None,
                now,
                now + TimeDelta::seconds(30),
            )
            .unwrap();
        assert!(
            locks
                .try_acquire(
                    "booking_lock:15:1:2025-11-25_12:00",
                    None,
                    now,
                    now + TimeDelta::seconds(30)
                )
                .is_none()
        );
        assert!(
            locks
                .try_acquire("booking_lock:15:1:2025-11-25_12:15", None, now, now)
                .is_some(),
            "another start does not contend"
        );
        locks.release(a);
        let b = locks.try_acquire(
            "booking_lock:15:1:2025-11-25_12:00",
            None,
            now,
            now + TimeDelta::seconds(30),
        );
        assert!(b.is_some());
        let later = now + TimeDelta::seconds(31);
        assert!(
            locks
                .try_acquire("booking_lock:15:1:2025-11-25_12:00", None, later, later)
                .is_some(),
            "expired after its TTL"
        );
        assert_eq!(locks.contended, 1);
    }

    #[test]
    fn interval_locks_exclude_only_overlaps() {
        let mut locks = LockTable::default();
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

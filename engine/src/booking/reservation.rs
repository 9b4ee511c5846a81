//! Layer: reservations, the caller's slot held locally and in Cal.com between check and booking.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{Refusal, Resolved, SlotRequest, Stop};
use crate::calcom::{CalcomError, SlotReservation};
use crate::engine::{Engine, HoldKey, lock};

impl Engine {
    /// The local reservation layer: other callers' holds leave no stylist for this one (a
    /// caller's own hold was counted when it was made, and never counts against it).
    pub(super) async fn local_reservation_check(
        &self,
        req: &SlotRequest,
        request: &Resolved,
        now: DateTime<Utc>,
    ) -> Result<(), Stop> {
        if self.policy().local_reservation_ttl.is_none() {
            return Ok(());
        }
        self.database().await.map_err(Stop::Down)?;
        self.reservations.expire_reservations(now);
        let reserved = self
            .reservations
            .reservation_of(&req.call_id, request.service.id, request.start, now)
            .is_none()
            && self
                .free_stylists(&req.call_id, request, now, true)
                .is_empty()
            && !self
                .free_stylists(&req.call_id, request, now, false)
                .is_empty();
        if reserved {
            return Err(Stop::Taken(Refusal {
                reason: "slot_reserved",
                fresh: false,
            }));
        }
        Ok(())
    }

    /// Whether this call holds `start` in Cal.com for `service_id` (a hold for another
    /// service says nothing about this one's event types): an expired hold holds nothing
    /// (the slot is Cal.com's to list again, maybe booked since) and is forgotten.
    pub(super) fn holds_in_calcom(
        &self,
        call_id: &str,
        service_id: u64,
        start: DateTime<Utc>,
    ) -> bool {
        let key = (call_id.to_owned(), service_id, start);
        let now = self.now();
        let mut holds = lock(&self.calcom_holds);
        match holds.get(&key) {
            Some(held) if held.iter().all(|h| h.until > now) => true,
            Some(_) => {
                holds.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Reserves every staffed segment in Cal.com for `minutes`; all or none.
    pub(super) async fn hold_in_calcom(
        &self,
        call_id: &str,
        r: &Resolved,
        minutes: u32,
    ) -> Result<(), CalcomError> {
        let mut held = Vec::new();
        for (seg, event_type_id) in r.staffed() {
            match self
                .calcom
                .reserve_slot(event_type_id, seg.start, minutes)
                .await
            {
                Ok(hold) => held.push(hold),
                Err(e) => {
                    self.release_holds(None, held).await;
                    return Err(e);
                }
            }
        }
        let now = self.now();
        let mut holds = lock(&self.calcom_holds);
        // Holds nobody came back for (a release Cal.com refused) are gone by now.
        holds.retain(|_, held| held.iter().all(|h| h.until > now));
        holds.insert((call_id.to_owned(), r.service.id, r.start), held);
        Ok(())
    }

    pub(super) async fn release_calcom_holds(
        &self,
        call_id: &str,
        service_id: u64,
        start: DateTime<Utc>,
    ) {
        let key = (call_id.to_owned(), service_id, start);
        let held = lock(&self.calcom_holds).remove(&key);
        self.release_holds(Some(key), held.unwrap_or_default())
            .await;
    }

    /// `release_passed_over`: the caller asks about (or books) `service_id` at `start`, so
    /// its holds on every other slot are let go, local and in Cal.com: a caller who moved on
    /// no longer hides what it passed over from the others.
    pub(super) async fn release_passed_over(
        &self,
        call_id: &str,
        service_id: u64,
        start: DateTime<Utc>,
    ) {
        if !self.policy().release_passed_over {
            return;
        }
        if self.policy().local_reservation_ttl.is_some() {
            // The engine knows which holds a call took (it took them): the database is
            // written only when there is one to let go.
            let passed: Vec<_> = self
                .reservations
                .reservations()
                .into_iter()
                .filter(|r| {
                    r.call_id == call_id
                        && r.state == "held"
                        && (r.service_id, r.start) != (service_id, start)
                })
                .collect();
            if !passed.is_empty() && self.database().await.is_ok() {
                for r in passed {
                    self.reservations
                        .set_reservation_state(&r.token, "cancelled");
                }
            }
        }
        let passed: Vec<HoldKey> = lock(&self.calcom_holds)
            .keys()
            .filter(|(c, s, t)| c == call_id && (*s, *t) != (service_id, start))
            .cloned()
            .collect();
        for key in passed {
            let held = lock(&self.calcom_holds).remove(&key);
            self.release_holds(Some(key), held.unwrap_or_default())
                .await;
        }
    }

    /// `release_passed_over`: the caller's local hold of `service_id` at `start` is let go
    /// (its booking was refused: the caller moves on).
    pub(super) async fn release_local_hold(
        &self,
        call_id: &str,
        service_id: u64,
        start: DateTime<Utc>,
    ) {
        if !self.policy().release_passed_over || self.policy().local_reservation_ttl.is_none() {
            return;
        }
        let now = self.store_now();
        // Written only when there is a hold to let go (see `release_passed_over`).
        if let Some(held) = self
            .reservations
            .reservation_of(call_id, service_id, start, now)
            && self.database().await.is_ok()
        {
            self.reservations
                .set_reservation_state(&held.token, "cancelled");
        }
    }

    /// How long a new local hold lasts: `local_reservation_ttl`, or with
    /// `holds_lapse_together` and a Cal.com hold, as long as that one.
    pub(super) fn local_hold_ttl(&self, ttl: Duration) -> Duration {
        match self.policy().calcom_reservation_minutes {
            Some(minutes) if self.policy().holds_lapse_together => {
                Duration::from_secs(u64::from(minutes) * 60)
            }
            _ => ttl,
        }
    }

    /// `holds_spare_budget`: whether a Cal.com hold is worth its requests now (not while
    /// the key's rate-limit budget is nearly spent: the booking needs it).
    pub(super) fn calcom_hold_affordable(&self) -> bool {
        !(self.policy().holds_spare_budget && self.calcom.budget_low())
    }

    /// The releases Cal.com refused for now that are due, tried again (`release_retries`):
    /// one that lands, or is refused for good, or whose hold lapsed, is done; one refused
    /// for now again waits twice as long (the repair backoff, up to 5 min).
    pub(crate) async fn retry_releases(&self) {
        let now = self.now();
        let due: Vec<_> = {
            let mut outbox = lock(&self.release_outbox);
            outbox.retain(|(hold, _, _)| hold.until > now);
            let (due, later): (Vec<_>, Vec<_>) =
                outbox.drain(..).partition(|(_, at, _)| *at <= now);
            *outbox = later;
            due
        };
        for (hold, _, wait) in due {
            match self.calcom.release_slot_once(&hold.uid).await {
                Err(e) if e.is_transient() => {
                    let next = (wait * 2).min(Duration::from_secs(300));
                    let at = self.now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
                    lock(&self.release_outbox).push((hold, at, next));
                }
                _ => {
                    // Let go: the holder's own listings see the slot again.
                    let mut holds = lock(&self.calcom_holds);
                    for held in holds.values_mut() {
                        held.retain(|h| h.uid != hold.uid);
                    }
                    holds.retain(|_, held| !held.is_empty());
                }
            }
        }
    }

    /// Releases `held`, each tried once: the caller's answer never waits out a backoff for
    /// what expires on its own anyway, and a throttled key is left for bookings. A hold
    /// Cal.com refused to let go of for now stays `holder`'s until it expires (it still
    /// hides the slot from everyone else, and from the holder's own listings), or, with
    /// `release_retries`, until a later try (the repair backoff) lets it go.
    async fn release_holds(&self, holder: Option<HoldKey>, held: Vec<SlotReservation>) {
        let mut kept = Vec::new();
        for hold in held {
            let released = self.calcom.release_slot_once(&hold.uid).await;
            if released.is_ok() {
                // Let go: a retry still queued for it (`release_retries`) has nothing to do.
                lock(&self.release_outbox).retain(|(h, _, _)| h.uid != hold.uid);
            }
            if let Err(e) = released
                && e.is_transient()
            {
                if self.policy().release_retries {
                    let backoff = crate::engine::RepairBackoff::new();
                    let at =
                        self.now() + TimeDelta::from_std(backoff.next()).unwrap_or(TimeDelta::MAX);
                    lock(&self.release_outbox).push((
                        hold.clone(),
                        at,
                        (backoff.next() * 2).min(Duration::from_secs(300)),
                    ));
                }
                kept.push(hold);
            }
        }
        if let Some(holder) = holder.filter(|_| !kept.is_empty()) {
            lock(&self.calcom_holds)
                .entry(holder)
                .or_default()
                .extend(kept);
        }
    }
}

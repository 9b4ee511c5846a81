//! Layer: reservations, the caller's slot held locally and in Cal.com between check and booking.

use chrono::{DateTime, Utc};

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

    /// Releases `held`, each tried once: the caller's answer never waits out a backoff for
    /// what expires on its own anyway, and a throttled key is left for bookings. A hold
    /// Cal.com refused to let go of for now stays `holder`'s until it expires (it still
    /// hides the slot from everyone else, and from the holder's own listings).
    async fn release_holds(&self, holder: Option<HoldKey>, held: Vec<SlotReservation>) {
        let mut kept = Vec::new();
        for hold in held {
            if let Err(e) = self.calcom.release_slot_once(&hold.uid).await
                && e.is_transient()
            {
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

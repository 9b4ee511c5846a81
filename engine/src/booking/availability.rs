//! `check_availability`, and the listings and stylists every layer reads the slot's state from.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};

use super::{CheckOutcome, Failure, Resolved, SlotRequest, place};
use crate::cache::Slots;
use crate::calcom::CalcomError;
use crate::engine::Engine;
use crate::store::LocalReservation;

impl Engine {
    /// `check_availability`: is the slot free, and (as the policy says) hold it.
    pub async fn check_availability(&self, req: &SlotRequest) -> CheckOutcome {
        let request = match self.resolve(req) {
            Ok(r) => r,
            Err(message) => return CheckOutcome::Invalid(message),
        };
        // A caller asking about another slot lets go of the ones it passed over.
        self.release_passed_over(&req.call_id, request.service.id, request.start)
            .await;
        // A caller who already holds this slot in Cal.com (a repeated check, Retell's retry)
        // would find it hidden by its own reservation: the hold itself says it is free.
        let own_calcom_hold = self.holds_in_calcom(&req.call_id, request.service.id, request.start);
        let listed = if own_calcom_hold {
            true
        } else {
            match self.segments_listed(&request, false).await {
                Ok(listed) => listed,
                Err(e) => {
                    return CheckOutcome::Failed {
                        failure: Failure::of(&e),
                        detail: e.to_string(),
                    };
                }
            }
        };
        let now = self.store_now();
        let own_hold = match self.policy().local_reservation_ttl {
            Some(_) => {
                if let Err(down) = self.database().await {
                    return CheckOutcome::Failed {
                        failure: Failure::InfraUnavailable,
                        detail: down.to_string(),
                    };
                }
                self.reservations.reservation_of(
                    &req.call_id,
                    request.service.id,
                    request.start,
                    now,
                )
            }
            None => None,
        };
        // With local reservations, the stylist this caller's hold will count on.
        let stylist = match (self.policy().local_reservation_ttl, &own_hold) {
            (None, _) => None,
            (Some(_), Some(own)) => Some(own.stylist),
            (Some(_), None) => match self
                .free_stylists(&req.call_id, &request, now, true)
                .first()
            {
                Some(s) => Some(*s),
                None => {
                    let alternatives = self.alternatives(&request, false).await;
                    return CheckOutcome::Unavailable {
                        request,
                        alternatives,
                    };
                }
            },
        };
        if !listed {
            let alternatives = self.alternatives(&request, false).await;
            return CheckOutcome::Unavailable {
                request,
                alternatives,
            };
        }
        if let Some(minutes) = self
            .policy()
            .calcom_reservation_minutes
            .filter(|_| !own_calcom_hold && self.calcom_hold_affordable())
        {
            match self.hold_in_calcom(&req.call_id, &request, minutes).await {
                Ok(()) => {}
                Err(CalcomError::ReservationConflict(_)) => {
                    let alternatives = self.alternatives(&request, false).await;
                    return CheckOutcome::Unavailable {
                        request,
                        alternatives,
                    };
                }
                // Holding is best effort: the caller was still told the truth.
                Err(e) => tracing::warn!(error = %e, "Cal.com reservation failed"),
            }
        }
        let reservation = match (self.policy().local_reservation_ttl, own_hold, stylist) {
            (Some(_), Some(own), _) => Some(own.token),
            (Some(ttl), None, Some(stylist)) => {
                let ttl = self.local_hold_ttl(ttl);
                let token = self.token();
                if let Err(down) = self.database().await {
                    return CheckOutcome::Failed {
                        failure: Failure::InfraUnavailable,
                        detail: down.to_string(),
                    };
                }
                self.reservations.hold(LocalReservation {
                    token: token.clone(),
                    call_id: req.call_id.clone(),
                    service_id: request.service.id,
                    stylist,
                    start: request.start,
                    end: request.end,
                    until: now
                        .checked_add_signed(TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX))
                        .unwrap_or(DateTime::<Utc>::MAX_UTC),
                    state: "held",
                });
                Some(token)
            }
            _ => None,
        };
        CheckOutcome::Available {
            request,
            reservation,
        }
    }

    /// Whether every staffed segment's start is a listed Cal.com slot of its event type.
    pub(crate) async fn segments_listed(
        &self,
        r: &Resolved,
        fresh: bool,
    ) -> Result<bool, CalcomError> {
        for (seg, event_type_id) in r.staffed() {
            let slots = self
                .week_slots(event_type_id, self.local(seg.start).date(), fresh)
                .await?;
            if slots.binary_search(&seg.start).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether Cal.com's bookings leave one of the service's stylists free over every
    /// staffed segment of `r`: read afresh, every event type and host of the account over
    /// the appointment's local day(s) in one request (paged past 100). The slot listing
    /// can lag behind the bookings (calendar-sync caches: minutes) and then offers a slot
    /// staff have filled; the bookings themselves do not lag.
    pub(crate) async fn segments_unbooked(&self, r: &Resolved) -> Result<bool, CalcomError> {
        let midnight = |day: NaiveDate| day.and_hms_opt(0, 0, 0).and_then(|m| self.utc(m));
        let from = midnight(self.local(r.start).date()).unwrap_or(r.start - TimeDelta::days(1));
        let until = self
            .local(r.end)
            .date()
            .succ_opt()
            .and_then(midnight)
            .unwrap_or(r.end + TimeDelta::days(1))
            .max(r.end);
        let all = self.list_account(from, until).await?;
        let active: Vec<_> = all
            .iter()
            .filter(|b| b.status != "cancelled" && b.status != "rejected")
            .collect();
        Ok(r.staffed().all(|(seg, _)| {
            r.service.staff.iter().any(|stylist| {
                !active
                    .iter()
                    .any(|b| b.host_id == Some(*stylist) && b.start < seg.end && seg.start < b.end)
            })
        }))
    }

    /// Up to three free starts the same day, nearest to the requested one, at which every
    /// staffed segment is listed (a compound service's later segments too).
    pub(super) async fn alternatives(&self, r: &Resolved, fresh: bool) -> Vec<NaiveDateTime> {
        let Some(event_type_id) = r.service.lead_event_type() else {
            return Vec::new();
        };
        let Ok(slots) = self.week_slots(event_type_id, r.local.date(), fresh).await else {
            return Vec::new();
        };
        let mut same_day: Vec<DateTime<Utc>> = slots
            .iter()
            .copied()
            .filter(|s| *s != r.start && self.local(*s).date() == r.local.date())
            .collect();
        same_day.sort_by_key(|s| (*s - r.start).num_seconds().abs());
        // The later segments' listings for the day, each read once and all at once, through
        // the cache when there is one: the check read them moments ago, and the lead's
        // listing (fresh when asked) already decides which starts are free.
        let later: BTreeSet<(u64, NaiveDate)> = same_day
            .iter()
            .flat_map(|start| place(&r.service, *start).into_iter().skip(1))
            .filter_map(|seg| {
                seg.event_type_id
                    .map(|id| (id, self.local(seg.start).date()))
            })
            .collect();
        let reads = later.iter().map(|&(id, day)| async move {
            ((id, day), self.week_slots(id, day, false).await.ok())
        });
        let listings: BTreeMap<(u64, NaiveDate), Option<Slots>> =
            futures_util::future::join_all(reads)
                .await
                .into_iter()
                .collect();
        let listed = |start: DateTime<Utc>| {
            place(&r.service, start).iter().skip(1).all(|seg| {
                seg.event_type_id.is_none_or(|id| {
                    listings
                        .get(&(id, self.local(seg.start).date()))
                        .and_then(Option::as_ref)
                        .is_some_and(|slots| slots.binary_search(&seg.start).is_ok())
                })
            })
        };
        let mut out: Vec<DateTime<Utc>> = same_day
            .into_iter()
            .filter(|s| listed(*s))
            .take(3)
            .collect();
        out.sort_unstable();
        out.into_iter().map(|s| self.local(s)).collect()
    }

    /// The service's stylists whom nothing the engine knows occupies over `r`: no active
    /// local appointment overlaps for them and, with `holds`, no other caller's held
    /// reservation counts on them. An appointment not yet synced (its host unknown) or a
    /// hold whose stylist was taken since takes the first of its service's staff still
    /// free. A caller's own holds never count against it.
    pub(crate) fn free_stylists(
        &self,
        call_id: &str,
        r: &Resolved,
        now: DateTime<Utc>,
        holds: bool,
    ) -> Vec<u64> {
        self.free_over(call_id, r, (r.start, r.end), now, holds)
    }

    /// [`Self::free_stylists`] over `span` only (one segment of `r`).
    pub(crate) fn free_over(
        &self,
        call_id: &str,
        r: &Resolved,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        now: DateTime<Utc>,
        holds: bool,
    ) -> Vec<u64> {
        let mut busy = BTreeSet::new();
        let mut unplaced: Vec<(u64, Option<u64>)> = Vec::new();
        for a in self.appointments.overlapping(start, end) {
            let hosts: Vec<u64> = a
                .segments
                .iter()
                .filter(|p| p.start < end && start < p.end)
                .filter_map(|p| p.host_id)
                .collect();
            if hosts.is_empty() {
                unplaced.push((a.service_id, None));
            }
            busy.extend(hosts);
        }
        if holds {
            for h in self.reservations.held_by_others(call_id, start, end, now) {
                unplaced.push((h.service_id, Some(h.stylist)));
            }
        }
        for (service_id, preferred) in unplaced {
            let staff = self
                .catalog()
                .services
                .iter()
                .find(|s| s.id == service_id)
                .map_or(&[][..], |s| &s.staff[..]);
            let claim = preferred
                .filter(|p| !busy.contains(p))
                .or_else(|| staff.iter().copied().find(|s| !busy.contains(s)));
            busy.extend(claim);
        }
        r.service
            .staff
            .iter()
            .copied()
            .filter(|s| !busy.contains(s))
            .collect()
    }
}

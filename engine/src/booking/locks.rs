//! Layer: the booking lock, the keys a booking takes and the booking run under them.

use super::{BookOutcome, Failure, Resolved};
use crate::engine::{Engine, Lease, LockRefused};
use crate::lock::Span;
use crate::policy::LockMode;
use std::collections::BTreeSet;
use std::sync::Arc;

impl Engine {
    /// The lock layer: takes the locks the policy asks for `request` ([`Self::locks_for`],
    /// all of them, in order), runs `book` under them (with their lease, which `book` fences
    /// its creates with: [`Engine::fence`]) and lets them go. `Err` is the answer when a lock
    /// stays taken past the wait: then `book` never runs.
    pub(super) async fn under_lock<F, B>(
        &self,
        request: Resolved,
        book: F,
    ) -> Result<BookOutcome, BookOutcome>
    where
        F: FnOnce(Resolved, Arc<Lease>) -> B,
        B: Future<Output = BookOutcome>,
    {
        let guard = match self.acquire_all(&self.locks_for(&request)).await {
            Ok(guard) => guard,
            Err(LockRefused::Taken(key)) => {
                return Err(BookOutcome::Failed {
                    request,
                    failure: Failure::LockTimeout,
                    detail: format!("lock {key} still taken after the wait"),
                });
            }
            // Redis down: no lock, no booking (never booked blind): a technical refusal.
            Err(LockRefused::Down(down)) => {
                return Err(BookOutcome::Failed {
                    request,
                    failure: Failure::InfraUnavailable,
                    detail: format!("no lock could be taken: {down}"),
                });
            }
        };
        let outcome = book(request, guard.fence()).await;
        self.release(guard).await;
        Ok(outcome)
    }

    /// The locks the policy takes for a request, in the order they are taken.
    ///
    /// `StaffInterval` locks every stylist the booking can land on (Cal.com picks the host
    /// among the service's staff), each over the booked interval, in ascending id order.
    /// Why this cannot double-book: two bookings that could put one stylist in two places
    /// share that stylist and overlap in time, so they want the same key over overlapping
    /// spans and the second waits until the first has Cal.com's answer; by then the first
    /// booking is committed, and Cal.com's own check at the second's arrival sees it and
    /// picks another free host or refuses. Bookings with disjoint staff or disjoint times
    /// take disjoint locks and never collide in Cal.com. Taking the keys in one global order
    /// means no two requests each hold a key the other waits for, so there is no deadlock.
    pub(crate) fn locks_for(&self, r: &Resolved) -> Vec<(String, Option<Span>)> {
        let company = self.catalog().company_id;
        match self.policy().lock {
            LockMode::Off => Vec::new(),
            LockMode::ExactStart => vec![(
                format!(
                    "booking_lock:{company}:{}:{}",
                    r.service.id,
                    r.local.format("%Y-%m-%d_%H:%M")
                ),
                None,
            )],
            LockMode::StaffInterval => {
                let staff: BTreeSet<u64> = r.service.staff.iter().copied().collect();
                staff
                    .into_iter()
                    .map(|s| self.staff_lock(s, (r.start, r.end)))
                    .collect()
            }
        }
    }

    /// The lock every booking takes on stylist `host` over `span` (`StaffInterval`).
    pub(crate) fn staff_lock(&self, host: u64, span: Span) -> (String, Option<Span>) {
        let company = self.catalog().company_id;
        (format!("booking_lock:{company}:staff:{host}"), Some(span))
    }
}

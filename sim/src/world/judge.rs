//! Judging refusals against Cal.com's ground truth. A booking refused after "frei" is a race
//! lost only if no qualified stylist was free in Cal.com at the instant of the refusal; when
//! one was, the refusal was the engine's own doing (an exact-start check, the caller's own
//! hold, a lock timeout): a false refusal, counted apart. A check that said "frei" is
//! judged the same way: told free while no qualified stylist was (a stale cache or listing
//! served), counted as `coverage.stale_available`.

use booking_engine::booking::place;
use booking_engine::catalog::Catalog;
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use mock_calcom::MockCalcom;

use crate::world::record::{CallRecord, Completion, StepRecord, TAKEN};

/// Whether Cal.com would have admitted a booking of an event type at a start, arriving at
/// an instant (`MockCalcom::bookable_at`, or the mock's `/_mock/bookable` in a live run).
pub trait Bookable {
    fn bookable_at(&mut self, event_type_id: u64, start: DateTime<Utc>, at: DateTime<Utc>) -> bool;
}

impl Bookable for &MockCalcom {
    fn bookable_at(&mut self, event_type_id: u64, start: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        MockCalcom::bookable_at(self, event_type_id, start, at)
    }
}

/// Sets `slot_free` on every booking refused as taken after the call was told "frei".
/// `start` is the instant the run's millisecond offsets count from.
pub fn judge_refusals(
    calls: &mut [CallRecord],
    mut mock: impl Bookable,
    catalog: &Catalog,
    start: DateTime<Utc>,
) {
    for call in calls.iter_mut() {
        for step in call.steps.iter_mut().filter(|s| told_free(s)) {
            let at = start
                + TimeDelta::milliseconds(i64::try_from(step.completed_ms).unwrap_or(i64::MAX));
            step.slot_free = slot_free(step, &mut mock, catalog, at);
        }
    }
    for call in calls.iter_mut().filter(|c| c.told_available()) {
        for step in call.steps.iter_mut().filter(|s| refused_as_taken(s)) {
            let at = start
                + TimeDelta::milliseconds(i64::try_from(step.completed_ms).unwrap_or(i64::MAX));
            step.slot_free = slot_free(step, &mut mock, catalog, at);
        }
    }
}

fn told_free(step: &StepRecord) -> bool {
    crate::world::record::is_check(&step.function) && step.available == Some(true)
}

fn refused_as_taken(step: &StepRecord) -> bool {
    step.function == "start_booking"
        && step.completion == Completion::Fail
        && step
            .error_type
            .as_deref()
            .is_some_and(|t| TAKEN.contains(&t))
}

/// Whether every staffed segment of the refused request had a qualified stylist free at
/// `at`; `None` when the answer does not say which service and time were refused.
fn slot_free(
    step: &StepRecord,
    mock: &mut impl Bookable,
    catalog: &Catalog,
    at: DateTime<Utc>,
) -> Option<bool> {
    // The two fields read, not the whole answer parsed (a long run judges thousands).
    #[derive(serde::Deserialize)]
    struct Asked<'a> {
        #[serde(borrow)]
        service: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        requested_time: Option<std::borrow::Cow<'a, str>>,
    }
    let asked: Asked<'_> = serde_json::from_str(&step.answer).ok()?;
    let service = catalog.service(&asked.service?)?;
    let local = NaiveDateTime::parse_from_str(&asked.requested_time?, "%Y-%m-%d %H:%M").ok()?;
    let start = catalog
        .time_zone
        .from_local_datetime(&local)
        .earliest()?
        .with_timezone(&Utc);
    Some(place(service, start).iter().all(|seg| {
        seg.event_type_id
            .is_none_or(|id| mock.bookable_at(id, seg.start, at))
    }))
}

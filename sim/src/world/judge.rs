//! Judging refusals against Cal.com's ground truth. A booking refused after "frei" is a race
//! lost only if no qualified stylist was free in Cal.com at the instant of the refusal; when
//! one was, the refusal was the engine's own doing (an exact-start check, the caller's own
//! hold, a lock timeout): a false refusal, counted apart. A check that said "frei" is
//! judged the same way: told free while no qualified stylist was (a stale cache or listing
//! served), counted as `coverage.stale_available`. A check that said "nicht verfügbar" is
//! judged too: told taken while a qualified stylist was free (`unavailable_free`), and
//! [`judge_unavailable`] names why the slot looked taken ([`Unavailability`]).

use booking_engine::booking::place;
use booking_engine::catalog::Catalog;
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use mock_calcom::MockCalcom;

use booking_engine::store::LocalReservation;

use crate::kinds::Unavailability;
use crate::world::record::{CallRecord, Completion, StepRecord, TAKEN};

/// Whether Cal.com would have admitted a booking of an event type at a start, arriving at
/// an instant (`MockCalcom::bookable_at`, or the mock's `/_mock/bookable` in a live run).
pub trait Bookable {
    fn bookable_at(&mut self, event_type_id: u64, start: DateTime<Utc>, at: DateTime<Utc>) -> bool;

    /// When each Cal.com hold was made that, at `at`, hides an otherwise free host of the
    /// event type at `start` (`MockCalcom::holds_at`); empty where it cannot be seen (a live
    /// run asks the mock only what is bookable).
    fn holds_at(
        &mut self,
        _event_type_id: u64,
        _start: DateTime<Utc>,
        _at: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        Vec::new()
    }
}

impl Bookable for &MockCalcom {
    fn bookable_at(&mut self, event_type_id: u64, start: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        MockCalcom::bookable_at(self, event_type_id, start, at)
    }

    fn holds_at(
        &mut self,
        event_type_id: u64,
        start: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        MockCalcom::holds_at(self, event_type_id, start, at)
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
        for step in call
            .steps
            .iter_mut()
            .filter(|s| told_free(s) || told_unavailable(s))
        {
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

/// A check that answered "nicht verfügbar".
pub fn told_unavailable(step: &StepRecord) -> bool {
    crate::world::record::is_check(&step.function) && step.available == Some(false)
}

/// One caller's hold on a slot: from the check that said "frei" (and held it, as the
/// policy does) until the caller moved on.
struct Held {
    call: usize,
    call_id: String,
    /// The check's sending and answer, ms from the start: the hold was made in between.
    made: (u64, u64),
    /// The span the check asked about (all segments).
    span: Span,
    /// When the caller's next step began (a booking of it, another check), if any.
    next: Option<u64>,
    /// When the caller moved on from this slot: its first later step about another slot,
    /// or the end of its call.
    moved_on: u64,
    token: Option<String>,
}

/// Names why each check that said "nicht verfügbar" while a stylist was free
/// (`slot_free == Some(true)`, set by [`judge_refusals`]) looked taken: a Cal.com hold of
/// another caller (`mock.holds_at`), another caller's local hold (`local`, the engine's
/// reservations), a hold of a caller who had moved on, or, with no hold, a stale listing.
pub fn judge_unavailable(
    calls: &mut [CallRecord],
    mut mock: impl Bookable,
    local: &[LocalReservation],
    catalog: &Catalog,
    start: DateTime<Utc>,
) {
    let ms = |t: DateTime<Utc>| u64::try_from((t - start).num_milliseconds()).unwrap_or(0);
    let mut held: Vec<Held> = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let end = call.steps.last().map_or(call.start_ms, |s| s.completed_ms);
        for (k, step) in call.steps.iter().enumerate().filter(|(_, s)| told_free(s)) {
            let Some((span, key)) = asked_span(step, catalog) else {
                continue;
            };
            let later = &call.steps[k + 1..];
            let moved_on = later
                .iter()
                .find(|s| asked_key(s).is_some_and(|other| other != key))
                .map_or(end, |s| s.invoked_ms);
            held.push(Held {
                call: i,
                call_id: call.id.clone(),
                made: (step.invoked_ms, step.completed_ms),
                span,
                next: later.first().map(|s| s.completed_ms),
                moved_on,
                token: serde_json::from_str::<serde_json::Value>(&step.answer)
                    .ok()
                    .and_then(|a| a["reservation_token"].as_str().map(str::to_owned)),
            });
        }
    }
    for (i, call) in calls.iter_mut().enumerate() {
        for step in call
            .steps
            .iter_mut()
            .filter(|s| told_unavailable(s) && s.slot_free == Some(true))
        {
            let Some(((from, to), _)) = asked_span(step, catalog) else {
                continue;
            };
            let at_ms = step.completed_ms;
            let at = start + TimeDelta::milliseconds(i64::try_from(at_ms).unwrap_or(i64::MAX));
            let overlaps = |h: &&Held| h.call != i && h.span.0 < to && from < h.span.1;
            // (holder still deciding, held locally)
            let mut holds: Vec<(bool, bool)> = Vec::new();
            for r in local
                .iter()
                .filter(|r| r.call_id != call.id && r.start < to && from < r.end)
            {
                let holder = held.iter().filter(overlaps).find(|h| {
                    h.call_id == r.call_id
                        && (h.token.as_deref() == Some(r.token.as_str())
                            || (h.token.is_none() && h.span.0 == r.start))
                });
                let Some(h) = holder else { continue };
                // A hold converted or cancelled went with its caller's next step (the
                // booking, or moving on).
                let until = match r.state {
                    "converted" | "cancelled" => h.next.unwrap_or(u64::MAX).min(ms(r.until)),
                    _ => ms(r.until),
                };
                if h.made.1 <= at_ms && at_ms < until {
                    holds.push((at_ms < h.moved_on, true));
                }
            }
            let service = asked_service(step, catalog);
            for seg in service
                .iter()
                .flat_map(|(service, begin)| place(service, *begin))
            {
                let Some(id) = seg.event_type_id else {
                    continue;
                };
                for made in mock.holds_at(id, seg.start, at) {
                    let made = ms(made);
                    let holder = held
                        .iter()
                        .filter(overlaps)
                        .find(|h| h.made.0 <= made && made <= h.made.1);
                    holds.push((holder.is_none_or(|h| at_ms < h.moved_on), false));
                }
            }
            step.unavailable_why = Some(if holds.is_empty() {
                Unavailability::StaleListing
            } else if holds.iter().any(|(deciding, local)| *deciding && *local) {
                Unavailability::LocalHold
            } else if holds.iter().any(|(deciding, _)| *deciding) {
                Unavailability::CalcomHold
            } else {
                Unavailability::PassedOverHold
            });
        }
    }
}

/// The service and requested time a step asked for: from its request when read there (a
/// live run), else as its answer names them.
fn asked_key(step: &StepRecord) -> Option<(String, String)> {
    if let Some((service, time)) = &step.asked {
        return Some((service.to_string(), time.to_string()));
    }
    let a: serde_json::Value = serde_json::from_str(&step.answer).ok()?;
    Some((
        a["service"].as_str()?.to_owned(),
        a["requested_time"].as_str()?.to_owned(),
    ))
}

/// From, until.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// The span a step's answer asks about (all its segments) and its key.
fn asked_span(step: &StepRecord, catalog: &Catalog) -> Option<(Span, (String, String))> {
    let key = asked_key(step)?;
    let (service, start) = asked_service(step, catalog)?;
    let segments = place(&service, start);
    let from = segments.iter().map(|s| s.start).min()?;
    let to = segments.iter().map(|s| s.end).max()?;
    Some(((from, to), key))
}

/// The service and start (UTC) a step's answer names.
fn asked_service(
    step: &StepRecord,
    catalog: &Catalog,
) -> Option<(booking_engine::catalog::Service, DateTime<Utc>)> {
    let (service, time) = asked_key(step)?;
    let service = catalog.service(&service)?.clone();
    let local = NaiveDateTime::parse_from_str(&time, "%Y-%m-%d %H:%M").ok()?;
    let start = catalog
        .time_zone
        .from_local_datetime(&local)
        .earliest()?
        .with_timezone(&Utc);
    Some((service, start))
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
    let (service, time) = match &step.asked {
        Some((service, time)) => (
            std::borrow::Cow::Borrowed(&**service),
            std::borrow::Cow::Borrowed(&**time),
        ),
        None => {
            let asked: Asked<'_> = serde_json::from_str(&step.answer).ok()?;
            (asked.service?, asked.requested_time?)
        }
    };
    let service = catalog.service(&service)?;
    let local = NaiveDateTime::parse_from_str(&time, "%Y-%m-%d %H:%M").ok()?;
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

#[cfg(test)]
mod tests {
    //! The definition of `unavailable_free` and its reasons, over generated holds and call
    //! shapes: a holder (none, or a caller who checked the slot and was told "frei") holding
    //! it locally or in Cal.com, still deciding or moved on (to another slot, or hung up)
    //! before the judged answer, its hold lapsed or not; and the slot truly taken or not.
    use super::*;
    use crate::world::workload::CallKind;
    use rand::Rng;
    use serde_json::json;
    use std::collections::BTreeSet;

    /// Cal.com's answers in a generated world: whether a stylist is free, and the holds.
    struct World {
        free: bool,
        holds: Vec<DateTime<Utc>>,
    }

    impl Bookable for &World {
        fn bookable_at(&mut self, _: u64, _: DateTime<Utc>, _: DateTime<Utc>) -> bool {
            self.free
        }
        fn holds_at(&mut self, _: u64, _: DateTime<Utc>, _: DateTime<Utc>) -> Vec<DateTime<Utc>> {
            self.holds.clone()
        }
    }

    fn catalog() -> Catalog {
        let file = format!(
            "{}/../scenarios/lone-caller.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(file).unwrap();
        crate::scenario::Scenario::parse(&text, "lone-caller")
            .unwrap()
            .catalog()
    }

    fn step(
        at: u64,
        service: &str,
        time: &str,
        available: bool,
        token: Option<&str>,
    ) -> StepRecord {
        let mut answer = json!({
            "success": true, "available": available, "service": service, "requested_time": time,
        });
        if let Some(t) = token {
            answer["reservation_token"] = json!(t);
        }
        let args = serde_json::value::to_raw_value(&json!({})).unwrap();
        StepRecord::new(
            "check_availability".into(),
            (at, at + 500),
            Completion::Ok,
            0,
            args,
            &answer,
            &Default::default(),
        )
    }

    fn call(id: &str, steps: Vec<StepRecord>) -> CallRecord {
        CallRecord {
            id: id.into(),
            kind: CallKind::Scripted,
            start_ms: steps.first().map_or(0, |s| s.invoked_ms),
            steps,
            abandoned: false,
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Holder {
        /// Still on the line, about to book the slot after the judged answer.
        Deciding,
        /// Checked another slot before the judged answer.
        MovedOn,
        /// Hung up before the judged answer.
        HungUp,
    }

    #[test]
    fn unavailable_free_and_its_reason_follow_the_holds_and_the_holders() {
        let catalog = catalog();
        let service = catalog.services[0].name.clone();
        let start: DateTime<Utc> = "2025-11-24T08:00:00Z".parse().unwrap();
        let slot = "2025-11-25 10:00";
        let other = "2025-11-25 14:00";
        let mut rng = simkit::SeedStreams::new(24).stream("judge-unavailable");
        let mut seen: BTreeSet<(Option<Unavailability>, bool)> = BTreeSet::new();
        for case in 0..600 {
            let free = rng.random_bool(0.8);
            let holder = match rng.random_range(0..4) {
                0 => None,
                1 => Some(Holder::Deciding),
                2 => Some(Holder::MovedOn),
                _ => Some(Holder::HungUp),
            };
            let local = rng.random_bool(0.5);
            // The holder's check at 10 s; the judged answer at 60 s.
            let lapsed = rng.random_bool(0.25);
            let judged_at = 60_000;
            let mut calls = vec![call(
                "a",
                vec![step(judged_at - 500, &service, slot, false, None)],
            )];
            let mut world = World {
                free,
                holds: Vec::new(),
            };
            let mut held = Vec::new();
            if let Some(h) = holder {
                let token = local.then_some("tok");
                let mut steps = vec![step(10_000, &service, slot, true, token)];
                match h {
                    Holder::Deciding => steps.push(step(90_000, &service, slot, true, token)),
                    Holder::MovedOn => {
                        steps.push(step(30_000, &service, other, true, None));
                        steps.push(step(90_000, &service, other, true, None));
                    }
                    Holder::HungUp => {}
                }
                calls.push(call("b", steps));
                let until = start + TimeDelta::milliseconds(if lapsed { 40_000 } else { 300_000 });
                if local {
                    held.push(LocalReservation {
                        token: "tok".into(),
                        call_id: "b".into(),
                        service_id: catalog.services[0].id,
                        stylist: catalog.services[0].staff[0],
                        start: catalog
                            .time_zone
                            .from_local_datetime(
                                &NaiveDateTime::parse_from_str(slot, "%Y-%m-%d %H:%M").unwrap(),
                            )
                            .earliest()
                            .unwrap()
                            .with_timezone(&Utc),
                        end: catalog
                            .time_zone
                            .from_local_datetime(
                                &NaiveDateTime::parse_from_str(
                                    "2025-11-25 10:30",
                                    "%Y-%m-%d %H:%M",
                                )
                                .unwrap(),
                            )
                            .earliest()
                            .unwrap()
                            .with_timezone(&Utc),
                        until,
                        state: if lapsed { "expired" } else { "held" },
                    });
                } else if !lapsed {
                    // Cal.com answers only the holds still active at the instant asked.
                    world.holds.push(start + TimeDelta::milliseconds(10_200));
                }
            }
            judge_refusals(&mut calls, &world, &catalog, start);
            judge_unavailable(&mut calls, &world, &held, &catalog, start);
            let judged = &calls[0].steps[0];
            let expected = match (free, holder, lapsed) {
                (false, ..) => None,
                (true, None, _) | (true, Some(_), true) => Some(Unavailability::StaleListing),
                (true, Some(Holder::Deciding), false) if local => Some(Unavailability::LocalHold),
                (true, Some(Holder::Deciding), false) => Some(Unavailability::CalcomHold),
                (true, Some(_), false) => Some(Unavailability::PassedOverHold),
            };
            assert_eq!(judged.slot_free, Some(free), "case {case}");
            assert_eq!(
                judged.unavailable_why, expected,
                "case {case}: free {free}, holder {holder:?}, local {local}, lapsed {lapsed}"
            );
            // A "frei" is never a "nicht verfügbar" while free, whatever it is judged.
            for s in calls.iter().skip(1).flat_map(|c| &c.steps) {
                assert_eq!(s.unavailable_why, None, "case {case}");
            }
            seen.insert((expected, local));
        }
        // Every reason (and no reason) was drawn.
        assert!(seen.len() >= 7, "{seen:?}");
    }
}

//! What callers were told against what exists: no ghost booking (told it failed, yet
//! booked), no lost booking (told "gebucht", none exists); and liveness, no call made after
//! every fault healed left without an answer.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Booked, Checker, Event, Invariant, NO_ANSWER, Push};

/// A booking or cancel a caller asked for, and what it was told.
#[derive(Debug)]
pub(super) struct Told {
    f: String,
    args: Value,
    invoked: u64,
    /// When it was answered, and what the caller then believes of the booking it concerns.
    answer: Option<(u64, Belief)>,
}

/// What a caller believes of a booking it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Belief {
    Booked,
    NotBooked,
    /// No answer came: it may or may not have happened, as far as the caller knows.
    Unknown,
}

impl Checker {
    pub(super) fn caller(&mut self, call: &str, kind: &str, f: &str, e: &Event, t: u64) {
        let key = (call.to_owned(), f.to_owned());
        let asked = f == "start_booking" || f == "cancel_appointment";
        if kind == "invoke" {
            self.invoked.insert(key, t);
            let state = self.calls.entry(call.to_owned()).or_default();
            if asked {
                state.told.push(Told {
                    f: f.to_owned(),
                    args: e.value.clone(),
                    invoked: t,
                    answer: None,
                });
            }
            return;
        }
        let invoked = self.invoked.remove(&key).unwrap_or(t);
        let state = self.calls.entry(call.to_owned()).or_default();
        state.last_answer = t;
        let belief = match (f, kind) {
            (_, "info") => Some(Belief::Unknown),
            ("start_booking", "ok") => Some(Belief::Booked),
            ("start_booking", _) => Some(Belief::NotBooked),
            ("cancel_appointment", "ok") if e.value["cancelled"] == true => Some(Belief::NotBooked),
            _ => None,
        };
        if let Some(step) = state
            .told
            .iter_mut()
            .rev()
            .find(|s| s.f == f && s.answer.is_none())
        {
            // A cancel that cancelled nothing tells nothing of a booking.
            step.answer = belief.map(|b| (t, b));
        }
        // A caller told its appointment is cancelled knows it has none (a later booking
        // is told anew); one whose cancel got no answer does not know whether it has one,
        // as after a booking that got none: neither lost nor a ghost, whatever became of it.
        if f == "cancel_appointment" && kind == "ok" && e.value["cancelled"] == true {
            state.told_booked = None;
            state.last_booking_answer = Some("cancelled".to_owned());
        }
        if f == "cancel_appointment" && kind == "info" && state.told_booked.is_some() {
            state.told_booked = None;
            state.last_booking_answer = Some(NO_ANSWER.to_owned());
        }
        if f == "start_booking" {
            if kind == "ok" && state.told_booked.is_none() {
                state.told_booked = Some(t);
            }
            state.last_booking_answer = Some(match kind {
                "info" => NO_ANSWER.to_owned(),
                _ => e.value["error_type"].as_str().unwrap_or(kind).to_owned(),
            });
        }
        // Liveness: once every fault has ended, the engine answers every function call.
        // (A fault without an end never stops: no verdict in that run.) A call that got no
        // connection on any try is judged at the end: the engine may have been full then
        // (see `refused_at_saturation`).
        let healed = self.faults_open == 0 && self.healed_at.is_some_and(|h| invoked >= h);
        let refused = kind == "info" && crate::world::never_connected(&e.value);
        if !refused {
            self.reached.push((invoked, t));
        }
        if kind == "info" && healed {
            let detail = format!(
                "{call}: {f} made at {} s, after every fault had ended, got no answer",
                invoked as f64 / 1000.0
            );
            if refused {
                self.refused_after_heal.push((invoked, t, detail));
            } else {
                self.push(Invariant::NoAnswerAfterHeal, detail, t);
            }
        }
    }

    /// Calls made after every fault ended that got no connection on any try, while the
    /// engine held another caller's connection (made before the call gave up, answered
    /// after it was made): the engine was full, past its connections and backlog, as a
    /// storm makes it with or without a fault (counted in `refused_connections`), not gone.
    /// The others are `no_answer_after_heal`: an engine that never accepted again, or that
    /// served no one while the call tried.
    pub(super) fn refused_at_saturation(&mut self) {
        let mut reached = std::mem::take(&mut self.reached);
        reached.sort_unstable();
        // The latest answer among the calls made up to each one.
        let mut latest = Vec::with_capacity(reached.len());
        let mut max = 0;
        for &(_, answered) in &reached {
            max = max.max(answered);
            latest.push(max);
        }
        for (invoked, gave_up, detail) in std::mem::take(&mut self.refused_after_heal) {
            let made_before = reached.partition_point(|&(i, _)| i <= gave_up);
            let held = made_before > 0 && latest[made_before - 1] >= invoked;
            if !held {
                self.push(Invariant::NoAnswerAfterHeal, detail, gave_up);
            }
        }
    }

    /// What callers were told against what exists.
    pub(super) fn told_against_held(&self, push: Push<'_>) {
        // What callers were told against what exists.
        let mut held: BTreeMap<&str, Vec<&Booked>> = BTreeMap::new();
        for b in self.bookings.values() {
            if let Some(call) = &b.commit.call_id {
                held.entry(call.as_str()).or_default().push(b);
            }
        }
        for (call, state) in &self.calls {
            let theirs: Vec<&&Booked> = held
                .get(call.as_str())
                .map(|v| v.iter().filter(|b| b.active()).collect())
                .unwrap_or_default();
            // Staff cancelled (or moved away) the call's booking in the app: what the caller
            // holds now is the salon's decision, not a booking the engine lost (the engine
            // cancelling a compound's other parts after staff cancelled one follows it). Once
            // staff moved it, the booking that counts is the one staff made: cancelled by
            // the engine, it is lost.
            let all = || held.get(call.as_str()).into_iter().flatten();
            let moved_on = |b: &&Booked| {
                all().any(|n| n.commit.rescheduled_from.as_deref() == Some(b.commit.uid.as_str()))
            };
            let staff_took = all().any(|b| b.by_staff && !moved_on(b));
            match state.told_booked {
                Some(_) if theirs.is_empty() && staff_took => {}
                Some(told) if theirs.is_empty() => {
                    let gone = held
                        .get(call.as_str())
                        .into_iter()
                        .flatten()
                        .filter_map(|b| b.cancelled)
                        .max()
                        .unwrap_or(told);
                    push(
                        Invariant::LostBooking,
                        format!("{call} was told \"gebucht\" and has no booking"),
                        told.max(gone),
                    );
                }
                // A booking whose answer never came (`info`: the engine died or was cut off
                // after booking) may or may not have happened, as far as the caller knows: not
                // a ghost, counted as `coverage.booked_unanswered`. A ghost was told it failed.
                // A booking staff moved in the app is staff's, not the engine's ghost.
                None if theirs
                    .iter()
                    .filter(|b| b.commit.source == "api")
                    .any(|b| believed(&state.told, b) == Belief::NotBooked) =>
                {
                    let made = theirs.iter().map(|b| b.at).max().unwrap_or(0);
                    push(
                        Invariant::GhostBooking,
                        format!(
                            "{call} was not told \"gebucht\" ({}) but holds {} booking(s)",
                            state
                                .last_booking_answer
                                .as_deref()
                                .unwrap_or("never booked"),
                            theirs.len()
                        ),
                        made.max(state.last_answer),
                    );
                }
                _ => {}
            }
        }
    }
}

/// What the caller believes of booking `b`: the answer to the step that made it (the last
/// booking asked for before Cal.com committed it), then each later answer about it in turn:
/// the same booking asked again (a retry) or a cancel. A cancel that got no answer leaves a
/// caller who believed it booked unsure; one who believed it failed still does. A booking
/// the call never asked for is not believed booked.
fn believed(told: &[Told], b: &Booked) -> Belief {
    let bookings = || told.iter().filter(|s| s.f == "start_booking");
    let Some(made) = bookings()
        .rfind(|s| s.invoked <= b.at)
        .or_else(|| bookings().next())
    else {
        return Belief::NotBooked;
    };
    // The same booking asked again is a retry of it only until the call asks to cancel:
    // after a cancel (answered or not) it is a new booking, whose answer tells nothing of
    // this one (a rebooking refused after an unanswered cancel leaves the caller unsure).
    let mut cancelled = false;
    let mut answers: Vec<(u64, bool, Belief)> = told
        .iter()
        .filter(|s| s.invoked >= made.invoked)
        .filter(|s| {
            let cancel = s.f == "cancel_appointment";
            let concerns = cancel || (!cancelled && s.args == made.args);
            cancelled |= cancel;
            concerns
        })
        .filter_map(|s| {
            s.answer
                .map(|(at, belief)| (at, s.f == "cancel_appointment", belief))
        })
        .collect();
    answers.sort_by_key(|(at, _, _)| *at);
    answers
        .into_iter()
        .fold(Belief::Unknown, |now, (_, cancel, belief)| {
            match (cancel, belief) {
                (true, Belief::Unknown) if now != Belief::Booked => now,
                _ => belief,
            }
        })
}

/// Which booking attempt of its call made booking `b` of `service` (1 for the first): each
/// `start_booking` is an attempt of its own, except one asking again for what the call's
/// previous step asked (a retry, no cancel between); `b` belongs to the last attempt for its
/// service asked before Cal.com committed it. A compound service's parts are judged whole
/// per attempt: a call that books the same service twice has two wholes.
pub(super) fn attempt(told: &[Told], b: &Booked) -> usize {
    let service = b.commit.service.as_deref();
    fn asks_for(s: &Told) -> Option<&str> {
        ["service_name", "dienstleistung", "service"]
            .iter()
            .find_map(|k| s.args.get(*k))
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
    }
    // Steps naming another service did not make it (when some step names its own).
    let named = told
        .iter()
        .any(|s| s.f == "start_booking" && asks_for(s) == service);
    let mut n = 0;
    let mut made = None;
    let mut previous: Option<&Told> = None;
    for s in told {
        if s.f == "start_booking" {
            let retry = previous.is_some_and(|p| p.f == "start_booking" && p.args == s.args);
            if !retry {
                n += 1;
            }
            if s.invoked <= b.at && (!named || asks_for(s) == service) {
                made = Some(n);
            }
        }
        previous = Some(s);
    }
    made.unwrap_or(1)
}

//! Turns a scenario's workloads into call plans: who calls when, with which function calls
//! at which offsets. Every random choice comes from a named stream of the run's seed
//! (`arrivals`, `slots`, `conversation`), so two policies run on one seed see the same callers
//! at the same instants.

use std::time::Duration;

use rand::Rng;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use simkit::SeedStreams;

use crate::scenario::{Arrivals, Journeys, Scenario, args_json};

/// What kind of workload a call comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    Scripted,
    Storm,
    Journey,
}

/// One function call of a call, `at` after the call starts.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    pub at: Duration,
    pub function: String,
    /// As JSON text: plans for an hour of calls are made up front.
    pub args: Box<RawValue>,
    /// Only made if an earlier check said the slot is free (a journey's booking).
    pub needs_available: bool,
}

impl PartialEq for PlannedStep {
    fn eq(&self, other: &Self) -> bool {
        (
            self.at,
            &self.function,
            self.args.get(),
            self.needs_available,
        ) == (
            other.at,
            &other.function,
            other.args.get(),
            other.needs_available,
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallPlan {
    pub id: String,
    pub kind: CallKind,
    /// From the start of the simulation.
    pub start: Duration,
    pub steps: Vec<PlannedStep>,
    /// The caller hangs up after the check instead of booking.
    pub abandons: bool,
}

fn raw(v: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(v).expect("JSON values serialize")
}

/// When the workload is over: the scenario's duration, or the last planned function call
/// plus every Retell attempt's timeout, whichever is later.
pub fn workload_end(scenario: &Scenario, plans: &[CallPlan]) -> Duration {
    let last_call = plans
        .iter()
        .map(|p| p.start + p.steps.last().map_or(Duration::ZERO, |s| s.at))
        .max()
        .unwrap_or_default();
    let retell = &scenario.retell;
    scenario
        .duration
        .max(last_call + retell.timeout * (retell.retries + 1))
}

/// Every call of the scenario, in start order (ties in workload order).
pub fn plan(scenario: &Scenario, seed: u64) -> Vec<CallPlan> {
    let streams = SeedStreams::new(seed);
    let mut calls = Vec::new();
    for call in &scenario.calls {
        calls.push(CallPlan {
            id: call.id.clone(),
            kind: CallKind::Scripted,
            start: call.start,
            steps: call
                .steps
                .iter()
                .map(|s| PlannedStep {
                    at: s.at,
                    function: s.function.clone(),
                    args: raw(&args_json(&s.args)),
                    needs_available: false,
                })
                .collect(),
            abandons: false,
        });
    }
    for (w, storm) in scenario.storms.iter().enumerate() {
        let n = (storm.rate * storm.duration.as_secs_f64()).round() as u64;
        for i in 0..n {
            let mut args = args_json(&storm.args);
            if !storm.datetimes.is_empty() {
                args["datetime"] = json!(storm.datetimes[i as usize % storm.datetimes.len()]);
            }
            let id = format!("storm{w}_{i:05}");
            args["call_id"] = json!(id);
            calls.push(CallPlan {
                id,
                kind: CallKind::Storm,
                start: storm.from + Duration::from_secs_f64(i as f64 / storm.rate),
                steps: vec![PlannedStep {
                    at: Duration::ZERO,
                    function: storm.function.clone(),
                    args: raw(&args),
                    needs_available: false,
                }],
                abandons: false,
            });
        }
    }
    for (w, journeys) in scenario.journeys.iter().enumerate() {
        let name = |s: &str| format!("journeys{w}.{s}");
        let mut arrivals = streams.stream(&name("arrivals"));
        let mut slots = streams.stream(&name("slots"));
        let mut talk = streams.stream(&name("conversation"));
        let choices = journeys.all_slots().unwrap_or_default();
        for (i, at) in arrival_times(journeys, &mut arrivals)
            .into_iter()
            .enumerate()
        {
            let id = format!("call{w}_{i:05}");
            let slot = pick(journeys, &choices, &mut slots);
            let c = &journeys.conversation;
            let check_at = c.until_check.sample(&mut talk);
            let gap = match &c.gap {
                Some(gap) => gap.sample(&mut talk),
                None => {
                    let mut gap = c.llm.sample(&mut talk)
                        + c.tts.sample(&mut talk)
                        + c.ai_response.sample(&mut talk)
                        + c.listening.sample(&mut talk)
                        + c.confirmation.sample(&mut talk)
                        + c.name.sample(&mut talk);
                    if talk.random_bool(c.name_reask_probability.clamp(0.0, 1.0)) {
                        gap += c.name_reask.sample(&mut talk);
                    }
                    gap
                }
            };
            let abandons = talk.random_bool(c.abandon_probability.clamp(0.0, 1.0));
            let (date, time) = slot.split_once('T').unwrap_or((slot.as_str(), "12:00"));
            let caller = format!("Anrufer {i}");
            calls.push(CallPlan {
                id: id.clone(),
                kind: CallKind::Journey,
                start: at,
                steps: vec![
                    PlannedStep {
                        at: check_at,
                        function: "check_availability".into(),
                        args: raw(&json!({ "datum": date, "uhrzeit": time, "dienstleistung": journeys.service, "name": caller, "call_id": id })),
                        needs_available: false,
                    },
                    PlannedStep {
                        at: check_at + gap,
                        function: "start_booking".into(),
                        args: raw(&json!({ "datetime": slot, "service_name": journeys.service, "customer_name": caller, "call_id": id })),
                        needs_available: true,
                    },
                ],
                abandons,
            });
        }
    }
    calls.sort_by_key(|c| c.start);
    calls
}

/// Arrival instants of a journey workload.
fn arrival_times(j: &Journeys, rng: &mut impl Rng) -> Vec<Duration> {
    let end = j.from + j.duration;
    let mut times = Vec::new();
    match &j.arrivals {
        Arrivals::Ramp { phases } => {
            // Integrate the rate in 1-ms steps; a call arrives each time a whole one accrues.
            let (mut start, mut due) = (j.from, 0.0_f64);
            for p in phases {
                let ms = p.duration.as_millis() as u64;
                let to = p.ramp_to.unwrap_or(p.rate);
                for step in 0..ms {
                    let rate = p.rate + (to - p.rate) * (step as f64 / ms.max(1) as f64);
                    due += rate / 1000.0;
                    if due >= 1.0 {
                        due -= 1.0;
                        times.push(start + Duration::from_millis(step));
                    }
                }
                start += p.duration;
            }
        }
        &Arrivals::Constant { rate } => {
            let n = (rate * j.duration.as_secs_f64()).floor() as u64;
            times.extend((0..n).map(|i| j.from + Duration::from_secs_f64(i as f64 / rate)));
        }
        &Arrivals::Poisson { rate } => {
            let mut t = j.from;
            loop {
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                t += Duration::from_secs_f64(-u.ln() / rate);
                if t >= end {
                    break;
                }
                times.push(t);
            }
        }
    }
    times
}

fn pick(j: &Journeys, slots: &[String], rng: &mut impl Rng) -> String {
    if j.weights.is_empty() {
        return slots[rng.random_range(0..slots.len())].clone();
    }
    let total: f64 = j.weights.iter().sum();
    let mut x = rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
    for (slot, w) in slots.iter().zip(&j.weights) {
        if x < *w {
            return slot.clone();
        }
        x -= w;
    }
    slots[slots.len() - 1].clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(step: &PlannedStep) -> Value {
        serde_json::from_str(step.args.get()).unwrap()
    }

    fn scenario(extra: &str) -> Scenario {
        let text =
            format!("name = \"t\"\nstart = \"2025-11-24T09:00:00\"\nduration = \"5m\"\n{extra}");
        Scenario::parse(&text, "t.toml").unwrap()
    }

    #[test]
    fn journeys_are_seeded_and_their_gap_matches_the_seeds() {
        let s = scenario(
            "[[journeys]]\narrivals = { kind = \"poisson\", rate = 2.0 }\nduration = \"5m\"\nservice = \"Herrenhaarschnitt\"\nslots = [\"2025-11-25T12:00\", \"2025-11-25T12:30\"]\n",
        );
        let a = plan(&s, 741);
        assert_eq!(a, plan(&s, 741), "same seed, same callers");
        assert_ne!(a, plan(&s, 742));
        assert!(
            (500..700).contains(&a.len()),
            "{} calls for 2/s over 5 min",
            a.len()
        );
        let mut gaps: Vec<f64> = a
            .iter()
            .map(|c| (c.steps[1].at - c.steps[0].at).as_secs_f64())
            .collect();
        gaps.sort_by(f64::total_cmp);
        let median = gaps[gaps.len() / 2];
        // (0.8 + 0.3 + 7.1) + 6.2 + 2.2 + 4.9 = 21.5 s, plus the re-asked name in 40 % of calls.
        assert!(
            (21.0..28.0).contains(&median),
            "median check-to-book gap {median:.1} s"
        );
    }

    /// Calibration: a call whose name is understood (#741's, seed 000) has the seed's 21.5-s
    /// gap in the median, within 15 %; the re-asked name adds its 10-20 s on top.
    #[test]
    fn the_gap_of_a_call_without_a_re_asked_name_is_the_seeds_within_15_percent() {
        let median = |extra: &str| {
            let s = scenario(&format!(
                "[[journeys]]\narrivals = {{ kind = \"constant\", rate = 5.0 }}\nduration = \"10m\"\nservice = \"Herrenhaarschnitt\"\nslots = [\"2025-11-25T12:00\"]\n{extra}"
            ));
            let mut gaps: Vec<f64> = plan(&s, 1)
                .iter()
                .map(|c| (c.steps[1].at - c.steps[0].at).as_secs_f64())
                .collect();
            gaps.sort_by(f64::total_cmp);
            gaps[gaps.len() / 2]
        };
        let understood = median("conversation = { name_reask_probability = 0.0 }\n");
        assert!(
            (21.5 * 0.85..=21.5 * 1.15).contains(&understood),
            "{understood:.2} s"
        );
        let always_reasked = median("conversation = { name_reask_probability = 1.0 }\n");
        assert!(
            (understood + 10.0..=understood + 20.0).contains(&always_reasked),
            "{always_reasked:.2} s"
        );
    }

    #[test]
    fn a_slot_grid_adds_every_step_of_every_day() {
        let s = scenario(
            "[[journeys]]\narrivals = { kind = \"constant\", rate = 1 }\nduration = \"10s\"\nservice = \"Herrenhaarschnitt\"\nslot_grid = { days = [\"2025-11-24\", \"2025-11-25\"], from = \"09:00\", to = \"10:00\", every = \"30m\" }\n",
        );
        let slots = s.journeys[0].all_slots().unwrap();
        assert_eq!(slots.len(), 6);
        assert_eq!(slots[2], "2025-11-24T10:00");
        assert!(
            plan(&s, 1).iter().all(
                |c| slots.contains(&args(&c.steps[1])["datetime"].as_str().unwrap().to_owned())
            )
        );
    }

    #[test]
    fn ramps_accelerate_like_artillery_phases() {
        let s = scenario(
            "[[journeys]]\narrivals = { kind = \"ramp\", phases = [{ duration = \"60s\", rate = 0, ramp_to = 10 }, { duration = \"60s\", rate = 10 }] }\nduration = \"2m\"\nservice = \"Herrenhaarschnitt\"\nslots = [\"2025-11-25T12:00\"]\n",
        );
        let calls = plan(&s, 1);
        // 0 -> 10/s over a minute is 300 calls, then 600 at 10/s.
        assert!((895..=901).contains(&calls.len()), "{} calls", calls.len());
        let first_half = calls
            .iter()
            .filter(|c| c.start < Duration::from_secs(30))
            .count();
        let second_half = calls
            .iter()
            .filter(|c| c.start >= Duration::from_secs(30) && c.start < Duration::from_secs(60))
            .count();
        assert!(
            second_half > 2 * first_half,
            "{first_half} then {second_half}: not ramping"
        );
    }

    #[test]
    fn storms_spread_calls_evenly_and_cycle_their_times() {
        let s = scenario(
            "[[storms]]\nfunction = \"start_booking\"\nrate = 50\nduration = \"10s\"\ndatetimes = [\"2025-11-25T12:00\", \"2025-11-25T12:15\"]\nargs = { service_name = \"Herrenhaarschnitt\" }\n",
        );
        let calls = plan(&s, 1);
        assert_eq!(calls.len(), 500);
        assert_eq!(calls[1].start, Duration::from_millis(20));
        assert_eq!(args(&calls[1].steps[0])["datetime"], "2025-11-25T12:15");
        assert_eq!(args(&calls[1].steps[0])["call_id"], "storm0_00001");
    }
}

//! What a scenario may say beyond its types: every number within its documented range
//! (README, "Scenario files"), references that resolve (services, functions, event types),
//! and planned work the machine can do. Each error starts with the field's dotted path;
//! [`line_of`] finds that field in the file, so `validate`, `run` and `--set` can name file,
//! line, field, value and the allowed range.

use std::collections::BTreeMap;
use std::time::Duration;

use simkit::limits::{self, Checked, DAY, HOUR, MINUTE, SECOND};

use crate::scenario::format::{Arrivals, Fault, Scenario};

/// The functions the engine answers (`start_booking`, `check_availability`, …).
pub use booking_engine::retell::FUNCTIONS;

/// A scripted call's id names its caller in the history and to the engine: it must not be
/// empty, nor a process of the history (`engine`, `calcom`, `nemesis`), nor look like the
/// ids generated for journeys and storms (`call0_00012`, `storm1_00003`).
fn check_call_id(id: &str) -> Result<(), &'static str> {
    let generated = |prefix: &str| {
        id.strip_prefix(prefix)
            .and_then(|rest| rest.split_once('_'))
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            })
    };
    if id.trim().is_empty() {
        Err("is empty: expected a name for the caller, e.g. \"call_perm\"")
    } else if ["engine", "calcom", "nemesis"].contains(&id) {
        Err("is a process of the history (engine, calcom, nemesis): expected another name")
    } else if generated("call") || generated("storm") {
        Err("has the form of the ids generated for journeys and storms: expected another name")
    } else {
        Ok(())
    }
}

/// Rates (calls per second) a workload may have: a positive rate below one a day is a typo.
const MAX_RATE: f64 = 1000.0;
const MIN_RATE: f64 = 1.0 / 86_400.0;

pub fn check(s: &Scenario) -> Result<(), String> {
    check_ranges(s).map_err(|e| e.to_string())?;
    check_references(s)?;
    super::staff::check(s, s.limits.max_simulated)?;
    check_planned_work(s)
}

fn check_ranges(s: &Scenario) -> Checked {
    // The simulated clock counts from the Unix epoch (in UTC, a day after it in any zone);
    // beyond year 9000 a run's dates would leave what Cal.com's wire format writes.
    let (first, last) = (
        chrono::NaiveDate::from_ymd_opt(1970, 1, 2),
        chrono::NaiveDate::from_ymd_opt(9000, 1, 1),
    );
    let day = Some(s.start.date());
    if day < first || day >= last {
        return Err(limits::OutOfRange::new(
            "start",
            s.start.format("%Y-%m-%dT%H:%M:%S"),
            "a date from 1970-01-02 to 8999-12-31",
        ));
    }
    let max = s.limits.max_simulated;
    limits::count("limits.max_calls", s.limits.max_calls, 1, 100_000_000)?;
    limits::duration("limits.max_simulated", max, MINUTE, 366 * DAY)?;
    limits::duration("duration", s.duration, Duration::ZERO, max)?;
    limits::duration("settle", s.settle, Duration::ZERO, DAY)?;
    limits::duration("tick", s.tick, Duration::from_millis(1), SECOND)?;
    limits::duration(
        "network.max_latency",
        s.network.max_latency,
        Duration::ZERO,
        10 * SECOND,
    )?;
    limits::duration(
        "network.min_latency",
        s.network.min_latency,
        Duration::ZERO,
        s.network.max_latency,
    )?;
    limits::duration("retell.timeout", s.retell.timeout, SECOND, 10 * MINUTE)?;
    limits::count("retell.retries", s.retell.retries.into(), 0, 10)?;
    limits::duration(
        "live.max_send_skew",
        s.live.max_send_skew,
        Duration::from_millis(1),
        10 * MINUTE,
    )?;
    limits::count("live.max_refused", s.live.max_refused, 0, 1_000_000_000)?;
    limits::count(
        "live.max_unreadable",
        s.live.max_unreadable,
        0,
        1_000_000_000,
    )?;
    limits::number("live.max_unanswered", s.live.max_unanswered, 0.0, 1.0)?;
    let answers = &s.live.answers;
    for (field, pointer) in [
        ("root", &answers.root),
        ("success", &answers.success),
        ("available", &answers.available),
    ]
    .into_iter()
    .chain(answers.text.iter().map(|p| ("text", p)))
    {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(limits::OutOfRange::new(
                format!("live.answers.{field}"),
                pointer,
                "a JSON pointer: \"\" or a path starting with `/` (e.g. \"/result\")",
            ));
        }
    }
    for (field, list) in [
        ("available_words", &answers.available_words),
        ("booked_words", &answers.booked_words),
        ("refused_words", &answers.refused_words),
        ("try_later_words", &answers.try_later_words),
    ] {
        if list.iter().any(|w| w.trim().is_empty()) || list.len() > 100 {
            return Err(limits::OutOfRange::new(
                format!("live.answers.{field}"),
                format!("{list:?}"),
                "at most 100 words, none empty",
            ));
        }
    }
    for (i, c) in s.calls.iter().enumerate() {
        let at = format!("calls[{i}]");
        limits::duration(&format!("{at}.start"), c.start, Duration::ZERO, max)?;
        limits::count(&format!("{at}.steps"), c.steps.len() as u64, 1, 1000)?;
        for (j, step) in c.steps.iter().enumerate() {
            limits::duration(&format!("{at}.steps[{j}].at"), step.at, Duration::ZERO, DAY)?;
        }
    }
    for (i, storm) in s.storms.iter().enumerate() {
        let at = format!("storms[{i}]");
        limits::number(&format!("{at}.rate"), storm.rate, MIN_RATE, MAX_RATE)?;
        limits::duration(&format!("{at}.from"), storm.from, Duration::ZERO, max)?;
        limits::duration(
            &format!("{at}.duration"),
            storm.duration,
            Duration::ZERO,
            max,
        )?;
    }
    for (i, j) in s.journeys.iter().enumerate() {
        let at = format!("journeys[{i}]");
        check_arrivals(&format!("{at}.arrivals"), &j.arrivals, max)?;
        limits::duration(&format!("{at}.from"), j.from, Duration::ZERO, max)?;
        limits::duration(&format!("{at}.duration"), j.duration, Duration::ZERO, max)?;
        for w in &j.weights {
            limits::number(&format!("{at}.weights"), *w, 0.0, 1e9)?;
        }
        if let Some(g) = &j.slot_grid {
            limits::duration(&format!("{at}.slot_grid.every"), g.every, MINUTE, DAY)?;
            limits::count(&format!("{at}.slot_grid.days"), g.days.len() as u64, 1, 366)?;
        }
        let c = &j.conversation;
        let conv = format!("{at}.conversation");
        for (name, d) in [
            ("until_check", &c.until_check),
            ("llm", &c.llm),
            ("tts", &c.tts),
            ("ai_response", &c.ai_response),
            ("listening", &c.listening),
            ("confirmation", &c.confirmation),
            ("name", &c.name),
            ("name_reask", &c.name_reask),
        ] {
            limits::distribution(&format!("{conv}.{name}"), d, HOUR)?;
        }
        if let Some(gap) = &c.gap {
            limits::distribution(&format!("{conv}.gap"), gap, HOUR)?;
        }
        limits::probability(
            &format!("{conv}.name_reask_probability"),
            c.name_reask_probability,
        )?;
        limits::probability(
            &format!("{conv}.abandon_probability"),
            c.abandon_probability,
        )?;
    }
    for (i, e) in s.external.iter().enumerate() {
        limits::duration(&format!("external[{i}].at"), e.at, Duration::ZERO, max)?;
    }
    for (i, c) in s.channel.iter().enumerate() {
        limits::duration(&format!("channel[{i}].at"), c.at, Duration::ZERO, max)?;
    }
    for (i, f) in s.faults.iter().enumerate() {
        let at = format!("faults[{i}]");
        match *f {
            Fault::EngineCrash {
                at: t,
                restart_after,
            } => {
                limits::duration(&format!("{at}.at"), t, Duration::ZERO, max)?;
                limits::duration(
                    &format!("{at}.restart_after"),
                    restart_after,
                    Duration::ZERO,
                    DAY,
                )?;
            }
            Fault::Partition { at: t, duration } => {
                limits::duration(&format!("{at}.at"), t, Duration::ZERO, max)?;
                limits::duration(&format!("{at}.duration"), duration, Duration::ZERO, DAY)?;
            }
            Fault::Redis { .. } | Fault::Database { .. } => {}
        }
        if let Some(infra) = f.infra() {
            check_infra_fault(&at, &infra, max)?;
        }
    }
    crate::scenario::workers::check(&s.engine, &s.clocks, max)?;
    // `calcom`'s ranges are part of `MockConfig::validate`, which the scenario runs first.
    if let Ok(policy) = s.policy() {
        policy.check_ranges().map_err(|e| e.within("policy"))?;
    }
    Ok(())
}

/// A `redis` or `database` fault: its window, its mode (restart and failover are Redis's),
/// and the numbers its mode takes (and only those).
fn check_infra_fault(at: &str, f: &crate::scenario::InfraFault, max: Duration) -> Checked {
    use booking_engine::infra::{Mode, Part};
    limits::duration(&format!("{at}.at"), f.at, Duration::ZERO, max)?;
    let longest = if f.mode == Mode::Pause {
        10 * MINUTE
    } else {
        HOUR
    };
    limits::duration(
        &format!("{at}.duration"),
        f.duration,
        Duration::from_millis(1),
        longest,
    )?;
    if f.part == Part::Database && matches!(f.mode, Mode::Restart | Mode::Failover) {
        return Err(limits::OutOfRange::new(
            format!("{at}.mode"),
            format!("\"{}\"", f.mode.name()),
            "a database fault is \"slow\", \"refuse\", \"timeout\" or \"pause\" \
             (restart and failover are Redis's: see docs/scenario-format.md)",
        ));
    }
    let wants_latency = matches!(f.mode, Mode::Slow | Mode::Timeout);
    match (wants_latency, f.latency) {
        (true, Some(l)) => limits::duration(
            &format!("{at}.latency"),
            l,
            Duration::from_millis(1),
            MINUTE,
        )?,
        (true, None) => {
            return Err(limits::OutOfRange::new(
                format!("{at}.latency"),
                "nothing",
                format!("a duration for mode \"{}\"", f.mode.name()),
            ));
        }
        (false, Some(l)) => {
            return Err(limits::OutOfRange::new(
                format!("{at}.latency"),
                format!("\"{l:?}\""),
                format!(
                    "no latency: only \"slow\" and \"timeout\" take one, not \"{}\"",
                    f.mode.name()
                ),
            ));
        }
        (false, None) => {}
    }
    match (f.mode == Mode::Failover, f.lost_writes) {
        (true, Some(l)) => limits::duration(
            &format!("{at}.lost_writes"),
            l,
            Duration::from_millis(1),
            MINUTE,
        )?,
        (true, None) => {
            return Err(limits::OutOfRange::new(
                format!("{at}.lost_writes"),
                "nothing",
                "a duration for mode \"failover\" (the writes the replica missed)",
            ));
        }
        (false, Some(l)) => {
            return Err(limits::OutOfRange::new(
                format!("{at}.lost_writes"),
                format!("\"{l:?}\""),
                "no lost_writes: only \"failover\" takes it",
            ));
        }
        (false, None) => {}
    }
    Ok(())
}

fn check_arrivals(field: &str, arrivals: &Arrivals, max: Duration) -> Checked {
    let rate = |name: &str, r: f64| -> Checked {
        // Zero is allowed (a pause); a positive rate must be one a day at least.
        if r != 0.0 {
            limits::number(&format!("{field}.{name}"), r, MIN_RATE, MAX_RATE)?;
        }
        limits::number(&format!("{field}.{name}"), r, 0.0, MAX_RATE)
    };
    match arrivals {
        Arrivals::Constant { rate: r } | Arrivals::Poisson { rate: r } => rate("rate", *r),
        Arrivals::Ramp { phases } => {
            limits::count(&format!("{field}.phases"), phases.len() as u64, 1, 1000)?;
            for (k, p) in phases.iter().enumerate() {
                limits::duration(
                    &format!("{field}.phases[{k}].duration"),
                    p.duration,
                    Duration::ZERO,
                    max,
                )?;
                rate(&format!("phases[{k}].rate"), p.rate)?;
                if let Some(to) = p.ramp_to {
                    rate(&format!("phases[{k}].ramp_to"), to)?;
                }
            }
            Ok(())
        }
    }
}

/// Names that must resolve: the engine's functions, the catalogue's services, the world's
/// event types.
fn check_references(s: &Scenario) -> Result<(), String> {
    let known_function = |f: &str| FUNCTIONS.contains(&f);
    let functions = FUNCTIONS.join(", ");
    // Where each id was first seen: one look-up per call, so that validating is linear in
    // the number of calls (a scan of the calls before each one was quadratic: 18 s for
    // 100 000 calls).
    let mut first_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, c) in s.calls.iter().enumerate() {
        check_call_id(&c.id).map_err(|why| format!("calls[{i}].id: `{}` {why}", c.id))?;
        if let Some(&first) = first_of.get(c.id.as_str()) {
            return Err(format!(
                "calls[{i}].id: `{}` is already calls[{first}]'s: each call needs its own id (the engine and the history tell callers apart by it)",
                c.id
            ));
        }
        first_of.insert(&c.id, i);
        for (j, step) in c.steps.iter().enumerate() {
            if !known_function(&step.function) {
                return Err(format!(
                    "calls[{i}].steps[{j}].function: `{}` is not a function the engine answers (expected one of {functions})",
                    step.function
                ));
            }
        }
    }
    for (i, storm) in s.storms.iter().enumerate() {
        if !known_function(&storm.function) {
            return Err(format!(
                "storms[{i}].function: `{}` is not a function the engine answers (expected one of {functions})",
                storm.function
            ));
        }
    }
    let catalog = s.catalog();
    let services = || {
        catalog
            .services
            .iter()
            .map(|s| format!("\"{}\"", s.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, j) in s.journeys.iter().enumerate() {
        if catalog.service(&j.service).is_none() {
            return Err(format!(
                "journeys[{i}].service: `{}` is not in the catalogue (expected one of {})",
                j.service,
                services()
            ));
        }
    }
    for (i, c) in s.channel.iter().enumerate() {
        if catalog.service(&c.service).is_none() {
            return Err(format!(
                "channel[{i}].service: `{}` is not in the catalogue (expected one of {})",
                c.service,
                services()
            ));
        }
    }
    let event_types: Vec<String> = s
        .calcom
        .event_types
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    for (i, e) in s.external.iter().enumerate() {
        if !s.calcom.event_types.iter().any(|et| et.id == e.event_type) {
            return Err(format!(
                "external[{i}].event_type: event type {} is not in [calcom] (defined: {})",
                e.event_type,
                event_types.join(", ")
            ));
        }
    }
    Ok(())
}

/// Calls the workloads plan, from their rates and durations.
pub fn planned_calls(s: &Scenario) -> f64 {
    let mut calls = s.calls.len() as f64;
    for storm in &s.storms {
        calls += storm.rate * storm.duration.as_secs_f64();
    }
    for j in &s.journeys {
        calls += match &j.arrivals {
            Arrivals::Constant { rate } | Arrivals::Poisson { rate } => {
                rate * j.duration.as_secs_f64()
            }
            Arrivals::Ramp { phases } => phases
                .iter()
                .map(|p| (p.rate + p.ramp_to.unwrap_or(p.rate)) / 2.0 * p.duration.as_secs_f64())
                .sum(),
        };
    }
    calls
}

/// The simulated time a run takes at least: the workloads, the last scripted step and the
/// settle time (Retell's retries of the last call come on top).
pub fn planned_time(s: &Scenario) -> Duration {
    let scripted = s
        .calls
        .iter()
        .map(|c| c.start + c.steps.iter().map(|st| st.at).max().unwrap_or_default())
        .max()
        .unwrap_or_default();
    let storms = s
        .storms
        .iter()
        .map(|w| w.from + w.duration)
        .max()
        .unwrap_or_default();
    let journeys = s
        .journeys
        .iter()
        .map(|j| {
            let length = match &j.arrivals {
                Arrivals::Ramp { phases } => phases.iter().map(|p| p.duration).sum(),
                _ => j.duration,
            };
            j.from + length
        })
        .max()
        .unwrap_or_default();
    let faults = s
        .faults
        .iter()
        .map(|f| match *f {
            Fault::EngineCrash { at, restart_after } => at + restart_after,
            Fault::Partition { at, duration } => at + duration,
            Fault::Redis { at, duration, .. } | Fault::Database { at, duration, .. } => {
                at + duration
            }
        })
        .chain(s.engine.faults.iter().map(|f| f.end()))
        .max()
        .unwrap_or_default();
    let externals = s
        .external
        .iter()
        .map(|e| e.at)
        .chain(s.channel.iter().map(|c| c.at))
        .chain(s.staff.iter().map(super::staff::StaffAction::at));
    [s.duration, scripted, storms, journeys, faults]
        .into_iter()
        .chain(externals)
        .max()
        .unwrap_or_default()
        + s.settle
}

fn check_planned_work(s: &Scenario) -> Result<(), String> {
    let calls = planned_calls(s);
    if calls > s.limits.max_calls as f64 {
        return Err(format!(
            "limits.max_calls: the workloads plan {calls:.0} calls, more than {} (raise `[limits] max_calls` if you mean it)",
            s.limits.max_calls
        ));
    }
    let time = planned_time(s);
    if time > s.limits.max_simulated {
        return Err(format!(
            "limits.max_simulated: the run would simulate {}, more than {} (raise `[limits] max_simulated` if you mean it)",
            limits::show(time),
            limits::show(s.limits.max_simulated)
        ));
    }
    Ok(())
}

pub use simkit::limits::{field_of, line_of};

impl Scenario {
    /// What parsing cannot check.
    pub(super) fn check(&self) -> Result<(), String> {
        // The mock's own checks (its ranges among them) first, then the scenario's (ranges,
        // references, planned work; `tick` and every rate among them), then the catalogue.
        self.policy()?;
        self.calcom.validate().map_err(|e| format!("calcom.{e}"))?;
        check(self)?;
        self.check_catalog()?;
        for (i, j) in self.journeys.iter().enumerate() {
            let slots = j.all_slots().map_err(|e| format!("journeys[{i}].{e}"))?;
            if slots.is_empty() {
                return Err(format!(
                    "journeys[{i}].slots: expected at least one local time (or a slot_grid)"
                ));
            }
            if !j.weights.is_empty() && j.weights.len() != slots.len() {
                return Err(format!(
                    "journeys[{i}].weights: expected one weight per slot ({})",
                    slots.len()
                ));
            }
            let rates: Vec<f64> = match &j.arrivals {
                Arrivals::Constant { rate } | Arrivals::Poisson { rate } => vec![*rate],
                Arrivals::Ramp { phases } if phases.is_empty() => {
                    return Err(format!(
                        "journeys[{i}].arrivals.phases: expected at least one phase"
                    ));
                }
                Arrivals::Ramp { phases } => phases
                    .iter()
                    .flat_map(|p| [p.rate, p.ramp_to.unwrap_or(p.rate)])
                    .collect(),
            };
            if rates.iter().any(|r| r.is_nan() || *r < 0.0) || rates.iter().all(|r| *r <= 0.0) {
                return Err(format!(
                    "journeys[{i}].arrivals: expected rates (calls per second) >= 0, some > 0"
                ));
            }
        }
        for gate in &self.gates {
            crate::scenario::gates::Gate::parse(gate)
                .and_then(|g| g.check_metric())
                .map_err(|e| format!("gates: `{gate}`: {e}"))?;
        }
        Ok(())
    }

    /// The catalogue against the Cal.com world: every staffed segment's event type exists,
    /// its length is the segment's (else the engine locks and checks another span than
    /// Cal.com books), its hosts are among the service's staff (the per-stylist lock covers
    /// only those), and its slot grid meets the segment's start (else the service can never
    /// be booked).
    fn check_catalog(&self) -> Result<(), String> {
        if let Some(c) = &self.catalog {
            c.check().map_err(|e| format!("catalog.{e}"))?;
        }
        let catalog = self.catalog();
        if catalog.services.is_empty() {
            return Err(
                "catalog.services: expected at least one service whose event types are in [calcom]"
                    .into(),
            );
        }
        let prefix = if self.catalog.is_some() {
            "catalog."
        } else {
            "demo catalogue: "
        };
        for (i, service) in catalog.services.iter().enumerate() {
            let at = format!("{prefix}services[{i}] ({})", service.name);
            if service.staff.is_empty() {
                return Err(format!("{at}.staff: expected at least one host id"));
            }
            let grid = |id: u64| {
                self.calcom
                    .event_types
                    .iter()
                    .find(|e| e.id == id)
                    .map(|e| (e, e.slot_interval_minutes.unwrap_or(e.length_minutes)))
            };
            let lead_grid = service.lead_event_type().and_then(grid).map(|(_, g)| g);
            for (j, (offset, seg)) in service.timeline().enumerate() {
                let Some(id) = seg.event_type_id else {
                    continue;
                };
                let Some((et, every)) = grid(id) else {
                    let known: Vec<String> = self
                        .calcom
                        .event_types
                        .iter()
                        .map(|e| e.id.to_string())
                        .collect();
                    return Err(format!(
                        "{at}.segments[{j}].event_type_id: event type {id} is not in [calcom] (defined: {})",
                        known.join(", ")
                    ));
                };
                if et.length_minutes != seg.minutes {
                    let k = self
                        .calcom
                        .event_types
                        .iter()
                        .position(|e| e.id == id)
                        .unwrap_or_default();
                    return Err(format!(
                        "{at}.segments[{j}].minutes ({}) = {}, but calcom.event_types[{k}].length_minutes (event type {id}) = {}: Cal.com books {} minutes while the engine would lock and check {}; make them equal",
                        seg.name, seg.minutes, et.length_minutes, et.length_minutes, seg.minutes
                    ));
                }
                if let Some(host) = et.hosts.iter().find(|h| !service.staff.contains(h)) {
                    return Err(format!(
                        "{at}.staff: event type {id} is hosted by {host}, who is not in the staff {:?}: Cal.com could give the booking to a stylist the engine does not lock",
                        service.staff
                    ));
                }
                let lead = lead_grid.unwrap_or(every);
                if offset % every != 0 || lead % every != 0 {
                    return Err(format!(
                        "{at}.segments[{j}] ({}): starts {offset} min into the service, which is never on event type {id}'s {every}-minute slot grid (the service starts on a {lead}-minute grid): set that event type's slot_interval_minutes to a divisor of both",
                        seg.name
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::format::ScriptedCall;

    const TEXT: &str = "name = \"t\"\nduration = \"1m\"\n\n[policy]\npreset = \"full\"\nlock_ttl = \"1y\"\n\n[[journeys]]\nservice = \"A\"\n\n[[journeys]]\nservice = \"B\"\narrivals = { kind = \"poisson\", rate = 1e9 }\n";

    /// Callers are told apart by their ids, in the engine and in the history: one id twice,
    /// an empty one, a process's name or a generated caller's form would merge two callers
    /// or pass a caller's events off as the engine's.
    #[test]
    fn scripted_call_ids_name_one_caller_each() {
        let with_ids = |ids: &[&str]| {
            let mut text = String::from(
                "name = \"t\"\nseed = 1\nstart = \"2025-11-24T09:00:00\"\nduration = \"1m\"\n",
            );
            for id in ids {
                text.push_str(&format!(
                    "\n[[calls]]\nid = \"{id}\"\n[[calls.steps]]\nat = \"1s\"\nfunction = \"check_availability\"\nargs = {{}}\n"
                ));
            }
            crate::Scenario::parse(&text, "t.toml").map(drop)
        };
        with_ids(&["call_a", "call_b", "anrufer-7", "call0", "storm_x"]).unwrap();
        for (ids, why) in [
            (&["a", "a"][..], "already calls[0]'s"),
            (&[""][..], "empty"),
            (&[" "][..], "empty"),
            (&["engine"][..], "process"),
            (&["calcom"][..], "process"),
            (&["nemesis"][..], "process"),
            (&["call0_00001"][..], "generated"),
            (&["storm12_3"][..], "generated"),
        ] {
            let e = with_ids(ids).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("calls["), "{ids:?}: {e}");
        }
    }

    /// Telling ids apart is one look-up per call, not a scan of the calls before it: 100 000
    /// calls (an 18 MB file took 18 s in release before, quadratic) check in well under a
    /// second in a debug build; a duplicate at the very end is still found, naming the first.
    #[test]
    fn call_ids_are_checked_in_time_linear_in_the_calls() {
        let text = "name = \"t\"\nseed = 1\nstart = \"2025-11-24T09:00:00\"\nduration = \"1m\"\n\n[[calls]]\nid = \"call_0\"\n[[calls.steps]]\nat = \"1s\"\nfunction = \"check_availability\"\nargs = {}\n";
        let mut s = crate::Scenario::parse(text, "t.toml").unwrap();
        let one = s.calls[0].clone();
        s.calls = (0..100_000)
            .map(|i| ScriptedCall {
                id: format!("call_{i}"),
                ..one.clone()
            })
            .collect();
        check_references(&s).unwrap();
        s.calls.push(ScriptedCall {
            id: "call_4711".into(),
            ..one
        });
        let e = check_references(&s).unwrap_err();
        assert!(
            e.starts_with("calls[100000].id: `call_4711` is already calls[4711]'s"),
            "{e}"
        );
    }

    #[test]
    fn fields_are_found_on_their_line_or_their_table_s() {
        assert_eq!(line_of(TEXT, "duration"), Some(2));
        assert_eq!(line_of(TEXT, "policy.lock_ttl"), Some(6));
        assert_eq!(line_of(TEXT, "journeys[1].arrivals.rate"), Some(13));
        assert_eq!(
            line_of(TEXT, "journeys[1].weights"),
            Some(11),
            "the table, when the field is not written"
        );
        assert_eq!(line_of(TEXT, "policy.retry.max_retries"), Some(4));
        assert_eq!(line_of(TEXT, "nothing"), None);
        assert_eq!(line_of("not = [toml", "x"), None);
        assert_eq!(
            field_of("journeys[0].weights: expected"),
            "journeys[0].weights"
        );
        assert_eq!(
            field_of("policy.lock_ttl = \"1y\": expected"),
            "policy.lock_ttl"
        );
        assert_eq!(
            field_of("catalog.services[1] (D).staff: x"),
            "catalog.services[1]"
        );
    }
}

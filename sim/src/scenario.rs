//! Scenario files: one TOML file tells one story. Unknown fields are errors naming the file,
//! line and field; semantic mistakes name the field and what was expected.

use std::path::Path;
use std::time::Duration;

use booking_engine::Policy;
use booking_engine::catalog::Catalog;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use mock_calcom::MockConfig;
use serde::Deserialize;
use serde_json::Value;
use simkit::Distribution;

use crate::validate::{self, Limits};

/// A scenario as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Local wall-clock time the simulation starts at (in `time_zone`).
    pub start: NaiveDateTime,
    #[serde(default = "berlin")]
    pub time_zone: Tz,
    /// How long workloads run (arrivals stop after it).
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Extra simulated time after the workloads for webhooks, syncs and reservations to settle.
    #[serde(default = "default_settle", with = "humantime_serde")]
    pub settle: Duration,
    /// turmoil's tick: messages between hosts are delivered on tick boundaries.
    #[serde(default = "default_tick", with = "humantime_serde")]
    pub tick: Duration,
    #[serde(default)]
    pub policy: PolicySpec,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub retell: Retell,
    /// The mock Cal.com: its configuration struct, embedded as is.
    #[serde(default = "MockConfig::demo")]
    pub calcom: MockConfig,
    /// The engine's services; default: the demo salon's, staffed by the hosts the mock's
    /// event types name.
    #[serde(default)]
    pub catalog: Option<Catalog>,
    #[serde(default)]
    pub calls: Vec<ScriptedCall>,
    #[serde(default)]
    pub storms: Vec<Storm>,
    #[serde(default)]
    pub journeys: Vec<Journeys>,
    #[serde(default)]
    pub external: Vec<ExternalBooking>,
    /// Appointments made in the salon's own system (synced to Cal.com by the sync job).
    #[serde(default)]
    pub channel: Vec<ChannelAppointment>,
    /// Engine crashes and network partitions.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Thresholds over the results, e.g. `race_failure_rate < 0.01`.
    #[serde(default)]
    pub gates: Vec<String>,
    /// How much work the scenario may plan (see [`Limits`]).
    #[serde(default)]
    pub limits: Limits,
    /// What `bookingsim explore FILE` may vary around this scenario (ignored by `run`).
    #[serde(default)]
    pub explore: Option<crate::explore::Space>,
}

fn default_seed() -> u64 {
    1
}

fn berlin() -> Tz {
    chrono_tz::Europe::Berlin
}

fn default_settle() -> Duration {
    Duration::from_secs(600)
}

fn default_tick() -> Duration {
    Duration::from_millis(10)
}

/// `[policy]`: a preset and overrides of any `Policy` field.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicySpec {
    #[serde(default = "baseline")]
    pub preset: String,
    #[serde(flatten)]
    pub overrides: toml::Table,
}

fn baseline() -> String {
    "baseline".into()
}

impl Default for PolicySpec {
    fn default() -> Self {
        Self {
            preset: baseline(),
            overrides: toml::Table::new(),
        }
    }
}

/// Link latency between the hosts (the engine to Cal.com is an internet hop).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    #[serde(with = "humantime_serde")]
    pub min_latency: Duration,
    #[serde(with = "humantime_serde")]
    pub max_latency: Duration,
}

impl Default for Network {
    fn default() -> Self {
        Self {
            min_latency: Duration::from_millis(20),
            max_latency: Duration::from_millis(60),
        }
    }
}

/// How Retell calls the engine: its tool timeout and its retries of a failed call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retell {
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub retries: u32,
}

impl Default for Retell {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(32),
            retries: 2,
        }
    }
}

/// An incident replayed step by step: a call starting at `start` with function calls at
/// offsets from the call's start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedCall {
    pub id: String,
    #[serde(default, with = "humantime_serde")]
    pub start: Duration,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    pub function: String,
    #[serde(default)]
    pub args: toml::Table,
}

/// Direct function calls at a fixed rate (the seeds' "50 req/s at one slot for 10 s").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storm {
    pub function: String,
    /// Calls per second.
    pub rate: f64,
    #[serde(default, with = "humantime_serde")]
    pub from: Duration,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    #[serde(default)]
    pub args: toml::Table,
    /// Local times the calls cycle through (`datetime` argument); empty: `args` as given.
    #[serde(default)]
    pub datetimes: Vec<String>,
}

/// Voice calls arriving by a process, each a check, a conversation, then a booking.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journeys {
    pub arrivals: Arrivals,
    #[serde(default, with = "humantime_serde")]
    pub from: Duration,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    pub service: String,
    /// Local times callers ask for, e.g. `2025-11-25T12:00`.
    #[serde(default)]
    pub slots: Vec<String>,
    /// More slots as a grid: every `every` from `from` to `to` (inclusive) on each of `days`.
    #[serde(default)]
    pub slot_grid: Option<SlotGrid>,
    /// Relative popularity of `slots` (default: equal).
    #[serde(default)]
    pub weights: Vec<f64>,
    #[serde(default)]
    pub conversation: Conversation,
}

/// `{ days = ["2025-11-24", "2025-11-25"], from = "09:00", to = "17:30", every = "30m" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotGrid {
    pub days: Vec<chrono::NaiveDate>,
    pub from: String,
    pub to: String,
    #[serde(with = "humantime_serde")]
    pub every: Duration,
}

impl Journeys {
    /// Every slot callers may ask for: the listed ones, then the grid's.
    pub fn all_slots(&self) -> Result<Vec<String>, String> {
        let mut slots = self.slots.clone();
        if let Some(g) = &self.slot_grid {
            let time = |t: &str| {
                chrono::NaiveTime::parse_from_str(t, "%H:%M")
                    .map_err(|_| format!("slot_grid: `{t}`: expected a time like \"09:00\""))
            };
            let (from, to) = (time(&g.from)?, time(&g.to)?);
            if g.every.is_zero() {
                return Err("slot_grid.every: expected a positive duration".into());
            }
            let step = chrono::TimeDelta::from_std(g.every).map_err(|e| e.to_string())?;
            for day in &g.days {
                let mut t = day.and_time(from);
                while t <= day.and_time(to) {
                    slots.push(t.format("%Y-%m-%dT%H:%M").to_string());
                    t += step;
                }
            }
        }
        Ok(slots)
    }
}

/// How calls arrive (calls per second): `{ kind = "constant", rate = 10 }`,
/// `{ kind = "poisson", rate = 10 }`, or Artillery-style phases
/// `{ kind = "ramp", phases = [{ duration = "1m", rate = 1, ramp_to = 20 }, { duration = "5m", rate = 20 }] }`
/// (evenly spaced at a rate that moves linearly from `rate` to `ramp_to`; the phases replace
/// the workload's `duration`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum Arrivals {
    Constant { rate: f64 },
    Poisson { rate: f64 },
    Ramp { phases: Vec<Phase> },
}

/// One phase of a ramp.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    pub rate: f64,
    pub ramp_to: Option<f64>,
}

/// The conversation between the check and the booking, calibrated to the seeds. After the
/// check answers, the agent's turn takes LLM latency (p50/p95/p99 807/1307/1362 ms) plus TTS
/// latency (265/332/342 ms); then its answer is spoken (7.1 s, so that turn and speech make
/// the seeds' 8.2-s AI response), the caller listens (6.2 s), confirms (2.2 s) and gives the
/// name (4.9 s): 21.5 s in the median, #741's gap (a call whose name was understood). The
/// name is re-asked in 40 % of calls (+10-20 s, seed 001), which puts the median over all
/// calls near 26 s. The check itself comes 15-30 s into the call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Conversation {
    pub until_check: Distribution,
    pub llm: Distribution,
    pub tts: Distribution,
    pub ai_response: Distribution,
    pub listening: Distribution,
    pub confirmation: Distribution,
    pub name: Distribution,
    pub name_reask_probability: f64,
    pub name_reask: Distribution,
    /// The caller hangs up after hearing the slot is free.
    pub abandon_probability: f64,
    /// The whole check-to-book gap as one distribution; given, it replaces the composed one
    /// above (LLM to name), so that it can be swept: `--param
    /// 'journeys[0].conversation.gap=0s..60s:10s'`.
    pub gap: Option<Distribution>,
}

/// A distribution from a seed's p50, p95 and p99.
fn seed_percentiles(p50: Duration, p95: Duration, p99: Duration) -> Distribution {
    simkit::distribution::DistributionSpec {
        p50: Some(p50),
        p95: Some(p95),
        p99: Some(p99),
        ..Default::default()
    }
    .try_into()
    .expect("the seeds' percentiles are ordered")
}

impl Default for Conversation {
    fn default() -> Self {
        let s = |v: f64| Duration::from_secs_f64(v);
        let around = |p50: f64| Distribution::percentiles(s(p50), s(p50 * 1.35), s(p50 * 1.8));
        let ms = Duration::from_millis;
        Self {
            until_check: Distribution::uniform(s(15.0), s(30.0)),
            // Seed 000's Retell latencies: llm p50/p95/p99 807/1307/1362 ms, tts 265/332/342.
            llm: seed_percentiles(ms(807), ms(1307), ms(1362)),
            tts: seed_percentiles(ms(265), ms(332), ms(342)),
            ai_response: around(7.1),
            listening: around(6.2),
            confirmation: around(2.2),
            name: around(4.9),
            name_reask_probability: 0.4,
            name_reask: Distribution::uniform(s(10.0), s(20.0)),
            abandon_probability: 0.03,
            gap: None,
        }
    }
}

/// A booking made behind the engine's back (staff in the Cal.com app) at `at`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalBooking {
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    pub event_type: u64,
    /// With its offset, e.g. `2025-11-25T12:00:00+01:00`.
    pub start: DateTime<chrono::FixedOffset>,
    #[serde(default = "staff")]
    pub attendee: String,
}

/// An appointment entered in the salon's own system at `at`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelAppointment {
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    pub service: String,
    /// Local time, e.g. `2025-11-25T12:00`.
    pub datetime: String,
    #[serde(default = "staff")]
    pub customer: String,
}

fn staff() -> String {
    "Stammkundin (Salon)".into()
}

/// A fault injected into the world at `at` (from the simulation's start). Cal.com's own
/// misbehaviour (outages, error windows, 429 bursts, lost webhooks) is `[[calcom.faults]]`
/// and `[calcom.webhooks]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// The engine process dies (in-flight requests are lost) and restarts `restart_after`
    /// later on the same Redis and database.
    EngineCrash {
        #[serde(with = "humantime_serde")]
        at: Duration,
        #[serde(with = "humantime_serde")]
        restart_after: Duration,
    },
    /// The network between the engine and Cal.com is cut for `duration`.
    Partition {
        #[serde(with = "humantime_serde")]
        at: Duration,
        #[serde(with = "humantime_serde")]
        duration: Duration,
    },
}

/// A scenario that could not be loaded; `Display` names file, line and field.
#[derive(Debug, Clone)]
pub struct ScenarioError(pub String);

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScenarioError {}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError(format!("{}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario = toml::from_str(text)
            .map_err(|e| ScenarioError(format!("{origin}: {}", e.to_string().trim_end())))?;
        scenario
            .check()
            .map_err(|e| match validate::line_of(text, validate::field_of(&e)) {
                Some(line) => ScenarioError(format!("{origin}:{line}: {e}")),
                None => ScenarioError(format!("{origin}: {e}")),
            })?;
        Ok(scenario)
    }

    /// What parsing cannot check.
    fn check(&self) -> Result<(), String> {
        // The mock's own checks (its ranges among them) first, then the scenario's (ranges,
        // references, planned work; `tick` and every rate among them), then the catalogue.
        self.policy()?;
        self.calcom.validate().map_err(|e| format!("calcom.{e}"))?;
        validate::check(self)?;
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
            crate::gates::Gate::parse(gate)
                .and_then(|g| g.check_metric())
                .map_err(|e| format!("gates: `{gate}`: {e}"))?;
        }
        Ok(())
    }

    /// The policy the scenario asks for (preset + overrides).
    pub fn policy(&self) -> Result<Policy, String> {
        Policy::with_overrides(&self.policy.preset, &self.policy.overrides)
            .map_err(|e| format!("policy: {e}"))
    }

    /// The engine's services (see `catalog`). Without a `[catalog]` table: the demo salon's
    /// services whose event types the world has, each staffed by every host of its event
    /// types (in the order Cal.com picks them).
    pub fn catalog(&self) -> Catalog {
        if let Some(c) = &self.catalog {
            return c.clone();
        }
        let mut c = Catalog::demo();
        let world = &self.calcom.event_types;
        c.services.retain(|service| {
            service
                .segments
                .iter()
                .filter_map(|seg| seg.event_type_id)
                .all(|id| world.iter().any(|e| e.id == id))
        });
        for service in &mut c.services {
            let mut staff: Vec<u64> = Vec::new();
            for et in service
                .segments
                .iter()
                .filter_map(|seg| seg.event_type_id)
                .filter_map(|id| world.iter().find(|e| e.id == id))
            {
                for host in &et.hosts {
                    if !staff.contains(host) {
                        staff.push(*host);
                    }
                }
            }
            service.staff = staff;
        }
        c
    }

    /// The catalogue against the Cal.com world: every staffed segment's event type exists,
    /// its hosts are among the service's staff (the per-stylist lock covers only those), and
    /// its slot grid meets the segment's start (else the service can never be booked).
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

    /// The instant the simulation starts.
    pub fn start_utc(&self) -> DateTime<Utc> {
        self.time_zone
            .from_local_datetime(&self.start)
            .earliest()
            .map_or_else(|| self.start.and_utc(), |t| t.with_timezone(&Utc))
    }

    /// Applies `--set field=value` overrides (dotted TOML paths into the scenario).
    pub fn with_sets(text: &str, origin: &str, sets: &[String]) -> Result<Self, ScenarioError> {
        if sets.is_empty() {
            return Self::parse(text, origin);
        }
        let text = with_sets_text(text, origin, sets)?;
        Self::parse(&text, &format!("{origin} (with --set)"))
    }
}

/// The scenario text with `--set` overrides applied (as TOML, comments dropped).
pub fn with_sets_text(text: &str, origin: &str, sets: &[String]) -> Result<String, ScenarioError> {
    let mut doc: toml::Table =
        toml::from_str(text).map_err(|e| ScenarioError(format!("{origin}: {e}")))?;
    for set in sets {
        let (path, value) = set
            .split_once('=')
            .ok_or_else(|| ScenarioError(format!("--set {set}: expected field=value")))?;
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .map(|mut t| t.remove("v").expect("just written"))
            .unwrap_or_else(|_| toml::Value::String(value.to_owned()));
        set_path(&mut doc, path, value).map_err(|e| ScenarioError(format!("--set {set}: {e}")))?;
    }
    toml::to_string(&doc).map_err(|e| ScenarioError(e.to_string()))
}

/// Sets a dotted path (`policy.cache_ttl`, `journeys[0].arrivals.rate` or
/// `journeys.0.arrivals.rate`), creating missing tables on the way.
fn set_path(doc: &mut toml::Table, path: &str, value: toml::Value) -> Result<(), String> {
    let path = path.trim().replace('[', ".").replace(']', "");
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let (first, rest) = parts.split_first().ok_or("expected a field name")?;
    let table = || toml::Value::Table(toml::Table::new());
    if rest.is_empty() {
        doc.insert((*first).to_owned(), value);
        return Ok(());
    }
    let mut here = doc.entry((*first).to_owned()).or_insert_with(table);
    let mut name = *first;
    for (i, part) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        here = match here {
            toml::Value::Table(t) => {
                if last {
                    t.insert((*part).to_owned(), value);
                    return Ok(());
                }
                t.entry((*part).to_owned()).or_insert_with(table)
            }
            toml::Value::Array(items) => {
                let len = items.len();
                let at = part.parse::<usize>().ok().filter(|i| *i < len).ok_or_else(|| {
                    format!("`{name}` is a list of {len}: give an index below {len}, e.g. `{name}[0]`")
                })?;
                if last {
                    items[at] = value;
                    return Ok(());
                }
                &mut items[at]
            }
            _ => return Err(format!("`{name}` is not a table")),
        };
        name = part;
    }
    unreachable!("the last part returns")
}

/// TOML arguments as JSON, the way Retell sends them.
pub fn args_json(args: &toml::Table) -> Value {
    serde_json::to_value(args).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name = \"t\"\nstart = \"2025-11-24T09:00:00\"\nduration = \"1m\"\n";

    #[test]
    fn a_minimal_scenario_takes_every_default() {
        let s = Scenario::parse(MINIMAL, "t.toml").unwrap();
        assert_eq!(s.policy().unwrap(), Policy::baseline());
        assert_eq!(s.calcom, MockConfig::demo());
        assert_eq!(s.start_utc().to_rfc3339(), "2025-11-24T08:00:00+00:00");
    }

    #[test]
    fn typos_wrong_types_and_bad_durations_name_file_line_and_field() {
        let typo = format!("{MINIMAL}sed = 3\n");
        let e = Scenario::parse(&typo, "s.toml").unwrap_err().to_string();
        assert!(
            e.starts_with("s.toml:") && e.contains("line 4") && e.contains("unknown field `sed`"),
            "{e}"
        );
        let wrong_type = format!("{MINIMAL}seed = \"three\"\n");
        let e = Scenario::parse(&wrong_type, "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 4") && e.contains("invalid type"), "{e}");
        let bad_duration = MINIMAL.replace("\"1m\"", "\"one minute\"");
        let e = Scenario::parse(&bad_duration, "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("duration"), "{e}");
        let bad_policy = format!("{MINIMAL}[policy]\npreset = \"fastest\"\n");
        let e = Scenario::parse(&bad_policy, "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown policy `fastest`"), "{e}");
        let bad_gate = format!("{MINIMAL}gates = [\"race_failure_rate <\"]\n");
        let e = Scenario::parse(&bad_gate, "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("gates"), "{e}");
        let nested = format!("{MINIMAL}[calcom.api.rate_limit]\nlimt = 5\n");
        let e = Scenario::parse(&nested, "s.toml").unwrap_err().to_string();
        assert!(
            e.contains("line 5") && e.contains("unknown field `limt`"),
            "{e}"
        );
    }

    #[test]
    fn sets_override_any_field() {
        let s = Scenario::with_sets(
            MINIMAL,
            "t.toml",
            &["seed=9".into(), "policy.double_check=true".into()],
        )
        .unwrap();
        assert_eq!(s.seed, 9);
        assert!(s.policy().unwrap().double_check);
        let journeys = format!(
            "{MINIMAL}[[journeys]]\narrivals = {{ kind = \"poisson\", rate = 10 }}\nduration = \"1m\"\nservice = \"Herrenhaarschnitt\"\nslots = [\"2025-11-24T10:00\"]\n"
        );
        for path in ["journeys[0].arrivals.rate", "journeys.0.arrivals.rate"] {
            let s = Scenario::with_sets(&journeys, "t.toml", &[format!("{path}=3.5")]).unwrap();
            assert!(
                matches!(s.journeys[0].arrivals, Arrivals::Poisson { rate } if rate == 3.5),
                "{path}"
            );
        }
        let e = Scenario::with_sets(&journeys, "t.toml", &["journeys[1].duration=\"2m\"".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`journeys` is a list of 1"), "{e}");
    }
}

//! The scenario file format as written: every table and field of a scenario file, with
//! its defaults; what the values mean for the world (the policy, the catalogue, the start).

use std::time::Duration;

use booking_engine::Policy;
use booking_engine::catalog::Catalog;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use mock_calcom::MockConfig;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use simkit::Distribution;
use simkit::limits::DAY;

use crate::scenario::space::Space;

/// A scenario as written.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
    #[schemars(with = "simkit::schema::TimeZone")]
    pub time_zone: Tz,
    /// How long workloads run (arrivals stop after it).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub duration: Duration,
    /// Extra simulated time after the workloads for webhooks, syncs and reservations to settle.
    #[serde(default = "default_settle", with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub settle: Duration,
    /// turmoil's tick: messages between hosts are delivered on tick boundaries.
    #[serde(default = "default_tick", with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub tick: Duration,
    #[serde(default)]
    pub policy: PolicySpec,
    #[serde(default)]
    pub network: LinkLatency,
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
    pub external: Vec<StaffBooking>,
    /// Staff in the Cal.com app cancel, move, block time, change hours (see [`StaffAction`]).
    #[serde(default)]
    pub staff: Vec<crate::scenario::staff::StaffAction>,
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
    pub explore: Option<Space>,
    /// The engine as N workers behind one URL, and single workers' faults.
    #[serde(default)]
    pub engine: crate::scenario::workers::EngineSpec,
    /// Hosts' clocks that disagree with true time.
    #[serde(default)]
    pub clocks: crate::scenario::workers::Clocks,
    /// What a live run (`bookingsim live`) holds its own numbers to; a simulated run has
    /// no generator to fall behind and ignores it.
    #[serde(default)]
    pub live: LiveBounds,
}

/// `[live]`: when a live run's numbers are invalid. A run whose generator sent its function
/// calls later than `max_send_skew` (p99), or whose engine refused (or did not accept in
/// time) more than `max_refused` connections, did not apply the load it claims: it is
/// marked invalid in `summary.json` and the table, and fails unless `allow_invalid`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LiveBounds {
    /// The send skew's p99 allowed (default 100ms).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub max_send_skew: Duration,
    /// Function calls whose connection the engine refused or did not accept in time
    /// (default 0).
    pub max_refused: u64,
    /// Report an invalid run, marked so, without failing it (a saturation test on purpose).
    pub allow_invalid: bool,
    /// Answers the answer profile cannot read, allowed before the run fails (default 0).
    pub max_unreadable: u64,
    /// The share of function calls (0-1) allowed to get no 2xx answer from the engine
    /// (unreachable, no answer in time, a route it refuses, an error status) before the run
    /// fails (default 0): a run that never reached an engine is not a pass.
    pub max_unanswered: f64,
    /// How the engine's answers are read (`[live.answers]`); the default reads the seed
    /// system's format.
    pub answers: AnswerProfile,
}

/// `[live.answers]`: how a live run reads the engine's answers. The engine says only yes or
/// no, and in which words; what was asked comes from the request live sent, and whether a
/// stylist was free from Cal.com's truth. Pointers are JSON pointers (RFC 6901) into the
/// answer; word lists match case-insensitively anywhere in the answer's text. The default
/// reads the seed system's answers (`{"success": false, "error": "Dieser Termin wurde
/// gerade vergeben. …"}`, `{"success": true, "available": true, "message": "Ja, …"}`).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AnswerProfile {
    /// Where the answer sits in the body (`""`: the body itself; `"/result"` for a
    /// wrapped `{"result": …}`). A string there that holds JSON is read as that JSON; any
    /// other string (or a body that is not JSON) is read as text by the word lists.
    pub root: String,
    /// The success flag (a boolean), under `root`.
    pub success: String,
    /// The availability flag of a check (a boolean), under `root`.
    pub available: String,
    /// The answer's words (strings), under `root`, read in order.
    pub text: Vec<String>,
    /// Words of a check that found the slot free (when there is no availability flag).
    pub available_words: Vec<String>,
    /// Words of a booking made (when there is no success flag).
    pub booked_words: Vec<String>,
    /// Words of a refusal: the slot taken or not bookable ("vergeben", "nicht verfügbar").
    /// Read before `available_words` ("nicht verfügbar" holds "verfügbar").
    pub refused_words: Vec<String>,
    /// Words of "try again later" (the calendar not reachable).
    pub try_later_words: Vec<String>,
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| (*w).to_owned()).collect()
}

impl Default for AnswerProfile {
    fn default() -> Self {
        Self {
            root: String::new(),
            success: "/success".into(),
            available: "/available".into(),
            text: words(&["/error", "/message"]),
            available_words: words(&["ist verfügbar", "ist frei", "noch frei", "verfügbar"]),
            booked_words: words(&["ist gebucht", "gebucht", "bestätigt"]),
            refused_words: words(&[
                "vergeben",
                "nicht verfügbar",
                "nicht mehr verfügbar",
                "nicht frei",
                "belegt",
                "ausgebucht",
                "kurzfristig",
            ]),
            try_later_words: words(&[
                "später noch einmal",
                "gleich noch einmal",
                "erneut",
                "nicht erreichbar",
            ]),
        }
    }
}

impl Default for LiveBounds {
    fn default() -> Self {
        Self {
            max_send_skew: Duration::from_millis(100),
            max_refused: 0,
            allow_invalid: false,
            max_unreadable: 0,
            max_unanswered: 0.0,
            answers: AnswerProfile::default(),
        }
    }
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

/// `[policy]`: a preset and overrides of any `Policy` field (its schema: [`PolicySpec`]'s
/// `JsonSchema`, the preset's name and `Policy`'s fields, each optional).
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

impl schemars::JsonSchema for PolicySpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PolicySpec".into()
    }

    /// A preset's name and any of `Policy`'s fields. Their defaults are the preset's values,
    /// so the schema gives none (the descriptions and `bookingsim policies` tell them).
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let policy = <Policy as schemars::JsonSchema>::json_schema(generator);
        let mut properties = serde_json::Map::new();
        let presets: Vec<&str> = booking_engine::policy::PRESETS
            .iter()
            .map(|(n, _)| *n)
            .collect();
        let listed: Vec<String> = booking_engine::policy::PRESETS
            .iter()
            .map(|(n, d)| format!("{n}: {d}"))
            .collect();
        properties.insert(
            "preset".into(),
            serde_json::json!({
                "description": format!("The policy the overrides start from.\n{}", listed.join("\n")),
                "type": "string",
                "enum": presets,
                "default": "baseline",
            }),
        );
        for (key, mut field) in policy
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
        {
            if let Some(field) = field.as_object_mut() {
                field.remove("default");
            }
            properties.insert(key, field);
        }
        // The sub-tables merge field by field into the preset's: their defaults are the
        // preset's too.
        for name in ["RetryPolicy", "ClientTimeouts", "Infrastructure"] {
            if let Some(fields) = generator
                .definitions_mut()
                .get_mut(name)
                .and_then(|d| d.get_mut("properties"))
                .and_then(Value::as_object_mut)
            {
                for field in fields.values_mut().filter_map(Value::as_object_mut) {
                    field.remove("default");
                }
            }
        }
        schemars::json_schema!({
            "description": "`[policy]`: a preset and overrides of any of its fields (unnamed fields keep the preset's values; `retry`, `timeouts` and `infra` merge field by field).",
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        })
    }
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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LinkLatency {
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub min_latency: Duration,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub max_latency: Duration,
}

impl Default for LinkLatency {
    fn default() -> Self {
        Self {
            min_latency: Duration::from_millis(20),
            max_latency: Duration::from_millis(60),
        }
    }
}

/// How Retell calls the engine: its tool timeout and its retries of a failed call.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Retell {
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptedCall {
    pub id: String,
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub start: Duration,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub at: Duration,
    pub function: String,
    #[serde(default)]
    #[schemars(with = "simkit::schema::AnyTable")]
    pub args: toml::Table,
}

/// Direct function calls at a fixed rate (the incident analyses' "50 req/s at one slot for 10 s").
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Storm {
    pub function: String,
    /// Calls per second.
    pub rate: f64,
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub from: Duration,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub duration: Duration,
    #[serde(default)]
    #[schemars(with = "simkit::schema::AnyTable")]
    pub args: toml::Table,
    /// Local times the calls cycle through (`datetime` argument); empty: `args` as given.
    #[serde(default)]
    pub datetimes: Vec<String>,
}

/// Voice calls arriving by a process, each a check, a conversation, then a booking.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Journeys {
    pub arrivals: Arrivals,
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub from: Duration,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotGrid {
    pub days: Vec<chrono::NaiveDate>,
    pub from: String,
    pub to: String,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum Arrivals {
    Constant { rate: f64 },
    Poisson { rate: f64 },
    Ramp { phases: Vec<Phase> },
}

/// One phase of a ramp.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub duration: Duration,
    pub rate: f64,
    pub ramp_to: Option<f64>,
}

/// The conversation between the check and the booking, calibrated to the incident analyses. After the
/// check answers, the agent's turn takes LLM latency (p50/p95/p99 807/1307/1362 ms) plus TTS
/// latency (265/332/342 ms); then its answer is spoken (7.1 s, so that turn and speech make
/// the incident analyses' 8.2-s AI response), the caller listens (6.2 s), confirms (2.2 s) and gives the
/// name (4.9 s): 21.5 s in the median, #741's gap (a call whose name was understood). The
/// name is re-asked in 40 % of calls (+10-20 s, seed 001), which puts the median over all
/// calls near 26 s. The check itself comes 15-30 s into the call.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
    .expect("the incident analyses' percentiles are ordered")
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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffBooking {
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub at: Duration,
    pub event_type: u64,
    /// With its offset, e.g. `2025-11-25T12:00:00+01:00`.
    pub start: DateTime<chrono::FixedOffset>,
    #[serde(default = "staff")]
    pub attendee: String,
}

/// An appointment entered in the salon's own system at `at`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelAppointment {
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
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
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// The engine process dies (in-flight requests are lost) and restarts `restart_after`
    /// later on the same Redis and database.
    EngineCrash {
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        at: Duration,
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        restart_after: Duration,
    },
    /// The network between the engine and Cal.com is cut for `duration`.
    Partition {
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        at: Duration,
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        duration: Duration,
    },
    /// The engine's Redis (its locks and its availability cache) misbehaves from `at` for
    /// `duration`: `slow` (each round trip `latency` longer), `refuse`, `timeout` (requests
    /// hang `latency`, then fail), `pause` (requests hang until the window ends, then
    /// complete), `restart` (down for the window, then back empty: no persistence) or
    /// `failover` (down for the window, then a replica that missed the writes of the last
    /// `lost_writes` before `at`).
    Redis {
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        at: Duration,
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        duration: Duration,
        mode: booking_engine::infra::Mode,
        /// `slow`: the added latency; `timeout`: how long a request hangs before it fails.
        #[serde(default, with = "humantime_serde")]
        #[schemars(with = "Option<simkit::schema::HumanDuration>")]
        latency: Option<Duration>,
        /// `failover`: how much of the writes before `at` the new primary missed.
        #[serde(default, with = "humantime_serde")]
        #[schemars(with = "Option<simkit::schema::HumanDuration>")]
        lost_writes: Option<Duration>,
    },
    /// The engine's database (appointments, reservations) misbehaves from `at` for
    /// `duration`: `slow`, `refuse`, `timeout` or `pause`, as Redis does.
    Database {
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        at: Duration,
        #[serde(with = "humantime_serde")]
        #[schemars(with = "simkit::schema::HumanDuration")]
        duration: Duration,
        mode: booking_engine::infra::Mode,
        /// `slow`: the added latency; `timeout`: how long a query hangs before it fails.
        #[serde(default, with = "humantime_serde")]
        #[schemars(with = "Option<simkit::schema::HumanDuration>")]
        latency: Option<Duration>,
    },
}

impl Fault {
    /// A fault of the engine's Redis or database: (part, at, duration, mode, latency,
    /// lost writes).
    pub fn infra(&self) -> Option<InfraFault> {
        match *self {
            Fault::Redis {
                at,
                duration,
                mode,
                latency,
                lost_writes,
            } => Some(InfraFault {
                part: booking_engine::infra::Part::Redis,
                at,
                duration,
                mode,
                latency,
                lost_writes,
            }),
            Fault::Database {
                at,
                duration,
                mode,
                latency,
            } => Some(InfraFault {
                part: booking_engine::infra::Part::Database,
                at,
                duration,
                mode,
                latency,
                lost_writes: None,
            }),
            _ => None,
        }
    }
}

/// A `redis` or `database` fault, whichever part it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfraFault {
    pub part: booking_engine::infra::Part,
    pub at: Duration,
    pub duration: Duration,
    pub mode: booking_engine::infra::Mode,
    pub latency: Option<Duration>,
    pub lost_writes: Option<Duration>,
}

/// `[limits]`: how much work a scenario may plan before it is refused as absurd (a typo in a
/// rate or a duration, not a load test). Raise them on purpose for a bigger run.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Calls the workloads may plan (scripted, storms and journeys together).
    pub max_calls: u64,
    /// Simulated time a run may take: workloads, the last call's steps and the settle time.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "simkit::schema::HumanDuration")]
    pub max_simulated: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_calls: 250_000,
            max_simulated: 2 * DAY,
        }
    }
}

impl Scenario {
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
        c.time_zone = self.time_zone;
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

    /// A salon's zone is one fact: the scenario's `time_zone` reaches the engine's
    /// catalogue and every stylist whose table does not name a zone of its own (`zoned`:
    /// which tables of the file name one, to tell a zone left out from one written as
    /// Europe/Berlin).
    pub fn zone_throughout(&mut self, zoned: &Zoned) {
        if !zoned.scenario {
            return;
        }
        let zone = self.time_zone;
        match &mut self.catalog {
            Some(c) if !zoned.catalog => c.time_zone = zone,
            _ => {}
        }
        for (i, host) in self.calcom.hosts.iter_mut().enumerate() {
            if !zoned.hosts.get(i).copied().unwrap_or(false) {
                host.time_zone = zone;
            }
        }
    }

    /// The instant the simulation starts.
    pub fn start_utc(&self) -> DateTime<Utc> {
        self.time_zone
            .from_local_datetime(&self.start)
            .earliest()
            .map_or_else(|| self.start.and_utc(), |t| t.with_timezone(&Utc))
    }
}

/// Which tables of a scenario file write a `time_zone` out: the scenario's own, the
/// catalogue's, each of `[[calcom.hosts]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zoned {
    pub scenario: bool,
    pub catalog: bool,
    pub hosts: Vec<bool>,
}

impl Zoned {
    /// Read from the parsed document.
    pub fn of(doc: &toml::de::DeTable<'_>) -> Zoned {
        use toml::de::DeValue;
        fn get<'a, 'i>(t: &'a toml::de::DeTable<'i>, key: &str) -> Option<&'a DeValue<'i>> {
            t.iter()
                .find(|(k, _)| k.get_ref().as_ref() == key)
                .map(|(_, v)| v.get_ref())
        }
        let zoned = |v: &DeValue<'_>| match v {
            DeValue::Table(t) => get(t, "time_zone").is_some(),
            _ => false,
        };
        let hosts = match get(doc, "calcom").and_then(|c| match c {
            DeValue::Table(t) => get(t, "hosts"),
            _ => None,
        }) {
            Some(DeValue::Array(hosts)) => hosts.iter().map(|h| zoned(h.get_ref())).collect(),
            _ => Vec::new(),
        };
        Zoned {
            scenario: get(doc, "time_zone").is_some(),
            catalog: get(doc, "catalog").is_some_and(zoned),
            hosts,
        }
    }
}

/// TOML arguments as JSON, the way Retell sends them.
pub fn args_json(args: &toml::Table) -> Value {
    serde_json::to_value(args).unwrap_or(Value::Null)
}

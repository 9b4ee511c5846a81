//! The result of a run: [`Summary`], which `summary.json` is (schema in the README), and the
//! readable table.

use std::collections::BTreeMap;

use booking_engine::engine::EngineStats;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::check::Violation;
use crate::kinds::{Coverage, Invariant, Outcome, Unavailability};
use crate::results::metrics::{self, LatencyStats};
use crate::scenario::Scenario;
use crate::scenario::gates::{Gate, GateResult};
use crate::world::record::RunRecord;

/// A run's results: one type for `summary.json`, gates, baselines and comparisons. Field
/// order is the file's; a summary read back is the summary written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub policy: String,
    /// `simulation`, or `live`: a running engine driven in real time (see `live`).
    #[serde(default)]
    pub mode: Mode,
    pub calls: u64,
    /// Calls by outcome (every outcome named, zero included).
    pub outcomes: BTreeMap<String, u64>,
    /// Per outcome but `booked`, the error types that decided its calls.
    pub outcome_errors: BTreeMap<String, BTreeMap<String, u64>>,
    pub told_available: u64,
    pub race_failure_rate: f64,
    pub false_refusal_rate: f64,
    /// Checks that answered "nicht verfügbar" (each answer, a caller may hear several).
    #[serde(default)]
    pub told_unavailable: u64,
    /// `unavailable_free.all / told_unavailable`: "nicht verfügbar" while a qualified
    /// stylist was free in Cal.com at the instant of the answer.
    #[serde(default)]
    pub unavailable_free_rate: f64,
    /// Those answers by why the slot looked taken ([`Unavailability`], zero included), and
    /// `all`, their sum.
    #[serde(default)]
    pub unavailable_free: BTreeMap<String, u64>,
    /// Violations by kind (every kind named, zero included).
    pub invariants: BTreeMap<String, u64>,
    pub violations: Vec<Violation>,
    pub latency_ms: BTreeMap<String, LatencyStats>,
    /// Requests the mock answered: endpoint → status → count.
    pub calcom: BTreeMap<String, BTreeMap<u16, u64>>,
    pub engine: EngineStats,
    /// Function calls whose connection the engine did not accept in time (past its
    /// connection limit and backlog: a saturated engine, simulated or live); left out when
    /// none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refused_connections: u64,
    /// The mock's webhook deliveries by how they ended.
    pub webhooks: BTreeMap<String, u64>,
    pub reservations: Reservations,
    /// How often each rare path was reached ([`Coverage`], zero included): a scenario can
    /// gate on still exercising what it is for (`coverage.race_window >= 1`).
    pub coverage: BTreeMap<String, u64>,
    pub sim: SimTime,
    /// A live run's own figures: where it ran, how far its instants were moved, the load
    /// generator's lag, latency from the scheduled instants, what it could not observe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<crate::results::live::LiveSection>,
    pub timeseries: Vec<TimeRow>,
    /// The Cal.com throttler's blocks (every request of the key answered 429), by when they
    /// began; left out when there were none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calcom_blocks: Vec<ThrottleSpan>,
    pub gates: Vec<GateResult>,
    pub digest: String,
}

/// One block of Cal.com's throttler, in ms of simulated time from the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleSpan {
    /// The API key's first characters, or `ip:` and the client's address.
    pub key: String,
    pub from_ms: u64,
    pub until_ms: u64,
}

/// Where a run's results come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The engine in the seeded simulation.
    #[default]
    Simulation,
    /// A running engine, driven in real time (`bookingsim live`).
    Live,
}

/// How often each path of [`Coverage`] was reached in `run`.
fn coverage(
    scenario: &Scenario,
    run: &RunRecord,
    reservations: &Reservations,
) -> BTreeMap<String, u64> {
    let status = |endpoint: &str, code: u16| {
        run.calcom_requests
            .by_endpoint
            .get(endpoint)
            .and_then(|s| s.get(&code))
            .copied()
            .unwrap_or(0)
    };
    let all_429 = run
        .calcom_requests
        .by_endpoint
        .values()
        .filter_map(|s| s.get(&429))
        .sum();
    let deliveries = &run.truth.webhook_deliveries;
    let counted = |f: &dyn Fn(&mock_calcom::webhooks::DeliveryRecord) -> bool| {
        deliveries.iter().filter(|d| f(d)).count() as u64
    };
    let expired = |m: &BTreeMap<String, u64>| m.get("expired").copied().unwrap_or(0);
    let simulated = run.simulated;
    let external_races = mock_calcom::truth::calcom_races(&run.truth.bookings);
    let crashes: Vec<u64> = scenario
        .faults
        .iter()
        .filter_map(|f| match f {
            crate::scenario::Fault::EngineCrash { at, .. } if *at < simulated => {
                u64::try_from(at.as_millis()).ok()
            }
            _ => None,
        })
        .collect();
    let steps = || run.calls.iter().flat_map(|c| &c.steps);
    let count = |path: Coverage| match path {
        Coverage::RaceWindow => run.truth.race_windows,
        Coverage::ExternalRace => external_races,
        Coverage::Calcom409 => status("create_booking", 409),
        Coverage::Calcom400 => status("create_booking", 400),
        Coverage::Calcom422 => status("reserve_slot", 422),
        Coverage::Calcom429 => all_429,
        Coverage::LockContention => run.engine.lock_contended,
        Coverage::LockTimeout => run.engine.lock_timeouts,
        Coverage::SagaCompensation => run.engine.compensations,
        Coverage::WebhookLost => counted(&|d| d.outcome == "lost"),
        Coverage::WebhookDuplicated => {
            counted(&|d| d.copy == mock_calcom::webhooks::DeliveryCopy::Duplicate)
        }
        Coverage::ReservationExpired => {
            expired(&reservations.local) + expired(&reservations.calcom)
        }
        Coverage::ReservationExpiredMidCall => expired_mid_call(scenario, run),
        Coverage::StaleAvailable => steps()
            .filter(|s| {
                crate::world::record::is_check(&s.function)
                    && s.available == Some(true)
                    && s.slot_free == Some(false)
            })
            .count() as u64,
        Coverage::EngineCrash => crashes.len() as u64,
        Coverage::CrashMidBooking => steps()
            .filter(|s| {
                s.function == "start_booking"
                    && crashes
                        .iter()
                        .any(|at| s.invoked_ms < *at && *at < s.completed_ms)
            })
            .count() as u64,
        Coverage::BookedUnanswered => booked_unanswered(run),
        Coverage::RetellRetry => steps().map(|s| u64::from(s.retries)).sum(),
    };
    Coverage::ALL
        .iter()
        .map(|k| (k.name().to_owned(), count(*k)))
        .collect()
}

/// Checks that said "nicht verfügbar", and those said while a qualified stylist was free,
/// by why the slot looked taken (`all`: their sum).
fn unavailable_free(run: &RunRecord) -> (u64, BTreeMap<String, u64>) {
    let mut by: BTreeMap<String, u64> = Unavailability::ALL
        .iter()
        .map(|u| (u.name().to_owned(), 0))
        .collect();
    let mut told = 0;
    let mut all = 0;
    for step in run.calls.iter().flat_map(|c| &c.steps) {
        if !crate::world::judge::told_unavailable(step) {
            continue;
        }
        told += 1;
        if step.slot_free == Some(true) {
            all += 1;
            let why = step.unavailable_why.unwrap_or(Unavailability::StaleListing);
            *by.entry(why.name().to_owned()).or_default() += 1;
        }
    }
    by.insert("all".into(), all);
    (told, by)
}

/// Calls whose booking got no answer (the engine died or was cut off after booking) and
/// that hold a booking in Cal.com: booked without knowing it.
fn booked_unanswered(run: &RunRecord) -> u64 {
    let truth = &run.truth;
    run.calls
        .iter()
        .filter(|c| {
            !c.booked()
                && c.last_booking()
                    .is_some_and(|b| b.completion == crate::world::record::Completion::Info)
                && truth
                    .bookings
                    .iter()
                    .any(|b| b.active() && b.meta("call_id") == Some(c.id.as_str()))
        })
        .count() as u64
}

/// Local reservations that expired while their call was still going: its booking came
/// after the hold had run out.
fn expired_mid_call(scenario: &Scenario, run: &RunRecord) -> u64 {
    let start = scenario.start_utc();
    let last_step: BTreeMap<&str, u64> = run
        .calls
        .iter()
        .filter_map(|c| c.steps.last().map(|s| (c.id.as_str(), s.invoked_ms)))
        .collect();
    run.reservations
        .iter()
        .filter(|r| r.state == "expired")
        .filter(|r| {
            let until = u64::try_from((r.until - start).num_milliseconds()).unwrap_or(0);
            last_step
                .get(r.call_id.as_str())
                .is_some_and(|last| *last > until)
        })
        .count() as u64
}

/// Reservations and simulated time are plain data the reports show too: their model.
pub use reports::model::{Reservations, SimTime};

/// One simulated second with activity: calls ending by outcome, Cal.com requests by answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeRow {
    pub t: u64,
    #[serde(flatten)]
    pub counts: BTreeMap<String, u64>,
}

impl Summary {
    /// The documented JSON form (what `summary.json` holds and gates read by path).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a summary is plain data")
    }

    /// Reads a `summary.json` (or a baseline), refusing one that is not of this shape.
    pub fn from_json(value: Value) -> Result<Self, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    /// What a run's report shows of the summary, lent to `f`.
    pub fn with_view<T>(&self, f: impl FnOnce(&reports::model::RunView<'_>) -> T) -> T {
        let violations: Vec<(&str, &str)> = self
            .violations
            .iter()
            .map(|v| (v.kind.name(), v.detail.as_str()))
            .collect();
        let gates: Vec<(&str, Option<f64>, bool)> = self
            .gates
            .iter()
            .map(|g| (g.gate.as_str(), g.value, g.pass))
            .collect();
        let timeseries: Vec<(u64, &BTreeMap<String, u64>)> =
            self.timeseries.iter().map(|r| (r.t, &r.counts)).collect();
        let calcom_blocks: Vec<(u64, u64)> = self
            .calcom_blocks
            .iter()
            .map(|b| (b.from_ms, b.until_ms))
            .collect();
        f(&reports::model::RunView {
            scenario: &self.scenario,
            seed: self.seed,
            policy: &self.policy,
            calls: self.calls,
            simulated_seconds: self.sim.simulated_seconds,
            told_available: self.told_available,
            race_failure_rate: self.race_failure_rate,
            false_refusal_rate: self.false_refusal_rate,
            told_unavailable: self.told_unavailable,
            unavailable_free_rate: self.unavailable_free_rate,
            unavailable_free: &self.unavailable_free,
            outcomes: &self.outcomes,
            outcome_errors: &self.outcome_errors,
            invariants: &self.invariants,
            violations: &violations,
            latency_ms: &self.latency_ms,
            gates: &gates,
            timeseries: &timeseries,
            calcom_blocks: &calcom_blocks,
            digest: &self.digest,
        })
    }

    /// Every gate the run could judge passes (one it could not observe is neither).
    pub fn gates_pass(&self) -> bool {
        self.gates.iter().all(|g| g.pass || g.not_observable)
    }

    /// Violated invariants that no gate names: a run that breaks an invariant fails unless
    /// the scenario says it expects it (an incident that shows a double booking has a gate
    /// on `invariants.double_booking`).
    pub fn unexpected_violations(&self) -> Vec<&str> {
        self.invariants
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(kind, _)| kind.as_str())
            .filter(|kind| {
                let metric = format!("invariants.{kind}");
                !self
                    .gates
                    .iter()
                    .any(|g| g.gate.split_whitespace().next() == Some(metric.as_str()))
            })
            .collect()
    }

    /// Every gate passes and no invariant is broken that no gate expects: exit 0.
    pub fn passes(&self) -> bool {
        self.gates_pass()
            && self.unexpected_violations().is_empty()
            && self
                .live
                .as_ref()
                .is_none_or(crate::results::live::LiveSection::valid)
    }

    /// Why the run fails: the gates that failed, as written, and each violated invariant no
    /// gate names.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .failing_gates()
            .into_iter()
            .map(str::to_owned)
            .collect();
        out.extend(
            self.unexpected_violations()
                .into_iter()
                .map(|kind| format!("invariants.{kind} == 0 (violated; no gate expects it)")),
        );
        if let Some(live) = self.live.as_ref().filter(|l| !l.valid()) {
            out.extend(
                live.invalid
                    .iter()
                    .map(|why| format!("live run invalid: {why}")),
            );
            out.extend(
                live.unjudgeable
                    .iter()
                    .map(|why| format!("live run could not judge the engine: {why}")),
            );
        }
        out
    }

    /// The gates that failed, as written.
    pub fn failing_gates(&self) -> Vec<&str> {
        self.gates
            .iter()
            .filter(|g| !g.pass && !g.not_observable)
            .map(|g| g.gate.as_str())
            .collect()
    }
}

/// How often each rare path was reached in `run`: the summary's `coverage`, without the
/// rest of the summary (explore reads only this and the violations).
pub fn coverage_of(scenario: &Scenario, run: &RunRecord) -> BTreeMap<String, u64> {
    let mut local: BTreeMap<String, u64> = BTreeMap::new();
    for r in &run.reservations {
        *local.entry(r.state.to_owned()).or_default() += 1;
    }
    let mut calcom: BTreeMap<String, u64> = BTreeMap::new();
    for r in &run.truth.reservations {
        *calcom.entry(r.state.clone()).or_default() += 1;
    }
    coverage(scenario, run, &Reservations { local, calcom })
}

/// Builds the summary: everything in it is deterministic except `sim.wall_seconds`, which
/// the caller adds after the digest.
pub fn summarize(
    scenario: &Scenario,
    seed: u64,
    policy: &str,
    run: &RunRecord,
    violations: &[Violation],
) -> Summary {
    let mut outcomes: BTreeMap<&str, u64> = Outcome::ALL.iter().map(|o| (o.name(), 0)).collect();
    // Per outcome, the error types that decided it.
    let mut outcome_errors: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for call in &run.calls {
        let outcome = call.outcome().name();
        *outcomes.entry(outcome).or_default() += 1;
        if outcome != "booked" {
            *outcome_errors
                .entry(outcome)
                .or_default()
                .entry(call.decisive_error())
                .or_default() += 1;
        }
    }
    let told = run.calls.iter().filter(|c| c.told_available()).count() as u64;
    let rate = |n: u64| {
        if told == 0 {
            0.0
        } else {
            n as f64 / told as f64
        }
    };
    let (told_unavailable, unavailable_free) = unavailable_free(run);
    let mut invariant_counts: BTreeMap<String, u64> = Invariant::ALL
        .iter()
        .map(|k| (k.name().to_owned(), 0))
        .collect();
    for v in violations {
        *invariant_counts
            .entry(v.kind.name().to_owned())
            .or_default() += v.count;
    }
    let latency = metrics::latency_table(&metrics::histograms(&metrics::samples(run, scenario)));
    // Reservations by where they are held and how they ended.
    let mut local: BTreeMap<String, u64> = BTreeMap::new();
    for r in &run.reservations {
        *local.entry(r.state.to_owned()).or_default() += 1;
    }
    let mut calcom: BTreeMap<String, u64> = BTreeMap::new();
    for r in &run.truth.reservations {
        *calcom.entry(r.state.clone()).or_default() += 1;
    }
    let mut webhooks: BTreeMap<String, u64> = BTreeMap::new();
    for d in &run.truth.webhook_deliveries {
        *webhooks.entry(d.outcome.clone()).or_default() += 1;
    }
    let mut summary = Summary {
        scenario: scenario.name.clone(),
        seed,
        policy: policy.to_owned(),
        mode: Mode::Simulation,
        calls: run.calls.len() as u64,
        race_failure_rate: rate(outcomes["race_lost"]),
        false_refusal_rate: rate(outcomes["refused_free"]),
        told_unavailable,
        unavailable_free_rate: if told_unavailable == 0 {
            0.0
        } else {
            unavailable_free["all"] as f64 / told_unavailable as f64
        },
        unavailable_free,
        outcomes: outcomes
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        outcome_errors: outcome_errors
            .into_iter()
            .map(|(o, e)| {
                let e = e.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                (o.to_owned(), e)
            })
            .collect(),
        told_available: told,
        invariants: invariant_counts,
        violations: violations.to_vec(),
        latency_ms: latency,
        calcom: run.calcom_requests.by_endpoint.clone(),
        engine: run.engine.clone(),
        refused_connections: crate::results::live::refused(&run.calls),
        webhooks,
        coverage: coverage(
            scenario,
            run,
            &Reservations {
                local: local.clone(),
                calcom: calcom.clone(),
            },
        ),
        reservations: Reservations { local, calcom },
        sim: SimTime {
            simulated_seconds: run.simulated.as_secs_f64(),
            wall_seconds: None,
        },
        live: None,
        timeseries: timeseries(scenario, run),
        calcom_blocks: calcom_blocks(scenario, run),
        gates: Vec::new(),
        digest: String::new(),
    };
    let json = summary.to_json();
    summary.gates = scenario
        .gates
        .iter()
        .map(|text| {
            let gate = Gate::parse(text).expect("gates were checked when the scenario loaded");
            gate.check(text, &json)
        })
        .collect();
    summary.digest = digest(&summary.to_json());
    summary
}

/// Cal.com answers in the time series: by class, with 409 and 429 on their own.
pub const STATUS_KEYS: [&str; 6] = [
    "calcom_2xx",
    "calcom_409",
    "calcom_429",
    "calcom_4xx",
    "calcom_5xx",
    "calcom_no_answer",
];

fn status_class(status: u16) -> usize {
    match status {
        200..=299 => 0,
        409 => 1,
        429 => 2,
        400..=499 => 3,
        500..=599 => 4,
        _ => 5,
    }
}

/// Per simulated second with activity: calls ending by outcome, and Cal.com requests by
/// when they were sent, by answer ([`STATUS_KEYS`]).
fn timeseries(scenario: &Scenario, run: &RunRecord) -> Vec<TimeRow> {
    let mut rows: BTreeMap<u64, BTreeMap<&str, u64>> = BTreeMap::new();
    for call in &run.calls {
        let end = call.steps.last().map_or(call.start_ms, |s| s.completed_ms);
        *rows
            .entry(end / 1000)
            .or_default()
            .entry(call.outcome().name())
            .or_default() += 1;
    }
    let start_ms = scenario.start_utc().timestamp_millis();
    for s in &run.calcom_samples {
        let second = u64::try_from((s.at_ms - start_ms).max(0) / 1000).unwrap_or(0);
        let row = rows.entry(second).or_default();
        *row.entry("calcom_requests").or_default() += 1;
        *row.entry(STATUS_KEYS[status_class(s.status)]).or_default() += 1;
    }
    rows.into_iter()
        .map(|(t, counts)| TimeRow {
            t,
            counts: counts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        })
        .collect()
}

fn calcom_blocks(scenario: &Scenario, run: &RunRecord) -> Vec<ThrottleSpan> {
    let start_ms = scenario.start_utc().timestamp_millis();
    let offset = |t: chrono::DateTime<chrono::Utc>| {
        u64::try_from(t.timestamp_millis() - start_ms).unwrap_or(0)
    };
    run.truth
        .throttle_blocks
        .iter()
        .map(|b| ThrottleSpan {
            key: b.key.clone(),
            from_ms: offset(b.from),
            until_ms: offset(b.until),
        })
        .collect()
}

/// SHA-256 of the deterministic fields (all but `digest` and `sim.wall_seconds`).
pub fn digest(summary: &Value) -> String {
    let mut v = summary.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("digest");
    }
    if let Some(sim) = v.get_mut("sim").and_then(Value::as_object_mut) {
        sim.remove("wall_seconds");
    }
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

/// "nicht verfügbar" while a stylist was free: the rate, and the reasons that occurred.
fn unavailable_line(s: &Summary) -> String {
    let all = s.unavailable_free.get("all").copied().unwrap_or(0);
    let why: Vec<String> = s
        .unavailable_free
        .iter()
        .filter(|(k, n)| k.as_str() != "all" && **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(": {}", why.join(", "))
    };
    format!(
        "  unavailable-free rate {:.1} % ({all} of {} told unavailable{why})",
        s.unavailable_free_rate * 100.0,
        s.told_unavailable
    )
}

/// The readable summary a run prints.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let line = |out: &mut String, text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let n = |o: &str| s.outcomes.get(o).copied().unwrap_or(0);
    line(
        &mut out,
        format!("{}  seed {}  policy {}", s.scenario, s.seed, s.policy),
    );
    line(&mut out, String::new());
    line(&mut out, format!("  {:<12} {:>7}", "outcome", "calls"));
    for o in Outcome::ALL {
        line(&mut out, format!("  {:<12} {:>7}", o.name(), n(o.name())));
    }
    line(
        &mut out,
        format!(
            "  race-failure rate {:.1} % ({} race_lost of {} told available)",
            s.race_failure_rate * 100.0,
            n("race_lost"),
            s.told_available
        ),
    );
    line(
        &mut out,
        format!(
            "  false-refusal rate {:.1} % ({} refused_free of {} told available)",
            s.false_refusal_rate * 100.0,
            n("refused_free"),
            s.told_available
        ),
    );
    line(&mut out, unavailable_line(s));
    line(&mut out, String::new());
    line(
        &mut out,
        format!(
            "  {:<22} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "latency (ms)", "count", "p50", "p90", "p95", "p99", "max"
        ),
    );
    for (op, st) in &s.latency_ms {
        line(
            &mut out,
            format!(
                "  {:<22} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7}",
                op, st.count, st.p50, st.p90, st.p95, st.p99, st.max
            ),
        );
    }
    line(&mut out, String::new());
    if s.refused_connections > 0 && s.live.is_none() {
        line(
            &mut out,
            format!(
                "  engine not reached: {} function call(s) got no connection on any try (the engine down or cut off, or saturated: past its {} connections and backlog of {})",
                s.refused_connections,
                simkit::transport::MAX_CONNECTIONS,
                simkit::transport::LISTEN_BACKLOG
            ),
        );
    }
    let broken: Vec<String> = s
        .invariants
        .iter()
        .filter(|(_, n)| **n != 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if broken.is_empty() {
        line(&mut out, "  invariants: all hold".into());
    } else {
        line(
            &mut out,
            format!("  invariants VIOLATED: {}", broken.join(", ")),
        );
        for v in s.violations.iter().take(5) {
            line(&mut out, format!("    {}: {}", v.kind, v.detail));
        }
    }
    for g in &s.gates {
        let verdict = match (g.pass, g.not_observable) {
            (_, true) => "n/a (not observable live)",
            (true, _) => "pass",
            (false, _) => "FAIL",
        };
        let value = serde_json::to_string(&g.value).unwrap_or_default();
        line(
            &mut out,
            format!("  gate {verdict}: {} (value {value})", g.gate),
        );
    }
    for kind in s.unexpected_violations() {
        line(
            &mut out,
            format!(
                "  FAIL: invariants.{kind} violated and no gate expects it (add a gate on it if the scenario shows it on purpose)"
            ),
        );
    }
    let simulated = s.sim.simulated_seconds;
    if let Some(live) = &s.live {
        line(
            &mut out,
            format!(
                "  live: ran {simulated:.1} s against {}{}; send skew p50 {} µs, p99 {} µs, max {} µs",
                live.engine,
                if live.incomplete {
                    " (STOPPED EARLY: incomplete)"
                } else {
                    ""
                },
                live.send_skew_us.p50,
                live.send_skew_us.p99,
                live.send_skew_us.max
            ),
        );
        line(
            &mut out,
            match (&live.engine_policy, &live.engine_preset) {
                (None, _) => "  engine policy: not stated (no /api/info): not checked".to_owned(),
                (Some(_), Some(preset)) => {
                    format!("  engine policy: {preset}, as the scenario's (GET /api/info)")
                }
                (Some(_), None) => {
                    "  engine policy: a preset with overrides, as the scenario's (GET /api/info)"
                        .to_owned()
                }
            },
        );
        if live.not_started > 0 || live.refused_connections > 0 {
            line(
                &mut out,
                format!(
                    "  live: {} call(s) never started (in no outcome), {} function call(s) refused a connection",
                    live.not_started, live.refused_connections
                ),
            );
        }
        if let Some(reason) = &live.incomplete_reason {
            line(&mut out, format!("  INCOMPLETE: {reason}"));
        }
        if live.answers.unreadable > 0 {
            line(
                &mut out,
                format!(
                    "  live: {} answer(s) unreadable with [live.answers] (unreadable_answer)",
                    live.answers.unreadable
                ),
            );
        }
        if live.answers.cross_check.disagree > 0 {
            line(
                &mut out,
                format!(
                    "  live: the engine's own error_type disagrees with the judgement from the request and Cal.com for {} call(s), e.g. {}",
                    live.answers.cross_check.disagree,
                    live.answers
                        .cross_check
                        .examples
                        .first()
                        .map_or("", String::as_str)
                ),
            );
        }
        for what in &live.unchecked {
            line(&mut out, format!("  not checked: {what}"));
        }
        for why in &live.unjudgeable {
            line(&mut out, format!("  UNJUDGEABLE, FAIL: {why}"));
        }
        for why in &live.invalid {
            line(
                &mut out,
                format!(
                    "  {}: {why}",
                    if live.allow_invalid {
                        "INVALID (allowed by live.allow_invalid)"
                    } else {
                        "INVALID, FAIL"
                    }
                ),
            );
        }
        line(
            &mut out,
            format!(
                "  not observable live (not checked): {}",
                live.not_observable.join(", ")
            ),
        );
        line(&mut out, format!("  digest {}", s.digest));
        return out;
    }
    match s.sim.wall_seconds {
        Some(wall) if wall > 0.0 => line(
            &mut out,
            format!(
                "  simulated {simulated:.1} s in {wall:.2} s ({:.0}x real time)",
                simulated / wall
            ),
        ),
        _ => line(&mut out, format!("  simulated {simulated:.1} s")),
    }
    line(&mut out, format!("  digest {}", s.digest));
    out
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

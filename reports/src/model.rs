//! What a comparison or sweep report shows, as types: `sweep.json` is [`SweepReport`]
//! serialized. The simulation fills it in and this crate renders it, so both read the same
//! fields and a misspelt one does not compile.
//!
//! The engine's counters are a type parameter `E`: they are written with the report but never
//! read here, so this crate needs no engine code (the harness uses its `EngineStats`).

use std::collections::BTreeMap;

pub use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The report of a comparison (no parameters) or a sweep: `sweep.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepReport<E> {
    pub scenario: String,
    /// The swept parameters' names, in the order given.
    pub params: Vec<String>,
    pub policies: Vec<String>,
    pub seeds: Vec<u64>,
    /// Runs present.
    pub runs: usize,
    /// Whether every run of the plan is present exactly once, and no record was dropped (a
    /// merge may lack a shard, or find runs the plan does not have).
    pub complete: bool,
    /// What a merge left out and why (a run the plan does not have, a second copy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    pub points: Vec<Point<E>>,
    pub knees: Vec<Knee>,
}

/// One grid point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point<E> {
    /// Parameter name to value, in the plan's order.
    pub params: IndexMap<String, String>,
    /// The first parameter's value as a number (its index when it is none), for charts and
    /// knees; `null` when not finite.
    pub x: Option<f64>,
    /// The point's runs added up, per policy in the plan's order (a policy without runs is
    /// left out).
    pub policies: IndexMap<String, PolicySummary<E>>,
    pub paired: Paired,
}

/// The runs of one policy at one point added up: the fields of a run's summary, counts
/// summed, latencies from the merged histograms, each gate judged per run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySummary<E> {
    pub scenario: String,
    pub policy: String,
    pub params: IndexMap<String, String>,
    pub runs: usize,
    pub seeds: Vec<u64>,
    pub calls: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub outcome_errors: BTreeMap<String, BTreeMap<String, u64>>,
    pub told_available: u64,
    pub invariants: BTreeMap<String, u64>,
    /// Requests the mock answered: endpoint → status → count.
    pub calcom: BTreeMap<String, BTreeMap<u16, u64>>,
    pub engine: E,
    pub webhooks: BTreeMap<String, u64>,
    pub reservations: Reservations,
    pub coverage: BTreeMap<String, u64>,
    pub sim: SimTime,
    /// Pooled over every call of the runs.
    pub race_failure_rate: f64,
    pub false_refusal_rate: f64,
    /// Checks that answered "nicht verfügbar".
    #[serde(default)]
    pub told_unavailable: u64,
    /// Of those, said while a qualified stylist was free, by why (`all`: their sum).
    #[serde(default)]
    pub unavailable_free: BTreeMap<String, u64>,
    /// `unavailable_free.all / told_unavailable`, pooled over every check of the runs.
    #[serde(default)]
    pub unavailable_free_rate: f64,
    pub latency_ms: BTreeMap<String, LatencyStats>,
    pub gates: Vec<GateVerdict>,
}

impl<E> PolicySummary<E> {
    /// Calls that ended in `outcome` (0 when none did).
    pub fn outcome(&self, outcome: &str) -> u64 {
        self.outcomes.get(outcome).copied().unwrap_or(0)
    }

    /// Invariant violations of every kind.
    pub fn violations(&self) -> u64 {
        self.invariants.values().sum()
    }

    /// Requests Cal.com answered, over every endpoint and status.
    pub fn calcom_requests(&self) -> u64 {
        self.calcom.values().flat_map(BTreeMap::values).sum()
    }

    /// 429s Cal.com answered, over every endpoint.
    pub fn calcom_429(&self) -> u64 {
        self.calcom.values().filter_map(|s| s.get(&429)).sum()
    }

    /// One statistic (`p95`, `max`, ...) of one operation's latency, in ms.
    pub fn latency(&self, op: &str) -> Option<&LatencyStats> {
        self.latency_ms.get(op)
    }
}

/// A gate of the scenario judged on each run of a point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateVerdict {
    pub gate: String,
    pub failed_runs: u64,
    pub runs: u64,
    pub pass: bool,
}

/// Differences between each policy and the reference (the first policy), seed by seed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paired {
    pub reference: String,
    /// Per policy but the reference, in the plan's order.
    pub policies: IndexMap<String, PairedMetrics>,
}

/// The per-run metrics compared seed by seed; `null` where no seed had both runs (or the
/// metric, e.g. a latency of an operation never called).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairedMetrics {
    pub race_failure_rate: Option<PairedDifference>,
    pub false_refusal_rate: Option<PairedDifference>,
    #[serde(default)]
    pub unavailable_free_rate: Option<PairedDifference>,
    pub booked_share: Option<PairedDifference>,
    #[serde(rename = "p95(check_availability)")]
    pub p95_check_availability: Option<PairedDifference>,
    #[serde(rename = "p95(start_booking)")]
    pub p95_start_booking: Option<PairedDifference>,
    pub violations: Option<PairedDifference>,
    pub calcom_429: Option<PairedDifference>,
}

/// A paired metric: how it reads, how `sweep.json` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    RaceFailureRate,
    FalseRefusalRate,
    /// "nicht verfügbar" while a stylist was free, per "nicht verfügbar".
    UnavailableFreeRate,
    BookedShare,
    /// The 95th percentile of an operation's latency.
    P95(&'static str),
    Violations,
    Calcom429,
}

impl Metric {
    /// Every paired metric, in the report's order.
    pub const ALL: [Metric; 8] = [
        Metric::RaceFailureRate,
        Metric::FalseRefusalRate,
        Metric::UnavailableFreeRate,
        Metric::BookedShare,
        Metric::P95("check_availability"),
        Metric::P95("start_booking"),
        Metric::Violations,
        Metric::Calcom429,
    ];

    pub fn name(self) -> String {
        match self {
            Metric::RaceFailureRate => "race_failure_rate".into(),
            Metric::FalseRefusalRate => "false_refusal_rate".into(),
            Metric::UnavailableFreeRate => "unavailable_free_rate".into(),
            Metric::BookedShare => "booked_share".into(),
            Metric::P95(op) => format!("p95({op})"),
            Metric::Violations => "violations".into(),
            Metric::Calcom429 => "calcom_429".into(),
        }
    }
}

impl PairedMetrics {
    /// Each metric's difference from `f`.
    pub fn from_fn(mut f: impl FnMut(Metric) -> Option<PairedDifference>) -> Self {
        let [a, b, u, c, d, e, g, h] = Metric::ALL.map(&mut f);
        PairedMetrics {
            race_failure_rate: a,
            false_refusal_rate: b,
            unavailable_free_rate: u,
            booked_share: c,
            p95_check_availability: d,
            p95_start_booking: e,
            violations: g,
            calcom_429: h,
        }
    }

    /// Every metric with its difference, in the report's order.
    pub fn iter(&self) -> impl Iterator<Item = (Metric, Option<&PairedDifference>)> {
        let fields = [
            &self.race_failure_rate,
            &self.false_refusal_rate,
            &self.unavailable_free_rate,
            &self.booked_share,
            &self.p95_check_availability,
            &self.p95_start_booking,
            &self.violations,
            &self.calcom_429,
        ];
        Metric::ALL.into_iter().zip(fields.map(Option::as_ref))
    }
}

/// The mean of paired differences `policy - reference` over seeds, with a 95 % confidence
/// interval (Student's t; none with fewer than two pairs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairedDifference {
    pub pairs: usize,
    pub reference_mean: f64,
    pub mean: f64,
    pub difference: f64,
    pub ci95: Option<[f64; 2]>,
    /// `mean / reference_mean - 1` (none when the reference is zero).
    pub relative: Option<f64>,
}

/// Where a knee condition first holds along the first parameter, for one policy and one
/// combination of the other parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knee {
    pub condition: String,
    pub policy: String,
    /// The first parameter's name.
    pub along: String,
    /// The other parameters' values.
    pub r#where: IndexMap<String, String>,
    /// The first swept value at which the condition holds; `null` when it never does.
    pub at: Option<String>,
    /// The crossing interpolated between grid points.
    pub interpolated: Option<f64>,
    /// Whether the grid brackets the knee: crossed, and not already at its first point.
    pub bracketed: bool,
}

/// Latency statistics of one operation, in ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyStats {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub max: u64,
}

/// Reservations by where they were held and how they ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservations {
    pub local: BTreeMap<String, u64>,
    pub calcom: BTreeMap<String, u64>,
}

/// Simulated time, and the wall time a run took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimTime {
    pub simulated_seconds: f64,
    /// The run's wall time: outside the digest and the baselines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<f64>,
}

/// What a run's report shows of its summary (`summary.json`), borrowed from it: the
/// harness fills it in field by field, so a field renamed on either side does not compile.
#[derive(Debug, Clone, Copy)]
pub struct RunView<'a> {
    pub scenario: &'a str,
    pub seed: u64,
    pub policy: &'a str,
    pub calls: u64,
    pub simulated_seconds: f64,
    pub told_available: u64,
    pub race_failure_rate: f64,
    pub false_refusal_rate: f64,
    /// Checks that said "nicht verfügbar", the rate of those said while a stylist was
    /// free, and those by why (`all`: their sum).
    pub told_unavailable: u64,
    pub unavailable_free_rate: f64,
    pub unavailable_free: &'a BTreeMap<String, u64>,
    /// Calls by outcome.
    pub outcomes: &'a BTreeMap<String, u64>,
    /// Per outcome, the error types that decided its calls.
    pub outcome_errors: &'a BTreeMap<String, BTreeMap<String, u64>>,
    /// Violations by kind.
    pub invariants: &'a BTreeMap<String, u64>,
    /// Each violation's kind and detail, in the summary's order.
    pub violations: &'a [(&'a str, &'a str)],
    pub latency_ms: &'a BTreeMap<String, LatencyStats>,
    /// Each gate as written, the value it read and whether it passed.
    pub gates: &'a [(&'a str, Option<f64>, bool)],
    /// Per simulated second with activity: its start (s) and its counts by series
    /// (`booked`, `calcom_429`, ...).
    pub timeseries: &'a [(u64, &'a BTreeMap<String, u64>)],
    /// The Cal.com throttler's blocks, from and until (ms of simulated time).
    pub calcom_blocks: &'a [(u64, u64)],
    pub digest: &'a str,
}

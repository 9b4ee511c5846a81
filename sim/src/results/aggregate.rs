//! Results that add up exactly: one run's counts and latency histograms ([`RunResult`]), and
//! their sum over any set of runs ([`Aggregate`]), which reads like a run's summary.
//!
//! A sweep, a comparison and a merge of shards all go through here, so a merged sweep is the
//! unsharded sweep: counts are summed, histograms added (HdrHistogram `add` is exact), in the
//! order of (point, policy, seed) whatever order the runs finished in.

use std::collections::BTreeMap;

use base64::Engine as _;
use booking_engine::engine::EngineStats;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use reports::model::{GateVerdict, IndexMap};

use crate::Summary;
use crate::results::metrics::{self, Histograms};
use crate::results::summary::{Reservations, SimTime};
use crate::scenario::gates::Gate;

/// The fields of a [`Summary`] that are counts, summed over runs; serialized with the same
/// names and shapes as in `summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub calls: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub outcome_errors: BTreeMap<String, BTreeMap<String, u64>>,
    pub told_available: u64,
    /// Checks that said "nicht verfügbar", and those said while a stylist was free, by why.
    #[serde(default)]
    pub told_unavailable: u64,
    #[serde(default)]
    pub unavailable_free: BTreeMap<String, u64>,
    pub invariants: BTreeMap<String, u64>,
    pub calcom: BTreeMap<String, BTreeMap<u16, u64>>,
    pub engine: EngineStats,
    pub webhooks: BTreeMap<String, u64>,
    pub reservations: Reservations,
    pub coverage: BTreeMap<String, u64>,
    pub sim: SimTime,
}

fn add_map<K: Ord + Clone>(into: &mut BTreeMap<K, u64>, from: &BTreeMap<K, u64>) {
    for (k, n) in from {
        *into.entry(k.clone()).or_default() += n;
    }
}

impl Counts {
    /// The counted fields of a run's summary (its wall time left out).
    pub fn of(s: &Summary) -> Self {
        Counts {
            calls: s.calls,
            outcomes: s.outcomes.clone(),
            outcome_errors: s.outcome_errors.clone(),
            told_available: s.told_available,
            told_unavailable: s.told_unavailable,
            unavailable_free: s.unavailable_free.clone(),
            invariants: s.invariants.clone(),
            calcom: s.calcom.clone(),
            engine: s.engine.clone(),
            webhooks: s.webhooks.clone(),
            reservations: s.reservations.clone(),
            coverage: s.coverage.clone(),
            sim: SimTime {
                simulated_seconds: s.sim.simulated_seconds,
                wall_seconds: None,
            },
        }
    }

    /// Adds `o` in: every count summed, maps key by key (a key missing on one side is 0).
    pub fn add(&mut self, o: &Counts) {
        self.calls += o.calls;
        add_map(&mut self.outcomes, &o.outcomes);
        for (outcome, errors) in &o.outcome_errors {
            add_map(
                self.outcome_errors.entry(outcome.clone()).or_default(),
                errors,
            );
        }
        self.told_available += o.told_available;
        self.told_unavailable += o.told_unavailable;
        add_map(&mut self.unavailable_free, &o.unavailable_free);
        add_map(&mut self.invariants, &o.invariants);
        for (endpoint, statuses) in &o.calcom {
            add_map(self.calcom.entry(endpoint.clone()).or_default(), statuses);
        }
        self.engine.add(&o.engine);
        add_map(&mut self.webhooks, &o.webhooks);
        add_map(&mut self.reservations.local, &o.reservations.local);
        add_map(&mut self.reservations.calcom, &o.reservations.calcom);
        add_map(&mut self.coverage, &o.coverage);
        self.sim.simulated_seconds += o.sim.simulated_seconds;
    }

    /// Calls that ended in `outcome` per call told "available" (0 when none was).
    pub fn outcome_rate(&self, outcome: &str) -> f64 {
        rate(
            self.outcomes.get(outcome).copied().unwrap_or(0),
            self.told_available,
        )
    }

    /// Checks that said "nicht verfügbar" while a stylist was free, per "nicht verfügbar".
    pub fn unavailable_free_rate(&self) -> f64 {
        rate(
            self.unavailable_free.get("all").copied().unwrap_or(0),
            self.told_unavailable,
        )
    }

    /// Calls booked per call.
    pub fn booked_share(&self) -> Option<f64> {
        (self.calls > 0)
            .then(|| self.outcomes.get("booked").copied().unwrap_or(0) as f64 / self.calls as f64)
    }

    pub fn violations(&self) -> u64 {
        self.invariants.values().sum()
    }

    /// 429s Cal.com answered, over every endpoint.
    pub fn calcom_429(&self) -> u64 {
        self.calcom.values().filter_map(|s| s.get(&429)).sum()
    }
}

/// One run of a sweep or comparison: where in the grid, its counts and its histograms. One
/// line of `runs.jsonl`, in this field order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunResult {
    /// Index of the grid point in the plan.
    pub point: usize,
    pub policy: String,
    pub seed: u64,
    /// The run summary's counted fields.
    pub counts: Counts,
    /// Latency histograms by operation, V2-deflate encoded in base64 (the format
    /// HdrHistogram's tools read): a few hundred bytes each instead of ~100 KB decoded, so
    /// a sweep of thousands of runs fits in memory.
    pub histograms: BTreeMap<String, String>,
    /// The scenario's gates this run failed, and each violated invariant no gate expects:
    /// gates are judged per run (a count such as
    /// `outcomes.race_lost == 1` means nothing summed over seeds).
    #[serde(default)]
    pub failed_gates: Vec<String>,
    /// SHA-256 over the plan's text and this record (this field empty), in hex: a merge
    /// refuses a record edited after it was written, or moved from another plan's shard. A
    /// checksum against edits and mix-ups, not a signature.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
}

impl RunResult {
    pub fn new(point: usize, policy: &str, seed: u64, summary: &Summary, h: Histograms) -> Self {
        RunResult {
            point,
            policy: policy.to_owned(),
            seed,
            counts: Counts::of(summary),
            histograms: h.iter().map(|(op, h)| (op.clone(), encode(h))).collect(),
            failed_gates: summary.failures(),
            digest: String::new(),
        }
    }

    /// The digest this record should carry in the plan whose text is `plan`.
    fn expected_digest(&self, plan: &str) -> String {
        use sha2::Digest as _;
        let mut bare = self.clone();
        bare.digest.clear();
        let mut hash = sha2::Sha256::new();
        hash.update(sha2::Sha256::digest(plan.as_bytes()));
        hash.update(
            serde_json::to_string(&bare)
                .expect("a run is plain data")
                .as_bytes(),
        );
        hex::encode(hash.finalize())
    }

    /// This record with its digest in the plan whose text is `plan`.
    #[must_use]
    pub fn sealed(&self, plan: &str) -> Self {
        let mut sealed = self.clone();
        sealed.digest = self.expected_digest(plan);
        sealed
    }

    /// Whether this record is as written for the plan whose text is `plan`.
    pub fn verify(&self, plan: &str) -> Result<(), String> {
        if self.digest.is_empty() {
            return Err(
                "carries no digest (written by an older bookingsim, or edited): run its shard again"
                    .into(),
            );
        }
        if self.digest != self.expected_digest(plan) {
            return Err(format!(
                "point {} policy {} seed {}: its digest does not match its contents: the record \
                 was edited after it was written, or comes from another plan",
                self.point, self.policy, self.seed
            ));
        }
        Ok(())
    }

    /// One operation's histogram, decoded.
    pub fn histogram(&self, op: &str) -> Option<Histogram<u64>> {
        decode(self.histograms.get(op)?).ok()
    }

    /// The order runs are added in.
    pub fn key(&self) -> (usize, &str, u64) {
        (self.point, &self.policy, self.seed)
    }

    /// Reads one line of `runs.jsonl`, its histograms checked.
    pub fn parse(line: &str) -> Result<Self, String> {
        let run: RunResult = serde_json::from_str(line).map_err(|e| e.to_string())?;
        for (op, text) in &run.histograms {
            decode(text).map_err(|e| format!("histogram `{op}`: {e}"))?;
        }
        Ok(run)
    }

    /// Race-lost calls per call told "available" (0 when none was).
    pub fn race_failure_rate(&self) -> f64 {
        self.counts.outcome_rate("race_lost")
    }

    /// Calls refused while a stylist was free, per call told "available".
    pub fn false_refusal_rate(&self) -> f64 {
        self.counts.outcome_rate("refused_free")
    }
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serializing to memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| e.to_string())?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("{e:?}"))
}

/// The runs of one policy at one point added up, as a sweep report shows them.
pub type PolicySummary = reports::model::PolicySummary<EngineStats>;

/// The sum of runs of one policy at one grid point.
#[derive(Debug, Clone, Default)]
pub struct Aggregate {
    pub seeds: Vec<u64>,
    pub counts: Counts,
    pub histograms: Histograms,
    /// Runs that failed each gate.
    pub gate_failures: BTreeMap<String, u64>,
}

impl Aggregate {
    pub fn add(&mut self, run: &RunResult) {
        self.seeds.push(run.seed);
        self.counts.add(&run.counts);
        for gate in &run.failed_gates {
            *self.gate_failures.entry(gate.clone()).or_default() += 1;
        }
        for (op, text) in &run.histograms {
            // Checked when the run was made or read.
            let Ok(h) = decode(text) else { continue };
            self.histograms
                .entry(op.clone())
                .or_insert_with(metrics::histogram)
                .add(&h)
                .expect("histograms share their bounds");
        }
    }

    /// The fields of a run's summary, over all the runs: counts summed, latencies from the
    /// merged histograms, the race-failure rate pooled over every call, and the scenario's
    /// gates evaluated on the sum.
    pub fn summary(
        &self,
        scenario: &str,
        policy: &str,
        params: &IndexMap<String, String>,
        gates: &[String],
    ) -> PolicySummary {
        let c = self.counts.clone();
        // Each gate judged per run: how many of the point's runs failed it.
        let runs = self.seeds.len() as u64;
        // And a violated invariant no gate expects, as a gate of its own that failed.
        let unexpected = self
            .gate_failures
            .keys()
            .filter(|text| !gates.contains(text) && Gate::parse(text).is_err());
        let gates = gates
            .iter()
            .filter(|text| Gate::parse(text).is_ok())
            .chain(unexpected)
            .map(|text| {
                let failed = self.gate_failures.get(text).copied().unwrap_or(0);
                GateVerdict {
                    gate: text.clone(),
                    failed_runs: failed,
                    runs,
                    pass: failed == 0,
                }
            })
            .collect();
        PolicySummary {
            scenario: scenario.to_owned(),
            policy: policy.to_owned(),
            params: params.clone(),
            runs: self.seeds.len(),
            seeds: self.seeds.clone(),
            race_failure_rate: c.outcome_rate("race_lost"),
            false_refusal_rate: c.outcome_rate("refused_free"),
            unavailable_free_rate: c.unavailable_free_rate(),
            told_unavailable: c.told_unavailable,
            unavailable_free: c.unavailable_free,
            calls: c.calls,
            outcomes: c.outcomes,
            outcome_errors: c.outcome_errors,
            told_available: c.told_available,
            invariants: c.invariants,
            calcom: c.calcom,
            engine: c.engine,
            webhooks: c.webhooks,
            reservations: c.reservations,
            coverage: c.coverage,
            sim: c.sim,
            latency_ms: metrics::latency_table(&self.histograms),
            gates,
        }
    }
}

/// Groups runs by (point, policy) in plan order and adds each group up.
pub fn aggregate(runs: &[RunResult]) -> BTreeMap<(usize, String), Aggregate> {
    let mut sorted: Vec<&RunResult> = runs.iter().collect();
    sorted.sort_by(|a, b| a.key().cmp(&b.key()));
    let mut out: BTreeMap<(usize, String), Aggregate> = BTreeMap::new();
    for r in sorted {
        out.entry((r.point, r.policy.clone())).or_default().add(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, booked: u64, latencies: &[u64]) -> RunResult {
        let mut h = metrics::histogram();
        for l in latencies {
            h.record(*l).unwrap();
        }
        RunResult {
            point: 0,
            policy: "baseline".into(),
            seed,
            counts: Counts {
                calls: booked + 1,
                outcomes: BTreeMap::from([("booked".into(), booked), ("race_lost".into(), 1)]),
                told_available: booked + 1,
                sim: SimTime {
                    simulated_seconds: 1.5,
                    wall_seconds: None,
                },
                ..Counts::default()
            },
            histograms: BTreeMap::from([("start_booking".to_owned(), encode(&h))]),
            failed_gates: Vec::new(),
            digest: String::new(),
        }
    }

    #[test]
    fn runs_add_up_exactly_and_round_trip_through_json() {
        let runs = [run(1, 3, &[100, 200]), run(2, 1, &[5000])];
        for r in &runs {
            let line = serde_json::to_string(r).unwrap();
            assert_eq!(&RunResult::parse(&line).unwrap(), r);
        }
        let agg = &aggregate(&runs)[&(0, "baseline".to_owned())];
        let s = agg.summary("x", "baseline", &IndexMap::new(), &["calls == 6".into()]);
        assert_eq!(s.outcomes["booked"], 4);
        assert_eq!(s.calls, 6);
        assert_eq!(s.sim.simulated_seconds, 3.0);
        assert_eq!(s.race_failure_rate, 2.0 / 6.0);
        assert_eq!(s.latency_ms["start_booking"].count, 3);
        assert_eq!(s.latency_ms["start_booking"].max, 5003);
        assert!(s.gates[0].pass);
    }
}

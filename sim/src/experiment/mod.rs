//! Comparisons and sweeps: a grid of scenario variants x policies x seeds, run on every core,
//! sliced into shards for other machines, and added up into one report.
//!
//! A comparison is a sweep without parameters. Every policy runs on the same seeds, so it
//! meets the same callers at the same instants and the same external bookings (common random
//! numbers): differences between policies are paired seed by seed.

pub mod catalogue;
pub mod mutants;
pub mod stats;
pub mod sweep;

pub use sweep::{Outcome, SweepArgs};

use std::collections::BTreeMap;

use booking_engine::engine::EngineStats;
use reports::model::{IndexMap, Knee, Paired, PairedMetrics, Point};
use serde::{Deserialize, Serialize};

use crate::results::aggregate::{self, Aggregate, PolicySummary, RunResult};
use crate::results::metrics;
use crate::scenario::Scenario;
use crate::scenario::gates::Gate;

/// A comparison's or sweep's report, `sweep.json`: the reports' model with the engine's
/// counters.
pub type Report = reports::model::SweepReport<EngineStats>;

/// A swept scenario field and its values (as `--set` takes them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    pub name: String,
    pub values: Vec<String>,
}

impl Param {
    /// `NAME=A..B` (step 1), `NAME=A..B:STEP`, numbers optionally with one unit
    /// (`policy.cache_ttl=0s..60s:15s`), or a list `NAME=a,b,c`.
    pub fn parse(text: &str) -> Result<Param, String> {
        let (name, range) = text
            .split_once('=')
            .ok_or_else(|| format!("--param {text}: expected NAME=RANGE, e.g. rate=1..20"))?;
        let (name, range) = (name.trim(), range.trim());
        let bad = |why: &str| format!("--param {text}: {why}");
        let values: Vec<String> = if let Some((from, rest)) = range.split_once("..") {
            let (to, step) = rest.split_once(':').unwrap_or((rest, "1"));
            let number = |s: &str| -> Result<(f64, String), String> {
                let s = s.trim();
                let at = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
                let value = s[..at]
                    .parse::<f64>()
                    .map_err(|_| bad(&format!("`{s}` is not a number")))?;
                Ok((value, s[at..].to_owned()))
            };
            let ((a, unit), (b, unit_b), (step, unit_step)) =
                (number(from)?, number(to)?, number(step)?);
            let unit = [unit, unit_b, unit_step]
                .into_iter()
                .find(|u| !u.is_empty())
                .unwrap_or_default();
            if step <= 0.0 || b < a {
                return Err(bad("expected A..B with A <= B and a positive step"));
            }
            let integral = [a, b, step].iter().all(|v| v.fract() == 0.0);
            let count = ((b - a) / step + 1e-9).floor() as usize + 1;
            if count > 10_000 {
                return Err(bad("more than 10000 values"));
            }
            (0..count)
                .map(|i| {
                    let v = a + i as f64 * step;
                    if integral {
                        format!("{}{unit}", v as i64)
                    } else {
                        format!("{}{unit}", (v * 1e9).round() / 1e9)
                    }
                })
                .collect()
        } else {
            range.split(',').map(|v| v.trim().to_owned()).collect()
        };
        if name.is_empty() || values.iter().any(String::is_empty) {
            return Err(bad("expected a field name and at least one value"));
        }
        Ok(Param {
            name: name.to_owned(),
            values,
        })
    }
}

/// A value as a number for charts and knees: a number, or a duration in seconds.
pub fn numeric(value: &str) -> Option<f64> {
    let v = value.trim().trim_matches('"');
    v.parse::<f64>()
        .ok()
        .or_else(|| humantime::parse_duration(v).ok().map(|d| d.as_secs_f64()))
}

/// Everything that defines a sweep; written as `plan.json` (in this field order) so shards
/// can be merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub scenario: String,
    /// Where the scenario came from (for messages).
    pub origin: String,
    pub params: Vec<Param>,
    pub policies: Vec<String>,
    pub seeds: Vec<u64>,
    /// Knee conditions in the gate grammar, e.g. `race_failure_rate > 0.01`.
    pub knees: Vec<String>,
    /// The scenario file's text: a merge needs no access to the file.
    pub text: String,
}

/// One run to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub point: usize,
    pub seed: u64,
    pub policy: String,
}

impl Plan {
    /// The grid: every combination of parameter values, the last parameter varying fastest.
    pub fn points(&self) -> Vec<Vec<(String, String)>> {
        let mut points = vec![Vec::new()];
        for p in &self.params {
            points = points
                .into_iter()
                .flat_map(|point| {
                    p.values.iter().map(move |v| {
                        let mut next = point.clone();
                        next.push((p.name.clone(), v.clone()));
                        next
                    })
                })
                .collect();
        }
        points
    }

    /// The scenario at every point (which checks every value before anything runs).
    pub fn scenarios(&self) -> Result<Vec<Scenario>, String> {
        self.points()
            .iter()
            .map(|point| {
                let sets: Vec<String> = point.iter().map(|(k, v)| format!("{k}={v}")).collect();
                Scenario::with_sets(&self.text, &self.origin, &sets).map_err(|e| e.to_string())
            })
            .collect()
    }

    /// Every run: by point, then seed, then policy.
    pub fn tasks(&self) -> Vec<Task> {
        let mut tasks = Vec::new();
        for point in 0..self.points().len() {
            for &seed in &self.seeds {
                for policy in &self.policies {
                    tasks.push(Task {
                        point,
                        seed,
                        policy: policy.clone(),
                    });
                }
            }
        }
        tasks
    }

    /// Shard `k` of `n` (1-based): every n-th (point, seed) pair with all its policies, so
    /// that a shard's runs stay paired. Shards are disjoint and cover the plan.
    pub fn shard(&self, k: usize, n: usize) -> Vec<Task> {
        let per_point = self.seeds.len().max(1);
        self.tasks()
            .into_iter()
            .filter(|t| {
                let seed_index = self.seeds.iter().position(|s| *s == t.seed).unwrap_or(0);
                (t.point * per_point + seed_index) % n == k - 1
            })
            .collect()
    }

    /// `plan.json`'s text.
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Runs `tasks` on `jobs` threads, one run per thread at a time; `progress(done, total)` is
/// called after each. Results come back in task order whatever order they finished in; a
/// run that fails (or panics) is its task's error, and the others complete.
pub fn execute(
    scenarios: &[Scenario],
    tasks: &[Task],
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<Result<RunResult, String>> {
    crate::pipeline::parallel::map(tasks, jobs, progress, |task| {
        let scenario = &scenarios[task.point];
        let (summary, record) = crate::pipeline::run(scenario, task.seed, &task.policy)?;
        let h = metrics::histograms(&metrics::samples(&record, scenario));
        Ok(RunResult::new(
            task.point,
            &task.policy,
            task.seed,
            &summary,
            h,
        ))
    })
}

fn paired_metric(run: &RunResult, metric: reports::model::Metric) -> Option<f64> {
    use reports::model::Metric;
    let c = &run.counts;
    match metric {
        Metric::RaceFailureRate => Some(run.race_failure_rate()),
        Metric::FalseRefusalRate => Some(run.false_refusal_rate()),
        Metric::UnavailableFreeRate => Some(run.counts.unavailable_free_rate()),
        Metric::BookedShare => c.booked_share(),
        Metric::Violations => Some(c.violations() as f64),
        Metric::Calcom429 => Some(c.calcom_429() as f64),
        Metric::P95(op) => {
            let h = run.histogram(op).filter(|h| !h.is_empty())?;
            Some(h.value_at_quantile(0.95) as f64)
        }
    }
}

/// The sweep's result: per point and policy the summed summary, the paired differences to
/// the first policy, and the knees. Also returns the aggregates (for charts).
pub fn report(
    plan: &Plan,
    scenarios: &[Scenario],
    runs: &[RunResult],
) -> (Report, BTreeMap<(usize, String), Aggregate>) {
    let aggregates = aggregate::aggregate(runs);
    let mut by_run: BTreeMap<(usize, &str, u64), &RunResult> = BTreeMap::new();
    for r in runs {
        by_run.insert(r.key(), r);
    }
    let reference = plan.policies.first().cloned().unwrap_or_default();
    let mut points = Vec::new();
    for (i, point) in plan.points().iter().enumerate() {
        let params: IndexMap<String, String> = point.iter().cloned().collect();
        let mut summaries = IndexMap::new();
        let mut paired = IndexMap::new();
        for policy in &plan.policies {
            let Some(agg) = aggregates.get(&(i, policy.clone())) else {
                continue;
            };
            summaries.insert(
                policy.clone(),
                agg.summary(&plan.scenario, policy, &params, &scenarios[i].gates),
            );
            if *policy == reference {
                continue;
            }
            let metrics = PairedMetrics::from_fn(|metric| {
                let pairs: Vec<(f64, f64)> = plan
                    .seeds
                    .iter()
                    .filter_map(|&seed| {
                        let a = by_run.get(&(i, reference.as_str(), seed))?;
                        let b = by_run.get(&(i, policy.as_str(), seed))?;
                        Some((paired_metric(a, metric)?, paired_metric(b, metric)?))
                    })
                    .collect();
                stats::paired_difference(&pairs)
            });
            paired.insert(policy.clone(), metrics);
        }
        // The first parameter's value as a number, for charts and knees (JSON has no
        // infinite or NaN number: such a value is written `null`).
        let x = point
            .first()
            .and_then(|(_, v)| numeric(v))
            .unwrap_or(i as f64);
        points.push(Point {
            params,
            x: Some(x).filter(|x| x.is_finite()),
            policies: summaries,
            paired: Paired {
                reference: reference.clone(),
                policies: paired,
            },
        });
    }
    let knees = knees(plan, &points);
    let present: std::collections::BTreeSet<(usize, &str, u64)> =
        runs.iter().map(RunResult::key).collect();
    let planned: std::collections::BTreeSet<(usize, String, u64)> = plan
        .tasks()
        .into_iter()
        .map(|t| (t.point, t.policy, t.seed))
        .collect();
    // Every planned run there, exactly once, and nothing else.
    let complete = runs.len() == planned.len()
        && present.len() == runs.len()
        && planned
            .iter()
            .all(|(p, policy, s)| present.contains(&(*p, policy.as_str(), *s)));
    let report = Report {
        scenario: plan.scenario.clone(),
        params: plan.params.iter().map(|p| p.name.clone()).collect(),
        policies: plan.policies.clone(),
        seeds: plan.seeds.clone(),
        runs: runs.len(),
        complete,
        dropped: Vec::new(),
        points,
        knees,
    };
    (report, aggregates)
}

/// Points of a curve: x, y and the parameter's value as given.
type Curve = Vec<(f64, f64, String)>;

/// For each knee condition and policy: along the first parameter (the others held at each
/// of their combinations), the smallest value at which the condition holds.
fn knees(plan: &Plan, points: &[Point<EngineStats>]) -> Vec<Knee> {
    let Some(along) = plan.params.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for condition in &plan.knees {
        let Ok(gate) = Gate::parse(condition) else {
            continue;
        };
        for policy in &plan.policies {
            // Curves keyed by the other parameters' values (as JSON text, their order).
            let mut curves: BTreeMap<String, (IndexMap<String, String>, Curve)> = BTreeMap::new();
            for (i, p) in points.iter().enumerate() {
                let Some(summary) = p.policies.get(policy) else {
                    continue;
                };
                let mut fixed = p.params.clone();
                let value = fixed.shift_remove(&along.name).unwrap_or_default();
                let x = p.x.unwrap_or(i as f64);
                // A knee condition is a gate: a dotted path into the summary's JSON.
                let Some(y) = gate.measured(&summary_json(summary)) else {
                    continue;
                };
                curves
                    .entry(serde_json::to_string(&fixed).unwrap_or_default())
                    .or_insert_with(|| (fixed.clone(), Vec::new()))
                    .1
                    .push((x, y, value));
            }
            for (fixed, curve) in curves.into_values() {
                let xy: Vec<(f64, f64)> = curve.iter().map(|(x, y, _)| (*x, *y)).collect();
                let knee = stats::knee(&xy, gate.threshold, |y| gate.holds(y));
                let at = knee.as_ref().and_then(|k| {
                    curve
                        .iter()
                        .find(|(x, _, _)| *x == k.at)
                        .map(|(_, _, v)| v.clone())
                });
                out.push(Knee {
                    condition: condition.clone(),
                    policy: policy.clone(),
                    along: along.name.clone(),
                    r#where: fixed,
                    at,
                    interpolated: knee.as_ref().and_then(|k| k.interpolated),
                    bracketed: knee.as_ref().is_some_and(|k| k.interpolated.is_some()),
                });
            }
        }
    }
    out
}

/// A point's summary as the JSON gates read by path.
fn summary_json(summary: &PolicySummary) -> serde_json::Value {
    serde_json::to_value(summary).expect("a summary is plain data")
}

/// One CSV row per point and policy.
pub fn csv(report: &Report) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut header: Vec<String> = report.params.iter().map(|p| quote(p)).collect();
    header.extend(
        [
            "policy",
            "runs",
            "calls",
            "booked",
            "race_lost",
            "refused_free",
            "told_available",
            "race_failure_rate",
            "false_refusal_rate",
            "unavailable_free",
            "told_unavailable",
            "unavailable_free_rate",
            "check_p50_ms",
            "check_p95_ms",
            "check_p99_ms",
            "booking_p50_ms",
            "booking_p95_ms",
            "booking_p99_ms",
            "violations",
            "calcom_requests",
            "calcom_429",
        ]
        .map(str::to_owned),
    );
    let mut out = header.join(",") + "\n";
    for point in &report.points {
        for (policy, s) in &point.policies {
            let mut row: Vec<String> = report
                .params
                .iter()
                .map(|p| quote(point.params.get(p).map_or("", String::as_str)))
                .collect();
            let latency = |op: &str, stat: fn(&reports::model::LatencyStats) -> u64| {
                s.latency_ms.get(op).map_or(0, stat).to_string()
            };
            row.extend([
                quote(policy),
                s.runs.to_string(),
                s.calls.to_string(),
                s.outcome("booked").to_string(),
                s.outcome("race_lost").to_string(),
                s.outcome("refused_free").to_string(),
                s.told_available.to_string(),
                format!("{:.6}", s.race_failure_rate),
                format!("{:.6}", s.false_refusal_rate),
                s.unavailable_free
                    .get("all")
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
                s.told_unavailable.to_string(),
                format!("{:.6}", s.unavailable_free_rate),
                latency("check_availability", |l| l.p50),
                latency("check_availability", |l| l.p95),
                latency("check_availability", |l| l.p99),
                latency("start_booking", |l| l.p50),
                latency("start_booking", |l| l.p95),
                latency("start_booking", |l| l.p99),
                s.violations().to_string(),
                s.calcom_requests().to_string(),
                s.calcom_429().to_string(),
            ]);
            out += &(row.join(",") + "\n");
        }
    }
    out
}

/// The largest comparison or sweep a plan may describe (a shard runs a slice of it).
pub const MAX_SEEDS: u64 = 100_000;
pub const MAX_POINTS: usize = 10_000;
pub const MAX_RUNS: usize = 2_000_000;

impl Plan {
    /// The plan of a comparison or sweep of `scenario` (read from `origin`, whose text with
    /// any `--set` applied is `text`): every parameter, policy and knee checked, the seeds
    /// the scenario's and the ones after it. Returns the scenario of every grid point too.
    pub fn new(
        origin: &str,
        text: String,
        scenario: &Scenario,
        params: &[String],
        policies: Vec<String>,
        seeds: u64,
        knees: Vec<String>,
    ) -> Result<(Plan, Vec<Scenario>), String> {
        let policies = if policies.is_empty() {
            vec![scenario.policy.preset.clone()]
        } else {
            policies
        };
        for k in &knees {
            crate::scenario::gates::Gate::parse(k)
                .and_then(|g| g.check_metric())
                .map_err(|e| format!("--knee {k}: {e}"))?;
        }
        if seeds == 0 || seeds > MAX_SEEDS {
            return Err(format!("--seeds {seeds}: expected 1 to {MAX_SEEDS}"));
        }
        let params: Vec<Param> = params
            .iter()
            .map(|p| Param::parse(p))
            .collect::<Result<_, _>>()?;
        // Counted before anything is built: a grid too large for memory is refused, not tried.
        let points = params
            .iter()
            .try_fold(1usize, |n, p| n.checked_mul(p.values.len().max(1)))
            .filter(|n| *n <= MAX_POINTS)
            .ok_or_else(|| format!("the parameters make more than {MAX_POINTS} grid points"))?;
        let runs = points * policies.len() * seeds as usize;
        if runs > MAX_RUNS {
            return Err(format!(
                "{points} point(s) x {} policies x {seeds} seeds = {runs} runs, more than {MAX_RUNS}: shard it or narrow it",
                policies.len()
            ));
        }
        let plan = Plan {
            scenario: scenario.name.clone(),
            origin: origin.to_owned(),
            text,
            params,
            policies,
            seeds: (0..seeds).map(|i| scenario.seed.wrapping_add(i)).collect(),
            knees,
        };
        let scenarios = plan.scenarios()?;
        for p in &plan.policies {
            let mut s = scenario.clone();
            s.policy.preset.clone_from(p);
            s.policy().map_err(|e| format!("--policies: {e}"))?;
        }
        Ok((plan, scenarios))
    }
}

/// Reads the plan and runs of every shard folder (`plan.json`, `runs.jsonl`) and checks
/// they belong to one sweep: the same plan everywhere, no run given twice with different
/// results. The runs come back in plan order; a missing shard leaves runs out.
pub fn read_shards(dirs: &[std::path::PathBuf]) -> Result<Shards, String> {
    let mut plan: Option<Plan> = None;
    let mut runs: BTreeMap<(usize, String, u64), RunResult> = BTreeMap::new();
    let mut dropped = Vec::new();
    let mut planned: Option<std::collections::BTreeSet<(usize, String, u64)>> = None;
    for dir in dirs {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map_err(|e| format!("{}: {e}", dir.join(name).display()))
        };
        let p: Plan = serde_json::from_str(&read("plan.json")?)
            .map_err(|e| format!("{}/plan.json: {e}", dir.display()))?;
        match &plan {
            Some(first) if *first != p => {
                return Err(format!(
                    "{}: a different sweep (scenario, parameters, policies, seeds or knees differ)",
                    dir.display()
                ));
            }
            Some(_) => {}
            None => {
                planned = Some(
                    p.tasks()
                        .into_iter()
                        .map(|t| (t.point, t.policy, t.seed))
                        .collect(),
                );
                plan = Some(p);
            }
        }
        let (text, planned) = (
            plan.as_ref().map(Plan::to_text).unwrap_or_default(),
            planned.as_ref().expect("set with the plan"),
        );
        for (n, line) in read("runs.jsonl")?.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = format!("{}/runs.jsonl:{}", dir.display(), n + 1);
            let r = RunResult::parse(line).map_err(|e| format!("{at}: {e}"))?;
            r.verify(&text).map_err(|e| format!("{at}: {e}"))?;
            let key = (r.point, r.policy.clone(), r.seed);
            let what = format!("point {} policy {} seed {}", r.point, r.policy, r.seed);
            if !planned.contains(&key) {
                dropped.push(format!("{at}: {what} is not a run of the plan"));
                continue;
            }
            match runs.get(&key) {
                Some(seen) if *seen != r => {
                    return Err(format!("{at}: {what} differs from another shard's"));
                }
                Some(_) => dropped.push(format!("{at}: {what} a second time")),
                None => {
                    runs.insert(key, r);
                }
            }
        }
    }
    let plan = plan.ok_or("no shard folders")?;
    Ok(Shards {
        plan,
        runs: runs.into_values().collect(),
        dropped,
    })
}

/// Shards read back: their plan, each planned run found (once), and what was left out.
#[derive(Debug, Clone)]
pub struct Shards {
    pub plan: Plan,
    pub runs: Vec<RunResult>,
    /// Records left out, each with where it was and why: a run the plan does not have, a
    /// second identical copy of one.
    pub dropped: Vec<String>,
}

/// Everything a finished sweep or comparison leaves in its folder (published by the caller):
/// `sweep.json`, `points.csv` and the report with its charts.
pub fn write_sweep(
    folder: &mut crate::results::output::RunFolder,
    report: &Report,
    aggregates: &std::collections::BTreeMap<(usize, String), crate::results::aggregate::Aggregate>,
) -> Result<reports::Document, String> {
    let dir = folder.out().to_owned();
    let failed = |e: std::io::Error| format!("{}: {e}", dir.display());
    // start_booking latencies per policy over the whole grid.
    let mut spectra: std::collections::BTreeMap<&str, hdrhistogram::Histogram<u64>> =
        std::collections::BTreeMap::new();
    for ((_, policy), agg) in aggregates {
        if let Some(h) = agg.histograms.get("start_booking") {
            spectra
                .entry(policy.as_str())
                .or_insert_with(crate::results::metrics::histogram)
                .add(h)
                .map_err(|e| e.to_string())?;
        }
    }
    let spectra: Vec<(String, &hdrhistogram::Histogram<u64>)> = report
        .policies
        .iter()
        .filter_map(|p| spectra.get(p.as_str()).map(|h| (p.clone(), h)))
        .collect();
    let doc = reports::sweep::document(report, &spectra);
    folder.report(&doc).map_err(failed)?;
    folder.write("points.csv", &csv(report)).map_err(failed)?;
    folder
        .write(
            "sweep.json",
            &serde_json::to_string_pretty(report).unwrap_or_default(),
        )
        .map_err(failed)?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_too_large_for_the_machine_are_refused_before_anything_is_built() {
        let text = "name = \"t\"\nstart = \"2025-11-24T09:00:00\"\nduration = \"1m\"\n";
        let scenario = Scenario::parse(text, "t.toml").unwrap();
        let plan = |params: &[&str], policies: &[&str], seeds: u64| {
            Plan::new(
                "t.toml",
                text.into(),
                &scenario,
                &params.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>(),
                policies.iter().map(|p| (*p).to_owned()).collect(),
                seeds,
                Vec::new(),
            )
        };
        assert!(
            plan(&[], &["baseline"], 1_000_000_000)
                .unwrap_err()
                .contains("--seeds")
        );
        assert!(plan(&[], &["baseline"], 0).is_err());
        let wide = plan(&["seed=1..5000", "duration=1m..5000m:1m"], &["baseline"], 1);
        assert!(wide.unwrap_err().contains("grid points"));
        let long = plan(&["seed=1..10000"], &["baseline", "full", "no-lock"], 100);
        assert!(long.unwrap_err().contains("runs, more than"));
        assert!(plan(&[], &["best"], 1).unwrap_err().contains("--policies"));
        assert!(plan(&[], &["baseline"], 3).is_ok());
    }

    #[test]
    fn params_parse_ranges_units_and_lists() {
        let p = Param::parse("journeys[0].arrivals.rate=1..4").unwrap();
        assert_eq!(p.values, ["1", "2", "3", "4"]);
        let p = Param::parse("policy.cache_ttl=0s..60s:15s").unwrap();
        assert_eq!(p.values, ["0s", "15s", "30s", "45s", "60s"]);
        let p = Param::parse("x=0.5..1.5:0.5").unwrap();
        assert_eq!(p.values, ["0.5", "1", "1.5"]);
        let p = Param::parse("policy.preset=baseline,full").unwrap();
        assert_eq!(p.values, ["baseline", "full"]);
        assert!(Param::parse("rate").is_err());
        assert!(Param::parse("rate=5..1").is_err());
        assert!(Param::parse("rate=1..x").is_err());
        assert_eq!(numeric("30s"), Some(30.0));
        assert_eq!(numeric("2.5"), Some(2.5));
    }

    #[test]
    fn shards_are_disjoint_cover_the_plan_and_keep_policies_together() {
        let plan = Plan {
            scenario: "s".into(),
            origin: "s.toml".into(),
            text: String::new(),
            params: vec![
                Param::parse("a=1..3").unwrap(),
                Param::parse("b=x,y").unwrap(),
            ],
            policies: vec!["baseline".into(), "full".into()],
            seeds: vec![7, 8, 9],
            knees: vec![],
        };
        assert_eq!(plan.points().len(), 6);
        assert_eq!(
            plan.points()[1],
            [("a".into(), "1".into()), ("b".into(), "y".into())]
        );
        let all = plan.tasks();
        assert_eq!(all.len(), 36);
        let shards: Vec<Vec<Task>> = (1..=4).map(|k| plan.shard(k, 4)).collect();
        assert_eq!(shards.iter().map(Vec::len).sum::<usize>(), all.len());
        for t in &all {
            let holding: Vec<usize> = (0..4).filter(|k| shards[*k].contains(t)).collect();
            assert_eq!(holding.len(), 1, "{t:?} in exactly one shard");
            let partner = Task {
                policy: if t.policy == "full" {
                    "baseline"
                } else {
                    "full"
                }
                .into(),
                ..t.clone()
            };
            assert!(
                shards[holding[0]].contains(&partner),
                "paired runs share a shard"
            );
        }
        let read: Plan = serde_json::from_str(&plan.to_text()).unwrap();
        assert_eq!(read, plan);
    }
}

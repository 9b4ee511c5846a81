//! One run, the same everywhere: the world runs, the checker follows its history, the
//! summary says what it means. Every command (run, gate, compare, sweep, explore, mutants)
//! goes through here.

pub mod parallel;

use crate::check as invariants;
use crate::results::live::{self, LiveSection, observable};
use crate::results::summary::{self, Mode, Summary};
use crate::scenario::Scenario;
use crate::world::live::LiveRun;
use crate::world::record::RunRecord;
use crate::world::simulated as world;

/// Runs a scenario and returns its summary (without wall time) and the record.
pub fn run(
    scenario: &Scenario,
    seed: u64,
    policy_name: &str,
) -> Result<(Summary, RunRecord), String> {
    run_with_progress(scenario, seed, policy_name, &mut |_, _| {})
}

/// [`run`], reporting simulated progress now and then.
pub fn run_with_progress(
    scenario: &Scenario,
    seed: u64,
    policy_name: &str,
    progress: world::Progress<'_>,
) -> Result<(Summary, RunRecord), String> {
    let mut spec = scenario.clone();
    spec.policy.preset = policy_name.to_owned();
    let policy = spec.policy()?;
    policy
        .check_ranges()
        .map_err(|e| format!("policy `{policy_name}`: {e}"))?;
    // A bug that panics inside one simulation fails that run, not the gate, comparison or
    // sweep it is part of.
    isolated(|| {
        let record = world::run_with_progress(scenario, seed, &policy, progress)?;
        let violations = invariants::check(scenario, &record)?;
        let summary = summary::summarize(scenario, seed, policy_name, &record, &violations);
        Ok((summary, record))
    })
}

/// [`run_with_progress`], with the wall time the run took in `sim.wall_seconds` (outside
/// the digest).
pub fn run_timed(
    scenario: &Scenario,
    seed: u64,
    policy_name: &str,
    progress: world::Progress<'_>,
) -> Result<(Summary, RunRecord), String> {
    #[allow(clippy::disallowed_methods)]
    // reason: the harness's own speed, never part of the results' digest
    let started = std::time::Instant::now();
    let (mut summary, record) = run_with_progress(scenario, seed, policy_name, progress)?;
    summary.sim.wall_seconds = Some(started.elapsed().as_secs_f64());
    Ok((summary, record))
}

/// `f`'s result, or its panic as an error.
pub fn isolated<R>(f: impl FnOnce() -> Result<R, String>) -> Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        Err(format!("the run panicked: {message}"))
    })
}

/// A live run's summary: the same checker and summary as a simulated run, then the live
/// section, the invariants it cannot observe left out (and named), the gates that read them
/// marked so, and the digest again.
pub fn summarize_live(run: &LiveRun, seed: u64) -> Result<Summary, String> {
    let violations = invariants::check(&run.scenario, &run.record)?;
    let summary = summary::summarize(&run.scenario, seed, "live", &run.record, &violations);
    Ok(finish_live(summary, live::section(run)))
}

fn finish_live(mut summary: Summary, section: LiveSection) -> Summary {
    summary.mode = Mode::Live;
    summary.policy = "live".into();
    for kind in &section.not_observable {
        summary.invariants.remove(kind);
    }
    summary
        .violations
        .retain(|v| !section.not_observable.iter().any(|k| k == v.kind.name()));
    summary.live = Some(section);
    for g in &mut summary.gates {
        if let Ok(gate) = crate::scenario::gates::Gate::parse(&g.gate)
            && !observable(&gate.metric)
        {
            g.pass = false;
            g.value = None;
            g.not_observable = true;
        }
    }
    summary.digest = crate::results::summary::digest(&summary.to_json());
    summary
}

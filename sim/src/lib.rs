//! bookingsim: the booking engine against the mock Cal.com in a seeded turmoil simulation,
//! driven by scenario files; outcomes, latencies, invariant violations and gates.
//!
//! - [`scenario`]: the file format; [`workload`]: who calls when;
//! - [`world`]: the simulation and what it records ([`record`], [`history`]);
//! - [`invariants`], [`metrics`], [`gates`], [`summary`]: what a run means.

pub mod aggregate;
pub mod baseline;
pub mod experiment;
pub mod gates;
pub mod history;
pub mod invariants;
pub mod judge;
pub mod metrics;
pub mod mutants;
pub mod output;
pub mod parallel;
pub mod record;
pub mod scenario;
pub mod stats;
pub mod summary;
pub mod validate;
pub mod workload;
pub mod world;

use serde_json::Value;

pub use scenario::Scenario;

/// Runs a scenario and returns its summary (without wall time) and the record.
pub fn run(
    scenario: &Scenario,
    seed: u64,
    policy_name: &str,
) -> Result<(Value, world::RunRecord), String> {
    run_with_progress(scenario, seed, policy_name, &mut |_, _| {})
}

/// [`run`], reporting simulated progress now and then.
pub fn run_with_progress(
    scenario: &Scenario,
    seed: u64,
    policy_name: &str,
    progress: world::Progress<'_>,
) -> Result<(Value, world::RunRecord), String> {
    let mut spec = scenario.clone();
    spec.policy.preset = policy_name.to_owned();
    let policy = spec.policy()?;
    let record = world::run_with_progress(scenario, seed, &policy, progress)?;
    let violations = invariants::check(&record, &scenario.catalog());
    let summary = summary::summarize(scenario, seed, policy_name, &record, &violations);
    Ok((summary, record))
}

//! bookingsim: the booking engine against the mock Cal.com in a seeded turmoil simulation,
//! driven by scenario files; outcomes, latencies, invariant violations and gates.
//!
//! - [`scenario`]: the file format; [`workload`]: who calls when;
//! - [`world`]: the simulation and what it records ([`record`], [`history`]);
//! - [`invariants`], [`metrics`], [`gates`], [`summary`]: what a run means.

pub mod aggregate;
pub mod baseline;
pub mod experiment;
pub mod explore;
pub mod gate;
pub mod gates;
pub mod history;
pub mod invariants;
pub mod judge;
pub mod live;
pub mod metrics;
pub mod mutants;
pub mod output;
pub mod pacer;
pub mod parallel;
pub mod record;
pub mod replay;
pub mod scenario;
pub mod stats;
pub mod summary;
pub mod truth;
pub mod validate;
pub mod workload;
pub mod world;

pub use scenario::Scenario;
pub use summary::Summary;

/// Runs a scenario and returns its summary (without wall time) and the record.
pub fn run(
    scenario: &Scenario,
    seed: u64,
    policy_name: &str,
) -> Result<(Summary, world::RunRecord), String> {
    run_with_progress(scenario, seed, policy_name, &mut |_, _| {})
}

/// [`run`], reporting simulated progress now and then.
pub fn run_with_progress(
    scenario: &Scenario,
    seed: u64,
    policy_name: &str,
    progress: world::Progress<'_>,
) -> Result<(Summary, world::RunRecord), String> {
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
) -> Result<(Summary, world::RunRecord), String> {
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

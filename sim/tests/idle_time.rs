//! Skipping idle simulated time (`sim::world::simulated::IdleTime`) never passes over work: stepped
//! tick by tick, every stretch a skip would have taken is checked to be quiet, over the
//! catalogue and generated worlds; and the skipping run reaches the same outcomes,
//! invariant verdicts and coverage.

use sim::Scenario;

fn both_ways(scenario: &Scenario, what: &str) {
    let preset = scenario.policy.preset.clone();
    let (skipped, _) =
        sim::run(scenario, scenario.seed, &preset).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut spec = scenario.clone();
    spec.policy.preset = preset.clone();
    let policy = spec.policy().unwrap();
    let stepped = sim::world::simulated::run_verifying_idle_time(scenario, scenario.seed, &policy)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let violations = sim::check::check(scenario, &stepped).unwrap();
    let stepped =
        sim::results::summary::summarize(scenario, scenario.seed, &preset, &stepped, &violations);
    assert_eq!(skipped.outcomes, stepped.outcomes, "{what}");
    assert_eq!(skipped.invariants, stepped.invariants, "{what}");
    assert_eq!(skipped.coverage, stepped.coverage, "{what}");
    assert_eq!(skipped.sim, stepped.sim, "{what}");
}

#[test]
fn idle_time_skipped_in_the_catalogue_was_idle() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    for file in sim::experiment::catalogue::scenario_files(&[dir]).unwrap() {
        let scenario = Scenario::load(&file).unwrap();
        // Three simulated hours each, tick by tick: left to the gate's baselines.
        if scenario.duration > std::time::Duration::from_secs(3600) {
            continue;
        }
        both_ways(&scenario, &file.display().to_string());
    }
}

#[test]
fn idle_time_skipped_in_generated_worlds_was_idle() {
    for seed in 1..=24 {
        let text = sim::explore::generate::generate(seed);
        let scenario = Scenario::parse(&text, &format!("world {seed}")).unwrap();
        both_ways(&scenario, &format!("explore world {seed}"));
    }
}

/// Links faster than a tick: a message is due the instant it is sent and, when its
/// destination was polled earlier in that step, waits for the next one outside the links
/// (once skipped over: explore seed 101182 went quiet for 30 s with a create on its way).
#[test]
fn idle_time_skipped_with_links_faster_than_a_tick_was_idle() {
    for seed in 1..=12 {
        let text = sim::explore::generate::generate(seed);
        let mut scenario = Scenario::parse(&text, &format!("world {seed}")).unwrap();
        scenario.network.min_latency = std::time::Duration::ZERO;
        scenario.network.max_latency = std::time::Duration::from_millis(5);
        both_ways(&scenario, &format!("explore world {seed} on 0-5 ms links"));
    }
}

/// Links slower than a tick (150-400 ms, 8 to 20 ticks of 20 ms): a message is on its way for
/// many ticks with nothing else to do, and the skip takes the driver straight to the last tick
/// before its delivery (`turmoil::Sim::next_delivery`); stepped tick by tick, no message is
/// delivered, sent or woken inside such a stretch, nor in its last step, and every outcome is
/// the same.
#[test]
fn idle_time_skipped_over_messages_on_slow_links_was_idle() {
    for seed in 1..=10 {
        let text = sim::explore::generate::generate(seed);
        let mut scenario = Scenario::parse(&text, &format!("world {seed}")).unwrap();
        scenario.network.min_latency = std::time::Duration::from_millis(150);
        scenario.network.max_latency = std::time::Duration::from_millis(400);
        both_ways(
            &scenario,
            &format!("explore world {seed} on 150-400 ms links"),
        );
    }
}

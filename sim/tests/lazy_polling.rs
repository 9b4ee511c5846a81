//! A step leaves out the hosts with nothing to do in it (`turmoil::Sim::step_lazy`: no task
//! woken, no message to take, no timer of its own due), moving their clocks on without
//! polling their tasks. The run is the same, summary and digest, as one polling every host
//! every step, over the catalogue and generated worlds (several engine workers, crashes,
//! partitions, links faster than a tick among them).

use sim::Scenario;

fn both_ways(scenario: &Scenario, what: &str) {
    let preset = scenario.policy.preset.clone();
    let (lazy, _) =
        sim::run(scenario, scenario.seed, &preset).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut spec = scenario.clone();
    spec.policy.preset = preset.clone();
    let policy = spec.policy().unwrap();
    let every = sim::world::simulated::run_polling_every_host(scenario, scenario.seed, &policy)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let violations = sim::check::check(scenario, &every).unwrap();
    let every =
        sim::results::summary::summarize(scenario, scenario.seed, &preset, &every, &violations);
    assert_eq!(lazy, every, "{what}");
}

#[test]
fn leaving_idle_hosts_out_changes_no_catalogue_run() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    for file in sim::experiment::catalogue::scenario_files(&[dir]).unwrap() {
        let scenario = Scenario::load(&file).unwrap();
        both_ways(&scenario, &file.display().to_string());
    }
}

#[test]
fn leaving_idle_hosts_out_changes_no_generated_world() {
    for seed in 1..=60 {
        let text = sim::explore::generate::generate(seed);
        let scenario = Scenario::parse(&text, &format!("world {seed}")).unwrap();
        both_ways(&scenario, &format!("explore world {seed}"));
    }
}

#[test]
fn leaving_idle_hosts_out_changes_nothing_on_links_faster_than_a_tick() {
    for seed in 1..=20 {
        let text = sim::explore::generate::generate(seed);
        let mut scenario = Scenario::parse(&text, &format!("world {seed}")).unwrap();
        scenario.network.min_latency = std::time::Duration::ZERO;
        scenario.network.max_latency = std::time::Duration::from_millis(5);
        both_ways(&scenario, &format!("explore world {seed} on 0-5 ms links"));
    }
}

//! `unavailable_free`: "nicht verfügbar" while a qualified stylist was free, judged against
//! Cal.com's ground truth at the instant of the answer. Non-zero where callers' holds hide
//! free slots (the catalogue's voice load under `full`), with the reasons adding up; zero
//! where every caller asks for a free slot nobody holds (`lone-caller`, every preset).

use std::path::Path;

use sim::Scenario;

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn holds_that_hide_free_slots_are_counted_by_reason_under_full() {
    let s = scenario("voice-journeys");
    let (summary, _) = sim::pipeline::run(&s, s.seed, "full").unwrap();
    let why = &summary.unavailable_free;
    let all = why["all"];
    assert!(all > 0, "{why:?}");
    assert!(all <= summary.told_unavailable, "{why:?}");
    let reasons: u64 = why
        .iter()
        .filter(|(k, _)| *k != "all")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(reasons, all, "{why:?}");
    // Four stylists, 18 slots, 3 000 callers: most "nicht verfügbar" are holds of others.
    assert!(
        why["local_hold"] + why["calcom_hold"] + why["passed_over_hold"] > why["stale_listing"],
        "{why:?}"
    );
    let rate = summary.unavailable_free_rate;
    assert!((rate - all as f64 / summary.told_unavailable as f64).abs() < 1e-12);
    // Baseline holds nothing and tells everyone "frei" from its cache: none.
    let (baseline, _) = sim::pipeline::run(&s, s.seed, "baseline").unwrap();
    assert_eq!(
        baseline.unavailable_free["all"], 0,
        "{:?}",
        baseline.unavailable_free
    );
}

#[test]
fn callers_asking_for_free_slots_nobody_holds_are_never_told_unavailable() {
    let s = scenario("lone-caller");
    for policy in [
        "baseline",
        "full",
        "local-reservation",
        "calcom-reservation",
    ] {
        let (summary, _) = sim::pipeline::run(&s, s.seed, policy).unwrap();
        assert_eq!(summary.unavailable_free["all"], 0, "{policy}: {summary:?}");
        assert_eq!(summary.unavailable_free_rate, 0.0, "{policy}");
    }
}

//! Generated worlds over the engine as several workers (`[engine]`) and hosts whose clocks
//! disagree (`[clocks]`): callers storm and book the same stylists while the balancer spreads
//! their requests (and Retell's retries) over 2-4 workers, one worker crashes or stalls
//! briefly, and each worker's clock, Cal.com's and Retell's are off by up to ten minutes
//! and drift. Under `full` no world may break an invariant; under `baseline` (no lock, no
//! checks) the checker must still see the double bookings the workers make together.

use serde_json::Value;
use sim::Scenario;

mod common;
use common::Draw;

const WORLD: &str = r#"[[calcom.hosts]]
id = 1
name = "Stylist 1"
working_hours = { weekdays = ["09:00-18:00"] }

[[calcom.hosts]]
id = 2
name = "Stylist 2"
working_hours = { weekdays = ["09:00-18:00"] }

[[calcom.event_types]]
id = 2000
slug = "cut"
title = "Cut"
length_minutes = 30
slot_interval_minutes = 15
hosts = [1, 2]

[[calcom.event_types]]
id = 2020
slug = "colour"
title = "Colour"
length_minutes = 45
slot_interval_minutes = 15
hosts = [1]

[catalog]

[[catalog.services]]
id = 1
name = "Cut"
staff = [1, 2]
segments = [{ name = "cut", minutes = 30, event_type_id = 2000 }]

[[catalog.services]]
id = 2
name = "Colour"
staff = [1]
segments = [{ name = "colour", minutes = 45, event_type_id = 2020 }]

[[storms]]
function = "start_booking"
rate = 8
from = "2s"
duration = "1s"
datetimes = ["2025-11-25T10:30", "2025-11-25T10:45"]
args = { service_name = "Cut", customer_name = "Burst" }

[[storms]]
function = "start_booking"
rate = 4
from = "2200ms"
duration = "1s"
datetimes = ["2025-11-25T10:30"]
args = { service_name = "Colour", customer_name = "Burst" }

[[journeys]]
arrivals = { kind = "poisson", rate = 0.5 }
duration = "40s"
service = "Cut"
slots = ["2025-11-25T11:00", "2025-11-25T11:30", "2025-11-25T12:00"]
"#;

fn skew(draw: &mut Draw) -> String {
    let offset = *draw.pick(&[0i64, 300, 5_000, 60_000, 600_000]);
    let offset = if draw.below(2) == 0 { -offset } else { offset };
    let drift = *draw.pick(&[0i64, 100, 1000]);
    format!("{{ offset_ms = {offset}, drift_ppm = {drift}.0 }}")
}

/// A world of `workers` workers with `faults` (TOML) and drawn clocks.
fn world(preset: &str, workers: u64, balancer: &str, faults: &str, clocks: &str) -> Scenario {
    let text = format!(
        "name = \"workers\"\nseed = 1\nstart = \"2025-11-24T09:00:00\"\nduration = \"1m\"\nsettle = \"6m\"\n\n\
         [policy]\npreset = \"{preset}\"\n\n[engine]\nworkers = {workers}\nbalancer = \"{balancer}\"\n\n{faults}\n{clocks}\n{WORLD}"
    );
    Scenario::parse(&text, "generated").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn violations(s: &Scenario, seed: u64, preset: &str) -> Vec<(String, u64)> {
    let summary = sim::run(s, seed, preset).unwrap().0.to_json();
    summary["invariants"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| v.as_u64().filter(|n| *n > 0).map(|n| (k.clone(), n)))
        .collect()
}

fn clocks(draw: &mut Draw, workers: u64) -> String {
    let engine: Vec<String> = (0..workers).map(|_| skew(draw)).collect();
    format!(
        "[clocks]\nengine = [{}]\ncalcom = {}\nretell = {}\n",
        engine.join(", "),
        skew(draw),
        skew(draw)
    )
}

#[test]
fn full_holds_when_one_worker_crashes_while_the_others_go_on() {
    let mut draw = Draw(0xc4a5);
    for seed in 0..10 {
        let workers = draw.range(2, 4);
        let faults = format!(
            "[[engine.faults]]\nkind = \"worker_crash\"\nworker = {}\nat = \"{}ms\"\nrestart_after = \"{}s\"\n",
            draw.below(workers),
            draw.range(1_500, 30_000),
            draw.range(1, 60)
        );
        let balancer = *draw.pick(&["round_robin", "random"]);
        let s = world("full", workers, balancer, &faults, "");
        assert_eq!(violations(&s, seed, "full"), [], "seed {seed}:\n{faults}");
    }
}

#[test]
fn full_holds_when_one_worker_stalls_within_its_lease() {
    let mut draw = Draw(0x57a11);
    for seed in 0..10 {
        let workers = draw.range(2, 4);
        // Shorter than half the lock TTL (30 s under `full`): the renewals keep the lease.
        let faults = format!(
            "[[engine.faults]]\nkind = \"worker_stall\"\nworker = {}\nat = \"{}ms\"\nduration = \"{}ms\"\n",
            draw.below(workers),
            draw.range(1_500, 30_000),
            draw.range(100, 14_000)
        );
        let balancer = *draw.pick(&["round_robin", "random"]);
        let s = world("full", workers, balancer, &faults, "");
        assert_eq!(violations(&s, seed, "full"), [], "seed {seed}:\n{faults}");
    }
}

/// A stall past Retell's timeout and the lease (a long GC pause, a starved VM) between a
/// booking's create and its save, in the catalogue's `worker-stalls-past-lease` salon with
/// the stall's start, length, the number of workers and the balancer drawn: Retell's retry
/// lands on another worker, which waits for the stylist's lock or takes it once lapsed. The
/// retry must answer with the stalled worker's booking once saved, or the stalled worker's
/// fence must undo what it made: never a ghost or an orphan.
#[test]
fn full_holds_when_one_worker_stalls_past_its_lease() {
    let file = include_str!("../../scenarios/worker-stalls-past-lease.toml");
    let mut draw = Draw(0x57a12);
    for seed in 0..12 {
        let workers = draw.range(2, 4);
        let text = file
            .replace("workers = 4", &format!("workers = {workers}"))
            .replace("worker = 3", &format!("worker = {}", workers - 1))
            .replace(
                "at = \"3s\"",
                &format!("at = \"{}ms\"", draw.range(2_000, 3_500)),
            )
            .replace(
                "duration = \"35000ms\"",
                &format!("duration = \"{}ms\"", draw.range(15_000, 90_000)),
            )
            .replace(
                "balancer = \"random\"",
                &format!("balancer = \"{}\"", draw.pick(&["round_robin", "random"])),
            );
        let s = Scenario::parse(&text, "generated").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(violations(&s, seed, "full"), [], "seed {seed}:\n{text}");
    }
}

#[test]
fn full_holds_when_the_clocks_disagree() {
    let mut draw = Draw(0xc10c);
    for seed in 0..12 {
        let workers = draw.range(1, 4);
        let clocks = clocks(&mut draw, workers);
        let s = world("full", workers, "round_robin", "", &clocks);
        assert_eq!(violations(&s, seed, "full"), [], "seed {seed}:\n{clocks}");
    }
}

/// The checker sees what the workers do together: with no lock and no checks, the storm
/// spread over several workers double-books.
#[test]
fn the_checker_sees_workers_double_book_together() {
    let s = world("baseline", 3, "round_robin", "", "");
    let found = violations(&s, 1, "baseline");
    assert!(
        found.iter().any(|(k, _)| k == "double_booking"),
        "no double booking under baseline: {found:?}"
    );
}

/// One worker and no skew is the world as it always was: the same summary byte for byte.
#[test]
fn one_worker_and_true_clocks_change_nothing() {
    let plain = world("full", 1, "round_robin", "", "");
    let text = "[clocks]\nengine = [{ offset_ms = 0 }]\n";
    let zero = world("full", 1, "random", "", text);
    let a: Value = sim::run(&plain, 3, "full").unwrap().0.to_json();
    let b: Value = sim::run(&zero, 3, "full").unwrap().0.to_json();
    assert_eq!(a["digest"], b["digest"]);
}

//! Every catalogue scenario end to end (simulation, invariants, summary), its throughput in
//! HTTP exchanges, and on stderr its simulated seconds per wall second; and explore's worlds
//! per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn scenarios(c: &mut Criterion) {
    let mut names: Vec<String> = std::fs::read_dir(bookingsim_benches::scenarios_dir())
        .expect("scenarios/")
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_owned))
        .collect();
    names.sort();
    // `cargo bench --bench scenarios -- incident` runs a subset, as criterion filters do.
    let mut g = c.benchmark_group("scenario");
    g.sample_size(10);
    for name in names {
        let s = bookingsim_benches::scenario(&name);
        let policy = s.policy.preset.clone();
        let (summary, record) = sim::run(&s, s.seed, &policy).expect("runs");
        let simulated = summary.sim.simulated_seconds;
        g.throughput(Throughput::Elements(bookingsim_benches::exchanges(&record)));
        g.bench_function(&name, |b| {
            b.iter(|| sim::run(&s, s.seed, &policy).expect("runs"))
        });
        eprintln!("{name}: {simulated:.1} simulated s per run");
    }
    g.finish();
}

/// Explore's throughput: generated worlds run and checked, 20 per iteration (one thread;
/// `bookingsim explore` runs them on every core). The target is 20 worlds a second on two.
fn explore(c: &mut Criterion) {
    let worlds: Vec<String> = (1..=20).map(sim::explore::generate::generate).collect();
    let mut g = c.benchmark_group("explore");
    g.sample_size(10);
    g.throughput(Throughput::Elements(worlds.len() as u64));
    g.bench_function("20 worlds under full", |b| {
        b.iter(|| {
            for w in &worlds {
                sim::explore::search::check(w, "bench", "full").expect("runs");
            }
        })
    });
    // The whole search as `bookingsim explore --jobs 2` runs it: each world generated from
    // its seed, parsed, run and checked, on two threads (what the ≥ 1000 worlds/s goal of
    // issue #28 counts).
    g.throughput(Throughput::Elements(40));
    g.bench_function("40 worlds generated and run on 2 threads", |b| {
        let worlds = sim::explore::around::Worlds::generated();
        b.iter(|| {
            let found = sim::explore::search::explore(&worlds, 1, 40, "full", 2, &|_, _| {});
            assert!(found.broken.is_empty());
        })
    });
    g.finish();
}

/// An hour of simulated time in which nothing is scheduled: a salon, no callers. Idle time
/// should cost next to nothing (the target is 50 ms).
fn idle_hour(c: &mut Criterion) {
    let text = format!(
        "name = \"idle-hour\"\nstart = \"2025-11-24T08:00:00\"\nduration = \"1s\"\nsettle = \"1h\"\n{}",
        bookingsim_benches::ONE_STYLIST
    );
    let s = sim::Scenario::parse(&text, "idle-hour").expect("a valid scenario");
    let mut g = c.benchmark_group("idle");
    g.sample_size(10);
    g.bench_function("an idle simulated hour", |b| {
        b.iter(|| sim::run(&s, 1, "full").expect("runs"))
    });
    g.finish();
}

criterion_group!(benches, scenarios, explore, idle_hour);
criterion_main!(benches);

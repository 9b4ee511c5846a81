//! Every catalogue scenario end to end (simulation, invariants, summary), its throughput in
//! HTTP exchanges, and on stderr its simulated seconds per wall second.

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

criterion_group!(benches, scenarios);
criterion_main!(benches);

//! The anchor: a bare turmoil + hyper ping-pong. Every harness figure is read as a ratio
//! to this one, measured in the same run on the same machine.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const EXCHANGES: usize = 1000;

fn pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("pingpong");
    g.throughput(Throughput::Elements(EXCHANGES as u64));
    g.sample_size(10);
    // As the catalogue runs: 10-ms tick, 20-60 ms links.
    g.bench_function("catalogue_links", |b| {
        b.iter(|| {
            bookingsim_benches::pingpong(
                EXCHANGES,
                Duration::from_millis(10),
                (Duration::from_millis(20), Duration::from_millis(60)),
            )
        })
    });
    // The least an exchange can cost: 1-ms tick, no latency.
    g.bench_function("bare", |b| {
        b.iter(|| {
            bookingsim_benches::pingpong(
                EXCHANGES,
                Duration::from_millis(1),
                (Duration::ZERO, Duration::ZERO),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, pingpong);
criterion_main!(benches);

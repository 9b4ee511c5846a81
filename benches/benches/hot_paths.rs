//! The hot paths: the engine's availability check on a cache hit and a miss (over real
//! loopback TCP to the mock), the mock's slots for a week of a busy calendar, and what the
//! harness does with a finished run: history, histograms, digest.

use std::sync::Arc;

use booking_engine::booking::SlotRequest;
use booking_engine::catalog::Catalog;
use booking_engine::{Engine, EngineSettings, Policy};
use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use mock_calcom::MockConfig;
use mock_calcom::model::{BookingRequest, BookingSource, SlotQuery, World};
use simkit::transport::{Listener, Network};
use simkit::{Distribution, ManualClock, SeedStreams};

/// Monday 2025-11-24 08:00 UTC.
fn monday() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-11-24T08:00:00Z")
        .expect("valid")
        .to_utc()
}

fn engine_check(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (engine, uncached) = rt.block_on(async {
        let clock = Arc::new(ManualClock::new(monday()));
        // No configured latency anywhere: what is measured is the code's own cost.
        let mut config = MockConfig::demo();
        let l = &mut config.latency;
        l.default = Distribution::ZERO;
        for endpoint in [
            &mut l.slots,
            &mut l.create_booking,
            &mut l.get_booking,
            &mut l.reserve_slot,
            &mut l.reservation,
        ] {
            *endpoint = None;
        }
        config.consistency.slots_lag = Distribution::ZERO;
        // Thousands of checks a second: the 120/min throttle would measure retry backoff.
        config.api.rate_limit.enabled = false;
        let mock =
            mock_calcom::MockCalcom::new(config, clock.clone(), SeedStreams::new(1), Network::Real);
        let listener = Listener::bind(Network::Real, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(mock.serve(listener, std::future::pending()));
        let engine = |policy: Policy| {
            Engine::new(
                EngineSettings {
                    catalog: Catalog::demo(),
                    policy,
                    calcom_url: url.clone(),
                    calcom_api_key: "cal_live_bench".into(),
                    webhook_secret: None,
                    retell_api_key: None,
                },
                clock.clone(),
                SeedStreams::new(1),
                Network::Real,
            )
        };
        let mut cached = Policy::baseline();
        cached.infra.redis = Distribution::ZERO;
        cached.infra.database = Distribution::ZERO;
        let no_cache = Policy {
            cache_ttl: None,
            ..cached.clone()
        };
        (engine(cached), engine(no_cache))
    });
    let req = SlotRequest {
        call_id: "bench".into(),
        service: Some("Herrenhaarschnitt".into()),
        date: Some("2025-11-25".into()),
        time: Some("12:00".into()),
        ..SlotRequest::default()
    };
    rt.block_on(engine.check_availability(&req));
    // A miss must really miss: its answer comes from the mock.
    assert!(matches!(
        rt.block_on(uncached.check_availability(&req)),
        booking_engine::booking::CheckOutcome::Available { .. }
    ));
    let mut g = c.benchmark_group("engine_check_availability");
    g.bench_function("cache_hit", |b| {
        b.iter(|| rt.block_on(engine.check_availability(&req)))
    });
    g.bench_function("cache_miss_loopback_tcp", |b| {
        b.iter(|| rt.block_on(uncached.check_availability(&req)))
    });
    g.finish();
}

/// Four stylists, every other half hour booked for a week.
fn busy_week() -> World {
    let mut config = MockConfig::demo();
    config.hosts.truncate(1);
    for (i, id) in [2u64, 3, 4].into_iter().enumerate() {
        let mut h = config.hosts[0].clone();
        h.id = id;
        h.name = format!("Stylist {i}");
        config.hosts.push(h);
    }
    config.event_types[0].hosts = vec![1, 2, 3, 4];
    let mut n = 0;
    let mut w = World::new(&config, monday(), || {
        n += 1;
        format!("uid{n}")
    });
    let et = config.event_types[0].id;
    for day in 0..5 {
        for slot in (0..18).step_by(2) {
            for _host in 0..4 {
                let start = monday() + TimeDelta::days(day) + TimeDelta::minutes(60 + 30 * slot);
                let req = BookingRequest::simple(et, start, "Kundin", BookingSource::Api);
                if let Ok(admitted) = w.admit_booking(&req, monday(), None) {
                    let uid = format!("b{day}-{slot}-{}", admitted.host_id);
                    let _ = w.commit_booking(req, admitted, uid, monday());
                }
            }
        }
    }
    w
}

fn mock_slots(c: &mut Criterion) {
    let w = busy_week();
    assert!(w.bookings().count() > 100, "a busy week");
    let et = w.event_types().next().expect("event type").id;
    let q = SlotQuery::new(et, monday(), monday() + TimeDelta::days(7));
    c.bench_function("mock_slots_busy_week", |b| {
        b.iter(|| w.available_slots(&q, monday(), monday()).expect("slots"))
    });
}

fn after_a_run(c: &mut Criterion) {
    let s = bookingsim_benches::scenario("voice-journeys");
    let (summary, record) = sim::run(&s, s.seed, "baseline").expect("runs");
    let summary = summary.to_json();
    let samples = sim::results::metrics::samples(&record, &s);
    let mut g = c.benchmark_group("voice_journeys_results");
    g.sample_size(20);
    g.bench_function("history_jsonl", |b| {
        b.iter(|| sim::history::write(&s, &record, &mut std::io::sink()).expect("written"))
    });
    g.bench_function("latency_samples", |b| {
        b.iter(|| sim::results::metrics::samples(&record, &s))
    });
    g.bench_function("histograms", |b| {
        b.iter(|| sim::results::metrics::histograms(&samples))
    });
    g.bench_function("digest", |b| {
        b.iter(|| sim::results::summary::digest(&summary))
    });
    g.finish();
}

/// `validate` of a scenario of N scripted calls (`Scenario::parse`: the parse and every
/// check), 10 000 and 100 000 (19.6 MB; docs/performance.md: at most 2 s, linear).
fn validate_calls(c: &mut Criterion) {
    let call = |i: usize| {
        format!(
            "[[calls]]\nid = \"c{i}\"\n[[calls.steps]]\nat = \"{}s\"\nfunction = \"check_availability\"\nargs = {{ datum = \"2025-11-25\", uhrzeit = \"10:00\", dienstleistung = \"Herrenhaarschnitt\", name = \"Ines Anders\" }}\n",
            i % 500
        )
    };
    let mut g = c.benchmark_group("validate_calls");
    g.sample_size(10);
    for n in [10_000, 100_000] {
        let text = format!(
            "name = \"many-calls\"\nseed = 1\nstart = \"2025-11-24T07:00:00\"\nduration = \"10m\"\n\n[policy]\npreset = \"full\"\n{}",
            (0..n).map(call).collect::<String>()
        );
        g.bench_function(format!("{n}"), |b| {
            b.iter(|| sim::Scenario::parse(&text, "many-calls.toml").expect("valid"))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    engine_check,
    mock_slots,
    after_a_run,
    validate_calls
);
criterion_main!(benches);

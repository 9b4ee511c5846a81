//! Generated worlds over the lock-lease class (`scenarios/lock-lapses-slow-redis.toml` is
//! one example): a booking whose stylists' locks can lapse while it works, because Redis is
//! slow, or `lock_ttl` is short against `lock_wait`. Under `full` no world may double-book;
//! a policy `validate` refuses must name `lock_ttl`; and the checker must still fire on the
//! renewal as first written (`lock_fencing = false`), or these tests prove nothing.

use serde_json::Value;
use sim::Scenario;

mod common;
use common::{Draw, WORLD};

/// The world of `lock-lapses-slow-redis` (a colour any of three stylists can do, a haircut
/// only stylist 1 does, Cal.com slow to create), with a drawn Redis, TTL, wait and timing.
struct Case {
    redis_ms: (u64, u64),
    ttl_s: u64,
    wait_s: u64,
    cut_at_s: u64,
    fencing: bool,
}

fn scenario(c: &Case) -> Result<Scenario, String> {
    let text = format!(
        "name = \"lease\"\nseed = 1\nstart = \"2025-11-24T09:00:00\"\nduration = \"2m\"\nsettle = \"5m\"\n\n\
         [policy]\npreset = \"full\"\nlock_ttl = \"{}s\"\nlock_wait = \"{}s\"\nlock_fencing = {}\n\n\
         [policy.infra]\nredis = {{ min = \"{}ms\", max = \"{}ms\" }}\n\n\
         [calcom.latency]\ncreate_booking = {{ min = \"15s\", max = \"18s\" }}\n\n\
         [retell]\ntimeout = \"300s\"\nretries = 0\n\n{WORLD}\
         [[calls]]\nid = \"call_colour\"\nstart = \"0s\"\n[[calls.steps]]\nat = \"0s\"\nfunction = \"start_booking\"\n\
         args = {{ datetime = \"2025-11-25T10:00\", service_name = \"Färben\", customer_name = \"Erste\" }}\n\n\
         [[calls]]\nid = \"call_cut\"\nstart = \"{}s\"\n[[calls.steps]]\nat = \"0s\"\nfunction = \"start_booking\"\n\
         args = {{ datetime = \"2025-11-25T10:15\", service_name = \"Herrenhaarschnitt\", customer_name = \"Zweite\" }}\n",
        c.ttl_s, c.wait_s, c.fencing, c.redis_ms.0, c.redis_ms.1, c.cut_at_s
    );
    Scenario::parse(&text, "generated").map_err(|e| e.to_string())
}

/// The run's summary, or `None` when `validate` refuses the policy (it must say why, naming
/// `lock_ttl`).
fn run(c: &Case, seed: u64) -> Option<Value> {
    match scenario(c) {
        Ok(s) => Some(sim::run(&s, seed, "full").unwrap().0.to_json()),
        Err(text) => {
            assert!(
                text.contains("lock_ttl")
                    && (text.contains("lock_wait") || text.contains("infra.redis")),
                "refused without naming both fields: {text}"
            );
            None
        }
    }
}

fn double_bookings(summary: &Value) -> u64 {
    summary["invariants"]["double_booking"].as_u64().unwrap()
}

#[test]
fn full_never_double_books_while_a_lock_can_lapse() {
    let mut draw = Draw(0x1ea5e);
    let (mut ran, mut refused) = (0, 0);
    for seed in 0..16 {
        let lo = draw.range(0, 12_000);
        let case = Case {
            redis_ms: (lo, lo + draw.range(0, 3_000)),
            ttl_s: draw.range(2, 40),
            wait_s: draw.range(0, 20),
            cut_at_s: draw.range(5, 60),
            fencing: true,
        };
        match run(&case, seed) {
            Some(summary) => {
                ran += 1;
                assert_eq!(
                    double_bookings(&summary),
                    0,
                    "redis {:?} ms, ttl {} s, wait {} s, cut at {} s, seed {seed}: {}",
                    case.redis_ms,
                    case.ttl_s,
                    case.wait_s,
                    case.cut_at_s,
                    summary["invariants"]
                );
            }
            None => refused += 1,
        }
    }
    assert!(
        ran >= 4 && refused >= 1,
        "ran {ran}, refused {refused}: the draws miss a side"
    );
}

#[test]
fn the_checker_catches_the_renewal_that_ignores_a_lost_lock() {
    let mut draw = Draw(0xb40c);
    let mut caught = 0;
    for seed in 0..6 {
        let case = Case {
            redis_ms: (10_000, 12_000),
            ttl_s: 30,
            wait_s: 10,
            cut_at_s: draw.range(30, 34),
            fencing: false,
        };
        let summary = run(&case, seed).expect("a valid policy");
        caught += double_bookings(&summary);
        let fenced = run(
            &Case {
                fencing: true,
                ..case
            },
            seed,
        )
        .unwrap();
        assert_eq!(double_bookings(&fenced), 0, "{}", fenced["invariants"]);
    }
    assert!(
        caught > 0,
        "lock_fencing = false never double-booked: the checker cannot fail"
    );
}

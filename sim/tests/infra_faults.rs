//! Generated worlds over Redis and the database misbehaving (`[[faults]]` of kind `redis`
//! and `database`, see `engine/src/infra.rs`): for every fault kind, many seeded worlds in
//! which bookings compete for one stylist while the fault is on, under `full`: no invariant
//! may break. And the checker must still fire where a layer is off (`lock_fencing = false`
//! under a Redis pause or a slow Redis; `lock_outlives_create = false` under a failover, a
//! restart, or an outage longer than the lock's TTL while a create is in flight), or these
//! tests prove nothing.

use serde_json::Value;
use sim::Scenario;

mod common;
use common::{Draw, WORLD};

/// Three stylists; a colour any of them can do, haircuts only stylist 1 does: bookings that
/// compete for stylist 1's lock.
const REDIS_MODES: [&str; 6] = ["slow", "refuse", "timeout", "pause", "restart", "failover"];
const DATABASE_MODES: [&str; 4] = ["slow", "refuse", "timeout", "pause"];

/// One fault of `part` in `mode`, and the calls around it, drawn.
struct Case {
    part: &'static str,
    mode: &'static str,
    fault: String,
    calls: String,
    create_s: (u64, u64),
    fencing: bool,
    /// `[policy.infra]` lines, if any.
    infra: String,
}

impl Case {
    fn draw(draw: &mut Draw, part: &'static str, mode: &'static str) -> Self {
        let at = draw.range(0, 30);
        let duration_ms = draw.range(500, 60_000);
        let mut fault = format!(
            "[[faults]]\nkind = \"{part}\"\nmode = \"{mode}\"\nat = \"{at}s\"\nduration = \"{duration_ms}ms\"\n"
        );
        match mode {
            "slow" | "timeout" => {
                fault.push_str(&format!("latency = \"{}ms\"\n", draw.range(50, 15_000)));
            }
            "failover" => {
                fault.push_str(&format!("lost_writes = \"{}ms\"\n", draw.range(50, 20_000)));
            }
            _ => {}
        }
        // A colour at 10:00 (any stylist, the first free: stylist 1), haircuts with stylist 1
        // at 10:15 and 10:30 asked while it books, a check then a booking at 10:00.
        let step = |id: &str, start: u64, when: &str, service: &str| {
            format!(
                "[[calls]]\nid = \"{id}\"\nstart = \"{start}s\"\n[[calls.steps]]\nat = \"0s\"\nfunction = \"start_booking\"\n\
                 args = {{ datetime = \"2025-11-25T{when}\", service_name = \"{service}\", customer_name = \"{id}\" }}\n\n"
            )
        };
        let mut calls = step("call_colour", 0, "10:00", "Färben");
        calls.push_str(&step(
            "call_cut",
            draw.range(1, 60),
            "10:15",
            "Herrenhaarschnitt",
        ));
        calls.push_str(&step(
            "call_cut2",
            draw.range(1, 90),
            "10:30",
            "Herrenhaarschnitt",
        ));
        calls.push_str(&format!(
            "[[calls]]\nid = \"call_check\"\nstart = \"{}s\"\n[[calls.steps]]\nat = \"0s\"\nfunction = \"check_availability\"\n\
             args = {{ datum = \"2025-11-25\", uhrzeit = \"10:00\", dienstleistung = \"Herrenhaarschnitt\" }}\n\
             [[calls.steps]]\nat = \"{}s\"\nfunction = \"start_booking\"\n\
             args = {{ datetime = \"2025-11-25T10:00\", service_name = \"Herrenhaarschnitt\", customer_name = \"Vierte\" }}\n\n",
            draw.range(0, 40),
            draw.range(5, 30)
        ));
        let lo = draw.range(1, 15);
        Case {
            part,
            mode,
            fault,
            calls,
            create_s: (lo, lo + draw.range(0, 4)),
            fencing: true,
            infra: String::new(),
        }
    }

    fn scenario(&self) -> Scenario {
        let text = self.scenario_text();
        Scenario::parse(&text, "generated").unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn scenario_text(&self) -> String {
        format!(
            "name = \"infra\"\nseed = 1\nstart = \"2025-11-24T09:00:00\"\nduration = \"2m\"\nsettle = \"6m\"\n\n\
             [policy]\npreset = \"full\"\nlock_fencing = {}\n\n[policy.infra]\n{}\n\
             [calcom.latency]\ncreate_booking = {{ min = \"{}s\", max = \"{}s\" }}\n\n\
             [retell]\ntimeout = \"300s\"\nretries = 0\n\n{WORLD}{}\n{}",
            self.fencing, self.infra, self.create_s.0, self.create_s.1, self.calls, self.fault
        )
    }

    fn run(&self, seed: u64) -> Value {
        sim::run(&self.scenario(), seed, "full")
            .unwrap()
            .0
            .to_json()
    }
}

/// The invariants a run broke (name: count).
fn broken(summary: &Value) -> Vec<(String, u64)> {
    summary["invariants"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| v.as_u64().filter(|&n| n > 0).map(|n| (k.clone(), n)))
        .collect()
}

fn outcome(summary: &Value, name: &str) -> u64 {
    summary["outcomes"][name].as_u64().unwrap_or(0)
}

/// `full` holds every invariant through `runs` worlds of each mode of `part`; returns, per
/// mode, how many calls ended in an error (the technical refusals the fault caused).
fn full_holds(part: &'static str, modes: &[&'static str], runs: u64, seed: u64) -> Vec<u64> {
    let mut draw = Draw(seed);
    modes
        .iter()
        .map(|&mode| {
            let mut errors = 0;
            for seed in 0..runs {
                let case = Case::draw(&mut draw, part, mode);
                let summary = case.run(seed);
                assert!(
                    broken(&summary).is_empty(),
                    "{} {}, seed {seed}: {:?}\n{}",
                    case.part,
                    case.mode,
                    broken(&summary),
                    case.fault
                );
                errors += outcome(&summary, "error");
            }
            errors
        })
        .collect()
}

#[test]
fn full_holds_through_every_redis_fault() {
    let errors = full_holds("redis", &REDIS_MODES, 12, 0x4ed15);
    // A Redis that refuses, times out, restarts or fails over turns bookings away (a
    // technical refusal, never a blind booking): some world of each meets it.
    for (mode, e) in REDIS_MODES.iter().zip(&errors) {
        if matches!(*mode, "refuse" | "timeout" | "restart" | "failover") {
            assert!(*e > 0, "{mode}: no call ever met the outage: {errors:?}");
        }
    }
}

#[test]
fn full_holds_through_every_database_fault() {
    let errors = full_holds("database", &DATABASE_MODES, 12, 0xdb);
    for (mode, e) in DATABASE_MODES.iter().zip(&errors) {
        if matches!(*mode, "refuse" | "timeout") {
            assert!(*e > 0, "{mode}: no call ever met the outage: {errors:?}");
        }
    }
}

/// A booking's first lock lapses while it still takes the others, because Redis is slow
/// for a while (each round trip 10-12 s) or pauses between two of its round trips for
/// longer than the lock's TTL (30 s). Without fencing the booking goes on to Cal.com's
/// create while the next booking for the stylist has taken the lapsed lock (double booking);
/// with it, the booking stops at its fence.
#[test]
fn the_checker_catches_a_booking_that_goes_on_after_its_lock_lapsed() {
    let mut draw = Draw(0x9a05e);
    let mut caught = [0, 0];
    for seed in 0..12 {
        let mut case = Case::draw(&mut draw, "redis", "pause");
        let slow = seed % 2 == 0;
        if slow {
            case.fault = format!(
                "[[faults]]\nkind = \"redis\"\nmode = \"slow\"\nat = \"0s\"\nduration = \"{}s\"\nlatency = \"{}ms\"\n",
                draw.range(60, 120),
                draw.range(10_000, 12_000)
            );
            // The haircut asks as the colour's first lock (taken at 11 s) lapses (41 s).
            let cut = case.calls.find("id = \"call_cut\"\nstart = \"").unwrap() + 26;
            let end = cut + case.calls[cut..].find('s').unwrap();
            let at = draw.range(30, 33).to_string();
            case.calls.replace_range(cut..end, &at);
        } else {
            // Round trips of 2 s: the colour's first lock lands at 2 s, the second is sent
            // into the pause.
            case.infra = "redis = { fixed = \"2s\" }\n".into();
            case.fault = format!(
                "[[faults]]\nkind = \"redis\"\nmode = \"pause\"\nat = \"{}ms\"\nduration = \"{}s\"\n",
                draw.range(2_300, 3_700),
                draw.range(31, 45)
            );
        }
        case.create_s = (15, 18);
        case.fencing = false;
        let unfenced = case.run(seed);
        caught[usize::from(slow)] += broken(&unfenced)
            .iter()
            .filter(|(k, _)| k == "double_booking")
            .count();
        case.fencing = true;
        let fenced = case.run(seed);
        assert!(
            broken(&fenced).is_empty(),
            "{:?}\n{}",
            broken(&fenced),
            case.fault
        );
    }
    assert!(
        caught.iter().all(|&c| c > 0),
        "fencing off never double-booked (pause, slow): {caught:?}: the checker cannot fail"
    );
}

#[test]
fn a_bad_fault_is_refused_naming_its_field() {
    let base = Case::draw(&mut Draw(1), "redis", "slow");
    let refused = |fault: &str| {
        let text = format!(
            "name = \"x\"\nseed = 1\nstart = \"2025-11-24T09:00:00\"\nduration = \"2m\"\n\n{WORLD}{}\n{fault}",
            base.calls
        );
        Scenario::parse(&text, "x.toml")
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    // Each mode's missing or foreign field, named in the error.
    for (fault, names) in [
        (
            "kind = \"database\"\nmode = \"failover\"\nduration = \"1s\"",
            "faults[0].mode",
        ),
        (
            "kind = \"redis\"\nmode = \"slow\"\nduration = \"1s\"",
            "faults[0].latency",
        ),
        (
            "kind = \"redis\"\nmode = \"refuse\"\nduration = \"1s\"\nlatency = \"1s\"",
            "faults[0].latency",
        ),
        (
            "kind = \"redis\"\nmode = \"failover\"\nduration = \"1s\"",
            "faults[0].lost_writes",
        ),
        (
            "kind = \"redis\"\nmode = \"pause\"\nduration = \"2h\"",
            "faults[0].duration",
        ),
        (
            "kind = \"redis\"\nmode = \"pause\"\nduration = \"1s\"\nspeed = 2",
            "speed",
        ),
    ] {
        let e = refused(&format!("[[faults]]\nat = \"1s\"\n{fault}\n"));
        assert!(e.contains(names), "{fault}: {e}");
    }
}

/// Redis forgets a lock whose create is already in flight (a failover to a replica that
/// missed it, a restart without persistence: `scenarios/redis-failover-forgets-lock.toml`
/// is one example), and the next booking for the stylist asks a few seconds later. Fencing
/// cannot help (the create was sent under a lock still held); under `full` the lock-delay
/// after the loss keeps the next booking out until the create landed. Without it
/// (its mutant is killed in the catalogue, see below).
#[test]
fn a_lock_forgotten_under_a_create_in_flight_lets_nobody_through() {
    let mut draw = Draw(0xfa11);
    for seed in 0..16 {
        let mut case = Case::draw(&mut draw, "redis", "failover");
        let restart = seed % 2 == 1;
        case.fault = format!(
            "[[faults]]\nkind = \"redis\"\nmode = \"{}\"\nat = \"{}ms\"\nduration = \"{}ms\"\n{}",
            if restart { "restart" } else { "failover" },
            draw.range(200, 3_000),
            draw.range(100, 2_000),
            if restart {
                String::new()
            } else {
                format!("lost_writes = \"{}ms\"\n", draw.range(3_500, 10_000))
            }
        );
        case.create_s = (15, 18);
        let cut = case.calls.find("id = \"call_cut\"\nstart = \"").unwrap() + 26;
        let end = cut + case.calls[cut..].find('s').unwrap();
        let at = draw.range(3, 12).to_string();
        case.calls.replace_range(cut..end, &at);
        let full = case.run(seed);
        assert!(
            broken(&full).is_empty(),
            "seed {seed}: {:?}\n{}",
            broken(&full),
            case.fault
        );
        // With `lock_outlives_create` off these worlds no longer double-book since the fence
        // before the save (the workers' merge) undoes a booking whose lease Redis forgot: the
        // layer's kill is `redis-failover-forgets-lock`'s `lock_timeout` gate in the catalogue.
    }
}

/// Redis is down (refusing, timing out, paused) for longer than the lock's TTL while a
/// create is in flight that Cal.com's 5xx and the client's retries stretch past the TTL
/// too: the renewals cannot land, the lock lapses under the create, and the next booking
/// for the stylist, asking as Redis comes back, takes it and creates beside it. Under
/// `full` the fence leases the create's whole flight (`lock_outlives_create`); without it
/// the checker must see the double booking.
#[test]
fn a_lock_cannot_lapse_under_a_create_in_flight_while_redis_is_down() {
    let mut draw = Draw(0x7711);
    let mut caught = 0;
    for seed in 0..30 {
        let mut case = Case::draw(&mut draw, "redis", "refuse");
        let at = draw.range(1_000, 5_000);
        let duration = draw.range(31_000, 70_000);
        let mode = ["refuse", "timeout", "pause"][usize::try_from(seed % 3).unwrap()];
        case.fault = format!(
            "[[faults]]\nkind = \"redis\"\nmode = \"{mode}\"\nat = \"{at}ms\"\nduration = \"{duration}ms\"\n{}\n\
             [[calcom.faults]]\nendpoint = \"create_booking\"\nprobability = 0.5\nkind = \"status\"\nstatus = 500\n",
            if mode == "timeout" {
                "latency = \"1s\""
            } else {
                ""
            }
        );
        case.create_s = (20, 29);
        let cut = case.calls.find("id = \"call_cut\"\nstart = \"").unwrap() + 26;
        let end = cut + case.calls[cut..].find('s').unwrap();
        let back = ((at + duration) / 1000 + draw.range(0, 8)).to_string();
        case.calls.replace_range(cut..end, &back);
        let full = case.run(seed);
        assert!(
            broken(&full).is_empty(),
            "seed {seed}: {:?}\n{}",
            broken(&full),
            case.fault
        );
        let text = case.scenario_text().replace(
            "lock_fencing = true",
            "lock_fencing = true\nlock_outlives_create = false",
        );
        let unleased = Scenario::parse(&text, "generated").unwrap();
        let summary = sim::run(&unleased, seed, "full").unwrap().0.to_json();
        caught += broken(&summary)
            .iter()
            .filter(|(k, _)| k == "double_booking")
            .count();
    }
    assert!(
        caught > 0,
        "lock_outlives_create off never double-booked: the checker cannot fail"
    );
}

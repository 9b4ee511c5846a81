//! Properties over generated salons: any number of stylists (1-4), services (1-4) with random
//! staff subsets (equal, overlapping, nested, disjoint; the order is Cal.com's pick order),
//! simple and compound, and bursts of concurrent bookings at overlapping times.
//!
//! - `full` never double-books, whatever the staff topology and interleaving;
//! - the check can fail: `no-lock` on the same worlds double-books;
//! - a caller nobody competes with is booked under every preset.
//!
//! proptest generates the worlds from a fixed seed (the suite is deterministic) and shrinks
//! a failing one to a small salon; the scenario text it prints replays with `bookingsim run`.

use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::Value;
use sim::Scenario;

/// A service: its staff in Cal.com's pick order and its segments (minutes, staffed?).
#[derive(Debug, Clone)]
struct ServiceSpec {
    staff: Vec<u64>,
    segments: Vec<(u32, bool)>,
}

/// Concurrent `start_booking` calls for one service and start, beginning `from_ms` in.
#[derive(Debug, Clone)]
struct Burst {
    service: usize,
    start: usize,
    from_ms: u64,
    calls: u32,
}

#[derive(Debug, Clone)]
struct Salon {
    stylists: u64,
    services: Vec<ServiceSpec>,
    bursts: Vec<Burst>,
}

/// Starts the bursts ask for: 15 minutes apart, so segments of 30-45 minutes overlap.
const STARTS: [&str; 4] = ["10:00", "10:15", "10:30", "10:45"];

fn service(stylists: u64) -> impl Strategy<Value = ServiceSpec> {
    let staff = Just((1..=stylists).collect::<Vec<u64>>())
        .prop_shuffle()
        .prop_flat_map(move |order| (1..=order.len()).prop_map(move |n| order[..n].to_vec()));
    let minutes = prop_oneof![Just(30u32), Just(45)];
    let simple = minutes.clone().prop_map(|m| vec![(m, true)]);
    let compound = (
        minutes.clone(),
        prop_oneof![Just(0u32), Just(15), Just(20)],
        minutes,
    )
        .prop_map(|(a, gap, b)| {
            let mut segments = vec![(a, true)];
            if gap > 0 {
                segments.push((gap, false));
            }
            segments.push((b, true));
            segments
        });
    (staff, prop_oneof![3 => simple, 2 => compound])
        .prop_map(|(staff, segments)| ServiceSpec { staff, segments })
}

fn salon() -> impl Strategy<Value = Salon> {
    (1u64..=4)
        .prop_flat_map(|stylists| {
            (
                Just(stylists),
                prop::collection::vec(service(stylists), 1..=4),
            )
        })
        .prop_flat_map(|(stylists, services)| {
            let n = services.len();
            let burst = (0..n, 0..STARTS.len(), 0u64..3000, 1u32..=3).prop_map(
                |(service, start, from_ms, calls)| Burst {
                    service,
                    start,
                    from_ms,
                    calls,
                },
            );
            (
                Just(stylists),
                Just(services),
                prop::collection::vec(burst, 1..=6),
            )
        })
        .prop_map(|(stylists, services, bursts)| Salon {
            stylists,
            services,
            bursts,
        })
}

impl Salon {
    /// The salon and its Cal.com world as a scenario file; `calls` are its workload.
    fn world(&self, name: &str, preset: &str, calls: &str) -> String {
        let mut s = format!(
            "name = \"{name}\"\nstart = \"2025-11-24T09:00:00\"\nduration = \"1m\"\nsettle = \"2m\"\n\n[policy]\npreset = \"{preset}\"\n\n"
        );
        for id in 1..=self.stylists {
            let _ = writeln!(
                s,
                "[[calcom.hosts]]\nid = {id}\nname = \"Stylist {id}\"\nworking_hours = {{ weekdays = [\"09:00-18:00\"] }}\n"
            );
        }
        let mut catalog = String::from("[catalog]\n\n");
        for (i, svc) in self.services.iter().enumerate() {
            let staff = format!("{:?}", svc.staff);
            let mut segments = Vec::new();
            for (j, (minutes, staffed)) in svc.segments.iter().enumerate() {
                if *staffed {
                    let id = 2000 + 10 * i + j;
                    let _ = writeln!(
                        s,
                        "[[calcom.event_types]]\nid = {id}\nslug = \"s{i}-{j}\"\ntitle = \"S{i} {j}\"\nlength_minutes = {minutes}\nslot_interval_minutes = 5\nhosts = {staff}\n"
                    );
                    segments.push(format!(
                        "{{ name = \"seg{j}\", minutes = {minutes}, event_type_id = {id} }}"
                    ));
                } else {
                    segments.push(format!("{{ name = \"gap{j}\", minutes = {minutes} }}"));
                }
            }
            let _ = writeln!(
                catalog,
                "[[catalog.services]]\nid = {}\nname = \"Service {i}\"\nsegments = [{}]\nstaff = {staff}\n",
                i + 1,
                segments.join(", ")
            );
        }
        s + &catalog + calls
    }

    /// The bursts: `calls` start_booking calls each, 50 ms apart.
    fn bursts(&self) -> String {
        let mut s = String::new();
        for b in &self.bursts {
            let _ = writeln!(
                s,
                "[[storms]]\nfunction = \"start_booking\"\nrate = 20\nfrom = \"{}ms\"\nduration = \"{}ms\"\ndatetimes = [\"2025-11-25T{}\"]\nargs = {{ service_name = \"Service {}\", customer_name = \"Burst\" }}\n",
                1000 + b.from_ms,
                50 * b.calls,
                STARTS[b.start],
                b.service
            );
        }
        s
    }

    /// One voice caller per service, each alone: a check, 21 s of conversation, a booking,
    /// at a time and day nobody else asks for.
    fn lone_callers(&self) -> String {
        let mut s = String::new();
        for i in 0..self.services.len() {
            let day = 25 + i;
            let _ = writeln!(
                s,
                "[[calls]]\nid = \"call_{i}\"\nstart = \"{}s\"\n\n[[calls.steps]]\nat = \"17s\"\nfunction = \"check_availability\"\nargs = {{ datum = \"2025-11-{day}\", uhrzeit = \"11:00\", dienstleistung = \"Service {i}\" }}\n\n[[calls.steps]]\nat = \"38s\"\nfunction = \"start_booking\"\nargs = {{ datetime = \"2025-11-{day}T11:00\", service_name = \"Service {i}\", customer_name = \"Kundin {i}\" }}\n",
                60 * i
            );
        }
        s
    }
}

fn run(text: &str, preset: &str) -> Result<Value, String> {
    let scenario = Scenario::parse(text, "generated").map_err(|e| e.to_string())?;
    sim::run(&scenario, 1, preset).map(|(summary, _)| summary.to_json())
}

fn count(summary: &Value, path: &str) -> u64 {
    path.split('.')
        .fold(summary, |v, k| &v[k])
        .as_u64()
        .unwrap_or(0)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(2025),
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn full_never_double_books_whatever_the_staff_topology() {
    runner(40)
        .run(&salon(), |salon| {
            let text = salon.world("topology", "full", &salon.bursts());
            let summary = run(&text, "full").map_err(TestCaseError::fail)?;
            for kind in [
                "double_booking",
                "partial_compound",
                "orphan_calcom",
                "orphan_local",
                "ghost_booking",
                "lost_booking",
            ] {
                prop_assert_eq!(
                    count(&summary, &format!("invariants.{kind}")),
                    0,
                    "{} under full:\n{}\n{:#}",
                    kind,
                    text,
                    summary["violations"]
                );
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_same_worlds_without_a_lock_double_book() {
    let mut runner = runner(40);
    let (mut worlds, mut caught) = (0, 0);
    for _ in 0..40 {
        let salon = salon().new_tree(&mut runner).unwrap().current();
        let text = salon.world("topology", "no-lock", &salon.bursts());
        let summary = run(&text, "no-lock").unwrap();
        worlds += 1;
        caught += u64::from(count(&summary, "invariants.double_booking") > 0);
    }
    eprintln!("no-lock double-booked in {caught} of {worlds} generated worlds");
    assert!(
        caught >= 5,
        "no-lock double-booked in only {caught} of {worlds} generated worlds: the property cannot fail"
    );
}

#[test]
fn a_caller_nobody_competes_with_is_booked_under_every_preset() {
    runner(12)
        .run(&salon(), |salon| {
            for (preset, _) in booking_engine::policy::PRESETS {
                let text = salon.world("lone", preset, &salon.lone_callers());
                let summary = run(&text, preset).map_err(TestCaseError::fail)?;
                prop_assert_eq!(
                    count(&summary, "outcomes.booked"),
                    salon.services.len() as u64,
                    "{} refused a lone caller:\n{}\n{:#}",
                    preset,
                    text,
                    summary["outcome_errors"]
                );
            }
            Ok(())
        })
        .unwrap();
}

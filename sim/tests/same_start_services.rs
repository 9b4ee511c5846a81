//! A caller who books one service and then another at the same start (for two people, with
//! two stylists): the second is a booking of its own, not Retell retrying the first. The
//! engine's retry guard once keyed on call and start alone and answered the second
//! "gebucht" with the first's appointment, no booking of the second service anywhere.
//! Generated over starts, order and seeds under `full`: each service booked in Cal.com.

mod common;

use common::Draw;
use sim::Scenario;

const CASES: u64 = 16;

fn world(first: &str, second: &str, time: &str) -> String {
    let step = |at: u32, service: &str| {
        format!(
            "[[calls.steps]]\nat = \"{at}s\"\nfunction = \"start_booking\"\nargs = {{ datetime = \"2025-11-25T{time}\", service_name = \"{service}\", customer_name = \"Anrufer\" }}\n\n"
        )
    };
    format!(
        r#"name = "same-start"
start = "2025-11-24T09:00:00"
duration = "2m"
settle = "1m"

[[calcom.hosts]]
id = 2
name = "Lena Hoffmann"
working_hours = {{ weekdays = ["09:00-18:00"] }}

[[calcom.hosts]]
id = 3
name = "Mara Brandt"
working_hours = {{ weekdays = ["09:00-18:00"] }}

[[calcom.event_types]]
id = 2000
slug = "schnitt"
title = "Schnitt"
length_minutes = 30
slot_interval_minutes = 15
hosts = [2, 3]

[[calcom.event_types]]
id = 2001
slug = "farbe"
title = "Farbe"
length_minutes = 30
slot_interval_minutes = 15
hosts = [2, 3]

[[catalog.services]]
id = 1
name = "Schnitt"
staff = [2, 3]
segments = [{{ name = "schnitt", minutes = 30, event_type_id = 2000 }}]

[[catalog.services]]
id = 2
name = "Farbe"
staff = [2, 3]
segments = [{{ name = "farbe", minutes = 30, event_type_id = 2001 }}]

[[calls]]
id = "call_0"
start = "0s"

{}{}"#,
        step(5, first),
        step(25, second)
    )
}

#[test]
fn a_second_service_at_the_same_start_is_booked_not_taken_for_a_retry() {
    let mut draw = Draw(31);
    for case in 0..CASES {
        let time = *draw.pick(&["10:00", "10:15", "11:30", "14:45"]);
        let (first, second) = *draw.pick(&[("Schnitt", "Farbe"), ("Farbe", "Schnitt")]);
        // `full` (the seeds' exact-start pre-sync check refuses the second outright).
        let policy = "full";
        let seed = draw.next();
        let text = world(first, second, time);
        let s = Scenario::parse(&text, "generated").unwrap_or_else(|e| panic!("{e}\n{text}"));
        let (summary, record) = sim::run(&s, seed, policy).unwrap();
        let case = format!("case {case}: {first} then {second} at {time} under {policy}");
        assert!(
            summary.violations.is_empty(),
            "{case}: {:?}",
            summary.violations
        );
        let mut services: Vec<&str> = record
            .truth
            .bookings
            .iter()
            .filter(|b| b.active() && b.meta("call_id") == Some("call_0"))
            .filter_map(|b| b.meta("service"))
            .collect();
        services.sort_unstable();
        assert_eq!(services, ["Farbe", "Schnitt"], "{case}");
    }
}

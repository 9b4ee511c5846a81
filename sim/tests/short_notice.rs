//! A caller told "frei" for a slot a little beyond the event type's minimum notice, who
//! talks until the slot has come too close: Cal.com refuses the create (its 400 for the
//! notice), and the caller hears "zu kurzfristig" (`short_notice`), not "vergeben": no
//! booking holds the slot, so it is neither `race_lost` nor `refused_free`. One who books
//! in time is booked. Generated over notices, slots, talk and seeds, under every preset
//! that books through Cal.com's create.

mod common;

use common::Draw;
use serde_json::Value;
use sim::Scenario;

const CASES: u64 = 24;

/// One stylist, one 30-minute service on a 5-minute grid with `notice` hours of notice;
/// a caller checks `ahead` minutes beyond the notice at 2 s and books after `talk` s.
fn world(notice: u64, ahead: u64, talk: u64) -> String {
    let at = 9 * 60 + notice * 60 + ahead;
    let time = format!("{:02}:{:02}", at / 60, at % 60);
    format!(
        r#"name = "short-notice"
start = "2025-11-25T09:00:00"
duration = "20m"
settle = "1m"

[[calcom.hosts]]
id = 2
name = "Lena Hoffmann"
working_hours = {{ weekdays = ["09:00-18:00"] }}

[[calcom.event_types]]
id = 2000
slug = "schnitt"
title = "Schnitt"
length_minutes = 30
slot_interval_minutes = 5
minimum_notice = "{notice}h"
hosts = [2]

[[catalog.services]]
id = 1
name = "Schnitt"
staff = [2]
segments = [{{ name = "schnitt", minutes = 30, event_type_id = 2000 }}]

[[calls]]
id = "call_0"
start = "0s"

[[calls.steps]]
at = "2s"
function = "check_availability"
args = {{ datum = "2025-11-25", uhrzeit = "{time}", dienstleistung = "Schnitt" }}

[[calls.steps]]
at = "{talk}s"
function = "start_booking"
args = {{ datetime = "2025-11-25T{time}", service_name = "Schnitt", customer_name = "Anrufer" }}
"#
    )
}

fn outcomes(text: &str, seed: u64, policy: &str) -> Value {
    let s = Scenario::parse(text, "generated").unwrap_or_else(|e| panic!("{e}\n{text}"));
    let summary = sim::run(&s, seed, policy).unwrap().0.to_json();
    assert!(
        summary["violations"].as_array().unwrap().is_empty(),
        "{policy}: {}\n{text}",
        summary["violations"]
    );
    summary["outcomes"].clone()
}

#[test]
fn a_slot_that_came_too_close_while_the_caller_talked_is_short_notice_not_a_race() {
    let mut draw = Draw(29);
    for case in 0..CASES {
        let notice = draw.range(1, 3);
        let ahead = 5 * draw.range(1, 4);
        let seed = draw.next();
        let policy = *draw.pick(&["full", "baseline", "local-reservation"]);
        // Too late: the slot is within the notice when the booking arrives.
        let late = ahead * 60 + draw.range(30, 240);
        let o = outcomes(&world(notice, ahead, late), seed, policy);
        let case = format!(
            "case {case}: {notice} h, {ahead} min ahead, booked at {late} s under {policy}"
        );
        assert_eq!(o["short_notice"], 1, "{case}: {o}");
        assert_eq!(o["race_lost"], 0, "{case}: {o}");
        assert_eq!(o["refused_free"], 0, "{case}: {o}");
        // In time: booked.
        let early = draw.range(5, ahead * 60 - 30);
        let o = outcomes(&world(notice, ahead, early), seed, policy);
        assert_eq!(o["booked"], 1, "{case}, in time at {early} s: {o}");
        assert_eq!(o["short_notice"], 0, "{case}, in time at {early} s: {o}");
    }
}

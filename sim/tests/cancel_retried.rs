//! Two cancels of one call (Retell's retry beside the first, or the caller saying it again)
//! waiting under `full` for the same call's booking still at work. Before the fix, when the
//! booking ended the two waiters handed its guard to each other for ever within one instant
//! and the world never went on (explore stalled on seed 6805). Generated over the class:
//! throttle lengths, Retell's timeout and retries, when the cancels come, one service or a
//! compound; every world must run to its end, hold every invariant, and cancel what the
//! booking made.

mod common;

use common::Draw;
use sim::Scenario;

const CASES: u64 = 24;

#[test]
fn two_cancels_waiting_for_one_booking_both_finish() {
    let mut draw = Draw(6805);
    for case in 0..CASES {
        // The create is throttled (429) until `open`, the client waiting `backoff` between
        // tries; the booking starts at 60 s and outlasts Retell's timeout.
        let backoff = *draw.pick(&[
            ["5s", "10s", "15s"],
            ["4s", "8s", "16s"],
            ["6s", "12s", "12s"],
        ]);
        let open = 60 + 25 + draw.below(4);
        let timeout = *draw.pick(&[6u64, 8, 10]);
        let retries = *draw.pick(&[1u64, 2]);
        // The caller cancels after the booking's answer was lost, twice in some worlds.
        let cancel = 60 + timeout * (retries + 1) + 1 + draw.below(3);
        let again = *draw.pick(&[false, true]);
        let seed = draw.next() % 10_000;
        let mut steps = format!(
            "[[calls.steps]]\nat = \"2s\"\nfunction = \"check_availability\"\nargs = {{ datum = \"2025-11-25\", uhrzeit = \"11:00\", dienstleistung = \"Herrenhaarschnitt\", name = \"Ines Anders\" }}\n\
             [[calls.steps]]\nat = \"60s\"\nfunction = \"start_booking\"\nargs = {{ datetime = \"2025-11-25T11:00\", service_name = \"Herrenhaarschnitt\", customer_name = \"Ines Anders\" }}\n\
             [[calls.steps]]\nat = \"{cancel}s\"\nfunction = \"cancel_appointment\"\nargs = {{}}\n"
        );
        if again {
            steps += &format!(
                "[[calls.steps]]\nat = \"{}s\"\nfunction = \"cancel_appointment\"\nargs = {{}}\n",
                cancel + 1
            );
        }
        let text = format!(
            "name = \"g\"\nstart = \"2025-11-24T08:00:00\"\nduration = \"2m\"\nsettle = \"4m\"\n\n\
             [policy]\npreset = \"full\"\n\n[policy.retry]\nconflict_backoff = [\"{}\", \"{}\", \"{}\"]\n\n\
             [retell]\ntimeout = \"{timeout}s\"\nretries = {retries}\n\n\
             [[calcom.faults]]\nendpoint = \"create_booking\"\nkind = \"status\"\nstatus = 429\nfrom = \"59s\"\nuntil = \"{open}s\"\n\n\
             [[calls]]\nid = \"call_switch\"\n{steps}\n\
             [[calcom.hosts]]\nid = 1\nname = \"Fabian Spitzer\"\nworking_hours = {{ weekdays = [\"09:00-18:00\"] }}\n\n\
             [[calcom.event_types]]\nid = 1001\nslug = \"herrenhaarschnitt\"\ntitle = \"Herrenhaarschnitt\"\nlength_minutes = 30\nhosts = [1]\n\n\
             [[catalog.services]]\nid = 1\nname = \"Herrenhaarschnitt\"\nstaff = [1]\nsegments = [{{ name = \"Schnitt\", minutes = 30, event_type_id = 1001 }}]\n",
            backoff[0], backoff[1], backoff[2]
        );
        let s = Scenario::parse(&text, "generated").unwrap_or_else(|e| panic!("{e}\n{text}"));
        // Before the fix this call never returned.
        let summary = sim::run(&s, seed, "full").unwrap().0.to_json();
        assert!(
            summary["violations"].as_array().unwrap().is_empty(),
            "case {case}: {}\n{text}",
            summary["violations"]
        );
        assert_eq!(
            summary["calcom"]["cancel_booking"]["200"]
                .as_u64()
                .unwrap_or(0),
            1,
            "case {case}: the late booking cancelled\n{text}"
        );
        assert!(
            summary["coverage"]["retell_retry"].as_u64().unwrap_or(0) >= 1,
            "case {case}: Retell retried\n{text}"
        );
    }
}

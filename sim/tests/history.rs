//! The invariant checker as a reader of histories: what it finds in a written
//! `history.jsonl` is exactly what it found in the run, over generated worlds (every fault
//! and workload class of `explore`) under a correct and a broken policy; and its liveness
//! checks fire where they must.

use sim::check::{self as invariants, Violation};
use sim::{Scenario, explore, history};

/// The run's violations, and the ones `bookingsim check` reads from its written history.
fn both_ways(text: &str, policy: &str) -> (Vec<Violation>, Vec<Violation>) {
    let scenario = Scenario::parse(text, "generated").unwrap();
    let (summary, record) = sim::run(&scenario, scenario.seed, policy).unwrap();
    let mut written = Vec::new();
    history::write(&scenario, &record, &mut written).unwrap();
    let read = invariants::check_history(written.as_slice()).unwrap();
    (summary.violations, read)
}

#[test]
fn a_written_history_gives_the_violations_the_run_found() {
    let mut violated = 0;
    for seed in 0..40 {
        let text = explore::generate::generate(seed);
        for policy in ["full", "no-lock"] {
            let (run, read) = both_ways(&text, policy);
            assert_eq!(run, read, "seed {seed} under {policy}");
            violated += usize::from(!run.is_empty());
        }
    }
    // The comparison means something only if some worlds do break an invariant.
    assert!(violated >= 3, "only {violated} runs had violations");
}

fn event(t: u64, process: &str, kind: &str, f: &str, value: &str) -> String {
    format!(r#"{{"t_ms":{t},"process":"{process}","type":"{kind}","f":"{f}","value":{value}}}"#)
}

fn kinds(lines: &[String]) -> Vec<(String, u64)> {
    invariants::check_history(lines.join("\n").as_bytes())
        .unwrap()
        .into_iter()
        .map(|v| (v.kind.name().to_owned(), v.at_ms))
        .collect()
}

/// No answer to a call made after every fault ended is a liveness violation; during a
/// fault, or while one never ends, it is not.
#[test]
fn no_answer_after_the_last_fault_healed_fires_and_during_one_does_not() {
    let during = [
        event(1000, "nemesis", "start", "partition", "null"),
        event(2000, "c1", "invoke", "start_booking", "{}"),
        event(34000, "c1", "info", "start_booking", "null"),
        event(40000, "nemesis", "stop", "partition", "null"),
    ];
    assert!(kinds(&during).is_empty(), "{:?}", kinds(&during));
    let mut after = during.to_vec();
    after.push(event(41000, "c2", "invoke", "check_availability", "{}"));
    after.push(event(73000, "c2", "info", "check_availability", "null"));
    assert_eq!(kinds(&after), [("no_answer_after_heal".to_owned(), 73000)]);
    // A Cal.com fault without an end never heals: no verdict.
    let mut endless = vec![event(500, "nemesis", "start", "calcom_fault", "null")];
    endless.extend(after);
    assert!(kinds(&endless).is_empty(), "{:?}", kinds(&endless));
}

/// Generated over seeds: a partition heals inside a storm that saturates the engine (past
/// its connections and backlog). A call after the heal that got no connection on any try
/// while the engine answered other calls met a full engine, not a dead one: no
/// `no_answer_after_heal` (explore seed 5314 on `engine-saturated`). The same calls
/// against an engine that never answers again after the heal (its listener never accepts)
/// fire, one per call; so does a call the engine took and never answered (a request timed
/// out) and a refused one while the engine answered nobody in its window.
#[test]
fn no_answer_after_heal_tells_a_saturated_engine_from_one_that_never_came_back() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut below = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let refused = r#"{"transport_error":"connect timed out"}"#;
    let answered = r#"{"success":true,"available":false}"#;
    for seed in 0..48 {
        let heal = 1_000 + below(8_000);
        let calls = 4 + below(40);
        let mut saturated = vec![
            event(500, "nemesis", "start", "partition", "null"),
            event(heal, "nemesis", "stop", "partition", "null"),
        ];
        let mut dead = saturated.clone();
        let mut late = 0;
        for i in 0..calls {
            let call = format!("c{i:03}");
            let invoked = heal + below(10_000);
            let given_up = invoked + 15_000;
            let on = |t: u64, kind: &str, value: &str| {
                event(t, &call, kind, "check_availability", value)
            };
            // Every other call is served, answered after every call was made and before
            // the first refused one gave up (while each refused call was still trying);
            // the rest got no connection on any try.
            saturated.push(on(invoked, "invoke", "{}"));
            if i % 2 == 0 {
                saturated.push(on(heal + 10_000 + below(5_000), "ok", answered));
            } else {
                late += 1;
                saturated.push(on(given_up, "info", refused));
            }
            dead.push(on(invoked, "invoke", "{}"));
            dead.push(on(given_up, "info", refused));
        }
        saturated.sort_by_key(|e| t_of(e));
        dead.sort_by_key(|e| t_of(e));
        assert!(
            kinds(&saturated).is_empty(),
            "seed {seed}: saturation read as a dead engine: {:?}",
            kinds(&saturated)
        );
        let fired = kinds(&dead);
        assert_eq!(fired.len() as u64, calls, "seed {seed}: {fired:?}");
        assert!(fired.iter().all(|(k, _)| k == "no_answer_after_heal"));
        assert!(late > 0);
        // A call the engine took and never answered fires, saturated or not.
        let mut taken = saturated.clone();
        taken.push(event(heal + 1, "z", "invoke", "check_availability", "{}"));
        taken.push(event(
            heal + 40_000,
            "z",
            "info",
            "check_availability",
            r#"{"transport_error":"request timed out"}"#,
        ));
        taken.sort_by_key(|e| t_of(e));
        assert_eq!(
            kinds(&taken),
            [("no_answer_after_heal".to_owned(), heal + 40_000)],
            "seed {seed}"
        );
        // A refused call while the engine answered nobody (its answers all before the
        // call was made) fires: the engine was not serving then.
        let mut quiet = saturated.clone();
        let after = t_of(quiet.last().unwrap()) + 1;
        quiet.push(event(after, "q", "invoke", "check_availability", "{}"));
        quiet.push(event(
            after + 15_000,
            "q",
            "info",
            "check_availability",
            refused,
        ));
        assert_eq!(
            kinds(&quiet),
            [("no_answer_after_heal".to_owned(), after + 15_000)],
            "seed {seed}"
        );
    }
}

fn t_of(event: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(event).unwrap();
    v["t_ms"].as_u64().unwrap()
}

/// An appointment whose sync is still pending at the end misses its Cal.com booking: an
/// orphan once every fault healed, no verdict while one never ends (the engine is still
/// trying); one whose sync failed is an orphan either way.
#[test]
fn a_pending_sync_is_an_orphan_unless_a_fault_never_ended() {
    let save = |sync: &str| {
        event(
            2000,
            "engine",
            "save",
            "appointment",
            &format!(r#"{{"id":1,"call_id":null,"uids":[null],"sync":"{sync}"}}"#),
        )
    };
    let healed = [
        event(1000, "nemesis", "start", "calcom_fault", "null"),
        save("Pending"),
        event(60000, "nemesis", "stop", "calcom_fault", "null"),
    ];
    assert_eq!(kinds(&healed), [("orphan_local".to_owned(), 2000)]);
    let endless = [
        event(1000, "nemesis", "start", "calcom_fault", "null"),
        save("Pending"),
    ];
    assert!(kinds(&endless).is_empty(), "{:?}", kinds(&endless));
    let failed = [
        event(1000, "nemesis", "start", "calcom_fault", "null"),
        save("Failed"),
    ];
    assert_eq!(kinds(&failed), [("orphan_local".to_owned(), 2000)]);
}

#[test]
fn a_lock_or_reservation_left_at_the_end_dangles() {
    let clean = [event(9000, "engine", "settle", "locks", r#"{"held":[]}"#)];
    assert!(kinds(&clean).is_empty());
    let held = [event(
        9000,
        "engine",
        "settle",
        "locks",
        r#"{"held":["booking_lock:15:staff:2"]}"#,
    )];
    assert_eq!(kinds(&held), [("dangling_lock".to_owned(), 9000)]);
}

/// A double booking is reported at the instant the second booking was made, with how long
/// it lasted when a cancel undid it; one cancelled in the same instant never coexisted.
#[test]
fn a_double_booking_is_dated_to_its_first_instant() {
    let booking = |uid: &str, start: &str, end: &str| {
        format!(
            r#"{{"uid":"{uid}","hostId":1,"start":"{start}","end":"{end}","source":"external"}}"#
        )
    };
    let lines = [
        event(
            1000,
            "calcom",
            "commit",
            "booking",
            &booking("a", "2025-11-25T10:00:00Z", "2025-11-25T10:30:00Z"),
        ),
        event(
            5000,
            "calcom",
            "commit",
            "booking",
            &booking("b", "2025-11-25T10:15:00Z", "2025-11-25T10:45:00Z"),
        ),
        event(45000, "calcom", "cancel", "booking", r#"{"uid":"b"}"#),
    ];
    let found = invariants::check_history(lines.join("\n").as_bytes()).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].kind.name(), found[0].at_ms),
        ("double_booking", 5000)
    );
    assert!(
        found[0].detail.ends_with("for 40 s until a cancel"),
        "{}",
        found[0].detail
    );
    let same_instant = [
        lines[0].clone(),
        event(1000, "calcom", "cancel", "booking", r#"{"uid":"a"}"#),
        event(
            1000,
            "calcom",
            "commit",
            "booking",
            &booking("b", "2025-11-25T10:15:00Z", "2025-11-25T10:45:00Z"),
        ),
    ];
    assert!(kinds(&same_instant).is_empty());
}

#[test]
fn an_unreadable_or_unordered_history_is_an_error_naming_its_line() {
    let bad = [
        event(1, "c1", "invoke", "start_booking", "{}"),
        "{\"t_ms\": 2}".to_owned(),
    ];
    let e = invariants::check_history(bad.join("\n").as_bytes()).unwrap_err();
    assert!(e.starts_with("line 2:"), "{e}");
    let unordered = [
        event(5, "c1", "invoke", "start_booking", "{}"),
        event(4, "c1", "ok", "start_booking", "{}"),
    ];
    let e = invariants::check_history(unordered.join("\n").as_bytes()).unwrap_err();
    assert!(e.contains("line 2") && e.contains("back in time"), "{e}");
    let commit = event(1, "calcom", "commit", "booking", r#"{"uid":"a"}"#);
    let e = invariants::check_history(commit.as_bytes()).unwrap_err();
    assert!(e.contains("line 1") && e.contains("hostId"), "{e}");
}

/// `bookingsim check`: exit 1 with each violation dated, 0 when all hold (saying what it
/// read), 2 for a history it cannot read.
#[test]
fn the_check_command_exits_by_what_it_found() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let check = |lines: &[String]| {
        let file = dir.join("history.jsonl");
        std::fs::write(&file, lines.join("\n")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bookingsim"))
            .arg("check")
            .arg(&file)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let held = event(9000, "engine", "settle", "locks", r#"{"held":["k"]}"#);
    let (code, said) = check(&[held]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("9.000 s  dangling_lock"), "{said}");
    let (code, said) = check(&[event(1, "c1", "invoke", "start_booking", "{}")]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("1 events: 1 calls, 0 Cal.com bookings")
            && said.contains("nothing to be checked"),
        "{said}"
    );
    let (code, _) = check(&["not json".to_owned()]);
    assert_eq!(code, Some(2));
}

/// A caller told the booking failed while it exists is a ghost; one whose booking got no
/// answer at all may or may not have been booked (Jepsen's `info`): not a ghost.
#[test]
fn a_ghost_was_told_it_failed_an_unanswered_caller_is_not_one() {
    let booking = r#"{"uid":"a","hostId":1,"start":"2025-11-25T10:00:00Z","end":"2025-11-25T10:30:00Z","source":"api","call_id":"c1"}"#;
    let history = |answer: String| {
        vec![
            event(1000, "c1", "invoke", "start_booking", "{}"),
            event(1500, "calcom", "commit", "booking", booking),
            answer,
        ]
    };
    let told_failed = history(event(
        2000,
        "c1",
        "fail",
        "start_booking",
        r#"{"success":false,"error_type":"store_failed"}"#,
    ));
    // (Nothing saved it locally either: an orphan in both histories.)
    let orphan = ("orphan_calcom".to_owned(), 1500);
    assert_eq!(
        kinds(&told_failed),
        [orphan.clone(), ("ghost_booking".to_owned(), 2000)]
    );
    let unanswered = history(event(33000, "c1", "info", "start_booking", "null"));
    assert_eq!(kinds(&unanswered), [orphan]);
}

/// `bookingsim check` on 10 000 bookings of one host piled onto one slot (50 million
/// overlapping pairs): exit 1 with one line for the booking group and its count, not one
/// line per pair (which ran out of memory; the overlap scan reads each host's active
/// bookings without a look-up per pair: seconds), and the same few lines for 2 000.
#[test]
fn check_output_is_bounded_by_what_it_found_not_by_the_square_of_the_history() {
    let tmp = tempfile::tempdir().unwrap();
    let booking = |uid: usize| {
        format!(
            r#"{{"uid":"b{uid}","hostId":1,"start":"2025-11-25T10:00:00Z","end":"2025-11-25T10:30:00Z","source":"external"}}"#
        )
    };
    let mut said_lines = Vec::new();
    for n in [2_000usize, 10_000] {
        let lines: Vec<String> = (0..n)
            .map(|i| event(i as u64, "calcom", "commit", "booking", &booking(i)))
            .collect();
        let file = tmp.path().join(format!("history-{n}.jsonl"));
        std::fs::write(&file, lines.join("\n")).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bookingsim"))
            .arg("check")
            .arg(&file)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(1), "{said}");
        let pairs = n * (n - 1) / 2;
        assert!(
            said.contains(&format!("{pairs} violation(s)"))
                && said.contains(&format!("double_booking: {pairs} in 1 group(s)"))
                && said.contains(&format!("{n} bookings in all overlapping in {pairs} pairs")),
            "{said}"
        );
        assert!(said.len() < 2_000, "{} bytes:\n{said}", said.len());
        said_lines.push(said.lines().count());
    }
    assert_eq!(
        said_lines[0], said_lines[1],
        "output grows with the history"
    );
}

/// Generated piles of bookings on one or two hosts, some cancelled: the checker's groups
/// count exactly the overlapping pairs that were ever active together (what one line per
/// pair used to list), one line per group, and a history without overlaps has none.
#[test]
fn double_booking_groups_count_every_overlapping_pair() {
    use rand::Rng;
    let mut rng = simkit::SeedStreams::new(24).stream("pile");
    for case in 0..200 {
        let n = rng.random_range(1..12usize);
        let mut lines = Vec::new();
        // (host, start minute, end minute, cancelled at)
        let mut made: Vec<(u64, u64, u64, Option<u64>)> = Vec::new();
        let mut t = 0u64;
        for i in 0..n {
            t += 1000;
            // Cancel an earlier one now and then (before this commit).
            if !made.is_empty() && rng.random_bool(0.3) {
                let j = rng.random_range(0..made.len());
                if made[j].3.is_none() {
                    made[j].3 = Some(t);
                    lines.push(event(
                        t,
                        "calcom",
                        "cancel",
                        "booking",
                        &format!(r#"{{"uid":"b{j}"}}"#),
                    ));
                }
            }
            t += 1000;
            let host = rng.random_range(1..3u64);
            let start = rng.random_range(0..4u64) * 15;
            let end = start + 30;
            lines.push(event(
                t,
                "calcom",
                "commit",
                "booking",
                &format!(
                    r#"{{"uid":"b{i}","hostId":{host},"start":"2025-11-25T10:{start:02}:00Z","end":"2025-11-25T{:02}:{:02}:00Z","source":"external"}}"#,
                    10 + end / 60,
                    end % 60
                ),
            ));
            made.push((host, start, end, None));
        }
        // The pairs: a later booking overlapping an earlier one of its host still active
        // when it was committed.
        let mut pairs = 0u64;
        for (i, b) in made.iter().enumerate() {
            let committed = 2000 * (i as u64 + 1);
            pairs += made[..i]
                .iter()
                .filter(|a| {
                    a.0 == b.0 && a.1 < b.2 && b.1 < a.2 && a.3.is_none_or(|c| c > committed)
                })
                .count() as u64;
        }
        let found = invariants::check_history(lines.join("\n").as_bytes()).unwrap();
        let counted: u64 = found.iter().map(|v| v.count).sum();
        assert_eq!(
            counted,
            pairs,
            "case {case}: {found:#?}\n{}",
            lines.join("\n")
        );
        assert!(found.len() as u64 <= pairs, "case {case}");
        assert_eq!(found.is_empty(), pairs == 0, "case {case}");
    }
}

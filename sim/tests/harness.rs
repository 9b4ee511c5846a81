//! The harness end to end: determinism, checkers that fire, and the CLI's contract.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use sim::Scenario;

fn scenario(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&path).unwrap()
}

fn run(s: &Scenario, seed: u64, policy: &str) -> Value {
    sim::run(s, seed, policy).unwrap().0.to_json()
}

#[test]
fn a_run_twice_gives_the_same_bytes_and_another_seed_another_digest() {
    let s = scenario("storm-overlap");
    let a = run(&s, 7, "baseline");
    let b = run(&s, 7, "baseline");
    assert_eq!(a.to_string(), b.to_string());
    let c = run(&s, 8, "baseline");
    assert_ne!(a["digest"], c["digest"]);
    // The digest covers the deterministic fields: change one and it changes.
    let mut tampered = a.clone();
    tampered["outcomes"]["booked"] = 99.into();
    assert_ne!(
        sim::results::summary::digest(&tampered),
        a["digest"].as_str().unwrap()
    );
}

#[test]
fn overlapping_storms_are_reported_as_double_bookings_and_fail_the_gate() {
    let s = scenario("storm-overlap");
    for broken in ["no-lock", "no-conflict-check"] {
        let summary = run(&s, s.seed, broken);
        assert!(
            summary["invariants"]["double_booking"].as_u64().unwrap() > 0,
            "{broken}: {}",
            summary["invariants"]
        );
        assert!(
            !sim::Summary::from_json(summary.clone())
                .unwrap()
                .gates_pass(),
            "{broken} passed the gates"
        );
    }
    let held = run(&s, s.seed, "full");
    assert_eq!(held["invariants"]["double_booking"], 0);
    assert!(sim::Summary::from_json(held.clone()).unwrap().gates_pass());
    // The seed system's exact-start lock is not broken on purpose; what it does is a finding.
    let baseline = run(&s, s.seed, "baseline");
    println!(
        "baseline on storm-overlap: {} double bookings",
        baseline["invariants"]["double_booking"]
    );
}

const FAILING_SAVE: &str = r#"
name = "save-fails"
seed = 3
start = "2025-11-24T09:00:00"
duration = "10s"
settle = "1m"

[policy]
preset = "baseline"
saga_compensation = true
infra = { save_failure_probability = 1.0 }

[[calcom.hosts]]
id = 1
name = "Fabian Spitzer"
working_hours = { weekdays = ["09:00-18:00"] }

[[calcom.event_types]]
id = 1001
slug = "herrenhaarschnitt"
title = "Herrenhaarschnitt"
length_minutes = 30
hosts = [1]

[[calls]]
id = "call_1"
[[calls.steps]]
at = "1s"
function = "start_booking"
args = { datetime = "2025-11-25T12:00", service_name = "Herrenhaarschnitt", customer_name = "X" }
"#;

#[test]
fn a_failed_compensation_is_caught_as_an_orphan() {
    let working = Scenario::parse(FAILING_SAVE, "save-fails").unwrap();
    let summary = run(&working, 3, "baseline");
    assert_eq!(
        summary["invariants"]["orphan_calcom"], 0,
        "the saga cancelled the Cal.com booking"
    );
    // Cal.com refuses the compensating cancel: the booking stays, the engine has nothing.
    let broken_cancel = format!(
        "{FAILING_SAVE}\n[[calcom.faults]]\nendpoint = \"cancel_booking\"\nkind = \"status\"\nstatus = 500\n"
    );
    let broken = Scenario::parse(&broken_cancel, "save-fails").unwrap();
    let summary = run(&broken, 3, "baseline");
    assert_eq!(
        summary["invariants"]["orphan_calcom"], 1,
        "{}",
        summary["violations"]
    );
    assert_eq!(
        summary["invariants"]["ghost_booking"], 1,
        "told failed, but booked: {}",
        summary["violations"]
    );
}

#[test]
fn lost_webhooks_are_counted() {
    let text = format!("{FAILING_SAVE}\n[calcom.webhooks]\nloss_probability = 1.0\n").replace(
        "save_failure_probability = 1.0",
        "save_failure_probability = 0.0",
    );
    let summary = run(&Scenario::parse(&text, "lost").unwrap(), 3, "baseline");
    assert_eq!(summary["outcomes"]["booked"], 1);
    assert_eq!(summary["webhooks"]["lost"], 1, "{}", summary["webhooks"]);
}

fn bookingsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bookingsim"))
}

/// `explore --print` writes the whole world of a seed, generated or around a file, with the
/// policy explore runs it under, and runs nothing; an unknown policy is bad input.
#[test]
fn explore_prints_the_world_of_a_seed() {
    let print = |args: &[&str]| {
        let out = bookingsim()
            .args(["explore", "--print"])
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let (code, text) = print(&["--seed", "7", "--policy", "no-lock"]);
    assert_eq!(code, Some(0));
    let pairwise =
        sim::explore::generate::generate_drawn(7, sim::explore::generate::Draw::Pairwise).0;
    assert_eq!(
        text,
        sim::explore::search::with_policy(&pairwise, "no-lock")
    );
    let (_, swarm) = print(&["--seed", "7", "--policy", "no-lock", "--draw", "swarm"]);
    assert_eq!(
        swarm,
        sim::explore::search::with_policy(&sim::explore::generate::generate(7), "no-lock")
    );
    let (code, _) = print(&["--seed", "7", "--draw", "both"]);
    assert_eq!(code, Some(2), "an unknown --draw is bad input");
    let world = Scenario::parse(&text, "printed").unwrap();
    assert_eq!(world.policy.preset, "no-lock");
    assert_eq!(world.seed, 7);
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/lone-caller.toml");
    let (code, text) = print(&[file, "--seed", "3"]);
    assert_eq!(code, Some(0));
    let world = Scenario::parse(&text, "printed").unwrap();
    assert_eq!((world.name.as_str(), world.seed), ("lone-caller", 3));
    assert_eq!(world.policy.preset, "full");
    let (code, text) = print(&["--policy", "fulll"]);
    assert_eq!((code, text.as_str()), (Some(2), ""));
}

#[test]
fn a_broken_invariant_fails_the_run_unless_a_gate_expects_it() {
    let scenarios = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let run = |gates: &str, out: &str| {
        bookingsim()
            .arg("run")
            .arg(scenarios.join("storm-overlap.toml"))
            .args(["--policy", "no-lock", "--set", gates, "--out"])
            .arg(tmp.join(out))
            .output()
            .unwrap()
    };
    // No gate at all: the double bookings alone fail the run, and it says why.
    let none = run("gates=[]", "no-gates");
    let stdout = String::from_utf8_lossy(&none.stdout);
    assert_eq!(none.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL: invariants.double_booking violated and no gate expects it"),
        "{stdout}"
    );
    // A gate on another metric does not excuse it.
    let other = run("gates=[\"outcomes.booked >= 0\"]", "other-gate");
    assert_eq!(other.status.code(), Some(1));
    // A scenario that shows the violation on purpose says so with a gate: exit 0.
    let expected = run("gates=[\"invariants.double_booking >= 1\"]", "expected");
    assert_eq!(
        expected.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&expected.stdout)
    );
}

#[test]
fn the_cli_exit_codes_say_ok_gate_failed_or_bad_input() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let scenarios = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let out = tmp.join("run-out");
    let ok = bookingsim()
        .arg("run")
        .arg(scenarios.join("storm-overlap.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        stdout.contains("race-failure rate") && stdout.contains("x real time"),
        "{stdout}"
    );
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    for field in [
        "scenario",
        "seed",
        "policy",
        "outcomes",
        "race_failure_rate",
        "invariants",
        "latency_ms",
        "calcom",
        "gates",
        "sim",
        "digest",
    ] {
        assert!(summary.get(field).is_some(), "summary.json lacks {field}");
    }
    assert!(summary["sim"]["wall_seconds"].as_f64().is_some());
    let history = std::fs::read_to_string(out.join("history.jsonl")).unwrap();
    let events: Vec<Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Operations (calls' and the engine's requests to Cal.com): every invoke has its ok,
    // fail or info; the rest is state (Cal.com commits and cancels, saves, faults, settle).
    let operations: Vec<&Value> = events
        .iter()
        .filter(|e| ["invoke", "ok", "fail", "info"].contains(&e["type"].as_str().unwrap()))
        .collect();
    let invokes = operations.iter().filter(|e| e["type"] == "invoke").count();
    assert_eq!(
        invokes * 2,
        operations.len(),
        "every invoke has its ok, fail or info"
    );
    assert!(
        events.iter().any(|e| e["type"] == "commit"),
        "Cal.com's commits are in the history"
    );
    assert!(
        events
            .windows(2)
            .all(|w| w[0]["t_ms"].as_u64() <= w[1]["t_ms"].as_u64()),
        "history in time order"
    );
    assert!(
        events
            .iter()
            .any(|e| e["process"] == "engine" && e["f"] == "calcom.create_booking")
    );

    let failing = bookingsim()
        .arg("run")
        .arg(scenarios.join("storm-overlap.toml"))
        .args(["--policy", "no-lock", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(failing.status.code(), Some(1), "a failed gate exits 1");

    let typo = tmp.join("typo.toml");
    std::fs::write(
        &typo,
        "name = \"t\"\nstart = \"2025-11-24T09:00:00\"\nduration = \"1m\"\nseeed = 4\n",
    )
    .unwrap();
    let bad = bookingsim().arg("validate").arg(&typo).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("typo.toml") && stderr.contains("line 4") && stderr.contains("seeed"),
        "{stderr}"
    );

    let junit = tmp.join("junit.xml");
    let gate = bookingsim()
        .arg("gate")
        .arg(&typo)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(gate.status.code(), Some(2), "bad input beats running");

    let replay = bookingsim()
        .arg("replay")
        .arg(scenarios.join("incident-741.toml"))
        .args(["--call", "call_741"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&replay.stdout);
    assert!(
        text.contains("10:21:18.728")
            && text.contains("Dieser Termin wurde gerade vergeben")
            && text.contains("outcome: race_lost"),
        "{text}"
    );
}

#[test]
fn a_partition_between_engine_and_calcom_is_an_error_without_residue() {
    let text = FAILING_SAVE
        .replace(
            "save_failure_probability = 1.0",
            "save_failure_probability = 0.0",
        )
        .replace(
            "[policy]",
            "[[faults]]\nkind = \"partition\"\nat = \"500ms\"\nduration = \"2m\"\n\n[policy]",
        );
    let s = Scenario::parse(&text, "partition").unwrap();
    let summary = run(&s, 3, "baseline");
    assert_eq!(summary["outcomes"]["error"], 1, "{}", summary["outcomes"]);
    assert_eq!(
        summary["invariants"]
            .as_object()
            .unwrap()
            .values()
            .filter(|v| *v != 0)
            .count(),
        0,
        "{}",
        summary["violations"]
    );
    assert!(
        summary["engine"]["calcom_retries"].as_u64().unwrap() >= 3,
        "the client retried the unreachable Cal.com"
    );
}

/// A flood of callers while the engine is down for 90 s: every connect that times out gives
/// its ephemeral port back, as an operating system does. (They used to stay taken: after
/// 16 384 the simulation panicked, "ports exhausted", found by explore around
/// `availability-flood`.) The calls end as errors, nothing else breaks.
#[test]
fn callers_whose_connects_time_out_do_not_run_out_of_ports() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/availability-flood.toml"
    ))
    .unwrap();
    // Settled for 6 min, so that the Cal.com holds the crash left behind lapse.
    let text = format!(
        "{}\n[[faults]]\nkind = \"engine_crash\"\nat = \"3s\"\nrestart_after = \"90s\"\n",
        text.replace("settle = \"1m\"", "settle = \"6m\"")
    );
    let s = Scenario::parse(&text, "flood-while-down").unwrap();
    let summary = run(&s, 1584, "full");
    assert!(
        summary["outcomes"]["error"].as_u64().unwrap() > 5000,
        "{}",
        summary["outcomes"]
    );
    assert!(
        summary["violations"].as_array().unwrap().is_empty(),
        "{}",
        summary["violations"]
    );
}

/// `sync-undo-in-flight` on the seed where explore found its last variant (3071): the undo
/// of the sync's first part lands just after the retry's create is refused by it, and the
/// look-up sent as it lands still shows the part; the engine knows it cancelled it and books
/// anew (it used to take the part for one of its own nobody undoes, and fail the sync).
#[test]
fn a_part_whose_undo_landed_is_booked_anew_even_while_still_listed() {
    let s = scenario("sync-undo-in-flight");
    for seed in [293, 3071] {
        let summary = run(&s, seed, "full");
        assert!(
            summary["violations"].as_array().unwrap().is_empty(),
            "seed {seed}: {}",
            summary["violations"]
        );
    }
}

/// Every number a run's summary has is a metric a gate may name, so the gate schema cannot
/// fall behind the summary (a new counter a gate could not use, or one it silently misreads).
#[test]
fn every_number_of_a_summary_is_a_metric_gates_know() {
    fn leaves(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&path, v, out);
                }
            }
            Value::Number(_) => out.push(prefix.to_owned()),
            _ => {}
        }
    }
    for name in ["calcom-flaky", "compound-segment-failure", "webhook-loss"] {
        let summary = run(&scenario(name), 1, "full");
        let mut metrics = Vec::new();
        for key in [
            "calls",
            "outcomes",
            "outcome_errors",
            "told_available",
            "race_failure_rate",
            "false_refusal_rate",
            "invariants",
            "calcom",
            "engine",
            "webhooks",
            "reservations",
            "coverage",
        ] {
            leaves(key, &summary[key], &mut metrics);
        }
        metrics.push("sim.simulated_seconds".into());
        for (op, stats) in summary["latency_ms"].as_object().unwrap() {
            for stat in stats.as_object().unwrap().keys() {
                metrics.push(format!("{stat}({op})"));
            }
        }
        assert!(metrics.len() > 40, "{name}: {metrics:?}");
        for m in metrics {
            assert!(
                sim::scenario::gates::metric_is_known(&m),
                "{name}: `{m}` is in the summary but unknown to gates"
            );
        }
    }
}

/// One bad scenario in a catalogue is that scenario's failure: the others still run, JUnit
/// is written with every scenario in it, and the exit code says bad input.
#[test]
fn a_gate_over_a_catalogue_with_a_bad_file_runs_the_rest_and_writes_junit() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gate-isolation");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let scenarios = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    std::fs::copy(
        scenarios.join("storm-overlap.toml"),
        tmp.join("a-good.toml"),
    )
    .unwrap();
    std::fs::write(
        tmp.join("b-bad.toml"),
        "name = \"bad\"\nstart = \"2025-11-24T09:00:00\"\nduration = \"1m\"\n[network]\nmin_latency = \"2s\"\nmax_latency = \"1s\"\n",
    )
    .unwrap();
    std::fs::write(
        tmp.join("c-typo.toml"),
        "name = \"typo\"\nstart = \"2025-11-24T09:00:00\"\nduration = \"1m\"\ngates = [\"invariants.dubble_booking == 0\"]\n",
    )
    .unwrap();
    let junit = tmp.join("junit.xml");
    let out = bookingsim()
        .arg("gate")
        .arg(&tmp)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("pass storm-overlap"), "{stdout}");
    assert!(
        stdout.contains(
            "b-bad.toml:5: network.min_latency = \"2s\": expected a duration from 0s to 1s"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("closest: invariants.double_booking"),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .filter_map(|n| n.attribute("name"))
        .collect();
    assert_eq!(suites, ["storm-overlap", "b-bad", "c-typo"]);
}

/// A run's bytes do not depend on what ran before it in the process: tokio drops a crashed
/// host's tasks in the order of its process-global task ids, and their sockets' last
/// messages (FIN, RST) used to be sent, and their latencies drawn, in that order (a generated
/// world with an engine crash, run after another, lost an orphan it has alone).
#[test]
fn a_run_is_the_same_whatever_ran_before_it() {
    let world = |seed| Scenario::parse(&sim::explore::generate::generate(seed), "world").unwrap();
    let digest = |s: &Scenario| sim::run(s, s.seed, "no-lock").unwrap().0.digest;
    let (before, crashing) = (world(125), world(126));
    let alone = digest(&crashing);
    digest(&before);
    assert_eq!(digest(&crashing), alone);
    assert_eq!(digest(&crashing), alone);
}

#[test]
fn a_run_settles_until_the_holds_made_near_its_end_have_lapsed() {
    // `hold-lapsed` with the staff booking elsewhere: the caller's second check, 2 minutes
    // before the end, holds the slot anew for 5 minutes (Cal.com) and 2 (locally). Those
    // are the caller's, not leaks: the run goes on until they lapse.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/hold-lapsed.toml");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("2025-11-25T10:00:00+01:00", "2025-11-25T12:00:00+01:00");
    let summary = run(&Scenario::parse(&text, "settle").unwrap(), 305, "full");
    assert_eq!(summary["outcomes"]["unavailable"], 0);
    assert_eq!(
        summary["invariants"]["dangling_reservation"], 0,
        "{summary}"
    );
    assert_eq!(summary["reservations"]["calcom"]["expired"], 2);
    let simulated = summary["sim"]["simulated_seconds"].as_f64().unwrap();
    assert!(simulated >= 420.0 + 300.0, "{simulated}");
}

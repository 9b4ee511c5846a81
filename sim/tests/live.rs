//! `bookingsim live` against a real engine and a real mock on loopback, in real time (a
//! few seconds of wall time each): the same outcomes and invariant verdicts as the
//! simulation, Retell's signatures, and Ctrl-C still writing results.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use booking_engine::{Engine, EngineSettings, Policy};
use mock_calcom::{MockCalcom, MockConfig};
use sim::Scenario;
use simkit::transport::{Listener, Network};
use simkit::{SeedStreams, TokioClock};

const WEBHOOK_SECRET: &str = "whsec_live_test";

/// A mock Cal.com with an empty world (the live run loads its own) and the engine under
/// `preset`, both serving on fresh loopback ports.
struct Stack {
    engine: String,
    calcom: String,
}

async fn listener() -> (Listener, String) {
    let l = Listener::bind(Network::Real, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

async fn stack(scenario: &Scenario, preset: &str, retell_api_key: Option<&str>) -> Stack {
    let (calcom_listener, calcom) = listener().await;
    let mock = MockCalcom::new(
        MockConfig::default(),
        Arc::new(TokioClock::real_time()),
        SeedStreams::new(1),
        Network::Real,
    );
    tokio::spawn(mock.serve(calcom_listener, std::future::pending()));
    let (engine_listener, engine) = listener().await;
    let settings = EngineSettings {
        catalog: scenario.catalog(),
        policy: Policy::with_overrides(preset, &scenario.policy.overrides).unwrap(),
        calcom_url: calcom.clone(),
        calcom_api_key: "cal_live_test".into(),
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        retell_api_key: retell_api_key.map(Into::into),
    };
    let engine_app = Engine::new(
        settings,
        Arc::new(TokioClock::real_time()),
        SeedStreams::new(1),
        Network::Real,
    );
    tokio::spawn(booking_engine::server::serve(
        engine_app,
        engine_listener,
        std::future::pending(),
    ));
    Stack { engine, calcom }
}

fn options(stack: &Stack, seed: u64, retell_api_key: Option<&str>) -> sim::world::live::Options {
    sim::world::live::Options {
        engine: stack.engine.clone(),
        calcom: stack.calcom.clone(),
        retell_api_key: retell_api_key.map(Into::into),
        webhook_url: None,
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        seed,
        admin_tokens: Default::default(),
    }
}

/// A catalogue scenario with its timeline compressed to seconds.
fn compressed(name: &str, replacements: &[(&str, &str)]) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    let mut text = std::fs::read_to_string(path).unwrap();
    for (from, to) in replacements {
        assert!(text.contains(from), "{name}: no `{from}`");
        text = text.replacen(from, to, 1);
    }
    Scenario::parse(&text, name).unwrap()
}

/// What `bookingsim live` does with a finished run.
fn summarize(run: &sim::world::live::LiveRun, seed: u64) -> sim::Summary {
    sim::pipeline::summarize_live(run, seed).unwrap()
}

async fn live(
    scenario: &Scenario,
    options: &sim::world::live::Options,
) -> sim::world::live::LiveRun {
    sim::world::live::drive(scenario, options, std::future::pending(), |_, _, _| {})
        .await
        .unwrap()
}

/// Incident #741's timeline (a staff booking, a stale "frei", "vergeben" at the booking),
/// compressed from minutes to seconds: the caller loses the race live as in simulation,
/// and under `full` is told at the check instead, live as in simulation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_timeline_ends_live_as_it_ends_in_simulation() {
    let scenario = compressed(
        "incident-741",
        &[
            ("duration = \"3m\"", "duration = \"4s\""),
            ("settle = \"2m\"", "settle = \"1s\""),
            ("at = \"24s\"", "at = \"200ms\""),
            ("start = \"2m1728ms\"", "start = \"500ms\""),
            ("at = \"17s\"", "at = \"300ms\""),
            ("at = \"38.5s\"", "at = \"1500ms\""),
        ],
    );
    for preset in ["baseline", "full"] {
        // The engine runs the scenario's policy (a live run refuses one that does not).
        let mut scenario = scenario.clone();
        scenario.policy.preset = preset.into();
        let (simulated, _) =
            tokio::task::block_in_place(|| sim::run(&scenario, scenario.seed, preset)).unwrap();
        let stack = stack(&scenario, preset, None).await;
        let run = live(&scenario, &options(&stack, scenario.seed, None)).await;
        let summary = summarize(&run, scenario.seed);
        assert_eq!(summary.outcomes, simulated.outcomes, "{preset}");
        assert_eq!(summary.mode, sim::results::summary::Mode::Live);
        let section = summary.live.as_ref().unwrap();
        assert!(
            section.weeks_shifted > 0,
            "the 2025 slot moved into the future"
        );
        assert!(!section.incomplete);
        // The staff booking and the call's id, as the history holds them: tagged and shifted.
        let truth = &run.record.truth;
        assert!(truth.bookings.iter().all(|b| {
            mock_calcom::wire::iso_ms(b.start).as_str()
                > summary.live.as_ref().unwrap().started_at.as_str()
        }));
        assert!(run.record.calls[0].id.starts_with("call_741-"));
        // What live cannot see is named, not passed.
        assert!(!summary.invariants.contains_key("orphan_calcom"));
        let orphan_gate = summary
            .gates
            .iter()
            .find(|g| g.gate.contains("orphan_calcom"))
            .unwrap();
        assert!(orphan_gate.not_observable && !orphan_gate.pass);
        // Each gate it can judge, judged as the simulation judges it.
        for (live, simulated) in summary.gates.iter().zip(&simulated.gates) {
            assert!(
                live.not_observable || live.pass == simulated.pass,
                "{preset}: {live:?} vs {simulated:?}"
            );
        }
    }
}

/// An overlapping storm for one stylist: without the lock Cal.com double-books live as in
/// simulation; with `full` neither does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_gets_the_same_invariant_verdicts_live() {
    let scenario = compressed(
        "storm-overlap",
        &[
            ("duration = \"30s\"", "duration = \"2s\""),
            ("settle = \"2m\"", "settle = \"2s\""),
            ("from = \"5s\"", "from = \"300ms\""),
        ],
    );
    for (preset, doubles) in [("baseline", true), ("full", false)] {
        let mut scenario = scenario.clone();
        scenario.policy.preset = preset.into();
        let (simulated, _) =
            tokio::task::block_in_place(|| sim::run(&scenario, scenario.seed, preset)).unwrap();
        assert_eq!(simulated.invariants["double_booking"] > 0, doubles);
        let stack = stack(&scenario, preset, None).await;
        let run = live(&scenario, &options(&stack, scenario.seed, None)).await;
        let summary = summarize(&run, scenario.seed);
        assert_eq!(
            summary.invariants["double_booking"] > 0,
            doubles,
            "{preset}: {:?}",
            summary.violations
        );
        assert_eq!(summary.invariants["ghost_booking"], 0, "{preset}");
        assert_eq!(summary.invariants["lost_booking"], 0, "{preset}");
        assert!(summary.outcomes["booked"] >= 1, "{preset}");
        // Every storm call starts at its instant: the generator keeps up.
        let skew = &summary.live.as_ref().unwrap().send_skew_us;
        assert_eq!(skew.count, 10);
        assert!(skew.p99 < 20_000, "{skew:?}");
    }
}

/// An engine that checks Retell's signature answers a signed run and refuses an unsigned
/// one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_calls_are_signed_as_retell_signs_them() {
    let scenario = compressed(
        "incident-741",
        &[
            ("duration = \"3m\"", "duration = \"2s\""),
            ("settle = \"2m\"", "settle = \"0s\""),
            ("at = \"24s\"", "at = \"0s\""),
            ("start = \"2m1728ms\"", "start = \"100ms\""),
            ("at = \"17s\"", "at = \"100ms\""),
            ("at = \"38.5s\"", "at = \"400ms\""),
        ],
    );
    let key = "key_retell_live_test";
    let stack = stack(&scenario, "baseline", Some(key)).await;
    let signed = live(&scenario, &options(&stack, 1, Some(key))).await;
    let answer = signed.record.calls[0].steps[0].answer();
    assert!(answer.get("http_status").is_none(), "{answer}");
    assert!(answer.get("available").is_some(), "{answer}");
    let unsigned = live(&scenario, &options(&stack, 1, None)).await;
    let answer = unsigned.record.calls[0].steps[0].answer();
    assert_eq!(answer["http_status"], 401, "{answer}");
}

/// Ctrl-C (SIGINT) to `bookingsim live`: it stops, lets answers drain, and still writes
/// its results, marked incomplete, exit 130.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_run_and_still_writes_results() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/lone-caller.toml");
    let scenario =
        Scenario::parse(&std::fs::read_to_string(&file).unwrap(), "lone-caller").unwrap();
    let stack = stack(&scenario, &scenario.policy.preset, None).await;
    let out = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bookingsim"))
        .arg("live")
        .arg(&file)
        .args(["--engine", &stack.engine, "--calcom", &stack.calcom])
        .args(["--webhook-secret", WEBHOOK_SECRET])
        .arg("--out")
        .arg(out.path())
        .stdout(std::process::Stdio::piped())
        // Not the test's own stderr: a child left running by a failed test must not hold it.
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Its first line says it has started (Ctrl-C is caught from before it on).
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    let read = tokio::task::spawn_blocking(move || {
        stdout.read_line(&mut first).unwrap();
        (first, stdout)
    });
    let (first, mut stdout) = simkit::time::timeout(Duration::from_secs(30), read)
        .await
        .unwrap()
        .unwrap();
    assert!(first.contains("live against"), "{first}");
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
        (child.wait().unwrap(), rest)
    });
    let (status, rest) = simkit::time::timeout(Duration::from_secs(60), status)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("STOPPED EARLY"), "{rest}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["mode"], "live");
    assert_eq!(summary["live"]["incomplete"], true);
    assert!(out.path().join("history.jsonl").exists());
}

/// Features that need the engine to be bookingsim's own are refused before anything runs.
#[test]
fn an_engine_crash_cannot_be_done_live() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/crash-recovery.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bookingsim"))
        .arg("live")
        .arg(&file)
        .args(["--engine", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("crash-recovery.toml")
            && said.contains("faults[0]")
            && said.contains("cannot be done live"),
        "{said}"
    );
}

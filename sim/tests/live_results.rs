//! A live run never loses what it gathered and knows when its own numbers are invalid:
//! the judge's admin questions go in pages that fit the mock's body limit, a failure at the
//! end still writes the results (marked incomplete, with the reason) before the run fails,
//! calls a stop kept from starting are counted apart (never `error`), and an engine that
//! refuses connections makes the run invalid unless the scenario allows it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use booking_engine::{Engine, EngineSettings, Policy};
use mock_calcom::{MockCalcom, MockConfig};
use sim::Scenario;
use simkit::transport::{Listener, Network};
use simkit::{SeedStreams, TokioClock};

const WEBHOOK_SECRET: &str = "whsec_live_results";

async fn listener() -> (Listener, String) {
    let l = Listener::bind(Network::Real, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

/// A mock (stopped when `stop_mock` resolves) and an engine under the scenario's preset.
async fn stack(
    scenario: &Scenario,
    stop_mock: impl std::future::Future<Output = ()> + Send + 'static,
) -> (String, String) {
    stack_with(scenario, &scenario.policy.preset, stop_mock).await
}

/// [`stack`] with the engine under `preset` (and the scenario's overrides).
async fn stack_with(
    scenario: &Scenario,
    preset: &str,
    stop_mock: impl std::future::Future<Output = ()> + Send + 'static,
) -> (String, String) {
    let (calcom_listener, calcom) = listener().await;
    let mock = MockCalcom::new(
        MockConfig::default(),
        Arc::new(TokioClock::real_time()),
        SeedStreams::new(1),
        Network::Real,
    );
    tokio::spawn(mock.serve(calcom_listener, stop_mock));
    let (engine_listener, engine) = listener().await;
    let policy = Policy::with_overrides(preset, &scenario.policy.overrides).unwrap();
    let settings = engine_settings(scenario, policy, &calcom);
    let app = Engine::new(
        settings,
        Arc::new(TokioClock::real_time()),
        SeedStreams::new(1),
        Network::Real,
    );
    tokio::spawn(booking_engine::server::serve(
        app,
        engine_listener,
        std::future::pending(),
    ));
    (engine, calcom)
}

/// The engine's settings for `scenario` under `policy`, against the mock at `calcom`.
fn engine_settings(scenario: &Scenario, policy: Policy, calcom: &str) -> EngineSettings {
    EngineSettings {
        catalog: scenario.catalog(),
        policy,
        calcom_url: calcom.to_owned(),
        calcom_api_key: "cal_live_test".into(),
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        retell_api_key: None,
    }
}

fn options(engine: &str, calcom: &str) -> sim::world::live::Options {
    sim::world::live::Options {
        engine: engine.to_owned(),
        calcom: calcom.to_owned(),
        retell_api_key: None,
        webhook_url: None,
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        seed: 1,
        admin_tokens: Default::default(),
    }
}

/// storm-overlap with its storm at `from`, lasting `storm` at `rate` calls/s, and `extra`
/// appended (a table of the scenario's own).
fn storm(rate: u32, from: &str, storm: &str, settle: &str, extra: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/storm-overlap.toml");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replacen("duration = \"30s\"", "duration = \"1s\"", 1)
        .replacen("settle = \"2m\"", &format!("settle = \"{settle}\""), 1)
        .replacen("rate = 100", &format!("rate = {rate}"), 1)
        .replacen("from = \"5s\"", &format!("from = \"{from}\""), 1)
        .replacen(
            "duration = \"100ms\"",
            &format!("duration = \"{storm}\""),
            1,
        )
        .replacen("gates = [", "gates = [] # [", 1)
        .replace("\n  \"", "\n# \"")
        .replacen("\n]\n", "\n#]\n", 1);
    Scenario::parse(&format!("{text}\n{extra}"), "storm-overlap").unwrap()
}

/// Fifty callers into three overlapping slots under a mock whose body limit is its
/// smallest (1 KiB): the judge asks about some fifty refusals, several KiB of questions,
/// and gets every answer (one request would have been refused with 413 and lost the run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judges_questions_fit_the_mocks_body_limit_however_many_calls() {
    let scenario = storm(
        100,
        "200ms",
        "500ms",
        "1s",
        "[calcom.api]\nmax_body_bytes = 1024\n",
    );
    let (engine, calcom) = stack(&scenario, std::future::pending()).await;
    let run = sim::world::live::drive(
        &scenario,
        &options(&engine, &calcom),
        std::future::pending(),
        |_, _, _| {},
    )
    .await
    .unwrap();
    assert_eq!(run.failure, None);
    assert!(!run.incomplete && run.truth_read);
    let summary = sim::pipeline::summarize_live(&run, 1).unwrap();
    let refused: u64 = ["race_lost", "refused_free", "unavailable"]
        .iter()
        .map(|o| summary.outcomes[*o])
        .sum();
    assert!(refused >= 20, "{:?}", summary.outcomes);
    assert_eq!(summary.outcomes["error"], 0, "{:?}", summary.outcomes);
    assert_eq!(summary.calls, 50);
}

/// The mock goes away while the run settles: reading its ground truth fails, and the run
/// still writes every call it made, marked incomplete with the reason, then fails (exit 1)
/// saying where the results are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_at_the_end_writes_the_results_first_marked_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("storm.toml");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/storm-overlap.toml");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replacen("duration = \"30s\"", "duration = \"1s\"", 1)
        .replacen("settle = \"2m\"", "settle = \"6s\"", 1)
        .replacen("from = \"5s\"", "from = \"300ms\"", 1);
    std::fs::write(&file, text).unwrap();
    let scenario = Scenario::parse(&std::fs::read_to_string(&file).unwrap(), "s").unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (engine, calcom) = stack(&scenario, async move {
        let _ = stop_rx.await;
    })
    .await;
    let out = dir.path().join("out");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_bookingsim"))
        .arg("live")
        .arg(&file)
        .args(["--engine", &engine, "--calcom", &calcom])
        .args(["--webhook-secret", WEBHOOK_SECRET])
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The calls are done within 1.5 s; the mock stops in the middle of the settle.
    simkit::time::sleep(Duration::from_secs(3)).await;
    stop_tx.send(()).unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("ground truth") && stderr.contains("marked incomplete"),
        "{stderr}"
    );
    assert!(
        stdout.contains("INCOMPLETE: reading the mock's ground truth"),
        "{stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["live"]["incomplete"], true);
    assert!(
        summary["live"]["incomplete_reason"]
            .as_str()
            .unwrap()
            .contains("ground truth")
    );
    // Every call it made is there; no invariant is claimed without the ground truth.
    assert_eq!(summary["calls"], 10, "{summary}");
    assert!(
        summary["live"]["not_observable"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "double_booking")
    );
    let history = std::fs::read_to_string(out.join("history.jsonl")).unwrap();
    assert!(history.lines().count() > 10);
}

/// Stopped at any of several instants of a storm: calls that never sent a function call
/// are counted as `not_started` and in no outcome; every call that ran has its answer (no
/// `error` for a call the stop kept from starting), and together they are every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_a_stop_keeps_from_starting_are_counted_apart() {
    let scenario = storm(10, "100ms", "3s", "0s", "");
    let planned = 30;
    for stop_ms in [250u64, 900, 1700, 2600] {
        let (engine, calcom) = stack(&scenario, std::future::pending()).await;
        let run = sim::world::live::drive(
            &scenario,
            &options(&engine, &calcom),
            simkit::time::sleep(Duration::from_millis(stop_ms)),
            |_, _, _| {},
        )
        .await
        .unwrap();
        assert!(run.incomplete && run.failure.is_none());
        let summary = sim::pipeline::summarize_live(&run, 1).unwrap();
        let section = summary.live.as_ref().unwrap();
        assert!(section.not_started > 0, "stopped at {stop_ms} ms");
        assert_eq!(
            summary.calls + section.not_started,
            planned,
            "stopped at {stop_ms} ms: {:?}",
            summary.outcomes
        );
        assert_eq!(summary.outcomes["error"], 0, "stopped at {stop_ms} ms");
        assert!(
            section
                .incomplete_reason
                .as_deref()
                .is_some_and(|r| r.contains("stopped")),
            "{section:?}"
        );
    }
}

/// No engine listening: every function call's connection is refused. The run is marked
/// invalid, in summary.json and the table, and fails: `[live] allow_invalid` alone does not
/// pass a run that never reached an engine (it says so); with `max_unanswered = 1.0` as
/// well it is marked and passes (it has no gates).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_refusing_connections_makes_the_run_invalid_unless_allowed() {
    for (allow, unanswered, passes) in [(false, 0.0, false), (true, 0.0, false), (true, 1.0, true)]
    {
        let scenario = storm(
            10,
            "100ms",
            "500ms",
            "0s",
            &format!("[live]\nallow_invalid = {allow}\nmax_unanswered = {unanswered:?}\n"),
        );
        let (_, calcom) = stack(&scenario, std::future::pending()).await;
        // A port that was free a moment ago: nothing listens there.
        let (l, dead) = listener().await;
        drop(l);
        let run = sim::world::live::drive(
            &scenario,
            &options(&dead, &calcom),
            std::future::pending(),
            |_, _, _| {},
        )
        .await
        .unwrap();
        let summary = sim::pipeline::summarize_live(&run, 1).unwrap();
        let section = summary.live.as_ref().unwrap();
        assert_eq!(section.refused_connections, 5, "{section:?}");
        assert_eq!(section.invalid.len(), 1, "{:?}", section.invalid);
        assert!(section.invalid[0].contains("live.max_refused"));
        assert_eq!(
            summary.passes(),
            passes,
            "allow_invalid = {allow}, max_unanswered = {unanswered}"
        );
        assert_eq!(
            section
                .unjudgeable
                .iter()
                .any(|w| w.contains("reached no engine")),
            unanswered < 1.0,
            "{:?}",
            section.unjudgeable
        );
        let table = sim::results::summary::render(&summary);
        assert!(table.contains("INVALID"), "{table}");
        let json = summary.to_json();
        assert_eq!(json["live"]["refused_connections"], 5);
    }
}

/// The engine states its policy at `GET /api/info`; a live run records it, and refuses an
/// engine whose policy is not the scenario's (every preset the scenario does not name),
/// naming both and what differs, before it sends anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engines_stated_policy_is_recorded_and_a_different_one_refused() {
    let scenario = storm(10, "100ms", "200ms", "0s", "");
    assert_eq!(scenario.policy.preset, "full");
    let (engine, calcom) = stack(&scenario, std::future::pending()).await;
    let client = simkit::transport::HttpClient::new(Network::Real, Default::default());
    let info = client
        .send(
            http::Request::get(format!("{engine}/api/info"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    assert_eq!(info["preset"], "full", "{info}");
    assert_eq!(info["policy"]["lock_fencing"], true, "{info}");
    let run = sim::world::live::drive(
        &scenario,
        &options(&engine, &calcom),
        std::future::pending(),
        |_, _, _| {},
    )
    .await
    .unwrap();
    let summary = sim::pipeline::summarize_live(&run, 1).unwrap();
    let section = summary.live.as_ref().unwrap();
    assert_eq!(section.engine_preset.as_deref(), Some("full"));
    assert_eq!(section.engine_policy.as_ref(), Some(&info["policy"]));
    assert!(sim::results::summary::render(&summary).contains("engine policy: full"));
    for (other, _) in booking_engine::policy::PRESETS {
        if Policy::preset(other) == Policy::preset("full") {
            continue;
        }
        let (engine, calcom) = stack_with(&scenario, other, std::future::pending()).await;
        let err = sim::world::live::drive(
            &scenario,
            &options(&engine, &calcom),
            std::future::pending(),
            |_, _, _| {},
        )
        .await
        .err()
        .unwrap();
        assert!(
            err.contains(&format!("runs policy {other}"))
                && err.contains("scenario's is full")
                && err.contains("(engine "),
            "{other}: {err}"
        );
    }
}

/// An engine on a data folder, served until the returned sender is dropped or fired.
async fn engine_on(
    scenario: &Scenario,
    calcom: &str,
    data: &Path,
    fresh: bool,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let (engine_listener, engine) = listener().await;
    let settings = engine_settings(scenario, scenario.policy().unwrap(), calcom);
    let app = Engine::with_backends(
        settings,
        Arc::new(TokioClock::real_time()),
        SeedStreams::new(1),
        Network::Real,
        booking_engine::engine::Backends::persistent(data, fresh).unwrap(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(booking_engine::server::serve(
        app,
        engine_listener,
        async move {
            let _ = stopped.await;
        },
    ));
    (engine, stop)
}

/// Two live runs in a row with `--data`, the engine restarted between them: restarted
/// as it was, it keeps the first run's appointments and refuses the second run's callers;
/// restarted with `--fresh` (the documented way), the second run's outcomes are the
/// first's. Over several seeds' callers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_in_a_row_with_data_give_the_same_outcomes_when_the_engine_starts_fresh() {
    // Three callers half a second apart for overlapping slots of one stylist.
    let scenario = storm(2, "100ms", "1500ms", "500ms", "");
    let data = tempfile::tempdir().unwrap();
    let (_, calcom) = stack(&scenario, std::future::pending()).await;
    let run = |engine: String, seed: u64| {
        let (scenario, calcom) = (scenario.clone(), calcom.clone());
        async move {
            let mut o = options(&engine, &calcom);
            o.seed = seed;
            let run = sim::world::live::drive(&scenario, &o, std::future::pending(), |_, _, _| {})
                .await
                .unwrap();
            sim::pipeline::summarize_live(&run, seed).unwrap().outcomes
        }
    };
    for seed in [1, 2] {
        let (engine, stop) = engine_on(&scenario, &calcom, data.path(), true).await;
        let first = run(engine, seed).await;
        let _ = stop.send(());
        assert!(first["booked"] >= 1, "{first:?}");
        // Restarted on the same folder as it was: the last run's appointments are in the way.
        let (engine, stop) = engine_on(&scenario, &calcom, data.path(), false).await;
        let stale = run(engine, seed).await;
        let _ = stop.send(());
        assert_ne!(
            stale, first,
            "seed {seed}: the kept appointments change nothing?"
        );
        // Restarted fresh: the same outcomes as the first run.
        let (engine, stop) = engine_on(&scenario, &calcom, data.path(), true).await;
        let again = run(engine, seed).await;
        let _ = stop.send(());
        assert_eq!(again, first, "seed {seed}");
    }
}

//! `booking-engine` as a user runs it, against a mock Cal.com over real sockets.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::Arc;

use booking_engine::policy::PRESETS;
use booking_engine::retell::TAKEN;
use bytes::Bytes;
use chrono::{Datelike, Days, Weekday};
use http::Request;
use http_body_util::Full;
use mock_calcom::{MockCalcom, MockConfig};
use serde_json::{Value, json};
use simkit::transport::{HttpClient, Listener, Network, Timeouts};
use simkit::{Clock, SeedStreams, TokioClock};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_booking-engine"))
}

#[test]
fn policies_lists_every_preset_and_a_wrong_one_is_refused() {
    let out = bin().arg("policies").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for (name, _) in PRESETS {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} missing from:\n{text}"
        );
    }
    let out = bin()
        .args(["serve", "--policy", "fastest"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown policy `fastest`"));
}

async fn post(client: &HttpClient, url: &str, body: Value, auth: bool) -> (u16, Value) {
    let mut req = Request::post(url).header("content-type", "application/json");
    if auth {
        req = req.header("authorization", "Bearer cal_live_salon_demo");
    }
    let response = client
        .send(req.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap();
    (
        response.status.as_u16(),
        serde_json::from_slice(&response.body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn serve_books_through_real_sockets_against_the_mock() {
    // The mock Cal.com on loopback, in real time, answering at once.
    let (mock, calcom) = demo_mock().await;
    let (mut child, engine, first) = start_engine(
        &calcom,
        &["--policy", "full", "--webhook-secret", "whsec_demo"],
    );
    assert!(first.contains("policy full"), "{first}");

    let client = HttpClient::new(Network::Real, Timeouts::default());
    let (status, _) = post(
        &client,
        &format!("{calcom}/v2/webhooks"),
        json!({ "active": true, "subscriberUrl": format!("{engine}/api/webhooks/calcom"), "triggers": ["BOOKING_CREATED"], "secret": "whsec_demo" }),
        true,
    )
    .await;
    assert_eq!(status, 201);

    // A weekday at least a week ahead, 12:00 in Berlin.
    let mut day = TokioClock::real_time().now().date_naive() + Days::new(8);
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        day = day + Days::new(1);
    }
    let function = |call_id: &str, name: &str| {
        json!({ "name": name, "call": { "call_id": call_id }, "args": {
            "datum": day.to_string(), "uhrzeit": "12:00", "datetime": format!("{day}T12:00"),
            "dienstleistung": "Herrenhaarschnitt", "name": "Siegfried Reu" } })
    };
    let url = format!("{engine}/api/webhooks/retell/function");
    let (_, checked) = post(
        &client,
        &url,
        function("call_1", "check_availability"),
        false,
    )
    .await;
    assert_eq!(checked["available"], true, "{checked}");
    let (_, booked) = post(&client, &url, function("call_1", "start_booking"), false).await;
    assert_eq!(booked["success"], true, "{booked}");
    // Both stylists are free at 12:00 in the demo; a third caller finds none.
    let (_, second) = post(&client, &url, function("call_2", "start_booking"), false).await;
    assert_eq!(second["success"], true, "{second}");
    let (_, third) = post(&client, &url, function("call_3", "start_booking"), false).await;
    assert_eq!(third["success"], false, "{third}");
    assert_eq!(third["error"], TAKEN);

    let truth = mock.ground_truth();
    assert_eq!(truth.bookings.len(), 2);
    let deliveries = mock.webhook_deliveries();
    assert!(
        deliveries.iter().all(|d| d.outcome == "delivered"),
        "the engine refused a signed webhook: {deliveries:?}"
    );

    // SIGTERM, as a container platform stops it: a graceful stop, not a kill.
    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(
        child.0.wait().unwrap().success(),
        "stops with success on SIGTERM"
    );
}

/// A served engine, killed when dropped (a failing test must not leave it running).
struct Served(std::process::Child);

impl Served {
    /// SIGKILL: a crash, nothing flushed or closed.
    fn crash(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.crash();
    }
}

/// The demo world on loopback, in real time, answering at once; its URL.
async fn demo_mock() -> (Arc<MockCalcom>, String) {
    let mut config = MockConfig::demo();
    config.latency = mock_calcom::config::LatencyConfig::instant();
    config.consistency.slots_lag = simkit::Distribution::ZERO;
    config.webhooks.delay = simkit::Distribution::ZERO;
    let mock = MockCalcom::new(
        config,
        Arc::new(TokioClock::real_time()),
        SeedStreams::new(1),
        Network::Real,
    );
    let listener = Listener::bind(Network::Real, (Ipv4Addr::LOCALHOST, 0).into())
        .await
        .unwrap();
    let calcom = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(mock.clone().serve(listener, std::future::pending()));
    (mock, calcom)
}

/// Starts `booking-engine serve` against `calcom`, with `extra` arguments: it, its URL and
/// the first line it printed.
fn start_engine(calcom: &str, extra: &[&str]) -> (Served, String, String) {
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--calcom-url", calcom])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    // Keep reading what the server prints, as a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    (Served(child), url, first)
}

/// Killed (SIGKILL) after answering "gebucht", `serve --data` restarts with the appointment
/// still there, and Retell retrying the same call gets the same booking, not a second one.
#[tokio::test]
async fn with_data_a_crash_loses_nothing_answered_and_a_retry_books_once() {
    let (mock, calcom) = demo_mock().await;
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().display().to_string();

    let mut day = TokioClock::real_time().now().date_naive() + Days::new(8);
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        day = day + Days::new(1);
    }
    let booking = json!({ "name": "start_booking", "call": { "call_id": "call_crash" }, "args": {
        "datetime": format!("{day}T10:00"), "service_name": "Herrenhaarschnitt",
        "customer_name": "Siegfried Reu" } });
    let client = HttpClient::new(Network::Real, Timeouts::default());

    let (mut first, engine, _) = start_engine(&calcom, &["--data", &data_arg]);
    let url = format!("{engine}/api/webhooks/retell/function");
    let (_, booked) = post(&client, &url, booking.clone(), false).await;
    assert_eq!(booked["success"], true, "{booked}");
    first.crash();

    let (_second, engine, _) = start_engine(&calcom, &["--data", &data_arg]);
    let listed = client
        .send(
            Request::get(format!("{engine}/api/appointments"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let listed: Value = listed.json().unwrap();
    let text = listed.to_string();
    assert!(
        text.contains("call_crash"),
        "the answered booking survived: {text}"
    );
    let (_, retried) = post(
        &client,
        &format!("{engine}/api/webhooks/retell/function"),
        booking,
        false,
    )
    .await;
    assert_eq!(retried["success"], true, "{retried}");
    let theirs: Vec<_> = mock
        .ground_truth()
        .bookings
        .into_iter()
        .filter(|b| b.meta("call_id") == Some("call_crash") && b.status != "cancelled")
        .collect();
    assert_eq!(theirs.len(), 1, "booked once: {theirs:?}");
}

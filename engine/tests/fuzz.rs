//! Generated requests against `booking-engine serve` (on loopback, against a mock Cal.com):
//! Retell function calls with random and boundary arguments (dates of every shape, years far
//! out, unknown services, wrong types), Cal.com webhooks with bad signatures, salon-channel
//! appointments, random paths and bytes. The engine answers every one (no panic, no 5xx),
//! function calls in JSON, and it still books normally afterwards.

use std::sync::Arc;

use booking_engine::catalog::Catalog;
use booking_engine::retell::FUNCTIONS;
use booking_engine::{Engine, EngineSettings, Policy};
use bytes::Bytes;
use chrono::DateTime;
use http::Request;
use http_body_util::Full;
use mock_calcom::{MockCalcom, MockConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::{Value, json};
use simkit::transport::{HttpClient, Listener, Network, Timeouts};
use simkit::{ManualClock, SeedStreams};

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("2025-11-25")),
        Just(json!("morgen")),
        Just(json!("übermorgen")),
        Just(json!("nächster Freitag")),
        Just(json!("28.11.")),
        Just(json!("31.02.2026")),
        Just(json!("+262142-12-31")),
        Just(json!("9999-12-31")),
        Just(json!("0000-01-01")),
        Just(json!("10:00")),
        Just(json!("25:61")),
        Just(json!("14 Uhr")),
        Just(json!("2025-11-25T10:00")),
        Just(json!("2025-11-25T10:00:00+01:00")),
        Just(json!("+262142-12-31T10:00")),
        Just(json!("Herrenhaarschnitt")),
        Just(json!("Dauerwelle")),
        Just(json!("Färben")),
        Just(json!("")),
        ".{0,30}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!(null)),
        Just(json!([1, 2])),
        Just(json!({ "nested": true })),
    ]
}

const ARGS: [&str; 9] = [
    "datum",
    "uhrzeit",
    "dienstleistung",
    "datetime",
    "service_name",
    "customer_name",
    "name",
    "call_id",
    "service",
];

#[derive(Debug, Clone)]
struct Fuzzed {
    path: &'static str,
    method: &'static str,
    body: Vec<u8>,
    signature: Option<String>,
}

fn function_call() -> impl Strategy<Value = Fuzzed> {
    (
        prop_oneof![
            4 => prop::sample::select(FUNCTIONS.to_vec()).prop_map(Value::from),
            1 => text(),
        ],
        prop::collection::vec((prop::sample::select(ARGS.to_vec()), text()), 0..7),
        any::<bool>(),
        prop_oneof![Just(json!("call_fuzz")), text()],
    )
        .prop_map(|(name, args, at_root, call_id)| {
            let args: serde_json::Map<String, Value> =
                args.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let body = if at_root {
                let mut b = Value::Object(args);
                b["name"] = name;
                b
            } else {
                json!({ "name": name, "call": { "call_id": call_id }, "args": args })
            };
            Fuzzed {
                path: "/api/webhooks/retell/function",
                method: "POST",
                body: body.to_string().into_bytes(),
                signature: None,
            }
        })
}

/// A call the engine can act on (a real service, a day this week, a time on the grid), with
/// up to two arguments replaced: what reaches the booking path and its refusals.
fn plausible_call() -> impl Strategy<Value = Fuzzed> {
    (
        prop::sample::select(vec!["check_availability", "start_booking", "get_alternatives", "cancel_appointment"]),
        prop::sample::select(vec!["Herrenhaarschnitt", "Dauerwelle"]),
        25..29u32,
        prop::sample::select(vec!["09:00", "09:30", "10:00", "10:50", "12:00", "16:40", "17:45"]),
        0..6u32,
        prop::collection::vec((prop::sample::select(ARGS.to_vec()), text()), 0..2),
    )
        .prop_map(|(name, service, day, time, caller, overrides)| {
            let date = format!("2025-11-{day}");
            let mut args = json!({
                "datum": date, "uhrzeit": time, "dienstleistung": service,
                "datetime": format!("{date}T{time}"), "service_name": service,
                "customer_name": "Kundin",
            });
            for (k, v) in overrides {
                args[k] = v;
            }
            Fuzzed {
                path: "/api/webhooks/retell/function",
                method: "POST",
                body: json!({ "name": name, "call": { "call_id": format!("call_{caller}") }, "args": args })
                    .to_string()
                    .into_bytes(),
                signature: None,
            }
        })
}

fn other_request() -> impl Strategy<Value = Fuzzed> {
    (
        prop::sample::select(vec![
            ("/api/webhooks/retell/function", "POST"),
            ("/api/webhooks/calcom", "POST"),
            ("/api/appointments", "POST"),
            ("/api/appointments", "GET"),
            ("/health", "GET"),
            ("/nope", "DELETE"),
        ]),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..80),
            prop::collection::vec((prop::sample::select(ARGS.to_vec()), text()), 0..6).prop_map(
                |fields| {
                    let m: serde_json::Map<String, Value> =
                        fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                    Value::Object(m).to_string().into_bytes()
                }
            ),
            Just(br#"{"triggerEvent":"BOOKING_CREATED","payload":{"eventTypeId":1001,"startTime":"2025-11-25T10:00:00Z"}}"#.to_vec()),
        ],
        prop::option::of("[0-9a-f]{0,64}"),
    )
        .prop_map(|((path, method), body, signature)| Fuzzed {
            path,
            method,
            body,
            signature,
        })
}

#[test]
fn generated_requests_are_answered_and_the_engine_keeps_booking() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let now = DateTime::parse_from_rfc3339("2025-11-24T08:00:00Z")
        .unwrap()
        .to_utc();
    let clock = ManualClock::new(now);
    let (engine_url, client) = rt.block_on(async {
        let mut world = MockConfig::demo();
        world.api.rate_limit.enabled = false;
        world.latency = toml::from_str("default = { fixed = \"0s\" }").unwrap();
        world.consistency = toml::from_str(
            "slots_lag = { fixed = \"0s\" }\nreservation_window = { fixed = \"0s\" }",
        )
        .unwrap();
        let mock = MockCalcom::new(world, Arc::new(clock.clone()), SeedStreams::new(3), Network::Real);
        let listener = Listener::bind(Network::Real, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let calcom_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(mock.serve(listener, std::future::pending()));
        let overrides = toml::from_str(
            "[infra]\nredis = { fixed = \"0s\" }\ndatabase = { fixed = \"0s\" }\n[retry]\nmax_retries = 0\nconflict_backoff = []\n",
        )
        .unwrap();
        let engine = Engine::new(
            EngineSettings {
                catalog: Catalog::demo(),
                policy: Policy::with_overrides("full", &overrides).unwrap(),
                calcom_url,
                calcom_api_key: "cal_live_fuzz".into(),
                webhook_secret: Some("whsec_fuzz".into()),
                retell_api_key: None,
            },
            Arc::new(clock.clone()),
            SeedStreams::new(3),
            Network::Real,
        );
        let listener = Listener::bind(Network::Real, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(booking_engine::server::serve(engine, listener, std::future::pending()));
        (url, HttpClient::new(Network::Real, Timeouts::default()))
    });
    let send = |f: &Fuzzed| {
        let mut req = Request::builder()
            .method(f.method)
            .uri(format!("{engine_url}{}", f.path))
            .header("content-type", "application/json");
        if let Some(sig) = &f.signature {
            req = req.header("x-cal-signature-256", sig.as_str());
        }
        let req = req.body(Full::new(Bytes::from(f.body.clone()))).unwrap();
        rt.block_on(client.send(req))
    };
    let mut runner = TestRunner::new(Config {
        cases: 600,
        rng_seed: RngSeed::Fixed(5),
        failure_persistence: None,
        ..Config::default()
    });
    let answered = std::sync::Mutex::new(std::collections::BTreeMap::<String, u32>::new());
    runner
        .run(
            &prop_oneof![3 => plausible_call(), 2 => function_call(), 1 => other_request()],
            |f| {
                let response =
                    send(&f).map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
                let status = response.status.as_u16();
                prop_assert!(status < 500, "{status} for {f:?}: {:?}", response.body);
                if f.path.ends_with("/function") {
                    let function = serde_json::from_slice::<Value>(&f.body)
                        .ok()
                        .and_then(|b| b["name"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let kind = if status == 200 {
                        let answer: Value = serde_json::from_slice(&response.body)
                            .map_err(|_| TestCaseError::fail(format!("not JSON for {f:?}")))?;
                        answer["error_type"]
                            .as_str()
                            .map_or_else(|| format!("success={}", answer["success"]), str::to_owned)
                    } else {
                        format!("HTTP {status}")
                    };
                    *answered
                        .lock()
                        .unwrap()
                        .entry(format!("{function}: {kind}"))
                        .or_default() += 1;
                }
                Ok(())
            },
        )
        .unwrap();
    let answered = answered.into_inner().unwrap();
    eprintln!("function answers: {answered:?}");
    // Bookings, refusals of several kinds, and invalid requests all happened.
    for kind in [
        "start_booking: success=true",
        "start_booking: slot_taken",
        "check_availability: success=true",
    ] {
        assert!(
            answered.contains_key(kind),
            "never reached `{kind}`: {answered:?}"
        );
    }
    assert!(
        answered.len() >= 10,
        "the calls reached too few paths: {answered:?}"
    );
    // Still booking: a plain call books.
    let book = Fuzzed {
        path: "/api/webhooks/retell/function",
        method: "POST",
        body: json!({ "name": "start_booking", "call": { "call_id": "call_after" },
            "args": { "datetime": "2025-11-28T16:00", "service_name": "Herrenhaarschnitt", "customer_name": "Danach" } })
        .to_string()
        .into_bytes(),
        signature: None,
    };
    let answer: Value = serde_json::from_slice(&send(&book).unwrap().body).unwrap();
    assert_eq!(answer["booked"], true, "{answer}");
}

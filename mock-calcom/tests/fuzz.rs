//! Generated requests against `mock-calcom serve` on loopback: random and boundary methods,
//! paths (any bytes, percent-encoded), query strings, headers and bodies. Whatever comes in,
//! the mock answers (no panic, no hang), never with a 5xx (no fault is configured), and every
//! error is in Cal.com's JSON envelope; afterwards it still serves a normal request.

mod common;

use bytes::Bytes;
use common::{KEY, one_host};
use http::Request;
use http_body_util::Full;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde_json::{Value, json};
use simkit::transport::{HttpClient, Network, Timeouts};

/// The mock's endpoints: method, path (`{}`: a generated segment) and version.
const ENDPOINTS: [(&str, &str, &str); 13] = [
    ("GET", "/v2/slots", "2024-09-04"),
    ("GET", "/v2/slots/available", "2024-08-13"),
    ("POST", "/v2/slots/reservations", "2024-09-04"),
    ("GET", "/v2/slots/reservations/{}", "2024-09-04"),
    ("PATCH", "/v2/slots/reservations/{}", "2024-09-04"),
    ("DELETE", "/v2/slots/reservations/{}", "2024-09-04"),
    ("POST", "/v2/slots/reserve", "2024-04-15"),
    ("DELETE", "/v2/slots/selected-slot", "2024-04-15"),
    ("POST", "/v2/bookings", "2024-08-13"),
    ("GET", "/v2/bookings/{}", "2024-08-13"),
    ("POST", "/v2/bookings/{}/cancel", "2024-08-13"),
    ("POST", "/v2/bookings/{}/reschedule", "2024-08-13"),
    ("POST", "/v2/webhooks", "2024-08-13"),
];

/// Route shapes the mock serves, with `{}` for a generated segment.
const ROUTES: [&str; 12] = [
    "/v2/slots",
    "/v2/slots/available",
    "/v2/slots/reservations",
    "/v2/slots/reservations/{}",
    "/v2/slots/reserve",
    "/v2/slots/selected-slot",
    "/v2/bookings",
    "/v2/bookings/{}",
    "/v2/bookings/{}/cancel",
    "/v2/bookings/{}/reschedule",
    "/v2/webhooks/{}",
    "/{}",
];
const KEYS: [&str; 14] = [
    "eventTypeId",
    "start",
    "end",
    "startTime",
    "endTime",
    "timeZone",
    "format",
    "duration",
    "uid",
    "take",
    "eventTypeSlug",
    "username",
    "bookingUidToReschedule",
    "usernames",
];
const FIELDS: [&str; 14] = [
    "eventTypeId",
    "start",
    "slotStart",
    "slotDuration",
    "reservationDuration",
    "attendee",
    "metadata",
    "lengthInMinutes",
    "cancellationReason",
    "subscriberUrl",
    "triggers",
    "slotUtcStartDate",
    "slotUtcEndDate",
    "active",
];

/// Percent-encodes every byte that is not unreserved, so any bytes make a valid URI.
fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (*b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Values a field or parameter might be given: boundaries, wrong types, garbage.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(4_294_967_295u64)),
        Just(json!(1001)),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!("2025-11-25T10:00:00Z")),
        Just(json!("0001-01-01T00:00:00Z")),
        Just(json!("9999-12-31T23:59:59Z")),
        Just(json!("+262142-12-31T00:00:00Z")),
        Just(json!("2025-11-25")),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec((prop::sample::select(FIELDS.to_vec()), inner), 0..6).prop_map(
                |pairs| {
                    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }
            ),
        ]
    })
}

/// One generated request.
#[derive(Debug, Clone)]
struct Fuzzed {
    method: &'static str,
    path: String,
    version: Option<String>,
    auth: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

fn request() -> impl Strategy<Value = Fuzzed> {
    prop_oneof![3 => endpoint_request(), 1 => random_request()]
}

/// A request to a real endpoint with the right method, version and key, and generated
/// parameters and body: what gets past the routing into the handlers.
fn endpoint_request() -> impl Strategy<Value = Fuzzed> {
    (
        prop::sample::select(ENDPOINTS.to_vec()),
        prop_oneof![
            Just(b"unknown".to_vec()),
            prop::collection::vec(any::<u8>(), 0..12)
        ],
        prop::collection::vec(
            (
                prop::sample::select(KEYS.to_vec()),
                value().prop_map(|v| match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                }),
            ),
            0..6,
        ),
        prop::collection::vec((prop::sample::select(FIELDS.to_vec()), value()), 0..3),
        0..8u32,
    )
        .prop_map(|((method, route, version), segment, query, fields, hour)| {
            let mut path = route.replace("{}", &encode(&segment));
            if !query.is_empty() {
                let q: Vec<String> = query
                    .iter()
                    .map(|(k, v)| format!("{k}={}", encode(v.as_bytes())))
                    .collect();
                path = format!("{path}?{}", q.join("&"));
            }
            // A body the endpoint accepts, with a few fields replaced by generated values.
            let start = format!("2025-11-25T{:02}:00:00Z", 8 + hour);
            let mut body = match (method, route) {
                ("POST", "/v2/slots/reservations") | ("PATCH", _) => {
                    json!({ "eventTypeId": 1001, "slotStart": start })
                }
                ("POST", "/v2/bookings") => json!({
                    "start": start, "eventTypeId": 1001,
                    "attendee": { "name": "Anrufer", "email": "a@example.com", "timeZone": "Europe/Berlin" }
                }),
                ("POST", "/v2/slots/reserve") => json!({
                    "eventTypeId": 1001, "slotUtcStartDate": start, "slotUtcEndDate": start
                }),
                (_, r) if r.ends_with("/reschedule") => json!({ "start": start }),
                (_, r) if r.ends_with("/cancel") => json!({ "cancellationReason": "Fuzz" }),
                ("POST", "/v2/webhooks") => json!({
                    "active": true, "subscriberUrl": "http://127.0.0.1:9/hook", "triggers": ["BOOKING_CREATED"]
                }),
                _ => json!({}),
            };
            for (k, v) in fields {
                body[k] = v;
            }
            Fuzzed {
                method,
                path,
                version: Some(version.to_owned()),
                auth: Some(KEY.to_owned()),
                content_type: Some("application/json".to_owned()),
                body: body.to_string().into_bytes(),
            }
        })
}

/// Anything at all: random routes, methods, versions, keys, content types and bodies.
fn random_request() -> impl Strategy<Value = Fuzzed> {
    let path = (
        prop::sample::select(ROUTES.to_vec()),
        prop::collection::vec(any::<u8>(), 0..24),
        prop::collection::vec(
            (
                prop::sample::select(KEYS.to_vec()),
                prop_oneof![
                    value().prop_map(|v| match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    }),
                    prop::collection::vec(any::<u8>(), 0..12)
                        .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
                ],
            ),
            0..5,
        ),
    )
        .prop_map(|(route, segment, query)| {
            let mut path = route.replace("{}", &encode(&segment));
            if !query.is_empty() {
                let q: Vec<String> = query
                    .iter()
                    .map(|(k, v)| format!("{k}={}", encode(v.as_bytes())))
                    .collect();
                path = format!("{path}?{}", q.join("&"));
            }
            path
        });
    let body = prop_oneof![
        value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
        Just(Vec::new()),
    ];
    (
        prop::sample::select(vec!["GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"]),
        path,
        prop::option::of(prop_oneof![
            Just("2024-09-04".to_owned()),
            Just("2024-08-13".to_owned()),
            Just("2024-04-15".to_owned()),
            "[ -~]{0,12}",
        ]),
        prop::option::of(prop_oneof![
            Just(KEY.to_owned()),
            Just("Bearer ".to_owned()),
            "[ -~]{0,30}"
        ]),
        prop::option::of(prop_oneof![
            Just("application/json".to_owned()),
            Just("text/plain".to_owned()),
            "[ -~]{0,20}",
        ]),
        body,
    )
        .prop_map(|(method, path, version, auth, content_type, body)| Fuzzed {
            method,
            path,
            version,
            auth,
            content_type,
            body,
        })
}

#[test]
fn generated_requests_get_answers_in_the_envelope_and_the_mock_keeps_serving() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The throttler would answer most of them 429 before any handler saw them.
    let mut world = one_host();
    world.api.rate_limit.enabled = false;
    let running = rt.block_on(common::serve(world));
    let client = HttpClient::new(Network::Real, Timeouts::default());
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        rng_seed: RngSeed::Fixed(11),
        failure_persistence: None,
        ..Config::default()
    });
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    runner
        .run(&request(), |f| {
            let mut req = Request::builder()
                .method(f.method)
                .uri(format!("{}{}", running.base, f.path));
            for (name, value) in [
                ("cal-api-version", &f.version),
                ("authorization", &f.auth),
                ("content-type", &f.content_type),
            ] {
                if let Some(v) = value {
                    req = req.header(name, v.as_str());
                }
            }
            let Ok(req) = req.body(Full::new(Bytes::from(f.body.clone()))) else {
                return Ok(()); // not a request a client can send (a header that is not ASCII)
            };
            let response = rt
                .block_on(client.send(req))
                .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
            let status = response.status.as_u16();
            *statuses.lock().unwrap().entry(status).or_default() += 1;
            prop_assert!(status < 500, "{status} for {f:?}: {:?}", response.body);
            if status >= 400 {
                let body: Value = serde_json::from_slice(&response.body).map_err(|_| {
                    TestCaseError::fail(format!(
                        "{status} without the envelope for {f:?}: {:?}",
                        String::from_utf8_lossy(&response.body)
                    ))
                })?;
                prop_assert_eq!(&body["status"], "error", "{:?}", f);
                prop_assert!(body["error"]["code"].is_string(), "{body} for {f:?}");
            }
            Ok(())
        })
        .unwrap();
    // The requests reached the handlers: successes and several kinds of refusal.
    let statuses = statuses.into_inner().unwrap();
    eprintln!("answers by status: {statuses:?}");
    assert!(statuses.values().sum::<u32>() >= 1500, "{statuses:?}");
    assert!(
        statuses.keys().filter(|s| **s >= 400).count() >= 4,
        "{statuses:?}"
    );
    assert!(statuses.keys().any(|s| *s < 300), "{statuses:?}");
    assert!(
        statuses.contains_key(&422) || statuses.contains_key(&201),
        "{statuses:?}"
    );
    // Still serving: a well-formed listing answers.
    let ok = rt
        .block_on(
            client.send(
                Request::get(format!(
                    "{}/v2/slots?eventTypeId=1001&start=2025-11-25&end=2025-11-25",
                    running.base
                ))
                .header("cal-api-version", "2024-09-04")
                .body(Full::new(Bytes::new()))
                .unwrap(),
            ),
        )
        .unwrap();
    assert_eq!(ok.status.as_u16(), 200);
}

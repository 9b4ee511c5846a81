//! The engine against the mock Cal.com in a turmoil simulation: a Retell client host calls
//! functions, the mock books behind the engine's back, webhooks flow back signed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use booking_engine::catalog::Catalog;
use booking_engine::retell::TAKEN;
use booking_engine::{EngineSettings, Policy};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use mock_calcom::{MockCalcom, MockConfig};
use serde_json::{Value, json};
use simkit::SeedStreams;
use simkit::transport::{HttpClient, Network, Timeouts};

/// Monday 2025-11-24 09:00 in Berlin.
const EPOCH: u64 = 1_763_971_200;

const WORLD: &str = r#"
[api]
first_booking_id = 741

[[hosts]]
id = 1
name = "Fabian Spitzer"
working_hours = { weekdays = ["09:00-18:00"] }

[[event_types]]
id = 1001
slug = "herrenhaarschnitt"
title = "Herrenhaarschnitt"
length_minutes = 30
hosts = [1]

[[event_types]]
id = 1002
slug = "dauerwelle-a"
title = "Dauerwelle A"
length_minutes = 45
slot_interval_minutes = 15
hosts = [1]

[[event_types]]
id = 1003
slug = "dauerwelle-b"
title = "Dauerwelle B"
length_minutes = 45
slot_interval_minutes = 15
hosts = [1]

[[event_types]]
id = 1004
slug = "dauerwelle-d"
title = "Dauerwelle D"
length_minutes = 45
slot_interval_minutes = 5
hosts = [1]

[[webhooks.subscriptions]]
subscriber_url = "http://engine/api/webhooks/calcom"
triggers = ["BOOKING_CREATED", "BOOKING_CANCELLED", "BOOKING_RESCHEDULED"]
secret = "whsec_salon"
"#;

fn catalog() -> Catalog {
    let mut c = Catalog::demo();
    for s in &mut c.services {
        s.staff = vec![1];
    }
    c
}

/// A simulation with the mock Cal.com (`world`) and the engine (`policy`) as hosts, the
/// mock sending signed webhooks to the engine.
fn simulation(
    world: &str,
    policy: Policy,
    retell_key: Option<&'static str>,
    seed: u64,
) -> turmoil::Sim<'static> {
    let world = MockConfig::from_toml(world, "world").unwrap();
    simulation_of(world, catalog(), policy, retell_key, seed)
}

/// [`simulation`] of any mock world and catalogue.
fn simulation_of(
    mock_config: MockConfig,
    catalog: Catalog,
    policy: Policy,
    retell_key: Option<&'static str>,
    seed: u64,
) -> turmoil::Sim<'static> {
    let mut sim = turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH))
        .tick_duration(Duration::from_millis(10))
        .simulation_duration(Duration::from_secs(3600))
        .min_message_latency(Duration::from_millis(20))
        .max_message_latency(Duration::from_millis(40))
        .build();
    sim.host("calcom", move || {
        let config = mock_config.clone();
        async move { Ok(MockCalcom::run_simulated(config, SeedStreams::new(seed), 80).await?) }
    });
    sim.host("engine", move || {
        let settings = EngineSettings {
            catalog: catalog.clone(),
            policy: policy.clone(),
            calcom_url: "http://calcom".into(),
            calcom_api_key: "cal_live_salon".into(),
            webhook_secret: Some("whsec_salon".into()),
            retell_api_key: retell_key.map(str::to_owned),
        };
        async move {
            Ok(booking_engine::server::run_simulated(settings, SeedStreams::new(seed), 80).await?)
        }
    });
    sim
}

/// One step of a call script: at `at` seconds, call `function` with `args` (or, for
/// `"external"`, book `args` behind the engine's back through the mock's admin API).
struct Step {
    at: f64,
    call_id: &'static str,
    function: &'static str,
    args: Value,
}

fn step(at: f64, call_id: &'static str, function: &'static str, args: Value) -> Step {
    Step {
        at,
        call_id,
        function,
        args,
    }
}

/// Runs `steps` against an engine with `policy`; returns each step's answer and the mock's
/// ground truth at the end.
fn run(policy: Policy, steps: Vec<Step>, retell_key: Option<&'static str>) -> (Vec<Value>, Value) {
    run_in(WORLD, policy, steps, retell_key)
}

/// [`run`] in another mock world (TOML).
fn run_in(
    world: &str,
    policy: Policy,
    steps: Vec<Step>,
    retell_key: Option<&'static str>,
) -> (Vec<Value>, Value) {
    let mut sim = simulation(world, policy, retell_key, 741);
    let out = Arc::new(Mutex::new((Vec::new(), Value::Null)));
    let sink = out.clone();
    sim.client("retell", async move {
        let client = HttpClient::new(Network::Simulated, Timeouts::default());
        let started = tokio::time::Instant::now();
        let mut answers = Vec::new();
        for s in steps {
            simkit::time::sleep_until(started + Duration::from_secs_f64(s.at)).await;
            let mut signature = None;
            let (url, body) = if s.function == "external" {
                ("http://calcom/_mock/bookings".to_string(), s.args.clone())
            } else if s.function == "channel" {
                ("http://engine/api/appointments".to_string(), s.args.clone())
            } else if s.function == "appointments" {
                let response = client
                    .send(
                        Request::get("http://engine/api/appointments")
                            .body(Full::new(Bytes::new()))
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                answers.push(serde_json::from_slice(&response.body).unwrap());
                continue;
            } else if s.function == "forged_webhook" {
                signature = s.call_id.strip_prefix("sig:");
                (
                    "http://engine/api/webhooks/calcom".to_string(),
                    s.args.clone(),
                )
            } else {
                (
                    "http://engine/api/webhooks/retell/function".to_string(),
                    json!({ "name": s.function, "call": { "call_id": s.call_id }, "args": s.args }),
                )
            };
            let mut request = Request::post(url).header("content-type", "application/json");
            if let Some(sig) = signature {
                request = request.header("x-cal-signature-256", sig);
            }
            let request = request
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap();
            let sent = tokio::time::Instant::now();
            let response = client.send(request).await.unwrap();
            let mut answer: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
            answer["http_status"] = json!(response.status.as_u16());
            answer["elapsed_ms"] = json!(sent.elapsed().as_millis() as u64);
            answers.push(answer);
        }
        simkit::time::sleep(Duration::from_secs(5)).await;
        let truth = client
            .send(
                Request::get("http://calcom/_mock/state")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        *sink.lock().unwrap() = (answers, serde_json::from_slice(&truth.body).unwrap());
        Ok(())
    });
    sim.run().unwrap();
    let out = out.lock().unwrap();
    out.clone()
}

fn check(call_id: &'static str, at: f64, time: &str) -> Step {
    step(
        at,
        call_id,
        "check_availability_v17",
        json!({ "datum": "2025-11-25", "uhrzeit": time, "dienstleistung": "Herrenhaarschnitt", "name": "Siegfried Reu", "call_id": call_id }),
    )
}

fn book(call_id: &'static str, at: f64, time: &str) -> Step {
    step(
        at,
        call_id,
        "start_booking",
        json!({ "datetime": format!("2025-11-25T{time}"), "service_name": "Herrenhaarschnitt", "customer_name": "Siegfried Reu", "call_id": call_id }),
    )
}

fn staff_books(at: f64, utc: &str) -> Step {
    step(
        at,
        "",
        "external",
        json!({ "eventTypeId": 1001, "start": utc, "attendeeName": "Stammkundin (Salon)" }),
    )
}

fn active_bookings(truth: &Value) -> usize {
    truth["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"] == "accepted")
        .count()
}

#[test]
fn check_then_book_then_a_second_caller_is_refused_and_retries_book_once() {
    let (answers, truth) = run(
        Policy::baseline(),
        vec![
            check("call_a", 17.0, "12:00"),
            book("call_a", 38.5, "12:00"),
            book("call_a", 40.0, "12:00"), // Retell retries the function call
            check("call_b", 45.0, "12:00"),
            book("call_b", 60.0, "12:00"),
        ],
        None,
    );
    assert_eq!(answers[0]["available"], true, "{}", answers[0]);
    assert_eq!(
        answers[0]["message"],
        "Ja, Herrenhaarschnitt ist verfügbar am Dienstag, den 25. November um 12:00 Uhr."
    );
    assert_eq!(answers[0]["requested_time"], "2025-11-25 12:00");
    assert_eq!(answers[1]["success"], true, "{}", answers[1]);
    assert_eq!(
        answers[2]["appointment_id"], answers[1]["appointment_id"],
        "the retry books nothing new"
    );
    // The internal booking dropped the cached week: the second caller hears the truth.
    assert_eq!(answers[3]["available"], false, "{}", answers[3]);
    assert!(!answers[3]["alternatives"].as_array().unwrap().is_empty());
    assert_eq!(answers[4]["success"], false);
    assert_eq!(answers[4]["error"], TAKEN);
    assert_eq!(active_bookings(&truth), 1);
}

/// #741: told free at T+17.0, the slot is taken behind the engine's back, booking at T+38.5.
fn incident_741(policy: Policy) -> Vec<Value> {
    let (answers, _) = run(
        policy,
        vec![
            check("call_741", 17.0, "12:00"),
            staff_books(25.0, "2025-11-25T11:00:00Z"),
            book("call_741", 38.5, "12:00"),
        ],
        None,
    );
    answers
}

#[test]
fn incident_741_is_told_free_then_vergeben_under_baseline() {
    let answers = incident_741(Policy::baseline());
    assert_eq!(answers[0]["available"], true);
    assert_eq!(
        answers[1]["http_status"], 201,
        "staff booking went through: {}",
        answers[1]
    );
    assert_eq!(answers[2]["success"], false);
    assert_eq!(
        answers[2]["error"],
        "Dieser Termin wurde gerade vergeben. Bitte wählen Sie einen anderen Zeitpunkt."
    );
    assert_eq!(
        answers[2]["error_type"], "slot_taken",
        "Cal.com refused it: {}",
        answers[2]
    );
}

#[test]
fn the_double_check_catches_it_before_calling_calcom_and_offers_alternatives() {
    let answers = incident_741(Policy::preset("double-check").unwrap());
    assert_eq!(answers[2]["success"], false);
    assert_eq!(
        answers[2]["error_type"], "availability_changed",
        "{}",
        answers[2]
    );
    assert_eq!(answers[2]["alternatives_available"], true);
}

#[test]
fn webhook_invalidation_tells_the_truth_at_the_check() {
    // A check for 11:00 warms the cache; staff takes 12:00; the check for 12:00 comes while
    // the cached week is 20 s old.
    let script = || {
        vec![
            check("call_warm", 0.0, "11:00"),
            staff_books(5.0, "2025-11-25T11:00:00Z"),
            check("call_741", 20.0, "12:00"),
            book("call_741", 41.5, "12:00"),
        ]
    };
    let (baseline, _) = run(Policy::baseline(), script(), None);
    assert_eq!(
        baseline[2]["available"], true,
        "baseline answers from the stale cache"
    );
    assert_eq!(baseline[3]["error"], TAKEN);
    let (fixed, _) = run(
        Policy::preset("webhook-invalidation").unwrap(),
        script(),
        None,
    );
    assert_eq!(
        fixed[2]["available"], false,
        "the webhook dropped the stale week: {}",
        fixed[2]
    );
}

#[test]
fn a_compound_service_books_every_staffed_segment() {
    let perm = |call_id: &'static str, at: f64, function: &'static str| {
        step(
            at,
            call_id,
            function,
            json!({ "datum": "2025-11-26", "uhrzeit": "10:00", "datetime": "2025-11-26T10:00", "dienstleistung": "Dauerwelle", "customer_name": "Siegfried Reu" }),
        )
    };
    for policy in [
        Policy::baseline(),
        Policy::preset("parallel-segments").unwrap(),
    ] {
        let (answers, truth) = run(
            policy,
            vec![
                perm("call_perm", 5.0, "check_availability"),
                perm("call_perm", 30.0, "start_booking"),
            ],
            None,
        );
        assert_eq!(answers[0]["available"], true, "{}", answers[0]);
        assert_eq!(answers[1]["success"], true, "{}", answers[1]);
        assert_eq!(
            answers[1]["booking_uids"].as_array().unwrap().len(),
            3,
            "A, B and D; C is a gap"
        );
        let starts: Vec<&str> = truth["bookings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["start"].as_str().unwrap())
            .collect();
        assert_eq!(starts.len(), 3);
        for expected in [
            "2025-11-26T09:00:00.000Z",
            "2025-11-26T09:45:00.000Z",
            "2025-11-26T10:50:00.000Z",
        ] {
            assert!(starts.contains(&expected), "{starts:?}");
        }
    }
}

#[test]
fn unsigned_function_calls_and_forged_webhooks_are_refused() {
    let (answers, _) = run(
        Policy::baseline(),
        vec![check("call_x", 1.0, "12:00")],
        Some("key_retell"),
    );
    assert_eq!(answers[0]["http_status"], 401);
    let hook = json!({ "triggerEvent": "BOOKING_CREATED", "payload": { "eventTypeId": 1001, "startTime": "2025-11-25T11:00:00.000Z" } });
    let good = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec_salon").unwrap();
        mac.update(hook.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    let good: &'static str = Box::leak(format!("sig:{good}").into_boxed_str());
    let (answers, _) = run(
        Policy::baseline(),
        vec![
            step(1.0, "sig:deadbeef", "forged_webhook", hook.clone()),
            step(
                2.0,
                "sig:no-secret-provided",
                "forged_webhook",
                hook.clone(),
            ),
            step(3.0, good, "forged_webhook", hook),
        ],
        None,
    );
    assert_eq!(answers[0]["http_status"], 403);
    assert_eq!(answers[1]["http_status"], 403);
    assert_eq!(answers[2]["http_status"], 200, "{}", answers[2]);
}

/// Ten callers at once for overlapping times (12:00, 12:15, 12:00, …) on one stylist.
fn overlap_storm(policy: Policy) -> Value {
    let times = [
        "12:00", "12:15", "12:00", "11:45", "12:15", "12:00", "12:15", "11:45", "12:00", "12:15",
    ];
    let ids = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"];
    let steps = times
        .iter()
        .zip(ids)
        .map(|(t, id)| book(id, 10.0, t))
        .collect();
    run_concurrently(policy, steps).1
}

/// Like [`run`], but every step is its own task starting at its `at`.
fn run_concurrently(policy: Policy, steps: Vec<Step>) -> (Vec<Value>, Value) {
    let mut sim = simulation(WORLD, policy, None, 7);
    let out = Arc::new(Mutex::new((Vec::new(), Value::Null)));
    let sink = out.clone();
    sim.client("retell", async move {
        let client = HttpClient::new(Network::Simulated, Timeouts::default());
        let tasks: Vec<_> = steps
            .into_iter()
            .map(|s| {
                let client = client.clone();
                tokio::spawn(async move {
                    simkit::time::sleep(Duration::from_secs_f64(s.at)).await;
                    let body = json!({ "name": s.function, "call": { "call_id": s.call_id }, "args": s.args });
                    let request = Request::post("http://engine/api/webhooks/retell/function").body(Full::new(Bytes::from(body.to_string()))).unwrap();
                    let response = client.send(request).await.unwrap();
                    serde_json::from_slice::<Value>(&response.body).unwrap()
                })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        simkit::time::sleep(Duration::from_secs(5)).await;
        let truth = client.send(Request::get("http://calcom/_mock/state").body(Full::new(Bytes::new())).unwrap()).await.unwrap();
        *sink.lock().unwrap() = (answers, serde_json::from_slice(&truth.body).unwrap());
        Ok(())
    });
    sim.run().unwrap();
    let out = out.lock().unwrap();
    out.clone()
}

/// Pairs of active bookings of one host that overlap.
fn double_bookings(truth: &Value) -> usize {
    let active: Vec<(&str, &str, u64)> = truth["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"] == "accepted")
        .map(|b| {
            (
                b["start"].as_str().unwrap(),
                b["end"].as_str().unwrap(),
                b["hostId"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut n = 0;
    for (i, a) in active.iter().enumerate() {
        for b in &active[i + 1..] {
            if a.2 == b.2 && a.0 < b.1 && b.0 < a.1 {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn overlapping_storms_double_book_unless_the_lock_covers_the_interval() {
    // The seeds' lock and pre-sync check key on the exact start: overlaps slip through.
    for broken in ["no-conflict-check", "no-lock", "baseline"] {
        let truth = overlap_storm(Policy::preset(broken).unwrap());
        assert!(
            double_bookings(&truth) > 0,
            "{broken} held against overlap: the checker would be blind"
        );
    }
    // The per-staff interval lock with the overlap check serialises them.
    let truth = overlap_storm(Policy::preset("full").unwrap());
    assert_eq!(double_bookings(&truth), 0, "{truth}");
    assert!(active_bookings(&truth) >= 1);
}

#[test]
fn a_failed_segment_cancels_the_booked_ones() {
    // Segment B (event type 1003) of a Dauerwelle at 10:00 is blocked for the stylist by a
    // staff booking on another service at B's time; A is booked first, then compensated.
    let perm = step(
        30.0,
        "call_perm",
        "start_booking",
        json!({ "datetime": "2025-11-26T10:00", "dienstleistung": "Dauerwelle", "customer_name": "Siegfried Reu" }),
    );
    let (answers, truth) = run(
        Policy::baseline(),
        vec![staff_books(5.0, "2025-11-26T10:00:00Z"), perm],
        None,
    );
    assert_eq!(answers[1]["success"], false, "{}", answers[1]);
    let bookings = truth["bookings"].as_array().unwrap();
    let segment_a = bookings
        .iter()
        .find(|b| b["eventTypeId"] == 1002)
        .expect("segment A was booked");
    assert_eq!(
        segment_a["status"], "cancelled",
        "the saga cancelled segment A"
    );
    assert_eq!(active_bookings(&truth), 1, "only the staff booking remains");
}

fn with(preset: &str, overrides: &str) -> Policy {
    Policy::with_overrides(preset, &toml::from_str(overrides).unwrap()).unwrap()
}

#[test]
fn appointment_751_is_invisible_to_cal_com_until_the_sync_job_runs() {
    let policy = with(
        "baseline",
        "sync_queue_delay = { fixed = \"40s\" }\n[infra]\nredis = { fixed = \"0s\" }\n",
    );
    let channel = step(
        0.0,
        "",
        "channel",
        json!({ "service": "Herrenhaarschnitt", "datetime": "2025-11-25T12:00", "customer_name": "Test #751" }),
    );
    let (answers, truth) = run(
        policy,
        vec![
            channel,
            check("call_752", 10.0, "12:00"),
            book("call_752", 30.0, "12:00"),
            step(60.0, "", "appointments", json!({})),
        ],
        None,
    );
    assert_eq!(answers[0]["sync_status"], "pending", "{}", answers[0]);
    assert_eq!(
        answers[1]["available"], true,
        "Cal.com does not know #751 yet: told free"
    );
    assert_eq!(
        answers[2]["error_type"], "pre_sync_conflict",
        "the local check catches it: {}",
        answers[2]
    );
    assert_eq!(
        answers[3]["appointments"][0]["sync"], "synced",
        "{}",
        answers[3]
    );
    assert_eq!(
        active_bookings(&truth),
        1,
        "the sync job booked #751 in Cal.com"
    );
}

#[test]
fn a_failed_save_is_compensated_by_the_saga_or_left_as_an_orphan() {
    for (saga, expected_active) in [(true, 0), (false, 1)] {
        let policy = with(
            "baseline",
            &format!("saga_compensation = {saga}\n[infra]\nsave_failure_probability = 1.0\n"),
        );
        let (answers, truth) = run(
            policy,
            vec![
                book("call_x", 5.0, "12:00"),
                step(20.0, "", "appointments", json!({})),
            ],
            None,
        );
        assert_eq!(answers[0]["error_type"], "store_failed", "{}", answers[0]);
        assert_eq!(answers[1]["appointments"], json!([]));
        assert_eq!(
            active_bookings(&truth),
            expected_active,
            "saga {saga}: {truth}"
        );
    }
}

#[test]
fn a_local_reservation_holds_the_slot_for_its_caller_until_it_expires() {
    let policy = with("local-reservation", "local_reservation_ttl = \"120s\"\n");
    let (answers, _) = run(
        policy,
        vec![
            check("call_a", 5.0, "12:00"),
            check("call_b", 10.0, "12:00"),
            book("call_b", 20.0, "12:00"),
            check("call_c", 200.0, "12:00"),
            book("call_c", 210.0, "12:00"),
            step(220.0, "", "appointments", json!({})),
        ],
        None,
    );
    assert_eq!(answers[0]["available"], true);
    assert!(
        answers[0]["reservation_token"].is_string(),
        "{}",
        answers[0]
    );
    assert_eq!(
        answers[1]["available"], false,
        "held for call_a: {}",
        answers[1]
    );
    assert_eq!(answers[2]["error_type"], "slot_reserved", "{}", answers[2]);
    assert_eq!(
        answers[3]["available"], true,
        "call_a's hold expired after 120 s"
    );
    assert_eq!(answers[4]["success"], true);
    let states: Vec<&str> = answers[5]["reservations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"expired") && states.contains(&"converted"),
        "{states:?}"
    );
}

#[test]
fn parallel_segments_book_a_compound_service_in_a_third_of_the_time() {
    // Cal.com takes 2.5 s per create, as the seeds measured per segment.
    let world = format!(
        "{WORLD}\n[latency]\ndefault = {{ fixed = \"100ms\" }}\ncreate_booking = {{ fixed = \"2500ms\" }}\n"
    );
    let perm = || {
        step(
            5.0,
            "call_perm",
            "start_booking",
            json!({ "datetime": "2025-11-26T10:00", "dienstleistung": "Dauerwelle", "customer_name": "Siegfried Reu" }),
        )
    };
    let took = |preset: &str| {
        let (answers, _) = run_in(&world, Policy::preset(preset).unwrap(), vec![perm()], None);
        assert_eq!(answers[0]["success"], true, "{preset}: {}", answers[0]);
        answers[0]["elapsed_ms"].as_u64().unwrap()
    };
    let sequential = took("baseline");
    let parallel = took("parallel-segments");
    assert!(
        (7500..8500).contains(&sequential),
        "sequential took {sequential} ms"
    );
    assert!(
        (2500..3300).contains(&parallel),
        "parallel took {parallel} ms"
    );
}

#[test]
fn cancel_appointment_cancels_every_phase_in_cal_com() {
    let perm = |function: &'static str, at: f64| {
        step(
            at,
            "call_perm",
            function,
            json!({ "datetime": "2025-11-26T10:00", "dienstleistung": "Dauerwelle", "customer_name": "Siegfried Reu" }),
        )
    };
    let (answers, truth) = run(
        Policy::baseline(),
        vec![
            perm("start_booking", 5.0),
            perm("cancel_appointment", 20.0),
            perm("cancel_appointment", 25.0),
        ],
        None,
    );
    assert_eq!(answers[0]["success"], true);
    assert_eq!(answers[1]["cancelled"], true, "{}", answers[1]);
    // Retell retries a function call it got no answer to: a cancel that went through says
    // so again, idempotent (it used to answer "no appointment", and the caller heard the
    // cancel had failed).
    assert_eq!(answers[2]["cancelled"], true, "{}", answers[2]);
    assert_eq!(active_bookings(&truth), 0);
    assert_eq!(truth["bookings"].as_array().unwrap().len(), 3);
}

/// `mock-calcom serve` and `booking-engine serve` without files are the demo salon: every
/// service it offers books at a slot the check offered, whatever time the caller first
/// names (on the grid or off it).
#[test]
fn the_demo_world_books_every_service_it_offers() {
    let mut world = MockConfig::demo();
    world.webhooks.subscriptions.clear();
    let mut sim = simulation_of(
        world,
        Catalog::demo(),
        Policy::preset("full").unwrap(),
        None,
        3,
    );
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    sim.client("retell", async move {
        let client = HttpClient::new(Network::Simulated, Timeouts::default());
        let call = |name: &'static str, call_id: String, args: Value| {
            let client = client.clone();
            async move {
                let body = json!({ "name": name, "call": { "call_id": call_id }, "args": args });
                let request = Request::post("http://engine/api/webhooks/retell/function")
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body.to_string())))
                    .unwrap();
                let response = client.send(request).await.unwrap();
                serde_json::from_slice::<Value>(&response.body).unwrap()
            }
        };
        let mut results = Vec::new();
        let days = ["2025-11-25", "2025-11-26", "2025-11-27", "2025-11-28"];
        for service in Catalog::demo().services.iter().map(|s| s.name.clone()) {
            for (day, time) in days.iter().zip(["09:00", "10:50", "13:05", "16:40"]) {
                let call_id = format!("{service}-{day}");
                let checked = call(
                    "check_availability",
                    call_id.clone(),
                    json!({ "datum": day, "uhrzeit": time, "dienstleistung": service }),
                )
                .await;
                let offered = if checked["available"] == true {
                    format!("{day}T{time}")
                } else {
                    let first = checked["alternatives"][0]["datetime"].as_str();
                    first
                        .unwrap_or_else(|| panic!("{service} at {day} {time}: nothing offered: {checked}"))
                        .to_owned()
                };
                if checked["available"] != true {
                    let again = call(
                        "check_availability",
                        call_id.clone(),
                        json!({ "datum": &offered[..10], "uhrzeit": &offered[11..], "dienstleistung": service }),
                    )
                    .await;
                    assert_eq!(again["available"], true, "{service}: the offered {offered} is not available: {again}");
                }
                let booked = call(
                    "start_booking",
                    call_id,
                    json!({ "datetime": offered, "service_name": service, "customer_name": "Demo" }),
                )
                .await;
                results.push((service.clone(), offered, booked));
            }
        }
        *sink.lock().unwrap() = results;
        Ok(())
    });
    sim.run().unwrap();
    let results = out.lock().unwrap();
    assert_eq!(results.len(), 8);
    for (service, offered, booked) in results.iter() {
        assert_eq!(booked["booked"], true, "{service} at {offered}: {booked}");
    }
}

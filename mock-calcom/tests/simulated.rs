//! The mock inside a turmoil simulation, queried by client hosts: the race window in
//! virtual time, the same answers as over real sockets, byte-identical replays, and the
//! misbehaviour that needs time to pass (injector, lost and duplicated webhooks).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{KEY, ONE_HOST, one_host, start_instant};
use http::Request;
use http_body_util::Full;
use mock_calcom::{MockCalcom, MockConfig};
use serde_json::{Value, json};
use simkit::SeedStreams;
use simkit::transport::{HttpClient, Network, Timeouts};

fn epoch() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(start_instant().timestamp() as u64)
}

fn sim<'a>(seed: u64) -> turmoil::Sim<'a> {
    turmoil::Builder::new()
        .epoch(epoch())
        .rng_seed(seed)
        .tick_duration(Duration::from_millis(10))
        .simulation_duration(Duration::from_secs(4 * 3600))
        .min_message_latency(Duration::from_millis(20))
        .max_message_latency(Duration::from_millis(40))
        .build()
}

/// Adds the mock as host `calcom` (port 80).
fn add_calcom(sim: &mut turmoil::Sim<'_>, config: MockConfig, seed: u64) {
    sim.host("calcom", move || {
        let config = config.clone();
        async move { Ok(MockCalcom::run_simulated(config, SeedStreams::new(seed), 80).await?) }
    });
}

/// One API call: (status, JSON body or the text as a JSON string).
async fn call(
    client: &HttpClient,
    base: &str,
    method: &str,
    path: &str,
    version: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("authorization", KEY);
    if let Some(v) = version {
        req = req.header("cal-api-version", v);
    }
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    if !payload.is_empty() {
        req = req.header("content-type", "application/json");
    }
    let response = client
        .send(req.body(Full::new(Bytes::from(payload))).unwrap())
        .await
        .unwrap();
    let value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&response.body).into()));
    (response.status.as_u16(), value)
}

/// The mock's ground truth, read from inside the simulation.
async fn truth() -> (u16, Value) {
    call(
        &client(),
        "http://calcom",
        "GET",
        "/_mock/state",
        None,
        None,
    )
    .await
}

fn booking(start: &str) -> Value {
    json!({
        "start": start,
        "eventTypeId": 1001,
        "attendee": { "name": "Anrufer", "email": "a@example.com", "timeZone": "Europe/Berlin" }
    })
}

fn client() -> HttpClient {
    HttpClient::new(Network::Simulated, Timeouts::default())
}

#[test]
fn the_race_window_409_on_identical_and_double_booking_on_overlap() {
    let mut config = one_host();
    config.latency.create_booking = Some(simkit::Distribution::fixed(Duration::from_millis(400)));
    let mut sim = sim(1);
    add_calcom(&mut sim, config, 1);
    sim.client("caller", async {
        let c = client();
        let base = "http://calcom";
        let post = |start: &'static str| {
            let c = c.clone();
            async move {
                call(
                    &c,
                    base,
                    "POST",
                    "/v2/bookings",
                    Some("2024-08-13"),
                    Some(booking(start)),
                )
                .await
            }
        };
        // Identical requests in flight together: one wins, the other hits the unique key.
        let (a, b) = tokio::join!(post("2025-11-25T11:00:00Z"), post("2025-11-25T11:00:00Z"));
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409]);
        let conflict = if a.0 == 409 { a.1 } else { b.1 };
        assert_eq!(
            conflict,
            json!({ "statusCode": 409, "message": "booking_conflict_error" })
        );
        // After the commit, the same slot is refused at arrival.
        let (status, body) = post("2025-11-25T11:00:00Z").await;
        assert_eq!(status, 400);
        assert_eq!(
            body["error"]["message"],
            "User either already has booking at this time or is not available"
        );
        // Overlapping requests in flight together: both succeed, a real double booking.
        let (a, b) = tokio::join!(post("2025-11-25T14:00:00Z"), post("2025-11-25T14:15:00Z"));
        assert_eq!((a.0, b.0), (201, 201));
        let (_, truth) = call(&c, base, "GET", "/_mock/state", None, None).await;
        let overlapping: Vec<&Value> = truth["bookings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["start"].as_str().unwrap().starts_with("2025-11-25T14"))
            .collect();
        assert_eq!(overlapping.len(), 2);
        assert_eq!(overlapping[0]["hostId"], overlapping[1]["hostId"]);
        Ok(())
    });
    sim.run().unwrap();
}

/// The script both worlds run: list, book, be refused, read, reserve, be refused, list.
async fn script(c: &HttpClient, base: &str) -> Vec<(u16, Value)> {
    let slots = "/v2/slots?eventTypeId=1001&start=2025-11-25T10:00:00Z&end=2025-11-25T12:00:00Z&timeZone=Europe/Berlin";
    let mut out = vec![
        call(c, base, "GET", slots, Some("2024-09-04"), None).await,
        call(
            c,
            base,
            "POST",
            "/v2/bookings",
            Some("2024-08-13"),
            Some(booking("2025-11-25T11:00:00Z")),
        )
        .await,
        call(
            c,
            base,
            "POST",
            "/v2/bookings",
            Some("2024-08-13"),
            Some(booking("2025-11-25T11:00:00Z")),
        )
        .await,
    ];
    let uid = out[1].1["data"]["uid"].as_str().unwrap().to_owned();
    out.push(
        call(
            c,
            base,
            "GET",
            &format!("/v2/bookings/{uid}"),
            Some("2024-08-13"),
            None,
        )
        .await,
    );
    let hold = json!({ "eventTypeId": 1001, "slotStart": "2025-11-25T10:00:00Z" });
    out.push(
        call(
            c,
            base,
            "POST",
            "/v2/slots/reservations",
            Some("2024-09-04"),
            Some(hold.clone()),
        )
        .await,
    );
    out.push(
        call(
            c,
            base,
            "POST",
            "/v2/slots/reservations",
            Some("2024-09-04"),
            Some(hold),
        )
        .await,
    );
    out.push(call(c, base, "GET", slots, Some("2024-09-04"), None).await);
    out.push(call(c, base, "GET", "/v2/slots?eventTypeId=1001", None, None).await);
    // Times of day differ between the worlds (the simulated network takes time): drop them.
    for (_, body) in &mut out {
        strip(
            body,
            &["createdAt", "updatedAt", "timestamp", "reservationUntil"],
        );
    }
    out
}

fn strip(v: &mut Value, keys: &[&str]) {
    match v {
        Value::Object(map) => {
            for k in keys {
                map.remove(*k);
            }
            map.values_mut().for_each(|v| strip(v, keys));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| strip(v, keys)),
        _ => {}
    }
}

#[test]
fn the_same_code_gives_the_same_answers_in_both_worlds() {
    // Real sockets, real tokio, a hand-held clock.
    let real = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let s = common::serve(one_host()).await;
            script(
                &HttpClient::new(Network::Real, Timeouts::default()),
                &s.base,
            )
            .await
        });
    // turmoil's network, virtual time.
    let simulated = Arc::new(Mutex::new(Vec::new()));
    let mut sim = sim(1);
    add_calcom(&mut sim, one_host(), 7);
    let out = simulated.clone();
    sim.client("caller", async move {
        *out.lock().unwrap() = script(&client(), "http://calcom").await;
        Ok(())
    });
    sim.run().unwrap();
    let simulated = simulated.lock().unwrap().clone();
    assert_eq!(real.len(), 8);
    assert_eq!(
        real.iter().map(|r| r.0).collect::<Vec<_>>(),
        [200, 201, 400, 200, 201, 422, 200, 404]
    );
    assert_eq!(real, simulated);
}

/// A busy hour: random latencies and lag, an injector, callers racing, webhooks out.
/// Returns the ground truth the mock ends with, as bytes.
fn busy_hour(seed: u64) -> String {
    let text = format!(
        "{ONE_HOST}\n{}",
        r#"
[external]
rate_per_hour = 30
lead = "10m"
horizon = "2d"
"#
    );
    let mut config: MockConfig = MockConfig::from_toml(&text, "busy").unwrap();
    config.latency = MockConfig::default().latency;
    config.consistency = MockConfig::default().consistency;
    config.webhooks.subscriptions = vec![mock_calcom::config::SubscriptionConfig {
        subscriber_url: "http://engine/hooks".into(),
        triggers: vec!["BOOKING_CREATED".into()],
        secret: Some("s".into()),
        active: true,
    }];
    config.webhooks.loss_probability = 0.2;
    config.webhooks.duplicate_probability = 0.2;
    let mut sim = sim(seed);
    add_calcom(&mut sim, config, seed);
    sim.host("engine", || async {
        let router = axum::Router::new().route("/hooks", axum::routing::post(|| async { "ok" }));
        Ok(simkit::transport::serve_on(Network::Simulated, 80, router).await?)
    });
    let truth = Arc::new(Mutex::new(String::new()));
    let out = truth.clone();
    sim.client("callers", async move {
        let c = client();
        let mut calls = Vec::new();
        for i in 0..40u32 {
            let c = c.clone();
            calls.push(tokio::spawn(async move {
                simkit::time::sleep(Duration::from_secs(u64::from(i) * 45)).await;
                let start = format!(
                    "2025-11-25T{:02}:{:02}:00Z",
                    8 + (i % 8),
                    if i % 3 == 0 { 0 } else { 30 }
                );
                call(
                    &c,
                    "http://calcom",
                    "POST",
                    "/v2/bookings",
                    Some("2024-08-13"),
                    Some(booking(&start)),
                )
                .await
                .0
            }));
        }
        for call in calls {
            call.await.unwrap();
        }
        simkit::time::sleep(Duration::from_secs(900)).await;
        let response = c
            .send(
                Request::get("http://calcom/_mock/state")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        *out.lock().unwrap() = String::from_utf8(response.body.to_vec()).unwrap();
        Ok(())
    });
    sim.run().unwrap();
    truth.lock().unwrap().clone()
}

#[test]
fn a_replay_with_the_same_seed_is_byte_identical() {
    let first = busy_hour(741);
    let truth: Value = serde_json::from_str(&first).unwrap();
    let sources: Vec<&str> = truth["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["source"].as_str().unwrap())
        .collect();
    assert!(
        sources.contains(&"api") && sources.contains(&"external"),
        "{sources:?}"
    );
    let outcomes: Vec<&str> = truth["webhook_deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"lost") && outcomes.contains(&"delivered"),
        "{outcomes:?}"
    );
    assert_eq!(first, busy_hour(741), "same seed, different bytes");
    assert_ne!(first, busy_hour(742), "the seed does not reach the mock");
}

#[test]
fn the_poisson_injector_books_free_slots_behind_the_back() {
    let text =
        format!("{ONE_HOST}\n[external]\nrate_per_hour = 120\nlead = \"0s\"\nhorizon = \"3d\"\n");
    let config = MockConfig::from_toml(&text, "injector").unwrap();
    let mut sim = sim(3);
    add_calcom(&mut sim, config, 3);
    sim.client("observer", async {
        simkit::time::sleep(Duration::from_secs(1800)).await;
        let (_, truth) = truth().await;
        let bookings = truth["bookings"].as_array().unwrap();
        // 60 expected in half an hour at 120/h; Poisson spread is about ±8.
        assert!(
            (35..=90).contains(&bookings.len()),
            "{} bookings",
            bookings.len()
        );
        assert!(bookings.iter().all(|b| b["source"] == "external"));
        let mut spans: Vec<(&str, &str)> = bookings
            .iter()
            .map(|b| (b["start"].as_str().unwrap(), b["end"].as_str().unwrap()))
            .collect();
        spans.sort_unstable();
        assert!(
            spans.windows(2).all(|w| w[0].1 <= w[1].0),
            "the injector double-booked"
        );
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn webhooks_can_be_lost_or_duplicated_but_copies_are_identical() {
    let received = Arc::new(Mutex::new(Vec::<(String, Bytes)>::new()));
    for (loss, duplicate, expected) in [(1.0, 0.0, 0usize), (0.0, 1.0, 2usize)] {
        received.lock().unwrap().clear();
        let mut config = one_host();
        config.webhooks.loss_probability = loss;
        config.webhooks.duplicate_probability = duplicate;
        config.webhooks.subscriptions = vec![mock_calcom::config::SubscriptionConfig {
            subscriber_url: "http://engine/hooks".into(),
            triggers: vec!["BOOKING_CREATED".into()],
            secret: Some("whsec".into()),
            active: true,
        }];
        let mut sim = sim(5);
        add_calcom(&mut sim, config, 5);
        let sink = received.clone();
        sim.host("engine", move || {
            let sink = sink.clone();
            async move {
                let router = axum::Router::new().route(
                    "/hooks",
                    axum::routing::post(move |headers: http::HeaderMap, body: Bytes| {
                        let signature = headers["x-cal-signature-256"].to_str().unwrap().to_owned();
                        sink.lock().unwrap().push((signature, body));
                        async { "ok" }
                    }),
                );
                Ok(simkit::transport::serve_on(Network::Simulated, 80, router).await?)
            }
        });
        sim.client("caller", async {
            let (status, _) = call(
                &client(),
                "http://calcom",
                "POST",
                "/v2/bookings",
                Some("2024-08-13"),
                Some(booking("2025-11-25T11:00:00Z")),
            )
            .await;
            assert_eq!(status, 201);
            simkit::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        });
        sim.run().unwrap();
        let got = received.lock().unwrap().clone();
        assert_eq!(got.len(), expected, "loss {loss} duplicate {duplicate}");
        for (signature, body) in &got {
            assert_eq!(
                signature,
                &mock_calcom::webhooks::signature(Some("whsec"), body)
            );
        }
        if expected == 2 {
            assert_eq!(got[0].1, got[1].1, "a duplicate is the same bytes");
        }
    }
}

#[test]
fn a_create_whose_client_gave_up_is_still_committed() {
    // Cal.com does not cancel server-side work when the connection drops.
    let mut config = one_host();
    config.latency.create_booking = Some(simkit::Distribution::fixed(Duration::from_secs(3)));
    let mut sim = sim(9);
    add_calcom(&mut sim, config, 9);
    sim.client("impatient", async {
        let hasty = HttpClient::new(
            Network::Simulated,
            Timeouts {
                connect: Duration::from_secs(1),
                total: Duration::from_secs(1),
            },
        );
        let req = Request::post("http://calcom/v2/bookings")
            .header("cal-api-version", "2024-08-13")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                booking("2025-11-25T11:00:00Z").to_string(),
            )))
            .unwrap();
        assert_eq!(
            hasty.send(req).await.unwrap_err(),
            simkit::transport::ClientError::Timeout
        );
        simkit::time::sleep(Duration::from_secs(5)).await;
        let (_, truth) = truth().await;
        assert_eq!(
            truth["bookings"].as_array().unwrap().len(),
            1,
            "the booking was committed after the client left"
        );
        Ok(())
    });
    sim.run().unwrap();
}

/// 50 reservations of one slot in flight together: Cal.com checks and inserts in one short
/// transaction at the end of the request, so with no window exactly one wins and the others
/// get 422; a window lets the checks that fall within it through together. Bad durations are
/// refused with 400.
#[test]
fn concurrent_reservations_race_only_within_the_check_and_insert_window() {
    for (window_ms, expect_one) in [(0, true), (5_000, false)] {
        let mut config = one_host();
        config.consistency.reservation_window =
            simkit::Distribution::fixed(Duration::from_millis(window_ms));
        let mut sim = sim(7);
        add_calcom(&mut sim, config, 7);
        sim.client("callers", async move {
            let c = client();
            let reserve = |body: Value| {
                let c = c.clone();
                async move {
                    call(&c, "http://calcom", "POST", "/v2/slots/reservations", Some("2024-09-04"), Some(body)).await
                }
            };
            let slot = json!({ "eventTypeId": 1001, "slotStart": "2025-11-25T11:00:00Z" });
            let answers = futures_util::future::join_all((0..50).map(|_| reserve(slot.clone()))).await;
            let won = answers.iter().filter(|(s, _)| *s == 201).count();
            let refused = answers.iter().filter(|(s, _)| *s == 422).count();
            assert_eq!(won + refused, 50, "{answers:?}");
            if expect_one {
                assert_eq!(won, 1, "no window: one reservation");
            } else {
                assert!(won > 1, "a 5-s window lets several through: {won}");
            }
            for bad in [
                json!({ "eventTypeId": 1001, "slotStart": "2025-11-26T11:00:00Z", "reservationDuration": 0 }),
                json!({ "eventTypeId": 1001, "slotStart": "2025-11-26T11:00:00Z", "reservationDuration": 4_294_967_295u64 }),
                json!({ "eventTypeId": 1001, "slotStart": "2025-11-26T11:00:00Z", "slotDuration": 0 }),
            ] {
                let (status, body) = reserve(bad.clone()).await;
                assert_eq!(status, 400, "{bad} -> {body}");
                assert_eq!(body["status"], "error");
            }
            Ok(())
        });
        sim.run().unwrap();
    }
}

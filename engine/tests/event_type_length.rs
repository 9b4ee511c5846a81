//! A catalogue segment shorter than the Cal.com event type it books: the engine locks and
//! checks what Cal.com books (the event type's length, learnt from `GET /v2/event-types`
//! as `booking-engine serve` does), so two callers whose catalogue spans do not overlap but
//! whose Cal.com bookings would never both get one stylist. Drawn: the lengths, the second
//! caller's offset, the arrival spread, the seed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use booking_engine::catalog::{Catalog, Segment, Service};
use booking_engine::{Engine, EngineSettings, Policy};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use mock_calcom::{MockCalcom, MockConfig};
use serde_json::{Value, json};
use simkit::transport::{HttpClient, Listener, Network, Timeouts};
use simkit::{SeedStreams, SimClock};

/// Monday 2025-11-24 09:00 in Berlin.
const EPOCH: u64 = 1_763_971_200;

/// Two callers book at once, `offset` minutes apart, a service whose catalogue segment is
/// `minutes` long on an event type Cal.com books for `length`; the active bookings of the
/// one stylist after, as (start, end) strings.
fn two_callers(
    minutes: u32,
    length: u32,
    offset: u32,
    spread_ms: u64,
    seed: u64,
    learn: bool,
) -> Vec<(String, String)> {
    let world = format!(
        "[[hosts]]\nid = 1\nname = \"Fabian\"\nworking_hours = {{ weekdays = [\"09:00-18:00\"] }}\n\n[[event_types]]\nid = 1001\nslug = \"schnitt\"\ntitle = \"Schnitt\"\nlength_minutes = {length}\nslot_interval_minutes = 15\nhosts = [1]\n"
    );
    let world = MockConfig::from_toml(&world, "world").unwrap();
    let catalog = Catalog {
        services: vec![Service {
            id: 1,
            name: "Schnitt".into(),
            aliases: vec![],
            segments: vec![Segment {
                name: "Schnitt".into(),
                minutes,
                event_type_id: Some(1001),
            }],
            staff: vec![1],
        }],
        ..Catalog::demo()
    };
    let mut sim = turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH))
        .tick_duration(Duration::from_millis(10))
        .simulation_duration(Duration::from_secs(600))
        .min_message_latency(Duration::from_millis(20))
        .max_message_latency(Duration::from_millis(40))
        .build();
    sim.host("calcom", move || {
        let config = world.clone();
        async move { Ok(MockCalcom::run_simulated(config, SeedStreams::new(seed), 80).await?) }
    });
    sim.host("engine", move || {
        let settings = EngineSettings {
            catalog: catalog.clone(),
            policy: Policy::preset("full").unwrap(),
            calcom_url: "http://calcom".into(),
            calcom_api_key: "cal_live_salon".into(),
            webhook_secret: None,
            retell_api_key: None,
        };
        async move {
            let engine = Engine::new(
                settings,
                Arc::new(SimClock::new()),
                SeedStreams::new(seed),
                Network::Simulated,
            );
            if learn {
                let verdict = engine.learn_event_types().await.expect("Cal.com answers");
                assert_eq!(verdict.is_ok(), minutes == length, "{verdict:?}");
            }
            let listener = Listener::bind(
                Network::Simulated,
                (std::net::Ipv4Addr::UNSPECIFIED, 80).into(),
            )
            .await?;
            booking_engine::server::serve(engine, listener, std::future::pending()).await;
            Ok(())
        }
    });
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    sim.client("retell", async move {
        let client = HttpClient::new(Network::Simulated, Timeouts::default());
        // Let the engine learn the event types first.
        simkit::time::sleep(Duration::from_secs(5)).await;
        let times = [600, 600 + offset];
        let tasks: Vec<_> = times
            .iter()
            .enumerate()
            .map(|(i, at)| {
                let client = client.clone();
                let time = format!("2025-11-25T{:02}:{:02}", at / 60, at % 60);
                let wait = Duration::from_millis(i as u64 * spread_ms);
                tokio::spawn(async move {
                    simkit::time::sleep(wait).await;
                    let body = json!({ "name": "start_booking", "call": { "call_id": format!("call_{i}") }, "args": { "datetime": time, "service_name": "Schnitt", "customer_name": "Gast" } });
                    let request = Request::post("http://engine/api/webhooks/retell/function")
                        .body(Full::new(Bytes::from(body.to_string())))
                        .unwrap();
                    client.send(request).await.unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
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
        let truth: Value = serde_json::from_slice(&truth.body).unwrap();
        *sink.lock().unwrap() = truth["bookings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["status"] == "accepted")
            .map(|b| {
                (
                    b["start"].as_str().unwrap().to_owned(),
                    b["end"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        Ok(())
    });
    sim.run().unwrap();
    let out = out.lock().unwrap();
    out.clone()
}

fn overlapping(bookings: &[(String, String)]) -> usize {
    let mut n = 0;
    for (i, a) in bookings.iter().enumerate() {
        for b in &bookings[i + 1..] {
            if a.0 < b.1 && b.0 < a.1 {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn the_engine_locks_what_cal_com_books_not_what_the_catalogue_says() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let mut unlearnt_double = 0;
    let cases = 16;
    for case in 0..cases {
        let minutes = 15 * rng.random_range(1..=3u32);
        let length = minutes + 15 * rng.random_range(1..=3u32);
        // The second caller starts where the catalogue's span ends, or inside Cal.com's.
        let offset = rng.random_range(minutes / 15..length / 15) * 15;
        let spread = rng.random_range(0..200u64);
        let seed = rng.random_range(0..10_000u64);
        let learnt = two_callers(minutes, length, offset, spread, seed, true);
        assert_eq!(
            overlapping(&learnt),
            0,
            "case {case}: {minutes} min on a {length}-min event type, second at +{offset}: {learnt:?}"
        );
        assert_eq!(learnt.len(), 1, "case {case}: one of them gets the stylist");
        let unlearnt = two_callers(minutes, length, offset, spread, seed, false);
        unlearnt_double += overlapping(&unlearnt);
    }
    assert!(
        unlearnt_double > 0,
        "without Cal.com's lengths the engine should double-book in some world"
    );
}

use rand::{Rng, SeedableRng};

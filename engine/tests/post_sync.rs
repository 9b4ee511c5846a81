//! Post-sync validation: Cal.com's answer is checked for the time, its freshness and the
//! call id, as the seed system did (and, as there, a rejected booking stays in Cal.com).

use std::sync::Arc;

use booking_engine::booking::{BookOutcome, SlotRequest};
use booking_engine::catalog::Catalog;
use booking_engine::{Engine, EngineSettings, Policy};
use chrono::DateTime;
use serde_json::json;
use simkit::transport::Network;
use simkit::{ManualClock, SeedStreams};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn answer(start: &str, created: &str, call_id: &str) -> serde_json::Value {
    json!({ "status": "success", "data": {
        "id": 900, "uid": "bk_900", "status": "accepted", "start": start, "end": "2025-11-25T11:30:00.000Z",
        "createdAt": created, "metadata": { "call_id": call_id }, "hosts": [{ "id": 1 }]
    }})
}

async fn book_against(body: serde_json::Value, validate: bool) -> BookOutcome {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/bookings"))
        .respond_with(ResponseTemplate::new(201).set_body_json(body))
        .mount(&server)
        .await;
    let overrides = format!(
        "post_sync_validation = {validate}\n[infra]\nredis = {{ fixed = \"0s\" }}\ndatabase = {{ fixed = \"0s\" }}\n"
    );
    let policy = Policy::with_overrides("baseline", &toml::from_str(&overrides).unwrap()).unwrap();
    let now = DateTime::parse_from_rfc3339("2025-11-24T08:00:00Z")
        .unwrap()
        .to_utc();
    let engine = Engine::new(
        EngineSettings {
            catalog: Catalog::demo(),
            policy,
            calcom_url: server.uri(),
            calcom_api_key: "cal_x".into(),
            webhook_secret: None,
            retell_api_key: None,
        },
        Arc::new(ManualClock::new(now)),
        SeedStreams::new(1),
        Network::Real,
    );
    engine
        .start_booking(&SlotRequest {
            call_id: "call_741".into(),
            service: Some("Herrenhaarschnitt".into()),
            datetime: Some("2025-11-25T12:00".into()),
            customer_name: Some("Siegfried Reu".into()),
            ..SlotRequest::default()
        })
        .await
}

fn rejected(outcome: &BookOutcome) -> Option<String> {
    match outcome {
        BookOutcome::Failed {
            failure, detail, ..
        } if failure.code() == "post_sync_rejected" => Some(detail.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn each_post_sync_check_fires_and_none_fires_when_validation_is_off() {
    let good = answer(
        "2025-11-25T11:00:00.000Z",
        "2025-11-24T08:00:00.000Z",
        "call_741",
    );
    assert!(matches!(
        book_against(good, true).await,
        BookOutcome::Booked { .. }
    ));

    let wrong_time = answer(
        "2025-11-25T11:30:00.000Z",
        "2025-11-24T08:00:00.000Z",
        "call_741",
    );
    assert!(
        rejected(&book_against(wrong_time.clone(), true).await)
            .unwrap()
            .contains("another time")
    );
    // An hour old and without this call's id: someone else's booking handed back.
    let mut stale = answer(
        "2025-11-25T11:00:00.000Z",
        "2025-11-24T07:00:00.000Z",
        "call_741",
    );
    stale["data"]["metadata"] = json!({});
    assert!(
        rejected(&book_against(stale.clone(), true).await)
            .unwrap()
            .contains("stale")
    );
    // As old, with this call's id: its own booking (reconciliation adopts such), kept.
    let own_old = answer(
        "2025-11-25T11:00:00.000Z",
        "2025-11-24T07:00:00.000Z",
        "call_741",
    );
    assert!(matches!(
        book_against(own_old, true).await,
        BookOutcome::Booked { .. }
    ));
    let other_call = answer(
        "2025-11-25T11:00:00.000Z",
        "2025-11-24T08:00:00.000Z",
        "call_other",
    );
    assert!(
        rejected(&book_against(other_call.clone(), true).await)
            .unwrap()
            .contains("call id")
    );

    for body in [wrong_time, stale, other_call] {
        assert!(matches!(
            book_against(body, false).await,
            BookOutcome::Booked { .. }
        ));
    }
}

//! The Cal.com client against wiremock: what it sends, how it maps every error, how often it
//! retries. Waits are set to a millisecond here; the backoff schedule itself is checked as a
//! pure function, so no test waits out real seconds.

use std::collections::BTreeMap;
use std::time::Duration;

use booking_engine::calcom::{CalcomClient, CalcomError, NewBooking};
use booking_engine::policy::{ClientTimeouts, RetryPolicy};
use chrono::{DateTime, Utc};
use serde_json::json;
use simkit::SeedStreams;
use simkit::transport::Network;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        delay: Duration::from_millis(1),
        conflict_backoff: vec![Duration::from_millis(1); 3],
        jitter: 0.5,
        retry_timeouts: true,
    }
}

fn client(server: &MockServer, retry: RetryPolicy) -> CalcomClient {
    CalcomClient::new(
        Network::Real,
        &server.uri(),
        "cal_live_test",
        ClientTimeouts::default(),
        retry,
        SeedStreams::new(1).stream("engine.retry"),
    )
}

fn booking() -> NewBooking {
    NewBooking {
        event_type_id: 1001,
        start: utc("2025-11-25T11:00:00Z"),
        attendee_name: "Siegfried Reu".into(),
        attendee_email: None,
        attendee_phone: Some("+4915112345678".into()),
        time_zone: "Europe/Berlin".into(),
        language: "de".into(),
        metadata: BTreeMap::from([("call_id".to_string(), "call_272edd18".to_string())]),
    }
}

fn created() -> serde_json::Value {
    json!({ "status": "success", "data": {
        "id": 741, "uid": "bk_741", "status": "accepted",
        "start": "2025-11-25T11:00:00.000Z", "end": "2025-11-25T11:30:00.000Z",
        "createdAt": "2025-11-21T10:19:24.000Z", "metadata": { "call_id": "call_272edd18" },
        "hosts": [{ "id": 1, "name": "Fabian Spitzer" }]
    }})
}

#[tokio::test]
async fn create_sends_the_v2_request_and_reads_the_booking() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/bookings"))
        .and(header("cal-api-version", "2024-08-13"))
        .and(header("authorization", "Bearer cal_live_test"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "start": "2025-11-25T11:00:00.000Z",
            "eventTypeId": 1001,
            "attendee": { "name": "Siegfried Reu", "timeZone": "Europe/Berlin", "language": "de", "phoneNumber": "+4915112345678" },
            "metadata": { "call_id": "call_272edd18" }
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(created()))
        .expect(1)
        .mount(&server)
        .await;
    let b = client(&server, fast_retry())
        .create_booking(&booking())
        .await
        .unwrap();
    assert_eq!((b.id, b.uid.as_str(), b.host_id), (741, "bk_741", Some(1)));
    assert_eq!(b.start, utc("2025-11-25T11:00:00Z"));
    assert_eq!(b.created_at, Some(utc("2025-11-21T10:19:24Z")));
    assert_eq!(b.metadata["call_id"], "call_272edd18");
}

#[tokio::test]
async fn slots_use_the_2024_09_04_api() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/slots"))
        .and(header("cal-api-version", "2024-09-04"))
        .and(query_param("eventTypeId", "1001"))
        .and(query_param("start", "2025-11-25T00:00:00.000Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "status": "success", "data": {
            "2025-11-25": [{ "start": "2025-11-25T10:00:00.000+01:00" }, { "start": "2025-11-25T09:30:00.000+01:00" }]
        }})))
        .mount(&server)
        .await;
    let slots = client(&server, fast_retry())
        .slots(
            1001,
            utc("2025-11-25T00:00:00Z"),
            utc("2025-11-25T23:59:59Z"),
        )
        .await
        .unwrap();
    assert_eq!(
        slots,
        [utc("2025-11-25T08:30:00Z"), utc("2025-11-25T09:00:00Z")]
    );
}

async fn create_answered(
    status: u16,
    body: serde_json::Value,
    headers: &[(&str, &str)],
    retry: RetryPolicy,
    expected_requests: u64,
) -> CalcomError {
    let server = MockServer::start().await;
    let mut template = ResponseTemplate::new(status).set_body_json(body);
    for (name, value) in headers {
        template = template.insert_header(*name, *value);
    }
    Mock::given(method("POST"))
        .and(path("/v2/bookings"))
        .respond_with(template)
        .expect(expected_requests)
        .mount(&server)
        .await;
    let err = client(&server, retry)
        .create_booking(&booking())
        .await
        .unwrap_err();
    server.verify().await;
    err
}

fn envelope(code: &str, message: &str) -> serde_json::Value {
    json!({ "status": "error", "timestamp": "2025-11-21T10:21:40.000Z", "path": "/v2/bookings",
            "error": { "code": code, "message": message } })
}

#[tokio::test]
async fn every_error_maps_to_its_kind_and_is_retried_as_the_policy_says() {
    let taken = "User either already has booking at this time or is not available";
    // 4xx other than 409/429: never retried.
    assert_eq!(
        create_answered(
            400,
            envelope("BadRequestException", taken),
            &[],
            fast_retry(),
            1
        )
        .await,
        CalcomError::SlotTaken(taken.into())
    );
    assert_eq!(
        create_answered(
            400,
            envelope("BadRequestException", "language property is wrong"),
            &[],
            fast_retry(),
            1
        )
        .await,
        CalcomError::BadRequest("language property is wrong".into())
    );
    assert!(matches!(
        create_answered(
            401,
            envelope("UnauthorizedException", "Invalid API Key"),
            &[],
            fast_retry(),
            1
        )
        .await,
        CalcomError::Unauthorized(_)
    ));
    assert!(matches!(
        create_answered(
            404,
            envelope("NotFoundException", "Event type with id=1001 not found"),
            &[],
            fast_retry(),
            1
        )
        .await,
        CalcomError::NotFound(_)
    ));
    assert!(matches!(
        create_answered(
            422,
            envelope("UnprocessableEntityException", "x"),
            &[],
            fast_retry(),
            1
        )
        .await,
        CalcomError::ReservationConflict(_)
    ));
    // 409 and 429: once plus one retry per backoff step.
    assert_eq!(
        create_answered(
            409,
            json!({ "statusCode": 409, "message": "booking_conflict_error" }),
            &[],
            fast_retry(),
            4
        )
        .await,
        CalcomError::Conflict
    );
    assert_eq!(
        create_answered(
            429,
            envelope("ThrottlerException", "Too many requests"),
            &[("x-ratelimit-reset-default", "42")],
            fast_retry(),
            4
        )
        .await,
        CalcomError::RateLimited {
            reset_seconds: Some(42)
        }
    );
    let no_backoff = RetryPolicy {
        conflict_backoff: vec![],
        ..fast_retry()
    };
    assert_eq!(
        create_answered(409, json!({ "statusCode": 409 }), &[], no_backoff, 1).await,
        CalcomError::Conflict
    );
    // 5xx: once plus max_retries.
    assert_eq!(
        create_answered(503, json!("503 Service Unavailable"), &[], fast_retry(), 4).await,
        CalcomError::Server(503)
    );
    let once = RetryPolicy {
        max_retries: 0,
        ..fast_retry()
    };
    assert_eq!(
        create_answered(500, json!({}), &[], once, 1).await,
        CalcomError::Server(500)
    );
    // A 2xx that is not a booking.
    assert!(matches!(
        create_answered(201, json!({ "status": "success" }), &[], fast_retry(), 1).await,
        CalcomError::Malformed(_)
    ));
}

#[tokio::test]
async fn a_server_error_then_success_counts_one_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/bookings"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/bookings"))
        .respond_with(ResponseTemplate::new(201).set_body_json(created()))
        .mount(&server)
        .await;
    let c = client(&server, fast_retry());
    assert_eq!(c.create_booking(&booking()).await.unwrap().id, 741);
    assert_eq!(c.retries(), 1);
}

#[tokio::test]
async fn unreachable_cal_com_is_reported_after_the_retries() {
    let c = CalcomClient::new(
        Network::Real,
        "http://127.0.0.1:9",
        "cal_x",
        ClientTimeouts::default(),
        fast_retry(),
        SeedStreams::new(1).stream("engine.retry"),
    );
    assert!(matches!(
        c.create_booking(&booking()).await,
        Err(CalcomError::Unreachable(_))
    ));
    assert_eq!(c.retries(), 3);
}

#[test]
fn the_seed_backoff_schedule_is_200ms_then_2_4_8_seconds() {
    let p = RetryPolicy::default();
    let wait = |e: &CalcomError, transient, conflicts| {
        CalcomClient::retry_wait(&p, e, transient, conflicts)
    };
    let s = Duration::from_secs;
    assert_eq!(
        wait(&CalcomError::Server(503), 0, 0),
        Some(Duration::from_millis(200))
    );
    assert_eq!(wait(&CalcomError::Server(503), 3, 0), None);
    assert_eq!(
        (0..4)
            .map(|n| wait(&CalcomError::Conflict, 0, n))
            .collect::<Vec<_>>(),
        [Some(s(2)), Some(s(4)), Some(s(8)), None]
    );
    assert_eq!(
        wait(
            &CalcomError::RateLimited {
                reset_seconds: Some(60)
            },
            0,
            1
        ),
        Some(s(4))
    );
    assert_eq!(
        wait(&CalcomError::Timeout, 0, 0),
        Some(Duration::from_millis(200))
    );
    assert_eq!(wait(&CalcomError::SlotTaken(String::new()), 0, 0), None);
    let careful = RetryPolicy {
        retry_timeouts: false,
        ..RetryPolicy::default()
    };
    assert_eq!(
        CalcomClient::retry_wait(&careful, &CalcomError::Timeout, 0, 0),
        None
    );
    assert!(
        CalcomError::Timeout.is_indeterminate() && !CalcomError::Server(500).is_indeterminate()
    );
}

/// The current docs' `cal-api-version: 2026-02-25`, when configured, on every bookings
/// request; the slots keep `2024-09-04`.
#[tokio::test]
async fn bookings_can_send_the_current_docs_version() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/bookings"))
        .and(header("cal-api-version", "2026-02-25"))
        .respond_with(ResponseTemplate::new(201).set_body_json(created()))
        .expect(1)
        .mount(&server)
        .await;
    let b = client(&server, fast_retry())
        .with_bookings_version("2026-02-25")
        .create_booking(&booking())
        .await
        .unwrap();
    assert_eq!(b.uid, "bk_741");
}

#[tokio::test]
async fn cleanup_tried_once_is_sent_once_whatever_cal_com_answers() {
    let server = MockServer::start().await;
    for status in [429, 503] {
        server.reset().await;
        Mock::given(method("POST"))
            .and(path("/v2/bookings/bk_741/cancel"))
            .respond_with(ResponseTemplate::new(status))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/v2/slots/reservations/res_1"))
            .respond_with(ResponseTemplate::new(status))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server, fast_retry());
        let cancelled = c.cancel_booking_once("bk_741", "Kompensation").await;
        assert!(cancelled.unwrap_err().is_transient(), "{status}");
        assert!(
            c.release_slot_once("res_1")
                .await
                .unwrap_err()
                .is_transient()
        );
        assert_eq!(c.retries(), 0);
        server.verify().await;
    }
    // The same requests with the policy's retries: once plus three.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/v2/bookings/bk_741/cancel"))
        .respond_with(ResponseTemplate::new(503))
        .expect(4)
        .mount(&server)
        .await;
    let c = client(&server, fast_retry());
    assert!(c.cancel_booking("bk_741", "Kompensation").await.is_err());
    assert_eq!(c.retries(), 3);
}

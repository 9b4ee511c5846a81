//! Every endpoint over real loopback sockets with an independent HTTP client, bodies checked
//! field by field against ../shared/reference/calcom-v2.md.

mod common;

use std::time::Duration;

use common::{KEY, one_host, serve};
use mock_calcom::MockConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SLOTS: &str = "2024-09-04";
const BOOKINGS: &str = "2024-08-13";

fn booking_body(start: &str) -> Value {
    json!({
        "start": start,
        "eventTypeId": 1001,
        "attendee": { "name": "Siegfried Reu", "email": "siegfried@example.com", "timeZone": "Europe/Berlin", "language": "de" },
        "metadata": { "call_id": "call_272edd18b16a74df18b9e7a9b9d" }
    })
}

fn assert_envelope(body: &Value, code: &str, message: &str, path: &str) {
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["message"], message, "{body}");
    assert_eq!(body["path"], path, "{body}");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'), "{body}");
}

#[tokio::test]
async fn list_book_refuse_read_and_cancel() {
    let s = serve(one_host()).await;
    let slots_url = format!(
        "{}/v2/slots?eventTypeId=1001&start=2025-11-25&end=2025-11-25&timeZone=Europe/Berlin",
        s.base
    );
    let r = s
        .http
        .get(&slots_url)
        .header("cal-api-version", SLOTS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("date").is_none());
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&request_id)
            .unwrap()
            .get_version_num(),
        4
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "success");
    let day = body["data"]["2025-11-25"].as_array().unwrap();
    assert_eq!(day.len(), 18, "09:00-18:00 in 30-minute slots");
    assert_eq!(day[0], json!({ "start": "2025-11-25T09:00:00.000+01:00" }));
    let ranged: Value = s
        .http
        .get(format!("{slots_url}&format=range"))
        .header("cal-api-version", SLOTS)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ranged["data"]["2025-11-25"][0],
        json!({ "start": "2025-11-25T09:00:00.000+01:00", "end": "2025-11-25T09:30:00.000+01:00" })
    );

    // Book 12:00 Berlin.
    let r = s
        .http
        .post(format!("{}/v2/bookings", s.base))
        .header("cal-api-version", BOOKINGS)
        .json(&booking_body("2025-11-25T11:00:00Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["status"], "success");
    let b = &created["data"];
    assert_eq!(b["id"], 500);
    assert_eq!(b["uid"].as_str().unwrap().len(), 22);
    assert_eq!(
        b["title"],
        "Herrenhaarschnitt between Fabian Spitzer and Siegfried Reu"
    );
    assert_eq!(b["status"], "accepted");
    assert_eq!(b["start"], "2025-11-25T11:00:00.000Z");
    assert_eq!(b["end"], "2025-11-25T11:30:00.000Z");
    assert_eq!(b["duration"], 30);
    assert_eq!(b["eventTypeId"], 1001);
    assert_eq!(
        b["eventType"],
        json!({ "id": 1001, "slug": "herrenhaarschnitt" })
    );
    assert_eq!(b["hosts"][0]["name"], "Fabian Spitzer");
    assert_eq!(b["hosts"][0]["timeZone"], "Europe/Berlin");
    assert_eq!(
        b["attendees"][0],
        json!({ "name": "Siegfried Reu", "email": "siegfried@example.com", "timeZone": "Europe/Berlin", "language": "de", "absent": false })
    );
    assert_eq!(
        b["metadata"],
        json!({ "call_id": "call_272edd18b16a74df18b9e7a9b9d" })
    );
    assert_eq!(b["createdAt"], "2025-11-24T08:00:00.000Z");
    assert_eq!(b["absentHost"], false);
    for field in [
        "description",
        "location",
        "updatedAt",
        "bookingFieldsResponses",
    ] {
        assert!(b.get(field).is_some(), "missing {field}");
    }
    let uid = b["uid"].as_str().unwrap().to_owned();

    // The slot is gone from the listing and refused with Cal.com's 400, as is an overlap.
    let body: Value = s
        .http
        .get(&slots_url)
        .header("cal-api-version", SLOTS)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let starts: Vec<&str> = body["data"]["2025-11-25"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap())
        .collect();
    assert!(!starts.contains(&"2025-11-25T12:00:00.000+01:00"));
    for start in ["2025-11-25T11:00:00Z", "2025-11-25T11:15:00Z"] {
        let r = s
            .http
            .post(format!("{}/v2/bookings", s.base))
            .header("cal-api-version", BOOKINGS)
            .json(&booking_body(start))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_envelope(
            &r.json().await.unwrap(),
            "BadRequestException",
            "User either already has booking at this time or is not available",
            "/v2/bookings",
        );
    }

    // Read back.
    let got: Value = s
        .http
        .get(format!("{}/v2/bookings/{uid}", s.base))
        .header("cal-api-version", BOOKINGS)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"], created["data"]);
    let r = s
        .http
        .get(format!("{}/v2/bookings/nope", s.base))
        .header("cal-api-version", BOOKINGS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_envelope(
        &r.json().await.unwrap(),
        "NotFoundException",
        "Booking with uid=nope was not found in the database",
        "/v2/bookings/nope",
    );

    // Cancel: a host (API key) must give a reason; twice is refused.
    let cancel = format!("{}/v2/bookings/{uid}/cancel", s.base);
    let r = s
        .http
        .post(&cancel)
        .header("cal-api-version", BOOKINGS)
        .header("authorization", KEY)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .http
        .post(&cancel)
        .header("cal-api-version", BOOKINGS)
        .header("authorization", KEY)
        .json(&json!({ "cancellationReason": "Kunde sagt ab" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cancelled: Value = r.json().await.unwrap();
    assert_eq!(cancelled["data"]["status"], "cancelled");
    assert_eq!(cancelled["data"]["cancellationReason"], "Kunde sagt ab");
    let r = s
        .http
        .post(&cancel)
        .header("cal-api-version", BOOKINGS)
        .json(&json!({ "cancellationReason": "again" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "Can't cancel booking with uid={uid} because it has been cancelled already"
            ))
    );

    // Free again.
    let r = s
        .http
        .post(format!("{}/v2/bookings", s.base))
        .header("cal-api-version", BOOKINGS)
        .json(&booking_body("2025-11-25T11:00:00Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn reschedule_moves_the_booking() {
    let s = serve(one_host()).await;
    let created: Value = s
        .http
        .post(format!("{}/v2/bookings", s.base))
        .header("cal-api-version", BOOKINGS)
        .json(&booking_body("2025-11-25T11:00:00Z"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uid = created["data"]["uid"].as_str().unwrap();
    let r = s
        .http
        .post(format!("{}/v2/bookings/{uid}/reschedule", s.base))
        .header("cal-api-version", BOOKINGS)
        .json(&json!({ "start": "2025-11-25T11:15:00Z", "reschedulingReason": "später" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let moved: Value = r.json().await.unwrap();
    assert_eq!(moved["data"]["rescheduledFromUid"], uid);
    assert_eq!(moved["data"]["start"], "2025-11-25T11:15:00.000Z");
    assert_ne!(moved["data"]["uid"], uid);
    let old: Value = s
        .http
        .get(format!("{}/v2/bookings/{uid}", s.base))
        .header("cal-api-version", BOOKINGS)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(old["data"]["status"], "cancelled");
    assert_eq!(old["data"]["rescheduledToUid"], moved["data"]["uid"]);
}

#[tokio::test]
async fn versions_route_as_calcom_routes_them() {
    let s = serve(one_host()).await;
    let q = "eventTypeId=1001&start=2025-11-25&end=2025-11-25";
    let r = s
        .http
        .get(format!("{}/v2/slots?{q}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_envelope(
        &r.json().await.unwrap(),
        "NotFoundException",
        &format!("Cannot GET /v2/slots?{q}"),
        &format!("/v2/slots?{q}"),
    );
    for version in [None, Some("2024-08-13"), Some("2024-04-15")] {
        let mut req = s.http.get(format!(
            "{}/v2/slots/available?eventTypeId=1001&startTime=2025-11-25&endTime=2025-11-25",
            s.base
        ));
        if let Some(v) = version {
            req = req.header("cal-api-version", v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "legacy slots with {version:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["data"]["slots"]["2025-11-25"][0],
            json!({ "time": "2025-11-25T08:00:00.000Z" })
        );
    }
    let r = s
        .http
        .get(format!(
            "{}/v2/slots/available?eventTypeId=1001&startTime=2025-11-25&endTime=2025-11-25",
            s.base
        ))
        .header("cal-api-version", SLOTS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .http
        .post(format!("{}/v2/bookings", s.base))
        .json(&booking_body("2025-11-25T11:00:00Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "bookings without 2024-08-13 go to the legacy controller"
    );
    let r = s
        .http
        .get(format!("{}/v2/nothing", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_gets_the_right_4xx_and_the_server_keeps_serving() {
    let mut config = one_host();
    config.api.max_body_bytes = 2048;
    let s = serve(config).await;
    let post = |body: reqwest::Body| {
        s.http
            .post(format!("{}/v2/bookings", s.base))
            .header("cal-api-version", BOOKINGS)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // The seeds' Laravel client sent `language` at the root: Cal.com refuses unknown fields.
    let mut with_language = booking_body("2025-11-25T11:00:00Z");
    with_language["language"] = json!("de");
    let r = post(with_language.to_string().into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("language property is wrong"),
        "{body}"
    );
    let mut nested = booking_body("2025-11-25T11:00:00Z");
    nested["attendee"]["shoeSize"] = json!(44);
    let body: Value = post(nested.to_string().into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("attendee.shoeSize"),
        "{body}"
    );
    for (payload, status) in [
        ("{\"start\": ", StatusCode::BAD_REQUEST),
        ("[1,2,3]", StatusCode::BAD_REQUEST),
        (
            "{\"start\":\"tomorrow\",\"eventTypeId\":1001}",
            StatusCode::BAD_REQUEST,
        ),
        (
            "{\"start\":\"2025-11-25T11:00:00Z\",\"eventTypeId\":\"1001\"}",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = post(payload.to_owned().into()).await.unwrap();
        assert_eq!(r.status(), status, "{payload}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "BadRequestException",
            "{payload}: {body}"
        );
    }
    let r = post("x".repeat(4096).into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "PayloadTooLargeException");
    let mut unknown_event = booking_body("2025-11-25T11:00:00Z");
    unknown_event["eventTypeId"] = json!(4242);
    let r = post(unknown_event.to_string().into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .http
        .get(format!(
            "{}/v2/slots?eventTypeId=1001&start=2025-11-25&end=2025-11-25&colour=red",
            s.base
        ))
        .header("cal-api-version", SLOTS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .http
        .get(format!(
            "{}/v2/slots?eventTypeId=1001&start=morgen&end=2025-11-25",
            s.base
        ))
        .header("cal-api-version", SLOTS)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "Invalid time range given - check the 'start' and 'end' query parameters."
    );
    let r = s
        .http
        .get(format!(
            "{}/v2/slots?eventTypeId=77&start=2025-11-25&end=2025-11-25",
            s.base
        ))
        .header("cal-api-version", SLOTS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s
        .http
        .get(format!("{}/v2/event-types", s.base))
        .header("authorization", "Bearer wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s
        .http
        .get(format!("{}/v2/event-types", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Still serving.
    let r = post(booking_body("2025-11-25T11:00:00Z").to_string().into())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let event_types: Value = s
        .http
        .get(format!("{}/v2/event-types", s.base))
        .header("authorization", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(event_types["data"][0]["slug"], "herrenhaarschnitt");
    assert_eq!(
        event_types["data"][0]["lengthInMinutesOptions"],
        json!([30, 45])
    );
}

#[tokio::test]
async fn the_121st_request_in_a_minute_is_throttled_for_60_seconds() {
    let s = serve(one_host()).await;
    let url = format!(
        "{}/v2/slots?eventTypeId=1001&start=2025-11-25&end=2025-11-25",
        s.base
    );
    let get = || {
        s.http
            .get(&url)
            .header("cal-api-version", SLOTS)
            .header("authorization", KEY)
            .send()
    };
    for i in 1..=120u32 {
        let r = get().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "request {i}");
        assert_eq!(r.headers()["x-ratelimit-limit-default"], "120");
        assert_eq!(
            r.headers()["x-ratelimit-remaining-default"],
            (120 - i).to_string().as_str()
        );
    }
    let r = get().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.headers().get("retry-after").is_none(),
        "Cal.com sends no Retry-After"
    );
    assert_eq!(r.headers()["x-ratelimit-remaining-default"], "0");
    assert_eq!(r.headers()["x-ratelimit-reset-default"], "60");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ThrottlerException");
    assert_eq!(
        body["error"]["message"],
        "CustomThrottlerGuard - Too many requests. Please try again later."
    );
    // Another key is not affected.
    let other = s
        .http
        .get(&url)
        .header("cal-api-version", SLOTS)
        .header("authorization", "Bearer cal_other")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    s.clock.advance(Duration::from_secs(59));
    assert_eq!(
        get().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS,
        "still blocked after 59 s"
    );
    s.clock.advance(Duration::from_secs(1));
    assert_eq!(
        get().await.unwrap().status(),
        StatusCode::OK,
        "block lasts 60 s"
    );
    let stats = s.mock.request_stats();
    assert_eq!(stats.by_endpoint["slots"][&429], 2);
}

#[tokio::test]
async fn reservations_hide_conflict_with_422_expire_and_do_not_block_bookings() {
    let s = serve(one_host()).await;
    let reserve = |body: Value, auth: bool| {
        let mut req = s
            .http
            .post(format!("{}/v2/slots/reservations", s.base))
            .header("cal-api-version", SLOTS)
            .json(&body);
        if auth {
            req = req.header("authorization", KEY);
        }
        req.send()
    };
    let r = reserve(json!({ "eventTypeId": 1001, "slotStart": "2025-11-25T11:00:00Z", "reservationDuration": 10 }), true).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let held: Value = r.json().await.unwrap();
    let d = &held["data"];
    assert_eq!(d["eventTypeId"], 1001);
    assert_eq!(d["slotStart"], "2025-11-25T11:00:00.000Z");
    assert_eq!(d["slotEnd"], "2025-11-25T11:30:00.000Z");
    assert_eq!(d["slotDuration"], 30);
    assert_eq!(d["reservationDuration"], 10);
    assert_eq!(d["reservationUntil"], "2025-11-24T08:10:00.000Z");
    let uid = d["reservationUid"].as_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&uid).unwrap().get_version_num(), 4);

    let listed = || async {
        let body: Value = s
            .http
            .get(format!(
                "{}/v2/slots?eventTypeId=1001&start=2025-11-25T11:00:00Z&end=2025-11-25T11:00:00Z",
                s.base
            ))
            .header("cal-api-version", SLOTS)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["data"].as_object().unwrap().len()
    };
    assert_eq!(listed().await, 0, "reserved slot is hidden");
    let r = reserve(
        json!({ "eventTypeId": 1001, "slotStart": "2025-11-25T11:00:00Z" }),
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UnprocessableEntityException");
    assert_eq!(
        body["error"]["message"],
        "This time slot is already reserved by another user. Please choose a different time."
    );
    let r = reserve(json!({ "eventTypeId": 1001, "slotStart": "2025-11-25T12:00:00Z", "reservationDuration": 5 }), false).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "reservationDuration needs an API key"
    );

    let got: Value = s
        .http
        .get(format!("{}/v2/slots/reservations/{uid}", s.base))
        .header("cal-api-version", SLOTS)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["reservationUid"], uid.as_str());
    let unknown: Value = s
        .http
        .get(format!("{}/v2/slots/reservations/nope", s.base))
        .header("cal-api-version", SLOTS)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unknown, json!({ "status": "success", "data": null }));

    // Expiry: after 10 minutes the slot is listed again and the reservation reads as null.
    s.clock.advance(Duration::from_secs(600));
    assert_eq!(listed().await, 1);
    let got: Value = s
        .http
        .get(format!("{}/v2/slots/reservations/{uid}", s.base))
        .header("cal-api-version", SLOTS)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"], Value::Null);

    // A new hold; a booking by another channel still goes through it.
    let held: Value = reserve(
        json!({ "eventTypeId": 1001, "slotStart": "2025-11-25T11:00:00Z" }),
        false,
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let uid = held["data"]["reservationUid"].as_str().unwrap().to_owned();
    let r = s
        .http
        .post(format!("{}/v2/bookings", s.base))
        .header("cal-api-version", BOOKINGS)
        .json(&booking_body("2025-11-25T11:00:00Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "reservations do not block bookings"
    );
    let r = s
        .http
        .patch(format!("{}/v2/slots/reservations/{uid}", s.base))
        .header("cal-api-version", SLOTS)
        .json(&json!({ "eventTypeId": 1001, "slotStart": "2025-11-25T13:00:00Z" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = reserve(
        json!({ "eventTypeId": 1001, "slotStart": "2025-11-25T11:00:00Z" }),
        false,
    )
    .await
    .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "Can't reserve a slot if the event is already booked."
    );
    let r = s
        .http
        .delete(format!("{}/v2/slots/reservations/{uid}", s.base))
        .header("cal-api-version", SLOTS)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "status": "success" })
    );
    let r = s
        .http
        .delete(format!("{}/v2/slots/reservations/{uid}", s.base))
        .header("cal-api-version", SLOTS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Legacy reserve answers the uid alone.
    let r = s.http.post(format!("{}/v2/slots/reserve", s.base)).json(&json!({ "eventTypeId": 1001, "slotUtcStartDate": "2025-11-25T14:00:00Z", "slotUtcEndDate": "2025-11-25T14:30:00Z" })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert!(body["data"].is_string(), "{body}");
}

#[tokio::test]
async fn subscribers_receive_signed_webhooks_also_for_external_bookings() {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(HeaderMap, Bytes)>();
    let subscriber = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let _ = tx.send((headers, body));
            async { "ok" }
        }),
    );
    let listener = simkit::transport::Listener::bind(
        simkit::transport::Network::Real,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(simkit::transport::serve(
        listener,
        subscriber,
        std::future::pending(),
        Duration::from_secs(1),
        simkit::transport::ConnectionLimit::Unlimited,
    ));

    let s = serve(one_host()).await;
    let r = s.http.post(format!("{}/v2/webhooks", s.base)).header("authorization", KEY).json(&json!({ "active": true, "subscriberUrl": hook_url, "triggers": ["BOOKING_CREATED", "BOOKING_CANCELLED"], "secret": "whsec_salon" })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let sub: Value = r.json().await.unwrap();
    assert_eq!(sub["data"]["subscriberUrl"], hook_url.as_str());
    assert_eq!(sub["data"]["userId"], 1);
    let r = s
        .http
        .post(format!("{}/v2/webhooks", s.base))
        .json(&json!({ "active": true, "subscriberUrl": hook_url, "triggers": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let created: Value = s
        .http
        .post(format!("{}/v2/bookings", s.base))
        .header("cal-api-version", BOOKINGS)
        .json(&booking_body("2025-11-25T11:00:00Z"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (headers, body) = simkit::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let expected = mock_calcom::webhooks::signature(Some("whsec_salon"), &body);
    assert_eq!(headers["x-cal-signature-256"], expected.as_str());
    assert_eq!(headers["x-cal-webhook-version"], "2021-10-20");
    let hook: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(hook["triggerEvent"], "BOOKING_CREATED");
    assert_eq!(hook["payload"]["uid"], created["data"]["uid"]);
    assert_eq!(hook["payload"]["status"], "ACCEPTED");
    assert_eq!(hook["payload"]["startTime"], "2025-11-25T11:00:00.000Z");
    assert_eq!(hook["payload"]["organizer"]["name"], "Fabian Spitzer");
    assert_eq!(
        hook["payload"]["metadata"]["call_id"],
        "call_272edd18b16a74df18b9e7a9b9d"
    );

    // Staff books in the Cal.com app: no API key, no throttle, webhook still fires.
    let r = s.http.post(format!("{}/_mock/bookings", s.base)).json(&json!({ "eventTypeId": 1001, "start": "2025-11-25T12:00:00Z", "attendeeName": "Walk-in" })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let external: Value = r.json().await.unwrap();
    let (_, body) = simkit::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let hook: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(hook["payload"]["uid"], external["data"]["uid"]);
    let r = s
        .http
        .post(format!("{}/_mock/bookings", s.base))
        .json(&json!({ "eventTypeId": 1001, "start": "2025-11-25T12:00:00Z" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "staff cannot book a taken slot without force"
    );

    let uid = external["data"]["uid"].as_str().unwrap();
    let r = s
        .http
        .post(format!("{}/_mock/bookings/{uid}/cancel", s.base))
        .json(&json!({ "cancellationReason": "krank" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, body) = simkit::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let hook: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (
            hook["triggerEvent"].as_str(),
            hook["payload"]["status"].as_str()
        ),
        (Some("BOOKING_CANCELLED"), Some("CANCELLED"))
    );

    // Ground truth reads it all back, then reset empties it.
    let truth: Value = s
        .http
        .get(format!("{}/_mock/state", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sources: Vec<&str> = truth["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["api", "external"]);
    assert_eq!(truth["subscriptions"].as_array().unwrap().len(), 1);
    assert_eq!(truth["requests"]["by_endpoint"]["create_booking"]["201"], 1);
    let r = s
        .http
        .post(format!("{}/_mock/reset", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let truth: Value = s
        .http
        .get(format!("{}/_mock/state", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(truth["bookings"], json!([]));
}

#[tokio::test]
async fn injected_faults_answer_like_the_real_failures() {
    let mut config = one_host();
    let faults: MockConfig = toml::from_str(
        r#"
        [[faults]]
        endpoint = "create_booking"
        kind = "status"
        status = 503

        [[faults]]
        endpoint = "get_booking"
        kind = "reset"

        [[faults]]
        endpoint = "slots"
        kind = "status"
        status = 400
        message = "no_available_users_found_error"
        "#,
    )
    .unwrap();
    config.faults = faults.faults;
    let s = serve(config).await;
    let r = s
        .http
        .post(format!("{}/v2/bookings", s.base))
        .header("cal-api-version", BOOKINGS)
        .json(&booking_body("2025-11-25T11:00:00Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.text().await.unwrap(), "503 Service Unavailable");
    let err = s
        .http
        .get(format!("{}/v2/bookings/x", s.base))
        .header("cal-api-version", BOOKINGS)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.is_request() || err.is_connect() || err.to_string().contains("connection"),
        "{err}"
    );
    let r = s
        .http
        .get(format!(
            "{}/v2/slots?eventTypeId=1001&start=2025-11-25&end=2025-11-25",
            s.base
        ))
        .header("cal-api-version", SLOTS)
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["message"], "no_available_users_found_error");
    assert_eq!(
        s.mock.request_stats().by_endpoint["create_booking"][&503],
        1
    );
}

/// `POST /v2/bookings` with the current docs' `2026-02-25` books as `2024-08-13` does; no
/// version (the legacy controller) is refused with a 400 that says which to send.
#[tokio::test]
async fn bookings_accept_the_current_docs_version_and_refuse_the_legacy_one() {
    let s = serve(one_host()).await;
    let post = |version: Option<&str>, start: &str| {
        let mut r = s
            .http
            .post(format!("{}/v2/bookings", s.base))
            .json(&booking_body(start));
        if let Some(v) = version {
            r = r.header("cal-api-version", v);
        }
        r.send()
    };
    let r = post(Some("2026-02-25"), "2025-11-25T11:00:00Z")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["data"]["start"], "2025-11-25T11:00:00.000Z");
    let r = post(None, "2025-11-25T12:00:00Z").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2026-02-25"),
        "{body}"
    );
}

/// What a live run does to a running mock: load its world, add a fault window and change
/// webhook behaviour while it runs, ask what Cal.com would have admitted at a past instant.
#[tokio::test]
async fn a_live_run_loads_a_world_adds_faults_and_judges_past_instants() {
    let s = serve(MockConfig::demo()).await;
    let admin = |path: &str| format!("{}/_mock/{path}", s.base);
    // A whole world, as JSON in the shape GET /_mock/config answers.
    let world = serde_json::to_value(one_host()).unwrap();
    let r = s
        .http
        .put(admin("config?seed=3"))
        .json(&world)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let loaded: Value = r.json().await.unwrap();
    assert_eq!(loaded["data"]["generation"], 1);
    let config: Value = s
        .http
        .get(admin("config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["hosts"].as_array().unwrap().len(), 1, "{config}");
    // A bad world is refused whole, naming the field; the loaded one stays.
    let mut bad = world.clone();
    bad["event_types"][0]["hosts"] = json!([9]);
    let r = s.http.put(admin("config")).json(&bad).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("hosts"),
        "{body}"
    );
    let r = s
        .http
        .put(admin("config"))
        .json(&json!({ "hostz": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );

    // A fault window from now on, for ten seconds.
    let r = s
        .http
        .post(admin("faults"))
        .json(&json!({ "endpoint": "create_booking", "kind": "status", "status": 503, "until": "10s" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let create = || {
        s.http
            .post(format!("{}/v2/bookings", s.base))
            .header("cal-api-version", "2024-08-13")
            .bearer_auth("cal_live_test")
            .json(&json!({
                "eventTypeId": 1001,
                "start": "2025-11-25T11:00:00Z",
                "attendee": { "name": "Siegfried", "email": "s@example.com", "timeZone": "Europe/Berlin" }
            }))
            .send()
    };
    assert_eq!(
        create().await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    s.clock.advance(Duration::from_secs(11));
    assert_eq!(create().await.unwrap().status(), StatusCode::CREATED);
    let r = s
        .http
        .post(admin("faults"))
        .json(&json!({ "endpoint": "create_booking", "kind": "sometimes" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Webhook behaviour changes; the subscriptions stay.
    let r = s
        .http
        .put(admin("webhooks"))
        .json(&json!({ "loss_probability": 1.0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(s.mock.config().webhooks.loss_probability, 1.0);
    let r = s
        .http
        .put(admin("webhooks"))
        .json(&json!({ "loss_probability": 7.0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // 12:00 Berlin was free before the booking's instant, taken after it.
    let booked_at = s.mock.now();
    let before = (booked_at - chrono::TimeDelta::seconds(5)).to_rfc3339();
    let after = (booked_at + chrono::TimeDelta::seconds(5)).to_rfc3339();
    let r = s
        .http
        .post(admin("bookable"))
        .json(&json!({ "queries": [
            { "eventTypeId": 1001, "start": "2025-11-25T11:00:00Z", "at": before },
            { "eventTypeId": 1001, "start": "2025-11-25T11:00:00Z", "at": after },
            { "eventTypeId": 1001, "start": "2025-11-25T12:00:00Z", "at": after },
        ] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let answers: Value = r.json().await.unwrap();
    assert_eq!(answers["data"], json!([true, false, true]));

    // The ground truth reads back as the type it is written from.
    let truth: mock_calcom::GroundTruth = s
        .http
        .get(admin("state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(truth.bookings.len(), 1);
}

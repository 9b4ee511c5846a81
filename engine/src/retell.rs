//! `POST /api/webhooks/retell/function`: Retell's custom function calls, answered in the
//! seeds' shape and German wording.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::TimeDelta;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::booking::{BookOutcome, CancelOutcome, CheckOutcome, SlotRequest};
use crate::dates;
use crate::engine::Engine;

/// "Dieser Termin wurde gerade vergeben": what the agent says when a slot went away.
pub const TAKEN: &str =
    "Dieser Termin wurde gerade vergeben. Bitte wählen Sie einen anderen Zeitpunkt.";

/// What the agent says when the slot came closer than the salon's minimum notice while
/// the caller talked: not taken, too soon.
pub const SHORT_NOTICE: &str = "Dieser Termin ist inzwischen zu kurzfristig, so kurzfristig kann ich leider nicht mehr buchen. Bitte wählen Sie einen späteren Zeitpunkt.";

/// Retell's signature window.
const SIGNATURE_WINDOW: TimeDelta = TimeDelta::minutes(5);

/// Checks `x-retell-signature: v=<unix ms>,d=<hex HMAC-SHA256(key, body + ms)>`.
pub fn verify_signature(key: &str, header: Option<&str>, body: &[u8], now_ms: i64) -> bool {
    let Some(header) = header else { return false };
    let mut ts = None;
    let mut digest = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("v", v)) => ts = Some(v.trim()),
            Some(("d", d)) => digest = Some(d.trim()),
            _ => {}
        }
    }
    let (Some(ts), Some(digest)) = (ts, digest) else {
        return false;
    };
    let Ok(ts_ms) = ts.parse::<i64>() else {
        return false;
    };
    if (now_ms - ts_ms).abs() > SIGNATURE_WINDOW.num_milliseconds() {
        return false;
    }
    let Ok(expected) = hex::decode(digest) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.update(ts.as_bytes());
    mac.verify_slice(&expected).is_ok()
}

/// The signature header Retell would send (for clients and tests).
pub fn sign(key: &str, body: &[u8], now_ms: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.update(now_ms.to_string().as_bytes());
    format!("v={now_ms},d={}", hex::encode(mac.finalize().into_bytes()))
}

/// An argument as the contract names it (the first of `keys` present), trimmed; a number as
/// its text. Live mode reads a call's request with it too.
pub fn text(args: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| args.get(*k))
        .and_then(|v| match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

fn slot_request(call_id: String, args: &Value) -> SlotRequest {
    SlotRequest {
        call_id,
        service: text(args, &["dienstleistung", "service_name", "service"]),
        datetime: text(args, &["datetime", "appointment_datetime"]),
        date: text(args, &["datum", "date", "appointment_date"]),
        time: text(args, &["uhrzeit", "time", "appointment_time"]),
        customer_name: text(args, &["name", "customer_name"]),
    }
}

fn alternatives_json(alternatives: &[chrono::NaiveDateTime]) -> Value {
    json!(alternatives.iter().map(|a| json!({ "datetime": a.format("%Y-%m-%dT%H:%M").to_string(), "text": dates::german(*a) })).collect::<Vec<_>>())
}

fn offer(alternatives: &[chrono::NaiveDateTime]) -> String {
    match alternatives {
        [] => "Leider habe ich an dem Tag keinen freien Termin mehr.".into(),
        [one] => format!("Alternativ hätte ich {} frei.", dates::german(*one)),
        many => format!(
            "Alternativ hätte ich {} frei.",
            many.iter()
                .map(|a| a.format("%H:%M").to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The answer to `check_availability`.
pub fn check_answer(outcome: &CheckOutcome) -> Value {
    match outcome {
        CheckOutcome::Available {
            request,
            reservation,
        } => {
            let mut answer = json!({
                "success": true,
                "available": true,
                "service": request.service.name,
                "requested_time": dates::compact(request.local),
                "message": format!("Ja, {} ist verfügbar am {}.", request.service.name, dates::german(request.local)),
            });
            if let Some(token) = reservation {
                answer["reservation_token"] = json!(token);
            }
            answer
        }
        CheckOutcome::Unavailable {
            request,
            alternatives,
        } => json!({
            "success": true,
            "available": false,
            "service": request.service.name,
            "requested_time": dates::compact(request.local),
            "message": format!("Leider ist {} am {} nicht verfügbar. {}", request.service.name, dates::german(request.local), offer(alternatives)),
            "alternatives": alternatives_json(alternatives),
        }),
        CheckOutcome::Invalid(message) => {
            json!({ "success": false, "error_type": "invalid_request", "error": message, "message": message })
        }
        CheckOutcome::Failed { failure, .. } => json!({
            "success": false,
            "error_type": failure.code(),
            "error": "Der Kalender ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.",
        }),
    }
}

/// The answer to `start_booking`.
pub fn book_answer(outcome: &BookOutcome) -> Value {
    match outcome {
        BookOutcome::Booked {
            request,
            appointment,
            ..
        } => json!({
            "success": true,
            "booked": true,
            "appointment_id": appointment.id,
            "booking_uids": appointment.segments.iter().filter_map(|p| p.calcom_uid.clone()).collect::<Vec<_>>(),
            "service": request.service.name,
            "requested_time": dates::compact(request.local),
            "message": format!("Perfekt! Ihr Termin für {} am {} ist gebucht.", request.service.name, dates::german(request.local)),
        }),
        BookOutcome::Taken {
            request,
            reason,
            alternatives,
        } => json!({
            "success": false,
            "error_type": reason,
            "error": TAKEN,
            "service": request.service.name,
            "requested_time": dates::compact(request.local),
            "alternatives_available": !alternatives.is_empty(),
            "alternatives": alternatives_json(alternatives),
        }),
        BookOutcome::Invalid(message) => {
            json!({ "success": false, "error_type": "invalid_request", "error": message })
        }
        // The seed system answered every failed booking the same way.
        BookOutcome::Failed {
            request, failure, ..
        } => json!({
            "success": false,
            "error_type": failure.code(),
            "error": if *failure == crate::booking::Failure::ShortNotice { SHORT_NOTICE } else { TAKEN },
            "service": request.service.name,
            "requested_time": dates::compact(request.local),
        }),
    }
}

/// The functions [`function_call`] answers; any other name is a 400.
pub const FUNCTIONS: [&str; 7] = [
    "check_availability",
    "check_availability_v17",
    "start_booking",
    "get_alternatives",
    "get_current_context",
    "check_customer",
    "cancel_appointment",
];

/// The Retell function-call endpoint.
pub async fn function_call(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(key) = &engine.settings.retell_api_key {
        let header = headers
            .get("x-retell-signature")
            .and_then(|v| v.to_str().ok());
        if !verify_signature(key, header, &body, engine.now().timestamp_millis()) {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": "invalid signature" })),
            )
                .into_response();
        }
    }
    let Ok(call) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "body is not JSON" })),
        )
            .into_response();
    };
    let Some(name) = call.get("name").and_then(Value::as_str).map(str::to_owned) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "missing function `name`" })),
        )
            .into_response();
    };
    // Arguments under `args`, or at the root when Retell's `args_at_root` is set.
    let args = call.get("args").cloned().unwrap_or_else(|| call.clone());
    let call_id = call
        .pointer("/call/call_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| text(&args, &["call_id"]))
        .unwrap_or_default();
    let request = slot_request(call_id.clone(), &args);
    engine.request_overhead().await;
    let answer = match name.as_str() {
        "check_availability" | "check_availability_v17" => {
            check_answer(&engine.check_availability(&request).await)
        }
        "start_booking" => book_answer(&engine.start_booking_detached(request).await),
        "get_alternatives" => match engine.check_availability(&request).await {
            CheckOutcome::Available { request, .. } => {
                json!({ "success": true, "alternatives": alternatives_json(&[request.local]) })
            }
            other => check_answer(&other),
        },
        "get_current_context" => {
            let now = engine.local(engine.now());
            json!({ "success": true, "call_id": call_id, "current_date": now.format("%Y-%m-%d").to_string(), "current_time": now.format("%H:%M").to_string(), "weekday": dates::german(now).split(',').next().unwrap_or_default() })
        }
        "check_customer" => {
            json!({ "success": true, "call_id": call_id, "customer_exists": false })
        }
        "cancel_appointment" => cancel(&engine, &call_id).await,
        other => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "success": false, "error": format!("unknown function `{other}`") })),
            )
                .into_response();
        }
    };
    Json(answer).into_response()
}

/// The answer to `cancel_appointment`.
async fn cancel(engine: &Arc<Engine>, call_id: &str) -> Value {
    match engine.cancel_appointment_detached(call_id).await {
        CancelOutcome::Cancelled(appointment) => {
            json!({ "success": true, "cancelled": true, "message": format!("Ihr Termin am {} ist abgesagt.", dates::german(engine.local(appointment.start))) })
        }
        CancelOutcome::CancelledInFlight => {
            json!({ "success": true, "cancelled": true, "message": "Ihre Buchung ist abgesagt." })
        }
        CancelOutcome::NotFound => {
            json!({ "success": false, "error": "Ich habe zu diesem Anruf keinen Termin gefunden." })
        }
        CancelOutcome::Failed(e) => {
            json!({ "success": false, "error_type": "calcom_error", "error": format!("Die Absage hat nicht geklappt ({e}).") })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_within_five_minutes_only() {
        let body = br#"{"name":"check_availability"}"#;
        let now = 1_763_720_461_000;
        let header = sign("key_retell", body, now);
        assert!(verify_signature(
            "key_retell",
            Some(&header),
            body,
            now + 299_000
        ));
        assert!(
            !verify_signature("key_retell", Some(&header), body, now + 301_000),
            "too old"
        );
        assert!(!verify_signature("other_key", Some(&header), body, now));
        assert!(
            !verify_signature("key_retell", Some(&header), b"{}", now),
            "body changed"
        );
        assert!(!verify_signature("key_retell", None, body, now));
        assert!(!verify_signature(
            "key_retell",
            Some("v=abc,d=zz"),
            body,
            now
        ));
    }
}

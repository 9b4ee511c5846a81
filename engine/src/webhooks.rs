//! `POST /api/webhooks/calcom`: Cal.com's booking webhooks, signature-checked; with the
//! `webhook_invalidation` fix they drop the cached availability they make stale.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::engine::{Engine, lock};

/// Whether `signature` is the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature_valid(secret: &str, signature: &str, body: &[u8]) -> bool {
    let Ok(expected) = hex::decode(signature.trim()) else {
        return false;
    };
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

pub async fn calcom(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers
        .get("x-cal-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let valid = engine
        .settings
        .webhook_secret
        .as_deref()
        .is_some_and(|secret| signature_valid(secret, signature, &body));
    if !valid {
        lock(&engine.webhooks).1 += 1;
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "error": "invalid signature" })),
        )
            .into_response();
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "body is not JSON" })),
        )
            .into_response();
    };
    lock(&engine.webhooks).0 += 1;
    let trigger = event
        .get("triggerEvent")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let event_type = event
        .pointer("/payload/eventTypeId")
        .and_then(Value::as_u64);
    let start = event
        .pointer("/payload/startTime")
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc());
    tracing::debug!(trigger, ?event_type, ?start, "Cal.com webhook");
    if engine.policy().webhook_invalidation
        && matches!(
            trigger,
            "BOOKING_CREATED" | "BOOKING_CANCELLED" | "BOOKING_RESCHEDULED"
        )
        && let (Some(event_type), Some(start)) = (event_type, start)
    {
        engine.invalidate(event_type, start);
        if let Some(old) = event
            .pointer("/payload/rescheduleStartTime")
            .and_then(Value::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        {
            engine.invalidate(event_type, old.to_utc());
        }
    }
    if engine.policy().follow_staff_changes
        && let Some(change) = crate::staff::StaffChange::of_webhook(trigger, &event)
    {
        let engine = engine.clone();
        tokio::spawn(async move { engine.follow(change).await });
    }
    Json(json!({ "received": true })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_body_under_the_secret_verifies() {
        let body = br#"{"triggerEvent":"BOOKING_CREATED"}"#;
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"whsec").unwrap();
        mac.update(body);
        let good = hex::encode(mac.finalize().into_bytes());
        assert!(signature_valid("whsec", &good, body));
        assert!(!signature_valid("other", &good, body));
        assert!(!signature_valid(
            "whsec",
            &good,
            br#"{"triggerEvent":"BOOKING_CANCELLED"}"#
        ));
        assert!(!signature_valid("whsec", "no-secret-provided", body));
    }
}

//! `/v2/webhooks`: subscribing to booking events (the account's own subscriptions).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::error::{ApiError, success};
use super::extract::{Body, Caller};
use super::{AppState, faults};
use crate::config::{Endpoint, MAX_SUBSCRIPTIONS};
use crate::wire;

/// Triggers Cal.com accepts (`CreateWebhookInputDto.triggers`).
pub const TRIGGERS: &[&str] = &[
    "BOOKING_CREATED",
    "BOOKING_PAYMENT_INITIATED",
    "BOOKING_PAID",
    "BOOKING_RESCHEDULED",
    "BOOKING_REQUESTED",
    "BOOKING_CANCELLED",
    "BOOKING_REJECTED",
    "BOOKING_NO_SHOW_UPDATED",
    "FORM_SUBMITTED",
    "MEETING_ENDED",
    "MEETING_STARTED",
    "RECORDING_READY",
    "INSTANT_MEETING",
    "RECORDING_TRANSCRIPTION_GENERATED",
    "OOO_CREATED",
    "AFTER_HOSTS_CAL_VIDEO_NO_SHOW",
    "AFTER_GUESTS_CAL_VIDEO_NO_SHOW",
    "FORM_SUBMITTED_NO_EVENT",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateWebhookInput {
    active: Option<bool>,
    subscriber_url: Option<String>,
    triggers: Option<Vec<String>>,
    secret: Option<String>,
    payload_template: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(input): Body<CreateWebhookInput>,
) -> Result<Response, ApiError> {
    caller.require()?;
    if let Some(fault) = faults::injected(&state, Endpoint::Webhooks).await {
        return Ok(fault);
    }
    let active = input
        .active
        .ok_or_else(|| ApiError::bad_request("active must be a boolean value"))?;
    let url = input
        .subscriber_url
        .filter(|u| {
            u.parse::<http::Uri>()
                .is_ok_and(|u| u.scheme().is_some() && u.host().is_some())
        })
        .ok_or_else(|| ApiError::bad_request("subscriberUrl must be a URL address"))?;
    let triggers = input
        .triggers
        .ok_or_else(|| ApiError::bad_request("triggers must be an array"))?;
    if let Some(bad) = triggers.iter().find(|t| !TRIGGERS.contains(&t.as_str())) {
        return Err(ApiError::bad_request(format!(
            "each value in triggers must be one of the following values: {} (got {bad})",
            TRIGGERS.join(", ")
        )));
    }
    state.delay(Endpoint::Webhooks).await;
    let sub = state.with_world(|w| {
        (w.subscriptions().count() < MAX_SUBSCRIPTIONS).then(|| {
            w.add_subscription(url, triggers, active, input.secret, input.payload_template)
        })
    });
    let Some(sub) = sub else {
        return Err(ApiError::bad_request(format!(
            "Too many webhooks: at most {MAX_SUBSCRIPTIONS} per account; delete one first"
        )));
    };
    Ok(success(StatusCode::CREATED, wire::subscription(&sub)))
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require()?;
    state.delay(Endpoint::Webhooks).await;
    let all: Vec<Value> = state.with_world(|w| w.subscriptions().map(wire::subscription).collect());
    Ok(success(StatusCode::OK, Value::Array(all)))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require()?;
    state.delay(Endpoint::Webhooks).await;
    let found = id.parse::<u64>().ok().and_then(|id| {
        state.with_world(|w| {
            w.subscriptions()
                .find(|s| s.id == id)
                .map(wire::subscription)
        })
    });
    found
        .map(|s| success(StatusCode::OK, s))
        .ok_or_else(|| ApiError::not_found(format!("Webhook with id={id} not found")))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require()?;
    state.delay(Endpoint::Webhooks).await;
    let removed = id
        .parse::<u64>()
        .ok()
        .and_then(|id| state.with_world(|w| w.remove_subscription(id)));
    removed
        .map(|s| success(StatusCode::OK, wire::subscription(&s)))
        .ok_or_else(|| ApiError::not_found(format!("Webhook with id={id} not found")))
}

//! The mock's own extension under `/_mock/`, not part of Cal.com: book and cancel behind the
//! application's back (as staff in the Cal.com app: no rate limit, no latency, webhooks
//! fire), read the ground truth, reset.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::DateTime;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::bookings::refusal;
use super::error::{ApiError, success};
use super::extract::Body;
use crate::mock::ExternalBooking;
use crate::wire;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/state", get(state))
        .route("/config", get(config))
        .route("/bookings", post(book))
        .route("/bookings/{uid}/cancel", post(cancel))
        .route("/reset", post(reset))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExternalBookingInput {
    event_type_id: u64,
    start: String,
    length_in_minutes: Option<u32>,
    host_id: Option<u64>,
    attendee_name: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, Value>,
    /// Book even if the host is busy or off work (a deliberate overbooking).
    #[serde(default)]
    force: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExternalCancelInput {
    cancellation_reason: Option<String>,
}

async fn state(State(mock): State<AppState>) -> Json<Value> {
    Json(serde_json::to_value(mock.ground_truth()).unwrap_or_default())
}

async fn config(State(mock): State<AppState>) -> Json<Value> {
    Json(serde_json::to_value(mock.config()).unwrap_or_default())
}

async fn book(
    State(mock): State<AppState>,
    Body(input): Body<ExternalBookingInput>,
) -> Result<Response, ApiError> {
    let start = DateTime::parse_from_rfc3339(&input.start)
        .map_err(|_| ApiError::bad_request("start must be a valid ISO 8601 date string"))?
        .to_utc();
    let booking = mock
        .book_external(ExternalBooking {
            event_type_id: input.event_type_id,
            start,
            length_minutes: input.length_in_minutes,
            host_id: input.host_id,
            attendee_name: input
                .attendee_name
                .unwrap_or_else(|| "Telefonkunde (Salon)".into()),
            metadata: input.metadata,
            force: input.force,
        })
        .map_err(|r| refusal(r, true))?;
    let body = mock.with_world(|w| wire::booking(w, &booking));
    Ok(success(StatusCode::CREATED, body))
}

async fn cancel(
    State(mock): State<AppState>,
    Path(uid): Path<String>,
    Body(input): Body<ExternalCancelInput>,
) -> Result<Response, ApiError> {
    let booking = mock
        .cancel_external(&uid, input.cancellation_reason)
        .map_err(|r| refusal(r, false))?;
    let body = mock.with_world(|w| wire::booking(w, &booking));
    Ok(success(StatusCode::OK, body))
}

async fn reset(State(mock): State<AppState>) -> Response {
    mock.reset();
    Json(json!({ "status": "success" })).into_response()
}

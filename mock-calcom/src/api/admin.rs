//! The mock's own extension under `/_mock/`, not part of Cal.com: book and cancel behind the
//! application's back (as staff in the Cal.com app: no rate limit, no latency, webhooks
//! fire), read the ground truth, reset; and what a live run needs: load a whole world, add
//! fault windows and change webhook behaviour while it runs, ask what Cal.com would have
//! admitted at a past instant.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use chrono::DateTime;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::bookings::refusal;
use super::error::{ApiError, success};
use super::extract::Body;
use crate::config::{FaultRule, MockConfig, WebhookConfig};
use crate::mock::ExternalBooking;
use crate::wire;

/// Every admin route (under `/_mock`): the router is built from this list, and the tests
/// walk it to prove that each answers 401 without the admin token.
pub fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/state", get(state)),
        ("/config", get(config).put(load)),
        ("/faults", post(add_fault)),
        ("/webhooks", axum::routing::put(set_webhooks)),
        ("/bookable", post(bookable)),
        ("/bookings", post(book)),
        ("/bookings/{uid}/cancel", post(cancel)),
        ("/reset", post(reset)),
    ]
}

/// The admin API. Its guard is in the edge ([`super::admin_refusal`]), on the path prefix,
/// not on these routes: a route added here later, and any path under `/_mock/` that matches
/// none, is refused without the token too (a 404 would tell a stranger which routes exist).
pub fn router() -> Router<AppState> {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, route)| {
            router.route(path, route)
        })
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
    Json(serde_json::to_value(&*mock.config()).unwrap_or_default())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadQuery {
    seed: Option<u64>,
}

/// `PUT /_mock/config[?seed=N]` with a whole configuration (JSON, the shape `GET` returns):
/// the world starts over from it now (fault windows count from now).
async fn load(
    State(mock): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<LoadQuery>,
    Body(config): Body<MockConfig>,
) -> Result<Response, ApiError> {
    config.validate().map_err(ApiError::bad_request)?;
    mock.load(config, query.seed);
    tracing::info!(generation = mock.generation(), "world loaded");
    Ok(success(
        StatusCode::OK,
        json!({ "generation": mock.generation(), "now": crate::wire::iso_ms(mock.now()) }),
    ))
}

/// `POST /_mock/faults` with one fault rule whose `from` and `until` count from now.
async fn add_fault(
    State(mock): State<AppState>,
    Body(mut rule): Body<FaultRule>,
) -> Result<Response, ApiError> {
    let since = mock.since_loaded();
    rule.from += since;
    rule.until = rule.until.map(|u| u + since);
    mock.reconfigure(|c| c.faults.push(rule))
        .map_err(ApiError::bad_request)?;
    Ok(success(
        StatusCode::CREATED,
        json!({ "faults": mock.config().faults.len() }),
    ))
}

/// `PUT /_mock/webhooks` with webhook behaviour (delay, loss, duplication, lateness) for
/// what happens from now on; subscriptions stay as they are.
async fn set_webhooks(
    State(mock): State<AppState>,
    Body(webhooks): Body<WebhookConfig>,
) -> Result<Response, ApiError> {
    mock.reconfigure(|c| {
        let subscriptions = std::mem::take(&mut c.webhooks.subscriptions);
        c.webhooks = WebhookConfig {
            subscriptions,
            ..webhooks
        };
    })
    .map_err(ApiError::bad_request)?;
    Ok(success(StatusCode::OK, json!({})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BookableQuery {
    event_type_id: u64,
    start: DateTime<chrono::Utc>,
    /// The instant the request would have arrived.
    at: DateTime<chrono::Utc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookableInput {
    queries: Vec<BookableQuery>,
}

/// `POST /_mock/bookable`: for each query, whether Cal.com would have admitted that booking
/// at that instant (a qualified host working and free then): what refusals are judged by.
async fn bookable(
    State(mock): State<AppState>,
    Body(input): Body<BookableInput>,
) -> Result<Response, ApiError> {
    if let Some(i) = input
        .queries
        .iter()
        .position(|q| !wire::supported(q.start) || !wire::supported(q.at))
    {
        return Err(ApiError::bad_request(format!(
            "queries[{i}]: start and at must be instants in the years 0001 to 9999"
        )));
    }
    let answers: Vec<bool> = input
        .queries
        .iter()
        .map(|q| mock.bookable_at(q.event_type_id, q.start, q.at))
        .collect();
    Ok(success(StatusCode::OK, json!(answers)))
}

async fn book(
    State(mock): State<AppState>,
    Body(input): Body<ExternalBookingInput>,
) -> Result<Response, ApiError> {
    let start = wire::parse_instant(&input.start)
        .ok_or_else(|| ApiError::bad_request("start must be a valid ISO 8601 date string"))?;
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

//! `GET /v2/event-types`: the account's event types (2024-06-14 shape), so a client can
//! discover what the mock was configured with.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::{ApiError, success};
use super::extract::Caller;
use super::{AppState, faults};
use crate::config::Endpoint;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require()?;
    if let Some(fault) = faults::injected(&state, Endpoint::EventTypes).await {
        return Ok(fault);
    }
    let all: Vec<Value> = state.with_world(|w| {
        w.event_types()
            .map(|e| {
                let hosts: Vec<Value> = e
                    .hosts
                    .iter()
                    .filter_map(|id| w.host(*id))
                    .map(|h| json!({ "userId": h.id, "name": h.name, "username": h.username(), "timeZone": h.time_zone.name() }))
                    .collect();
                let mut out = json!({
                    "id": e.id,
                    "slug": e.slug,
                    "title": e.title,
                    "description": e.description,
                    "lengthInMinutes": e.length_minutes,
                    "slotInterval": e.slot_interval_minutes,
                    "minimumBookingNotice": e.minimum_notice.as_secs() / 60,
                    "locations": [{ "type": "address", "address": e.location, "public": true }],
                    "hosts": hosts,
                });
                if !e.length_options.is_empty() {
                    let mut options = e.length_options.clone();
                    options.push(e.length_minutes);
                    options.sort_unstable();
                    options.dedup();
                    out["lengthInMinutesOptions"] = json!(options);
                }
                out
            })
            .collect()
    });
    state.delay(Endpoint::EventTypes).await;
    Ok(success(StatusCode::OK, Value::Array(all)))
}

//! `/v2/slots/reservations` (2024-09-04) and legacy `POST /v2/slots/reserve`,
//! `DELETE /v2/slots/selected-slot`. A reservation hides its slot from listings; it does not
//! stop `POST /v2/bookings`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, success};
use super::extract::{Body, Caller, Params};
use super::{AppState, faults};
use crate::config::Endpoint;
use crate::model::{Admitted, ReservationRefusal};
use crate::wire;

/// Minutes a reservation holds its slot unless `reservationDuration` says otherwise.
pub const DEFAULT_RESERVATION_MINUTES: u32 = 5;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReserveInput {
    event_type_id: Option<u64>,
    slot_start: Option<String>,
    slot_duration: Option<u32>,
    reservation_duration: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LegacyReserveInput {
    event_type_id: Option<u64>,
    slot_utc_start_date: Option<String>,
    slot_utc_end_date: Option<String>,
    booking_uid: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectedSlotQuery {
    uid: Option<String>,
}

fn refusal(r: ReservationRefusal) -> ApiError {
    match r {
        ReservationRefusal::EventTypeNotFound(id) => {
            ApiError::not_found(format!("Event type with id={id} not found"))
        }
        ReservationRefusal::AlreadyBooked => {
            ApiError::unprocessable("Can't reserve a slot if the event is already booked.")
        }
        ReservationRefusal::AlreadyReserved => ApiError::unprocessable(
            "This time slot is already reserved by another user. Please choose a different time.",
        ),
        ReservationRefusal::NotFound(uid) => {
            ApiError::not_found(format!("Reserved slot with uid={uid} not found"))
        }
    }
}

struct Checked {
    event_type_id: u64,
    minutes: u32,
    admitted: Result<Admitted, ReservationRefusal>,
}

/// Validates the body and checks the slot, excluding reservation `except` (for PATCH).
fn check(
    state: &AppState,
    caller: Caller,
    input: ReserveInput,
    except: Option<&str>,
) -> Result<Checked, ApiError> {
    let event_type_id = input.event_type_id.ok_or_else(|| {
        ApiError::bad_request(
            "eventTypeId must be a number conforming to the specified constraints",
        )
    })?;
    let start: DateTime<Utc> = input
        .slot_start
        .as_deref()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc())
        .ok_or_else(|| ApiError::bad_request("slotStart must be a valid ISO 8601 date string"))?;
    if input.reservation_duration.is_some() && !caller.authenticated {
        return Err(ApiError::unauthorized(
            "reservationDuration can only be used for authenticated requests. Please provide an API key or access token.",
        ));
    }
    let minutes = input
        .reservation_duration
        .unwrap_or(DEFAULT_RESERVATION_MINUTES);
    let now = state.now();
    let admitted = state.with_world(|w| {
        w.admit_reservation(event_type_id, start, input.slot_duration, now, except)
    });
    Ok(Checked {
        event_type_id,
        minutes,
        admitted,
    })
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(input): Body<ReserveInput>,
) -> Result<Response, ApiError> {
    if let Some(fault) = faults::injected(&state, Endpoint::ReserveSlot).await {
        return Ok(fault);
    }
    let checked = check(&state, caller, input, None)?;
    state.delay(Endpoint::ReserveSlot).await;
    let admitted = checked.admitted.map_err(refusal)?;
    let uid = state.next_uuid();
    let now = state.now();
    let r = state.with_world(|w| {
        w.commit_reservation(
            uid,
            checked.event_type_id,
            admitted,
            checked.minutes,
            false,
            now,
        )
    });
    Ok(success(StatusCode::CREATED, wire::reservation(&r)))
}

pub async fn get(
    State(state): State<AppState>,
    Path(uid): Path<String>,
) -> Result<Response, ApiError> {
    if let Some(fault) = faults::injected(&state, Endpoint::Reservation).await {
        return Ok(fault);
    }
    let now = state.now();
    let found = state.with_world(|w| {
        w.reservation(&uid)
            .filter(|r| r.active_at(now))
            .map(wire::reservation)
    });
    state.delay(Endpoint::Reservation).await;
    Ok(success(StatusCode::OK, found.unwrap_or(Value::Null)))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(uid): Path<String>,
    Body(input): Body<ReserveInput>,
) -> Result<Response, ApiError> {
    if let Some(fault) = faults::injected(&state, Endpoint::Reservation).await {
        return Ok(fault);
    }
    let checked = check(&state, caller, input, Some(&uid))?;
    state.delay(Endpoint::Reservation).await;
    let admitted = checked.admitted.map_err(refusal)?;
    let now = state.now();
    let r = state
        .with_world(|w| {
            w.update_reservation(&uid, checked.event_type_id, admitted, checked.minutes, now)
        })
        .map_err(refusal)?;
    Ok(success(StatusCode::OK, wire::reservation(&r)))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(uid): Path<String>,
) -> Result<Response, ApiError> {
    if let Some(fault) = faults::injected(&state, Endpoint::Reservation).await {
        return Ok(fault);
    }
    state.delay(Endpoint::Reservation).await;
    let now = state.now();
    state
        .with_world(|w| w.release_reservation(&uid, now))
        .map_err(refusal)?;
    Ok(Json(json!({ "status": "success" })).into_response())
}

/// The legacy selected-slot upsert: no conflict check, always held 5 minutes.
pub async fn create_legacy(
    State(state): State<AppState>,
    Body(input): Body<LegacyReserveInput>,
) -> Result<Response, ApiError> {
    if let Some(fault) = faults::injected(&state, Endpoint::ReserveSlot).await {
        return Ok(fault);
    }
    let _ = input.booking_uid;
    let event_type_id = input.event_type_id.ok_or_else(|| {
        ApiError::bad_request(
            "eventTypeId must be a number conforming to the specified constraints",
        )
    })?;
    let parse = |s: Option<&str>, name: &str| {
        s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.to_utc())
            .ok_or_else(|| {
                ApiError::bad_request(format!("{name} must be a valid ISO 8601 date string"))
            })
    };
    let start = parse(input.slot_utc_start_date.as_deref(), "slotUtcStartDate")?;
    let end = parse(input.slot_utc_end_date.as_deref(), "slotUtcEndDate")?;
    let minutes = u32::try_from((end - start).num_minutes().max(1)).unwrap_or(u32::MAX);
    let now = state.now();
    let host = state.with_world(|w| {
        let et = w.event_type(event_type_id)?;
        let first_free = w
            .admit_reservation(event_type_id, start, Some(minutes), now, None)
            .ok();
        Some(first_free.map_or(et.hosts[0], |a| a.host_id))
    });
    state.delay(Endpoint::ReserveSlot).await;
    let host_id =
        host.ok_or_else(|| refusal(ReservationRefusal::EventTypeNotFound(event_type_id)))?;
    let uid = state.next_uuid();
    let admitted = Admitted {
        host_id,
        span: crate::calendar::Span::new(start, end),
    };
    let now = state.now();
    state.with_world(|w| {
        w.commit_reservation(
            uid.clone(),
            event_type_id,
            admitted,
            DEFAULT_RESERVATION_MINUTES,
            true,
            now,
        )
    });
    Ok(success(StatusCode::CREATED, json!(uid)))
}

pub async fn delete_legacy(
    State(state): State<AppState>,
    Params(q): Params<SelectedSlotQuery>,
) -> Result<Response, ApiError> {
    if let Some(fault) = faults::injected(&state, Endpoint::Reservation).await {
        return Ok(fault);
    }
    let uid = q
        .uid
        .ok_or_else(|| ApiError::bad_request("uid must be a string"))?;
    state.delay(Endpoint::Reservation).await;
    let now = state.now();
    state
        .with_world(|w| w.release_reservation(&uid, now))
        .map_err(refusal)?;
    Ok(Json(json!({ "status": "success" })).into_response())
}

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
/// The longest a reservation may hold, and the longest slot it may cover, in minutes.
pub const MAX_RESERVATION_MINUTES: u32 = 24 * 60;

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
    start: DateTime<Utc>,
    slot_minutes: Option<u32>,
    minutes: u32,
}

fn within(name: &str, value: Option<u32>) -> Result<(), ApiError> {
    match value {
        Some(v) if v == 0 || v > MAX_RESERVATION_MINUTES => Err(ApiError::bad_request(format!(
            "{name} must not be less than 1 and not greater than {MAX_RESERVATION_MINUTES}"
        ))),
        _ => Ok(()),
    }
}

/// Validates the body.
fn check(state: &AppState, caller: Caller, input: ReserveInput) -> Result<Checked, ApiError> {
    let event_type_id = input.event_type_id.ok_or_else(|| {
        ApiError::bad_request(
            "eventTypeId must be a number conforming to the specified constraints",
        )
    })?;
    let start: DateTime<Utc> = input
        .slot_start
        .as_deref()
        .and_then(crate::wire::parse_instant)
        .ok_or_else(|| ApiError::bad_request("slotStart must be a valid ISO 8601 date string"))?;
    if input.reservation_duration.is_some() && !caller.authenticated {
        return Err(ApiError::unauthorized(
            "reservationDuration can only be used for authenticated requests. Please provide an API key or access token.",
        ));
    }
    within("slotDuration", input.slot_duration)?;
    within("reservationDuration", input.reservation_duration)?;
    if state.with_world(|w| w.event_type(event_type_id).is_none()) {
        return Err(refusal(ReservationRefusal::EventTypeNotFound(
            event_type_id,
        )));
    }
    Ok(Checked {
        event_type_id,
        start,
        slot_minutes: input.slot_duration,
        minutes: input
            .reservation_duration
            .unwrap_or(DEFAULT_RESERVATION_MINUTES),
    })
}

/// Cal.com's transaction at the end of the request: the conflict check (ignoring
/// reservation `except`, for PATCH), the configured window, then the insert by `commit`.
async fn check_and_insert<T>(
    state: &AppState,
    checked: &Checked,
    except: Option<&str>,
    commit: impl FnOnce(
        &mut crate::model::World,
        Admitted,
        DateTime<Utc>,
    ) -> Result<T, ReservationRefusal>,
) -> Result<T, ApiError> {
    let now = state.now();
    let admitted = state
        .with_world(|w| {
            w.admit_reservation(
                checked.event_type_id,
                checked.start,
                checked.slot_minutes,
                now,
                except,
            )
        })
        .map_err(refusal)?;
    state.reservation_window().await;
    let now = state.now();
    state
        .with_world(|w| commit(w, admitted, now))
        .map_err(refusal)
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(input): Body<ReserveInput>,
) -> Result<Response, ApiError> {
    if let Some(fault) = faults::injected(&state, Endpoint::ReserveSlot).await {
        return Ok(fault);
    }
    let checked = check(&state, caller, input)?;
    state.delay(Endpoint::ReserveSlot).await;
    let uid = state.next_uuid();
    let r = check_and_insert(&state, &checked, None, |w, admitted, now| {
        Ok(w.commit_reservation(
            uid,
            checked.event_type_id,
            admitted,
            checked.minutes,
            false,
            now,
        ))
    })
    .await?;
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
    let checked = check(&state, caller, input)?;
    state.delay(Endpoint::Reservation).await;
    let r = check_and_insert(&state, &checked, Some(&uid), |w, admitted, now| {
        w.update_reservation(&uid, checked.event_type_id, admitted, checked.minutes, now)
    })
    .await?;
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
        s.and_then(crate::wire::parse_instant).ok_or_else(|| {
            ApiError::bad_request(format!("{name} must be a valid ISO 8601 date string"))
        })
    };
    let start = parse(input.slot_utc_start_date.as_deref(), "slotUtcStartDate")?;
    let end = parse(input.slot_utc_end_date.as_deref(), "slotUtcEndDate")?;
    let span = (end - start).num_minutes();
    if span < 1 || span > i64::from(MAX_RESERVATION_MINUTES) {
        return Err(ApiError::bad_request(format!(
            "slotUtcEndDate must be after slotUtcStartDate, by at most {MAX_RESERVATION_MINUTES} minutes"
        )));
    }
    let minutes = u32::try_from(span).unwrap_or(MAX_RESERVATION_MINUTES);
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
    let now = state.now();
    let admitted = Admitted {
        host_id,
        span: crate::calendar::Span::new(start, end),
        at: now,
    };
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

//! `/v2/bookings` (2024-08-13): create, get, cancel, reschedule.
//!
//! Cal.com checks availability when a request arrives and commits when it answers (after
//! its latency): requests in flight together can all pass the check. Identical ones then
//! collide on the unique key (409); merely overlapping ones all succeed.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::{ApiError, booking_conflict, success};
use super::extract::{Body, Caller, Params};
use super::{AppState, faults};
use crate::config::{Endpoint, FaultAction};
use crate::mock::MockCalcom;
use crate::model::{Attendee, BookingRefusal, BookingRequest, BookingSource, placeholder_email};
use crate::wire;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateBookingInput {
    start: Option<String>,
    attendee: Option<AttendeeInput>,
    event_type_id: Option<u64>,
    event_type_slug: Option<String>,
    username: Option<String>,
    team_slug: Option<String>,
    organization_slug: Option<String>,
    guests: Option<Vec<String>>,
    meeting_url: Option<String>,
    location: Option<Value>,
    metadata: Option<Map<String, Value>>,
    length_in_minutes: Option<u32>,
    booking_fields_responses: Option<Map<String, Value>>,
    routing: Option<Value>,
    email_verification_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AttendeeInput {
    name: Option<String>,
    email: Option<String>,
    time_zone: Option<String>,
    phone_number: Option<String>,
    language: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CancelInput {
    cancellation_reason: Option<String>,
    cancel_subsequent_bookings: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RescheduleInput {
    start: Option<String>,
    rescheduled_by: Option<String>,
    rescheduling_reason: Option<String>,
    email_verification_code: Option<String>,
}

/// `start` must be a full ISO 8601 date-time.
fn parse_start(start: Option<&str>) -> Result<DateTime<Utc>, ApiError> {
    start
        .and_then(crate::wire::parse_instant)
        .ok_or_else(|| ApiError::bad_request("start must be a valid ISO 8601 date string"))
}

fn validate_metadata(metadata: &Map<String, Value>) -> Result<(), ApiError> {
    let bad = metadata.len() > 50
        || metadata.iter().any(|(k, v)| {
            k.chars().count() > 40
                || v.as_str().is_some_and(|s| s.chars().count() > 500)
                || v.is_object()
                || v.is_array()
        });
    if bad {
        return Err(ApiError::bad_request(
            "Metadata must have at most 50 keys, each key up to 40 characters, and string values up to 500 characters.",
        ));
    }
    Ok(())
}

/// The checks class-validator makes on the body, then the event type lookup.
fn booking_request(
    state: &AppState,
    input: CreateBookingInput,
) -> Result<BookingRequest, ApiError> {
    let start = parse_start(input.start.as_deref())?;
    let attendee = input
        .attendee
        .ok_or_else(|| ApiError::bad_request("attendee must be an object"))?;
    let name = attendee
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("attendee.name must be a string"))?;
    let time_zone = attendee
        .time_zone
        .ok_or_else(|| ApiError::bad_request("attendee.timeZone must be a valid IANA time zone"))?;
    if time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::bad_request(
            "attendee.timeZone must be a valid IANA time zone",
        ));
    }
    let email = match (attendee.email, &attendee.phone_number) {
        (Some(email), _) if email.contains('@') => email,
        (Some(_), _) => return Err(ApiError::bad_request("attendee.email must be an email")),
        (None, Some(phone)) => placeholder_email(phone),
        (None, None) => {
            return Err(ApiError::bad_request(
                "attendee.email or attendee.phoneNumber must be provided",
            ));
        }
    };
    let metadata = input.metadata.unwrap_or_default();
    validate_metadata(&metadata)?;
    let _ = (
        &input.organization_slug,
        &input.routing,
        &input.email_verification_code,
    );
    let event_type_id = match (input.event_type_id, input.event_type_slug) {
        (Some(id), _) => id,
        (None, Some(slug)) if input.username.is_some() || input.team_slug.is_some() => state
            .with_world(|w| w.event_types().find(|e| e.slug == slug).map(|e| e.id))
            .ok_or_else(|| ApiError::not_found(format!("Event type with slug {slug} not found")))?,
        _ => {
            return Err(ApiError::bad_request(
                "Either eventTypeId or eventTypeSlug with username or teamSlug must be provided",
            ));
        }
    };
    let location = match (input.location, input.meeting_url) {
        (Some(Value::String(s)), _) => Some(s),
        (Some(Value::Object(o)), _) => o
            .get("address")
            .or_else(|| o.get("link"))
            .or_else(|| o.get("phone"))
            .or_else(|| o.get("integration"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        (_, url) => url,
    };
    Ok(BookingRequest {
        event_type_id,
        start,
        length_minutes: input.length_in_minutes,
        host_id: None,
        attendee: Attendee {
            name,
            email,
            time_zone,
            phone_number: attendee.phone_number,
            language: attendee.language.unwrap_or_else(|| "en".into()),
        },
        guests: input.guests.unwrap_or_default(),
        location,
        metadata: metadata.into_iter().collect::<BTreeMap<_, _>>(),
        responses: input
            .booking_fields_responses
            .unwrap_or_default()
            .into_iter()
            .collect(),
        source: BookingSource::Api,
        force: false,
    })
}

/// Cal.com's answer to a refused booking.
pub fn refusal(refusal: BookingRefusal, event_type_multi_length: bool) -> ApiError {
    match refusal {
        BookingRefusal::EventTypeNotFound(id) => {
            ApiError::not_found(format!("Event type with id={id} not found"))
        }
        BookingRefusal::LengthNotAllowed(_) if !event_type_multi_length => ApiError::bad_request(
            "Can't specify 'lengthInMinutes' because event type does not have multiple possible lengths. Please, remove the 'lengthInMinutes' field from the request.",
        ),
        BookingRefusal::LengthNotAllowed(len) => ApiError::bad_request(format!(
            "Provided 'lengthInMinutes' ({len}) is not one of the possible lengths for the event type."
        )),
        BookingRefusal::InPast => {
            ApiError::bad_request("Attempting to book a meeting in the past.")
        }
        BookingRefusal::Unavailable => ApiError::bad_request(
            "User either already has booking at this time or is not available",
        ),
        // Cal.com's `booking_time_out_of_bounds_error`, in the words a production log of
        // a salon's agent quoted.
        BookingRefusal::TooSoon => ApiError::bad_request(
            "The event type can't be booked at this time: too soon (violating the minimum booking notice)",
        ),
        BookingRefusal::BookingNotFound(uid) => ApiError::not_found(format!(
            "Booking with uid={uid} was not found in the database"
        )),
        BookingRefusal::AlreadyCancelled(uid) => ApiError::bad_request(format!(
            "Can't cancel booking with uid={uid} because it has been cancelled already. Please provide uid of a booking that is not cancelled."
        )),
        BookingRefusal::HostNotFound(id) => {
            ApiError::not_found(format!("User with id={id} not found"))
        }
    }
}

fn multi_length(state: &AppState, event_type_id: u64) -> bool {
    state.with_world(|w| {
        w.event_type(event_type_id)
            .is_some_and(|e| !e.length_options.is_empty())
    })
}

pub async fn create(
    State(state): State<AppState>,
    Body(input): Body<CreateBookingInput>,
) -> Result<Response, ApiError> {
    let fault = state.fault_for(Endpoint::CreateBooking);
    let replay = fault
        .clone()
        .filter(|f| matches!(f, FaultAction::Replay | FaultAction::ReplayKey));
    if let Some(action) = fault
        && let Some(answer) = faults::answer(&state, Endpoint::CreateBooking, action).await
    {
        return Ok(answer);
    }
    let request = booking_request(&state, input)?;
    if let Some(replay) = replay {
        // `replay`: any booking of the event type; `replay_key`: one whose idempotency key
        // (event type and start) matches, cancelled or not.
        let same_key = replay == FaultAction::ReplayKey;
        let newest = state.with_world(|w| {
            w.bookings()
                .filter(|b| b.event_type_id == request.event_type_id)
                .filter(|b| !same_key || b.start == request.start)
                .max_by_key(|b| (b.created_at, b.id))
                .map(|b| wire::booking(w, b))
        });
        if let Some(body) = newest {
            state.delay(Endpoint::CreateBooking).await;
            return Ok(success(StatusCode::CREATED, body));
        }
    }
    let arrived = state.now();
    let admitted = state.with_world(|w| w.admit_booking(&request, arrived, None));
    MockCalcom::detached(async move {
        let _window = admitted
            .as_ref()
            .ok()
            .map(|a| state.create_in_flight(a.host_id, a.span));
        // Cal.com's processing time: the window in which other requests pass the same check.
        state.delay(Endpoint::CreateBooking).await;
        let multi = multi_length(&state, request.event_type_id);
        let admitted = admitted.map_err(|r| refusal(r, multi))?;
        let uid = state.next_uid();
        let now = state.now();
        let Ok(booking) = state.with_world(|w| w.commit_booking(request, admitted, uid, now))
        else {
            return Ok(booking_conflict());
        };
        state.emit("BOOKING_CREATED", &booking, None);
        let body = state.with_world(|w| wire::booking(w, &booking));
        Ok(success(StatusCode::CREATED, body))
    })
    .await
}

/// `GET /v2/bookings` query: the filters a client reconciling its own bookings needs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListQuery {
    event_type_id: Option<u64>,
    after_start: Option<String>,
    before_end: Option<String>,
    take: Option<usize>,
    skip: Option<usize>,
}

/// `GET /v2/bookings`: the account's bookings, filtered by event type and time, oldest start
/// first, paginated (`take` at most 250).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    caller.require()?;
    if let Some(fault) = faults::injected(&state, Endpoint::GetBooking).await {
        return Ok(fault);
    }
    let instant = |name: &str, text: &Option<String>| {
        text.as_deref()
            .map(|t| {
                crate::wire::parse_instant(t).ok_or_else(|| {
                    ApiError::bad_request(format!("{name} must be a valid ISO 8601 date string"))
                })
            })
            .transpose()
    };
    let after = instant("afterStart", &q.after_start)?;
    let before = instant("beforeEnd", &q.before_end)?;
    let take = q.take.unwrap_or(100).min(250);
    let skip = q.skip.unwrap_or(0);
    let found: Vec<Value> = state.with_world(|w| {
        let mut all: Vec<_> = w
            .bookings()
            .filter(|b| q.event_type_id.is_none_or(|id| b.event_type_id == id))
            .filter(|b| after.is_none_or(|t| b.start >= t))
            .filter(|b| before.is_none_or(|t| b.end <= t))
            .collect();
        all.sort_by_key(|b| (b.start, b.id));
        all.into_iter()
            .skip(skip)
            .take(take)
            .map(|b| wire::booking(w, b))
            .collect()
    });
    state.delay(Endpoint::GetBooking).await;
    Ok(success(StatusCode::OK, Value::Array(found)))
}

pub async fn get(
    State(state): State<AppState>,
    Path(uid): Path<String>,
) -> Result<Response, ApiError> {
    if let Some(fault) = faults::injected(&state, Endpoint::GetBooking).await {
        return Ok(fault);
    }
    let found = state.with_world(|w| w.booking(&uid).map(|b| wire::booking(w, b)));
    state.delay(Endpoint::GetBooking).await;
    found
        .map(|b| success(StatusCode::OK, b))
        .ok_or_else(|| refusal(BookingRefusal::BookingNotFound(uid), false))
}

pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(uid): Path<String>,
    Body(input): Body<CancelInput>,
) -> Result<Response, ApiError> {
    if let Some(fault) = faults::injected(&state, Endpoint::CancelBooking).await {
        return Ok(fault);
    }
    let _ = input.cancel_subsequent_bookings;
    let exists = state.with_world(|w| w.booking(&uid).map(|b| b.status));
    if exists.is_none() {
        state.delay(Endpoint::CancelBooking).await;
        return Err(refusal(BookingRefusal::BookingNotFound(uid), false));
    }
    if caller.authenticated
        && input
            .cancellation_reason
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
    {
        // The API key belongs to the salon's account, a host of every booking.
        return Err(ApiError::bad_request(
            "Cancellation reason is required when you are the host",
        ));
    }
    state.delay(Endpoint::CancelBooking).await;
    let now = state.now();
    let booking = state
        .with_world(|w| w.cancel_booking(&uid, input.cancellation_reason, now))
        .map_err(|r| refusal(r, false))?;
    state.emit("BOOKING_CANCELLED", &booking, None);
    let body = state.with_world(|w| wire::booking(w, &booking));
    Ok(success(StatusCode::OK, body))
}

pub async fn reschedule(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Body(input): Body<RescheduleInput>,
) -> Result<Response, ApiError> {
    if let Some(fault) = faults::injected(&state, Endpoint::RescheduleBooking).await {
        return Ok(fault);
    }
    let start = parse_start(input.start.as_deref())?;
    let _ = (&input.rescheduled_by, &input.email_verification_code);
    let arrived = state.now();
    let admitted = state.with_world(|w| w.admit_reschedule(&uid, start, arrived));
    state.delay(Endpoint::RescheduleBooking).await;
    let (request, admitted) = admitted.map_err(|r| match r {
        BookingRefusal::AlreadyCancelled(uid) => ApiError::bad_request(format!(
            "Can't reschedule booking with uid={uid} because it has been cancelled. Please provide uid of a booking that is not cancelled."
        )),
        other => refusal(other, false),
    })?;
    let new_uid = state.next_uid();
    let now = state.now();
    let result = state.with_world(|w| {
        w.commit_reschedule(
            &uid,
            request,
            admitted,
            new_uid,
            input.rescheduling_reason,
            now,
        )
    });
    let (old, new) = match result {
        Ok(pair) => pair,
        Err(BookingRefusal::Unavailable) => return Ok(booking_conflict().into_response()),
        Err(other) => return Err(refusal(other, false)),
    };
    state.emit("BOOKING_RESCHEDULED", &new, Some(&old));
    let body = state.with_world(|w| wire::booking(w, &new));
    Ok(success(StatusCode::CREATED, body))
}

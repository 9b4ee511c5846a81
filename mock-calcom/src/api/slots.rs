//! `GET /v2/slots` (2024-09-04) and legacy `GET /v2/slots/available`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, success};
use super::extract::Params;
use super::{AppState, faults};
use crate::calendar::Span;
use crate::config::Endpoint;
use crate::model::{BookingRefusal, SlotQuery};
use crate::wire;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SlotsQuery {
    start: Option<String>,
    end: Option<String>,
    event_type_id: Option<String>,
    event_type_slug: Option<String>,
    username: Option<String>,
    team_slug: Option<String>,
    organization_slug: Option<String>,
    usernames: Option<String>,
    time_zone: Option<String>,
    format: Option<String>,
    duration: Option<String>,
    booking_uid_to_reschedule: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LegacySlotsQuery {
    start_time: Option<String>,
    end_time: Option<String>,
    event_type_id: Option<String>,
    event_type_slug: Option<String>,
    username_list: Option<String>,
    org_slug: Option<String>,
    time_zone: Option<String>,
    duration: Option<String>,
    reschedule_uid: Option<String>,
    is_team_event: Option<String>,
}

const BAD_RANGE: &str = "Invalid time range given - check the 'start' and 'end' query parameters.";

/// A `start`/`end` parameter: full ISO 8601 (UTC when it has no offset) or a date alone,
/// which means the start (or, for `end`, 23:59:59) of that day in UTC.
/// Instants outside the years 0001-9999 are refused as malformed ([`wire::supported`]).
fn parse_bound(text: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    parse_any_bound(text, end_of_day).filter(|t| wire::supported(*t))
}

fn parse_any_bound(text: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.to_utc());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let time = if end_of_day {
        date.and_hms_opt(23, 59, 59)?
    } else {
        date.and_hms_opt(0, 0, 0)?
    };
    Some(time.and_utc())
}

/// The longest range one listing may cover. Computing slots is work under the world's lock,
/// so an unbounded range (`start=0001-01-01&end=9999-12-31`) would stall every other request.
pub const MAX_RANGE_DAYS: i64 = 93;

/// The most candidate slots (hosts × slot starts in the range) one listing may weigh. Each
/// is checked against the host's bookings under the world's lock, which every other request
/// waits for: a world of 6 000 hosts asked for 93 days of one-minute slots (800 million
/// candidates) held the lock for a minute. Half a million take well under a second.
pub const MAX_SLOT_CANDIDATES: u64 = 500_000;

/// How many candidate slots `hosts` hosts with a slot every `interval_minutes` have in `range`.
pub fn slot_candidates(
    hosts: usize,
    interval_minutes: u32,
    range: (DateTime<Utc>, DateTime<Utc>),
) -> u64 {
    let minutes = u64::try_from((range.1 - range.0).num_minutes()).unwrap_or(0);
    let starts = minutes / u64::from(interval_minutes.max(1)) + 1;
    (hosts as u64).saturating_mul(starts)
}

fn parse_range(
    start: Option<&str>,
    end: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let (Some(start), Some(end)) = (start, end) else {
        return Err(ApiError::bad_request(BAD_RANGE));
    };
    match (parse_bound(start, false), parse_bound(end, true)) {
        (Some(s), Some(e)) if s <= e && e - s > chrono::TimeDelta::days(MAX_RANGE_DAYS) => {
            Err(ApiError::bad_request(format!(
                "{BAD_RANGE} The range may span at most {MAX_RANGE_DAYS} days."
            )))
        }
        (Some(s), Some(e)) if s <= e => Ok((s, e)),
        _ => Err(ApiError::bad_request(BAD_RANGE)),
    }
}

fn parse_zone(tz: Option<&str>) -> Result<Option<Tz>, ApiError> {
    tz.map(|name| {
        name.parse::<Tz>().map_err(|_| {
            ApiError::bad_request(format!(
                "timeZone must be a valid IANA time zone, got '{name}'"
            ))
        })
    })
    .transpose()
}

fn parse_number(name: &str, text: Option<&str>) -> Result<Option<u64>, ApiError> {
    text.map(|t| {
        t.trim().parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "{name} must be a number conforming to the specified constraints"
            ))
        })
    })
    .transpose()
}

/// The event type a query names by id, or by slug (with a username or team slug).
fn resolve_event_type(
    state: &AppState,
    id: Option<u64>,
    slug: Option<&str>,
    owner_given: bool,
) -> Result<u64, ApiError> {
    if let Some(id) = id {
        return Ok(id);
    }
    match slug {
        Some(slug) if owner_given => state
            .with_world(|w| w.event_types().find(|e| e.slug == slug).map(|e| e.id))
            .ok_or_else(|| ApiError::not_found("Event Type not found")),
        _ => Err(ApiError::bad_request(
            "Either eventTypeId or eventTypeSlug with username or teamSlug must be provided",
        )),
    }
}

fn compute(
    state: &AppState,
    event_type_id: u64,
    duration: Option<u64>,
    range: (DateTime<Utc>, DateTime<Utc>),
    rescheduling: Option<&str>,
) -> Result<Vec<Span>, ApiError> {
    let candidates = state.with_world(|w| {
        w.event_type(event_type_id).map(|et| {
            slot_candidates(
                et.hosts.len(),
                et.slot_interval_minutes.unwrap_or(et.length_minutes),
                range,
            )
        })
    });
    if let Some(n) = candidates.filter(|n| *n > MAX_SLOT_CANDIDATES) {
        return Err(ApiError::bad_request(format!(
            "{BAD_RANGE} This event type's hosts and slot interval make {n} candidate slots in \
             the range, more than {MAX_SLOT_CANDIDATES}: ask for a shorter range."
        )));
    }
    let now = state.now();
    let as_of = state.listing_as_of();
    let duration = duration.map(|d| u32::try_from(d).unwrap_or(u32::MAX));
    state
        .with_world(|w| {
            let query = SlotQuery {
                event_type_id,
                length_minutes: duration,
                from: range.0,
                to: range.1,
                rescheduling,
            };
            w.available_slots(&query, now, as_of)
        })
        .map_err(|refusal| match refusal {
            BookingRefusal::EventTypeNotFound(_) => ApiError::not_found("Event Type not found"),
            BookingRefusal::LengthNotAllowed(d) => ApiError::bad_request(format!(
                "Invalid duration {d}: it is not one of the event type's possible lengths"
            )),
            _ => ApiError::internal(),
        })
}

/// Slots grouped by their date in the requested zone; dates without slots are omitted.
fn by_date(
    slots: &[Span],
    tz: Option<Tz>,
    item: impl Fn(&Span) -> Value,
) -> BTreeMap<String, Vec<Value>> {
    let mut days: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for slot in slots {
        let date = match tz {
            Some(tz) => slot.start.with_timezone(&tz).date_naive(),
            None => slot.start.date_naive(),
        };
        days.entry(date.to_string()).or_default().push(item(slot));
    }
    days
}

pub async fn list(
    State(state): State<AppState>,
    Params(q): Params<SlotsQuery>,
) -> Result<Response, ApiError> {
    if let Some(fault) = faults::injected(&state, Endpoint::Slots).await {
        return Ok(fault);
    }
    let range = parse_range(q.start.as_deref(), q.end.as_deref())?;
    let tz = parse_zone(q.time_zone.as_deref())?;
    let ranged = match q.format.as_deref() {
        None | Some("time") => false,
        Some("range") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format must be one of: time, range (got '{other}')"
            )));
        }
    };
    let _ = (&q.organization_slug, &q.usernames);
    let event_type_id = resolve_event_type(
        &state,
        parse_number("eventTypeId", q.event_type_id.as_deref())?,
        q.event_type_slug.as_deref(),
        q.username.is_some() || q.team_slug.is_some(),
    )?;
    let duration = parse_number("duration", q.duration.as_deref())?;
    let slots = compute(
        &state,
        event_type_id,
        duration,
        range,
        q.booking_uid_to_reschedule.as_deref(),
    );
    state.delay(Endpoint::Slots).await;
    let days = by_date(&slots?, tz, |s| {
        if ranged {
            json!({ "start": wire::iso_in_zone(s.start, tz), "end": wire::iso_in_zone(s.end, tz) })
        } else {
            json!({ "start": wire::iso_in_zone(s.start, tz) })
        }
    });
    Ok(success(StatusCode::OK, json!(days)))
}

pub async fn list_legacy(
    State(state): State<AppState>,
    Params(q): Params<LegacySlotsQuery>,
) -> Result<Response, ApiError> {
    if let Some(fault) = faults::injected(&state, Endpoint::Slots).await {
        return Ok(fault);
    }
    let range = parse_range(q.start_time.as_deref(), q.end_time.as_deref())?;
    let tz = parse_zone(q.time_zone.as_deref())?;
    let _ = (&q.org_slug, &q.is_team_event);
    let event_type_id = resolve_event_type(
        &state,
        parse_number("eventTypeId", q.event_type_id.as_deref())?,
        q.event_type_slug.as_deref(),
        q.username_list.is_some(),
    )?;
    let duration = parse_number("duration", q.duration.as_deref())?;
    let slots = compute(
        &state,
        event_type_id,
        duration,
        range,
        q.reschedule_uid.as_deref(),
    );
    state.delay(Endpoint::Slots).await;
    let days = by_date(
        &slots?,
        tz,
        |s| json!({ "time": wire::iso_in_zone(s.start, tz) }),
    );
    Ok(success(StatusCode::OK, json!({ "slots": days })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_accept_dates_and_iso_times() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(
            parse_bound("2025-11-25", false),
            Some(t("2025-11-25T00:00:00Z"))
        );
        assert_eq!(
            parse_bound("2025-11-25", true),
            Some(t("2025-11-25T23:59:59Z"))
        );
        assert_eq!(
            parse_bound("2025-11-25T12:00:00+01:00", false),
            Some(t("2025-11-25T11:00:00Z"))
        );
        assert_eq!(
            parse_bound("2025-11-25T11:00:00.000Z", false),
            Some(t("2025-11-25T11:00:00Z"))
        );
        assert_eq!(parse_bound("next friday", false), None);
        assert!(parse_range(Some("2025-11-26"), Some("2025-11-25")).is_err());
        assert!(parse_range(Some("0001-01-01"), Some("9999-12-31")).is_err());
        assert!(parse_range(Some("2025-01-01"), Some("2025-04-03")).is_ok());
    }
}

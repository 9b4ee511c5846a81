//! What can go wrong talking to Cal.com, as the booking path needs to tell it apart.

use http::StatusCode;
use serde_json::Value;
use simkit::transport::{ClientError, HttpResponse};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalcomError {
    /// 400 "User either already has booking at this time or is not available": the slot is taken.
    SlotTaken(String),
    /// 400 "... too soon (violating the minimum booking notice)": the start came closer
    /// than the event type's notice allows; nothing is said of whether it is free.
    TooSoon(String),
    /// Any other 400 (validation, past start, …).
    BadRequest(String),
    Unauthorized(String),
    NotFound(String),
    /// 409 `booking_conflict_error`: an identical booking raced this one.
    Conflict,
    /// 422: the slot is booked or held by someone else.
    ReservationConflict(String),
    /// 429; `reset_seconds` from `X-RateLimit-Reset-Default`.
    RateLimited {
        reset_seconds: Option<u64>,
    },
    /// 5xx, from Cal.com or the gateway in front of it.
    Server(u16),
    /// Another status the client does not expect.
    Unexpected(u16),
    /// The connection could not be opened: the request was not sent.
    Unreachable(String),
    /// No complete answer in time: the request may or may not have taken effect.
    Timeout,
    /// The connection broke mid-request: may or may not have taken effect.
    ConnectionLost(String),
    /// An answer that is not what the API documents.
    Malformed(String),
}

impl CalcomError {
    /// The HTTP status this error came with, if an answer came.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            CalcomError::SlotTaken(_) | CalcomError::TooSoon(_) | CalcomError::BadRequest(_) => 400,
            CalcomError::Unauthorized(_) => 401,
            CalcomError::NotFound(_) => 404,
            CalcomError::Conflict => 409,
            CalcomError::ReservationConflict(_) => 422,
            CalcomError::RateLimited { .. } => 429,
            CalcomError::Server(s) | CalcomError::Unexpected(s) => *s,
            CalcomError::Unreachable(_)
            | CalcomError::Timeout
            | CalcomError::ConnectionLost(_)
            | CalcomError::Malformed(_) => {
                return None;
            }
        })
    }

    /// Refused for now, not for good: throttled (429), Cal.com or its gateway failing
    /// (5xx), or no answer at all. Worth trying again later.
    pub fn is_transient(&self) -> bool {
        self.status().is_none_or(|s| s == 429 || s >= 500)
    }

    /// Whether the request may have taken effect although no success was seen.
    pub fn is_indeterminate(&self) -> bool {
        matches!(self, CalcomError::Timeout | CalcomError::ConnectionLost(_))
    }

    /// The error an HTTP answer with a non-success status stands for.
    pub fn from_response(r: &HttpResponse) -> Self {
        let message = || {
            serde_json::from_slice::<Value>(&r.body)
                .ok()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .or_else(|| v.get("message"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&r.body).chars().take(200).collect())
        };
        match r.status {
            StatusCode::BAD_REQUEST => {
                let m = message();
                if m.contains("minimum booking notice") || m.contains("booking_time_out_of_bounds")
                {
                    CalcomError::TooSoon(m)
                } else if m.contains("already has booking at this time")
                    || m.contains("is not available")
                {
                    CalcomError::SlotTaken(m)
                } else {
                    CalcomError::BadRequest(m)
                }
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                CalcomError::Unauthorized(message())
            }
            StatusCode::NOT_FOUND => CalcomError::NotFound(message()),
            StatusCode::CONFLICT => CalcomError::Conflict,
            StatusCode::UNPROCESSABLE_ENTITY => CalcomError::ReservationConflict(message()),
            StatusCode::TOO_MANY_REQUESTS => CalcomError::RateLimited {
                reset_seconds: r
                    .header("x-ratelimit-reset-default")
                    .and_then(|v| v.trim().parse().ok()),
            },
            s if s.is_server_error() => CalcomError::Server(s.as_u16()),
            s => CalcomError::Unexpected(s.as_u16()),
        }
    }
}

impl From<ClientError> for CalcomError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::ConnectTimeout => CalcomError::Unreachable("connect timed out".into()),
            ClientError::Connect(e) => CalcomError::Unreachable(e),
            ClientError::Timeout => CalcomError::Timeout,
            ClientError::Closed(e) => CalcomError::ConnectionLost(e),
            ClientError::Malformed(e) => CalcomError::Malformed(e),
        }
    }
}

impl std::fmt::Display for CalcomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CalcomError::SlotTaken(m) => write!(f, "slot taken: {m}"),
            CalcomError::TooSoon(m) => write!(f, "too soon: {m}"),
            CalcomError::BadRequest(m) => write!(f, "bad request: {m}"),
            CalcomError::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            CalcomError::NotFound(m) => write!(f, "not found: {m}"),
            CalcomError::Conflict => f.write_str("409 booking_conflict_error"),
            CalcomError::ReservationConflict(m) => write!(f, "reservation conflict: {m}"),
            CalcomError::RateLimited { reset_seconds } => {
                write!(f, "rate limited (reset in {reset_seconds:?} s)")
            }
            CalcomError::Server(s) => write!(f, "server error {s}"),
            CalcomError::Unexpected(s) => write!(f, "unexpected status {s}"),
            CalcomError::Unreachable(e) => write!(f, "unreachable: {e}"),
            CalcomError::Timeout => f.write_str("timed out"),
            CalcomError::ConnectionLost(e) => write!(f, "connection lost: {e}"),
            CalcomError::Malformed(e) => write!(f, "malformed answer: {e}"),
        }
    }
}

impl std::error::Error for CalcomError {}

//! Cal.com's error answers. Handlers return an [`ApiError`]; the edge middleware renders it
//! in the envelope with the timestamp and path:
//! `{"status":"error","timestamp":…,"path":…,"error":{"code":…,"message":…,"details":…}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answer before the envelope is filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequestException", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFoundException", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UnauthorizedException", message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UnprocessableEntityException",
            message,
        )
    }

    pub fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlerException",
            "CustomThrottlerGuard - Too many requests. Please try again later.",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerErrorException",
            "Internal server error",
        )
    }

    /// Cal.com's error for a response the framework made without one (a path that is not
    /// UTF-8, a method the route lacks, a body too large): NestJS answers an unknown route
    /// or method with 404 `Cannot METHOD /path`.
    pub fn for_status(status: StatusCode, method: &str, path: &str, text: &str) -> Self {
        let text = if text.trim().is_empty() {
            status.canonical_reason().unwrap_or("Error")
        } else {
            text.trim()
        };
        match status.as_u16() {
            404 | 405 => Self::not_found(format!("Cannot {method} {path}")),
            413 => Self::new(status, "PayloadTooLargeException", text),
            422 => Self::unprocessable(text),
            429 => Self::too_many_requests(),
            400..=499 => Self::new(status, "BadRequestException", text),
            _ => Self::new(status, "InternalServerErrorException", text),
        }
    }

    /// The envelope's body for this error.
    pub fn envelope(&self, timestamp: &str, path: &str) -> Value {
        json!({
            "status": "error",
            "timestamp": timestamp,
            "path": path,
            "error": {
                "code": self.code,
                "message": self.message,
                "details": {
                    "message": self.message,
                    "error": self.status.canonical_reason().unwrap_or_default(),
                    "statusCode": self.status.as_u16(),
                },
            },
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// The one answer outside the envelope: the unique-key race's bare 409.
pub fn booking_conflict() -> Response {
    (
        StatusCode::CONFLICT,
        Json(json!({ "statusCode": 409, "message": "booking_conflict_error" })),
    )
        .into_response()
}

/// `{"status":"success","data":…}` with a status code.
pub fn success(status: StatusCode, data: Value) -> Response {
    (status, Json(json!({ "status": "success", "data": data }))).into_response()
}

/// Marks a response that is deliberately not in Cal.com's envelope: the plain-text page a
/// gateway in front of Cal.com sends for 502-504.
#[derive(Debug, Clone, Copy)]
pub struct GatewayPage;

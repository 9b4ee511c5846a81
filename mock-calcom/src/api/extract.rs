//! Request parsing with Cal.com's answers to bad input: unknown fields and malformed
//! bodies are 400 in the envelope, oversized bodies 413, never a panic or a plain-text error.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::mock::MockCalcom;

/// Who is calling, as the edge middleware established it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// A valid API key was presented.
    pub authenticated: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(parts.extensions.get::<Caller>().copied().unwrap_or(Caller {
            authenticated: false,
        }))
    }
}

impl Caller {
    /// 401 unless a valid API key was presented.
    pub fn require(self) -> Result<(), ApiError> {
        if self.authenticated {
            Ok(())
        } else {
            Err(ApiError::unauthorized(
                "ApiAuthGuard - No API key or access token provided in the Authorization header",
            ))
        }
    }
}

/// A JSON body parsed into `T` (whose `deny_unknown_fields` makes unknown fields 400).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<MockCalcom>> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, mock: &Arc<MockCalcom>) -> Result<Self, ApiError> {
        let limit = mock.config().api.max_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLargeException",
                    format!("request entity too large (limit {limit} bytes)"),
                )
            })?;
        let text = if bytes.iter().all(u8::is_ascii_whitespace) {
            &b"{}"[..]
        } else {
            &bytes[..]
        };
        let mut de = serde_json::Deserializer::from_slice(text);
        let value = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| input_error(&e.path().to_string(), e.inner()))?;
        de.end()
            .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))?;
        Ok(Body(value))
    }
}

/// Query parameters parsed into `T` (unknown parameters are 400).
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(Params)
            .map_err(|e| input_error("", &e))
    }
}

/// Turns a serde error into Cal.com's validation message.
fn input_error(path: &str, err: &impl std::fmt::Display) -> ApiError {
    let text = err.to_string();
    if let Some(rest) = text.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let full = if path.is_empty() || path == "." {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        };
        return ApiError::bad_request(format!(
            "{full} property is wrong, property {full} should not exist"
        ));
    }
    let text = text.split(" at line ").next().unwrap_or(&text).to_owned();
    if path.is_empty() || path == "." {
        ApiError::bad_request(format!("Invalid request: {text}"))
    } else {
        ApiError::bad_request(format!("{path}: {text}"))
    }
}

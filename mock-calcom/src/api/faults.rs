//! Answers for injected faults (see `config::FaultRule`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use simkit::transport::ResetConnection;

use super::error::ApiError;
use crate::config::{Endpoint, FaultAction};
use crate::mock::MockCalcom;

/// If a fault fires for this request, the answer it gets instead of the real one.
pub async fn injected(mock: &MockCalcom, endpoint: Endpoint) -> Option<Response> {
    let action = mock.fault_for(endpoint)?;
    answer(mock, endpoint, action).await
}

/// The answer a fault gives; `None` for [`FaultAction::Replay`] and
/// [`FaultAction::ReplayKey`], which the create handler answers itself.
pub async fn answer(
    mock: &MockCalcom,
    endpoint: Endpoint,
    action: FaultAction,
) -> Option<Response> {
    tracing::debug!(endpoint = endpoint.name(), ?action, "fault injected");
    Some(match action {
        FaultAction::Replay | FaultAction::ReplayKey => return None,
        FaultAction::Status { status, message } => {
            mock.delay(endpoint).await;
            match status {
                400 => ApiError::bad_request(message.unwrap_or_else(|| "Bad Request".into()))
                    .into_response(),
                429 => ApiError::too_many_requests().into_response(),
                500 => ApiError::internal().into_response(),
                other => gateway_page(other),
            }
        }
        FaultAction::Hang(duration) => {
            simkit::time::sleep(duration).await;
            gateway_page(504)
        }
        FaultAction::Reset => {
            mock.delay(endpoint).await;
            let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            response.extensions_mut().insert(ResetConnection);
            response
        }
    })
}

/// What the gateway in front of Cal.com sends for 502/503/504: plain text, no envelope.
fn gateway_page(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let text = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let mut response = (
        status,
        [("content-type", "text/plain; charset=utf-8")],
        text,
    )
        .into_response();
    response.extensions_mut().insert(super::error::GatewayPage);
    response
}

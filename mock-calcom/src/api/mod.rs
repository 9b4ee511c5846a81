//! Cal.com API v2 over HTTP: the router, and the edge every request passes (request id,
//! throttler, API key, statistics, error envelope).
//!
//! Routes by file: [`slots`] (`/v2/slots`, legacy `/v2/slots/available`), [`bookings`]
//! (`/v2/bookings…`), [`reservations`] (`/v2/slots/reservations…`, legacy
//! `/v2/slots/reserve`), [`webhooks`] (`/v2/webhooks`), [`event_types`]
//! (`/v2/event-types`), and [`admin`] (the mock's own `/_mock/…`).

pub mod admin;
pub mod bookings;
pub mod error;
pub mod event_types;
pub mod extract;
mod faults;
pub mod reservations;
pub mod slots;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::config::Endpoint;
use crate::mock::MockCalcom;
use crate::wire;
use error::ApiError;
use extract::Caller;

/// The API version a request asked for with `cal-api-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `2024-09-04`: `GET /v2/slots` and `/v2/slots/reservations…`.
    V2024_09_04,
    /// `2024-08-13`: `/v2/bookings…`; the legacy slots controller answers it too.
    V2024_08_13,
    /// `2026-02-25`: what Cal.com's current docs send to `/v2/bookings…`; no difference to
    /// `2024-08-13` is documented, so it is served the same.
    V2026_02_25,
    /// Missing or any other value: the legacy `2024-04-15` family.
    Legacy,
}

impl ApiVersion {
    pub fn of(headers: &HeaderMap) -> Self {
        match headers
            .get("cal-api-version")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
        {
            Some("2024-09-04") => ApiVersion::V2024_09_04,
            Some("2024-08-13") => ApiVersion::V2024_08_13,
            Some("2026-02-25") => ApiVersion::V2026_02_25,
            _ => ApiVersion::Legacy,
        }
    }
}

pub type AppState = Arc<MockCalcom>;

/// The whole API of one mock.
pub fn router(mock: Arc<MockCalcom>) -> Router {
    let slots_2024_09_04 = Router::new()
        .route("/v2/slots", axum::routing::get(slots::list))
        .route(
            "/v2/slots/reservations",
            axum::routing::post(reservations::create),
        )
        .route(
            "/v2/slots/reservations/{uid}",
            axum::routing::get(reservations::get)
                .patch(reservations::update)
                .delete(reservations::delete),
        )
        .route_layer(middleware::from_fn(|req, next| {
            only_versions(&[ApiVersion::V2024_09_04], req, next)
        }));
    let slots_legacy = Router::new()
        .route(
            "/v2/slots/available",
            axum::routing::get(slots::list_legacy),
        )
        .route(
            "/v2/slots/reserve",
            axum::routing::post(reservations::create_legacy),
        )
        .route(
            "/v2/slots/selected-slot",
            axum::routing::delete(reservations::delete_legacy),
        )
        .route_layer(middleware::from_fn(|req, next| {
            only_versions(&[ApiVersion::Legacy, ApiVersion::V2024_08_13], req, next)
        }));
    let bookings_2024_08_13 = Router::new()
        .route(
            "/v2/bookings",
            axum::routing::post(bookings::create).get(bookings::list),
        )
        .route("/v2/bookings/{uid}", axum::routing::get(bookings::get))
        .route(
            "/v2/bookings/{uid}/cancel",
            axum::routing::post(bookings::cancel),
        )
        .route(
            "/v2/bookings/{uid}/reschedule",
            axum::routing::post(bookings::reschedule),
        )
        .route_layer(middleware::from_fn(bookings_version));
    let unversioned = Router::new()
        .route(
            "/v2/webhooks",
            axum::routing::post(webhooks::create).get(webhooks::list),
        )
        .route(
            "/v2/webhooks/{id}",
            axum::routing::get(webhooks::get).delete(webhooks::delete),
        )
        .route("/v2/event-types", axum::routing::get(event_types::list));
    Router::new()
        .merge(slots_2024_09_04)
        .merge(slots_legacy)
        .merge(bookings_2024_08_13)
        .merge(unversioned)
        .nest("/_mock", admin::router())
        .fallback(|method: Method, req: Request| async move { cannot(&method, &req) })
        .layer(middleware::from_fn_with_state(mock.clone(), edge))
        .with_state(mock)
}

/// NestJS's answer for a route that does not exist (for this version).
fn cannot(method: &Method, req: &Request) -> Response {
    let uri = req.uri().path_and_query().map_or("/", |p| p.as_str());
    ApiError::not_found(format!("Cannot {method} {uri}")).into_response()
}

async fn only_versions(accepted: &'static [ApiVersion], req: Request, next: Next) -> Response {
    if accepted.contains(&ApiVersion::of(req.headers())) {
        next.run(req).await
    } else {
        cannot(&req.method().clone(), &req)
    }
}

/// Without `cal-api-version: 2024-08-13` (or the current docs' `2026-02-25`) Cal.com routes
/// bookings to the legacy 2024-04-15 controller, whose body (`end`, `responses`, …) the mock
/// does not model: it answers 400 as that controller's validation would.
async fn bookings_version(req: Request, next: Next) -> Response {
    if matches!(
        ApiVersion::of(req.headers()),
        ApiVersion::V2024_08_13 | ApiVersion::V2026_02_25
    ) {
        next.run(req).await
    } else {
        ApiError::bad_request(
            "cal-api-version must be 2024-08-13 or 2026-02-25 for /v2/bookings: the legacy \
             2024-04-15 bookings controller is not modelled by this mock",
        )
        .into_response()
    }
}

/// The statistics name of a request: its [`Endpoint`], `admin`, or `other`.
fn classify(method: &Method, path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let endpoint = match (method.as_str(), parts.as_slice()) {
        ("GET", ["v2", "slots"] | ["v2", "slots", "available"]) => Endpoint::Slots,
        ("POST", ["v2", "bookings"]) => Endpoint::CreateBooking,
        ("GET", ["v2", "bookings"] | ["v2", "bookings", _]) => Endpoint::GetBooking,
        ("POST", ["v2", "bookings", _, "cancel"]) => Endpoint::CancelBooking,
        ("POST", ["v2", "bookings", _, "reschedule"]) => Endpoint::RescheduleBooking,
        ("POST", ["v2", "slots", "reservations"] | ["v2", "slots", "reserve"]) => {
            Endpoint::ReserveSlot
        }
        (_, ["v2", "slots", "reservations", _] | ["v2", "slots", "selected-slot"]) => {
            Endpoint::Reservation
        }
        (_, ["v2", "webhooks", ..]) => Endpoint::Webhooks,
        (_, ["v2", "event-types", ..]) => Endpoint::EventTypes,
        (_, ["_mock", ..]) => return "admin",
        _ => return "other",
    };
    endpoint.name()
}

/// Every request passes here: `X-Request-Id`; for `/v2/…` the throttler (keyed by API key,
/// else client address) with its `X-RateLimit-*-Default` headers, then the API key check;
/// errors rendered in Cal.com's envelope; statistics.
/// The path without its query.
fn req_path(path_and_query: &str) -> &str {
    path_and_query.split('?').next().unwrap_or(path_and_query)
}

/// The mock's own routes (`/_mock` and everything under it) need the admin token when the
/// server was given one: 401 in Cal.com's envelope otherwise. Checked on the path, before
/// routing, so that no admin route, present or added later, is open by mistake.
fn admin_refusal(mock: &MockCalcom, path: &str, headers: &HeaderMap) -> Option<ApiError> {
    let admin = path == "/_mock" || path.starts_with("/_mock/");
    let token = mock.admin_token()?;
    (admin && !simkit::access::bearer_matches(headers, token)).then(|| {
        ApiError::unauthorized(
            "The mock's admin API needs its admin token: Authorization: Bearer <token> \
             (given to mock-calcom serve with --admin-token-file or MOCK_CALCOM_ADMIN_TOKEN)",
        )
    })
}

async fn edge(State(mock): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = mock.next_request_id();
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let endpoint = classify(req.method(), req.uri().path());
    let method = req.method().to_string();
    let mut rate = None;
    let mut response = if req.uri().path().starts_with("/v2/") {
        let bearer = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_owned());
        // Valid keys are throttled per key; anything else per client address, so that a
        // stream of made-up tokens cannot grow the throttler's table.
        let key = match &bearer {
            Some(k) if mock.key_is_valid(k) => k.clone(),
            _ => {
                let peer = req
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip().to_string());
                format!("ip:{}", peer.unwrap_or_default())
            }
        };
        let decision = mock.rate_limit(&key);
        rate = Some(decision);
        match bearer {
            _ if !decision.allowed => ApiError::too_many_requests().into_response(),
            Some(key) if !mock.key_is_valid(&key) => {
                ApiError::unauthorized("ApiAuthStrategy - api key - Invalid API Key")
                    .into_response()
            }
            bearer => {
                req.extensions_mut().insert(Caller {
                    authenticated: bearer.is_some(),
                });
                next.run(req).await
            }
        }
    } else if let Some(refusal) = admin_refusal(&mock, req.uri().path(), req.headers()) {
        refusal.into_response()
    } else {
        next.run(req).await
    };
    // Errors the framework answered itself (an extractor's rejection, a method the route
    // lacks) get Cal.com's envelope too; only the gateway pages stay plain text.
    let framework_error = (response.status().is_client_error()
        || response.status().is_server_error())
        && response.extensions().get::<ApiError>().is_none()
        && response.extensions().get::<error::GatewayPage>().is_none()
        && response
            .extensions()
            .get::<simkit::transport::ResetConnection>()
            .is_none()
        && !response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if framework_error {
        let status = response.status();
        let (parts, body) = response.into_parts();
        let text = axum::body::to_bytes(body, 64 * 1024)
            .await
            .unwrap_or_default();
        let err = ApiError::for_status(
            status,
            &method,
            req_path(&path),
            &String::from_utf8_lossy(&text),
        );
        response = Response::from_parts(parts, axum::body::Body::empty());
        response.extensions_mut().insert(err);
    }
    if let Some(err) = response.extensions().get::<ApiError>().cloned() {
        let body = err.envelope(&wire::iso_ms(mock.now()), &path);
        let extensions = std::mem::take(response.extensions_mut());
        response = (err.status, axum::Json(body)).into_response();
        *response.extensions_mut() = extensions;
    }
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", v);
    }
    if let Some(rate) = rate {
        headers.insert("x-ratelimit-limit-default", rate.limit.into());
        headers.insert("x-ratelimit-remaining-default", rate.remaining.into());
        headers.insert("x-ratelimit-reset-default", rate.reset_seconds.into());
    }
    mock.record_request(endpoint, response.status().as_u16());
    tracing::info!(%request_id, endpoint, path, status = response.status().as_u16(), "request");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_by_endpoint() {
        assert_eq!(classify(&Method::GET, "/v2/slots"), "slots");
        assert_eq!(classify(&Method::GET, "/v2/slots/available"), "slots");
        assert_eq!(classify(&Method::POST, "/v2/bookings"), "create_booking");
        assert_eq!(
            classify(&Method::POST, "/v2/bookings/abc/cancel"),
            "cancel_booking"
        );
        assert_eq!(
            classify(&Method::DELETE, "/v2/slots/reservations/x"),
            "reservation"
        );
        assert_eq!(classify(&Method::GET, "/_mock/state"), "admin");
        assert_eq!(classify(&Method::GET, "/v3/nothing"), "other");
    }
}

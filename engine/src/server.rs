//! The engine's HTTP face: Retell's function calls, Cal.com's webhooks, and the salon's own
//! channel for appointments (and a read-out of the local store).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use simkit::access::Secret;
use simkit::transport::{Listener, Network};
use simkit::{SeedStreams, SimClock};

use crate::booking::SlotRequest;
use crate::engine::{Engine, EngineSettings};
use crate::sync_job::ChannelRefusal;
use crate::{retell, webhooks};

/// Every route of the engine: the router is built from this list, and the tests walk it to
/// prove that each route not in [`OPEN`] answers 401 without the admin token.
pub fn routes() -> Vec<(&'static str, MethodRouter<Arc<Engine>>)> {
    vec![
        ("/api/webhooks/retell/function", post(retell::function_call)),
        ("/api/webhooks/calcom", post(webhooks::calcom)),
        (
            "/api/appointments",
            post(create_appointment).get(list_appointments),
        ),
        ("/health", get(|| async { "ok" })),
        ("/api/info", get(info)),
    ]
}

/// The paths that do not need the admin token, and what guards them instead. Every other
/// path, listed in [`routes`] or not (a route added later, a 404), needs it when the engine
/// was given one: the guard is on the path, before routing.
pub const OPEN: &[(&str, &str)] = &[
    (
        "/api/webhooks/retell/function",
        "Retell's signature (`x-retell-signature`) when the engine has a Retell API key",
    ),
    (
        "/api/webhooks/calcom",
        "Cal.com's signature (`X-Cal-Signature-256`); refused without a webhook secret",
    ),
    ("/health", "reads nothing and changes nothing"),
];

/// The engine's routes, all open (the simulation, and tests).
pub fn router(engine: Arc<Engine>) -> Router {
    router_with(engine, None)
}

/// The engine's routes; with `admin_token`, every path not in [`OPEN`] answers 401 unless
/// the request carries `Authorization: Bearer <admin token>`.
pub fn router_with(engine: Arc<Engine>, admin_token: Option<Secret>) -> Router {
    let router = routes()
        .into_iter()
        .fold(Router::new(), |router, (path, route)| {
            router.route(path, route)
        })
        .with_state(engine);
    match admin_token {
        Some(token) => router.layer(middleware::from_fn(move |req: Request, next: Next| {
            let token = token.clone();
            async move { require_admin(&token, req, next).await }
        })),
        None => router,
    }
}

async fn require_admin(token: &Secret, req: Request, next: Next) -> Response {
    let open = OPEN.iter().any(|(path, _)| req.uri().path() == *path);
    if open || simkit::access::bearer_matches(req.headers(), token) {
        return next.run(req).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({
            "error": "unauthorized",
            "message": "this route needs the engine's admin token: Authorization: Bearer <token> (given to booking-engine serve with --admin-token-file or BOOKING_ENGINE_ADMIN_TOKEN)",
        })),
    )
        .into_response()
}

/// `GET /api/info`: what this engine is and the policy it runs (every switch, and the
/// preset it equals, `null` when overridden), so that a harness can check it drives the
/// policy it means to.
async fn info(State(engine): State<Arc<Engine>>) -> Json<serde_json::Value> {
    let policy = engine.policy();
    Json(json!({
        "engine": "booking-engine",
        "version": env!("CARGO_PKG_VERSION"),
        "preset": policy.preset_of(),
        "policy": policy,
    }))
}

/// Serves the engine on `listener` until `shutdown`, with its background work running.
pub async fn serve(engine: Arc<Engine>, listener: Listener, shutdown: impl Future<Output = ()>) {
    serve_with(engine, listener, shutdown, None).await;
}

/// [`serve`], with every route not in [`OPEN`] needing `admin_token` if given.
pub async fn serve_with(
    engine: Arc<Engine>,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
    admin_token: Option<Secret>,
) {
    let background = tokio::spawn(engine.clone().run_background());
    // Spawned only when needed: an idle task would still change the scheduling order.
    let recovery = engine
        .boot()
        .then(|| tokio::spawn(engine.clone().recover()));
    let router = router_with(engine, admin_token);
    // The engine saturates in the simulation where a live engine would (refused connects).
    simkit::transport::serve(
        listener,
        router,
        shutdown,
        Duration::from_secs(5),
        simkit::transport::ConnectionLimit::Bounded,
    )
    .await;
    background.abort();
    if let Some(recovery) = recovery {
        recovery.abort();
    }
}

/// Runs an engine as a turmoil host: simulated clock and network, listening on `port`.
pub async fn run_simulated(
    settings: EngineSettings,
    seed: SeedStreams,
    port: u16,
) -> std::io::Result<()> {
    let engine = Engine::new(
        settings,
        Arc::new(SimClock::new()),
        seed,
        Network::Simulated,
    );
    let listener = Listener::bind(
        Network::Simulated,
        (std::net::Ipv4Addr::UNSPECIFIED, port).into(),
    )
    .await?;
    serve(engine, listener, std::future::pending()).await;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelAppointment {
    service: String,
    /// Local time, e.g. `2025-11-25T12:00`.
    datetime: String,
    customer_name: Option<String>,
}

/// An appointment made in the salon (not by the voice agent): saved now, synced later.
async fn create_appointment(
    State(engine): State<Arc<Engine>>,
    body: axum::body::Bytes,
) -> Response {
    let input: ChannelAppointment = match serde_json::from_slice(&body) {
        Ok(input) => input,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": e.to_string() })),
            )
                .into_response();
        }
    };
    let request = SlotRequest {
        service: Some(input.service),
        datetime: Some(input.datetime),
        customer_name: input.customer_name,
        ..SlotRequest::default()
    };
    match engine.create_from_channel(&request).await {
        Ok(a) => (
            StatusCode::CREATED,
            Json(json!({ "appointment_id": a.id, "sync_status": a.sync })),
        )
            .into_response(),
        Err(ChannelRefusal::Invalid(message)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": message })),
        )
            .into_response(),
        // The slot is filled: nothing saved, nothing to sync.
        Err(ChannelRefusal::Conflict(message)) => (
            StatusCode::CONFLICT,
            Json(json!({ "error": "slot_taken", "message": message })),
        )
            .into_response(),
    }
}

/// The local store: appointments with their phases and sync state, reservations, counters.
async fn list_appointments(State(engine): State<Arc<Engine>>) -> Json<serde_json::Value> {
    let appointments = engine.appointments.appointments();
    let reservations = engine.reservations.reservations();
    Json(
        json!({ "appointments": appointments, "reservations": reservations, "stats": engine.stats() }),
    )
}

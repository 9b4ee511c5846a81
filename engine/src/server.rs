//! The engine's HTTP face: Retell's function calls, Cal.com's webhooks, and the salon's own
//! channel for appointments (and a read-out of the local store).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use simkit::transport::{Listener, Network};
use simkit::{SeedStreams, SimClock};

use crate::booking::SlotRequest;
use crate::engine::{Engine, EngineSettings};
use crate::sync_job::ChannelRefusal;
use crate::{retell, webhooks};

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/api/webhooks/retell/function", post(retell::function_call))
        .route("/api/webhooks/calcom", post(webhooks::calcom))
        .route(
            "/api/appointments",
            post(create_appointment).get(list_appointments),
        )
        .route("/health", get(|| async { "ok" }))
        .route("/api/info", get(info))
        .with_state(engine)
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
    let background = tokio::spawn(engine.clone().run_background());
    // Spawned only when needed: an idle task would still change the scheduling order.
    let recovery = engine
        .boot()
        .then(|| tokio::spawn(engine.clone().recover()));
    simkit::transport::serve(listener, router(engine), shutdown, Duration::from_secs(5)).await;
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

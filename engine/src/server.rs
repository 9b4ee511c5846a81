//! The engine's HTTP face: Retell's function calls and Cal.com's webhooks.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use simkit::transport::Listener;

use crate::engine::Engine;
use crate::{retell, webhooks};

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/api/webhooks/retell/function", post(retell::function_call))
        .route("/api/webhooks/calcom", post(webhooks::calcom))
        .route("/health", get(|| async { "ok" }))
        .with_state(engine)
}

/// Serves the engine on `listener` until `shutdown`.
pub async fn serve(engine: Arc<Engine>, listener: Listener, shutdown: impl Future<Output = ()>) {
    simkit::transport::serve(listener, router(engine), shutdown, Duration::from_secs(5)).await;
}

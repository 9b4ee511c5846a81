//! Serving an axum router over a [`Listener`] of either world.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::Semaphore;
use tower_service::Service;

use super::idle::{Watch, Watched};
use super::net::Listener;

/// Put this in a response's extensions to drop the connection instead of answering: the
/// client sees the connection reset mid-request, as with a crashed upstream.
#[derive(Debug, Clone, Copy)]
pub struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset on purpose")
    }
}

impl std::error::Error for ResetConnection {}

/// Connections a server serves at once; the next waits for one to end.
pub const MAX_CONNECTIONS: usize = 512;
/// Connections waiting to be served beyond [`MAX_CONNECTIONS`]: the listen backlog
/// [`super::Listener::bind`] asks the kernel for (tokio's own `bind` asks for 128, as std
/// does; Linux caps it at `net.core.somaxconn`, 4096 by default). On real sockets the kernel
/// holds them (their requests sit unread); a connection beyond both is not accepted and its
/// client's connect times out.
pub const LISTEN_BACKLOG: usize = 1024;

/// How many connections a server takes, in either world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionLimit {
    /// [`MAX_CONNECTIONS`] served, [`LISTEN_BACKLOG`] waiting, the SYNs of the rest dropped
    /// (the kernel's, on real sockets; this loop's and turmoil's in the simulation). The
    /// engine: a simulated run saturates where a live one does.
    Bounded,
    /// No limit but the process's file descriptors: a stand-in for a service far larger than
    /// this one (the mock Cal.com), in the simulation and live alike, so that what saturates
    /// in a live run is the engine, as in the simulated one.
    Unlimited,
}

/// How long a client may take to send a request's headers from their first byte (or from
/// connecting), against slowloris. A kept-alive connection with no request has
/// [`super::IDLE_TIMEOUT`].
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest pause after a failed accept (out of file descriptors, say): the loop backs off
/// instead of spinning and logging millions of warnings.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves `router` on every connection `listener` accepts, HTTP/1.1 with keep-alive and no
/// `Date` header, until `shutdown` resolves; then waits up to `drain` for open connections.
///
/// A [`ConnectionLimit::Bounded`] server serves at most [`MAX_CONNECTIONS`] connections at
/// once; the next wait, their requests unread, in a backlog of [`LISTEN_BACKLOG`] (the
/// kernel's on real sockets, this loop's in the simulation); beyond that a connection's SYN
/// is dropped, and its client sends it again after 1 s, 3 s, 7 s (the kernel's
/// retransmissions) until its connect timeout. A bounded server, and any on real sockets,
/// also gives each connection [`HEADER_READ_TIMEOUT`] to send a request's headers and closes
/// one idle for [`super::IDLE_TIMEOUT`] (`super::idle`); on real sockets it backs off when
/// accepting fails.
///
/// Each request carries the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: Listener,
    router: Router,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    limit: ConnectionLimit,
) {
    let real = matches!(listener, Listener::Real(_));
    let limited = real || limit == ConnectionLimit::Bounded;
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.auto_date_header(false)
        .keep_alive(true)
        .timer(crate::time::HyperTimer)
        // Both clocks are `super::idle`'s: hyper's one would close idle connections too soon.
        .header_read_timeout(None);
    // Accepted connections (served or waiting), and those being served. On real sockets
    // the kernel keeps the backlog, so only served connections are accepted.
    let (accepted, served) = match (limit, real) {
        (ConnectionLimit::Bounded, true) => (MAX_CONNECTIONS, MAX_CONNECTIONS),
        (ConnectionLimit::Bounded, false) => (MAX_CONNECTIONS + LISTEN_BACKLOG, MAX_CONNECTIONS),
        (ConnectionLimit::Unlimited, _) => (Semaphore::MAX_PERMITS, Semaphore::MAX_PERMITS),
    };
    let slots = Arc::new(Semaphore::new(accepted));
    let serving = Arc::new(Semaphore::new(served));
    let mut backoff = Duration::ZERO;
    tokio::pin!(shutdown);
    loop {
        // Every connection this server takes is taken: the kernel's accept queue is full
        // and SYNs arriving now are dropped (their clients send them again later).
        let full = slots.available_permits() == 0;
        if full {
            listener.set_backlog_full(true);
        }
        // biased: shutdown wins ties, and no random branch choice (determinism).
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        if full {
            listener.set_backlog_full(false);
        }
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::ZERO;
                accepted
            }
            Err(err) => {
                if backoff.is_zero() {
                    tracing::warn!(%err, "accept failed; backing off");
                }
                backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
                crate::time::sleep(backoff).await;
                continue;
            }
        };
        let router = router.clone();
        let watch = Watch::new(limited);
        let clock = watch.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let clock = clock.clone();
            clock.serving();
            let answer = handle(router.clone(), peer, req);
            async move {
                let answer = answer.await;
                clock.answered();
                answer
            }
        });
        let stream = Watched::new(stream, watch.clone());
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let serving = serving.clone();
        tokio::spawn(async move {
            // Waits in the backlog (FIFO) until one of the served connections ends; closed
            // at shutdown, when a waiting connection is dropped unserved.
            let Ok(serving) = serving.acquire_owned().await else {
                return;
            };
            watch.begin();
            if let Err(err) = conn.await {
                tracing::debug!(%peer, %err, "connection ended with an error");
            }
            drop((serving, permit));
        });
    }
    serving.close();
    tokio::select! {
        biased;
        () = graceful.shutdown() => {}
        () = crate::time::sleep(drain) => tracing::warn!("connections still open after {drain:?}; closing"),
    }
}

/// Resolves when the process is asked to stop: Ctrl-C (SIGINT) or, on Unix, SIGTERM, which
/// container platforms send. Servers then stop accepting and let open requests finish.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                biased;
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Binds `0.0.0.0:port` on `network` and serves `router` until the process (or the simulated
/// host) ends: the whole life of a small server, e.g. a webhook subscriber in a test.
pub async fn serve_on(network: super::Network, port: u16, router: Router) -> std::io::Result<()> {
    let listener = Listener::bind(network, (std::net::Ipv4Addr::UNSPECIFIED, port).into()).await?;
    serve(
        listener,
        router,
        std::future::pending(),
        Duration::from_secs(1),
        ConnectionLimit::Unlimited,
    )
    .await;
    Ok(())
}

async fn handle(
    mut router: Router,
    peer: SocketAddr,
    mut req: hyper::Request<Incoming>,
) -> Result<axum::response::Response, ResetConnection> {
    req.extensions_mut().insert(ConnectInfo(peer));
    let response = match router.call(req.map(axum::body::Body::new)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if response.extensions().get::<ResetConnection>().is_some() {
        return Err(ResetConnection);
    }
    Ok(response)
}

//! One HTTP transport for every server and client in bookingsim.
//!
//! The same axum router is served, and the same client code makes requests, over turmoil's
//! simulated TCP inside a simulation and over tokio's real TCP outside it; [`Network`] picks.
//! hyper's automatic `Date` header (which reads the wall clock) is off.

mod client;
mod idle;
mod net;
mod server;

pub use client::{ClientError, HttpClient, HttpResponse, POOL_IDLE_TIMEOUT, Timeouts};
pub use idle::IDLE_TIMEOUT;
pub use net::{Listener, NetStream, Network};
pub use server::{
    ConnectionLimit, HEADER_READ_TIMEOUT, LISTEN_BACKLOG, MAX_CONNECTIONS, ResetConnection, serve,
    serve_on, shutdown_signal,
};

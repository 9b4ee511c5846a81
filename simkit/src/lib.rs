//! The kit every bookingsim component is built on, so that one piece of code runs both inside
//! the deterministic turmoil simulation and over real sockets in real time:
//!
//! - [`clock`]: where "now" comes from (virtual time in the simulation, wall time outside);
//! - [`distribution`]: random durations (latency, lag, delays) given as percentiles;
//! - [`seed`]: named, independent ChaCha random streams derived from one seed;
//! - [`ids`]: identifiers (UUIDs, Cal.com-style uids) drawn from a seeded stream;
//! - [`transport`]: serving an axum router over any listener and making HTTP requests over
//!   any connector, turmoil's or tokio's.

pub mod clock;
pub mod distribution;
pub mod ids;
pub mod seed;
pub mod transport;

pub use clock::{Clock, ManualClock, SharedClock, SimClock, TokioClock};
pub use distribution::Distribution;
pub use seed::SeedStreams;

//! The kit every bookingsim component is built on, so that one piece of code runs both inside
//! the deterministic turmoil simulation and over real sockets in real time:
//!
//! - [`clock`]: where "now" comes from (virtual time in the simulation, wall time outside);
//! - [`distribution`]: random durations (latency, lag, delays) given as percentiles;
//! - [`seed`]: named, independent ChaCha random streams derived from one seed;
//! - [`ids`]: identifiers (UUIDs, Cal.com-style uids) drawn from a seeded stream;
//! - [`limits`]: the documented range of every configuration value;
//! - [`transport`]: serving an axum router over any listener and making HTTP requests over
//!   any connector, turmoil's or tokio's.

// turmoil seeds every host's runtime (and makes `tokio::select!` deterministic) only when
// tokio is built with its unstable cfg. `.cargo/config.toml` sets it, but a `RUSTFLAGS`
// variable replaces that setting silently: refuse to build rather than run simulations
// that differ from process to process.
#[cfg(not(tokio_unstable))]
compile_error!(
    "bookingsim's simulations need `--cfg tokio_unstable`: .cargo/config.toml sets it, but a RUSTFLAGS variable replaces it; add it there (RUSTFLAGS=\"--cfg tokio_unstable …\")"
);

pub mod access;
pub mod clock;
pub mod distribution;
pub mod ids;
pub mod limits;
pub mod schema;
pub mod seed;
pub mod time;
pub mod transport;

pub use clock::{Clock, ManualClock, SharedClock, SimClock, TokioClock};
pub use distribution::Distribution;
pub use seed::SeedStreams;

/// `println!` for command-line programs that must not die when stdout goes away (a server
/// whose banner is piped into `head`, a report piped into a pager that quit): the line is
/// dropped, the program goes on.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stdout(), $($arg)*);
    }};
}

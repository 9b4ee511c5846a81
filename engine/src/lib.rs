//! The booking engine under test: the seed system's Laravel booking backend for a Retell
//! voice agent, reimplemented as real Rust that talks HTTP to Cal.com, every protection layer
//! a switch of [`Policy`].
//!
//! Where things live:
//! - [`policy`]: the layers as fields, and the named presets;
//! - [`calcom`]: the Cal.com v2 client (typed errors, timeouts, retry with backoff).

pub mod calcom;
pub mod policy;

pub use policy::Policy;

//! The booking engine under test: the seed system's Laravel booking backend for a Retell
//! voice agent, reimplemented as real Rust that talks HTTP to Cal.com, every protection layer
//! a switch of [`Policy`].
//!
//! Where things live:
//! - [`policy`]: the layers as fields, and the named presets;
//! - [`calcom`]: the Cal.com v2 client (typed errors, timeouts, retry with backoff);
//! - [`catalog`]: services, their segments and Cal.com event types;
//! - [`cache`], [`lock`], [`store`]: the availability cache, the lock, the local database;
//! - [`dates`]: the agent's German dates and times.

pub mod cache;
pub mod calcom;
pub mod catalog;
pub mod dates;
pub mod lock;
pub mod policy;
pub mod store;

pub use policy::Policy;

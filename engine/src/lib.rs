//! The booking engine under test: the seed system's Laravel booking backend for a Retell
//! voice agent, reimplemented as real Rust that talks HTTP to Cal.com, every protection layer
//! a switch of [`Policy`].
//!
//! Where things live:
//! - [`policy`]: the layers as fields, and the named presets;
//! - [`engine`]: the running engine; [`booking`]: `check_availability`, and `start_booking`
//!   as its layers in the order they run, one file each;
//! - [`calcom`]: the Cal.com v2 client (typed errors, timeouts, retry with backoff);
//! - [`catalog`]: services, their segments and Cal.com event types;
//! - [`cache`], [`lock`], [`store`]: the availability cache, the lock, the local database;
//!   [`infra`]: Redis and the database misbehaving for a window (a scenario's faults);
//! - [`sync_job`]: appointments from other channels, pushed to Cal.com after a queue delay;
//! - [`recovery`]: what a restart after a crash repairs (unsaved bookings, the sync queue);
//! - [`dates`]: the agent's German dates and times;
//! - [`server`]: the HTTP routes: [`retell`] (function calls), [`webhooks`] (Cal.com).

pub mod booking;
pub mod cache;
pub mod calcom;
pub mod catalog;
pub mod dates;
pub mod engine;
pub mod infra;
pub mod lock;
pub mod policy;
pub mod recovery;
pub mod retell;
pub mod server;
pub mod staff;
pub mod store;
pub mod sync_job;
pub mod webhooks;

pub use engine::{Backends, Engine, EngineSettings};
pub use policy::Policy;

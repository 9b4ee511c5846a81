//! A mock of Cal.com API v2 that is wire-compatible enough for a real client and misbehaves
//! the way Cal.com does: latency, stale slot listings, the check-then-commit race window
//! (409 on identical, double booking on overlapping requests), the throttler, reservations
//! that hide but do not block, signed webhooks that can be lost, late or duplicated, and
//! injected faults. It runs inside the turmoil simulation and as a standalone server.
//!
//! Where things live:
//! - [`config`]: the configuration struct (TOML, embedded in scenario files);
//! - [`model`]: the calendar's state and rules, [`calendar`]: working hours and slot math;
//! - [`mock`]: [`MockCalcom`], the running mock; [`rate_limit`], [`webhooks`], [`external`];
//! - [`api`]: the HTTP routes, one file per resource, and the `/_mock/` admin extension;
//! - [`wire`]: Cal.com's JSON shapes; [`truth`]: the ground truth, typed, as the harness reads it.

pub mod api;
pub mod calendar;
pub mod config;
pub mod external;
pub mod mock;
pub mod model;
pub mod rate_limit;
pub mod truth;
pub mod webhooks;
pub mod wire;

pub use config::MockConfig;
pub use mock::{ExternalBooking, GroundTruth, MockCalcom};

//! bookingsim: the booking engine against the mock Cal.com in a seeded turmoil simulation,
//! driven by scenario files; outcomes, latencies, invariant violations and gates.
//!
//! The data flows down this list, and no module imports one above it (`tests/layers.rs`):
//! - [`kinds`]: the names every layer shares (outcomes, invariant kinds, coverage counters);
//! - [`scenario`]: the file format, its validation and gates;
//! - [`world`]: who calls when, the simulated world and the live driver, what a run records;
//! - [`history`]: the recorded operations, and Cal.com's ground truth;
//! - [`check`]: the invariants, a pure function over a history;
//! - [`results`]: metrics, the typed summary, aggregation, baselines, result files;
//! - [`pipeline`]: one run, run -> check -> summarize, and many on every core;
//! - [`experiment`]: compare, sweep, shards and merge, the catalogue gate, mutants;
//! - [`calibrate`]: fits a scenario's Cal.com latencies and cache TTL to production figures;
//! - [`explore`]: generated worlds, the search, and shrinking.

pub mod calibrate;
pub mod check;
pub mod experiment;
pub mod explore;
pub mod history;
pub mod kinds;
pub mod pipeline;
pub mod results;
pub mod scenario;
pub mod world;

pub use pipeline::{run, run_timed, run_with_progress};
pub use results::summary::Summary;
pub use scenario::Scenario;

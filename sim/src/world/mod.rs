//! The world a scenario runs in and what it records: the call plans, the simulated world
//! (turmoil hosts) and the live driver (real servers), both producing one [`record::RunRecord`].

pub mod judge;
pub mod live;
pub mod live_answers;
pub mod live_engine;
pub mod live_pages;
pub mod pacer;
pub mod record;
pub mod simulated;
pub mod staff;
pub mod workers;
pub mod workload;

/// Whether a function call's answer says it never got a connection to the engine
/// (`connect timed out`, `connect failed: …`: a refused or unaccepted connect), rather than
/// losing one it had (`connection closed`: the engine was reached). Both runners write a
/// transport failure as `{"transport_error": …}`.
pub fn never_connected(answer: &serde_json::Value) -> bool {
    answer["transport_error"]
        .as_str()
        .is_some_and(|e| e.starts_with("connect ") || e.starts_with("connect:"))
}

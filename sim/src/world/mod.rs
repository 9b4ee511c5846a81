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

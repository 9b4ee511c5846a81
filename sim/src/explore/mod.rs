//! `bookingsim explore`: a swarm search for the races nobody wrote a scenario for. Each run
//! derives a whole world from its seed (stylists, services with random staff subsets,
//! workloads, Cal.com misbehaviour, engine faults, each class on or off, as in swarm
//! testing), runs it under a policy, and checks every invariant. A failing world is shrunk,
//! deterministically, to a small scenario file that still shows the same violation.
//!
//! Its files, each importing only those before it: [`features`] (the generator's features,
//! named, and the pairwise schedule over them), [`generate`] (a world from a seed),
//! [`around`] (worlds around scenario files), [`shrink`] (a failing scenario made small),
//! [`search`] (the runs, their findings by kind, the failure files), and beside it
//! [`merge`] (a search's record, `explore.json`, the report made from it, and shards of one
//! search merged; `search` writes what `merge` reads).

pub mod around;
pub mod features;
pub mod generate;
pub mod merge;
pub mod search;
pub mod shrink;
mod staff;
pub mod workers;

pub use search::{Explored, Search};

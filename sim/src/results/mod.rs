//! What a run means to a reader: latency metrics, the typed [`summary::Summary`], results
//! that add up over runs, baselines, one call's replay, and the files a run writes.

pub mod aggregate;
pub mod baseline;
pub mod live;
pub mod metrics;
pub mod output;
pub mod replay;
pub mod summary;

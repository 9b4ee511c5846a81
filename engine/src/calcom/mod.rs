//! The Cal.com v2 client: exactly the paths, versions and headers of the reference, errors
//! mapped to a typed enum, timeouts, and the retry policy of [`crate::policy::RetryPolicy`].

mod client;
mod error;

pub use client::{CalcomBooking, CalcomClient, CalcomSample, NewBooking, SlotReservation};
pub use error::CalcomError;

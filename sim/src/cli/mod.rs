//! The `bookingsim` binary's own modules, not part of the library: its arguments, and the
//! printing of each subcommand's typed result.

pub(crate) mod args;
pub(crate) mod calibrate;
pub(crate) mod experiments;
pub(crate) mod explore;
pub(crate) mod runs;

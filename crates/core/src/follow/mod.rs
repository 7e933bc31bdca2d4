//! Following an inbox from another machine: the [`mirror`] copies an always-on `gatehouse
//! serve`'s stream into the local store, reconnecting at once on the signs [`wake`] reads
//! (sleep, a network change); [`remote`] calls the inbox's API from the command line.

pub mod mirror;
pub mod remote;
pub mod wake;

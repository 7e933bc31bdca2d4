//! Receiving: a webhook delivery from the HTTP request to the verdict the store records.
//! The [`listener`] takes `POST /hooks/{name}` for a configured [`endpoint`]; the endpoint's
//! provider ([`providers`]) proves the sender (often by [`signature`]) and reads the body
//! ([`envelope`]); [`ingest`] judges it with no I/O. Around the listener: the security
//! [`headers`] on every answer, [`write_stall`] for peers that stop reading, and [`tls`].

pub mod endpoint;
pub mod envelope;
pub mod headers;
pub mod ingest;
pub mod listener;
pub mod providers;
pub mod signature;
pub mod tls;
pub mod write_stall;

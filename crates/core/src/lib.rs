//! Gatehouse's core: everything that needs no window.
//!
//! Data flows one way: an HTTP request reaches the [`listener`], its signature is checked
//! ([`signature`]), its body parsed ([`envelope`]) and classified ([`classify`]), then the
//! [`store`]'s single writer records it and broadcasts a [`store::Notice`] to whoever listens
//! (the CLI's log, the desktop shell's window, tray and notifier). [`gate`] turns what is
//! stored into one passing/failing answer.

pub mod account;
pub mod api;
pub mod appcircle;
pub mod clock;
pub mod credentials;
pub mod endpoint;
pub mod envelope;
pub mod error;
pub mod export;
pub mod gate;
pub mod headers;
pub mod inbox;
pub mod ingest;
pub mod listener;
pub mod mirror;
pub mod model;
pub mod notify;
mod offload;
pub mod providers;
pub mod remote;
pub mod retention;
pub mod samples;
pub mod send;
pub mod settings;
pub mod signature;
pub mod store;
pub mod supervise;
pub mod sync;
pub mod text;
pub mod time;
pub mod tls;
pub mod token;
pub mod wake;
pub mod write_stall;

pub use error::{Error, Result};

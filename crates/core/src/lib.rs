//! Gatehouse's core: everything that needs no window, one folder per role.
//!
//! Data flows one way: an HTTP request is [`receive`]d (verified, read, classified and
//! judged), the [`store`]'s single writer records it and broadcasts a [`store::Notice`] to
//! whoever listens (the CLI's log, the desktop shell's window, tray and notifier), the
//! [`rules`] turn what is stored into a gate and notifications, and [`serve`] offers the
//! [`api`] and the change log to other machines, which [`follow`] it. The [`accounts`] read
//! providers' APIs into the same store. Beside them: the domain [`model`], the [`clock`],
//! the [`settings`], and [`send`] (deliveries signed as a provider would).

pub mod accounts;
pub mod api;
pub mod clock;
pub mod credentials;
pub mod error;
pub mod export;
pub mod follow;
pub mod json;
pub mod model;
pub mod offload;
pub mod outbound;
pub mod receive;
pub mod rules;
pub mod send;
pub mod serve;
pub mod settings;
pub mod store;
pub mod supervise;
pub mod text;
pub mod time;

pub use error::{Error, Result};

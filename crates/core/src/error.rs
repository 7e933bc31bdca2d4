//! The crate's one error type, and the kinds the API reports for it.

use std::net::SocketAddr;

use serde::Serialize;

/// Everything that can go wrong in the core, phrased for the person who will read it.
/// Each variant is one kind of failure a caller may want to tell apart; the API maps them
/// to [`ErrorKind`] in one place ([`Error::kind`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite refused or failed; usually the disk, a lock held too long, or a corrupt file.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The writer thread is gone or could not commit; callers answer 503, never 2xx.
    #[error("the store cannot commit right now: {0}")]
    StoreUnavailable(String),
    /// The database cannot be opened or was written by a newer Gatehouse; never modified then.
    #[error("{0}")]
    DatabaseRefused(String),
    /// A named thing (endpoint, request, event) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The caller asked for something that breaks a rule (bad name, value out of range).
    #[error("{0}")]
    Invalid(String),
    /// The request clashes with what exists (a taken name, a full secret slot, wrong state).
    #[error("{0}")]
    Conflict(String),
    /// The listener could not bind its address.
    #[error("cannot listen on {addr}: {reason}")]
    BindFailed {
        addr: SocketAddr,
        reason: String,
        /// What the user can do about it.
        hint: String,
    },
    /// No valid access token came with a call to the inbox's API.
    #[error("{0}")]
    Unauthorized(String),
    /// The token is valid but its role does not allow the call.
    #[error("{0}")]
    Forbidden(String),
    /// An HTTP call to another server failed before it answered (connection, DNS, timeout).
    #[error("{0}")]
    Transport(String),
    /// Another server (Appcircle's API) answered, but refused, failed, or said something this
    /// version does not understand; the message has the status and what was expected.
    #[error("{0}")]
    Upstream(String),
    /// The OS refused something other than a bind (random source, autostart, a file).
    #[error("{0}")]
    System(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// What kind of failure an [`crate::api::ApiError`] reports; exported to TypeScript so the
/// front end can branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export, rename = "ApiErrorKind")]
pub enum ErrorKind {
    NotFound,
    Invalid,
    Conflict,
    Unavailable,
    BindFailed,
    Transport,
    Unauthorized,
    Forbidden,
}

impl ErrorKind {
    /// The one mapping from kinds to HTTP statuses (the inbox's API).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::Invalid => 400,
            ErrorKind::Conflict => 409,
            ErrorKind::Unavailable => 503,
            ErrorKind::BindFailed => 500,
            ErrorKind::Transport => 502,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
        }
    }
}

impl Error {
    /// The one mapping from errors to kinds (and so to HTTP statuses and UI messages).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Invalid(_) => ErrorKind::Invalid,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::BindFailed { .. } => ErrorKind::BindFailed,
            Error::Transport(_) | Error::Upstream(_) => ErrorKind::Transport,
            Error::Unauthorized(_) => ErrorKind::Unauthorized,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::Database(_)
            | Error::StoreUnavailable(_)
            | Error::DatabaseRefused(_)
            | Error::System(_)
            | Error::Io(_) => ErrorKind::Unavailable,
        }
    }
}

/// `Result` with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The crate's one error type.

/// Everything that can go wrong in the core, phrased for the person who will read it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite refused or failed; usually the disk, a lock held too long, or a corrupt file.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The writer thread is gone or could not commit; callers answer 503, never 2xx.
    #[error("the store cannot commit right now: {0}")]
    StoreUnavailable(String),
    /// A named thing (endpoint, request, event) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The caller asked for something that breaks a rule (bad name, wrong state).
    #[error("{0}")]
    Invalid(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// `Result` with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

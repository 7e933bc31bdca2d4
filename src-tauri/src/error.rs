//! The app crate's one error type.

/// What can go wrong in the CLI or the desktop shell.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Core(#[from] gatehouse_core::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("window error: {0}")]
    Tauri(#[from] tauri::Error),
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

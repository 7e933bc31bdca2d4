//! Blocking work (SQLite reads, a keyring call, an HTTP call) moved off the async threads,
//! with one error for a task that died. Its own module so that the API, the inbox, the
//! mirror and the credentials share it without depending on each other.

use crate::{Error, Result};

/// Runs `f` on tokio's blocking pool.
pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R> + Send + 'static,
) -> Result<R> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::StoreUnavailable(format!("a read task failed: {e}")))?
}

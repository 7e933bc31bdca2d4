//! Background tasks that are never silently gone: a task that fails or panics is logged and
//! started again after a pause that grows to at most [`MAX_PAUSE`].

use std::time::Duration;

use crate::Result;

/// The longest pause between two restarts.
pub const MAX_PAUSE: Duration = Duration::from_secs(30);
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// Runs the task `make` builds until it returns `Ok(())`; restarts it when it returns an
/// error or panics. Run this future on the runtime of your choice (tokio's, Tauri's).
pub async fn supervise<F, Fut>(name: &'static str, mut make: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let mut pause = FIRST_PAUSE;
    loop {
        match tokio::spawn(make()).await {
            Ok(Ok(())) => {
                tracing::info!("{name}: finished");
                return;
            }
            Ok(Err(e)) => tracing::error!("{name} failed: {e}; restarting in {pause:?}"),
            Err(join) if join.is_panic() => {
                let panic = join.into_panic();
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!("{name} panicked: {why}; restarting in {pause:?}");
            }
            Err(_) => {
                tracing::info!("{name}: cancelled");
                return;
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::Error;

    #[tokio::test]
    async fn a_task_that_panics_or_fails_is_started_again() {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        supervise("test task", move || {
            let run = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                match run {
                    0 => panic!("first run overflows"),
                    1 => Err(Error::StoreUnavailable("second run fails".into())),
                    _ => Ok(()),
                }
            }
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }
}

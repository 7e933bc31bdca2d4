//! Blocking work (SQLite reads, a keyring call, an HTTP call) moved off the async threads,
//! with one error for a task that died. Its own module so that the API, the inbox, the
//! mirror, the credentials and the desktop shell share it without depending on each other.

use std::any::Any;

use crate::{Error, Result};

/// What every blocking task is to tokio: one type, so that tokio's task machinery (its
/// poll, cancel and drop functions, about 2 KB for each task type) is in the binary once
/// rather than once per call site; the answer comes back boxed and is unboxed in [`run`].
type Task = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;

/// Runs `f` on tokio's blocking pool; `Err` says why the task died (it panicked).
pub async fn run<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::result::Result<T, String> {
    let task: Task = Box::new(move || Box::new(f()));
    let answer = tokio::task::spawn_blocking(task)
        .await
        .map_err(|e| e.to_string())?;
    match answer.downcast::<T>() {
        Ok(answer) => Ok(*answer),
        // Cannot happen: the task above boxes exactly this type.
        Err(_) => Err("the task answered with something else".into()),
    }
}

/// Runs `f`, which may fail, on tokio's blocking pool.
pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R> + Send + 'static,
) -> Result<R> {
    run(f)
        .await
        .map_err(|e| Error::StoreUnavailable(format!("a read task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer comes back as it was made, and a task that panics is an error that says
    /// so, not a panic of the caller.
    #[tokio::test]
    async fn answers_come_back_and_a_panic_is_an_error() {
        assert_eq!(run(|| vec![1u8, 2, 3]).await, Ok(vec![1, 2, 3]));
        assert_eq!(
            blocking(|| Ok("text".to_owned())).await.ok().as_deref(),
            Some("text")
        );
        let died = run(|| -> u32 { panic!("on purpose") })
            .await
            .expect_err("panicked");
        assert!(died.contains("panicked"), "{died}");
    }
}

//! Checkpoints the WAL from a thread of its own, so the writer never does: SQLite's
//! automatic checkpoint runs inside the commit that crosses its threshold, stalling that
//! batch's callers while pages are copied into the database and synced. Here the copy runs
//! beside the writer, on its own connection, every [`EVERY`].
//!
//! A passive checkpoint never waits, but under sustained writes it never catches up with
//! the end of the log either, and the WAL file only starts over once it has. A RESTART from
//! this thread would starve (the writer takes the lock again at once), so the writer itself
//! empties the log between batches once it passes a size (see `writer::restart_if_large`);
//! by then this thread has copied nearly all of it, so the restart is short.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::Result;

/// How often the WAL is copied back into the database.
const EVERY: Duration = Duration::from_millis(200);

pub struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> Result<Checkpointer> {
        let conn = super::open_connection(path, false)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("gatehouse-checkpoint".into())
            .spawn(move || run(conn, stopped))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn run(conn: Connection, stopped: mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
        // PASSIVE never waits for the writer or readers; what it cannot copy now waits
        // for the next round.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!("checkpoint failed (retried in {EVERY:?}): {e}");
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

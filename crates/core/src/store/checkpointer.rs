//! Copies the WAL back into the database from a thread of its own, every [`EVERY`]: SQLite's
//! automatic checkpoint runs inside the commit that crosses its threshold (1,000 pages),
//! stalling that batch's callers while pages are copied and synced. With this thread doing
//! the copying beside the writer, little is left for that checkpoint to do; it stays on
//! because only a checkpoint by the writer itself lets the log start over under sustained
//! writes (a passive one from here never catches up with the end of a growing log).

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

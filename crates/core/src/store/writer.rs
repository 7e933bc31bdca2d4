//! The single writer: one thread owns the write connection, takes work from a channel and
//! commits whatever is queued in one transaction (group commit). Each caller hears back
//! only after that commit, so an answer of success means the data is on disk.
//!
//! Most jobs run in a savepoint of their own, so one that fails undoes only its own writes.
//! Recording a delivery, the hot path, runs without one ([`Isolation::Unguarded`]): a
//! savepoint copies every page the job touches into a sub-journal first, a tenth of the
//! writer's time in profiles.
//!
//! SQLite may roll a whole transaction back by itself (SQLITE_FULL, SQLITE_IOERR,
//! SQLITE_NOMEM), and an unguarded job that fails after writing leaves writes behind that
//! nothing else can undo. Either way the batch ends: the writer rolls it back (SQLite may
//! have already), fails every job that already ran in it, and carries the ones that did not
//! run into the next batch, so no job ever commits on its own or in part.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use tokio::sync::{broadcast, oneshot};

use super::Notice;
use super::unmatched::{MAX_STORED_NAMES, OTHER_NAMES, Tally, UnmatchedTally};
use crate::time::to_text;
use crate::{Error, Result};

/// How often counted 404s are written (see [`super::unmatched`]).
const UNMATCHED_FLUSH_EVERY: Duration = Duration::from_secs(2);

/// Why the last commit failed, until one succeeds: what `/healthz` reports.
pub type Health = Arc<Mutex<Option<String>>>;

/// The write side of a transaction, handed to each piece of work.
pub struct Tx<'a> {
    pub conn: &'a Connection,
    notices: &'a mut Vec<Notice>,
    /// Someone subscribed: only then are notices (which read rows back) worth building.
    listening: bool,
}

impl Tx<'_> {
    /// Queues a notice; it is broadcast only if the transaction commits.
    pub fn notify(&mut self, notice: Notice) {
        self.notices.push(notice);
    }

    /// Like [`Tx::notify`], building the notice only when someone is subscribed.
    pub fn notify_with(&mut self, build: impl FnOnce(&Connection) -> Result<Notice>) -> Result<()> {
        if self.listening {
            let notice = build(self.conn)?;
            self.notices.push(notice);
        }
        Ok(())
    }

    /// Runs `work` without a savepoint; says whether it failed after writing something,
    /// which only a rollback of the whole batch can undo.
    fn unguarded<R>(&mut self, work: impl FnOnce(&mut Tx<'_>) -> Result<R>) -> (Result<R>, bool) {
        let mark = self.notices.len();
        let changes = self.conn.total_changes();
        let result = work(self);
        let mut partial = false;
        if result.is_err() {
            self.notices.truncate(mark);
            partial = self.conn.total_changes() != changes;
        }
        (result, partial)
    }

    /// Runs `work` in a savepoint so one failing job does not undo the others in its batch.
    /// The savepoint statements are cached: parsing them per job showed in profiles.
    fn savepoint<R>(&mut self, work: impl FnOnce(&mut Tx<'_>) -> Result<R>) -> Result<R> {
        self.conn.prepare_cached("SAVEPOINT job")?.execute([])?;
        let mark = self.notices.len();
        let result = work(self);
        match &result {
            Ok(_) => {
                self.conn.prepare_cached("RELEASE job")?.execute([])?;
            }
            Err(_) => {
                self.notices.truncate(mark);
                self.conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
                self.conn.prepare_cached("RELEASE job")?.execute([])?;
            }
        }
        result
    }
}

/// How a job's writes are kept apart from the other jobs in its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// In a savepoint: a failure undoes this job's writes and nothing else.
    Savepoint,
    /// No savepoint, for work that checks everything it can refuse before its first write,
    /// so that a failure after it is the storage's own (a full disk, an I/O error). Such a
    /// failure rolls the whole batch back.
    Unguarded,
}

/// What running a job told the writer.
struct Ran {
    /// Why storage failed the job (a full disk, an I/O error), if it did.
    storage: Option<String>,
    /// The job failed after writing, without a savepoint: the batch must be rolled back.
    partial: Option<String>,
}

trait Job: Send {
    fn run(&mut self, tx: &mut Tx<'_>) -> Ran;
    /// Replies to the caller once the batch's fate is known.
    fn finish(self: Box<Self>, committed: std::result::Result<(), String>);
}

struct Call<F, R> {
    work: Option<F>,
    isolation: Isolation,
    result: Option<Result<R>>,
    reply: oneshot::Sender<Result<R>>,
}

impl<F, R> Job for Call<F, R>
where
    F: FnOnce(&mut Tx<'_>) -> Result<R> + Send,
    R: Send,
{
    fn run(&mut self, tx: &mut Tx<'_>) -> Ran {
        let Some(work) = self.work.take() else {
            return Ran {
                storage: None,
                partial: None,
            };
        };
        let (result, partial) = match self.isolation {
            Isolation::Savepoint => (tx.savepoint(work), false),
            Isolation::Unguarded => tx.unguarded(work),
        };
        let storage = result.as_ref().err().and_then(storage_failure);
        let partial = match (&result, partial) {
            (Err(e), true) => Some(e.to_string()),
            _ => None,
        };
        self.result = Some(result);
        Ran { storage, partial }
    }

    fn finish(self: Box<Self>, committed: std::result::Result<(), String>) {
        let out = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(Error::StoreUnavailable("the job did not run".into())),
            (Err(e), _) => Err(Error::StoreUnavailable(e)),
        };
        // The caller may have gone away (client hung up); nothing to tell then.
        let _ = self.reply.send(out);
    }
}

/// Handle to the writer thread; dropping it drains the queue and joins the thread.
pub struct Writer {
    sender: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
}

/// What the writer thread shares with the store.
pub struct Shared {
    pub notices: broadcast::Sender<Notice>,
    pub unmatched: Arc<UnmatchedTally>,
    pub health: Health,
}

impl Writer {
    pub fn start(conn: Connection, max_batch: usize, shared: Shared) -> Result<Writer> {
        let (sender, receiver) = mpsc::channel::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
            .name("gatehouse-writer".into())
            .spawn(move || run(conn, receiver, max_batch.max(1), shared))?;
        Ok(Writer {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Queues `work` in a savepoint of its own; the future resolves after the transaction
    /// holding it commits.
    pub fn call<F, R>(&self, work: F) -> impl Future<Output = Result<R>> + use<F, R>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.call_with(Isolation::Savepoint, work)
    }

    /// Queues `work` isolated as `isolation` says; the future resolves after the
    /// transaction holding it commits.
    pub fn call_with<F, R>(
        &self,
        isolation: Isolation,
        work: F,
    ) -> impl Future<Output = Result<R>> + use<F, R>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Call {
            work: Some(work),
            isolation,
            result: None,
            reply,
        });
        let queued = self
            .sender
            .as_ref()
            .map(|s| s.send(job).is_ok())
            .unwrap_or(false);
        async move {
            if !queued {
                return Err(Error::StoreUnavailable("the writer has stopped".into()));
            }
            answer
                .await
                .map_err(|_| Error::StoreUnavailable("the writer stopped before replying".into()))?
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.sender.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(conn: Connection, receiver: mpsc::Receiver<Box<dyn Job>>, max_batch: usize, shared: Shared) {
    // Jobs an aborted batch did not get to; they go first into the next one.
    let mut carried: VecDeque<Box<dyn Job>> = VecDeque::new();
    let mut last_flush = Instant::now();
    loop {
        let first = match carried.pop_front() {
            Some(job) => job,
            None => match receiver.recv_timeout(UNMATCHED_FLUSH_EVERY) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    flush_unmatched(&conn, &shared);
                    last_flush = Instant::now();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match carried
                .pop_front()
                .map(Ok)
                .unwrap_or_else(|| receiver.try_recv())
            {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut notices = Vec::new();
        let listening = shared.notices.receiver_count() > 0;
        let mut storage_problem = None;
        let changes_before = conn.total_changes();
        let outcome = commit_batch(
            &conn,
            &mut batch,
            &mut notices,
            listening,
            &mut storage_problem,
        );
        let committed = match outcome {
            BatchOutcome::Committed => Ok(()),
            BatchOutcome::Failed(e) => Err(e),
            BatchOutcome::RolledBack { reason, ran } => {
                carried.extend(batch.drain(ran..));
                Err(reason)
            }
        };
        // A job that storage failed leaves the store unhealthy even when the rest committed;
        // only a commit that wrote something shows that storage works again (an empty one
        // succeeds on a full disk too).
        let wrote = conn.total_changes() != changes_before;
        match committed.clone().err().or(storage_problem) {
            Some(problem) => record_health(&shared.health, Some(problem)),
            None if wrote => record_health(&shared.health, None),
            None => {}
        }
        if committed.is_err() {
            notices.clear();
        }
        // Broadcast before replying, so whoever sees the reply can rely on the notice being out.
        for notice in notices {
            // No subscribers is fine: the CLI often has none.
            let _ = shared.notices.send(notice);
        }
        for job in batch {
            job.finish(committed.clone());
        }
        if last_flush.elapsed() >= UNMATCHED_FLUSH_EVERY {
            flush_unmatched(&conn, &shared);
            last_flush = Instant::now();
        }
    }
    for job in carried {
        job.finish(Err("the writer stopped".into()));
    }
    flush_unmatched(&conn, &shared);
    // Dropping the connection checkpoints the WAL when it is the last one.
}

/// A failure of the storage itself (as opposed to a rule a job broke): what makes the store
/// unhealthy until a write succeeds again.
fn storage_failure(e: &Error) -> Option<String> {
    use rusqlite::ErrorCode::{CannotOpen, DiskFull, OutOfMemory, ReadOnly, SystemIoFailure};
    match e {
        Error::Database(rusqlite::Error::SqliteFailure(f, _))
            if matches!(
                f.code,
                DiskFull | SystemIoFailure | OutOfMemory | ReadOnly | CannotOpen
            ) =>
        {
            Some(e.to_string())
        }
        Error::StoreUnavailable(_) => Some(e.to_string()),
        _ => None,
    }
}

fn record_health(health: &Health, problem: Option<String>) {
    if let Ok(mut h) = health.lock() {
        *h = problem;
    }
}

/// Writes the counted 404s in one transaction; on failure they are kept for the next try.
fn flush_unmatched(conn: &Connection, shared: &Shared) {
    if shared.unmatched.is_empty() {
        return;
    }
    let counts = shared.unmatched.take();
    if let Err(e) = write_unmatched(conn, &counts) {
        let _ = conn.execute_batch("ROLLBACK");
        tracing::warn!("could not write the counts of unknown endpoints: {e}");
        shared.unmatched.restore(counts);
    }
}

const UPSERT_UNMATCHED: &str = "
    INSERT INTO unmatched (name, hits, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT(name) DO UPDATE SET hits = hits + excluded.hits,
        first_seen = MIN(first_seen, excluded.first_seen),
        last_seen = MAX(last_seen, excluded.last_seen)";

/// Names already stored keep their own row; new ones get one while the table holds fewer
/// than [`MAX_STORED_NAMES`], after that they are added up under [`OTHER_NAMES`].
fn write_unmatched(conn: &Connection, counts: &HashMap<String, Tally>) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    {
        let mut stored: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM unmatched")?
            .query_row([], |r| r.get(0))?;
        let mut known = conn.prepare_cached("SELECT 1 FROM unmatched WHERE name = ?1")?;
        let mut upsert = conn.prepare_cached(UPSERT_UNMATCHED)?;
        for (name, t) in counts {
            let mut name = name.as_str();
            if !known.exists([name])? {
                if stored >= MAX_STORED_NAMES {
                    name = OTHER_NAMES;
                } else {
                    stored += 1;
                }
            }
            upsert.execute(params![
                name,
                t.hits as i64,
                to_text(t.first_seen),
                to_text(t.last_seen)
            ])?;
        }
    }
    conn.execute_batch("COMMIT")
}

enum BatchOutcome {
    Committed,
    Failed(String),
    /// The transaction was rolled back after job `ran - 1` failed (by SQLite itself, or by
    /// the writer when an unguarded job failed after writing); jobs from `ran` on did not run.
    RolledBack {
        reason: String,
        ran: usize,
    },
}

fn commit_batch(
    conn: &Connection,
    batch: &mut [Box<dyn Job>],
    notices: &mut Vec<Notice>,
    listening: bool,
    storage_problem: &mut Option<String>,
) -> BatchOutcome {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        return BatchOutcome::Failed(e.to_string());
    }
    let mut tx = Tx {
        conn,
        notices,
        listening,
    };
    for (i, job) in batch.iter_mut().enumerate() {
        let ran = job.run(&mut tx);
        if let Some(problem) = ran.storage {
            *storage_problem = Some(problem);
        }
        if conn.is_autocommit() {
            return BatchOutcome::RolledBack {
                reason: "the database rolled the transaction back (disk full or I/O error)".into(),
                ran: i + 1,
            };
        }
        if let Some(problem) = ran.partial {
            if let Err(e) = conn.execute_batch("ROLLBACK") {
                tracing::error!("could not roll back a batch after a failed write: {e}");
            }
            return BatchOutcome::RolledBack {
                reason: format!("a write in the same batch failed part way: {problem}"),
                ran: i + 1,
            };
        }
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        let _ = conn.execute_batch("ROLLBACK");
        return BatchOutcome::Failed(e.to_string());
    }
    BatchOutcome::Committed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &std::path::Path) -> (Writer, Health) {
        let conn = Connection::open(dir.join("w.db")).expect("open");
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL)")
            .expect("table");
        let (notices, _) = broadcast::channel(16);
        let health: Health = Arc::default();
        let shared = Shared {
            notices,
            unmatched: Arc::default(),
            health: health.clone(),
        };
        (Writer::start(conn, 64, shared).expect("writer"), health)
    }

    fn insert(v: i64) -> impl FnOnce(&mut Tx<'_>) -> Result<i64> + Send + 'static {
        move |tx| {
            tx.conn.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
            Ok(v)
        }
    }

    /// Holds the writer in a job of its own until released, so that the jobs queued
    /// meanwhile make up the next batch together.
    fn hold(writer: &Writer) -> (impl Future<Output = Result<i64>>, mpsc::Sender<()>) {
        let (started_tx, started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let gate = writer.call(move |_tx| {
            let _ = started_tx.send(());
            let _ = released.recv();
            Ok(0)
        });
        started.recv().expect("the first job runs");
        (gate, release)
    }

    async fn stored(writer: &Writer) -> Option<Vec<i64>> {
        writer
            .call(|tx| {
                let values: Vec<i64> = tx
                    .conn
                    .prepare("SELECT v FROM t ORDER BY v")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(values)
            })
            .await
            .ok()
    }

    #[tokio::test]
    async fn an_unguarded_job_that_fails_after_writing_rolls_its_batch_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (writer, health) = writer(dir.path());
        let (gate, release) = hold(&writer);
        let before = writer.call_with(Isolation::Unguarded, insert(1));
        // Writes, then fails: without a savepoint, only a rollback of the batch undoes it.
        let partial = writer.call_with(Isolation::Unguarded, |tx| {
            tx.conn.execute("INSERT INTO t (v) VALUES (2)", [])?;
            Err::<i64, _>(Error::StoreUnavailable("disk full".into()))
        });
        let after = writer.call_with(Isolation::Unguarded, insert(3));
        release.send(()).expect("release");
        let (gate, before, partial, after) = tokio::join!(gate, before, partial, after);
        assert!(gate.is_ok());
        assert!(
            matches!(before, Err(Error::StoreUnavailable(_))),
            "a job rolled back with its batch is not acknowledged: {before:?}"
        );
        assert!(partial.is_err());
        assert_eq!(
            after.ok(),
            Some(3),
            "a job that had not run runs in the next batch"
        );
        assert_eq!(
            stored(&writer).await,
            Some(vec![3]),
            "nothing of the failed job or its batch is stored"
        );
        assert_eq!(
            *health.lock().expect("lock"),
            None,
            "healthy after a commit"
        );
    }

    #[tokio::test]
    async fn an_unguarded_job_refused_before_writing_leaves_its_batch_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (writer, _) = writer(dir.path());
        let (gate, release) = hold(&writer);
        let before = writer.call_with(Isolation::Unguarded, insert(1));
        let refused = writer.call_with(Isolation::Unguarded, |_tx| {
            Err::<i64, _>(Error::NotFound("no endpoint named `x`".into()))
        });
        let after = writer.call_with(Isolation::Unguarded, insert(3));
        release.send(()).expect("release");
        let (gate, before, refused, after) = tokio::join!(gate, before, refused, after);
        assert!(gate.is_ok());
        assert!(matches!(refused, Err(Error::NotFound(_))), "{refused:?}");
        assert_eq!((before.ok(), after.ok()), (Some(1), Some(3)));
        assert_eq!(stored(&writer).await, Some(vec![1, 3]));
    }

    #[tokio::test]
    async fn a_batch_that_sqlite_rolled_back_fails_whole_and_later_jobs_run_in_the_next() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (writer, health) = writer(dir.path());
        let (gate, release) = hold(&writer);
        let before = writer.call(insert(1));
        // Stands in for SQLite ending the transaction by itself on SQLITE_FULL or IOERR.
        let rolled_back = writer.call(|tx| {
            tx.conn.execute_batch("ROLLBACK")?;
            Err::<i64, _>(Error::StoreUnavailable("disk full".into()))
        });
        let after = writer.call(insert(3));
        release.send(()).expect("release");
        let (gate, before, rolled_back, after) = tokio::join!(gate, before, rolled_back, after);
        assert!(gate.is_ok());
        assert!(
            matches!(before, Err(Error::StoreUnavailable(_))),
            "a job whose work SQLite undid is not acknowledged: {before:?}"
        );
        assert!(rolled_back.is_err());
        assert_eq!(
            after.ok(),
            Some(3),
            "a job that had not run yet runs in the next batch"
        );
        assert_eq!(
            stored(&writer).await,
            Some(vec![3]),
            "only what was acknowledged is stored"
        );
        assert_eq!(
            *health.lock().expect("lock"),
            None,
            "healthy again after a commit"
        );
    }
}

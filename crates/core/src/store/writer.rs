//! The single writer: one thread owns the write connection, takes work from a channel and
//! commits whatever is queued in one transaction (group commit). Each caller hears back
//! only after that commit, so an answer of success means the data is on disk.

use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{broadcast, oneshot};

use super::Notice;
use crate::{Error, Result};

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

    /// Runs `work` in a savepoint so one failing job does not undo the others in its batch.
    fn savepoint<R>(&mut self, work: impl FnOnce(&mut Tx<'_>) -> Result<R>) -> Result<R> {
        self.conn.execute_batch("SAVEPOINT job")?;
        let mark = self.notices.len();
        let result = work(self);
        match &result {
            Ok(_) => self.conn.execute_batch("RELEASE job")?,
            Err(_) => {
                self.notices.truncate(mark);
                self.conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            }
        }
        result
    }
}

trait Job: Send {
    fn run(&mut self, tx: &mut Tx<'_>);
    /// Replies to the caller once the batch's fate is known.
    fn finish(self: Box<Self>, committed: std::result::Result<(), String>);
}

struct Call<F, R> {
    work: Option<F>,
    result: Option<Result<R>>,
    reply: oneshot::Sender<Result<R>>,
}

impl<F, R> Job for Call<F, R>
where
    F: FnOnce(&mut Tx<'_>) -> Result<R> + Send,
    R: Send,
{
    fn run(&mut self, tx: &mut Tx<'_>) {
        if let Some(work) = self.work.take() {
            self.result = Some(tx.savepoint(work));
        }
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

impl Writer {
    pub fn start(
        conn: Connection,
        max_batch: usize,
        notices: broadcast::Sender<Notice>,
    ) -> Result<Writer> {
        let (sender, receiver) = mpsc::channel::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
            .name("gatehouse-writer".into())
            .spawn(move || run(conn, receiver, max_batch.max(1), notices))?;
        Ok(Writer {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Queues `work`; the future resolves after the transaction holding it commits.
    pub fn call<F, R>(&self, work: F) -> impl Future<Output = Result<R>> + use<F, R>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Call {
            work: Some(work),
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

fn run(
    conn: Connection,
    receiver: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    broadcast: broadcast::Sender<Notice>,
) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut notices = Vec::new();
        let listening = broadcast.receiver_count() > 0;
        let committed = commit_batch(&conn, &mut batch, &mut notices, listening);
        if committed.is_err() {
            notices.clear();
        }
        // Broadcast before replying, so whoever sees the reply can rely on the notice being out.
        for notice in notices {
            // No subscribers is fine: the CLI often has none.
            let _ = broadcast.send(notice);
        }
        for job in batch {
            job.finish(committed.clone());
        }
    }
    // Dropping the connection checkpoints the WAL when it is the last one.
}

fn commit_batch(
    conn: &Connection,
    batch: &mut [Box<dyn Job>],
    notices: &mut Vec<Notice>,
    listening: bool,
) -> std::result::Result<(), String> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| e.to_string())?;
    let mut tx = Tx {
        conn,
        notices,
        listening,
    };
    for job in batch.iter_mut() {
        job.run(&mut tx);
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e.to_string());
    }
    Ok(())
}

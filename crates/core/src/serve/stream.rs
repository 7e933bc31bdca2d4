//! `GET /api/v1/stream`: the change log as Server-Sent Events (docs/INBOX.md).
//!
//! Resuming has no gap and no duplicate at the switch from stored to live: the handler
//! subscribes to the store's notices *before* it reads the backlog, sends the backlog, then
//! passes on live notices whose `seq` is past the last one sent. A notice is broadcast only
//! after its commit, so anything committed after the backlog was read is among them.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore, broadcast, mpsc, oneshot};

use super::{Answer, Caller, Shared, authenticate, still_valid};
use crate::api::Host;
use crate::offload::blocking;
use crate::store::{Notice, Store};
use crate::{Error, Result};

/// A comment line this often keeps proxies and the subscriber's watchdog content.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often an open stream checks that its token was not revoked.
const TOKEN_CHECK: Duration = Duration::from_secs(5);
/// Messages waiting for a slow subscriber, and their size in KiB; past either it is
/// disconnected (it resumes from its last id), so it never holds up anything else and its
/// memory stays bounded (an event's text can be as large as a delivery).
const BUFFER: usize = 1024;
/// A subscriber that took nothing for [`STALL_QUIET`] while this many live changes wait has
/// stopped reading: it is cut then rather than at [`BUFFER`]. While anyone listens the writer
/// builds a notice per change, and a stalled subscriber kept to 1,024 cost a fifth of ingest
/// at 32 clients; a slow one that still reads keeps the whole buffer.
const STALL_QUEUE: usize = 256;
const STALL_QUIET: Duration = Duration::from_millis(50);
const BUFFER_KIB: usize = 4096;
/// Backlog rows read per query (events carry their payload, up to the body limit each).
const PAGE: usize = 100;

/// Why the server ended a stream (the body's error, which closes the connection).
#[derive(Debug)]
struct Cut(&'static str);

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Cut {}

#[derive(Debug, Deserialize)]
pub struct Resume {
    after: Option<i64>,
}

pub async fn follow<H: Host>(
    State(inbox): State<Shared<H>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Query(resume): Query<Resume>,
    headers: HeaderMap,
) -> Response {
    let store = inbox.api.store().clone();
    // Through a browser session, signing out ends the stream as revoking the token does.
    let caller = match authenticate(&store, &headers, from, false).await {
        Ok(caller) => caller,
        Err(e) => return Answer(e).into_response(),
    };
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().parse::<i64>());
    let after = match (last_event_id, resume.after) {
        (Some(Ok(id)), _) => Some(id),
        (Some(Err(_)), _) => {
            return Answer(Error::Invalid(
                "Last-Event-ID must be a sequence number".into(),
            ))
            .into_response();
        }
        (None, after) => after,
    };
    if after.is_some_and(|a| a < 0) {
        return Answer(Error::Invalid("`after` must be 0 or more".into())).into_response();
    }
    // Subscribed first: see the module's comment.
    let live = store.subscribe();
    let (sender, receiver) = mpsc::channel::<Queued>(BUFFER);
    let (cut, cut_off) = oneshot::channel::<&'static str>();
    let closing = inbox.closing.clone();
    let rendered = inbox.rendered.clone();
    let (body_store, body_rendered) = (store.clone(), rendered.clone());
    // When the connection last took a message (ms since `opened`): how the feed tells a
    // subscriber that stopped reading from a slow one.
    let opened = Instant::now();
    let took = Arc::new(AtomicU64::new(0));
    let body_took = took.clone();
    tokio::spawn(async move {
        let name = caller.token.name.clone();
        let reading = Reading { opened, took };
        let why = match feed(
            store, rendered, caller, after, live, sender, closing, reading,
        )
        .await
        {
            Ok(why) => why,
            Err(e) => {
                tracing::warn!("stream of token `{name}` to {from} failed: {e}");
                "the stream failed"
            }
        };
        tracing::info!("stream of token `{name}` to {from} ended: {why}");
        let _ = cut.send(why);
    });
    // The body ends in an error when the feed gives up, so the connection is closed at
    // once: ending it cleanly would first wait to flush what a stalled subscriber never
    // reads.
    let events = futures_util::stream::unfold(
        (receiver, Some(cut_off)),
        move |(mut receiver, cut_off)| {
            let (store, rendered, took) =
                (body_store.clone(), body_rendered.clone(), body_took.clone());
            async move {
                let mut cut_off = cut_off?;
                let queued = tokio::select! {
                    biased;
                    why = &mut cut_off => return Some((Err(Cut(why.unwrap_or("the stream ended"))), (receiver, None))),
                    queued = receiver.recv() => queued?,
                };
                took.store(millis_since(opened), Ordering::Relaxed);
                // The message's share of the budget is given back as it leaves.
                let (pending, _room) = queued;
                let event = match pending {
                    Pending::Message(event) => event,
                    Pending::Live(notice) => match message(&rendered, &store, &notice).await {
                        Ok((event, _)) => event,
                        Err(e) => {
                            tracing::warn!("a change could not be sent on a stream: {e}");
                            return Some((
                                Err(Cut("a change could not be encoded")),
                                (receiver, None),
                            ));
                        }
                    },
                };
                Some((Ok(event), (receiver, Some(cut_off))))
            }
        },
    );
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
        .into_response()
}

fn closed() -> Error {
    Error::StoreUnavailable("the stream's buffer was closed".into())
}

/// Each change's JSON, made once for all subscribers: they pass the same changes at about
/// the same time, so the last few cover them. The first to need one makes it while the
/// others wait for it (ten subscribers serialising each record for themselves halved ingest
/// in the benchmark).
#[derive(Default)]
pub struct Rendered {
    recent: Mutex<VecDeque<(i64, Json)>>,
}

/// One change's JSON, made by whoever needs it first.
type Json = Arc<OnceCell<Arc<str>>>;

/// How many changes [`Rendered`] keeps, and the largest it keeps.
const RENDERED: usize = 256;
const RENDERED_LARGEST: usize = 64 * 1024;

impl Rendered {
    /// The change's JSON; an event goes with its payload (a mirror keeps it), read from the
    /// store when the notice came without one (live notices do).
    async fn get_or_render(&self, store: &Arc<Store>, notice: &Notice) -> Result<Arc<str>> {
        let seq = notice.seq();
        let cell = match self.recent.lock() {
            Ok(mut recent) => match recent.iter().rev().find(|(s, _)| *s == seq) {
                Some((_, cell)) => cell.clone(),
                None => {
                    if recent.len() >= RENDERED {
                        recent.pop_front();
                    }
                    let cell = Arc::new(OnceCell::new());
                    recent.push_back((seq, cell.clone()));
                    cell
                }
            },
            Err(_) => Arc::new(OnceCell::new()),
        };
        let json = cell
            .get_or_try_init(|| async {
                let json: Arc<str> = match notice {
                    Notice::Event { event, .. } if event.payload.is_none() => {
                        let (store, id) = (store.clone(), event.id);
                        let full = blocking(move || store.event(id)).await?;
                        render(&Notice::Event {
                            seq,
                            event: Arc::new(full),
                            catch_up: false,
                        })?
                    }
                    _ => render(notice)?,
                }
                .into();
                Ok::<_, Error>(json)
            })
            .await?
            .clone();
        // Large payloads are not kept: the cache stays small whatever the body limit.
        if json.len() > RENDERED_LARGEST
            && let Ok(mut recent) = self.recent.lock()
        {
            recent.retain(|(s, _)| *s != seq);
        }
        Ok(json)
    }
}

/// The message for one change: `id: seq`, `event: kind`, `data:` the record as `--json`
/// prints it (endpoint and settings changes carry only their seq: read them with the rpc).
/// Also says how large its data is.
async fn message(
    rendered: &Rendered,
    store: &Arc<Store>,
    notice: &Notice,
) -> Result<(Event, usize)> {
    let data = rendered.get_or_render(store, notice).await?;
    let bytes = data.len();
    let event = Event::default()
        .id(notice.seq().to_string())
        .event(notice.kind().as_str())
        .data(&*data);
    Ok((event, bytes))
}

fn render(notice: &Notice) -> Result<String> {
    match notice {
        Notice::Event { event, .. } => serde_json::to_string(event),
        Notice::Request { request, .. } => serde_json::to_string(request),
        Notice::Endpoints { seq } | Notice::Settings { seq } => {
            serde_json::to_string(&serde_json::json!({ "seq": seq }))
        }
    }
    .map_err(|e| Error::Invalid(format!("cannot encode a change: {e}")))
}

/// What waits for the subscriber: a message made already (the backlog's, which waits for
/// room), or a live change, made into its message only when the connection takes it, so
/// that a subscriber that stops reading costs no rendering before it is cut.
enum Pending {
    Message(Event),
    Live(Notice),
}

/// When the connection last took a message, to tell a stalled subscriber from a slow one.
struct Reading {
    opened: Instant,
    took: Arc<AtomicU64>,
}

impl Reading {
    /// How long the connection has taken nothing while something waited for it (`waiting`:
    /// since when the queue has not been empty, as far as the feed knows).
    fn quiet_for(&self, waiting: Instant) -> Duration {
        let took = self.opened + Duration::from_millis(self.took.load(Ordering::Relaxed));
        took.max(waiting).elapsed()
    }
}

fn millis_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What waits, and its share of [`BUFFER_KIB`].
type Queued = (Pending, OwnedSemaphorePermit);

/// A message's share of [`BUFFER_KIB`]: its size in KiB, rounded up.
fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes / 1024 + 1).unwrap_or(u32::MAX)
}

/// Room for one message of `bytes`, if the budget has it.
fn room(budget: &Arc<Semaphore>, bytes: usize) -> Option<OwnedSemaphorePermit> {
    budget.clone().try_acquire_many_owned(kib(bytes)).ok()
}

/// Sends the stored changes after `last` (up to `until`, else all), moving `last` on; says
/// why the stream must end instead, if it must.
#[allow(clippy::too_many_arguments)]
async fn send_stored(
    store: &Arc<Store>,
    rendered: &Rendered,
    token: &Caller,
    budget: &Arc<Semaphore>,
    sender: &mpsc::Sender<Queued>,
    closing: &mut tokio::sync::watch::Receiver<bool>,
    check: &mut tokio::time::Interval,
    last: &mut i64,
    until: Option<i64>,
) -> Result<Option<&'static str>> {
    loop {
        let from = *last;
        let page = {
            let store = store.clone();
            blocking(move || store.changes_after(from, PAGE)).await?
        };
        let Some(newest) = page.last().map(Notice::seq) else {
            return Ok(None);
        };
        for notice in &page {
            if until.is_some_and(|u| notice.seq() > u) {
                return Ok(None);
            }
            let (event, bytes) = message(rendered, store, notice).await?;
            // A message larger than the whole budget waits for all of it.
            let kib = kib(bytes).min(BUFFER_KIB as u32);
            // Waiting for room is fine here (the subscriber's pace), but not past a stop or
            // a revocation.
            let room = tokio::select! {
                room = budget.clone().acquire_many_owned(kib) => room.map_err(|_| closed())?,
                _ = closing.changed() => return Ok(Some("the server is stopping")),
                _ = check.tick() => {
                    if !still_valid(store, token).await {
                        return Ok(Some("its token was revoked or its session ended"));
                    }
                    budget.clone().acquire_many_owned(kib).await.map_err(|_| closed())?
                }
            };
            if sender.send((Pending::Message(event), room)).await.is_err() {
                return Ok(Some("the subscriber left"));
            }
            *last = notice.seq();
        }
        if *closing.borrow() {
            return Ok(Some("the server is stopping"));
        }
        *last = (*last).max(newest);
    }
}

/// Sends the backlog after `after`, then live changes, until the subscriber goes, falls
/// behind, its token is revoked, or the server stops. Says which.
#[allow(clippy::too_many_arguments)]
async fn feed(
    store: Arc<Store>,
    rendered: Arc<Rendered>,
    token: Caller,
    after: Option<i64>,
    mut live: broadcast::Receiver<Notice>,
    sender: mpsc::Sender<Queued>,
    mut closing: tokio::sync::watch::Receiver<bool>,
    reading: Reading,
) -> Result<&'static str> {
    let budget = Arc::new(Semaphore::new(BUFFER_KIB));
    let log = {
        let store = store.clone();
        blocking(move || store.change_log()).await?
    };
    // No `after`: live changes only, from the newest handed out.
    let mut last = after.unwrap_or(log.newest);
    let kept_from = log.oldest.unwrap_or(log.newest + 1);
    // First, where the log stands: a subscriber can tell how far it has to catch up.
    let hello = Event::default().event("hello").data(
        serde_json::json!({ "newest": log.newest, "oldest": log.oldest, "log": log.log })
            .to_string(),
    );
    let permit = budget.clone().acquire_owned().await.map_err(|_| closed())?;
    if sender
        .send((Pending::Message(hello), permit))
        .await
        .is_err()
    {
        return Ok("the subscriber left");
    }
    if after.is_some() && last + 1 < kept_from {
        let gap = Event::default()
            .event("gap")
            .data(serde_json::json!({ "after": last, "resumes_at": kept_from }).to_string());
        let room = budget.clone().acquire_owned().await.map_err(|_| closed())?;
        if sender.send((Pending::Message(gap), room)).await.is_err() {
            return Ok("the subscriber left");
        }
    }
    // The backlog: pages from SQLite, each sent at the subscriber's pace; the token and
    // the server's stop are checked between messages, as they are live.
    let mut check = tokio::time::interval(TOKEN_CHECK);
    check.tick().await;
    if let Some(why) = send_stored(
        &store,
        &rendered,
        &token,
        &budget,
        &sender,
        &mut closing,
        &mut check,
        &mut last,
        None,
    )
    .await?
    {
        return Ok(why);
    }
    // Everything stored has been sent: a subscriber can say it is up to date even when the
    // last changes were left out (a refused request that expired).
    let caught_up = Event::default()
        .event("caught_up")
        .data(serde_json::json!({ "last": last }).to_string());
    let permit = budget.clone().acquire_owned().await.map_err(|_| closed())?;
    if sender
        .send((Pending::Message(caught_up), permit))
        .await
        .is_err()
    {
        return Ok("the subscriber left");
    }
    // Since when live changes have waited for the connection (reset when it was empty).
    let mut waiting_since = Instant::now();
    loop {
        tokio::select! {
            received = live.recv() => match received {
                Ok(notice) if notice.seq() <= last => {}
                Ok(notice) => {
                    // A commit can go out without a notice: the writer builds them only when
                    // someone listened as its batch began. What was skipped is in SQLite.
                    if notice.seq() > last + 1
                        && let Some(why) = send_stored(
                            &store, &rendered, &token, &budget, &sender, &mut closing, &mut check,
                            &mut last, Some(notice.seq() - 1),
                        )
                        .await?
                    {
                        return Ok(why);
                    }
                    // A live change without its payload is small: 1 KiB of the budget.
                    let Some(room) = room(&budget, 0) else {
                        return Ok("it fell behind its buffer (it resumes from its last id)");
                    };
                    let seq = notice.seq();
                    match sender.try_send((Pending::Live(notice), room)) {
                        Ok(()) => {
                            last = seq;
                            let waiting = BUFFER - sender.capacity();
                            if waiting <= 1 {
                                waiting_since = Instant::now();
                            }
                            if waiting >= STALL_QUEUE
                                && reading.quiet_for(waiting_since) >= STALL_QUIET
                            {
                                return Ok("it stopped reading (it resumes from its last id)");
                            }
                        }
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            return Ok("it fell behind its buffer (it resumes from its last id)");
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return Ok("the subscriber left"),
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Ok("it fell behind the live changes (it resumes from its last id)");
                }
                Err(broadcast::error::RecvError::Closed) => return Ok("the store closed"),
            },
            _ = check.tick() => {
                if !still_valid(&store, &token).await {
                    return Ok("its token was revoked or its session ended");
                }
            }
            _ = sender.closed() => return Ok("the subscriber left"),
            _ = closing.changed() => return Ok("the server is stopping"),
        }
    }
}

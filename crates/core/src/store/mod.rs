//! SQLite storage: one writer thread (group commit), a small pool of read connections,
//! versioned migrations, and a broadcast of what was committed.

mod changes;
mod checkpointer;
mod commits;
mod endpoint_cache;
mod mirror;
mod read;
mod records;
mod schema;
mod sessions;
mod synced;
mod tokens;
mod unmatched;
mod write;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use tokio::sync::broadcast;

pub use changes::{ChangeKind, LogBounds};
use checkpointer::Checkpointer;
pub use commits::{CommitFilter, MAX_CANDIDATES, MIN_PREFIX, RECENT_SCAN};
pub use endpoint_cache::CachedEndpoint;
use endpoint_cache::EndpointCache;
pub use mirror::{Applied, Incoming};
pub use read::{
    BuildRun, COUNT_CAP, EventCount, RECENT_OUTCOMES, RUNNING_LIMIT_HOURS, RecentOutcome, StreamRow,
};
pub use records::*;
pub use schema::VERSION as SCHEMA_VERSION;
pub use synced::{ACCOUNT_ENDPOINT, Fact, POSITIONS_KEY, RunsRead, STATUS_KEY, Stored};
pub use tokens::TokenInfo;
use unmatched::UnmatchedTally;
pub use unmatched::{MAX_DISTINCT_NAMES, MAX_STORED_NAMES, OTHER_NAMES};
pub use write::{Pruned, REJECTED_BODY_KEPT, Recorded};
use writer::{Health, Isolation, Writer};

use crate::clock::Clock;
use crate::receive::ingest::{Arrival, Judgment};
use crate::serve::token::Role;
use crate::{Error, Result};

/// Settings key of the user's [`crate::settings::Settings`] document.
const SETTINGS_KEY: &str = "settings";

/// How long a connection waits for another's lock (the CLI beside `serve`, say).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Rows an export reads at once.
const EXPORT_PAGE: u32 = 1000;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "gatehouse.db";

/// What the writer broadcasts after a commit: the desktop shell, tray and notifier listen.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// A new event was stored. `catch_up`: copied from an inbox's backlog (what arrived
    /// while this machine was away), which the desktop summarises once instead of
    /// notifying event by event.
    Event {
        seq: i64,
        event: Arc<EventRecord>,
        catch_up: bool,
    },
    /// A request was recorded, or its verdict changed (accepted from history).
    Request {
        seq: i64,
        request: Arc<RequestRecord>,
    },
    /// Endpoints or their secrets changed.
    Endpoints { seq: i64 },
    /// The saved settings changed.
    Settings { seq: i64 },
}

impl Notice {
    /// Its place in the change log ([`changes`]).
    pub fn seq(&self) -> i64 {
        match self {
            Notice::Event { seq, .. }
            | Notice::Request { seq, .. }
            | Notice::Endpoints { seq }
            | Notice::Settings { seq } => *seq,
        }
    }

    /// The change's kind as the stream names it.
    pub fn kind(&self) -> ChangeKind {
        match self {
            Notice::Event { .. } => ChangeKind::Event,
            Notice::Request { .. } => ChangeKind::Request,
            Notice::Endpoints { .. } => ChangeKind::Endpoints,
            Notice::Settings { .. } => ChangeKind::Settings,
        }
    }
}

/// Tuning for [`Store::open_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most jobs committed in one transaction; 1 turns group commit off (the benchmark's baseline).
    pub max_batch: usize,
    /// Caps the database size in pages: how tests make SQLite report a full disk.
    pub max_pages: Option<u64>,
    /// Where "now" comes from for everything that writes or reads by time, here and in
    /// whatever is built on the store ([`Store::clock`]): the system's, or a test's.
    pub clock: Clock,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_batch: 512,
            max_pages: None,
            clock: Clock::system(),
        }
    }
}

/// The store. Writes are async (they wait for the commit); reads are blocking and cheap,
/// so async callers run them on a blocking thread.
pub struct Store {
    path: PathBuf,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
    notices: broadcast::Sender<Notice>,
    unmatched: Arc<UnmatchedTally>,
    health: Health,
    endpoints: EndpointCache,
    clock: Clock,
    /// Declared last: dropped after the writer has committed what was queued.
    _checkpointer: Checkpointer,
}

impl Store {
    /// Opens (creating and migrating as needed) the database in `data_dir`.
    /// The database holds endpoint secrets: a new directory is made private to the user,
    /// the database files are always 0600, and a directory others can read draws a warning.
    pub fn open_dir(data_dir: &Path) -> Result<Store> {
        Store::open_dir_with(data_dir, StoreOptions::default())
    }

    /// As [`Store::open_dir`], with `options` (a test's clock, say).
    pub fn open_dir_with(data_dir: &Path, options: StoreOptions) -> Result<Store> {
        if !data_dir.exists() {
            std::fs::create_dir_all(data_dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        #[cfg(unix)]
        warn_if_shared(data_dir);
        Store::open_with(&data_dir.join(DB_FILE), options)
    }

    pub fn open_with(path: &Path, options: StoreOptions) -> Result<Store> {
        let mut conn = open_connection(path, false)?;
        schema::migrate(&mut conn)?;
        if let Some(pages) = options.max_pages {
            conn.pragma_update(None, "max_page_count", pages)?;
        }
        // SQLite gives WAL and shared-memory files it creates later the database's mode.
        make_private(path)?;
        let (notices, _) = broadcast::channel(1024);
        let unmatched = Arc::new(UnmatchedTally::default());
        let health = Health::default();
        let writer = Writer::start(
            conn,
            options.max_batch,
            writer::Shared {
                notices: notices.clone(),
                unmatched: unmatched.clone(),
                health: health.clone(),
            },
        )?;
        Ok(Store {
            path: path.to_owned(),
            writer,
            readers: Mutex::new(Vec::new()),
            notices,
            unmatched,
            health,
            endpoints: EndpointCache::new(open_connection(path, true)?),
            clock: options.clock,
            _checkpointer: Checkpointer::start(path)?,
        })
    }

    /// Why the store could not commit lately, until a commit succeeds again.
    pub fn health(&self) -> Option<String> {
        self.health.lock().ok().and_then(|h| h.clone())
    }

    /// Tries a write the size of a large delivery (written and removed in one transaction),
    /// to find out whether a degraded store has recovered (space freed) without waiting for
    /// the next delivery.
    pub async fn probe(&self) -> Result<()> {
        self.writer.call(write::probe).await
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The clock this store was opened with: what everything built on it reads "now" from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Everything committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let pooled = self.readers.lock().ok().and_then(|mut pool| pool.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => open_connection(&self.path, true)?,
        };
        let result = f(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            pool.push(conn);
        }
        result
    }

    // ----- writes: each resolves after its transaction commits -----

    /// Creates an endpoint for Appcircle's deliveries with its first secret.
    pub async fn add_endpoint(&self, name: &str, secret: &str) -> Result<EndpointInfo> {
        self.add_endpoint_for(crate::model::Provider::Appcircle, name, secret)
            .await
    }

    /// An endpoint for `provider`'s deliveries.
    pub async fn add_endpoint_for(
        &self,
        provider: crate::model::Provider,
        name: &str,
        secret: &str,
    ) -> Result<EndpointInfo> {
        let (name, secret) = (name.to_owned(), secret.to_owned());
        let now = self.clock.now();
        self.writer
            .call(move |tx| write::add_endpoint(tx, &name, provider, &secret, now))
            .await
    }

    pub async fn remove_endpoint(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        let now = self.clock.now();
        self.writer
            .call(move |tx| write::remove_endpoint(tx, &name, now))
            .await
    }

    pub async fn rename_endpoint(&self, name: &str, new_name: &str) -> Result<EndpointInfo> {
        let (name, new_name) = (name.to_owned(), new_name.to_owned());
        let now = self.clock.now();
        self.writer
            .call(move |tx| write::rename_endpoint(tx, &name, &new_name, now))
            .await
    }

    /// Adds a second secret beside the current one (the start of a rotation).
    pub async fn add_secret(&self, name: &str, secret: &str) -> Result<()> {
        let (name, secret) = (name.to_owned(), secret.to_owned());
        let now = self.clock.now();
        self.writer
            .call(move |tx| write::add_secret(tx, &name, &secret, now))
            .await
    }

    /// Drops the oldest secret (the end of a rotation); the newest always stays.
    pub async fn retire_secret(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        let now = self.clock.now();
        self.writer
            .call(move |tx| write::retire_secret(tx, &name, now))
            .await
    }

    /// Records a request to an existing endpoint and, when it is accepted, its event.
    /// Runs without a savepoint (see [`writer::Isolation`]): `write::record` refuses only
    /// before it writes.
    pub async fn record(&self, arrival: Arrival, judgment: Judgment) -> Result<Recorded> {
        let now = self.clock.now();
        self.writer
            .call_with(Isolation::Unguarded, move |tx| {
                write::record(tx, arrival, judgment, now)
            })
            .await
    }

    /// Counts a request to an endpoint that does not exist: in memory, written by the
    /// writer every few seconds (see [`unmatched`]).
    pub fn count_unmatched(&self, name: &str, at: DateTime<Utc>) {
        self.unmatched.count(name, at);
    }

    /// Accepts a stale request: its signature is checked again, the window is not.
    pub async fn accept_stale(&self, request_id: i64) -> Result<Recorded> {
        let now = self.clock.now();
        self.writer
            .call(move |tx| write::accept_stale(tx, request_id, now))
            .await
    }

    /// Feeds a stored request through the pipeline again; it must dedupe.
    pub async fn replay(&self, request_id: i64) -> Result<Recorded> {
        let now = self.clock.now();
        self.writer
            .call(move |tx| write::replay(tx, request_id, now))
            .await
    }

    /// Deletes history received before `before` (the retention setting); the events the
    /// gate shows are kept.
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<Pruned> {
        self.writer.call(move |tx| write::prune(tx, before)).await
    }

    /// Deletes refused requests received before `before`; events stay.
    pub async fn prune_rejected(&self, before: DateTime<Utc>) -> Result<u64> {
        self.writer
            .call(move |tx| write::prune_rejected(tx, before))
            .await
    }

    pub async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.writer
            .call(move |tx| write::set_setting(tx, &key, &value))
            .await
    }

    pub async fn delete_setting(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.writer
            .call(move |tx| write::delete_setting(tx, &key))
            .await
    }

    // ----- reads -----

    /// The endpoint and its active secrets from memory (reloaded when any process changed
    /// endpoints or secrets), or `None` if there is no such endpoint: what the listener asks
    /// on every request.
    pub fn endpoint_for_request(&self, name: &str) -> Result<Option<Arc<CachedEndpoint>>> {
        self.endpoints.get(name)
    }

    /// The endpoint's id and active secrets, or `None` if there is no such endpoint.
    pub fn endpoint_secrets(&self, name: &str) -> Result<Option<(i64, Vec<Secret>)>> {
        self.read(|c| read::endpoint_secrets(c, name))
    }

    pub fn endpoints(&self) -> Result<Vec<EndpointInfo>> {
        self.read(read::endpoints)
    }

    pub fn endpoint(&self, name: &str) -> Result<EndpointInfo> {
        self.read(|c| read::endpoint(c, name))
    }

    /// Newest first (by the delivery's own timestamp).
    pub fn events(&self, query: &EventQuery) -> Result<Vec<EventRecord>> {
        self.read(|c| read::events(c, query))
    }

    /// How many events match: exact without filters, else counted up to [`COUNT_CAP`] (or
    /// the end of the page asked for).
    pub fn count_events(&self, query: &EventQuery) -> Result<EventCount> {
        self.read(|c| read::count_events(c, query))
    }

    /// Finished runs of a build profile, newest first.
    pub fn build_runs(
        &self,
        profile_key: &str,
        branch_key: Option<&str>,
        limit: u32,
    ) -> Result<Vec<BuildRun>> {
        self.read(|c| read::build_runs(c, profile_key, branch_key, limit))
    }

    /// The commits whose SHA starts with `prefix` (lowercase hex), in order: more than
    /// [`commits::MAX_CANDIDATES`] means "more than that many".
    pub fn commits_matching(&self, prefix: &str) -> Result<Vec<String>> {
        self.read(|c| commits::matching(c, prefix))
    }

    /// The events of commit `sha` in gated scopes, oldest first.
    pub fn commit_events(&self, sha: &str) -> Result<Vec<EventRecord>> {
        self.read(|c| commits::events_of(c, sha))
    }

    /// The commit event `e` is of, if any (its SHA, its Appcircle commit's or build's).
    pub fn commit_of(&self, e: &EventRecord) -> Result<Option<String>> {
        self.read(|c| commits::sha_of(c, e))
    }

    /// The SHAs of the newest commits (by their newest event) that `filter` keeps.
    pub fn recent_commits(&self, filter: CommitFilter<'_>, limit: usize) -> Result<Vec<String>> {
        self.read(|c| commits::recent(c, filter, limit))
    }

    /// The saved settings, or the defaults when none were saved. A saved document that
    /// does not parse or breaks a bound is logged and replaced by the defaults for this run
    /// (it stays stored, so nothing the user wrote is lost).
    pub fn settings(&self) -> Result<crate::settings::Settings> {
        let Some(json) = self.setting(SETTINGS_KEY)? else {
            return Ok(Default::default());
        };
        let settings: crate::settings::Settings = match crate::json::read(&json) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("the saved settings do not parse ({e}); using the defaults");
                return Ok(Default::default());
            }
        };
        if let Err(e) = settings.validate() {
            tracing::error!("the saved settings are out of range ({e}); using the defaults");
            return Ok(Default::default());
        }
        Ok(settings)
    }

    /// Creates an access token for the inbox's API; returns it with the token itself, which
    /// is not stored (only its SHA-256) and cannot be shown again.
    pub async fn add_token(&self, name: &str, role: Role) -> Result<(TokenInfo, String)> {
        let secret = crate::serve::token::generate()?;
        let (name, kept) = (name.to_owned(), secret.clone());
        let now = self.clock.now();
        let info = self
            .writer
            .call(move |tx| tokens::add(tx, &name, role, &kept, now))
            .await?;
        Ok((info, secret))
    }

    /// Deletes the token named `name` and its browser sessions, in one transaction; its
    /// open streams end at their next check.
    pub async fn revoke_token(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.writer
            .call(move |tx| {
                let id = tokens::id_by_name(tx.conn, &name)?;
                sessions::close_all(tx, id)?;
                tokens::delete(tx, id)
            })
            .await
    }

    /// Notes that a token was used (the caller decides how often that is worth a write).
    pub async fn touch_token(&self, id: i64) -> Result<()> {
        let now = self.clock.now();
        self.writer.call(move |tx| tokens::touch(tx, id, now)).await
    }

    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        self.read(tokens::list)
    }

    /// The token `secret` is, if it exists.
    pub fn find_token(&self, secret: &str) -> Result<Option<TokenInfo>> {
        self.read(|c| tokens::find(c, secret))
    }

    /// Opens a browser session for the token `token_id` until `expires`; returns the
    /// session's id (kept only as its SHA-256), for the cookie.
    pub async fn open_session(&self, token_id: i64, expires: DateTime<Utc>) -> Result<String> {
        let secret = crate::serve::token::random_hex()?;
        let kept = secret.clone();
        let now = self.clock.now();
        self.writer
            .call(move |tx| sessions::open(tx, token_id, &kept, now, expires))
            .await?;
        Ok(secret)
    }

    /// The token behind a live session, if `secret` is one.
    pub fn find_session(&self, secret: &str) -> Result<Option<TokenInfo>> {
        let now = self.clock.now();
        self.read(|c| sessions::find(c, secret, now))
    }

    /// Ends a session (signing out).
    pub async fn close_session(&self, secret: &str) -> Result<()> {
        let secret = secret.to_owned();
        self.writer
            .call(move |tx| sessions::close(tx, &secret))
            .await
    }

    /// Whether any token exists: the inbox's API answers only then.
    pub fn has_tokens(&self) -> Result<bool> {
        self.read(tokens::any)
    }

    /// Stores what an account sync read (see [`synced`]) with the walk's new positions and
    /// the sync's status, in one transaction.
    /// `status` words the sync's status once what was stored is known.
    pub async fn apply_synced(
        &self,
        facts: Vec<Fact>,
        positions: String,
        status: impl FnOnce(Stored) -> String + Send + 'static,
    ) -> Result<Stored> {
        let now = self.clock.now();
        self.writer
            .call(move |tx| synced::apply(tx, facts, &positions, status, now))
            .await
    }

    /// Stores the Appcircle account sync's status alone (announced, so every view shows it).
    pub async fn set_sync_status(&self, status: String) -> Result<()> {
        self.set_account_status(STATUS_KEY.to_owned(), status).await
    }

    /// Stores an account's sync status under `key` alone (announced).
    pub async fn set_account_status(&self, key: String, status: String) -> Result<()> {
        let now = self.clock.now();
        self.writer
            .call(move |tx| synced::set_status(tx, &key, &status, now))
            .await
    }

    /// Stores what an account's read of a CI system's API found (see [`synced::apply_runs`]).
    pub async fn apply_runs(
        &self,
        read: RunsRead,
        status: impl FnOnce(Stored) -> String + Send + 'static,
    ) -> Result<Stored> {
        let now = self.clock.now();
        self.writer
            .call(move |tx| synced::apply_runs(tx, read, status, now))
            .await
    }

    /// Copies changes read from `inbox`'s stream, in one transaction with the position they
    /// bring the mirror to. `catch_up`: they are its backlog, not live changes.
    pub async fn apply_mirrored(
        &self,
        inbox: &str,
        batch: Vec<(i64, Incoming)>,
        catch_up: bool,
    ) -> Result<Applied> {
        let inbox = inbox.to_owned();
        let now = self.clock.now();
        self.writer
            .call(move |tx| mirror::apply(tx, &inbox, batch, catch_up, now))
            .await
    }

    /// On an inbox's `hello`: the position to follow its change log `log` from (0 when it
    /// is another log than the one followed so far, or ends before the position).
    pub async fn begin_mirror(&self, inbox: &str, log: &str, newest: i64) -> Result<i64> {
        let (inbox, log) = (inbox.to_owned(), log.to_owned());
        let now = self.clock.now();
        self.writer
            .call(move |tx| mirror::begin(tx, &inbox, &log, newest, now))
            .await
    }

    /// After a `gap`: moves the mirror of `inbox` to `seq` (what was pruned there is gone).
    pub async fn skip_mirror_to(&self, inbox: &str, seq: i64) -> Result<()> {
        let inbox = inbox.to_owned();
        let now = self.clock.now();
        self.writer
            .call(move |tx| mirror::skip_to(tx, &inbox, seq, now))
            .await
    }

    /// The last seq copied from `inbox` (0 before the first).
    pub fn mirror_position(&self, inbox: &str) -> Result<i64> {
        self.read(|c| mirror::position(c, inbox))
    }

    /// Up to `limit` changes after `seq`, oldest first (see [`changes::after`]).
    pub fn changes_after(&self, seq: i64, limit: usize) -> Result<Vec<Notice>> {
        self.read(|c| changes::after(c, seq, limit))
    }

    /// The oldest change kept and the newest handed out.
    pub fn change_log(&self) -> Result<LogBounds> {
        self.read(changes::bounds)
    }

    pub async fn save_settings(&self, settings: &crate::settings::Settings) -> Result<()> {
        settings.validate()?;
        let json = serde_json::to_string(settings)
            .map_err(|e| Error::Invalid(format!("cannot store settings: {e}")))?;
        let now = self.clock.now();
        self.writer
            .call(move |tx| write::save_settings(tx, SETTINGS_KEY, &json, now))
            .await
    }

    /// Every event `q` matches, lowest id first, handed to `each` one page at a time: an
    /// export of a million events holds one page in memory. `q.limit`, when set, is the most
    /// it hands over (its offset is not used).
    pub fn export_events(
        &self,
        q: &EventQuery,
        each: impl FnMut(&EventRecord) -> Result<()>,
    ) -> Result<u64> {
        let most = q.limit.map_or(u64::MAX, u64::from);
        self.export_pages(
            most,
            |c, after| read::events_after(c, q, after, EXPORT_PAGE),
            |e| e.id,
            each,
        )
    }

    /// Every request `q` matches, as [`Store::export_events`] (without bodies).
    pub fn export_requests(
        &self,
        q: &RequestQuery,
        each: impl FnMut(&RequestRecord) -> Result<()>,
    ) -> Result<u64> {
        self.export_pages(
            u64::MAX,
            |c, after| read::requests_after(c, q, after, EXPORT_PAGE),
            |r| r.id,
            each,
        )
    }

    /// The walk both exports make: pages by id (keyset, so each page is an index seek),
    /// each row handed to `each`, until the rows run out or `most` were handed over.
    fn export_pages<R>(
        &self,
        most: u64,
        page_after: impl Fn(&Connection, i64) -> Result<Vec<R>>,
        id: impl Fn(&R) -> i64,
        mut each: impl FnMut(&R) -> Result<()>,
    ) -> Result<u64> {
        let mut after = 0;
        let mut count = 0;
        loop {
            let page = self.read(|c| page_after(c, after))?;
            let Some(last) = page.last() else {
                return Ok(count);
            };
            after = id(last);
            for row in &page {
                if count >= most {
                    return Ok(count);
                }
                each(row)?;
                count += 1;
            }
        }
    }

    /// A consistent copy of the database into `to` while others write: SQLite's online
    /// backup in one step, inside one read transaction, so the copy is the database as of
    /// one commit (in WAL mode a reader holds no writer up; steps would start over at every
    /// write under load). `to` must not exist; it is made 0600 before a byte is written.
    pub fn backup(&self, to: &Path) -> Result<()> {
        let mut create = std::fs::OpenOptions::new();
        create.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
        create.open(to).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::Conflict(format!(
                "{} exists already; a backup never overwrites a file",
                to.display()
            )),
            _ => Error::from(e),
        })?;
        let source = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        source.busy_timeout(BUSY_TIMEOUT)?;
        let mut target = Connection::open(to)?;
        let backup = rusqlite::backup::Backup::new(&source, &mut target)?;
        loop {
            // -1: every page in one step.
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => return Ok(()),
                rusqlite::backup::StepResult::More => {}
                // A writer holds a lock for a moment (the busy timeout covers most).
                _ => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
    }

    /// One event with its payload as received. An Appcircle event names its commit by Appcircle's GUID
    /// or its build: its `commit_sha` is looked up, so that its detail links to the commit.
    pub fn event(&self, id: i64) -> Result<EventRecord> {
        self.read(|c| {
            let mut e = read::event(c, id, true)?;
            if e.commit_sha.is_none() {
                e.commit_sha = commits::sha_of(c, &e)?;
            }
            Ok(e)
        })
    }

    /// Newest first.
    pub fn requests(&self, query: &RequestQuery) -> Result<Vec<RequestRecord>> {
        self.read(|c| read::requests(c, query))
    }

    /// One request with its body.
    pub fn request(&self, id: i64) -> Result<RequestRecord> {
        self.read(|c| read::request(c, id, true))
    }

    /// Hits on unknown endpoint names, including those not written yet.
    pub fn unmatched(&self) -> Result<Vec<UnmatchedCount>> {
        let mut stored = self.read(read::unmatched)?;
        self.unmatched.merge_into(&mut stored);
        Ok(stored)
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| read::setting(c, key))
    }

    /// Every stream the gate considers, with its latest finished event and whether it runs.
    pub fn streams(&self) -> Result<Vec<StreamRow>> {
        let now = self.clock.now();
        self.read(|c| read::streams(c, now))
    }
}

/// The database, its WAL and shared-memory files: 0600 whatever the umask.
fn make_private(db: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            let file = PathBuf::from(name);
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    Ok(())
}

/// A data directory that group or others can enter exposes the secrets' file names and
/// any file created there before we tightened it; say so.
#[cfg(unix)]
fn warn_if_shared(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(dir) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                "the data directory {} is readable by other users (mode {mode:o}); it holds endpoint secrets: chmod 700 {}",
                dir.display(),
                dir.display()
            );
        }
    }
}

/// The WAL size, in pages, past which a commit checkpoints (see `open_connection`).
pub const WAL_AUTOCHECKPOINT_PAGES: i64 = 4000;

/// Turns on WAL. On a new file, two processes starting at once (the app and a CLI command, a
/// follower and `gatehouse events`) both do it, and SQLite answers the one that loses the
/// race SQLITE_BUSY at once, without its busy handler; so wait here as the handler would.
fn enable_wal(conn: &Connection) -> Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            done => return done.map_err(Into::into),
        }
    }
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| match e {
        rusqlite::Error::SqliteFailure(_, _) => {
            Error::DatabaseRefused(format!("cannot open the database {}: {e}", path.display()))
        }
        other => other.into(),
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // In KiB (negative), growing only as used. 8 MiB each: the window's memory is measured
    // (scripts/footprint.sh) and a history page needs few pages. The writer's was 32 MiB,
    // but SQLite walks the whole page cache's hash table at every commit
    // (pcache1TruncateUnsafe, a tenth of the writer's time in a profile); its lookups that
    // miss are served from the OS's page cache. No memory map: its touched pages count
    // against the app's memory, and at a million events it made no difference to the
    // median times (benches/history.rs).
    let cache_kib: i64 = 8 * 1024;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    if read_only {
        conn.pragma_update(None, "query_only", "ON")?;
    } else {
        enable_wal(&conn)?;
        // FULL: a commit is on disk before the HTTP answer says so.
        conn.pragma_update(None, "synchronous", "FULL")?;
        // SQLite's own checkpoint stays on: it is what lets the log start over under
        // sustained writes. The checkpointer thread copies pages back meanwhile, so by then
        // there is little left to copy, but each one still syncs the database file while the
        // batch waits. At 4,000 pages (a log of up to 16 MiB) rather than 1,000, group commit
        // at 32 clients went from 5,200-5,700 to 6,000-7,000 deliveries/s, p99 from 14 to
        // 18 ms (p99 was 34 ms when the writer emptied the log itself).
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        // Each job's savepoint keeps the pages it first touches in a sub-journal: in memory,
        // not a temporary file written with a system call per page (a profile showed it
        // costing a fifth of the writer's time).
        conn.pragma_update(None, "temp_store", "MEMORY")?;
    }
    Ok(conn)
}

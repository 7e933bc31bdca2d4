//! The connected accounts whose APIs Gatehouse reads: the Appcircle account here (where its
//! API is, its key, kept by [`crate::credentials`], and the sync that reads it,
//! [`crate::accounts::sync`]), and the CI accounts read by repository (GitHub Actions and
//! GitLab CI, [`crate::accounts::ci`]). Every account is read on the one [`schedule`]: at start, on
//! connect, on wake and after a network change, every 15 s while one of its runs runs, and
//! less often as things go quiet or webhooks deliver. One sync of an account runs at a time. Its status is stored, so `gatehouse account
//! status` beside a running `serve` sees it, and announced as a settings change, so every
//! view shows it.

pub mod appcircle;
pub mod ci;
pub mod github;
pub mod gitlab;
pub mod runs;
pub mod schedule;
pub mod sync;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};
use ts_rs::TS;

use crate::credentials::{self, Credential, TokenPlace};
use crate::follow::wake::Wake;
use crate::model::{Provider, Source};
use crate::offload::blocking;
use crate::store::{Notice, POSITIONS_KEY, STATUS_KEY, Store};
use crate::time::to_text;
use crate::{Error, Result};
use appcircle::{Account, Client, Key};
use schedule::{ReadOutcome, Schedule};
use sync::Positions;

/// The settings key of the connected account ([`AccountSettings`]).
const ACCOUNT_KEY: &str = "appcircle_account";
/// How often the schedule looks at which account is connected: one connected (or
/// disconnected) by `gatehouse account connect` beside a running `serve` is another
/// process's write, which this one hears nothing of. One settings row read.
const ACCOUNT_CHECK: Duration = Duration::from_secs(5);

/// Which kind of key the account is connected with (the secret itself is kept apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum AccountKey {
    /// An organisation's API key: its name, and optionally which organisation.
    ApiKey {
        name: String,
        organization: Option<String>,
    },
    PersonalAccessKey,
}

/// The connected account as stored (no secret in it).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccountSettings {
    api_host: String,
    auth_host: String,
    key: AccountKey,
    /// Where the secret went when it was connected (asked once, not at every overview).
    key_place: TokenPlace,
    /// When it was connected: another connection (the CLI beside a running `serve`) has
    /// another, so a process notices that its client belongs to an old one.
    connected_at: String,
}

/// What Settings or `gatehouse account connect` connect with.
#[derive(Clone, Deserialize, TS)]
#[ts(export)]
pub struct Connection {
    /// `None`: Appcircle's hosted service.
    pub api_host: Option<String>,
    pub auth_host: Option<String>,
    pub key: AccountKey,
    /// The API key's secret, or the personal access key.
    pub secret: String,
}

/// Without the secret: a `{:?}` anywhere (a logged request) must not print it.
impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("api_host", &self.api_host)
            .field("auth_host", &self.auth_host)
            .field("key", &self.key)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// How the last syncs went (stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SyncStatus {
    pub last_attempt: Option<String>,
    pub last_success: Option<String>,
    /// Why the last attempt failed, or which parts of it did; `None` when it all succeeded.
    pub error: Option<String>,
    /// New events the last successful sync stored.
    pub events: u64,
    /// Requests the last sync made.
    pub requests: u64,
}

/// The account as Settings, the dashboard and `account status` show it.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct AccountStatus {
    pub api_host: String,
    pub auth_host: String,
    pub key: AccountKey,
    pub key_place: TokenPlace,
    pub sync: SyncStatus,
    /// A sync runs now (in this process).
    pub syncing: bool,
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct SyncReport {
    /// New events stored.
    pub events: u64,
    /// Their ids, oldest first.
    pub event_ids: Vec<i64>,
    /// Facts already stored (synced before, or told by a webhook).
    pub known: u64,
    pub requests: u64,
}

/// The account and its sync, shared by the API and the schedule.
pub struct AccountSync {
    store: Arc<Store>,
    one_at_a_time: tokio::sync::Mutex<()>,
    syncing: AtomicBool,
    /// The last read saw a build running (the schedule reads fast until it ends).
    running: AtomicBool,
    /// Kept between syncs so its token is reused until it expires, with the connection it
    /// was made for ([`AccountSettings::connected_at`]).
    client: Mutex<Option<(String, Client)>>,
    /// A sync asked for (connect); the schedule runs it.
    kick: Notify,
    reports: broadcast::Sender<SyncReport>,
}

/// Checks a host URL and gives it without a trailing slash.
fn check_host(url: Option<&str>, default: &str, what: &str) -> Result<String> {
    let url = url
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or(default);
    let parsed = url::Url::parse(url)
        .map_err(|e| Error::Invalid(format!("the {what} `{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::Invalid(format!(
            "the {what} must be an http(s) address, such as {default}"
        )));
    }
    // The key crosses to it: in clear text only to this machine.
    if parsed.scheme() == "http" && !is_local(&parsed) {
        return Err(Error::Invalid(format!(
            "the {what} must be https:// (http:// only on this machine): the key would cross the network in clear text"
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// A host on this machine.
fn is_local(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Appcircle's manners are for Appcircle's servers: a host on this machine (a self-hosted
/// install's proxy, the tests' fake) is asked without the pause between requests.
fn pace_for(api_host: &str) -> Duration {
    if url::Url::parse(api_host).is_ok_and(|u| is_local(&u)) {
        Duration::ZERO
    } else {
        appcircle::PACE
    }
}

fn account(settings: &AccountSettings, secret: String) -> Account {
    Account {
        api_host: settings.api_host.clone(),
        auth_host: settings.auth_host.clone(),
        key: match &settings.key {
            AccountKey::ApiKey { name, organization } => Key::ApiKey {
                name: name.clone(),
                secret,
                organization: organization.clone(),
            },
            AccountKey::PersonalAccessKey => Key::PersonalAccessKey(secret),
        },
    }
}

/// Marks a sync as running for as long as it lives: a sync whose caller went away (a
/// browser closed during "Sync now") is not shown as running for ever.
struct Syncing<'a>(&'a AtomicBool);

impl<'a> Syncing<'a> {
    fn start(flag: &'a AtomicBool) -> Syncing<'a> {
        flag.store(true, Ordering::SeqCst);
        Syncing(flag)
    }
}

impl Drop for Syncing<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl AccountSync {
    pub fn new(store: Arc<Store>) -> AccountSync {
        AccountSync {
            store,
            one_at_a_time: tokio::sync::Mutex::new(()),
            syncing: AtomicBool::new(false),
            running: AtomicBool::new(false),
            client: Mutex::new(None),
            kick: Notify::new(),
            reports: broadcast::channel(16).0,
        }
    }

    /// Every finished sync's report (the desktop turns one into a summary notification).
    pub fn reports(&self) -> broadcast::Receiver<SyncReport> {
        self.reports.subscribe()
    }

    /// The connected account and how its syncs go; `None` when none is connected.
    pub fn status(&self) -> Result<Option<AccountStatus>> {
        let Some(settings) = stored_account(&self.store)? else {
            return Ok(None);
        };
        let sync = parse_or_default(self.store.setting(STATUS_KEY)?);
        Ok(Some(
            settings.status(sync, self.syncing.load(Ordering::SeqCst)),
        ))
    }

    /// Checks the key against Appcircle at once (a token, then the build profiles), then
    /// keeps it and starts a first sync. A refused key is an error and nothing is kept.
    pub async fn connect(&self, c: Connection) -> Result<AccountStatus> {
        let api_host = check_host(c.api_host.as_deref(), appcircle::API_HOST, "API host")?;
        let auth_host = check_host(c.auth_host.as_deref(), appcircle::AUTH_HOST, "auth host")?;
        if let AccountKey::ApiKey { name, .. } = &c.key
            && name.trim().is_empty()
        {
            return Err(Error::Invalid("the API key's name is empty".into()));
        }
        let secret = c.secret.trim().to_owned();
        if secret.is_empty() {
            return Err(Error::Invalid("the key's secret is empty".into()));
        }
        let mut settings = AccountSettings {
            api_host,
            auth_host,
            key: c.key,
            key_place: TokenPlace::Keyring,
            connected_at: to_text(self.store.clock().now()),
        };
        let mut client = Client::with_pace(
            account(&settings, secret.clone()),
            pace_for(&settings.api_host),
            self.store.clock().clone(),
        );
        let client = blocking(move || {
            client.get::<Vec<appcircle::BuildProfile>>(
                "build/v2/profiles",
                "a list of build profiles",
            )?;
            Ok(client)
        })
        .await?;
        let _one_at_a_time = self.one_at_a_time.lock().await;
        settings.key_place =
            credentials::save(&self.store, Credential::AppcircleKey, &secret).await?;
        let json = serde_json::to_string(&settings)
            .map_err(|e| Error::Invalid(format!("cannot store the account: {e}")))?;
        // Another account (or the same one again) is walked from the start.
        self.store.delete_setting(POSITIONS_KEY).await?;
        self.store.set_setting(ACCOUNT_KEY, &json).await?;
        self.store
            .set_sync_status(to_json(&SyncStatus::default()))
            .await?;
        *self.client.lock().map_err(|_| poisoned())? =
            Some((settings.connected_at.clone(), client));
        self.kick.notify_one();
        // What was just stored, not read back.
        Ok(settings.status(SyncStatus::default(), self.syncing.load(Ordering::SeqCst)))
    }

    /// Forgets the account and its key; what was synced stays in the history.
    pub async fn disconnect(&self) -> Result<()> {
        let _one_at_a_time = self.one_at_a_time.lock().await;
        credentials::forget(&self.store, Credential::AppcircleKey).await?;
        self.store.delete_setting(ACCOUNT_KEY).await?;
        self.store.delete_setting(POSITIONS_KEY).await?;
        *self.client.lock().map_err(|_| poisoned())? = None;
        // Announced like a status change, so every view drops the account.
        self.store.set_sync_status(String::new()).await?;
        self.store.delete_setting(STATUS_KEY).await
    }

    /// One sync now (after the one running, if any). What was read is stored even when a
    /// part of the account could not be read; then the sync is still an error, naming it.
    pub async fn sync_now(&self) -> Result<SyncReport> {
        let _one_at_a_time = self.one_at_a_time.lock().await;
        let store = self.store.clone();
        let (settings, mut status, positions) = blocking(move || {
            let settings = stored_account(&store)?.ok_or_else(|| {
                Error::Conflict(
                    "no Appcircle account is connected (Settings, or `gatehouse account connect`)"
                        .into(),
                )
            })?;
            let status: SyncStatus = parse_or_default(store.setting(STATUS_KEY)?);
            let positions: Positions = parse_or_default(store.setting(POSITIONS_KEY)?);
            Ok((settings, status, positions))
        })
        .await?;
        let result = {
            let _syncing = Syncing::start(&self.syncing);
            self.read(&settings, positions).await
        };
        let now = to_text(self.store.clock().now());
        status.last_attempt = Some(now.clone());
        let (reading, client) = match result {
            Ok(read) => read,
            Err(e) => return Err(self.failed(status, e).await),
        };
        *self.client.lock().map_err(|_| poisoned())? = Some((settings.connected_at, client));
        self.running.store(reading.running, Ordering::SeqCst);
        let partly = (!reading.failed.is_empty()).then(|| {
            let parts: Vec<String> = reading.failed.iter().map(ToString::to_string).collect();
            parts.join("; ")
        });
        status.last_success = Some(now);
        status.error = partly.clone();
        status.requests = reading.requests;
        let positions = to_json(&reading.positions);
        let stored = match self
            .store
            .apply_synced(reading.facts, positions, {
                let mut status = status.clone();
                move |stored| {
                    status.events = stored.events;
                    to_json(&status)
                }
            })
            .await
        {
            Ok(stored) => stored,
            Err(e) => return Err(self.failed(status, e).await),
        };
        let report = SyncReport {
            events: stored.events,
            event_ids: stored.event_ids,
            known: stored.known,
            requests: reading.requests,
        };
        tracing::info!(
            "appcircle sync: {} new events, {} known, {} requests",
            report.events,
            report.known,
            report.requests
        );
        let _ = self.reports.send(report.clone());
        match partly {
            None => Ok(report),
            Some(parts) => Err(Error::Upstream(format!(
                "{} new events stored, but part of the account could not be read: {parts}",
                report.events
            ))),
        }
    }

    /// Keeps a failed sync's reason in its status (best effort: the store may be what
    /// failed) and gives the error back.
    async fn failed(&self, mut status: SyncStatus, e: Error) -> Error {
        tracing::warn!("appcircle sync failed: {e}");
        status.error = Some(e.to_string());
        if let Err(stored) = self.store.set_sync_status(to_json(&status)).await {
            tracing::error!("cannot store the failed sync's status: {stored}");
        }
        e
    }

    /// Reads the account with the kept client when it belongs to this connection, else
    /// with a new one from the kept key.
    async fn read(
        &self,
        settings: &AccountSettings,
        positions: Positions,
    ) -> Result<(sync::Reading, Client)> {
        let kept = self
            .client
            .lock()
            .map_err(|_| poisoned())?
            .take()
            .filter(|(connection, _)| *connection == settings.connected_at);
        let mut client = match kept {
            Some((_, client)) => client,
            None => {
                let secret = credentials::load(&self.store, Credential::AppcircleKey)
                    .await?
                    .ok_or_else(|| {
                        Error::Conflict(
                            "the Appcircle key is not in the keyring or the database: connect the account again".into(),
                        )
                    })?
                    .secret;
                Client::with_pace(
                    account(settings, secret),
                    pace_for(&settings.api_host),
                    self.store.clock().clone(),
                )
            }
        };
        let now = self.store.clock().now();
        blocking(move || {
            let reading = sync::read(&mut client, &positions, now)?;
            Ok((reading, client))
        })
        .await
    }

    /// Which connection is stored now (`None`: no account).
    async fn connection(self: &Arc<Self>) -> Result<Option<String>> {
        let store = self.store.clone();
        blocking(move || Ok(stored_account(&store)?.map(|s| s.connected_at))).await
    }

    /// The schedule, until the store closes: a sync at start, when [`AccountSync::connect`]
    /// asks or another process connected an account (looked for every [`ACCOUNT_CHECK`]),
    /// on wake or a network change, and as [`Schedule`] says after syncs and Appcircle's
    /// webhooks.
    pub async fn run(self: Arc<Self>) -> Result<()> {
        let mut notices = self.store.subscribe();
        let mut wake = Wake::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut check = tokio::time::interval(ACCOUNT_CHECK);
        let mut schedule = Schedule::default();
        let mut seen: Option<String> = None;
        loop {
            let mut run = schedule.is_due(Instant::now());
            if !run {
                tokio::select! {
                    () = self.kick.notified() => run = true,
                    _ = tick.tick() => {
                        if let Some(moved) = wake.check() {
                            tracing::info!("appcircle sync: {}", moved.describe());
                            run = true;
                        }
                    }
                    _ = check.tick() => {
                        let now = self.connection().await?;
                        if now != seen {
                            run = now.is_some();
                            seen = now;
                        }
                    }
                    received = notices.recv() => match received {
                        Ok(Notice::Event { event, .. })
                            if event.source == Source::Live
                                && event.provider == Provider::Appcircle =>
                        {
                            schedule.webhook(Instant::now());
                        }
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                }
            }
            if !run {
                continue;
            }
            seen = self.connection().await?;
            if seen.is_none() {
                schedule.idle();
                continue;
            }
            let result = self.sync_now().await;
            schedule.read(
                ReadOutcome {
                    ok: result.is_ok(),
                    running: self.running.load(Ordering::SeqCst),
                    changed: result.as_ref().is_ok_and(|r| r.events > 0),
                    hold_until: None,
                },
                Instant::now(),
            );
        }
    }
}

impl AccountSettings {
    /// The account as shown, with how its syncs go.
    fn status(self, sync: SyncStatus, syncing: bool) -> AccountStatus {
        AccountStatus {
            api_host: self.api_host,
            auth_host: self.auth_host,
            key: self.key,
            key_place: self.key_place,
            sync,
            syncing,
        }
    }
}

/// The connected account; a stored one that does not parse (written by another version) is
/// logged and taken as none, so that it cannot break the dashboard: connecting again
/// replaces it. Blocking (a settings read).
fn stored_account(store: &Store) -> Result<Option<AccountSettings>> {
    let Some(json) = store.setting(ACCOUNT_KEY)? else {
        return Ok(None);
    };
    match crate::json::read(&json) {
        Ok(settings) => Ok(Some(settings)),
        Err(e) => {
            tracing::error!("the stored Appcircle account does not parse ({e}); connect it again");
            Ok(None)
        }
    }
}

/// A stored JSON document, or the default when there is none or it does not parse (it is
/// rewritten by the next sync).
fn parse_or_default<T: serde::de::DeserializeOwned + Default>(json: Option<String>) -> T {
    json.and_then(|j| crate::json::read(&j).ok())
        .unwrap_or_default()
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn poisoned() -> Error {
    Error::System("the Appcircle client's lock was poisoned".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_goes_in_clear_text_only_to_this_machine() {
        let host = |u: &str| check_host(Some(u), appcircle::API_HOST, "API host");
        assert_eq!(
            host("https://api.example.com/").ok().as_deref(),
            Some("https://api.example.com")
        );
        assert!(host("http://127.0.0.1:9000").is_ok());
        assert!(host("http://localhost:9000").is_ok());
        let err = host("http://appcircle.internal").expect_err("clear text");
        assert!(err.to_string().contains("https://"), "{err}");
        assert!(host("ftp://api.example.com").is_err());
        assert_eq!(
            check_host(None, appcircle::API_HOST, "API host")
                .ok()
                .as_deref(),
            Some(appcircle::API_HOST)
        );
    }

    #[test]
    fn a_connection_never_prints_its_secret() {
        let c = Connection {
            api_host: None,
            auth_host: None,
            key: AccountKey::PersonalAccessKey,
            secret: "hunter2-secret".into(),
        };
        let text = format!("{c:?}");
        assert!(
            !text.contains("hunter2") && text.contains("[redacted]"),
            "{text}"
        );
    }
}

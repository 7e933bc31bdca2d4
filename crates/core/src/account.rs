//! The connected Appcircle account: where its API is, its key (kept by
//! [`crate::credentials`]), and the sync that reads it ([`crate::sync`]) on its own
//! schedule: at start, on connect, on wake and after a network change, and every 10
//! minutes while no webhook has arrived (webhooks keep the dashboard live; the sync fills
//! what they missed). One sync runs at a time. Its status is stored, so `gatehouse account
//! status` beside a running `serve` sees it, and announced as a settings change, so every
//! view shows it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};
use ts_rs::TS;

use crate::appcircle::{self, Account, Client, Key};
use crate::credentials::{self, Credential, TokenPlace};
use crate::ingest::Source;
use crate::offload::blocking;
use crate::store::{Notice, POSITIONS_KEY, STATUS_KEY, Store};
use crate::sync::{self, Positions};
use crate::time::to_text;
use crate::wake::Wake;
use crate::{Error, Result};

/// The settings key of the connected account ([`AccountSettings`]).
const ACCOUNT_KEY: &str = "appcircle_account";
/// A sync this long after the last sync or webhook, whichever is later.
pub const IDLE_SYNC: Duration = Duration::from_secs(600);
/// The first wait after a failed sync; it doubles up to [`IDLE_SYNC`].
const RETRY_FIRST: Duration = Duration::from_secs(60);
/// How often the schedule looks for an account while none is connected: one connected by
/// `gatehouse account connect` beside a running `serve` is another process's write, which
/// this one hears nothing of. One settings row read.
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
}

/// What Settings or `gatehouse account connect` connect with.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct Connection {
    /// `None`: Appcircle's hosted service.
    pub api_host: Option<String>,
    pub auth_host: Option<String>,
    pub key: AccountKey,
    /// The API key's secret, or the personal access key.
    pub secret: String,
}

/// How the last syncs went (stored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SyncStatus {
    pub last_attempt: Option<String>,
    pub last_success: Option<String>,
    /// Why the last attempt failed; `None` when it succeeded.
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
    /// A sync runs now.
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
    /// Kept between syncs so its token is reused until it expires.
    client: Mutex<Option<Client>>,
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
    Ok(url.trim_end_matches('/').to_owned())
}

/// Appcircle's manners are for Appcircle's servers: a host on this machine (a self-hosted
/// install's proxy, the tests' fake) is asked without the pause between requests.
fn pace_for(api_host: &str) -> Duration {
    let local = url::Url::parse(api_host)
        .ok()
        .is_some_and(|u| match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        });
    if local {
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

impl AccountSync {
    pub fn new(store: Arc<Store>) -> AccountSync {
        AccountSync {
            store,
            one_at_a_time: tokio::sync::Mutex::new(()),
            syncing: AtomicBool::new(false),
            client: Mutex::new(None),
            kick: Notify::new(),
            reports: broadcast::channel(16).0,
        }
    }

    /// Every finished sync's report (the desktop turns one into a summary notification).
    pub fn reports(&self) -> broadcast::Receiver<SyncReport> {
        self.reports.subscribe()
    }

    fn settings(&self) -> Result<Option<AccountSettings>> {
        let Some(json) = self.store.setting(ACCOUNT_KEY)? else {
            return Ok(None);
        };
        serde_json::from_str(&json).map(Some).map_err(|e| {
            Error::Invalid(format!("the stored Appcircle account does not parse: {e}"))
        })
    }

    /// The connected account and how its syncs go; `None` when none is connected.
    pub fn status(&self) -> Result<Option<AccountStatus>> {
        let Some(settings) = self.settings()? else {
            return Ok(None);
        };
        let sync = parse_or_default(self.store.setting(STATUS_KEY)?);
        Ok(Some(AccountStatus {
            api_host: settings.api_host,
            auth_host: settings.auth_host,
            key: settings.key,
            key_place: settings.key_place,
            sync,
            syncing: self.syncing.load(Ordering::SeqCst),
        }))
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
        };
        let mut client = Client::with_pace(
            account(&settings, secret.clone()),
            pace_for(&settings.api_host),
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
        *self.client.lock().map_err(|_| poisoned())? = Some(client);
        self.kick.notify_one();
        self.status()?
            .ok_or_else(|| Error::StoreUnavailable("the account was not found after saving".into()))
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

    /// One sync now (after the one running, if any).
    pub async fn sync_now(&self) -> Result<SyncReport> {
        let _one_at_a_time = self.one_at_a_time.lock().await;
        let store = self.store.clone();
        let (settings, mut status, positions) = blocking(move || {
            let settings = match store.setting(ACCOUNT_KEY)? {
                Some(json) => serde_json::from_str::<AccountSettings>(&json).map_err(|e| {
                    Error::Invalid(format!("the stored Appcircle account does not parse: {e}"))
                })?,
                None => {
                    return Err(Error::Conflict(
                        "no Appcircle account is connected (Settings, or `gatehouse account connect`)"
                            .into(),
                    ));
                }
            };
            let status: SyncStatus = parse_or_default(store.setting(STATUS_KEY)?);
            let positions: Positions = parse_or_default(store.setting(POSITIONS_KEY)?);
            Ok((settings, status, positions))
        })
        .await?;
        self.syncing.store(true, Ordering::SeqCst);
        let result = self.read(&settings, positions).await;
        self.syncing.store(false, Ordering::SeqCst);
        let now = to_text(Utc::now());
        status.last_attempt = Some(now.clone());
        let (reading, client) = match result {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!("appcircle sync failed: {e}");
                status.error = Some(e.to_string());
                self.store.set_sync_status(to_json(&status)).await?;
                return Err(e);
            }
        };
        *self.client.lock().map_err(|_| poisoned())? = Some(client);
        status.last_success = Some(now);
        status.error = None;
        status.requests = reading.requests;
        let positions = to_json(&reading.positions);
        let stored = self
            .store
            .apply_synced(reading.facts, positions, move |stored| {
                status.events = stored.events;
                to_json(&status)
            })
            .await?;
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
        Ok(report)
    }

    /// Reads the account with the kept client (or a new one with the kept key).
    async fn read(
        &self,
        settings: &AccountSettings,
        positions: Positions,
    ) -> Result<(sync::Reading, Client)> {
        let kept = self.client.lock().map_err(|_| poisoned())?.take();
        let mut client = match kept {
            Some(client) => client,
            None => {
                let secret = credentials::load(&self.store, Credential::AppcircleKey)
                    .await?
                    .ok_or_else(|| {
                        Error::Conflict(
                            "the Appcircle key is not in the keyring or the database: connect the account again".into(),
                        )
                    })?
                    .secret;
                Client::with_pace(account(settings, secret), pace_for(&settings.api_host))
            }
        };
        blocking(move || {
            let reading = sync::read(&mut client, &positions, Utc::now())?;
            Ok((reading, client))
        })
        .await
    }

    /// The schedule, until the store closes: at start, when [`AccountSync::connect`] asks,
    /// on wake or a network change, and [`IDLE_SYNC`] after the last sync or webhook (sooner
    /// after a failure: 1 minute, doubling). Without an account it looks for one every
    /// [`ACCOUNT_CHECK`].
    pub async fn run(self: Arc<Self>) -> Result<()> {
        let mut notices = self.store.subscribe();
        let mut wake = Wake::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut failures = 0u32;
        let mut due = Some(tokio::time::Instant::now());
        loop {
            let now = tokio::time::Instant::now();
            let mut run = due.is_some_and(|d| d <= now);
            if !run {
                tokio::select! {
                    () = self.kick.notified() => run = true,
                    _ = tick.tick() => {
                        if let Some(moved) = wake.check() {
                            tracing::info!("appcircle sync: {}", moved.describe());
                            run = true;
                        }
                    }
                    received = notices.recv() => match received {
                        Ok(Notice::Event { event, .. }) if event.source == Source::Live => {
                            // Webhooks arrive: the next sync waits for a quiet spell.
                            due = Some(tokio::time::Instant::now() + IDLE_SYNC);
                        }
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                }
            }
            if !run {
                continue;
            }
            if blocking({
                let this = self.clone();
                move || this.settings()
            })
            .await?
            .is_none()
            {
                due = Some(tokio::time::Instant::now() + ACCOUNT_CHECK);
                continue;
            }
            due = Some(match self.sync_now().await {
                Ok(_) => {
                    failures = 0;
                    tokio::time::Instant::now() + IDLE_SYNC
                }
                Err(_) => {
                    failures = failures.saturating_add(1);
                    let wait = RETRY_FIRST.saturating_mul(1 << failures.min(4).saturating_sub(1));
                    tokio::time::Instant::now() + wait.min(IDLE_SYNC)
                }
            });
        }
    }
}

/// A stored JSON document, or the default when there is none or it does not parse (it is
/// rewritten by the next sync).
fn parse_or_default<T: serde::de::DeserializeOwned + Default>(json: Option<String>) -> T {
    json.and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn poisoned() -> Error {
    Error::System("the Appcircle client's lock was poisoned".into())
}

//! The CI accounts read by repository, with an access token alone: GitHub Actions
//! ([`crate::accounts::github`]) and GitLab CI ([`crate::accounts::gitlab`]), each behind
//! the one [`RunsApi`] trait. With one, a laptop with no public URL and no inbox sees
//! its builds; a webhook is then the upgrade to instant delivery, not the price of entry.
//!
//! An account is a provider, its API host, its repositories and its token (kept by
//! [`crate::credentials`]). Each is read on the one [`Schedule`] every account keeps, its
//! runs stored as the webhooks for them would have been ([`Store::apply_runs`]): a run told
//! by a webhook and by a read is one event, whichever came first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;
use ts_rs::TS;

use super::runs::{Positions, RunJob, RunRef, RunsApi};
use super::schedule::{ReadOutcome, Schedule};
use super::{SyncReport, SyncStatus, check_host, parse_or_default, to_json};
use crate::accounts::{github, gitlab};
use crate::credentials::{self, Credential, TokenPlace};
use crate::follow::wake::Wake;
use crate::model::{Provider, Scope, Source};
use crate::offload::blocking;
use crate::store::{EventRecord, Notice, RunsRead, Store};
use crate::time::to_text;
use crate::{Error, Result};

/// The settings key of the connected CI accounts (a list of [`Stored`]).
const ACCOUNTS_KEY: &str = "ci_accounts";
/// How often the schedule looks for accounts connected or disconnected by another process
/// (`gatehouse account connect` beside a running `serve`).
const ACCOUNTS_CHECK: Duration = Duration::from_secs(5);
/// Most repositories an account reads: each costs a request per read.
pub const MAX_REPOS: usize = 50;

/// What Settings or `gatehouse account connect --provider github` connect with.
#[derive(Clone, Deserialize, TS)]
#[ts(export)]
pub struct CiConnection {
    pub provider: Provider,
    /// `None`: the provider's hosted service (`https://api.github.com`,
    /// `https://gitlab.com`).
    pub api_host: Option<String>,
    /// GitHub: `OWNER/NAME` each; GitLab: a project's id or its path (`group/project`).
    pub repos: Vec<String>,
    pub token: String,
}

/// Without the token: a `{:?}` anywhere must not print it.
impl std::fmt::Debug for CiConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CiConnection")
            .field("provider", &self.provider)
            .field("api_host", &self.api_host)
            .field("repos", &self.repos)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// A connected account as stored (no token in it).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    provider: Provider,
    api_host: String,
    repos: Vec<String>,
    token_place: TokenPlace,
    /// When it was connected: a kept client of an older connection is not reused.
    connected_at: String,
}

/// A CI account as Settings, the dashboard and `account status` show it.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct CiAccountStatus {
    /// What names it in `account sync|disconnect --account` and the API.
    pub id: String,
    /// What its events carry as their source ("GitHub account").
    pub name: String,
    pub provider: Provider,
    pub api_host: String,
    pub repos: Vec<String>,
    pub token_place: TokenPlace,
    pub sync: SyncStatus,
    pub syncing: bool,
}

impl Stored {
    /// `github https://api.github.com`: one account per provider and host.
    fn id(&self) -> String {
        format!("{} {}", self.provider.as_str(), self.api_host)
    }

    /// "GitHub account", or "GitHub account at ghe.acme.com" for another host.
    fn name(&self) -> String {
        // The company, not the product: the token is GitHub's, for more than Actions.
        let label = match self.provider {
            Provider::Github => "GitHub",
            Provider::Gitlab => "GitLab",
            Provider::Appcircle => "Appcircle",
        };
        if self.api_host == default_host(self.provider) {
            format!("{label} account")
        } else {
            let host = url::Url::parse(&self.api_host)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| self.api_host.clone());
            format!("{label} account at {host}")
        }
    }

    fn positions_key(&self) -> String {
        format!("ci_positions {}", self.id())
    }

    fn status_key(&self) -> String {
        format!("ci_sync {}", self.id())
    }

    fn status(&self, sync: SyncStatus, syncing: bool) -> CiAccountStatus {
        CiAccountStatus {
            id: self.id(),
            name: self.name(),
            provider: self.provider,
            api_host: self.api_host.clone(),
            repos: self.repos.clone(),
            token_place: self.token_place.clone(),
            sync,
            syncing,
        }
    }
}

fn default_host(provider: Provider) -> &'static str {
    match provider {
        Provider::Github => github::API_HOST,
        Provider::Gitlab => gitlab::API_HOST,
        // Not read by repository: refused at connect.
        Provider::Appcircle => "",
    }
}

/// One segment of a repository's or project's path: letters, digits, `-`, `_` and `.`, and
/// not `.` or `..`, so that it goes into a URL path as it is.
fn is_segment(part: &str) -> bool {
    !part.is_empty()
        && part != "."
        && part != ".."
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `OWNER/NAME`, as GitHub names a repository: letters, digits, `-`, `_` and `.`, so that
/// it goes into a URL path as it is.
fn check_repo(repo: &str) -> Result<String> {
    let repo = repo.trim().trim_end_matches(".git").trim_matches('/');
    match repo.split_once('/') {
        Some((owner, name)) if is_segment(owner) && is_segment(name) => Ok(repo.to_owned()),
        _ => Err(Error::Invalid(format!(
            "`{repo}` is not a repository: give it as OWNER/NAME, such as octocat/hello-world"
        ))),
    }
}

/// A GitLab project: its numeric id, or its path (`group/subgroup/project`), each segment
/// letters, digits, `-`, `_` and `.` (the `/` is encoded when it goes into a URL).
fn check_project(project: &str) -> Result<String> {
    let project = project.trim().trim_end_matches(".git").trim_matches('/');
    let id = !project.is_empty() && project.bytes().all(|b| b.is_ascii_digit());
    if id || (project.contains('/') && project.split('/').all(is_segment)) {
        Ok(project.to_owned())
    } else {
        Err(Error::Invalid(format!(
            "`{project}` is not a project: give its id (such as 278964) or its path, such as gitlab-org/gitlab"
        )))
    }
}

/// The API reader of `provider` at `api_host`.
fn api(provider: Provider, api_host: &str, token: String) -> Result<Box<dyn RunsApi>> {
    match provider {
        Provider::Github => Ok(Box::new(github::Client::new(api_host, token))),
        Provider::Gitlab => Ok(Box::new(gitlab::Client::new(api_host, token))),
        Provider::Appcircle => Err(Error::Invalid(
            "Appcircle is read by its own account (`gatehouse account connect`), not by repository"
                .into(),
        )),
    }
}

/// A run's jobs as the detail view shows them, with the account they were read with.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct RunJobs {
    /// "GitHub account": whose token read them.
    pub account: String,
    /// When they were read (an answer is kept for [`JOBS_KEPT`]).
    pub read_at: String,
    pub jobs: Vec<RunJob>,
}

/// How long a run's jobs, once read, answer again without a request: anyone who may read
/// the history may ask, and each read costs the account's token one request.
const JOBS_KEPT: Duration = Duration::from_secs(30);

/// The run an event is of, as its stored payload names it.
struct RunOf {
    run: RunRef,
    /// Where its provider's site is (the run's own link's host, or GitLab's instance).
    site: Option<String>,
    /// GitLab's project path, beside the id the run is asked by.
    path: Option<String>,
}

/// A URL's host, with its port when it names one, lower-cased: what a site is told by.
fn site_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// Which run event `e` is of: read from the stored payload, as its webhook or read gave it.
fn run_of(e: &EventRecord) -> Result<RunOf> {
    let not_a_run = || {
        Error::Invalid(format!(
            "event {} is not a GitHub Actions run or a GitLab pipeline, which have jobs",
            e.id
        ))
    };
    if e.scope != Scope::Build || !matches!(e.provider, Provider::Github | Provider::Gitlab) {
        return Err(not_a_run());
    }
    let payload: serde_json::Value = e
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .ok_or_else(|| {
            Error::NotFound(format!(
                "event {} no longer has its payload, which names its run",
                e.id
            ))
        })?;
    let text = |path: &[&str]| {
        let mut v = &payload;
        for key in path {
            v = v.get(key)?;
        }
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    match e.provider {
        Provider::Github => {
            let run = text(&["workflow_run", "id"]).ok_or_else(not_a_run)?;
            let repo = text(&["workflow_run", "repository", "full_name"])
                .or_else(|| text(&["repository", "full_name"]))
                .ok_or_else(not_a_run)?;
            let attempt = text(&["workflow_run", "run_attempt"]);
            let site = text(&["workflow_run", "html_url"]).and_then(|u| site_of(&u));
            Ok(RunOf {
                run: RunRef { repo, run, attempt },
                site,
                path: None,
            })
        }
        _ => {
            let run = text(&["object_attributes", "id"]).ok_or_else(not_a_run)?;
            let repo = text(&["project", "id"])
                .or_else(|| text(&["project", "path_with_namespace"]))
                .ok_or_else(not_a_run)?;
            // The instance the run key names (the hook's X-Gitlab-Instance, or the API
            // host a read was made with).
            let site = e
                .task_id
                .as_deref()
                .and_then(|t| t.strip_prefix("gitlab:"))
                .and_then(|t| t.rsplit_once('/'))
                .map(|(instance, _)| instance.to_ascii_lowercase());
            Ok(RunOf {
                run: RunRef {
                    repo,
                    run,
                    attempt: None,
                },
                site,
                path: text(&["project", "path_with_namespace"]),
            })
        }
    }
}

impl Stored {
    /// Whether this account follows `run`'s repository (GitLab: by id, or by the path a
    /// hook also carries).
    fn follows(&self, run: &RunRef, path: Option<&str>) -> bool {
        self.repos.iter().any(|r| {
            r.eq_ignore_ascii_case(&run.repo) || path.is_some_and(|p| r.eq_ignore_ascii_case(p))
        })
    }

    /// Whether `site` (the run's site's host, with its port) is this account's: GitHub's
    /// site is github.com and its API api.github.com; elsewhere, one host.
    fn is_on(&self, site: &str) -> bool {
        let host = match site_of(&self.api_host) {
            Some(host) if host == "api.github.com" => "github.com".to_owned(),
            Some(host) => host,
            None => return false,
        };
        host == site
    }
}

/// A reader kept between reads, with the connection (`connected_at`) it was made for.
type KeptClient = (String, Box<dyn RunsApi>);

/// The connected CI accounts and their reads, shared by the API and the schedule.
pub struct CiAccounts {
    store: Arc<Store>,
    /// One read (or connect, or disconnect) at a time: a rate limit is per token, and
    /// GitHub asks for requests one after another.
    one_at_a_time: tokio::sync::Mutex<()>,
    /// The account being read now.
    syncing: Mutex<Option<String>>,
    /// Kept between reads, so the rate limit it saw is honoured, with the connection it
    /// was made for.
    clients: Mutex<HashMap<String, KeptClient>>,
    /// A connection made: the schedule reads the stored accounts again and reads the new one.
    kick: Notify,
    /// Each read's report, with the account's name.
    reports: broadcast::Sender<(String, SyncReport)>,
    /// Jobs read lately, by event, with when ([`JOBS_KEPT`]).
    jobs_read: Mutex<HashMap<i64, (Instant, RunJobs)>>,
}

impl CiAccounts {
    pub fn new(store: Arc<Store>) -> CiAccounts {
        CiAccounts {
            store,
            one_at_a_time: tokio::sync::Mutex::new(()),
            syncing: Mutex::new(None),
            clients: Mutex::new(HashMap::new()),
            kick: Notify::new(),
            reports: broadcast::channel(16).0,
            jobs_read: Mutex::new(HashMap::new()),
        }
    }

    /// Every finished read's report (the desktop turns one into a summary notification).
    pub fn reports(&self) -> broadcast::Receiver<(String, SyncReport)> {
        self.reports.subscribe()
    }

    /// The connected accounts and how their reads go. Blocking (settings reads).
    pub fn list(&self) -> Result<Vec<CiAccountStatus>> {
        let syncing = self.syncing.lock().map_err(|_| poisoned())?.clone();
        stored(&self.store)?
            .iter()
            .map(|a| {
                let sync = parse_or_default(self.store.setting(&a.status_key())?);
                Ok(a.status(sync, syncing.as_deref() == Some(a.id().as_str())))
            })
            .collect()
    }

    /// Checks the token against every repository at once (one run of each), then keeps it
    /// and starts a first read. A refused token or an unknown repository is an error and
    /// nothing is kept. Connecting the same provider and host again replaces that account.
    pub async fn connect(&self, c: CiConnection) -> Result<CiAccountStatus> {
        if c.provider == Provider::Appcircle {
            return Err(Error::Invalid(
                "Appcircle is read by its own account (`gatehouse account connect`), not by repository".into(),
            ));
        }
        let api_host = check_host(c.api_host.as_deref(), default_host(c.provider), "API host")?;
        let mut repos = Vec::new();
        for repo in &c.repos {
            let repo = match c.provider {
                Provider::Gitlab => check_project(repo)?,
                _ => check_repo(repo)?,
            };
            if !repos.contains(&repo) {
                repos.push(repo);
            }
        }
        if repos.is_empty() {
            return Err(Error::Invalid(match c.provider {
                Provider::Gitlab => "name at least one project to read (its id or path)".into(),
                _ => "name at least one repository to read (OWNER/NAME)".into(),
            }));
        }
        if repos.len() > MAX_REPOS {
            return Err(Error::Invalid(format!(
                "{} repositories is more than the {MAX_REPOS} an account reads",
                repos.len()
            )));
        }
        let token = c.token.trim().to_owned();
        if token.is_empty() {
            return Err(Error::Invalid("the access token is empty".into()));
        }
        let mut account = Stored {
            provider: c.provider,
            api_host,
            repos,
            token_place: TokenPlace::Keyring,
            connected_at: to_text(self.store.clock().now()),
        };
        let mut client = api(account.provider, &account.api_host, token.clone())?;
        let now = self.store.clock().now();
        let check = account.repos.clone();
        let client = blocking(move || {
            client.check(&check, now)?;
            Ok(client)
        })
        .await?;
        let _one_at_a_time = self.one_at_a_time.lock().await;
        let id = account.id();
        account.token_place =
            credentials::save(&self.store, Credential::ApiToken(&id), &token).await?;
        let mut accounts = self.stored().await?;
        accounts.retain(|a| a.id() != id);
        accounts.push(account.clone());
        // The same account again is read from the start.
        self.store.delete_setting(&account.positions_key()).await?;
        self.store
            .set_setting(ACCOUNTS_KEY, &to_json(&accounts))
            .await?;
        self.store
            .set_account_status(account.status_key(), to_json(&SyncStatus::default()))
            .await?;
        self.clients
            .lock()
            .map_err(|_| poisoned())?
            .insert(id, (account.connected_at.clone(), client));
        self.kick.notify_one();
        Ok(account.status(SyncStatus::default(), false))
    }

    /// Forgets the account `id` and its token; what was read stays in the history.
    pub async fn disconnect(&self, id: &str) -> Result<()> {
        let _one_at_a_time = self.one_at_a_time.lock().await;
        let mut accounts = self.stored().await?;
        let Some(at) = accounts.iter().position(|a| a.id() == id) else {
            return Err(not_connected(id));
        };
        let account = accounts.remove(at);
        credentials::forget(&self.store, Credential::ApiToken(id)).await?;
        self.store
            .set_setting(ACCOUNTS_KEY, &to_json(&accounts))
            .await?;
        self.store.delete_setting(&account.positions_key()).await?;
        self.clients.lock().map_err(|_| poisoned())?.remove(id);
        // Announced like a status change, so every view drops the account.
        self.store
            .set_account_status(account.status_key(), String::new())
            .await?;
        self.store.delete_setting(&account.status_key()).await
    }

    /// Reads the account `id` now (after the read running, if any). What was read is
    /// stored even when a repository could not be; the read is then still an error, naming
    /// it.
    pub async fn sync_now(&self, id: &str) -> Result<SyncReport> {
        self.sync(id).await.0
    }

    /// The jobs of the run that event `event_id` is of, read now with the token of the
    /// account that follows its repository (a webhook's run as well as a read one). Not
    /// stored: they are the run's detail, asked for when it is looked at.
    pub async fn jobs(&self, event_id: i64) -> Result<RunJobs> {
        {
            let mut kept = self.jobs_read.lock().map_err(|_| poisoned())?;
            kept.retain(|_, (at, _)| at.elapsed() < JOBS_KEPT);
            if let Some((_, jobs)) = kept.get(&event_id) {
                return Ok(jobs.clone());
            }
        }
        let store = self.store.clone();
        let event = blocking(move || store.event(event_id)).await?;
        let RunOf { run, site, path } = run_of(&event)?;
        // Of the accounts that follow the repository, the one on the run's site; the first
        // only when the run names no site. Never another site's: a github.com run and a
        // GitHub Enterprise repository of the same name are two runs.
        let mut following: Vec<Stored> = self
            .stored()
            .await?
            .into_iter()
            .filter(|a| a.provider == event.provider && a.follows(&run, path.as_deref()))
            .collect();
        let on_site = following
            .iter()
            .position(|a| site.as_deref().is_some_and(|s| a.is_on(s)));
        let account = match (on_site, &site) {
            (Some(at), _) => Some(following.swap_remove(at)),
            (None, None) => following.into_iter().next(),
            (None, Some(_)) => None,
        }
            .ok_or_else(|| {
                let (who, what) = match event.provider {
                    Provider::Gitlab => ("GitLab", "project"),
                    _ => ("GitHub", "repository"),
                };
                Error::NotFound(format!(
                    "no {who} account follows the {what} {}: connect one with a token in Settings to see a run's jobs",
                    path.as_deref().unwrap_or(&run.repo)
                ))
            })?;
        let _one_at_a_time = self.one_at_a_time.lock().await;
        let mut client = self.client(&account).await?;
        let now = self.store.clock().now();
        let (jobs, client) = blocking(move || {
            let jobs = client.jobs(&run, now);
            Ok((jobs, client))
        })
        .await?;
        self.clients
            .lock()
            .map_err(|_| poisoned())?
            .insert(account.id(), (account.connected_at.clone(), client));
        let jobs = RunJobs {
            account: account.name(),
            read_at: to_text(self.store.clock().now()),
            jobs: jobs?,
        };
        self.jobs_read
            .lock()
            .map_err(|_| poisoned())?
            .insert(event_id, (Instant::now(), jobs.clone()));
        Ok(jobs)
    }

    /// One read of `id`, and what the schedule needs of it.
    async fn sync(&self, id: &str) -> (Result<SyncReport>, ReadOutcome) {
        let mut outcome = ReadOutcome::default();
        let result = self.sync_inner(id, &mut outcome).await;
        // A read that reached some repositories keeps its pace: one renamed repository must
        // not slow the others' reads to the failure backoff (its error is in the status).
        outcome.ok = result.is_ok() || outcome.ok;
        outcome.changed = result.as_ref().is_ok_and(|r| r.events > 0);
        (result, outcome)
    }

    async fn sync_inner(&self, id: &str, outcome: &mut ReadOutcome) -> Result<SyncReport> {
        let _one_at_a_time = self.one_at_a_time.lock().await;
        let account = self
            .stored()
            .await?
            .into_iter()
            .find(|a| a.id() == id)
            .ok_or_else(|| not_connected(id))?;
        let store = self.store.clone();
        let keys = (account.status_key(), account.positions_key());
        let (mut status, positions, retention): (SyncStatus, Positions, Option<u32>) =
            blocking(move || {
                Ok((
                    parse_or_default(store.setting(&keys.0)?),
                    parse_or_default(store.setting(&keys.1)?),
                    store.settings()?.retention_days,
                ))
            })
            .await?;
        let mut client = self.client(&account).await?;
        let now = self.store.clock().now();
        let repos = account.repos.clone();
        *self.syncing.lock().map_err(|_| poisoned())? = Some(id.to_owned());
        let read = blocking(move || {
            let reading = client.read(&repos, &positions, now);
            Ok((reading, client))
        })
        .await;
        *self.syncing.lock().map_err(|_| poisoned())? = None;
        let (reading, client) = read?;
        let clock_now = self.store.clock().now();
        outcome.hold_until = client
            .held_until(clock_now)
            .map(|until| Instant::now() + (until - clock_now).to_std().unwrap_or(Duration::ZERO));
        self.clients
            .lock()
            .map_err(|_| poisoned())?
            .insert(id.to_owned(), (account.connected_at.clone(), client));
        status.last_attempt = Some(to_text(clock_now));
        let reading = match reading {
            Ok(reading) => reading,
            Err(e) => return Err(self.failed(&account, status, e).await),
        };
        let kept_from = match retention {
            Some(days) => {
                Some(clock_now - crate::settings::check_retention_days(days, "retention")?)
            }
            None => None,
        };
        outcome.running = reading.running;
        outcome.ok = true;
        let partly = (!reading.failed.is_empty()).then(|| {
            let parts: Vec<String> = reading.failed.iter().map(ToString::to_string).collect();
            parts.join("; ")
        });
        status.last_success = Some(to_text(clock_now));
        status.error = partly.clone();
        status.requests = reading.requests;
        let read = RunsRead {
            account: account.name(),
            runs: reading.runs,
            positions_key: account.positions_key(),
            positions: to_json(&reading.positions),
            status_key: account.status_key(),
            kept_from,
        };
        let stored = match self
            .store
            .apply_runs(read, {
                let mut status = status.clone();
                move |stored| {
                    status.events = stored.events;
                    to_json(&status)
                }
            })
            .await
        {
            Ok(stored) => stored,
            Err(e) => return Err(self.failed(&account, status, e).await),
        };
        let report = SyncReport {
            events: stored.events,
            event_ids: stored.event_ids,
            known: stored.known,
            requests: reading.requests,
        };
        tracing::info!(
            "{} sync: {} new events, {} known, {} requests ({} unchanged)",
            account.provider.as_str(),
            report.events,
            report.known,
            report.requests,
            reading.unchanged
        );
        let _ = self.reports.send((account.name(), report.clone()));
        match partly {
            None => Ok(report),
            Some(parts) => Err(Error::Upstream(format!(
                "{} new events stored, but part of the account could not be read: {parts}",
                report.events
            ))),
        }
    }

    /// The kept client of this connection, or a new one from the kept token.
    async fn client(&self, account: &Stored) -> Result<Box<dyn RunsApi>> {
        let kept = self
            .clients
            .lock()
            .map_err(|_| poisoned())?
            .remove(&account.id())
            .filter(|(connection, _)| *connection == account.connected_at);
        if let Some((_, client)) = kept {
            return Ok(client);
        }
        let id = account.id();
        let token = credentials::load(&self.store, Credential::ApiToken(&id))
            .await?
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "the token of the {} is not in the keyring or the database: connect it again",
                    account.name()
                ))
            })?
            .secret;
        api(account.provider, &account.api_host, token)
    }

    /// Keeps a failed read's reason in its status (best effort) and gives the error back.
    async fn failed(&self, account: &Stored, mut status: SyncStatus, e: Error) -> Error {
        tracing::warn!("{} sync failed: {e}", account.provider.as_str());
        status.error = Some(e.to_string());
        if let Err(stored) = self
            .store
            .set_account_status(account.status_key(), to_json(&status))
            .await
        {
            tracing::error!("cannot store the failed read's status: {stored}");
        }
        e
    }

    async fn stored(&self) -> Result<Vec<Stored>> {
        let store = self.store.clone();
        blocking(move || stored(&store)).await
    }

    /// The schedule, until the store closes: each account read at start, when
    /// [`CiAccounts::connect`] asks or another process connected one (looked for every
    /// [`ACCOUNTS_CHECK`]), on wake or a network change, and as its [`Schedule`] says after
    /// reads and its provider's webhooks.
    pub async fn run(self: Arc<Self>) -> Result<()> {
        let mut notices = self.store.subscribe();
        let mut wake = Wake::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut check = tokio::time::interval(ACCOUNTS_CHECK);
        // After a long read, one tick, not a burst of the ones missed.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // Per account: its provider, its repositories, its connection, its schedule.
        let mut schedules: HashMap<String, (Provider, Vec<String>, Schedule)> = HashMap::new();
        let mut connected: HashMap<String, String> = HashMap::new();
        // The stored accounts are read again only when they may have changed (at start, on a
        // kick, a settings change, or the periodic check), not on every webhook's notice.
        let mut refresh = true;
        loop {
            if refresh {
                // Which accounts are connected, each with its schedule (a new one due at once).
                let accounts = self.stored().await?;
                schedules.retain(|id, _| {
                    accounts
                        .iter()
                        .any(|a| a.id() == *id && connected.get(id) == Some(&a.connected_at))
                });
                for a in &accounts {
                    connected.insert(a.id(), a.connected_at.clone());
                    schedules
                        .entry(a.id())
                        .or_insert_with(|| (a.provider, a.repos.clone(), Schedule::default()));
                }
                refresh = false;
            }
            let now = Instant::now();
            let due: Vec<String> = schedules
                .iter()
                .filter(|(_, (_, _, s))| s.is_due(now))
                .map(|(id, _)| id.clone())
                .collect();
            for id in due {
                let (_, outcome) = self.sync(&id).await;
                if let Some((_, _, schedule)) = schedules.get_mut(&id) {
                    schedule.read(outcome, Instant::now());
                }
            }
            let next = schedules.values().filter_map(|(_, _, s)| s.due()).min();
            let sleep = next.map_or(ACCOUNTS_CHECK, |n| {
                n.saturating_duration_since(Instant::now())
                    .min(ACCOUNTS_CHECK)
            });
            tokio::select! {
                // A connection: the refresh gives the new account (or the same one
                // connected anew) a schedule due at once; the others keep their pace.
                () = self.kick.notified() => refresh = true,
                () = tokio::time::sleep(sleep) => {}
                _ = tick.tick() => {
                    if let Some(moved) = wake.check() {
                        tracing::info!("ci accounts: {}", moved.describe());
                        for (_, _, s) in schedules.values_mut() {
                            s.now(Instant::now());
                        }
                    }
                }
                _ = check.tick() => refresh = true,
                received = notices.recv() => match received {
                    Ok(Notice::Event { event, .. })
                        if event.source == Source::Live && event.scope == Scope::Build =>
                    {
                        let name = event.profile_name.as_deref().unwrap_or_default();
                        for (provider, repos, s) in schedules.values_mut() {
                            if *provider == event.provider && tells_of(repos, name) {
                                s.webhook(Instant::now());
                            }
                        }
                    }
                    // A connect or disconnect here (or what a read stored) is a settings
                    // change; a lagged receiver may have missed one.
                    Ok(Notice::Settings { .. }) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        refresh = true;
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
            }
        }
    }
}

/// Whether a webhook's run of `name` ("acme/app · CI", "group/project") is one of `repos`'
/// (a GitLab project given by id matches every pipeline hook of its provider).
fn tells_of(repos: &[String], name: &str) -> bool {
    repos.iter().any(|r| {
        r.bytes().all(|b| b.is_ascii_digit())
            || name == r
            || name
                .strip_prefix(r.as_str())
                .is_some_and(|rest| rest.starts_with(" · "))
    })
}

/// The connected accounts; a stored list that does not parse (written by another version)
/// is logged and taken as none: connecting again replaces it. Blocking.
fn stored(store: &Store) -> Result<Vec<Stored>> {
    let Some(json) = store.setting(ACCOUNTS_KEY)? else {
        return Ok(Vec::new());
    };
    match crate::json::read(&json) {
        Ok(accounts) => Ok(accounts),
        Err(e) => {
            tracing::error!("the stored CI accounts do not parse ({e}); connect them again");
            Ok(Vec::new())
        }
    }
}

fn not_connected(id: &str) -> Error {
    Error::NotFound(format!(
        "no account `{id}` is connected (`gatehouse account status` lists them)"
    ))
}

fn poisoned() -> Error {
    Error::System("the CI accounts' lock was poisoned".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_owner_slash_name() {
        assert_eq!(
            check_repo(" acme/app.git ").ok().as_deref(),
            Some("acme/app")
        );
        assert_eq!(
            check_repo("acme/my_app-2.x").ok().as_deref(),
            Some("acme/my_app-2.x")
        );
        for bad in [
            "acme",
            "acme/app/extra",
            "../etc",
            "acme/..",
            "a b/c",
            "acme/app?x=1",
        ] {
            let err = check_repo(bad).expect_err(bad);
            assert!(err.to_string().contains("OWNER/NAME"), "{err}");
        }
    }

    #[test]
    fn only_webhooks_of_the_account_s_repositories_slow_its_reads() {
        let repos = ["acme/app".to_owned()];
        assert!(tells_of(&repos, "acme/app · CI"));
        assert!(tells_of(&repos, "acme/app"));
        assert!(!tells_of(&repos, "acme/app-2 · CI"));
        assert!(!tells_of(&repos, "other/repo · CI"));
        assert!(tells_of(&["278964".to_owned()], "group/project"));
    }

    #[test]
    fn a_connection_never_prints_its_token() {
        let c = CiConnection {
            provider: Provider::Github,
            api_host: None,
            repos: vec!["acme/app".into()],
            token: "ghp_secret123".into(),
        };
        let text = format!("{c:?}");
        assert!(!text.contains("ghp_secret") && text.contains("[redacted]"));
    }

    #[test]
    fn an_account_is_named_by_its_provider_and_host() {
        let mut a = Stored {
            provider: Provider::Github,
            api_host: github::API_HOST.into(),
            repos: vec![],
            token_place: TokenPlace::Keyring,
            connected_at: String::new(),
        };
        assert_eq!(a.name(), "GitHub account");
        assert_eq!(a.id(), "github https://api.github.com");
        a.api_host = "https://ghe.acme.com/api/v3".into();
        assert_eq!(a.name(), "GitHub account at ghe.acme.com");
    }

    /// A reader whose every read reaches the first repository and not the second (one
    /// renamed, say), with a run running: the provider's side is not what is tested here
    /// (tests/github.rs reads a moved repository over HTTP), only the pace that follows.
    struct HalfReached;

    impl RunsApi for HalfReached {
        fn check(&mut self, _: &[String], _: chrono::DateTime<chrono::Utc>) -> Result<()> {
            Ok(())
        }
        fn read(
            &mut self,
            repos: &[String],
            positions: &Positions,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<super::super::runs::Reading> {
            Ok(super::super::runs::Reading {
                positions: positions.clone(),
                requests: repos.len() as u64,
                running: true,
                failed: vec![Error::Upstream(format!("{} moved", repos[1]))],
                ..Default::default()
            })
        }
        fn held_until(
            &self,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Option<chrono::DateTime<chrono::Utc>> {
            None
        }
        fn jobs(&mut self, _: &RunRef, _: chrono::DateTime<chrono::Utc>) -> Result<Vec<RunJob>> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn a_read_that_reached_some_repositories_keeps_the_fast_pace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open_dir(dir.path()).expect("store"));
        let ci = CiAccounts::new(store.clone());
        let account = Stored {
            provider: Provider::Github,
            api_host: github::API_HOST.into(),
            repos: vec!["acme/app".into(), "acme/gone".into()],
            token_place: TokenPlace::Keyring,
            connected_at: "now".into(),
        };
        store
            .set_setting(ACCOUNTS_KEY, &to_json(&vec![account.clone()]))
            .await
            .expect("stored");
        ci.clients.lock().expect("lock").insert(
            account.id(),
            (account.connected_at.clone(), Box::new(HalfReached)),
        );
        let (result, outcome) = ci.sync(&account.id()).await;
        let err = result.expect_err("part could not be read");
        assert!(err.to_string().contains("acme/gone moved"), "{err}");
        assert!(outcome.ok && outcome.running, "{outcome:?}");
        let mut schedule = Schedule::default();
        let now = Instant::now();
        schedule.read(outcome, now);
        assert_eq!(
            schedule.due(),
            Some(now + super::super::schedule::RUNNING),
            "read again in 15 s, not after the failure backoff"
        );
        let status = &ci.list().expect("list")[0].sync;
        assert!(
            status
                .error
                .as_deref()
                .is_some_and(|e| e.contains("acme/gone"))
        );
    }
}

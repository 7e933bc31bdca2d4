//! The one API the front end uses, declared once. The desktop shell serves it through a
//! single `rpc` Tauri command; the same [`Api::call`] could be mounted on an HTTP route for
//! a browser. Request and response types are exported to TypeScript (ui/src/bindings).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::accounts::ci::{CiAccountStatus, CiAccounts, CiConnection, RunJobs};
use crate::accounts::{AccountStatus, AccountSync, Connection, SyncReport};
use crate::credentials::TokenPlace;
use crate::error::ErrorKind;
use crate::follow::mirror::InboxStatus;
use crate::model::Provider;
use crate::offload::blocking;
use crate::receive::endpoint::generate_secret;
use crate::receive::listener::ListenerStatus;
use crate::rules::checks::{self, CommitChecks};
use crate::rules::gate::{self, Gate, GateFilter};
use crate::send::samples::{self, SampleOptions};
use crate::send::{self, SendOutcome};
use crate::serve::token::Role;
use crate::settings::Settings;
use crate::store::{
    BuildRun, CommitFilter, EndpointInfo, EventQuery, EventRecord, Recorded, RequestQuery,
    RequestRecord, Secret, Store, UnmatchedCount,
};
use crate::{Error, Result};

/// Everything the front end can ask for.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
#[ts(export)]
pub enum ApiRequest {
    Overview,
    Events {
        query: EventQuery,
    },
    Event {
        id: i64,
    },
    Requests {
        query: RequestQuery,
    },
    Request {
        id: i64,
    },
    Endpoints,
    CreateEndpoint {
        name: String,
        secret: Option<String>,
        /// Who will send to it; `None`: Appcircle.
        #[serde(default)]
        #[ts(optional)]
        provider: Option<Provider>,
    },
    RenameEndpoint {
        name: String,
        new_name: String,
    },
    DeleteEndpoint {
        name: String,
    },
    /// Reveals an endpoint's active secrets (oldest first).
    Secrets {
        name: String,
    },
    /// Adds a generated secret beside the current one.
    RotateSecret {
        name: String,
    },
    RetireSecret {
        name: String,
    },
    AcceptRequest {
        id: i64,
    },
    ReplayRequest {
        id: i64,
    },
    /// Signs a sample of the endpoint's provider with its newest secret (or, for GitLab, sends
    /// it as the token) and posts it to the running listener.
    SendTest {
        endpoint: String,
        sample: String,
    },
    BuildRuns {
        profile_key: String,
        branch_key: Option<String>,
    },
    /// The gate, narrowed to a profile and/or branch (`gatehouse status --remote`).
    Gate {
        filter: GateFilter,
    },
    Settings,
    SaveSettings {
        settings: Settings,
    },
    /// The events `query` matches as CSV (the History view's export): at most
    /// [`EXPORT_ROWS`], oldest first; `gatehouse export` streams any number.
    ExportEvents {
        query: EventQuery,
    },
    /// Keeps the token the desktop follows the inbox at `url` with (the OS keyring when
    /// there is one); `None` forgets it. A token is kept for its URL only.
    SaveInboxToken {
        url: String,
        token: Option<String>,
    },
    /// Checks an Appcircle key at once, keeps it (the OS keyring when there is one) and
    /// starts a first sync.
    ConnectAccount {
        connection: Connection,
    },
    /// Forgets the Appcircle account and its key (what was synced stays).
    DisconnectAccount,
    /// Reads the Appcircle account now.
    SyncAccount,
    /// Checks a GitHub token on each repository at once, keeps it (the OS keyring when
    /// there is one) and starts a first read. The same provider and host again replaces
    /// that account.
    ConnectCiAccount {
        connection: CiConnection,
    },
    /// Forgets the CI account `id` and its token (what was read stays).
    DisconnectCiAccount {
        id: String,
    },
    /// Reads the CI account `id` now.
    SyncCiAccount {
        id: String,
    },
    /// The jobs of the GitHub run or GitLab pipeline that event `event_id` is of, read now
    /// with the token of the CI account that follows its repository.
    RunJobs {
        event_id: i64,
    },
    /// A commit's checks across every provider: `commit` is its SHA or a prefix of 7 or
    /// more hex digits that only one commit starts with (`gatehouse checks`, `status
    /// --commit`).
    CommitChecks {
        commit: String,
    },
    /// The newest commits with their checks, on `branch` and of `repository` (a GitHub or
    /// GitLab repository, or an Appcircle profile's name) if given (the Commits view).
    Commits {
        #[serde(default)]
        #[ts(optional)]
        branch: Option<String>,
        #[serde(default)]
        #[ts(optional)]
        repository: Option<String>,
        #[serde(default)]
        #[ts(optional)]
        limit: Option<u32>,
    },
}

/// Commits the Commits view lists unless asked for fewer.
pub const COMMITS_SHOWN: u32 = 30;
/// The most commits one request lists (each is read with its checks).
pub const MAX_COMMITS: u32 = 100;

impl ApiRequest {
    /// Reads a request. The window's `rpc` and the inbox's HTTP both read it through here,
    /// from a [`serde_json::Value`]: the request's deserializer is large (one arm per
    /// method) and each JSON source would otherwise get a copy of its own in the binary
    /// (about 60 KB each).
    pub fn from_json(
        value: serde_json::Value,
    ) -> std::result::Result<ApiRequest, serde_json::Error> {
        serde_json::from_value(value)
    }

    /// Its name on the wire (for logs: never the parameters, which may hold secrets).
    pub fn method(&self) -> &'static str {
        match self {
            ApiRequest::Overview => "overview",
            ApiRequest::Events { .. } => "events",
            ApiRequest::Event { .. } => "event",
            ApiRequest::Requests { .. } => "requests",
            ApiRequest::Request { .. } => "request",
            ApiRequest::Endpoints => "endpoints",
            ApiRequest::CreateEndpoint { .. } => "create_endpoint",
            ApiRequest::RenameEndpoint { .. } => "rename_endpoint",
            ApiRequest::DeleteEndpoint { .. } => "delete_endpoint",
            ApiRequest::Secrets { .. } => "secrets",
            ApiRequest::RotateSecret { .. } => "rotate_secret",
            ApiRequest::RetireSecret { .. } => "retire_secret",
            ApiRequest::AcceptRequest { .. } => "accept_request",
            ApiRequest::ReplayRequest { .. } => "replay_request",
            ApiRequest::SendTest { .. } => "send_test",
            ApiRequest::BuildRuns { .. } => "build_runs",
            ApiRequest::Gate { .. } => "gate",
            ApiRequest::Settings => "settings",
            ApiRequest::SaveSettings { .. } => "save_settings",
            ApiRequest::SaveInboxToken { .. } => "save_inbox_token",
            ApiRequest::ExportEvents { .. } => "export_events",
            ApiRequest::ConnectAccount { .. } => "connect_account",
            ApiRequest::DisconnectAccount => "disconnect_account",
            ApiRequest::SyncAccount => "sync_account",
            ApiRequest::ConnectCiAccount { .. } => "connect_ci_account",
            ApiRequest::DisconnectCiAccount { .. } => "disconnect_ci_account",
            ApiRequest::SyncCiAccount { .. } => "sync_ci_account",
            ApiRequest::RunJobs { .. } => "run_jobs",
            ApiRequest::CommitChecks { .. } => "commit_checks",
            ApiRequest::Commits { .. } => "commits",
        }
    }

    /// The least role that may make this request: reading history and the gate is `read`;
    /// anything that changes the inbox, reveals secrets or sends is `admin`. (The window
    /// is the machine's own user and calls everything.)
    pub fn role(&self) -> Role {
        match self {
            ApiRequest::Overview
            | ApiRequest::Events { .. }
            | ApiRequest::Event { .. }
            | ApiRequest::Requests { .. }
            | ApiRequest::Request { .. }
            | ApiRequest::Endpoints
            | ApiRequest::BuildRuns { .. }
            | ApiRequest::Gate { .. }
            | ApiRequest::ExportEvents { .. }
            // A reader of the history may see a run's jobs: the request costs the account's
            // token one call, and shows nothing of the token.
            | ApiRequest::RunJobs { .. }
            | ApiRequest::CommitChecks { .. }
            | ApiRequest::Commits { .. } => Role::Read,
            ApiRequest::CreateEndpoint { .. }
            | ApiRequest::RenameEndpoint { .. }
            | ApiRequest::DeleteEndpoint { .. }
            | ApiRequest::Secrets { .. }
            | ApiRequest::RotateSecret { .. }
            | ApiRequest::RetireSecret { .. }
            | ApiRequest::AcceptRequest { .. }
            | ApiRequest::ReplayRequest { .. }
            | ApiRequest::SendTest { .. }
            | ApiRequest::Settings
            | ApiRequest::SaveSettings { .. }
            | ApiRequest::SaveInboxToken { .. }
            | ApiRequest::ConnectAccount { .. }
            | ApiRequest::DisconnectAccount
            | ApiRequest::SyncAccount
            | ApiRequest::ConnectCiAccount { .. }
            | ApiRequest::DisconnectCiAccount { .. }
            | ApiRequest::SyncCiAccount { .. } => Role::Admin,
        }
    }
}

/// The answer to each [`ApiRequest`], tagged with the same method name.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "method", content = "result", rename_all = "snake_case")]
#[ts(export)]
pub enum ApiResponse {
    Overview(Box<Overview>),
    Events(EventPage),
    Event(Box<EventRecord>),
    Requests(Vec<RequestRecord>),
    Request(Box<RequestRecord>),
    Endpoints(EndpointList),
    CreateEndpoint(CreatedEndpoint),
    RenameEndpoint(EndpointInfo),
    DeleteEndpoint(Done),
    Secrets(Vec<Secret>),
    RotateSecret(Secret),
    RetireSecret(Done),
    AcceptRequest(Recorded),
    ReplayRequest(Recorded),
    SendTest(SendOutcome),
    BuildRuns(Vec<BuildRun>),
    Gate(Box<Gate>),
    Settings(Settings),
    SaveSettings(Settings),
    /// Where the token is kept now; `None` once forgotten.
    SaveInboxToken(Option<TokenPlace>),
    ExportEvents(CsvExport),
    ConnectAccount(AccountStatus),
    DisconnectAccount(Done),
    SyncAccount(SyncReport),
    ConnectCiAccount(CiAccountStatus),
    DisconnectCiAccount(Done),
    SyncCiAccount(SyncReport),
    RunJobs(RunJobs),
    CommitChecks(Box<CommitChecks>),
    Commits(Vec<CommitChecks>),
}

/// The most rows the History view exports at once.
pub const EXPORT_ROWS: u32 = 100_000;

/// An export as text.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct CsvExport {
    pub csv: String,
    pub rows: u64,
    /// [`EXPORT_ROWS`] were reached: more match (`gatehouse export` gives them all).
    pub capped: bool,
}

/// An empty success.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct Done {
    pub ok: bool,
}

/// What the dashboard shows at a glance.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct Overview {
    pub gate: Gate,
    /// Whether deliveries can arrive: where the listener runs, or why it does not.
    pub listener: ListenerStatus,
    /// The inbox this desktop follows and how that goes; `None` when it follows none.
    pub inbox: Option<InboxStatus>,
    /// The Appcircle account read by the sync, and when it was last read; `None` when none
    /// is connected.
    pub account: Option<AccountStatus>,
    /// The CI accounts read by repository (GitHub), and how their reads go.
    pub ci_accounts: Vec<CiAccountStatus>,
    pub endpoints: Vec<EndpointInfo>,
    /// Expiry reminders of the last 30 days, newest first.
    pub expiring: Vec<EventRecord>,
    pub unmatched: Vec<UnmatchedCount>,
    pub total_events: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct EventPage {
    pub events: Vec<EventRecord>,
    /// How many match the filters in all, as far as counting went.
    pub total: u64,
    /// Counting stopped at `total` (filtered counts stop at 2,000 or the end of the page):
    /// at least that many match.
    pub total_capped: bool,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct EndpointList {
    /// `http://ADDR` while the listener runs; `None` when nothing listens.
    pub base_url: Option<String>,
    pub endpoints: Vec<EndpointInfo>,
    /// The test deliveries each provider's endpoints can be sent.
    pub samples: Vec<ProviderSamples>,
}

/// A provider's sample deliveries, by name.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ProviderSamples {
    pub provider: Provider,
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct CreatedEndpoint {
    pub endpoint: EndpointInfo,
    /// The payload URL, while the listener runs.
    pub url: Option<String>,
    pub secret: String,
}

/// An error as the front end receives it.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// What the API needs from whoever hosts it (the desktop shell, later an HTTP server).
pub trait Host: Send + Sync + 'static {
    /// Whether the listener runs, where, or why not.
    fn listener(&self) -> ListenerStatus;
    /// Puts saved settings into effect (restarting the listener when its address or
    /// limits changed); an error leaves the old ones running and is shown to the user.
    fn apply_settings(&self, settings: Settings) -> impl Future<Output = Result<()>> + Send;
    /// The inbox this host follows, if any (only a desktop follows one).
    fn inbox(&self) -> Option<InboxStatus> {
        None
    }
    /// Keeps (or with `None` forgets) the token for the inbox at `url`, and reconnects with
    /// it when that is the inbox followed.
    fn save_inbox_token(
        &self,
        url: String,
        token: Option<String>,
    ) -> impl Future<Output = Result<Option<TokenPlace>>> + Send {
        let _ = (url, token);
        async {
            Err(Error::Conflict(
                "only the desktop app follows an inbox; this one does not keep a token".into(),
            ))
        }
    }
}

/// The handlers, over a store and a host.
pub struct Api<H> {
    store: Arc<Store>,
    host: H,
    /// The Appcircle account; whoever hosts the API runs its schedule ([`AccountSync::run`]).
    account: Arc<AccountSync>,
    /// The CI accounts; whoever hosts the API runs their schedule ([`CiAccounts::run`]).
    ci_accounts: Arc<CiAccounts>,
    /// Saves run one at a time from applying to storing, so the settings stored are the
    /// ones in effect (two saves at once could otherwise apply A, B and store B, A).
    saving: tokio::sync::Mutex<()>,
}

impl<H: Host> Api<H> {
    pub fn new(store: Arc<Store>, host: H) -> Self {
        Api {
            account: Arc::new(AccountSync::new(store.clone())),
            ci_accounts: Arc::new(CiAccounts::new(store.clone())),
            store,
            host,
            saving: tokio::sync::Mutex::new(()),
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn host(&self) -> &H {
        &self.host
    }

    pub fn account(&self) -> &Arc<AccountSync> {
        &self.account
    }

    pub fn ci_accounts(&self) -> &Arc<CiAccounts> {
        &self.ci_accounts
    }

    /// `http://ADDR` while the listener runs; never an address nothing answers on.
    fn base_url(&self) -> Option<String> {
        self.host.listener().base_url
    }

    /// Answers one request made with a token of `role`: refused when the role does not
    /// allow it; for a read token, the body of a request that failed verification (anyone's
    /// bytes) is left out.
    pub async fn call_as(&self, role: Role, request: ApiRequest) -> Result<ApiResponse> {
        let needed = request.role();
        if !role.allows(needed) {
            return Err(Error::Forbidden(format!(
                "a {} token cannot call `{}`; it needs an {} token",
                role.as_str(),
                request.method(),
                needed.as_str()
            )));
        }
        let mut response = self.call(request).await?;
        if role == Role::Read
            && let ApiResponse::Request(request) = &mut response
            && !request.verdict.is_verified()
        {
            request.body = None;
        }
        Ok(response)
    }

    /// Answers one request (the window's: its user may do everything).
    pub async fn call(&self, request: ApiRequest) -> Result<ApiResponse> {
        let store = self.store.clone();
        Ok(match request {
            ApiRequest::Overview => {
                let (listener, inbox) = (self.host.listener(), self.host.inbox());
                let (account, ci) = (self.account.clone(), self.ci_accounts.clone());
                ApiResponse::Overview(Box::new(
                    blocking(move || {
                        overview(&store, listener, inbox, account.status()?, ci.list()?)
                    })
                    .await?,
                ))
            }
            ApiRequest::Events { query } => ApiResponse::Events(
                blocking(move || {
                    let count = store.count_events(&query)?;
                    Ok(EventPage {
                        events: store.events(&query)?,
                        total: count.total,
                        total_capped: count.capped,
                    })
                })
                .await?,
            ),
            ApiRequest::Event { id } => {
                ApiResponse::Event(Box::new(blocking(move || store.event(id)).await?))
            }
            ApiRequest::Requests { query } => {
                ApiResponse::Requests(blocking(move || store.requests(&query)).await?)
            }
            ApiRequest::Request { id } => {
                ApiResponse::Request(Box::new(blocking(move || store.request(id)).await?))
            }
            ApiRequest::Endpoints => ApiResponse::Endpoints(EndpointList {
                base_url: self.base_url(),
                endpoints: blocking(move || store.endpoints()).await?,
                samples: Provider::ALL
                    .into_iter()
                    .map(|provider| ProviderSamples {
                        provider,
                        names: samples::names(provider)
                            .into_iter()
                            .map(str::to_owned)
                            .collect(),
                    })
                    .collect(),
            }),
            ApiRequest::CreateEndpoint {
                name,
                secret,
                provider,
            } => {
                let secret = match secret.filter(|s| !s.is_empty()) {
                    Some(s) => s,
                    None => generate_secret()?,
                };
                let provider = provider.unwrap_or_default();
                let endpoint = self
                    .store
                    .add_endpoint_for(provider, &name, &secret)
                    .await?;
                ApiResponse::CreateEndpoint(CreatedEndpoint {
                    url: self
                        .base_url()
                        .map(|base| format!("{base}/hooks/{}", endpoint.name)),
                    endpoint,
                    secret,
                })
            }
            ApiRequest::RenameEndpoint { name, new_name } => {
                ApiResponse::RenameEndpoint(self.store.rename_endpoint(&name, &new_name).await?)
            }
            ApiRequest::DeleteEndpoint { name } => {
                self.store.remove_endpoint(&name).await?;
                ApiResponse::DeleteEndpoint(Done { ok: true })
            }
            ApiRequest::Secrets { name } => ApiResponse::Secrets(secrets(&store, name).await?),
            ApiRequest::RotateSecret { name } => {
                let secret = generate_secret()?;
                self.store.add_secret(&name, &secret).await?;
                let newest = secrets(&store, name).await?.pop();
                ApiResponse::RotateSecret(newest.ok_or_else(|| {
                    Error::StoreUnavailable("the new secret was not found after saving".into())
                })?)
            }
            ApiRequest::RetireSecret { name } => {
                self.store.retire_secret(&name).await?;
                ApiResponse::RetireSecret(Done { ok: true })
            }
            ApiRequest::AcceptRequest { id } => {
                ApiResponse::AcceptRequest(self.store.accept_stale(id).await?)
            }
            ApiRequest::ReplayRequest { id } => {
                ApiResponse::ReplayRequest(self.store.replay(id).await?)
            }
            ApiRequest::SendTest { endpoint, sample } => {
                let provider = {
                    let (store, name) = (store.clone(), endpoint.clone());
                    blocking(move || store.endpoint(&name)).await?.provider
                };
                let options = SampleOptions {
                    timestamp: Some(store.clock().now()),
                    ..Default::default()
                };
                let outgoing = samples::outgoing(provider, &sample, &options)?;
                let secret = secrets(&store, endpoint.clone())
                    .await?
                    .pop()
                    .ok_or_else(|| {
                        Error::Conflict(format!("endpoint `{endpoint}` has no secret"))
                    })?;
                let listener = self.host.listener();
                let base = listener.base_url.ok_or_else(|| {
                    Error::Conflict(format!(
                        "the listener is not running on {}: {}",
                        listener.address,
                        listener.error.unwrap_or_default()
                    ))
                })?;
                let url = format!("{base}/hooks/{endpoint}");
                ApiResponse::SendTest(
                    blocking(move || send::deliver_as(provider, &url, &secret.secret, &outgoing))
                        .await?,
                )
            }
            ApiRequest::BuildRuns {
                profile_key,
                branch_key,
            } => ApiResponse::BuildRuns(
                blocking(move || store.build_runs(&profile_key, branch_key.as_deref(), 200))
                    .await?,
            ),
            ApiRequest::Gate { filter } => ApiResponse::Gate(Box::new(
                blocking(move || Ok(gate::evaluate(store.streams()?, &filter))).await?,
            )),
            ApiRequest::ExportEvents { query } => ApiResponse::ExportEvents(
                blocking(move || {
                    use crate::export::{EVENT_COLUMNS, csv_header, csv_line, event_row};
                    let query = EventQuery {
                        limit: Some(EXPORT_ROWS),
                        offset: None,
                        ..query
                    };
                    let mut csv = csv_header(&EVENT_COLUMNS);
                    let rows = store.export_events(&query, |e| {
                        csv.push_str(&csv_line(&event_row(e)));
                        Ok(())
                    })?;
                    Ok(CsvExport {
                        csv,
                        rows,
                        capped: rows >= u64::from(EXPORT_ROWS),
                    })
                })
                .await?,
            ),
            ApiRequest::Settings => {
                ApiResponse::Settings(blocking(move || store.settings()).await?)
            }
            ApiRequest::SaveInboxToken { url, token } => {
                let url = crate::settings::check_inbox_url(&url)?;
                // Under the settings' lock: the inbox followed is the one stored.
                let _one_at_a_time = self.saving.lock().await;
                ApiResponse::SaveInboxToken(self.host.save_inbox_token(url, token).await?)
            }
            ApiRequest::ConnectAccount { connection } => {
                ApiResponse::ConnectAccount(self.account.connect(connection).await?)
            }
            ApiRequest::DisconnectAccount => {
                self.account.disconnect().await?;
                ApiResponse::DisconnectAccount(Done { ok: true })
            }
            ApiRequest::SyncAccount => ApiResponse::SyncAccount(self.account.sync_now().await?),
            ApiRequest::ConnectCiAccount { connection } => {
                ApiResponse::ConnectCiAccount(self.ci_accounts.connect(connection).await?)
            }
            ApiRequest::DisconnectCiAccount { id } => {
                self.ci_accounts.disconnect(&id).await?;
                ApiResponse::DisconnectCiAccount(Done { ok: true })
            }
            ApiRequest::SyncCiAccount { id } => {
                ApiResponse::SyncCiAccount(self.ci_accounts.sync_now(&id).await?)
            }
            ApiRequest::RunJobs { event_id } => {
                ApiResponse::RunJobs(self.ci_accounts.jobs(event_id).await?)
            }
            ApiRequest::CommitChecks { commit } => ApiResponse::CommitChecks(Box::new(
                blocking(move || checks::for_commit(&store, &commit)).await?,
            )),
            ApiRequest::Commits {
                branch,
                repository,
                limit,
            } => {
                let limit = limit.unwrap_or(COMMITS_SHOWN).clamp(1, MAX_COMMITS) as usize;
                let given =
                    |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
                let (branch, repository) = (given(branch), given(repository));
                ApiResponse::Commits(
                    blocking(move || {
                        let filter = CommitFilter {
                            branch: branch.as_deref(),
                            repository: repository.as_deref(),
                        };
                        checks::recent(&store, filter, limit)
                    })
                    .await?,
                )
            }
            ApiRequest::SaveSettings { settings } => {
                let settings = settings.normalized()?;
                let _one_at_a_time = self.saving.lock().await;
                self.host.apply_settings(settings.clone()).await?;
                self.store.save_settings(&settings).await?;
                ApiResponse::SaveSettings(settings)
            }
        })
    }
}

async fn secrets(store: &Arc<Store>, name: String) -> Result<Vec<Secret>> {
    let store = store.clone();
    blocking(move || {
        store
            .endpoint_secrets(&name)?
            .map(|(_, s)| s)
            .ok_or_else(|| Error::NotFound(format!("no endpoint named `{name}`")))
    })
    .await
}

fn overview(
    store: &Store,
    listener: ListenerStatus,
    inbox: Option<InboxStatus>,
    account: Option<AccountStatus>,
    ci_accounts: Vec<CiAccountStatus>,
) -> Result<Overview> {
    let gate = gate::evaluate(store.streams()?, &GateFilter::default());
    let since = crate::time::to_text(store.clock().now() - chrono::Duration::days(30));
    let expiring = store
        .events(&EventQuery {
            scope: Some(crate::model::Scope::SigningIdentity),
            since: Some(since),
            limit: Some(200),
            ..Default::default()
        })?
        .into_iter()
        .filter(|e| e.expiring)
        .collect();
    Ok(Overview {
        gate,
        listener,
        inbox,
        account,
        ci_accounts,
        endpoints: store.endpoints()?,
        expiring,
        unmatched: store.unmatched()?,
        total_events: store.count_events(&EventQuery::default())?.total,
    })
}

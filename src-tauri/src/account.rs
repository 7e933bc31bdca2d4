//! `gatehouse account`: connect an Appcircle account, or a GitHub or GitLab account (a token
//! and its repositories or projects), sync it once, show how its syncs go, disconnect it. A running `serve` or
//! app syncs on its own schedule ([`gatehouse_core::accounts`]); these commands work on the
//! same database beside it. `--provider` says which account (Appcircle's by default).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use gatehouse_core::accounts::ci::{CiAccountStatus, CiAccounts, CiConnection};
use gatehouse_core::accounts::{AccountKey, AccountStatus, AccountSync, Connection, SyncReport};
use gatehouse_core::credentials::TokenPlace;
use gatehouse_core::model::Provider;
use gatehouse_core::store::Store;

use crate::error::{AppError, Result};
use crate::{exit, print};

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Connect an Appcircle account (the key is checked at once, then kept in the OS keyring,
    /// or the database where none runs)
    Connect(ConnectArgs),
    /// Read the account now; prints what changed (exit 3 when the sync fails)
    Sync {
        #[command(flatten)]
        which: Which,
        #[arg(long)]
        json: bool,
    },
    /// The connected account and how its last sync went (`--provider github|gitlab`: that
    /// provider's accounts, a list)
    Status {
        #[arg(long, value_enum, default_value = "appcircle")]
        provider: ProviderArg,
        #[arg(long)]
        json: bool,
    },
    /// Forget the account and its key (what was synced stays in the history)
    Disconnect {
        #[command(flatten)]
        which: Which,
    },
}

/// Which provider's account.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderArg {
    Appcircle,
    Github,
    Gitlab,
}

impl ProviderArg {
    fn as_flag(self) -> &'static str {
        self.provider().as_str()
    }

    fn provider(self) -> Provider {
        match self {
            ProviderArg::Appcircle => Provider::Appcircle,
            ProviderArg::Github => Provider::Github,
            ProviderArg::Gitlab => Provider::Gitlab,
        }
    }
}

/// Which account a command is for.
#[derive(clap::Args, Debug)]
pub struct Which {
    #[arg(long, value_enum, default_value = "appcircle")]
    provider: ProviderArg,
    /// With --provider github or gitlab: the account's API host, when more than one is
    /// connected
    #[arg(long, value_name = "URL")]
    api_host: Option<String>,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("key").required(true).args(["api_key", "personal_access_key_file", "token_file"])))]
pub struct ConnectArgs {
    /// Whose account: Appcircle (a key), GitHub (a token and its repositories) or GitLab (a
    /// token and its projects)
    #[arg(long, value_enum, default_value = "appcircle")]
    pub provider: ProviderArg,
    /// With --provider github or gitlab: a file holding an access token (GitHub: fine-grained
    /// with Actions read, or classic; GitLab: read_api), first line, or `-` for standard input
    #[arg(long, value_name = "FILE", conflicts_with_all = ["api_key", "secret_file", "personal_access_key_file", "auth_host"])]
    pub token_file: Option<PathBuf>,
    /// With --provider github: a repository to follow, OWNER/NAME (repeat for more)
    #[arg(long = "repo", value_name = "OWNER/NAME", requires = "token_file")]
    pub repos: Vec<String>,
    /// With --provider gitlab: a project to follow, its id or path (repeat for more)
    #[arg(long = "project", value_name = "ID-OR-PATH", requires = "token_file")]
    pub projects: Vec<String>,
    /// An organisation API key's name (its secret with --secret-file)
    #[arg(long, value_name = "NAME", requires = "secret_file")]
    pub api_key: Option<String>,
    /// A file holding the API key's secret (first line), or `-` for standard input
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// With --api-key: which organisation (a sub-organisation's id)
    #[arg(long, value_name = "ID", requires = "api_key")]
    pub organization: Option<String>,
    /// A file holding a personal access key (first line), or `-` for standard input
    #[arg(long, value_name = "FILE", conflicts_with_all = ["api_key", "secret_file"])]
    pub personal_access_key_file: Option<PathBuf>,
    /// The API [default: https://api.appcircle.io, https://api.github.com or
    /// https://gitlab.com]; self-hosted installs differ (GitHub Enterprise Server:
    /// https://HOST/api/v3)
    #[arg(long, value_name = "URL")]
    pub api_host: Option<String>,
    /// Appcircle's sign-in host [default: https://auth.appcircle.io]
    #[arg(long, value_name = "URL")]
    pub auth_host: Option<String>,
}

/// The first line of `path` (or standard input for `-`), never empty.
fn read_secret(path: &Path) -> Result<String> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(std::io::stdin(), 64 * 1024),
            &mut text,
        )?;
        text
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| AppError::Invalid(format!("cannot read {}: {e}", path.display())))?
    };
    let line = text.lines().next().unwrap_or_default().trim().to_owned();
    if line.is_empty() {
        return Err(AppError::Invalid(format!(
            "{} holds no key",
            path.display()
        )));
    }
    Ok(line)
}

pub fn run(store: Store, command: AccountCommand) -> Result<i32> {
    let store = Arc::new(store);
    let account = AccountSync::new(store.clone());
    let ci = CiAccounts::new(store.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    match command {
        AccountCommand::Connect(a) if a.provider != ProviderArg::Appcircle => {
            let provider = a.provider.provider();
            let flag = a.provider.as_flag();
            let file = a.token_file.ok_or_else(|| {
                AppError::Invalid(format!("--provider {flag} needs --token-file FILE"))
            })?;
            let repos = match a.provider {
                ProviderArg::Gitlab if !a.repos.is_empty() => {
                    return Err(AppError::Invalid(
                        "GitLab follows projects: --project ID-OR-PATH".into(),
                    ));
                }
                ProviderArg::Gitlab => a.projects,
                _ if !a.projects.is_empty() => {
                    return Err(AppError::Invalid(
                        "GitHub follows repositories: --repo OWNER/NAME".into(),
                    ));
                }
                _ => a.repos,
            };
            if repos.is_empty() {
                return Err(AppError::Invalid(match a.provider {
                    ProviderArg::Gitlab => {
                        "--provider gitlab needs --project ID-OR-PATH (one or more)".into()
                    }
                    _ => "--provider github needs --repo OWNER/NAME (one or more)".into(),
                }));
            }
            let connection = CiConnection {
                provider,
                api_host: a.api_host,
                repos,
                token: read_secret(&file)?,
            };
            let status = rt.block_on(ci.connect(connection))?;
            eprintln!(
                "Connected: {} accepted the token for {}.",
                status.name.trim_end_matches(" account"),
                status.repos.join(", ")
            );
            if let TokenPlace::Database { why } = &status.token_place {
                eprintln!("No keyring here ({why}): the token is kept in the database (0600).");
            }
            eprintln!(
                "A running `gatehouse serve` or app reads it within a few seconds, then every 15 s while a run runs; `gatehouse account sync --provider {flag}` reads it now."
            );
            Ok(exit::OK)
        }
        AccountCommand::Connect(a) => {
            let (key, file) = match (a.api_key, a.personal_access_key_file) {
                (Some(name), _) => (
                    AccountKey::ApiKey {
                        name,
                        organization: a.organization,
                    },
                    a.secret_file
                        .ok_or_else(|| AppError::Invalid("--api-key needs --secret-file".into()))?,
                ),
                (None, Some(file)) => (AccountKey::PersonalAccessKey, file),
                (None, None) => {
                    return Err(AppError::Invalid(
                        "give --api-key NAME --secret-file FILE or --personal-access-key-file FILE"
                            .into(),
                    ));
                }
            };
            let connection = Connection {
                api_host: a.api_host,
                auth_host: a.auth_host,
                key,
                secret: read_secret(&file)?,
            };
            let status = rt.block_on(account.connect(connection))?;
            eprintln!("Connected: Appcircle accepted {}.", key_words(&status.key));
            if let TokenPlace::Database { why } = &status.key_place {
                eprintln!("No keyring here ({why}): the key is kept in the database (0600).");
            }
            eprintln!(
                "A running `gatehouse serve` or app syncs it within a few seconds, then every 15 s while a build runs; `gatehouse account sync` reads it now."
            );
            Ok(exit::OK)
        }
        AccountCommand::Sync { which, json } => {
            let synced = match which.provider {
                ProviderArg::Appcircle => rt.block_on(account.sync_now()),
                other => {
                    let id = ci_account(&ci, other, which.api_host.as_deref())?.id;
                    rt.block_on(ci.sync_now(&id))
                }
            };
            match synced {
                Ok(report) => print_report(&store, &report, json),
                Err(e) => {
                    eprintln!("error: the sync failed: {e}");
                    Ok(exit::ERROR)
                }
            }
        }
        AccountCommand::Status { provider, json } if provider != ProviderArg::Appcircle => {
            let accounts: Vec<CiAccountStatus> = ci
                .list()?
                .into_iter()
                .filter(|a| a.provider == provider.provider())
                .collect();
            if json {
                print::json(&accounts)?;
            } else if accounts.is_empty() {
                println!(
                    "No {} account is connected (`gatehouse account connect --provider {}`).",
                    provider.provider().label(),
                    provider.as_flag()
                );
            }
            for (i, a) in accounts.iter().enumerate() {
                if !json {
                    if i > 0 {
                        println!();
                    }
                    print_ci_status(a);
                }
            }
            Ok(exit::OK)
        }
        AccountCommand::Status { json, .. } => {
            let status = account.status()?;
            if json {
                print::json(&status)?;
            } else {
                match &status {
                    Some(s) => print_status(s),
                    None => {
                        println!("No Appcircle account is connected (`gatehouse account connect`).")
                    }
                }
            }
            Ok(exit::OK)
        }
        AccountCommand::Disconnect { which } => {
            match which.provider {
                ProviderArg::Appcircle => rt.block_on(account.disconnect())?,
                other => {
                    let id = ci_account(&ci, other, which.api_host.as_deref())?.id;
                    rt.block_on(ci.disconnect(&id))?;
                }
            }
            eprintln!("Disconnected; its key is forgotten and what was synced stays.");
            Ok(exit::OK)
        }
    }
}

/// The account of `provider` meant: the one at `api_host`, or the only one.
fn ci_account(
    ci: &CiAccounts,
    provider: ProviderArg,
    api_host: Option<&str>,
) -> Result<CiAccountStatus> {
    let accounts: Vec<CiAccountStatus> = ci
        .list()?
        .into_iter()
        .filter(|a| a.provider == provider.provider())
        .collect();
    let wanted = api_host.map(|h| h.trim().trim_end_matches('/'));
    let mut matching: Vec<CiAccountStatus> = accounts
        .into_iter()
        .filter(|a| wanted.is_none_or(|h| a.api_host == h))
        .collect();
    match matching.len() {
        1 => Ok(matching.remove(0)),
        0 => Err(AppError::Invalid(format!(
            "no such account is connected (`gatehouse account status --provider {}` lists them)",
            provider.as_flag()
        ))),
        _ => Err(AppError::Invalid(
            "more than one such account is connected: say which with --api-host".into(),
        )),
    }
}

fn print_report(store: &Store, report: &SyncReport, json: bool) -> Result<i32> {
    let events = report
        .event_ids
        .iter()
        .map(|id| store.event(*id))
        .collect::<gatehouse_core::Result<Vec<_>>>()?;
    if json {
        print::json(&serde_json::json!({"report": report, "events": events}))?;
    } else {
        print::events(&events);
        eprintln!(
            "Synced: {} new, {} already known, {} requests.",
            report.events, report.known, report.requests
        );
    }
    Ok(exit::OK)
}

fn print_ci_status(a: &CiAccountStatus) {
    println!("Account:      {} ({})", a.name, a.api_host);
    println!("Repositories: {}", a.repos.join(", "));
    println!(
        "Token kept in: {}",
        match &a.token_place {
            TokenPlace::Keyring => "the OS keyring".to_owned(),
            TokenPlace::Database { why } => format!("the database ({why})"),
        }
    );
    print_sync(&a.sync);
}

fn key_words(key: &AccountKey) -> String {
    match key {
        AccountKey::ApiKey {
            name,
            organization: Some(org),
        } => format!("the API key `{name}` (organisation {org})"),
        AccountKey::ApiKey { name, .. } => format!("the API key `{name}`"),
        AccountKey::PersonalAccessKey => "the personal access key".into(),
    }
}

fn print_status(s: &AccountStatus) {
    println!("Account:     {} at {}", key_words(&s.key), s.api_host);
    println!(
        "Key kept in: {}",
        match &s.key_place {
            TokenPlace::Keyring => "the OS keyring".to_owned(),
            TokenPlace::Database { why } => format!("the database ({why})"),
        }
    );
    print_sync(&s.sync);
}

fn print_sync(sync: &gatehouse_core::accounts::SyncStatus) {
    let last = |t: &Option<String>| t.clone().unwrap_or_else(|| "never".into());
    println!("Last synced: {}", last(&sync.last_success));
    if let Some(error) = &sync.error {
        println!(
            "Last try:    {} failed: {}",
            last(&sync.last_attempt),
            gatehouse_core::text::neutralise(error, false)
        );
    } else if sync.last_success.is_some() {
        println!(
            "Last sync:   {} new events, {} requests",
            sync.events, sync.requests
        );
    }
}

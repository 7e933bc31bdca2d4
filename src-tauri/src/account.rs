//! `gatehouse account`: connect an Appcircle account, sync it once, show how its syncs go,
//! disconnect it. A running `serve` or app syncs on its own schedule
//! ([`gatehouse_core::accounts`]); these commands work on the same database beside it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use gatehouse_core::accounts::{AccountKey, AccountStatus, AccountSync, Connection};
use gatehouse_core::credentials::TokenPlace;
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
        #[arg(long)]
        json: bool,
    },
    /// The connected account and how its last sync went
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Forget the account and its key (what was synced stays in the history)
    Disconnect,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("key").required(true).args(["api_key", "personal_access_key_file"])))]
pub struct ConnectArgs {
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
    /// Appcircle's API [default: https://api.appcircle.io]; self-hosted installs differ
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    match command {
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
                "A running `gatehouse serve` or app syncs it within a few seconds and every 10 minutes; `gatehouse account sync` reads it now."
            );
            Ok(exit::OK)
        }
        AccountCommand::Sync { json } => match rt.block_on(account.sync_now()) {
            Ok(report) => {
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
            Err(e) => {
                eprintln!("error: the sync failed: {e}");
                Ok(exit::ERROR)
            }
        },
        AccountCommand::Status { json } => {
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
        AccountCommand::Disconnect => {
            rt.block_on(account.disconnect())?;
            eprintln!("Disconnected; its key is forgotten and what was synced stays.");
            Ok(exit::OK)
        }
    }
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
    let last = |t: &Option<String>| t.clone().unwrap_or_else(|| "never".into());
    println!("Last synced: {}", last(&s.sync.last_success));
    if let Some(error) = &s.sync.error {
        println!(
            "Last try:    {} failed: {}",
            last(&s.sync.last_attempt),
            gatehouse_core::text::neutralise(error, false)
        );
    } else if s.sync.last_success.is_some() {
        println!(
            "Last sync:   {} new events, {} requests",
            s.sync.events, s.sync.requests
        );
    }
}

//! `gatehouse follow URL`: this machine's store as a mirror of an inbox (a `gatehouse serve`
//! elsewhere), without a window, until SIGINT or SIGTERM. What the desktop does in inbox
//! mode, for a headless machine (and for tests with real processes): with this machine's own
//! accounts read beside it (`gatehouse account connect` here), as the desktop reads them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gatehouse_core::accounts::AccountSync;
use gatehouse_core::accounts::ci::CiAccounts;
use gatehouse_core::follow::mirror::{self, Inbox, MirrorState, Report};
use gatehouse_core::store::{Applied, Store};
use gatehouse_core::supervise::supervise;

use crate::error::{AppError, Result};
use crate::{exit, logging, serve};

#[derive(clap::Args, Debug)]
pub struct FollowArgs {
    /// The inbox's base URL, e.g. https://inbox.example.com:8473
    pub url: String,
    /// A file holding the access token (`gatehouse token add` on the inbox); else the
    /// GATEHOUSE_TOKEN environment variable. Never on the command line, where `ps` shows it.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// The token from `--token-file` or `GATEHOUSE_TOKEN`.
pub fn token(file: Option<&Path>) -> Result<String> {
    let token = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| AppError::Invalid(format!("cannot read {}: {e}", path.display())))?,
        None => std::env::var("GATEHOUSE_TOKEN").map_err(|_| {
            AppError::Invalid(
                "give the inbox's token with --token-file FILE or GATEHOUSE_TOKEN".into(),
            )
        })?,
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(AppError::Invalid("the token is empty".into()));
    }
    Ok(token)
}

/// The inbox's URL as given, checked: http(s), no path.
pub fn inbox_url(url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| AppError::Invalid(format!("`{url}` is not an http(s) URL")))?;
    if rest.is_empty() || rest.contains('/') {
        return Err(AppError::Invalid(format!(
            "`{url}`: give the inbox's base URL (scheme, host and port), without a path"
        )));
    }
    Ok(url.to_owned())
}

pub fn run(data_dir: &Path, a: FollowArgs) -> Result<i32> {
    logging::init();
    let inbox = Inbox {
        url: inbox_url(&a.url)?,
        token: token(a.token_file.as_deref())?,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = Arc::new(Store::open_dir(data_dir)?);
        let (state, mut states) = tokio::sync::watch::channel(MirrorState::Connecting);
        let (reports, mut reported) = tokio::sync::mpsc::unbounded_channel::<Report>();
        let (stop, stopping) = tokio::sync::watch::channel(false);
        tracing::info!("following {} into {}", inbox.url, data_dir.display());
        let (url, clock) = (inbox.url.clone(), store.clock().clone());
        let task = tokio::spawn(mirror::follow(
            store.clone(),
            inbox,
            state,
            reports,
            stopping,
        ));
        let report = tokio::spawn(async move {
            let mut caught_up = Applied::default();
            loop {
                tokio::select! {
                    changed = states.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        tracing::info!("{}", describe(&url, &states.borrow(), clock.now()));
                    }
                    report = reported.recv() => match report {
                        Some(Report::Applied { applied, catch_up: true }) => {
                            caught_up.events += applied.events;
                            caught_up.requests += applied.requests;
                            caught_up.duplicates += applied.duplicates;
                        }
                        Some(Report::Applied { .. }) => {}
                        Some(Report::CaughtUp) => {
                            if caught_up.events + caught_up.requests > 0 {
                                tracing::info!(
                                    "caught up: {} events, {} requests ({} already here)",
                                    caught_up.events, caught_up.requests, caught_up.duplicates
                                );
                            }
                            caught_up = Applied::default();
                        }
                        None => return,
                    },
                }
            }
        });
        // This machine's own accounts (Appcircle's, GitHub's, GitLab's), each on its
        // schedule; idle without one.
        let (account, ci_accounts) = (
            Arc::new(AccountSync::new(store.clone())),
            Arc::new(CiAccounts::new(store.clone())),
        );
        let account_sync = tokio::spawn(supervise("appcircle sync", move || account.clone().run()));
        let ci_sync = tokio::spawn(supervise("ci accounts", move || ci_accounts.clone().run()));
        serve::shutdown_signal().await;
        account_sync.abort();
        ci_sync.abort();
        let _ = stop.send(true);
        let _ = task.await;
        report.abort();
        drop(store);
        tracing::info!("stopped");
        Ok(exit::OK)
    })
}

/// The state as the dashboard header says it, with the reason when it is not following.
fn describe(url: &str, state: &MirrorState, now: chrono::DateTime<chrono::Utc>) -> String {
    let line = mirror::headline(url, state, now);
    match state {
        MirrorState::Offline { reason, .. } => format!("{line} ({reason})"),
        MirrorState::TokenRefused { message } | MirrorState::NoToken { message } => {
            format!("{line} ({message})")
        }
        _ => line,
    }
}

//! `gatehouse serve`: the listener without a window, until SIGINT or SIGTERM.

use std::io::IsTerminal;
use std::path::Path;

use chrono::Duration;
use gatehouse_core::listener::{ListenerConfig, RunningListener};

use crate::cli::{self, LISTEN_SETTING, ServeArgs};
use crate::error::{AppError, Result};
use crate::exit;

pub fn run(data_dir: &Path, a: ServeArgs) -> Result<i32> {
    init_logging();
    let addr = cli::listen_addr(a.listen.as_deref())?;
    let config = config(a.replay_window, a.body_limit)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = cli::open_shared(data_dir)?;
        let running = RunningListener::start(addr, store.clone(), config).await?;
        let bound = running.local_addr();
        store.set_setting(LISTEN_SETTING, &bound.to_string()).await?;
        tracing::info!(
            "Gatehouse listening on http://{bound} (data: {})",
            data_dir.display()
        );
        if !bound.ip().is_loopback() {
            tracing::warn!(
                "{bound} is reachable from other machines; only signed deliveries are accepted, but consider a tunnel to 127.0.0.1 instead"
            );
        }
        let endpoints = store.endpoints()?;
        if endpoints.is_empty() {
            tracing::info!("no endpoints yet: create one with `gatehouse endpoint add NAME`");
        }
        for e in endpoints {
            tracing::info!("endpoint {}: http://{bound}/hooks/{}", e.name, e.name);
        }
        shutdown_signal().await;
        tracing::info!("stopping: finishing requests in flight");
        running.stop().await?;
        // The last reference: the writer commits what is queued and its thread ends.
        drop(store);
        tracing::info!("stopped");
        Ok(exit::OK)
    })
}

/// The listener settings from flags, checked.
pub fn config(replay_window_secs: i64, body_limit: usize) -> Result<ListenerConfig> {
    if replay_window_secs <= 0 {
        return Err(AppError::Invalid(
            "--replay-window must be at least 1 second".into(),
        ));
    }
    if body_limit == 0 {
        return Err(AppError::Invalid(
            "--body-limit must be at least 1 byte".into(),
        ));
    }
    Ok(ListenerConfig {
        replay_window: Duration::seconds(replay_window_secs),
        body_limit,
        ..ListenerConfig::default()
    })
}

/// One line per event on stderr; `RUST_LOG` narrows or widens it.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

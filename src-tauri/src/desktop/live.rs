//! Pushes what the store commits to the window (Tauri events), the tray and the notifier.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_core::gate::{self, Gate, GateFilter};
use gatehouse_core::notify::Notifier;
use gatehouse_core::retention;
use gatehouse_core::settings::Settings;
use gatehouse_core::store::{Notice, Store};
use gatehouse_core::supervise::supervise;
use tauri::{AppHandle, Emitter};
use tokio::sync::broadcast::error::RecvError;

use super::{notifier, tray};

/// A [`Notice`] as JSON: a new event, a new or changed request, endpoints changed.
pub const NOTICE: &str = "gatehouse://notice";
/// The gate after a change.
pub const GATE: &str = "gatehouse://gate";
/// Asks the window to show one event (notification or tray click).
pub const OPEN_EVENT: &str = "gatehouse://open-event";

async fn current_gate(store: &Arc<Store>) -> Option<Gate> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.streams().ok())
        .await
        .ok()
        .flatten()
        .map(|rows| gate::evaluate(rows, &GateFilter::default()))
}

/// Reads the gate again and tells the window and the tray; keeps the old one if the read fails.
async fn refresh_gate(app: &AppHandle, store: &Arc<Store>, gate: &mut Gate) {
    if let Some(next) = current_gate(store).await {
        *gate = next;
        let _ = app.emit(GATE, &*gate);
    }
    tray::update(app, gate);
}

async fn current_settings(store: &Arc<Store>) -> Settings {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.settings().ok())
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Starts the live loop and the retention timer, each supervised: one that fails or
/// panics is logged and started again, never silently gone (the tray, notifications and
/// window updates depend on the first).
pub fn spawn(app: AppHandle, store: Arc<Store>) {
    let live_store = store.clone();
    tauri::async_runtime::spawn(supervise("live updates", move || {
        run(app.clone(), live_store.clone())
    }));
    tauri::async_runtime::spawn(supervise("retention", move || {
        retention::run(store.clone())
    }));
}

async fn run(app: AppHandle, store: Arc<Store>) -> gatehouse_core::Result<()> {
    // Subscribe before the first gate is read, so nothing committed in between is missed.
    let mut notices = store.subscribe();
    let mut gate = gate::evaluate(Vec::new(), &GateFilter::default());
    refresh_gate(&app, &store, &mut gate).await;
    let mut notifications = Notifier::new(&gate);
    let mut settings = current_settings(&store).await;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            received = notices.recv() => match received {
                Ok(notice) => {
                    let _ = app.emit(NOTICE, &notice);
                    if let Notice::Event { event, .. } = &notice {
                        refresh_gate(&app, &store, &mut gate).await;
                        settings = current_settings(&store).await;
                        let quiet = notifier::quiet(&app, &settings);
                        for n in notifications.on_event(event, &gate, &settings, quiet, Instant::now()) {
                            notifier::show(&app, n);
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // Too much at once: the window refetches on a gate event.
                    refresh_gate(&app, &store, &mut gate).await;
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            _ = tick.tick() => {
                let quiet = notifier::quiet(&app, &settings);
                if let Some(n) = notifications.flush(quiet, Instant::now()) {
                    notifier::show(&app, n);
                }
            }
        }
    }
}

//! Pushes what the store commits to the window (Tauri events), the tray and the notifier,
//! and the inbox mirror's state to the window and the tray. What a mirror's backlog brings
//! is gathered and notified once, when the mirror reports the backlog stored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_core::api::Host;
use gatehouse_core::gate::{self, Gate, GateFilter};
use gatehouse_core::mirror::{MirrorState, Report};
use gatehouse_core::notify::{CatchUp, Notifier};
use gatehouse_core::retention;
use gatehouse_core::settings::Settings;
use gatehouse_core::store::{Notice, Store};
use gatehouse_core::supervise::supervise;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::{notifier, tray};

/// A [`Notice`] as JSON: a new event, a new or changed request, endpoints changed.
pub const NOTICE: &str = "gatehouse://notice";
/// The gate after a change.
pub const GATE: &str = "gatehouse://gate";
/// Asks the window to show one event (notification or tray click).
pub const OPEN_EVENT: &str = "gatehouse://open-event";
/// The inbox followed and its state ([`gatehouse_core::mirror::InboxStatus`]), or null.
pub const INBOX: &str = "gatehouse://inbox";
/// How often a token the keyring could not give is asked for again.
const TOKEN_RETRY: Duration = Duration::from_secs(30);

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
    let state = app.state::<super::AppState>();
    let host = state.api.host();
    // Subscribe before the first gate is read, so nothing committed in between is missed.
    let mut notices = store.subscribe();
    let mut mirror_states = host.mirror_states();
    let mut reports = host.reports().await;
    let mut gate = gate::evaluate(Vec::new(), &GateFilter::default());
    refresh_gate(&app, &store, &mut gate).await;
    let mut notifications = Notifier::new(&gate);
    // Only now: what a first connection's backlog broadcasts must reach this loop, and the
    // states it started from must be the ones before it.
    host.follow_saved().await;
    let mut settings = current_settings(&store).await;
    // Begun at the backlog's first report or notice, from the states known then.
    let mut caught: Option<CatchUp> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut retry =
        tokio::time::interval_at(tokio::time::Instant::now() + TOKEN_RETRY, TOKEN_RETRY);
    loop {
        tokio::select! {
            received = notices.recv() => match received {
                Ok(notice) => {
                    on_notice(&app, &store, notice, &mut gate, &mut notifications, &mut settings, &mut caught).await;
                }
                Err(RecvError::Lagged(_)) => {
                    // Too much at once: the window refetches on a gate event.
                    refresh_gate(&app, &store, &mut gate).await;
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            report = reports.recv() => match report {
                Some(Report::CaughtUp) => {
                    // Every notice of the backlog was broadcast before this report: take
                    // them all first (past a lag too), then say it once.
                    loop {
                        match notices.try_recv() {
                            Ok(notice) => {
                                on_notice(&app, &store, notice, &mut gate, &mut notifications, &mut settings, &mut caught).await;
                            }
                            Err(TryRecvError::Lagged(_)) => continue,
                            Err(_) => break,
                        }
                    }
                    refresh_gate(&app, &store, &mut gate).await;
                    settings = current_settings(&store).await;
                    let quiet = notifier::quiet(&app, &settings);
                    if let Some(backlog) = caught.take()
                        && let Some(n) = notifications.on_caught_up(backlog, &gate, &settings, quiet)
                    {
                        notifier::show(&app, n);
                    }
                }
                Some(Report::Applied { applied, catch_up: true }) => {
                    caught.get_or_insert_with(|| notifications.catch_up()).count(applied.events);
                    // A backlog batch: the gate once per batch, not once per event.
                    refresh_gate(&app, &store, &mut gate).await;
                }
                Some(Report::Applied { .. }) => {}
                None => return Ok(()),
            },
            changed = mirror_states.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let _ = app.emit(INBOX, host.inbox());
                tray::update(&app, &gate);
            }
            _ = retry.tick() => {
                // A keyring that was locked or not yet running may answer now.
                if matches!(*mirror_states.borrow(), MirrorState::NoToken { .. }) {
                    host.follow_saved().await;
                }
            }
            _ = tick.tick() => {
                let quiet = notifier::quiet(&app, &settings);
                if let Some(n) = notifications.flush(quiet, Instant::now()) {
                    notifier::show(&app, n);
                }
            }
        }
    }
}

/// One stored change: to the window; an event also to the gate and the notifier, or, from a
/// mirror's backlog, into the catch-up summary.
async fn on_notice(
    app: &AppHandle,
    store: &Arc<Store>,
    notice: Notice,
    gate: &mut Gate,
    notifications: &mut Notifier,
    settings: &mut Settings,
    caught: &mut Option<CatchUp>,
) {
    let _ = app.emit(NOTICE, &notice);
    match &notice {
        Notice::Event {
            event,
            catch_up: true,
            ..
        } => caught
            .get_or_insert_with(|| notifications.catch_up())
            .add(event),
        Notice::Event { event, .. } => {
            refresh_gate(app, store, gate).await;
            *settings = current_settings(store).await;
            let quiet = notifier::quiet(app, settings);
            for n in notifications.on_event(event, gate, settings, quiet, Instant::now()) {
                notifier::show(app, n);
            }
        }
        _ => {}
    }
}

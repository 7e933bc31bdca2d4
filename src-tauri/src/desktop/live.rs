//! Pushes what the store commits to the window (Tauri events), the tray and the notifier,
//! and the inbox mirror's state to the window and the tray. What a mirror's backlog brings
//! is gathered and notified once, when the mirror reports the backlog stored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_core::api::Host;
use gatehouse_core::follow::mirror::{MirrorState, Report};
use gatehouse_core::rules::checks::{self, CommitChecks};
use gatehouse_core::rules::gate::{self, Gate, GateFilter};
use gatehouse_core::rules::notify::{CatchUp, Notifier};
use gatehouse_core::rules::retention;
use gatehouse_core::settings::{RequiredChecks, Settings};
use gatehouse_core::store::{EventRecord, Notice, Store};
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
/// The inbox followed and its state ([`gatehouse_core::follow::mirror::InboxStatus`]), or null.
pub const INBOX: &str = "gatehouse://inbox";
/// How often a token the keyring could not give is asked for again.
const TOKEN_RETRY: Duration = Duration::from_secs(30);

async fn current_gate(store: &Arc<Store>) -> Option<Gate> {
    let store = store.clone();
    gatehouse_core::offload::run(move || store.streams().ok())
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

/// The checks of the commit `event` is of, read after it was stored, under the settings'
/// `rules` (`None`: of no commit, or the read failed, which is logged: a missed "is ready"
/// must not stop the loop).
async fn commit_after(
    store: &Arc<Store>,
    event: &EventRecord,
    rules: &[RequiredChecks],
) -> Option<CommitChecks> {
    let (store, event, rules) = (store.clone(), event.clone(), rules.to_vec());
    let read =
        gatehouse_core::offload::run(move || checks::for_event(&store, &event, &rules)).await;
    match read.map(|r| r.map_err(|e| e.to_string())) {
        Ok(Ok(commit)) => commit,
        Ok(Err(e)) | Err(e) => {
            tracing::warn!("the commit of a new event could not be read: {e}");
            None
        }
    }
}

async fn current_settings(store: &Arc<Store>) -> Settings {
    let store = store.clone();
    gatehouse_core::offload::run(move || store.settings().ok())
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Starts the live loop and the retention timer, each supervised: one that fails or
/// panics is logged and started again, never silently gone (the tray, notifications and
/// window updates depend on the first).
pub fn spawn(app: AppHandle, store: Arc<Store>) {
    let account = app.state::<super::AppState>().api.account().clone();
    let ci_accounts = app.state::<super::AppState>().api.ci_accounts().clone();
    let live_store = store.clone();
    tauri::async_runtime::spawn(supervise("live updates", move || {
        run(app.clone(), live_store.clone())
    }));
    tauri::async_runtime::spawn(supervise("retention", move || {
        retention::run(store.clone())
    }));
    tauri::async_runtime::spawn(supervise("appcircle sync", move || account.clone().run()));
    tauri::async_runtime::spawn(supervise("ci accounts", move || ci_accounts.clone().run()));
}

async fn run(app: AppHandle, store: Arc<Store>) -> gatehouse_core::Result<()> {
    let state = app.state::<super::AppState>();
    let host = state.api.host();
    // Subscribe before the first gate is read, so nothing committed in between is missed.
    let mut notices = store.subscribe();
    let mut mirror_states = host.mirror_states();
    let mut reports = host.reports().await;
    let mut synced = state.api.account().reports();
    let mut ci_synced = state.api.ci_accounts().reports();
    let mut gate = gate::evaluate(Vec::new(), &GateFilter::default());
    refresh_gate(&app, &store, &mut gate).await;
    let notifications = Notifier::new(&gate);
    // Only now: what a first connection's backlog broadcasts must reach this loop, and the
    // states it started from must be the ones before it.
    host.follow_saved().await;
    let settings = current_settings(&store).await;
    let mut live = Live {
        app: app.clone(),
        store: store.clone(),
        gate,
        notifications,
        settings,
        caught: None,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut retry =
        tokio::time::interval_at(tokio::time::Instant::now() + TOKEN_RETRY, TOKEN_RETRY);
    loop {
        tokio::select! {
            received = notices.recv() => match received {
                Ok(notice) => live.on_notice(notice).await,
                Err(RecvError::Lagged(_)) => {
                    // Too much at once: the window refetches on a gate event.
                    refresh_gate(&app, &store, &mut live.gate).await;
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            report = reports.recv() => match report {
                Some(Report::CaughtUp) => live.caught_up(&mut notices, "While you were away").await,
                Some(Report::Applied { applied, catch_up: true }) => {
                    live.catch_up().count(applied.events);
                    // A backlog batch: the gate once per batch, not once per event.
                    refresh_gate(&app, &store, &mut live.gate).await;
                }
                Some(Report::Applied { .. }) => {}
                None => return Ok(()),
            },
            report = synced.recv() => match report {
                Ok(report) => {
                    // What a sync stored is a catch-up too: one summary for all of it.
                    if report.events > 0 {
                        live.catch_up().count(report.events);
                    }
                    live.caught_up(&mut notices, "Read from Appcircle").await;
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Ok(()),
            },
            report = ci_synced.recv() => match report {
                Ok((account, report)) => {
                    if report.events > 0 {
                        live.catch_up().count(report.events);
                    }
                    // "Read from GitHub account", "Read from GitLab account at …".
                    live.caught_up(&mut notices, &format!("Read from {account}")).await;
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Ok(()),
            },
            changed = mirror_states.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let _ = app.emit(INBOX, host.inbox());
                tray::update(&app, &live.gate);
            }
            _ = retry.tick() => {
                // A keyring that was locked or not yet running may answer now.
                if matches!(*mirror_states.borrow(), MirrorState::NoToken { .. }) {
                    host.follow_saved().await;
                }
            }
            _ = tick.tick() => {
                let quiet = notifier::quiet(&app, &live.settings, store.clock().now_local());
                if let Some(n) = live.notifications.flush(quiet, Instant::now()) {
                    notifier::show(&app, n);
                }
            }
        }
    }
}

/// What the live loop keeps between changes.
struct Live {
    app: AppHandle,
    store: Arc<Store>,
    gate: Gate,
    notifications: Notifier,
    settings: Settings,
    /// A backlog or sync being gathered, begun at its first report or notice from the
    /// states known then.
    caught: Option<CatchUp>,
}

impl Live {
    fn catch_up(&mut self) -> &mut CatchUp {
        let notifications = &self.notifications;
        self.caught.get_or_insert_with(|| notifications.catch_up())
    }

    /// One stored change: to the window; an event also to the gate and the notifier, or,
    /// from a mirror's backlog or a sync, into the catch-up summary.
    async fn on_notice(&mut self, notice: Notice) {
        let _ = self.app.emit(NOTICE, &notice);
        match &notice {
            Notice::Event {
                event,
                catch_up: true,
                ..
            } => self.catch_up().add(event),
            Notice::Event { event, .. } => {
                refresh_gate(&self.app, &self.store, &mut self.gate).await;
                self.settings = current_settings(&self.store).await;
                let quiet =
                    notifier::quiet(&self.app, &self.settings, self.store.clock().now_local());
                let now = Instant::now();
                let mut shown =
                    self.notifications
                        .on_event(event, &self.gate, &self.settings, quiet, now);
                if let Some(commit) =
                    commit_after(&self.store, event, &self.settings.required_checks).await
                {
                    shown.extend(self.notifications.on_commit(
                        event,
                        &commit,
                        &self.settings,
                        quiet,
                        now,
                    ));
                }
                for n in shown {
                    notifier::show(&self.app, n);
                }
            }
            _ => {}
        }
    }

    /// A backlog (or a sync) is stored: every notice of it was broadcast before the report,
    /// so take them all first (past a lag too), then say it once, under `heading`.
    async fn caught_up(
        &mut self,
        notices: &mut tokio::sync::broadcast::Receiver<Notice>,
        heading: &str,
    ) {
        loop {
            match notices.try_recv() {
                Ok(notice) => self.on_notice(notice).await,
                Err(TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        refresh_gate(&self.app, &self.store, &mut self.gate).await;
        self.settings = current_settings(&self.store).await;
        let quiet = notifier::quiet(&self.app, &self.settings, self.store.clock().now_local());
        if let Some(backlog) = self.caught.take()
            && let Some(n) =
                self.notifications
                    .on_caught_up(backlog, heading, &self.gate, &self.settings, quiet)
        {
            notifier::show(&self.app, n);
        }
    }
}

//! What the API needs from the desktop: where builds come from. This machine's listener,
//! restarted when its settings change, and the task that follows an inbox (core::follow::mirror),
//! restarted when its URL or token changes; Settings choose one or both.

use std::sync::Arc;

use gatehouse_core::api::Host;
use gatehouse_core::credentials::{self, Credential, TokenPlace};
use gatehouse_core::follow::mirror::{self, InboxStatus, MirrorState, Report};
use gatehouse_core::receive::listener::{ListenerConfig, ListenerStatus, RunningListener};
use gatehouse_core::settings::Settings;
use gatehouse_core::store::Store;
use gatehouse_core::{Error, Result};
use tokio::sync::{Mutex, mpsc, watch};

use crate::listening;

/// Turns launch-at-login on or off.
type AutostartSwitch = Box<dyn Fn(bool) -> Result<()> + Send + Sync>;

/// The listener and what it was started from. Held under one lock for the whole of a
/// restart, so two saves at once cannot leave the address, the limits and the running
/// listener from different calls.
struct Slot {
    listener: Option<RunningListener>,
    /// The `listen` text and limits the running listener (or the failed attempt) used.
    listen: String,
    config: ListenerConfig,
}

/// The task following an inbox, and what it was started with.
struct Following {
    url: String,
    token: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The inbox side: the task (under one lock for a restart, like the listener's slot).
#[derive(Default)]
struct InboxSlot {
    following: Option<Following>,
}

pub struct DesktopHost {
    store: Arc<Store>,
    slot: Mutex<Slot>,
    /// A copy of the status, updated inside the slot's lock, for synchronous readers.
    status: std::sync::Mutex<ListenerStatus>,
    autostart: std::sync::Mutex<Option<AutostartSwitch>>,
    inbox_slot: Mutex<InboxSlot>,
    /// The inbox followed and where its token is kept, for synchronous readers; `None`
    /// when builds come only from the listener.
    inbox: std::sync::Mutex<Option<(String, Option<TokenPlace>)>>,
    /// The mirror's state: one channel for every task that follows in turn, so the live
    /// loop watches one thing.
    mirror_state: watch::Sender<MirrorState>,
    /// Batches and backlog ends from the mirror; the live loop reads them (and holds the
    /// lock while it runs, so a restarted loop takes over the same channel).
    reports: mpsc::UnboundedSender<Report>,
    reported: Mutex<mpsc::UnboundedReceiver<Report>>,
}

impl DesktopHost {
    /// Starts the listener the settings describe. A failure (a taken port) does not stop the
    /// app: the window opens, says why, and Settings can move the listener.
    /// Following an inbox starts later ([`DesktopHost::follow_saved`]), once the live loop
    /// listens: a backlog's notices must not be broadcast before anyone hears them.
    pub async fn start(store: Arc<Store>, settings: &Settings) -> DesktopHost {
        let (reports, reported) = mpsc::unbounded_channel();
        let host = DesktopHost {
            store,
            slot: Mutex::new(Slot {
                listener: None,
                listen: settings.listen.clone(),
                config: ListenerConfig::default(),
            }),
            status: std::sync::Mutex::new(ListenerStatus::stopped(settings.listen.clone())),
            autostart: std::sync::Mutex::new(None),
            inbox_slot: Mutex::new(InboxSlot::default()),
            inbox: std::sync::Mutex::new(None),
            mirror_state: watch::channel(MirrorState::Connecting).0,
            reports,
            reported: Mutex::new(reported),
        };
        let mut slot = host.slot.lock().await;
        if settings.source.listens() {
            let started = host.start_listener(settings).await;
            host.settle(&mut slot, settings.listen.clone(), started)
                .await;
        } else {
            host.set_status(ListenerStatus::off(settings.listen.clone()));
        }
        drop(slot);
        host
    }

    /// Changes of the mirror's state (the dashboard header and the tray follow them).
    pub fn mirror_states(&self) -> watch::Receiver<MirrorState> {
        self.mirror_state.subscribe()
    }

    /// The mirror's reports, for the one live loop that runs at a time.
    pub async fn reports(&self) -> tokio::sync::MutexGuard<'_, mpsc::UnboundedReceiver<Report>> {
        self.reported.lock().await
    }

    /// Follows the inbox the saved settings name (at start, once the live loop listens; again
    /// after a restart of that loop, and to retry a token the keyring could not give).
    pub async fn follow_saved(&self) {
        match self.saved_settings().await {
            Ok(settings) => self.follow(&settings, false).await,
            Err(e) => tracing::error!("cannot read the settings to follow the inbox: {e}"),
        }
    }

    /// The settings as stored (off the async threads).
    async fn saved_settings(&self) -> Result<Settings> {
        let store = self.store.clone();
        gatehouse_core::offload::run(move || store.settings())
            .await
            .map_err(|e| Error::System(format!("reading the settings failed: {e}")))?
    }

    /// Follows the inbox the settings name with the token kept for it, or stops following.
    /// A task that runs for the same URL is kept, without asking the keyring again, unless
    /// `new_token` (one was just saved). A token that cannot be had is the mirror's state
    /// (`NoToken`, with why), not an error: the rest of the settings still apply.
    async fn follow(&self, settings: &Settings, new_token: bool) {
        let mut slot = self.inbox_slot.lock().await;
        let url = settings
            .inbox_url
            .clone()
            .filter(|_| settings.source.follows());
        let Some(url) = url else {
            stop_following(&mut slot).await;
            self.set_inbox(None);
            return;
        };
        if !new_token
            && let Some(f) = &slot.following
            && f.url == url
            && !f.task.is_finished()
        {
            return;
        }
        if slot.following.as_ref().is_some_and(|f| f.url != url) {
            // Another inbox: nothing of the old one's state may show under the new URL.
            stop_following(&mut slot).await;
            self.mirror_state.send_replace(MirrorState::Connecting);
        }
        let kept = match credentials::load(&self.store, Credential::InboxToken(&url)).await {
            Ok(Some(kept)) => kept,
            Ok(None) => {
                stop_following(&mut slot).await;
                self.mirror_state.send_replace(MirrorState::NoToken {
                    message:
                        "paste the token for this inbox (`gatehouse token add` on it) in Settings"
                            .into(),
                });
                self.set_inbox(Some((url, None)));
                return;
            }
            Err(e) => {
                tracing::error!("cannot follow the inbox: {e}");
                stop_following(&mut slot).await;
                self.mirror_state.send_replace(MirrorState::NoToken {
                    message: e.to_string(),
                });
                self.set_inbox(Some((url, None)));
                return;
            }
        };
        if let Some(f) = &slot.following
            && f.url == url
            && f.token == kept.secret
            && !f.task.is_finished()
        {
            self.set_inbox(Some((url, Some(kept.place))));
            return;
        }
        stop_following(&mut slot).await;
        self.mirror_state.send_replace(MirrorState::Connecting);
        self.set_inbox(Some((url.clone(), Some(kept.place))));
        let (stop, stopping) = watch::channel(false);
        let task = tokio::spawn(mirror::follow(
            self.store.clone(),
            mirror::Inbox {
                url: url.clone(),
                token: kept.secret.clone(),
            },
            self.mirror_state.clone(),
            self.reports.clone(),
            stopping,
        ));
        tracing::info!("following the inbox {url}");
        slot.following = Some(Following {
            url,
            token: kept.secret,
            stop,
            task,
        });
    }

    /// Records the inbox followed and tells whoever watches the mirror's state (the window,
    /// the tray), also when following stops.
    fn set_inbox(&self, inbox: Option<(String, Option<TokenPlace>)>) {
        if let Ok(mut slot) = self.inbox.lock() {
            *slot = inbox;
        }
        self.mirror_state.send_modify(|_| {});
    }

    async fn start_listener(
        &self,
        settings: &Settings,
    ) -> Result<(RunningListener, ListenerConfig)> {
        let config = ListenerConfig::from_settings(settings)?;
        let listener =
            RunningListener::start(settings.listen_addr()?, self.store.clone(), config.clone())
                .await?;
        Ok((listener, config))
    }

    /// Records the outcome of an attempt to listen as `listen` in the slot and the status.
    async fn settle(
        &self,
        slot: &mut Slot,
        listen: String,
        started: Result<(RunningListener, ListenerConfig)>,
    ) {
        slot.listen = listen;
        let status = match started {
            Ok((listener, config)) => {
                let addr = listener.local_addr();
                if let Err(e) = listening::record(&self.store, addr, false).await {
                    tracing::warn!("could not record the listen address for the CLI: {e}");
                }
                slot.listener = Some(listener);
                slot.config = config;
                ListenerStatus::listening(addr)
            }
            Err(e) => {
                tracing::error!("the listener is not running: {e}");
                ListenerStatus::failed(slot.listen.clone(), &e)
            }
        };
        self.set_status(status);
    }

    fn set_status(&self, status: ListenerStatus) {
        if let Ok(mut slot) = self.status.lock() {
            *slot = status;
        }
    }

    pub fn base_url(&self) -> Option<String> {
        self.listener().base_url
    }

    /// How launch-at-login is switched (the autostart plugin, once the app exists).
    pub fn set_autostart_switch(
        &self,
        switch: impl Fn(bool) -> Result<()> + Send + Sync + 'static,
    ) {
        if let Ok(mut slot) = self.autostart.lock() {
            *slot = Some(Box::new(switch));
        }
    }

    /// Stops following and the listener, letting requests in flight finish.
    pub async fn stop(&self) -> Result<()> {
        stop_following(&mut *self.inbox_slot.lock().await).await;
        let mut slot = self.slot.lock().await;
        if let Some(listener) = slot.listener.take() {
            listener.stop().await?;
            listening::clear(&self.store).await;
        }
        self.set_status(ListenerStatus::stopped(slot.listen.clone()));
        Ok(())
    }
}

impl Host for DesktopHost {
    fn listener(&self) -> ListenerStatus {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    async fn apply_settings(&self, settings: Settings) -> Result<()> {
        // Checked before anything stops.
        let wanted = ListenerConfig::from_settings(&settings)?;
        settings.listen_addr()?;
        settings.validate()?;
        self.apply_listener(&settings, wanted).await?;
        self.follow(&settings, false).await;
        if let Ok(switch) = self.autostart.lock()
            && let Some(switch) = switch.as_ref()
        {
            switch(settings.launch_at_login)?;
        }
        Ok(())
    }

    fn inbox(&self) -> Option<InboxStatus> {
        let (url, token) = self.inbox.lock().ok()?.clone()?;
        let state = self.mirror_state.borrow().clone();
        Some(InboxStatus::new(
            &url,
            state,
            token,
            self.store.clock().now(),
        ))
    }

    async fn save_inbox_token(
        &self,
        url: String,
        token: Option<String>,
    ) -> Result<Option<TokenPlace>> {
        let place = match token {
            Some(token) => {
                Some(credentials::save(&self.store, Credential::InboxToken(&url), &token).await?)
            }
            None => {
                credentials::forget(&self.store, Credential::InboxToken(&url)).await?;
                None
            }
        };
        let settings = self.saved_settings().await?;
        // Only the inbox the saved settings follow reconnects: a token saved for another URL
        // waits until the settings name it.
        if settings.source.follows() && settings.inbox_url.as_deref() == Some(url.as_str()) {
            self.follow(&settings, true).await;
        }
        Ok(place)
    }
}

impl DesktopHost {
    /// Starts, restarts or stops the listener as `settings` say (off when builds come only
    /// from an inbox).
    async fn apply_listener(&self, settings: &Settings, wanted: ListenerConfig) -> Result<()> {
        // Held from the comparison to the end of the restart: saves run one at a time.
        let mut slot = self.slot.lock().await;
        if !settings.source.listens() {
            if let Some(old) = slot.listener.take() {
                self.set_status(ListenerStatus::off(settings.listen.clone()));
                listening::clear(&self.store).await;
                old.stop().await?;
            }
            slot.listen = settings.listen.clone();
            self.set_status(ListenerStatus::off(settings.listen.clone()));
            return Ok(());
        }
        let changed = slot.listen != settings.listen
            || slot.config.replay_window != wanted.replay_window
            || slot.config.body_limit != wanted.body_limit;
        if changed || slot.listener.is_none() {
            let old = slot.listener.take();
            let old_addr = old.as_ref().map(RunningListener::local_addr);
            let old_config = slot.config.clone();
            if let Some(old) = old {
                // Whatever happens next, the old listener is gone: say so first.
                self.set_status(ListenerStatus::stopped(slot.listen.clone()));
                listening::clear(&self.store).await;
                old.stop().await?;
            }
            match self.start_listener(settings).await {
                Ok(started) => {
                    self.settle(&mut slot, settings.listen.clone(), Ok(started))
                        .await;
                }
                Err(e) => {
                    // Put the old listener back so deliveries keep arriving, then report.
                    if let Some(old_addr) = old_addr {
                        let restored = RunningListener::start(
                            old_addr,
                            self.store.clone(),
                            old_config.clone(),
                        )
                        .await
                        .map(|l| (l, old_config));
                        let listen = slot.listen.clone();
                        self.settle(&mut slot, listen, restored).await;
                    } else {
                        self.set_status(ListenerStatus::failed(settings.listen.clone(), &e));
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// Stops the following task, if any, and waits for it to end (a batch being stored
/// finishes first).
async fn stop_following(slot: &mut InboxSlot) {
    if let Some(f) = slot.following.take() {
        let _ = f.stop.send(true);
        if let Err(e) = f.task.await {
            tracing::error!("the inbox task ended badly: {e}");
        }
    }
}

//! What the API needs from the desktop: the running listener, restarted when settings change.

use std::sync::Arc;

use gatehouse_core::Result;
use gatehouse_core::api::Host;
use gatehouse_core::listener::{ListenerConfig, ListenerStatus, RunningListener};
use gatehouse_core::settings::Settings;
use gatehouse_core::store::Store;
use tokio::sync::Mutex;

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

pub struct DesktopHost {
    store: Arc<Store>,
    slot: Mutex<Slot>,
    /// A copy of the status, updated inside the slot's lock, for synchronous readers.
    status: std::sync::Mutex<ListenerStatus>,
    autostart: std::sync::Mutex<Option<AutostartSwitch>>,
}

impl DesktopHost {
    /// Starts the listener the settings describe. A failure (a taken port) does not stop the
    /// app: the window opens, says why, and Settings can move the listener.
    pub async fn start(store: Arc<Store>, settings: &Settings) -> DesktopHost {
        let host = DesktopHost {
            store,
            slot: Mutex::new(Slot {
                listener: None,
                listen: settings.listen.clone(),
                config: ListenerConfig::default(),
            }),
            status: std::sync::Mutex::new(ListenerStatus::stopped(settings.listen.clone())),
            autostart: std::sync::Mutex::new(None),
        };
        let mut slot = host.slot.lock().await;
        let started = host.start_listener(settings).await;
        host.settle(&mut slot, settings.listen.clone(), started)
            .await;
        drop(slot);
        host
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

    /// Stops the listener, letting requests in flight finish.
    pub async fn stop(&self) -> Result<()> {
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
        // Held from the comparison to the end of the restart: saves run one at a time.
        let mut slot = self.slot.lock().await;
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
            match self.start_listener(&settings).await {
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
        drop(slot);
        if let Ok(switch) = self.autostart.lock()
            && let Some(switch) = switch.as_ref()
        {
            switch(settings.launch_at_login)?;
        }
        Ok(())
    }
}

//! What the API needs from the desktop: the running listener, restarted when settings change.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Duration;
use gatehouse_core::api::Host;
use gatehouse_core::listener::{ListenerConfig, RunningListener};
use gatehouse_core::settings::Settings;
use gatehouse_core::store::Store;
use gatehouse_core::{Error, Result};
use tokio::sync::Mutex;

use crate::cli::LISTEN_SETTING;

/// Turns launch-at-login on or off.
type AutostartSwitch = Box<dyn Fn(bool) -> Result<()> + Send + Sync>;

pub struct DesktopHost {
    store: Arc<Store>,
    listener: Mutex<Option<RunningListener>>,
    addr: std::sync::Mutex<Option<SocketAddr>>,
    config: std::sync::Mutex<(String, ListenerConfig)>,
    autostart: std::sync::Mutex<Option<AutostartSwitch>>,
    /// Why the listener is not running (e.g. the port is taken), shown on the dashboard.
    problem: std::sync::Mutex<Option<String>>,
}

fn listener_config(s: &Settings) -> ListenerConfig {
    ListenerConfig {
        replay_window: Duration::seconds(s.replay_window_secs),
        body_limit: s.body_limit as usize,
        ..ListenerConfig::default()
    }
}

fn parse_addr(s: &str) -> Result<SocketAddr> {
    s.parse()
        .map_err(|_| Error::Invalid(format!("`{s}` is not ADDR:PORT")))
}

impl DesktopHost {
    /// Starts the listener the settings describe. A failure (a taken port) does not stop the
    /// app: the window opens, says why, and Settings can move the listener.
    pub async fn start(store: Arc<Store>, settings: &Settings) -> DesktopHost {
        let config = listener_config(settings);
        let host = DesktopHost {
            store: store.clone(),
            listener: Mutex::new(None),
            addr: std::sync::Mutex::new(None),
            config: std::sync::Mutex::new((settings.listen.clone(), config.clone())),
            autostart: std::sync::Mutex::new(None),
            problem: std::sync::Mutex::new(None),
        };
        let started = async {
            let listener =
                RunningListener::start(parse_addr(&settings.listen)?, store.clone(), config)
                    .await?;
            store
                .set_setting(LISTEN_SETTING, &listener.local_addr().to_string())
                .await?;
            Ok::<_, Error>(listener)
        };
        match started.await {
            Ok(listener) => host.running(listener).await,
            Err(e) => host.set_problem(Some(e.to_string())),
        }
        host
    }

    async fn running(&self, listener: RunningListener) {
        if let Ok(mut a) = self.addr.lock() {
            *a = Some(listener.local_addr());
        }
        *self.listener.lock().await = Some(listener);
        self.set_problem(None);
    }

    fn set_problem(&self, problem: Option<String>) {
        if let Some(p) = &problem {
            tracing::error!("the listener is not running: {p}");
        }
        if let Ok(mut slot) = self.problem.lock() {
            *slot = problem;
        }
    }

    pub fn base_url(&self) -> String {
        self.listen_addr()
            .map(|a| format!("http://{a}"))
            .unwrap_or_default()
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
        if let Some(listener) = self.listener.lock().await.take() {
            listener.stop().await?;
        }
        if let Ok(mut addr) = self.addr.lock() {
            *addr = None;
        }
        Ok(())
    }
}

impl Host for DesktopHost {
    fn listen_addr(&self) -> Option<SocketAddr> {
        self.addr.lock().ok().and_then(|a| *a)
    }

    fn listener_error(&self) -> Option<String> {
        self.problem.lock().ok().and_then(|p| p.clone())
    }

    async fn apply_settings(&self, settings: Settings) -> Result<()> {
        let wanted = listener_config(&settings);
        let changed = self
            .config
            .lock()
            .map(|c| {
                c.0 != settings.listen
                    || c.1.replay_window != wanted.replay_window
                    || c.1.body_limit != wanted.body_limit
            })
            .unwrap_or(true);
        if changed || self.listen_addr().is_none() {
            let addr = parse_addr(&settings.listen)?;
            let old_config = self.config.lock().map(|c| c.1.clone()).unwrap_or_default();
            let old = self.listener.lock().await.take();
            let old_addr = old.as_ref().map(RunningListener::local_addr);
            if let Some(old) = old {
                old.stop().await?;
            }
            match RunningListener::start(addr, self.store.clone(), wanted.clone()).await {
                Ok(listener) => {
                    self.store
                        .set_setting(LISTEN_SETTING, &listener.local_addr().to_string())
                        .await?;
                    self.running(listener).await;
                    if let Ok(mut c) = self.config.lock() {
                        *c = (settings.listen.clone(), wanted);
                    }
                }
                Err(e) => {
                    // Put the old listener back so deliveries keep arriving, then report.
                    if let Some(old_addr) = old_addr {
                        let restored =
                            RunningListener::start(old_addr, self.store.clone(), old_config)
                                .await?;
                        self.running(restored).await;
                    }
                    return Err(e);
                }
            }
        }
        if let Ok(switch) = self.autostart.lock()
            && let Some(switch) = switch.as_ref()
        {
            switch(settings.launch_at_login)?;
        }
        Ok(())
    }
}

//! `gatehouse serve`: the listener without a window, until SIGINT or SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gatehouse_core::api::{Api, Host};
use gatehouse_core::receive::listener::{ListenerConfig, ListenerStatus, RunningListener};
use gatehouse_core::receive::tls::TlsConfig;
use gatehouse_core::rules::retention;
use gatehouse_core::serve;
use gatehouse_core::settings::{self, Settings};
use gatehouse_core::store::Store;
use gatehouse_core::supervise::supervise;

use crate::error::Result;
use crate::{exit, listening, logging};

/// Flags override the saved settings (the desktop app's Settings) for this run only.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on: ADDR:PORT, a port, or an address [default: the saved setting, 127.0.0.1:8473]
    #[arg(long, value_name = "ADDR:PORT", env = "GATEHOUSE_LISTEN")]
    pub listen: Option<String>,
    /// Seconds a delivery's timestamp may differ from now, 1 to 2592000 [default: the saved setting, 600]
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub replay_window: Option<i64>,
    /// Largest body accepted, in bytes, 1024 to 67108864 [default: the saved setting, 1048576]
    #[arg(long, value_name = "BYTES")]
    pub body_limit: Option<u64>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mark the web dashboard's session cookies Secure: for a TLS proxy in front of this
    /// inbox (always so with --tls-cert)
    #[arg(long)]
    pub secure_cookies: bool,
}

pub fn run(data_dir: &Path, a: ServeArgs) -> Result<i32> {
    logging::init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = Arc::new(Store::open_dir(data_dir)?);
        let settings = with_flags(store.settings()?, &a)?;
        let mut config = ListenerConfig::from_settings(&settings)?;
        if let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) {
            config.tls = Some(TlsConfig::load(cert, key)?);
        }
        let tls = config.tls.is_some();
        let host = ServeHost::default();
        let api = Arc::new(Api::new(store.clone(), host.clone()));
        let account = api.account().clone();
        let ci_accounts = api.ci_accounts().clone();
        let (close_streams, closing) = tokio::sync::watch::channel(false);
        let site = crate::web::site();
        if !site.has_index() {
            tracing::warn!("this build has no web dashboard (ui/dist was empty when it was built)");
        }
        let options = serve::Options {
            site: Some(site),
            secure_cookies: tls || a.secure_cookies,
        };
        let running = RunningListener::start_with(
            settings.listen_addr()?,
            store.clone(),
            config,
            serve::router_with(api, closing, options),
        )
        .await?;
        let bound = running.local_addr();
        let status = running.status();
        let base = status.base_url.clone().unwrap_or_default();
        host.set(status);
        // Only for the CLI's URLs: a full disk must not stop the listener (it answers 503).
        let shutdown = Shutdown::listen();
        tell_systemd(&format!("READY=1\nSTATUS=Listening on {base}"));
        if let Err(e) = listening::record(&store, bound, tls).await {
            tracing::warn!("could not record the listen address for the CLI: {e}");
        }
        tracing::info!(
            "Gatehouse listening on {base} (data: {})",
            data_dir.display()
        );
        tracing::info!("web dashboard: {base}/ (sign in with a token from `gatehouse token add`)");
        if !bound.ip().is_loopback() && !tls {
            tracing::warn!(
                "{bound} is reachable from other machines without TLS: API tokens and deliveries cross the network in clear text; serve with --tls-cert/--tls-key or behind a TLS proxy"
            );
        }
        let endpoints = store.endpoints()?;
        if endpoints.is_empty() {
            tracing::info!("no endpoints yet: create one with `gatehouse endpoint add NAME`");
        }
        for e in endpoints {
            tracing::info!("endpoint {}: {base}/hooks/{}", e.name, e.name);
        }
        let retention_store = store.clone();
        let retention = tokio::spawn(supervise("retention", move || {
            retention::run(retention_store.clone())
        }));
        // The Appcircle account's sync, on its schedule (idle without an account).
        let account_sync = tokio::spawn(supervise("appcircle sync", move || {
            account.clone().run()
        }));
        // The CI accounts' reads, each on its schedule (idle without one).
        let ci_sync = tokio::spawn(supervise("ci accounts", move || {
            ci_accounts.clone().run()
        }));
        shutdown.wait().await;
        retention.abort();
        account_sync.abort();
        ci_sync.abort();
        tracing::info!("stopping: finishing requests in flight");
        tell_systemd("STOPPING=1\nSTATUS=Finishing requests in flight");
        // Open streams never end on their own; they would hold the shutdown up.
        let _ = close_streams.send(true);
        running.stop().await?;
        listening::clear(&store).await;
        // The last reference: the writer commits what is queued and its thread ends.
        drop(store);
        tracing::info!("stopped");
        Ok(exit::OK)
    })
}

/// What the API knows of `serve`: where it listens. Settings are read at start (flags
/// override them), so a save over the API is refused rather than stored and not applied.
#[derive(Clone, Default)]
struct ServeHost {
    status: Arc<std::sync::Mutex<Option<ListenerStatus>>>,
}

impl ServeHost {
    fn set(&self, status: ListenerStatus) {
        if let Ok(mut s) = self.status.lock() {
            *s = Some(status);
        }
    }
}

impl Host for ServeHost {
    fn listener(&self) -> ListenerStatus {
        self.status
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .unwrap_or_else(|| ListenerStatus::stopped(String::new()))
    }

    async fn apply_settings(&self, _settings: Settings) -> gatehouse_core::Result<()> {
        Err(gatehouse_core::Error::Conflict(
            "`gatehouse serve` reads its settings at start: change them in the app or with flags, then restart it".into(),
        ))
    }
}

/// The saved settings with this run's flags applied, each checked against its bounds.
fn with_flags(mut s: Settings, a: &ServeArgs) -> Result<Settings> {
    if let Some(listen) = &a.listen {
        s.listen = settings::parse_listen(listen)?.to_string();
    }
    if let Some(secs) = a.replay_window {
        settings::check_replay_window(secs)
            .map_err(|e| crate::error::AppError::Invalid(format!("--replay-window: {e}")))?;
        s.replay_window_secs = secs;
    }
    if let Some(bytes) = a.body_limit {
        settings::check_body_limit(bytes)
            .map_err(|e| crate::error::AppError::Invalid(format!("--body-limit: {e}")))?;
        s.body_limit = bytes;
    }
    Ok(s)
}

/// Tells systemd how the service stands (`Type=notify`): ready once it listens, stopping
/// when it drains. Only under systemd (`NOTIFY_SOCKET`); a failure is logged, never fatal.
fn tell_systemd(state: &str) {
    #[cfg(target_os = "linux")]
    {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            return;
        };
        let bytes = path.as_bytes();
        // `@name` is a socket in the abstract namespace.
        let addr = match bytes.strip_prefix(b"@") {
            Some(name) => SocketAddr::from_abstract_name(name),
            None => SocketAddr::from_pathname(std::path::Path::new(&path)),
        };
        let sent = addr.and_then(|addr| {
            let socket = UnixDatagram::unbound()?;
            socket.send_to_addr(state.as_bytes(), &addr)
        });
        if let Err(e) = sent {
            tracing::warn!(
                "could not tell systemd ({}): {e}",
                state.lines().next().unwrap_or_default()
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = state;
}

pub async fn shutdown_signal() {
    Shutdown::listen().wait().await
}

/// SIGTERM (or Ctrl-C), listened for from the moment it is made: systemd may stop the
/// service right after it said it was ready, and that SIGTERM must drain it, not kill it.
pub struct Shutdown {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Shutdown {
    pub fn listen() -> Shutdown {
        Shutdown {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
        }
    }

    pub async fn wait(self) {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match self.term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
    }
}

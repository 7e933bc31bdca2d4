//! What the ingest and inbox benchmarks both start: a store's listener with the inbox's API.

use std::net::SocketAddr;
use std::sync::Arc;

use gatehouse_core::api::{Api, Host};
use gatehouse_core::receive::listener::{ListenerConfig, ListenerStatus, RunningListener};
use gatehouse_core::serve;
use gatehouse_core::settings::Settings;
use gatehouse_core::store::Store;
use tokio::sync::watch;

/// The API's host in a benchmark: nothing to report, settings kept as they are.
struct BenchHost;

impl Host for BenchHost {
    fn listener(&self) -> ListenerStatus {
        ListenerStatus::stopped("bench")
    }
    async fn apply_settings(&self, _settings: Settings) -> gatehouse_core::Result<()> {
        Ok(())
    }
}

/// `store`'s listener on a free loopback port, with the inbox's API beside the hooks, and
/// what closes its open streams (a graceful stop waits for every connection).
pub async fn start_inbox(store: &Arc<Store>) -> (RunningListener, watch::Sender<bool>) {
    let (close, closing) = watch::channel(false);
    let api = Arc::new(Api::new(store.clone(), BenchHost));
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let listener = RunningListener::start_with(
        any,
        store.clone(),
        ListenerConfig::default(),
        serve::router(api, closing),
    )
    .await
    .expect("listener");
    (listener, close)
}

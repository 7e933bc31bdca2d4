//! Retention: what the settings say to forget, applied every hour by `serve` and the app.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::Result;
use crate::settings::{Settings, check_retention_days};
use crate::store::Store;

/// How often retention runs.
pub const EVERY: Duration = Duration::from_secs(3600);

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub events: u64,
    pub requests: u64,
    pub rejected_requests: u64,
}

/// Applies the retention settings once, as of `now`. Out-of-range periods are refused
/// (never an overflow in the date arithmetic).
pub async fn apply(store: &Store, settings: &Settings, now: DateTime<Utc>) -> Result<Removed> {
    let mut removed = Removed::default();
    if let Some(days) = settings.retention_days {
        let pruned = store
            .prune(now - check_retention_days(days, "retention")?)
            .await?;
        removed.events = pruned.events;
        removed.requests = pruned.requests;
    }
    if let Some(days) = settings.rejected_retention_days {
        let before = now - check_retention_days(days, "retention of rejected requests")?;
        removed.rejected_requests = store.prune_rejected(before).await?;
    }
    Ok(removed)
}

/// Applies retention now and then every [`EVERY`]; returns only on an error (for
/// [`crate::supervise::supervise`] to log and restart).
pub async fn run(store: Arc<Store>) -> Result<()> {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        let s = store.clone();
        let settings = crate::offload::run(move || s.settings())
            .await
            .map_err(|e| crate::Error::StoreUnavailable(format!("reading settings: {e}")))??;
        let removed = apply(&store, &settings, store.clock().now()).await?;
        if removed != Removed::default() {
            tracing::info!(
                "retention: removed {} events, {} requests, {} rejected requests",
                removed.events,
                removed.requests,
                removed.rejected_requests
            );
        }
    }
}

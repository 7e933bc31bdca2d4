//! Where this data directory's listener runs right now. `serve` and the desktop app record
//! their bound address and process id when they start listening and clear it when they
//! stop; the CLI reads it so that `endpoint list` never shows a URL nothing answers on
//! (a record left by a killed process is recognised by its dead process id).

use std::net::SocketAddr;

use gatehouse_core::store::Store;
use serde::{Deserialize, Serialize};

/// Settings-table key of the record (runtime state, not a user setting).
const KEY: &str = "running_listener";

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    addr: SocketAddr,
    pid: u32,
    /// Serving HTTPS (`serve --tls-cert`); absent in records of older versions.
    #[serde(default)]
    tls: bool,
}

/// Notes that this process listens on `addr` (with TLS when `tls`).
pub async fn record(store: &Store, addr: SocketAddr, tls: bool) -> gatehouse_core::Result<()> {
    let record = Record {
        addr,
        pid: std::process::id(),
        tls,
    };
    let json = serde_json::to_string(&record).map_err(|e| {
        gatehouse_core::Error::Invalid(format!("cannot encode the listener record: {e}"))
    })?;
    store.set_setting(KEY, &json).await
}

/// Forgets this process's record (after its listener stopped); another process's stays.
pub async fn clear(store: &Store) {
    if running_record(store).is_some_and(|r| r.pid == std::process::id())
        && let Err(e) = store.delete_setting(KEY).await
    {
        tracing::warn!("could not clear the listener record: {e}");
    }
}

/// The base URL a live Gatehouse process listens on for this data directory, if any.
pub fn running(store: &Store) -> Option<String> {
    running_record(store)
        .filter(|r| process_alive(r.pid))
        .map(|r| format!("{}://{}", if r.tls { "https" } else { "http" }, r.addr))
}

fn running_record(store: &Store) -> Option<Record> {
    let json = store.setting(KEY).ok().flatten()?;
    match serde_json::from_str(&json) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!("ignoring an unreadable listener record: {e}");
            None
        }
    }
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence and permission without sending anything.
    // SAFETY: kill(2) with signal 0 has no side effects.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

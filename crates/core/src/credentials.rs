//! Where the desktop keeps the token it follows an inbox with: the OS keyring (the Secret
//! Service on Linux: GNOME Keyring, KWallet) when one answers. A token is kept for one inbox
//! URL, so that changing the URL (or mistyping it) never sends it to another server. Where none runs (a bare
//! window manager, a container) it is kept in the database, which is 0600 in a 0700
//! directory, and the user is told so ([`TokenPlace::Database`]); a token kept there moves
//! into the keyring the next time one answers.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use ts_rs::TS;

use crate::store::Store;
use crate::token::PREFIX;
use crate::{Error, Result};

/// The keyring's service name for every Gatehouse secret.
const SERVICE: &str = "gatehouse";
/// The settings key of a token for `url` kept in the database.
fn database_key(url: &str) -> String {
    format!("inbox_token {url}")
}
/// A keyring that asks for a password (a locked collection) can wait for ever for a
/// prompt nobody sees; after this the database is used instead.
const KEYRING_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the inbox token is kept, as Settings says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "place", rename_all = "snake_case")]
#[ts(export)]
pub enum TokenPlace {
    Keyring,
    /// No keyring answered; `why` is its error, for the user.
    Database {
        why: String,
    },
}

/// A token and where it was found.
#[derive(Debug, Clone)]
pub struct KeptToken {
    pub token: String,
    pub place: TokenPlace,
}

/// Refuses text that is not a token `gatehouse token add` printed (a pasted URL, a line
/// with the name column, a truncated copy), before it is stored anywhere.
pub fn check_token(token: &str) -> Result<&str> {
    let token = token.trim();
    let hex = token.strip_prefix(PREFIX).ok_or_else(|| {
        Error::Invalid(format!(
            "an inbox token starts with {PREFIX} (`gatehouse token add NAME` on the inbox prints one)"
        ))
    })?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid(format!(
            "an inbox token is {PREFIX} and 64 hex digits; this one is not (copied in part?)"
        )));
    }
    Ok(token)
}

/// The keyring entry for `url` and this data directory, so that two profiles (and tests)
/// never share one.
fn account(store: &Store, url: &str) -> String {
    format!("inbox token for {} from {url}", store.path().display())
}

/// Keeps `token` for the inbox at `url`; returns where.
pub async fn save(store: &Arc<Store>, url: &str, token: &str) -> Result<TokenPlace> {
    let token = check_token(token)?.to_owned();
    match into_keyring(store, url, token.clone()).await {
        Ok(()) => {
            store.delete_setting(&database_key(url)).await?;
            Ok(TokenPlace::Keyring)
        }
        Err(why) => {
            tracing::warn!("no keyring for the inbox token ({why}); keeping it in the database");
            store.set_setting(&database_key(url), &token).await?;
            Ok(TokenPlace::Database { why })
        }
    }
}

async fn into_keyring(store: &Store, url: &str, token: String) -> std::result::Result<(), String> {
    let account = account(store, url);
    keyring_call(move || keyring::Entry::new(SERVICE, &account)?.set_password(&token)).await
}

/// The token kept for the inbox at `url`, if any. One found in the database is moved into
/// the keyring when a keyring answers now.
pub async fn load(store: &Arc<Store>, url: &str) -> Result<Option<KeptToken>> {
    let in_database = {
        let (store, key) = (store.clone(), database_key(url));
        crate::offload::blocking(move || store.setting(&key)).await?
    };
    if let Some(token) = in_database {
        let place = match into_keyring(store, url, token.clone()).await {
            Ok(()) => {
                store.delete_setting(&database_key(url)).await?;
                tracing::info!("the inbox token moved from the database into the keyring");
                TokenPlace::Keyring
            }
            Err(why) => TokenPlace::Database { why },
        };
        return Ok(Some(KeptToken { token, place }));
    }
    let account = account(store, url);
    match keyring_call(move || keyring::Entry::new(SERVICE, &account)?.get_password()).await {
        Ok(token) => Ok(Some(KeptToken {
            token,
            place: TokenPlace::Keyring,
        })),
        Err(why) if why == NO_ENTRY || !keyring_reachable() => Ok(None),
        Err(why) => Err(Error::System(format!(
            "the inbox token cannot be read from the keyring: {why}"
        ))),
    }
}

/// Forgets the token for the inbox at `url`, wherever it was kept.
pub async fn forget(store: &Arc<Store>, url: &str) -> Result<()> {
    store.delete_setting(&database_key(url)).await?;
    let account = account(store, url);
    match keyring_call(move || keyring::Entry::new(SERVICE, &account)?.delete_credential()).await {
        Ok(()) => Ok(()),
        Err(why) if why == NO_ENTRY => Ok(()),
        Err(why) if !keyring_reachable() => {
            tracing::debug!("no keyring to forget the inbox token in: {why}");
            Ok(())
        }
        Err(why) => Err(Error::System(format!(
            "the inbox token cannot be removed from the keyring: {why}"
        ))),
    }
}

/// The error text of a missing entry (which is not a failure of the keyring).
const NO_ENTRY: &str = "no entry";

/// Runs one keyring call off the async threads, with [`KEYRING_TIMEOUT`]; errors become
/// text for the user (never the token: the keyring's errors do not contain it).
async fn keyring_call<T: Send + 'static>(
    call: impl FnOnce() -> keyring::Result<T> + Send + 'static,
) -> std::result::Result<T, String> {
    if !keyring_reachable() {
        return Err("no D-Bus session bus, so no Secret Service".into());
    }
    let task = tokio::task::spawn_blocking(call);
    match tokio::time::timeout(KEYRING_TIMEOUT, task).await {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(keyring::Error::NoEntry))) => Err(NO_ENTRY.into()),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(format!("the keyring call failed: {e}")),
        Err(_) => Err(format!(
            "the keyring did not answer within {} s (is it locked?)",
            KEYRING_TIMEOUT.as_secs()
        )),
    }
}

/// Whether a session bus can exist: without one, libdbus would try to start a bus of its
/// own through X11 (`dbus-launch`), which on a headless machine fails slowly or leaves a
/// stray daemon behind.
fn keyring_reachable() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty()) {
        return true;
    }
    std::env::var_os("XDG_RUNTIME_DIR")
        .is_some_and(|dir| std::path::Path::new(&dir).join("bus").exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_tokens_are_accepted() {
        let good = format!("{PREFIX}{}", "ab".repeat(32));
        assert_eq!(check_token(&format!(" {good}\n")).ok(), Some(good.as_str()));
        for bad in [
            String::new(),
            "ab".repeat(32),
            format!("{PREFIX}{}", "ab".repeat(31)),
            format!("{PREFIX}{}zz", "ab".repeat(31)),
            format!("desktop {good}"),
        ] {
            assert!(check_token(&bad).is_err(), "{bad}");
        }
    }
}

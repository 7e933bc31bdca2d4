//! Where Gatehouse keeps the secrets it must send elsewhere: the token the desktop follows
//! an inbox with, and the Appcircle account's key. The OS keyring (the Secret Service on
//! Linux: GNOME Keyring, KWallet) when one answers. An inbox token is kept for one inbox
//! URL, so that changing the URL (or mistyping it) never sends it to another server. Where
//! no keyring runs (a bare window manager, a container, a headless `serve`) a secret is kept
//! in the database, which is 0600 in a 0700 directory, and the user is told so
//! ([`TokenPlace::Database`]); a secret kept there moves into the keyring the next time one
//! answers.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::serve::token::PREFIX;
use crate::store::Store;
use crate::{Error, Result};

/// The keyring's service name for every Gatehouse secret.
const SERVICE: &str = "gatehouse";

/// What a kept secret is for: each has its own keyring entry and database key.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// The token the desktop follows the inbox at this URL with.
    InboxToken(&'a str),
    /// The connected Appcircle account's API key secret or personal access key.
    AppcircleKey,
    /// The access token of the CI account with this id (GitHub, GitLab).
    ApiToken(&'a str),
}

impl Credential<'_> {
    /// The settings key it is kept under in the database.
    fn database_key(self) -> String {
        match self {
            Credential::InboxToken(url) => format!("inbox_token {url}"),
            Credential::AppcircleKey => "appcircle_key".into(),
            Credential::ApiToken(account) => format!("api_token {account}"),
        }
    }

    /// The keyring entry, with this data directory in it so that two profiles (and tests)
    /// never share one.
    fn entry_name(self, store: &Store) -> String {
        let dir = store.path().display();
        match self {
            Credential::InboxToken(url) => format!("inbox token for {dir} from {url}"),
            Credential::AppcircleKey => format!("Appcircle key for {dir}"),
            Credential::ApiToken(account) => format!("{account} token for {dir}"),
        }
    }

    /// What it is, for messages.
    fn what(self) -> &'static str {
        match self {
            Credential::InboxToken(_) => "the inbox token",
            Credential::AppcircleKey => "the Appcircle key",
            Credential::ApiToken(_) => "the access token",
        }
    }

    /// Refuses what cannot be this secret, before it is stored anywhere.
    fn check(self, secret: &str) -> Result<&str> {
        match self {
            Credential::InboxToken(_) => check_token(secret),
            Credential::AppcircleKey | Credential::ApiToken(_) => {
                let secret = secret.trim();
                if secret.is_empty() {
                    return Err(Error::Invalid(format!("{} is empty", self.what())));
                }
                Ok(secret)
            }
        }
    }
}

/// A keyring that asks for a password (a locked collection) can wait for ever for a
/// prompt nobody sees; after this the database is used instead.
const KEYRING_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a secret is kept, as Settings says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "place", rename_all = "snake_case")]
#[ts(export)]
pub enum TokenPlace {
    Keyring,
    /// No keyring answered; `why` is its error, for the user.
    Database {
        why: String,
    },
}

/// A secret and where it was found.
#[derive(Debug, Clone)]
pub struct KeptSecret {
    pub secret: String,
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

/// Keeps `secret` as `what`; returns where.
pub async fn save(store: &Arc<Store>, what: Credential<'_>, secret: &str) -> Result<TokenPlace> {
    let secret = what.check(secret)?.to_owned();
    match into_keyring(store, what, secret.clone()).await {
        Ok(()) => {
            store.delete_setting(&what.database_key()).await?;
            Ok(TokenPlace::Keyring)
        }
        Err(why) => {
            tracing::warn!(
                "no keyring for {} ({why}); keeping it in the database",
                what.what()
            );
            store.set_setting(&what.database_key(), &secret).await?;
            Ok(TokenPlace::Database { why })
        }
    }
}

async fn into_keyring(
    store: &Store,
    what: Credential<'_>,
    secret: String,
) -> std::result::Result<(), String> {
    let entry = what.entry_name(store);
    keyring_call(move || keyring::Entry::new(SERVICE, &entry)?.set_password(&secret)).await
}

/// The secret kept as `what`, if any. One found in the database is moved into the keyring
/// when a keyring answers now.
pub async fn load(store: &Arc<Store>, what: Credential<'_>) -> Result<Option<KeptSecret>> {
    let in_database = {
        let (store, key) = (store.clone(), what.database_key());
        crate::offload::blocking(move || store.setting(&key)).await?
    };
    if let Some(secret) = in_database {
        let place = match into_keyring(store, what, secret.clone()).await {
            Ok(()) => {
                store.delete_setting(&what.database_key()).await?;
                tracing::info!("{} moved from the database into the keyring", what.what());
                TokenPlace::Keyring
            }
            Err(why) => TokenPlace::Database { why },
        };
        return Ok(Some(KeptSecret { secret, place }));
    }
    let entry = what.entry_name(store);
    match keyring_call(move || keyring::Entry::new(SERVICE, &entry)?.get_password()).await {
        Ok(secret) => Ok(Some(KeptSecret {
            secret,
            place: TokenPlace::Keyring,
        })),
        Err(why) if why == NO_ENTRY || !keyring_reachable() => Ok(None),
        Err(why) => Err(Error::System(format!(
            "{} cannot be read from the keyring: {why}",
            what.what()
        ))),
    }
}

/// Forgets the secret kept as `what`, wherever it was kept.
pub async fn forget(store: &Arc<Store>, what: Credential<'_>) -> Result<()> {
    store.delete_setting(&what.database_key()).await?;
    let entry = what.entry_name(store);
    match keyring_call(move || keyring::Entry::new(SERVICE, &entry)?.delete_credential()).await {
        Ok(()) => Ok(()),
        Err(why) if why == NO_ENTRY => Ok(()),
        Err(why) if !keyring_reachable() => {
            tracing::debug!("no keyring to forget {} in: {why}", what.what());
            Ok(())
        }
        Err(why) => Err(Error::System(format!(
            "{} cannot be removed from the keyring: {why}",
            what.what()
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
    let task = crate::offload::run(call);
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

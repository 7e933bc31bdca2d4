//! The desktop's inbox token against a real Secret Service (gnome-keyring-daemon on a
//! private D-Bus session, started by scripts/e2e.sh in `make e2e`), and the database it
//! falls back to where no keyring runs.
//!
//! One test, so the part that hides the session bus (process-wide environment) runs alone.
//! Under plain `cargo test` (no session bus) only the fallback runs; scripts/e2e.sh sets
//! GATEHOUSE_KEYRING_TEST=1, which makes a missing keyring a failure instead.

use std::sync::Arc;

use gatehouse_core::credentials::{self, Credential, TokenPlace};
use gatehouse_core::store::Store;

const URL: &str = "https://inbox.example.com:8473";
const INBOX: Credential<'static> = Credential::InboxToken(URL);

/// The session-bus variables the keyring is found through.
const BUS_VARS: [&str; 2] = ["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"];

fn db_holds(dir: &std::path::Path, token: &str) -> bool {
    let mut bytes = Vec::new();
    for name in ["gatehouse.db", "gatehouse.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            bytes.extend(b);
        }
    }
    bytes.windows(token.len()).any(|w| w == token.as_bytes())
}

#[tokio::test]
async fn the_token_lives_in_the_keyring_or_says_it_is_in_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open_dir(dir.path()).expect("store"));
    let token = gatehouse_core::serve::token::generate().expect("token");
    let required = std::env::var("GATEHOUSE_KEYRING_TEST").is_ok_and(|v| v == "1");
    let bus: Vec<(&str, Option<std::ffi::OsString>)> =
        BUS_VARS.iter().map(|v| (*v, std::env::var_os(v))).collect();

    // With a keyring: kept there, never in the database, read back, forgotten.
    let place = credentials::save(&store, INBOX, &token)
        .await
        .expect("saved");
    if required {
        assert_eq!(place, TokenPlace::Keyring, "a keyring runs here: {place:?}");
    }
    if place == TokenPlace::Keyring {
        assert!(
            !db_holds(dir.path(), &token),
            "a token in the keyring is not in the database"
        );
        let kept = credentials::load(&store, INBOX)
            .await
            .expect("load")
            .expect("kept");
        assert_eq!(
            (kept.secret.as_str(), kept.place),
            (token.as_str(), TokenPlace::Keyring)
        );
        credentials::forget(&store, INBOX).await.expect("forgot");
        assert!(
            credentials::load(&store, INBOX)
                .await
                .expect("load")
                .is_none()
        );
    } else {
        println!("no keyring here ({place:?}): only the fallback is tested");
    }

    // Without a session bus: kept in the database, and the user is told why.
    for (var, _) in &bus {
        // SAFETY: this test binary runs this one test; nothing else reads the environment now.
        unsafe { std::env::remove_var(var) };
    }
    let place = credentials::save(&store, INBOX, &token)
        .await
        .expect("saved");
    let TokenPlace::Database { why } = &place else {
        panic!("no session bus, yet {place:?}");
    };
    assert!(why.contains("D-Bus"), "{why}");
    let kept = credentials::load(&store, INBOX)
        .await
        .expect("load")
        .expect("kept");
    assert_eq!(kept.secret, token);
    assert!(matches!(kept.place, TokenPlace::Database { .. }));
    assert!(
        credentials::save(&store, INBOX, "not-a-token")
            .await
            .is_err(),
        "pasted text that is not a token is refused before it is stored"
    );

    // The keyring is back: the next load moves the token there.
    for (var, value) in &bus {
        if let Some(value) = value {
            // SAFETY: as above.
            unsafe { std::env::set_var(var, value) };
        }
    }
    let kept = credentials::load(&store, INBOX)
        .await
        .expect("load")
        .expect("kept");
    if required {
        assert_eq!(kept.place, TokenPlace::Keyring, "moved into the keyring");
        assert_eq!(
            store.setting(&format!("inbox_token {URL}")).expect("read"),
            None,
            "and out of the database"
        );
    }
    // Whatever happened, nothing is left in the keyring of whoever ran this.
    credentials::forget(&store, INBOX).await.expect("forgot");
}

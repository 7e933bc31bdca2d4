//! `gatehouse token` and `gatehouse serve`'s API, through the real binary: a token is printed
//! once and never again, the API takes it, a stream left open does not hold up a stop, and a
//! revoked token is refused.

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::{Gatehouse, post};
use serde_json::json;

#[test]
fn tokens_are_shown_once_and_open_the_api_of_serve() {
    let g = Gatehouse::new();
    let out = g.ok(&["token", "add", "ops", "--admin"]);
    let token = out.trim().to_owned();
    assert!(
        token.starts_with("gh_inbox_") && token.len() == 9 + 64,
        "{out}"
    );
    let list = g.ok(&["token", "list"]);
    assert!(
        list.contains("ops") && list.contains("admin") && list.contains("never"),
        "{list}"
    );
    assert!(!list.contains(&token[9..]), "the list never shows a token");
    let listed = g.json(&["token", "list", "--json"]);
    assert_eq!(listed[0]["role"], "admin");
    assert!(!listed.to_string().contains(&token[9..]));
    let db = std::fs::read(g.data_dir().join("gatehouse.db")).unwrap_or_default();
    let wal = std::fs::read(g.data_dir().join("gatehouse.db-wal")).unwrap_or_default();
    let needle = token.as_bytes();
    for file in [&db, &wal] {
        assert!(
            !file.windows(needle.len()).any(|w| w == needle),
            "the token itself is not stored"
        );
    }

    let server = g.serve(&[]);
    let rpc = format!("{}/api/v1/rpc", server.base);
    let auth = format!("Bearer {token}");
    let (status, body) = post(
        &rpc,
        &[("Authorization", &auth)],
        json!({"method": "create_endpoint", "params": {"name": "ci", "secret": null}})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["endpoint"]["name"], "ci");
    let (status, body) = post(
        &rpc,
        &[("Authorization", &auth)],
        json!({"method": "save_settings", "params": {"settings": {}}})
            .to_string()
            .as_bytes(),
    );
    assert!(
        status == 409 || status == 400,
        "serve does not store settings it would not apply: {status} {body}"
    );

    // A stream left open: the stop below must not wait for it.
    let stream_url = format!("{}/api/v1/stream?after=0", server.base);
    let auth_for_stream = auth.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok(resp) = ureq::get(&stream_url)
            .set("Authorization", &auth_for_stream)
            .call()
        {
            for line in BufReader::new(resp.into_reader())
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    return;
                }
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the stream answers");
    assert!(
        first.starts_with("id:") || first.starts_with("event:") || first.starts_with(':'),
        "{first}"
    );

    g.ok(&["token", "add", "wall"]);
    g.ok(&["token", "revoke", "ops"]);
    let (status, _) = post(
        &rpc,
        &[("Authorization", &auth)],
        br#"{"method":"overview"}"#,
    );
    assert_eq!(
        status, 401,
        "a token revoked by the CLI from another process is refused at once"
    );
    let listed = g.ok(&["token", "list"]);
    assert!(!listed.contains("ops"), "{listed}");

    let stopping = Instant::now();
    assert!(server.stop(), "serve stops cleanly with a stream open");
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopping.elapsed()
    );
}

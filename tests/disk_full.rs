//! A data directory on a filesystem that fills up: deliveries get 503 with Retry-After,
//! never a 2xx for what was not stored, /healthz says degraded; once space is back the same
//! running `serve` recovers without a restart.
//!
//! It needs a small filesystem of its own: `make disk-full` (part of `make test`) mounts a
//! tmpfs and passes its path in GATEHOUSE_FULL_DIR.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;

use common::{Server, post};
use gatehouse_core::receive::signature::sign;
use gatehouse_core::send::samples::{self, Sample, SampleOptions};
use gatehouse_core::store::{EventQuery, Store};

const SECRET: &str = "disk-full-test-secret-of-length";

fn get(url: &str) -> (u16, Option<String>, serde_json::Value) {
    let resp = match ureq::get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let status = resp.status();
    let retry = resp.header("retry-after").map(str::to_owned);
    let json = serde_json::from_str(&resp.into_string().unwrap_or_default())
        .unwrap_or(serde_json::Value::Null);
    (status, retry, json)
}

/// Fills the filesystem with a file until less than `leave` bytes are free.
fn fill(dir: &std::path::Path, leave: u64) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0u8; 16 * 1024];
    loop {
        let free = free_bytes(dir);
        if free <= leave {
            break;
        }
        if file.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = file.sync_all();
    path
}

fn free_bytes(dir: &std::path::Path) -> u64 {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).expect("path");
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs writes into the struct we own.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut stat) };
    assert_eq!(rc, 0, "statvfs");
    stat.f_bavail as u64 * stat.f_frsize as u64
}

#[test]
#[ignore = "needs a small filesystem of its own: run `make disk-full`"]
fn a_full_filesystem_gets_503_and_recovers_without_a_restart() {
    let root = PathBuf::from(
        std::env::var("GATEHOUSE_FULL_DIR").expect("GATEHOUSE_FULL_DIR: a small tmpfs mount"),
    );
    let data = root.join("data");
    let run = |args: &[&str]| {
        std::process::Command::new(common::BIN)
            .args(args)
            .env("GATEHOUSE_DATA_DIR", &data)
            .output()
            .expect("gatehouse")
    };
    assert!(
        run(&["endpoint", "add", "full", "--secret", SECRET])
            .status
            .success()
    );
    let server = Server::start(&data, &[]);
    let url = server.hook("full");
    let filler = fill(&root, 1024 * 1024);

    let mut acknowledged = HashSet::new();
    let mut refused = None;
    for i in 0..5_000 {
        let body = samples::build(
            Sample::BuildFailed,
            &SampleOptions {
                delivery_id: Some(format!("full-{i}")),
                ..Default::default()
            },
        )
        .expect("sample");
        let sig = sign(SECRET.as_bytes(), &body);
        let (status, json) = post(&url, &[("ac_signature", &sig)], &body);
        match status {
            200 => {
                acknowledged.insert(format!("full-{i}"));
            }
            503 => {
                refused = Some(json);
                break;
            }
            other => panic!("unexpected {other}: {json}"),
        }
    }
    let refused = refused.expect("the filesystem fills up");
    assert_eq!(refused["status"], "unavailable");
    eprintln!(
        "disk full after {} acknowledged deliveries ({} bytes free)",
        acknowledged.len(),
        free_bytes(&root)
    );
    let (status, retry, health) = get(&format!("{}/healthz", server.base));
    assert_eq!(
        (status, health["status"].as_str()),
        (503, Some("degraded")),
        "{health}"
    );
    assert_eq!(retry.as_deref(), Some("5"));

    // Space comes back; the same process recovers.
    std::fs::remove_file(filler).expect("free space");
    let (status, _, health) = get(&format!("{}/healthz", server.base));
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("ok")),
        "{health}"
    );
    let body = samples::build(Sample::BuildSucceeded, &SampleOptions::default()).expect("sample");
    let sig = sign(SECRET.as_bytes(), &body);
    let (status, json) = post(&url, &[("ac_signature", &sig)], &body);
    assert_eq!(status, 200, "{json}");
    acknowledged.insert(json["delivery_id"].as_str().expect("id").to_owned());
    assert!(server.stop(), "stops cleanly");

    let store = Store::open_dir(&data).expect("opens");
    let stored: HashSet<String> = store
        .events(&EventQuery {
            limit: Some(10_000),
            ..Default::default()
        })
        .expect("events")
        .into_iter()
        .map(|e| e.delivery_id)
        .collect();
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
}

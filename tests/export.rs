//! `gatehouse export` and `gatehouse backup` against the built binary: what comes out, a
//! reader that goes away, and a backup taken while `serve` takes deliveries.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BIN, Gatehouse, post};
use gatehouse_core::receive::signature::sign;
use gatehouse_core::send::samples::{self, Sample, SampleOptions};
use serde_json::Value;

const SECRET: &str = "an-export-test-secret";

/// Sends a signed build delivery of `profile` to `url`; its delivery id when acknowledged.
fn deliver(url: &str, sample: Sample, profile: &str, message: Option<&str>) -> Option<String> {
    let options = SampleOptions {
        profile: Some(profile.into()),
        branch: Some("main".into()),
        message: message.map(str::to_owned),
        ..Default::default()
    };
    let body = samples::build(sample, &options).expect("sample");
    let id = serde_json::from_slice::<Value>(&body).expect("json")["deliveryId"]
        .as_str()
        .map(str::to_owned);
    let sig = sign(SECRET.as_bytes(), &body);
    let (status, _) = post(url, &[("ac_signature", &sig)], &body);
    (status == 200).then_some(id).flatten()
}

#[test]
fn events_and_requests_come_out_as_json_lines_or_csv() {
    let g = Gatehouse::new();
    g.ok(&["endpoint", "add", "ci", "--secret", SECRET]);
    let server = g.serve(&[]);
    let url = server.hook("ci");
    deliver(
        &url,
        Sample::BuildFailed,
        "App",
        Some("=HYPERLINK(\"x\"), \"quoted\"\nline"),
    );
    deliver(&url, Sample::BuildSucceeded, "App", None);
    deliver(&url, Sample::BuildSucceeded, "Other", None);
    post(&url, &[("ac_signature", "00")], b"{}");
    assert!(server.stop());

    let lines = g.ok(&["export"]);
    let events: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(events.len(), 3);
    let ids: Vec<i64> = events.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");

    let failed = g.ok(&["export", "--outcome", "failed", "--format", "csv"]);
    let mut rows = failed.lines();
    let header = rows.next().expect("header");
    assert!(header.starts_with("id,occurred_at,received_at,provider,endpoint"));
    let rest: String = rows.collect::<Vec<_>>().join("\n");
    assert!(
        rest.contains("\"'=HYPERLINK(\"\"x\"\"), \"\"quoted\"\"\nline\""),
        "quoted, and never a formula: {rest}"
    );
    assert_eq!(
        g.ok(&["export", "--profile", "Other", "--format", "csv"])
            .lines()
            .count(),
        2,
        "the header and one row"
    );

    let requests = g.ok(&["export", "--requests"]);
    let verdicts: Vec<String> = requests
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["verdict"].to_string())
        .collect();
    assert_eq!(verdicts.len(), 4);
    assert!(verdicts[3].contains("bad_signature"), "{verdicts:?}");
    assert!(!requests.contains("\"body\":\""), "bodies are not exported");
    assert_eq!(
        g.ok(&["export", "--requests", "--verdict", "bad_signature"])
            .lines()
            .count(),
        1
    );
}

/// A reader that stops early (`gatehouse export | head -1`) ends the export quietly.
#[test]
fn a_reader_that_goes_away_ends_the_export_quietly() {
    let g = Gatehouse::new();
    g.ok(&["endpoint", "add", "ci", "--secret", SECRET]);
    let server = g.serve(&[]);
    let url = server.hook("ci");
    for i in 0..40 {
        deliver(
            &url,
            Sample::BuildSucceeded,
            &format!("P{i}"),
            Some(&"x".repeat(4000)),
        );
    }
    assert!(server.stop());
    let mut child = Command::new(BIN)
        .arg("export")
        .env("GATEHOUSE_DATA_DIR", g.data_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("export");
    let mut first = [0u8; 100];
    child
        .stdout
        .as_mut()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("the first bytes");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.code() == Some(0) || out.status.signal() == Some(13),
        "ends quietly, as Unix tools do (SIGPIPE): {:?}",
        out.status
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "no error, no panic"
    );
}

/// A backup taken while deliveries arrive opens and holds every delivery acknowledged before
/// it started; it never overwrites a file.
#[test]
fn a_backup_under_load_holds_every_acknowledged_delivery() {
    let g = Gatehouse::new();
    g.ok(&["endpoint", "add", "ci", "--secret", SECRET]);
    let server = g.serve(&[]);
    let url = server.hook("ci");
    let acked: Arc<Mutex<Vec<(Instant, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..2)
        .map(|t| {
            let (url, acked, stop) = (url.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    if let Some(id) =
                        deliver(&url, Sample::BuildSucceeded, &format!("T{t}-{i}"), None)
                    {
                        acked.lock().expect("lock").push((Instant::now(), id));
                    }
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let file = g.data_dir().join("copy.db");
    let started = Instant::now();
    g.ok(&["backup", file.to_str().expect("path")]);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.join().expect("sender");
    }
    assert!(server.stop());

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).expect("copy").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private, as the database is");
    // The copy opens as a data directory of its own.
    let restored = Gatehouse::new();
    std::fs::copy(&file, restored.data_dir().join("gatehouse.db")).expect("copy");
    let events = restored.ok(&["export"]);
    let stored: std::collections::HashSet<String> = events
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<Value>(l).ok()?["delivery_id"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let acked = acked.lock().expect("lock");
    let before: Vec<&String> = acked
        .iter()
        .filter(|(at, _)| *at < started)
        .map(|(_, id)| id)
        .collect();
    assert!(
        before.len() > 5,
        "deliveries flowed before the backup: {}",
        before.len()
    );
    let missing: Vec<&&String> = before.iter().filter(|id| !stored.contains(**id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup, not in it: {missing:?}"
    );
    eprintln!(
        "measured: backup under load held {} events ({} acknowledged before it started, {} in all)",
        stored.len(),
        before.len(),
        acked.len()
    );

    let again = g.run(&["backup", file.to_str().expect("path")]);
    assert_eq!(again.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
}

/// The figure the issue asks for: the export's peak memory (VmHWM) over 10,000 and over
/// 100,000 events, side by side; bounded means about the same. About a minute to fill, so
/// in `make soak`, not `make test`.
#[test]
#[ignore = "fills 100,000 events; run by `make soak`"]
fn measure_the_exports_memory_over_10_000_and_100_000_events() {
    let g = Gatehouse::new();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut peaks = Vec::new();
    let mut filled = 0;
    for total in [10_000, 100_000] {
        rt.block_on(fill(g.data_dir(), filled, total));
        filled = total;
        let mut child = Command::new(BIN)
            .args(["export", "--format", "csv"])
            .env("GATEHOUSE_DATA_DIR", g.data_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("export");
        let mut out = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut lines = 0u64;
            let mut buf = [0u8; 65536];
            loop {
                match out.read(&mut buf) {
                    Ok(0) | Err(_) => return lines,
                    Ok(n) => lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64,
                }
            }
        });
        let mut peak = 0;
        while child.try_wait().expect("wait").is_none() {
            if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
                for line in status.lines() {
                    if let Some(kib) = line.strip_prefix("VmHWM:") {
                        peak = kib
                            .trim()
                            .trim_end_matches(" kB")
                            .trim()
                            .parse()
                            .unwrap_or(peak);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let lines = reader.join().expect("reader");
        assert!(lines >= total as u64, "{lines} lines for {total} events");
        peaks.push((total, peak));
    }
    eprintln!(
        "measured: export --format csv peak RSS: {} KiB over {} events, {} KiB over {} events",
        peaks[0].1, peaks[0].0, peaks[1].1, peaks[1].0
    );
}

/// Stores deliveries `from..to` straight through the store (as the listener would), many
/// at once so that they share commits.
async fn fill(dir: &std::path::Path, from: usize, to: usize) {
    use gatehouse_core::store::Store;
    let store = Arc::new(Store::open_dir(dir).expect("store"));
    if store.endpoint("ci").is_err() {
        store.add_endpoint("ci", SECRET).await.expect("endpoint");
    }
    for chunk in (from..to).collect::<Vec<_>>().chunks(500) {
        let mut tasks = Vec::new();
        for i in chunk {
            let store = store.clone();
            let i = *i;
            tasks.push(tokio::spawn(async move {
                let body = samples::build(
                    Sample::BuildSucceeded,
                    &SampleOptions {
                        profile: Some(format!("P{}", i % 50)),
                        branch: Some("main".into()),
                        ..Default::default()
                    },
                )
                .expect("sample");
                let (arrival, judgment) =
                    samples::live_arrival("ci", SECRET, body, store.clock().now());
                store.record(arrival, judgment).await.expect("recorded");
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    }
}

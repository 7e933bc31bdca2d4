//! Unauthenticated disk use: how much the database grows when anyone who can reach an
//! endpoint sends unsigned 1 MiB bodies (each is recorded, 401, with at most its first
//! 64 KiB kept), and when they probe unknown endpoint names (counted in memory, written
//! in bulk). Real loopback HTTP into a real SQLite file.
//!
//! Run with `make bench` (or `cargo bench -p gatehouse-core --bench refused`).
//! Environment: REFUSED_COUNT (unsigned posts, default 10,000), PROBE_COUNT (404s, 10,000).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use gatehouse_core::receive::listener::{ListenerConfig, RunningListener};
use gatehouse_core::store::{RequestQuery, Store, StoreOptions};

const CLIENTS: usize = 4;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The database's size in bytes once everything written so far is in it (the WAL copied
/// back and emptied, so nothing is counted twice).
fn size(db: &std::path::Path) -> u64 {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .expect("busy timeout");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    std::fs::metadata(db).map(|m| m.len()).unwrap_or(0)
}

fn main() {
    let (refused, probes) = (env("REFUSED_COUNT", 10_000), env("PROBE_COUNT", 10_000));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("refused.db");
    let store = Arc::new(Store::open_with(&db, StoreOptions::default()).expect("store"));
    let listener = rt.block_on(async {
        store
            .add_endpoint("target", "refused-benchmark-secret")
            .await
            .expect("endpoint");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        RunningListener::start(any, store.clone(), ListenerConfig::default())
            .await
            .expect("listener")
    });
    let base = format!("http://{}", listener.local_addr());
    let empty = size(&db);

    let body = Arc::new(vec![b'x'; 1024 * 1024]);
    let started = Instant::now();
    run_clients(refused, |agent, _| {
        let r = agent
            .post(&format!("{base}/hooks/target"))
            .send_bytes(&body);
        assert!(
            matches!(r, Err(ureq::Error::Status(401, _))),
            "unsigned: 401"
        );
    });
    let refused_time = started.elapsed();
    let after_refused = size(&db);

    let started = Instant::now();
    run_clients(probes, |agent, i| {
        let r = agent
            .post(&format!("{base}/hooks/probe-{i}"))
            .send_bytes(b"{}");
        assert!(
            matches!(r, Err(ureq::Error::Status(404, _))),
            "unknown: 404, got {r:?}"
        );
    });
    let probe_time = started.elapsed();
    rt.block_on(listener.stop()).expect("stop");
    // The writer flushes the 404 tally every 2 s; give it one round.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let after_probes = size(&db);
    let recorded = store
        .requests(&RequestQuery {
            limit: Some(1),
            ..Default::default()
        })
        .expect("requests");
    assert!(recorded.first().is_some_and(|r| r.body_truncated));
    let listed = store.unmatched().expect("unmatched");
    assert!(
        probes == 0 || listed.iter().any(|u| u.hits > 0),
        "404s were counted"
    );

    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!("\nUnauthenticated disk use: database growth (WAL checkpointed first)");
    println!("| traffic | requests | time s | growth MiB | per request KiB |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| unsigned 1 MiB POSTs (401, first 64 KiB kept) | {refused} | {:.1} | {:.1} | {:.1} |",
        refused_time.as_secs_f64(),
        mib(after_refused - empty),
        (after_refused - empty) as f64 / 1024.0 / refused.max(1) as f64
    );
    println!(
        "| 404s to distinct unknown names (tallied in memory) | {probes} | {:.1} | {:.2} | {:.3} |",
        probe_time.as_secs_f64(),
        mib(after_probes.saturating_sub(after_refused)),
        after_probes.saturating_sub(after_refused) as f64 / 1024.0 / probes.max(1) as f64
    );
    println!(
        "(storing whole bodies would have grown it by {:.0} MiB)",
        refused as f64
    );
}

fn run_clients(total: usize, send: impl Fn(&ureq::Agent, usize) + Sync) {
    std::thread::scope(|s| {
        for c in 0..CLIENTS {
            let send = &send;
            s.spawn(move || {
                let agent = ureq::AgentBuilder::new().build();
                for i in (c..total).step_by(CLIENTS) {
                    send(&agent, i);
                }
            });
        }
    });
}

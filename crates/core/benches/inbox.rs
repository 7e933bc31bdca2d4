//! The inbox and a mirror following it, over real loopback HTTP into real SQLite files:
//!
//! - catch-up: a mirror starting from nothing against an inbox holding BENCH_BACKLOG
//!   (default 10,000) deliveries, time until it is up to date;
//! - live: with the mirror up to date, deliveries sent one at a time, each timed from the
//!   POST to the event being stored in the mirror (what the desktop notifies on).
//!
//! Run with `make bench` (or `cargo bench -p gatehouse-core --bench inbox`).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_core::follow::mirror::{self, Inbox, MirrorState};
use gatehouse_core::receive::signature::sign;
use gatehouse_core::send::samples::{self, Sample, SampleOptions};
use gatehouse_core::serve::token::Role;
use gatehouse_core::store::{Notice, Store};

const SECRET: &str = "benchmark-secret-0123456789";

fn main() {
    let backlog: usize = std::env::var("BENCH_BACKLOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let live: usize = 200;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    rt.block_on(async {
        let store = Arc::new(Store::open_dir(&dir.path().join("inbox")).expect("inbox store"));
        store.add_endpoint("ci", SECRET).await.expect("endpoint");
        let (_, token) = store.add_token("bench", Role::Read).await.expect("token");
        let (listener, close) = common::start_inbox(&store).await;
        let url = format!("http://{}", listener.local_addr());
        let hook = format!("{url}/hooks/ci");

        // The backlog, sent by 8 clients.
        let filled = Instant::now();
        let per = backlog / 8;
        let senders: Vec<_> = (0..8)
            .map(|_| {
                let hook = hook.clone();
                tokio::task::spawn_blocking(move || {
                    let agent = ureq::AgentBuilder::new().build();
                    for _ in 0..per {
                        send(&agent, &hook);
                    }
                })
            })
            .collect();
        for s in senders {
            s.await.expect("sender");
        }
        let backlog = per * 8;
        eprintln!("backlog of {backlog} stored in {:.1} s", filled.elapsed().as_secs_f64());

        let mirror_store =
            Arc::new(Store::open_dir(&dir.path().join("desk")).expect("mirror store"));
        let (state, mut states) = tokio::sync::watch::channel(MirrorState::Connecting);
        let (caught, _batches) = tokio::sync::mpsc::unbounded_channel();
        let (_stop, stopping) = tokio::sync::watch::channel(false);
        let started = Instant::now();
        tokio::spawn(mirror::follow(
            mirror_store.clone(),
            Inbox {
                url: url.clone(),
                token,
            },
            state,
            caught,
            stopping,
        ));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let changed = tokio::time::timeout_at(deadline, states.changed()).await;
            let now = states.borrow().clone();
            match changed {
                Ok(Ok(())) if matches!(now, MirrorState::UpToDate { .. }) => break,
                Ok(Ok(())) => {}
                _ => panic!("the mirror did not catch up within 120 s; it is {now:?}"),
            }
        }
        let catch_up = started.elapsed();
        let mirrored = mirror_store
            .count_events(&Default::default())
            .expect("count")
            .total;

        // Live: one at a time, POST to stored in the mirror.
        let mut notices = mirror_store.subscribe();
        let agent = ureq::AgentBuilder::new().build();
        let mut latencies = Vec::with_capacity(live);
        for _ in 0..live {
            let t = Instant::now();
            let hook = hook.clone();
            let agent = agent.clone();
            tokio::task::spawn_blocking(move || send(&agent, &hook))
                .await
                .expect("send");
            loop {
                match tokio::time::timeout(Duration::from_secs(10), notices.recv()).await {
                    Ok(Ok(Notice::Event { .. })) => break,
                    Ok(Ok(_)) => {}
                    other => panic!("the mirror did not get the event: {other:?}"),
                }
            }
            latencies.push(t.elapsed());
        }
        latencies.sort();
        let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];

        println!("\nInbox benchmark: a mirror following an inbox over loopback HTTP");
        println!("| measure | figure |");
        println!("|---|---:|");
        println!(
            "| catch-up of {backlog} deliveries ({mirrored} events mirrored) | {:.2} s ({:.0} events/s) |",
            catch_up.as_secs_f64(),
            mirrored as f64 / catch_up.as_secs_f64()
        );
        println!(
            "| delivery at the inbox -> stored in the mirror, p50 | {:.2} ms |",
            pct(0.5).as_secs_f64() * 1000.0
        );
        println!(
            "| delivery at the inbox -> stored in the mirror, p95 | {:.2} ms |",
            pct(0.95).as_secs_f64() * 1000.0
        );
        // Open streams end first; a graceful stop waits for every connection.
        let _ = close.send(true);
        listener.stop().await.expect("stop");
    });
}

fn send(agent: &ureq::Agent, hook: &str) {
    let body = samples::build(Sample::BuildSucceeded, &SampleOptions::default()).expect("sample");
    agent
        .post(hook)
        .set("ac_signature", &sign(SECRET.as_bytes(), &body))
        .send_bytes(&body)
        .expect("accepted");
}

//! Ingest throughput over real loopback HTTP into a real SQLite file, side by side:
//!
//! - `http floor`: the same axum server answering 200 without verifying or storing,
//!   the most this machine's HTTP stack and client threads allow;
//! - `verify + classify`: the floor plus the pipeline's work before storage (signature,
//!   envelope, classification), what group commit could reach if storing cost nothing;
//! - `commit per delivery`: the full pipeline with group commit off (batch of 1), the
//!   baseline a naive store would give;
//! - `group commit`: the full pipeline as `gatehouse serve` runs it;
//! - at 32 clients, the same with 10 live stream subscribers (the inbox's `/api/v1/stream`,
//!   each reading every change) and with one stalled subscriber (connected, never reading):
//!   neither may slow ingest much.
//!
//! Client threads run on the same machine (2 cores here), so all rows share that cost.
//! Run with `make bench` (or `cargo bench -p gatehouse-core --bench ingest`).
//! Environment: BENCH_TOTAL (deliveries per row, default 4000), BENCH_ROUNDS (alternating
//! rounds of the three group-commit rows at 32 clients, default 3; each is the median).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use gatehouse_core::receive::ingest::{Judgment, judge};
use gatehouse_core::receive::listener::RunningListener;
use gatehouse_core::receive::signature::sign;
use gatehouse_core::send::samples::{self, Sample, SampleOptions};
use gatehouse_core::serve::token::Role;
use gatehouse_core::store::{EventQuery, Store, StoreOptions};

const SECRET: &str = "benchmark-secret-0123456789";

#[derive(Clone, Copy)]
enum Mode {
    HttpFloor,
    Judge,
    CommitPerDelivery,
    GroupCommit,
    /// Group commit with this many subscribers reading the stream.
    Subscribed(usize),
    /// Group commit with one subscriber that never reads.
    Stalled,
    /// Group commit of deliveries that name a commit, half by Appcircle's ids and half by a
    /// git SHA, with the commit indexes (schema 13), or with them dropped: what a commit's
    /// checks cost ingest.
    Commits {
        indexed: bool,
    },
}

impl Mode {
    fn key(self) -> &'static str {
        match self {
            Mode::HttpFloor => "floor",
            Mode::Judge => "judge",
            Mode::CommitPerDelivery => "per-delivery",
            Mode::GroupCommit => "group",
            Mode::Subscribed(_) => "subscribed",
            Mode::Stalled => "stalled",
            Mode::Commits { indexed: true } => "commits",
            Mode::Commits { indexed: false } => "commits-unindexed",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mode::HttpFloor => "http floor (no verify, no store)",
            Mode::Judge => "verify + classify (no store)",
            Mode::CommitPerDelivery => "commit per delivery (baseline)",
            Mode::GroupCommit => "group commit (gatehouse serve)",
            Mode::Subscribed(_) => "group commit, 10 stream subscribers",
            Mode::Stalled => "group commit, 1 stalled subscriber",
            Mode::Commits { indexed: true } => "group commit, commits indexed",
            Mode::Commits { indexed: false } => "group commit, commit indexes dropped",
        }
    }
}

struct Row {
    mode: Mode,
    clients: usize,
    total: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    stored: Option<usize>,
    /// For rows with reading subscribers: whether they read everything, and how late.
    note: Option<String>,
}

fn main() {
    let total: usize = std::env::var("BENCH_TOTAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // BENCH_ONLY=group:32 runs one row (for a profiler), BENCH_ONLY=commits the rows whose
    // key starts so (the commit indexes' comparison); the default is the whole table.
    let only = std::env::var("BENCH_ONLY").ok();
    let mut ratio_lines: Vec<String> = Vec::new();
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let run_row = |mode: Mode, clients: usize| -> Option<Row> {
        if let Some(only) = &only
            && !format!("{}:{clients}", mode.key()).starts_with(only.as_str())
        {
            return None;
        }
        let row = run(&rt, mode, clients, total);
        eprintln!(
            "{} with {clients} clients: {:.0}/s",
            mode.label(),
            row.total as f64 / row.elapsed.as_secs_f64()
        );
        Some(row)
    };
    let mut rows = Vec::new();
    for clients in [1, 8, 32] {
        for mode in [Mode::HttpFloor, Mode::Judge, Mode::CommitPerDelivery] {
            rows.extend(run_row(mode, clients));
        }
        if clients != 32 {
            rows.extend(run_row(Mode::GroupCommit, clients));
            continue;
        }
        // The subscriber rows are compared with the plain one: run in alternating rounds,
        // so that the machine's drift (±15% between rows here) falls on all three alike.
        let modes = [Mode::GroupCommit, Mode::Stalled, Mode::Subscribed(10)];
        let mut runs: Vec<Vec<Row>> = modes.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for (i, mode) in modes.iter().enumerate() {
                runs[i].extend(run_row(*mode, clients));
            }
        }
        let rate = |r: &Row| r.total as f64 / r.elapsed.as_secs_f64();
        let ratios = |i: usize| -> Vec<f64> {
            let mut v: Vec<f64> = runs[0]
                .iter()
                .zip(&runs[i])
                .map(|(none, with)| rate(with) / rate(none))
                .collect();
            v.sort_by(f64::total_cmp);
            v
        };
        for (i, label) in [(2, "10 reading subscribers"), (1, "1 stalled subscriber")] {
            let r = ratios(i);
            if let (Some(lo), Some(hi)) = (r.first(), r.last()) {
                ratio_lines.push(format!(
                    "{label}: {:.0}% of ingest with none (median of {} alternating rounds; {:.0}-{:.0}%)",
                    r[r.len() / 2] * 100.0,
                    r.len(),
                    lo * 100.0,
                    hi * 100.0
                ));
            }
        }
        // What the commit indexes cost: the same deliveries with and without them, in
        // alternating rounds.
        let commit_modes = [
            Mode::Commits { indexed: true },
            Mode::Commits { indexed: false },
        ];
        let mut commit_runs: Vec<Vec<Row>> = vec![Vec::new(), Vec::new()];
        for _ in 0..rounds.max(5) {
            for (i, mode) in commit_modes.iter().enumerate() {
                commit_runs[i].extend(run_row(*mode, clients));
            }
        }
        let mut r: Vec<f64> = commit_runs[0]
            .iter()
            .zip(&commit_runs[1])
            .map(|(with, without)| rate(with) / rate(without))
            .collect();
        r.sort_by(f64::total_cmp);
        if let (Some(lo), Some(hi)) = (r.first(), r.last()) {
            ratio_lines.push(format!(
                "commit indexes: ingest at {:.0}% of the same deliveries without them (median of {} alternating rounds; {:.0}-{:.0}%; the goal is 95% or more)",
                r[r.len() / 2] * 100.0,
                r.len(),
                lo * 100.0,
                hi * 100.0
            ));
        }
        for mut list in commit_runs {
            list.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
            let mid = list.len() / 2;
            if !list.is_empty() {
                rows.push(list.swap_remove(mid));
            }
        }
        for r in runs.iter().flatten() {
            if let Some(note) = &r.note {
                ratio_lines.push(format!("{}: {note}", r.mode.label()));
            }
        }
        for mut list in runs {
            list.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
            let mid = list.len() / 2;
            if !list.is_empty() {
                rows.push(list.swap_remove(mid));
            }
        }
    }
    println!(
        "\nIngest benchmark: {total} signed ~1.2 KB deliveries per row, keep-alive clients on loopback"
    );
    println!("| mode | clients | deliveries/s | p50 ms | p99 ms | stored |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} |",
            r.mode.label(),
            r.clients,
            r.total as f64 / r.elapsed.as_secs_f64(),
            r.p50.as_secs_f64() * 1000.0,
            r.p99.as_secs_f64() * 1000.0,
            r.stored.map_or("-".to_owned(), |n| n.to_string()),
        );
    }
    if !ratio_lines.is_empty() {
        println!(
            "\nAt 32 clients, group commit rows are the median of {rounds} alternating rounds:"
        );
        for line in &ratio_lines {
            println!("- {line}");
        }
    }
    println!(
        "peak RSS of the benchmark process (server and clients): {} MiB",
        peak_rss_kib() / 1024
    );
}

fn run(rt: &tokio::runtime::Runtime, mode: Mode, clients: usize, total: usize) -> Row {
    let dir = tempfile::tempdir().expect("tempdir");
    let per_client = total / clients;
    // Bodies are built and signed before the clock starts: we time the server, not the client.
    // Their timestamps follow the order they are sent in, as a live sender's do (each
    // client's n-th delivery is stamped between everyone's (n-1)-th and (n+1)-th).
    let start = chrono::Utc::now();
    let work: Vec<Vec<(Vec<u8>, String)>> = (0..clients)
        .map(|client| {
            (0..per_client)
                .map(|n| {
                    let order = (n * clients + client) as i64;
                    let options = SampleOptions {
                        timestamp: Some(start + chrono::Duration::microseconds(order * 50)),
                        ..Default::default()
                    };
                    let mut body =
                        samples::build(Sample::BuildSucceeded, &options).expect("sample");
                    if matches!(mode, Mode::Commits { .. }) && order % 2 == 0 {
                        body = with_commit_hash(&body, order);
                    }
                    let sig = sign(SECRET.as_bytes(), &body);
                    (body, sig)
                })
                .collect()
        })
        .collect();

    let (addr, store, stop) = rt.block_on(async {
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        match mode {
            Mode::HttpFloor | Mode::Judge => {
                let app = if matches!(mode, Mode::Judge) {
                    Router::new().route("/hooks/{name}", post(judge_only))
                } else {
                    Router::new().route(
                        "/hooks/{name}",
                        post(|_body: axum::body::Bytes| async { "{\"status\":\"accepted\"}" }),
                    )
                };
                let listener = tokio::net::TcpListener::bind(any).await.expect("bind");
                let addr = listener.local_addr().expect("addr");
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                });
                (addr, None, Stop::Floor(tx))
            }
            Mode::CommitPerDelivery
            | Mode::GroupCommit
            | Mode::Subscribed(_)
            | Mode::Stalled
            | Mode::Commits { .. } => {
                let max_batch = if matches!(mode, Mode::CommitPerDelivery) {
                    1
                } else {
                    512
                };
                let options = StoreOptions {
                    max_batch,
                    ..Default::default()
                };
                let db = dir.path().join("bench.db");
                let store = Arc::new(Store::open_with(&db, options).expect("store"));
                if matches!(mode, Mode::Commits { indexed: false }) {
                    drop_commit_indexes(&db);
                }
                store.add_endpoint("bench", SECRET).await.expect("endpoint");
                let (_, token) = store.add_token("bench", Role::Read).await.expect("token");
                let (listener, close) = common::start_inbox(&store).await;
                let addr = listener.local_addr();
                let subscribers = match mode {
                    Mode::Subscribed(n) => (0..n).map(|_| subscribe(addr, &token)).collect(),
                    Mode::Stalled => vec![stall(addr, &token)],
                    _ => Vec::new(),
                };
                (
                    addr,
                    Some(store),
                    Stop::Listener(listener, close, subscribers),
                )
            }
        }
    });

    let url = format!("http://{addr}/hooks/bench");
    let started = Instant::now();
    let threads: Vec<_> = work
        .into_iter()
        .map(|items| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .max_idle_connections_per_host(1)
                    .build();
                items
                    .into_iter()
                    .map(|(body, sig)| {
                        let t = Instant::now();
                        let resp = agent
                            .post(&url)
                            .set("ac_signature", &sig)
                            .send_bytes(&body)
                            .expect("200");
                        let _ = resp.into_string();
                        t.elapsed()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client"))
        .collect();
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];

    // Unfiltered, the count is the exact tally (only filtered counts are capped).
    let stored = store
        .as_ref()
        .map(|s| s.count_events(&EventQuery::default()).expect("count").total as usize);
    // Did the reading subscribers get everything? How far behind were they when ingest ended?
    let mut reach = None;
    if let (Some(store), Stop::Listener(_, _, subscribers)) = (&store, &stop) {
        let newest = store.change_log().expect("log").newest;
        let lasts: Vec<&Arc<AtomicI64>> = subscribers
            .iter()
            .filter_map(|s| match s {
                Subscriber::Reading(_, last) => Some(last),
                Subscriber::Stalled(_) => None,
            })
            .collect();
        if !lasts.is_empty() {
            let behind = lasts
                .iter()
                .map(|l| newest - l.load(Ordering::Relaxed))
                .max()
                .unwrap_or(0);
            let waited = Instant::now();
            while lasts.iter().any(|l| l.load(Ordering::Relaxed) < newest)
                && waited.elapsed() < Duration::from_secs(30)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            let all = lasts.iter().all(|l| l.load(Ordering::Relaxed) >= newest);
            reach = Some((newest, behind, waited.elapsed(), all));
        }
    }
    let mut note = None;
    rt.block_on(async {
        match stop {
            Stop::Floor(tx) => {
                let _ = tx.send(());
            }
            Stop::Listener(l, close, subscribers) => {
                let _ = close.send(true);
                l.stop().await.expect("stop");
                // The server closed every stream: readers finish, the stalled socket goes.
                let mut resumed = 0;
                for s in subscribers {
                    match s {
                        Subscriber::Reading(thread, _) => {
                            resumed += thread.join().unwrap_or(0).saturating_sub(1);
                        }
                        Subscriber::Stalled(socket) => drop(socket),
                    }
                }
                if let Some((newest, behind, waited, all)) = reach {
                    eprintln!(
                        "  subscribers: {} all {newest} changes; at most {behind} behind when ingest ended, all caught up {} ms later; cut and resumed {resumed} times",
                        if all { "read" } else { "did NOT read" },
                        waited.as_millis()
                    );
                    note = Some(format!(
                        "every subscriber read all {newest} changes: {all}; at most {behind} behind when ingest ended, caught up {} ms later; cut and resumed {resumed} times in all",
                        waited.as_millis()
                    ));
                }
            }
        }
    });
    drop(store);
    Row {
        mode,
        clients,
        total: clients * per_client,
        elapsed,
        p50: pct(0.5),
        p99: pct(0.99),
        stored,
        note,
    }
}

/// The indexes schema 13 added for a commit's checks.
const COMMIT_INDEXES: [&str; 2] = ["events_by_commit", "events_by_appcircle_build"];

/// The baseline of the commit rows: the same store without its commit indexes (dropped
/// through a connection of its own; the store's statements are prepared again).
fn drop_commit_indexes(db: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).expect("open");
    for index in COMMIT_INDEXES {
        conn.execute_batch(&format!("DROP INDEX {index}"))
            .expect("drop");
    }
}

/// A delivery that names its commit by its git SHA alone, as GitHub's and GitLab's do
/// (`commitHash` in place of Appcircle's commit and build ids): a distinct SHA each.
fn with_commit_hash(body: &[u8], order: i64) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(body).expect("json");
    let item = value["item"].as_object_mut().expect("item");
    item.remove("commitId");
    item.remove("buildId");
    item.insert("commitHash".into(), format!("{order:040x}").into());
    serde_json::to_vec(&value).expect("json")
}

/// The listener's work before storage: signature, replay window, envelope, classification.
async fn judge_only(headers: axum::http::HeaderMap, body: axum::body::Bytes) -> &'static str {
    let signatures: Vec<&str> = headers
        .get_all("ac_signature")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let judgment = judge(
        &[SECRET.as_bytes()],
        &signatures,
        &body,
        chrono::Utc::now(),
        chrono::Duration::minutes(5),
    );
    match judgment {
        Judgment::Deliver(_) => "{\"status\":\"accepted\"}",
        Judgment::Reject { .. } => panic!("the benchmark's deliveries are valid"),
    }
}

enum Stop {
    Floor(tokio::sync::oneshot::Sender<()>),
    /// The listener, what closes its streams, and the subscribers' connections.
    Listener(
        RunningListener,
        tokio::sync::watch::Sender<bool>,
        Vec<Subscriber>,
    ),
}

/// A stream subscriber: a thread reading every line, or a socket nobody reads.
enum Subscriber {
    /// Its thread (which returns how often it was cut and resumed) and the last seq it read.
    Reading(std::thread::JoinHandle<u32>, Arc<AtomicI64>),
    Stalled(std::net::TcpStream),
}

/// Connects to the stream and reads it on a thread, as a mirror does: cut off, it resumes
/// from the last id it read, until the server is gone.
fn subscribe(addr: SocketAddr, token: &str) -> Subscriber {
    use std::io::BufRead;
    let url = format!("http://{addr}/api/v1/stream");
    let auth = format!("Bearer {token}");
    let last = Arc::new(AtomicI64::new(-1));
    let seen = last.clone();
    let thread = std::thread::spawn(move || {
        let mut resumed = 0;
        loop {
            let mut request = ureq::get(&url).set("Authorization", &auth);
            let from = seen.load(Ordering::Relaxed);
            if from >= 0 {
                request = request.set("Last-Event-ID", &from.to_string());
            }
            let Ok(resp) = request.call() else {
                return resumed;
            };
            for line in std::io::BufReader::new(resp.into_reader()).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix("id:").and_then(|v| v.trim().parse().ok()) {
                    seen.store(id, Ordering::Relaxed);
                }
            }
            resumed += 1;
        }
    });
    Subscriber::Reading(thread, last)
}

/// Asks for the stream on a socket with a small receive buffer, then never reads.
fn stall(addr: SocketAddr, token: &str) -> Subscriber {
    use std::io::Write;
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("small buffer");
    socket.connect(&addr.into()).expect("connect");
    let mut stream: std::net::TcpStream = socket.into();
    write!(
        stream,
        "GET /api/v1/stream HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .expect("request");
    Subscriber::Stalled(stream)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

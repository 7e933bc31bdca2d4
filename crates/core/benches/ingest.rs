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
//! Environment: BENCH_TOTAL (deliveries per row, default 4000).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use gatehouse_core::ingest::{Judgment, judge};
use gatehouse_core::listener::RunningListener;
use gatehouse_core::samples::{self, Sample, SampleOptions};
use gatehouse_core::signature::sign;
use gatehouse_core::store::{EventQuery, Store, StoreOptions};
use gatehouse_core::token::Role;

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
    // BENCH_ONLY=group:32 runs one row (for a profiler); the default is the whole table.
    let only = std::env::var("BENCH_ONLY").ok();
    let mut rows = Vec::new();
    for clients in [1, 8, 32] {
        for mode in [
            Mode::HttpFloor,
            Mode::Judge,
            Mode::CommitPerDelivery,
            Mode::GroupCommit,
            Mode::Subscribed(10),
            Mode::Stalled,
        ] {
            if matches!(mode, Mode::Subscribed(_) | Mode::Stalled) && clients != 32 {
                continue;
            }
            if let Some(only) = &only
                && *only != format!("{}:{clients}", mode.key())
            {
                continue;
            }
            let row = run(&rt, mode, clients, total);
            eprintln!(
                "{} with {clients} clients: {:.0}/s",
                mode.label(),
                row.total as f64 / row.elapsed.as_secs_f64()
            );
            rows.push(row);
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
                    let body = samples::build(Sample::BuildSucceeded, &options).expect("sample");
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
            Mode::CommitPerDelivery | Mode::GroupCommit | Mode::Subscribed(_) | Mode::Stalled => {
                let max_batch = if matches!(mode, Mode::CommitPerDelivery) {
                    1
                } else {
                    512
                };
                let options = StoreOptions {
                    max_batch,
                    ..Default::default()
                };
                let store = Arc::new(
                    Store::open_with(&dir.path().join("bench.db"), options).expect("store"),
                );
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
    rt.block_on(async {
        match stop {
            Stop::Floor(tx) => {
                let _ = tx.send(());
            }
            Stop::Listener(l, close, subscribers) => {
                let _ = close.send(true);
                l.stop().await.expect("stop");
                // The server closed every stream: readers finish, the stalled socket goes.
                for s in subscribers {
                    match s {
                        Subscriber::Reading(thread) => {
                            let _ = thread.join();
                        }
                        Subscriber::Stalled(socket) => drop(socket),
                    }
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
    }
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
    Reading(std::thread::JoinHandle<()>),
    Stalled(std::net::TcpStream),
}

/// Connects to the stream and reads it on a thread until the server closes it.
fn subscribe(addr: SocketAddr, token: &str) -> Subscriber {
    let url = format!("http://{addr}/api/v1/stream");
    let auth = format!("Bearer {token}");
    Subscriber::Reading(std::thread::spawn(move || {
        if let Ok(resp) = ureq::get(&url).set("Authorization", &auth).call() {
            let mut sink = std::io::sink();
            let _ = std::io::copy(&mut resp.into_reader(), &mut sink);
        }
    }))
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

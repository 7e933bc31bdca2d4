//! Reading a large history, in process, against a real SQLite file: BENCH_EVENTS (default
//! 1,000,000) events over 90 streams (30 build profiles x 3 branches), stored through the
//! same writer as live deliveries. Then the queries the window and the CLI make, each run
//! several times (median and slowest printed):
//!
//! - first page: the History view with no filter (100 rows and the total);
//! - filtered page: one profile's failures (100 rows and the total);
//! - text search: a word in title or message (100 rows and the total);
//! - overview: the dashboard's one call (gate, expiring, unknown endpoints, counts);
//! - gate: what `gatehouse status` and the tray read;
//! - a commit's checks (`gatehouse checks SHA`, the Commits view): by its SHA and by a
//!   7-digit prefix, and the recent commits with their checks (the Commits view's list).
//!
//! Every build names its commit's git SHA, and one in two commits is also shipped (a publish
//! naming the build), so a commit's checks read its builds' events and the publish.
//!
//! Run with `make bench` (or `cargo bench -p gatehouse-core --bench history`).
//! Filling takes over two minutes on 2 cores, so the database is kept in
//! target/bench-data/history-v{FILL}-{events}/ and reused by later runs (the table says
//! which); BENCH_FRESH=1 fills a new one in a temporary directory, BENCH_KEEP=DIR keeps it
//! in DIR instead, and BENCH_FILL_ONLY=1 stops after filling.
//!
//! The history ends at a fixed instant, [`NOW`], and the store's clock stands there: a kept
//! database answers the queries as it did the day it was filled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gatehouse_core::api::{Api, ApiRequest, Host};
use gatehouse_core::clock::Clock;
use gatehouse_core::model::Source;
use gatehouse_core::receive::ingest::{Arrival, judge};
use gatehouse_core::receive::listener::ListenerStatus;
use gatehouse_core::receive::signature::sign;
use gatehouse_core::rules::checks;
use gatehouse_core::rules::gate::{self, GateFilter};
use gatehouse_core::send::samples::{self, Sample, SampleOptions};
use gatehouse_core::settings::Settings;
use gatehouse_core::store::{EventQuery, Store, StoreOptions};

const SECRET: &str = "history-benchmark-secret";
/// Fixed dates on purpose: where the benchmark's history ends, and "now" for its queries.
const NOW: &str = "2026-06-01T12:00:00Z";
/// The shape of the fill; a change to [`fill`] bumps it, so that no kept database of the
/// old shape is measured as the new one.
const FILL: u32 = 3;
const RUNS: usize = 15;

/// One timed query of the table.
type Query<'a> = Box<dyn Fn() + 'a>;

/// The API's host, for the overview call: a listener that runs.
struct BenchHost;

impl Host for BenchHost {
    fn listener(&self) -> ListenerStatus {
        ListenerStatus::listening("127.0.0.1:8473".parse().expect("addr"))
    }

    async fn apply_settings(&self, _settings: Settings) -> gatehouse_core::Result<()> {
        Ok(())
    }
}

fn main() {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = match (
        std::env::var_os("BENCH_KEEP"),
        std::env::var_os("BENCH_FRESH"),
    ) {
        (Some(keep), _) => std::path::PathBuf::from(keep),
        (None, Some(_)) => dir.path().to_owned(),
        (None, None) => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../target/bench-data/history-v{FILL}-{events}")),
    };
    std::fs::create_dir_all(&data).expect("data directory");
    let db = data.join(gatehouse_core::store::DB_FILE);
    let now: DateTime<Utc> = NOW.parse().expect("NOW");
    let (clock, _hand) = Clock::manual(now);
    let options = StoreOptions {
        clock,
        ..StoreOptions::default()
    };
    // A kept database that holds the whole fill is reused; one cut off is filled anew.
    let count = |store: &Store| {
        store
            .count_events(&EventQuery::default())
            .map_or(0, |c| c.total as usize)
    };
    let mut store = Store::open_with(&db, options.clone()).expect("store");
    let reused = count(&store) >= events;
    if !reused && count(&store) > 0 {
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        store = Store::open_with(&db, options).expect("store");
    }
    let store = Arc::new(store);
    let filled = Instant::now();
    if !reused {
        rt.block_on(fill(&store, now, events));
    }
    let fill_time = filled.elapsed();
    if std::env::var_os("BENCH_FILL_ONLY").is_some() {
        return;
    }
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    let filled = if reused {
        let data = data.canonicalize().unwrap_or(data);
        format!("kept from an earlier run in {}", data.display())
    } else {
        format!(
            "filled in {fill_time:.0?} ({:.0} deliveries/s through the writer)",
            events as f64 / fill_time.as_secs_f64()
        )
    };

    let api = Api::new(store.clone(), BenchHost);
    // A shipped run in the middle of the history: its commit's checks.
    let probe = (events / 5) | 1;
    let page = |query: EventQuery| {
        let store = store.clone();
        move || {
            let events = store.events(&query).expect("events");
            let total = store.count_events(&query).expect("count");
            assert!(!events.is_empty() && total.total > 0);
        }
    };
    let rows: Vec<(&str, Query)> = vec![
        (
            "first page (100 rows + total)",
            Box::new(page(EventQuery {
                limit: Some(100),
                ..Default::default()
            })),
        ),
        (
            "filtered page: one profile's failures",
            Box::new(page(EventQuery {
                profile: Some("App 10".into()),
                outcome: Some(gatehouse_core::model::Outcome::Failed),
                limit: Some(100),
                ..Default::default()
            })),
        ),
        (
            "text search: `develop`",
            Box::new(page(EventQuery {
                text: Some("develop".into()),
                limit: Some(100),
                ..Default::default()
            })),
        ),
        (
            "dashboard overview",
            Box::new(|| {
                rt.block_on(api.call(ApiRequest::Overview))
                    .expect("overview");
            }),
        ),
        (
            "gate (status, tray)",
            Box::new(|| {
                let g = gate::evaluate(store.streams().expect("streams"), &GateFilter::default());
                assert_eq!(g.streams.len(), 120, "90 build streams, 30 publish");
            }),
        ),
        (
            "a commit's checks by SHA (status --commit)",
            Box::new(|| {
                let c = checks::for_commit(&store, &sha_of(probe)).expect("checks");
                assert_eq!(c.checks.len(), 2, "its build and its publish");
            }),
        ),
        (
            "a commit's checks by a 7-digit prefix",
            Box::new(|| {
                let c = checks::for_commit(&store, &sha_of(probe)[..7]).expect("checks");
                assert_eq!(c.sha, sha_of(probe));
            }),
        ),
        (
            "recent commits with their checks (30)",
            Box::new(|| {
                let list = checks::recent(&store, Default::default(), 30).expect("recent");
                assert_eq!(list.len(), 30);
            }),
        ),
    ];
    println!(
        "\nHistory benchmark: {events} events in 120 streams (90 builds, 30 publishes), database {} MiB, {filled}",
        size / (1024 * 1024)
    );
    println!("| query | median ms | slowest ms |");
    println!("|---|---:|---:|");
    for (name, run) in rows {
        let mut times: Vec<Duration> = (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                run();
                t.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "| {name} | {:.2} | {:.2} |",
            times[RUNS / 2].as_secs_f64() * 1000.0,
            times[RUNS - 1].as_secs_f64() * 1000.0
        );
    }
}

/// Run `run`'s commit: 40 hex digits, spread over the whole range (as real SHAs are).
fn sha_of(run: usize) -> String {
    let mix = |mut x: u64| {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    };
    let r = run as u64;
    format!("{:016x}{:016x}{:08x}", mix(r), mix(r ^ 0xffff), r as u32)
}

/// A build's delivery names its commit's SHA (`commitHash`: as the account's read teaches
/// it, in one field); a publish names the build it ships (`buildId`, as builds name it).
fn with_commit(body: &[u8], sample: Sample, run: usize) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(body).expect("json");
    let item = value["item"].as_object_mut().expect("item");
    if sample == Sample::PublishSucceeded {
        item.insert(
            "buildId".into(),
            samples::name_guid(&format!("build task-{run}")).into(),
        );
    } else {
        item.insert("commitHash".into(), sha_of(run).into());
    }
    serde_json::to_vec(&value).expect("json")
}

/// Stores `events` deliveries through the writer: build runs started and finished (mostly
/// succeeded, some failed or timed out) across 90 streams over the year up to `now`, each
/// signed and judged like a real one.
async fn fill(store: &Arc<Store>, now: DateTime<Utc>, events: usize) {
    if store.endpoint("bench").is_err() {
        store.add_endpoint("bench", SECRET).await.expect("endpoint");
    }
    let start = now - chrono::Duration::days(365);
    let step = chrono::Duration::milliseconds((365 * 24 * 3600 * 1000 / events.max(1)) as i64);
    let per_task = 64;
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..events.div_ceil(per_task) {
        let store = store.clone();
        tasks.spawn(async move {
            for i in chunk * per_task..((chunk + 1) * per_task).min(events) {
                // In fives: two build runs (a start, then its end in the same stream: 1 in 20
                // failed, 1 in 20 timed out, the rest succeeded), then the second one shipped
                // (a publish naming its build). Runs spread over the 90 streams; each run's
                // build names its own commit.
                let (group, step_in) = (i / 5, i % 5);
                let run = group * 2 + usize::from(step_in >= 2);
                let stream = run % 90;
                let sample = match (step_in, run % 20) {
                    (4, _) => Sample::PublishSucceeded,
                    (0 | 2, _) => Sample::BuildStarted,
                    (_, 0) => Sample::BuildFailed,
                    (_, 1) => Sample::BuildTimeout,
                    _ => Sample::BuildSucceeded,
                };
                let at = start + step * i as i32;
                let options = SampleOptions {
                    profile: Some(format!("App {}", stream / 3)),
                    branch: Some(["main", "develop", "release"][stream % 3].into()),
                    timestamp: Some(at),
                    task_id: Some(format!("task-{run}")),
                    ..Default::default()
                };
                let body = samples::build(sample, &options).expect("sample");
                let body = with_commit(&body, sample, run);
                let signature = sign(SECRET.as_bytes(), &body);
                let judgment = judge(
                    &[SECRET.as_bytes()],
                    &[&signature],
                    &body,
                    at,
                    chrono::Duration::minutes(10),
                );
                let arrival = Arrival {
                    endpoint: "bench".into(),
                    method: "POST".into(),
                    path: "/hooks/bench".into(),
                    remote_addr: None,
                    headers: vec![("content-type".into(), "application/json".into())],
                    signature: Some(signature),
                    body_size: body.len() as u64,
                    body: Some(body),
                    received_at: at,
                    source: Source::Live,
                };
                store.record(arrival, judgment).await.expect("stored");
            }
        });
        // Bounded: at most this many deliveries waiting at once.
        while tasks.len() >= 256 {
            tasks.join_next().await;
        }
    }
    while tasks.join_next().await.is_some() {}
}

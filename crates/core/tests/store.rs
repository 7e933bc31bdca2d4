//! The store against a real SQLite file: recording, dedupe, acceptance, queries, the gate.
//! Deliveries are judged and received at the store's clock; a test about time opens the
//! store on a manual clock and moves it.

use chrono::{DateTime, Duration, Utc};
use gatehouse_core::Error;
use gatehouse_core::clock::Clock;
use gatehouse_core::model::Verdict;
use gatehouse_core::model::{Outcome, Scope};
use gatehouse_core::receive::ingest::{Arrival, Judgment, judge};
use gatehouse_core::receive::signature::sign;
use gatehouse_core::rules::gate::{self, GateFilter, GateState};
use gatehouse_core::send::samples::{self, Sample, SampleOptions};
use gatehouse_core::store::{EventQuery, Notice, RequestQuery, Source, Store, StoreOptions};

const SECRET: &str = "store-test-secret";
const DAY: Duration = Duration::days(1);

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open_dir(dir.path()).expect("store opens")
}

fn open_on(dir: &tempfile::TempDir, clock: &Clock) -> Store {
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    Store::open_dir_with(dir.path(), options).expect("store opens")
}

fn arrival(endpoint: &str, body: &[u8], sig: &str, received_at: DateTime<Utc>) -> Arrival {
    Arrival {
        endpoint: endpoint.into(),
        method: "POST".into(),
        path: format!("/hooks/{endpoint}"),
        remote_addr: Some("127.0.0.1:5555".into()),
        headers: vec![("ac_signature".into(), "[redacted]".into())],
        signature: Some(sig.into()),
        body: Some(body.to_vec()),
        body_size: body.len() as u64,
        received_at,
        source: Source::Live,
    }
}

/// Signs, judges (with the default ±10 minute window) and records a body as the listener does.
async fn deliver(store: &Store, endpoint: &str, body: &[u8]) -> gatehouse_core::store::Recorded {
    deliver_within(store, endpoint, body, Duration::minutes(10)).await
}

async fn deliver_within(
    store: &Store,
    endpoint: &str,
    body: &[u8],
    window: Duration,
) -> gatehouse_core::store::Recorded {
    try_deliver(store, endpoint, body, window)
        .await
        .expect("recorded")
}

/// [`deliver`] of a request received at `received_at` (for retention).
async fn deliver_received_at(
    store: &Store,
    endpoint: &str,
    body: &[u8],
    received_at: DateTime<Utc>,
) {
    let sig = sign(SECRET.as_bytes(), body);
    let judgment = judge(
        &[SECRET.as_bytes()],
        &[&sig],
        body,
        store.clock().now(),
        Duration::minutes(10),
    );
    let arrival = arrival(endpoint, body, &sig, received_at);
    store.record(arrival, judgment).await.expect("recorded");
}

/// [`deliver`] for tests where the store may refuse (a full disk).
async fn try_deliver(
    store: &Store,
    endpoint: &str,
    body: &[u8],
    window: Duration,
) -> gatehouse_core::Result<gatehouse_core::store::Recorded> {
    let sig = sign(SECRET.as_bytes(), body);
    let now = store.clock().now();
    let judgment = judge(&[SECRET.as_bytes()], &[&sig], body, now, window);
    store
        .record(arrival(endpoint, body, &sig, now), judgment)
        .await
}

/// A fresh build failure of profile `i` (its own stream and task), for filling a store.
fn failure_of_profile(i: impl std::fmt::Display) -> Vec<u8> {
    sample(
        Sample::BuildFailed,
        &format!("profile {i}"),
        "main",
        &format!("t{i}"),
        Utc::now(),
    )
}

fn sample(kind: Sample, profile: &str, branch: &str, task: &str, at: DateTime<Utc>) -> Vec<u8> {
    samples::build(
        kind,
        &SampleOptions {
            profile: Some(profile.into()),
            branch: Some(branch.into()),
            task_id: Some(task.into()),
            timestamp: Some(at),
            ..Default::default()
        },
    )
    .expect("sample")
}

#[tokio::test]
async fn endpoints_and_secret_rotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    let info = store.add_endpoint("ci", SECRET).await.expect("added");
    assert_eq!((info.name.as_str(), info.secret_count), ("ci", 1));
    assert!(matches!(
        store.add_endpoint("ci", SECRET).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        store.add_endpoint("bad name", SECRET).await,
        Err(Error::Invalid(_))
    ));
    assert!(
        matches!(store.retire_secret("ci").await, Err(Error::Conflict(_))),
        "last secret stays"
    );

    store
        .add_secret("ci", "the-next-secret")
        .await
        .expect("rotated");
    assert!(matches!(
        store.add_secret("ci", "a-third-secret").await,
        Err(Error::Conflict(_))
    ));
    let (_, secrets) = store.endpoint_secrets("ci").expect("read").expect("exists");
    assert_eq!(secrets.len(), 2);
    store.retire_secret("ci").await.expect("retired");
    let (_, secrets) = store.endpoint_secrets("ci").expect("read").expect("exists");
    assert_eq!(
        secrets
            .iter()
            .map(|s| s.secret.as_str())
            .collect::<Vec<_>>(),
        ["the-next-secret"]
    );

    let renamed = store
        .rename_endpoint("ci", "builds")
        .await
        .expect("renamed");
    assert_eq!(renamed.name, "builds");
    store.remove_endpoint("builds").await.expect("removed");
    assert!(store.endpoint_secrets("builds").expect("read").is_none());
    assert!(matches!(
        store.remove_endpoint("builds").await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn dedupe_is_per_endpoint_and_links_the_stored_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.add_endpoint("a", SECRET).await.expect("a");
    store.add_endpoint("b", SECRET).await.expect("b");
    let body = sample(Sample::BuildFailed, "App", "main", "t1", Utc::now());
    let first = deliver(&store, "a", &body).await;
    let again = deliver(&store, "a", &body).await;
    let other = deliver(&store, "b", &body).await;
    assert_eq!(first.verdict, Verdict::Accepted);
    assert_eq!(again.verdict, Verdict::Duplicate);
    assert_eq!(
        again.event_id, first.event_id,
        "a duplicate points at the stored event"
    );
    assert_eq!(
        other.verdict,
        Verdict::Accepted,
        "another endpoint is another webhook"
    );
    assert_eq!(
        store.events(&EventQuery::default()).expect("events").len(),
        2
    );
    let requests = store.requests(&RequestQuery::default()).expect("requests");
    assert_eq!(requests.len(), 3, "every request is recorded");
}

#[tokio::test]
async fn stale_then_accepted_keeps_its_own_source_and_dedupes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.add_endpoint("ci", SECRET).await.expect("added");
    let old = Utc::now() - Duration::hours(3);
    let body = sample(Sample::BuildSucceeded, "App", "main", "t1", old);
    let stale = deliver(&store, "ci", &body).await;
    assert_eq!(stale.verdict, Verdict::Stale);
    assert!(stale.error.as_deref().is_some_and(|e| e.contains("window")));
    assert!(
        store
            .events(&EventQuery::default())
            .expect("events")
            .is_empty()
    );

    let mut notices = store.subscribe();
    let accepted = store
        .accept_stale(stale.request_id)
        .await
        .expect("accepted");
    assert_eq!(accepted.verdict, Verdict::Accepted);
    let event = store
        .event(accepted.event_id.expect("event"))
        .expect("stored");
    assert_eq!(event.source, Source::Accepted);
    assert_eq!(event.occurred_at, gatehouse_core::time::to_text(old));
    let payload = event.payload.expect("payload kept");
    assert_eq!(
        payload.as_bytes(),
        body.as_slice(),
        "the payload as received, byte for byte"
    );
    let request = store.request(stale.request_id).expect("request");
    assert_eq!(request.verdict, Verdict::Accepted);
    assert!(request.accepted_at.is_some());
    assert_eq!(request.event_id, accepted.event_id);
    let mut saw_event = false;
    while let Ok(n) = notices.try_recv() {
        if let Notice::Event { event, .. } = n {
            saw_event = event.source == Source::Accepted;
        }
    }
    assert!(saw_event, "acceptance is broadcast, marked as not live");

    assert!(
        matches!(
            store.accept_stale(stale.request_id).await,
            Err(Error::Conflict(_))
        ),
        "only stale ones"
    );
    assert!(matches!(
        store.accept_stale(9999).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        deliver(&store, "ci", &body).await.verdict,
        Verdict::Duplicate,
        "late repeat is a duplicate"
    );
}

#[tokio::test]
async fn acceptance_checks_the_signature_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.add_endpoint("ci", SECRET).await.expect("added");
    let body = sample(
        Sample::BuildFailed,
        "App",
        "main",
        "t1",
        Utc::now() - Duration::days(1),
    );
    let stale = deliver(&store, "ci", &body).await;
    store
        .add_secret("ci", "replacement-secret")
        .await
        .expect("rotate");
    store
        .retire_secret("ci")
        .await
        .expect("retire the signing one");
    let err = store
        .accept_stale(stale.request_id)
        .await
        .expect_err("no secret verifies it now");
    assert!(err.to_string().contains("does not match"), "{err}");
    assert!(
        store
            .events(&EventQuery::default())
            .expect("events")
            .is_empty()
    );
}

#[tokio::test]
async fn rejections_are_recorded_without_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.add_endpoint("ci", SECRET).await.expect("added");
    let body = b"{}".to_vec();
    let rec = store
        .record(
            arrival("ci", &body, "00", store.clock().now()),
            Judgment::reject(Verdict::BadSignature, "nope"),
        )
        .await
        .expect("recorded");
    assert_eq!((rec.verdict, rec.event_id), (Verdict::BadSignature, None));
    let listed = store
        .requests(&RequestQuery {
            verdict: Some(Verdict::BadSignature),
            ..Default::default()
        })
        .expect("requests");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status_code, 401);
    assert_eq!(
        listed[0].headers,
        vec![("ac_signature".to_owned(), "[redacted]".to_owned())]
    );
    assert!(listed[0].body.is_none(), "lists leave bodies out");
    assert_eq!(
        store.request(rec.request_id).expect("one").body.as_deref(),
        Some("{}")
    );
    // A request for an endpoint removed meanwhile is refused, not recorded against nothing.
    let missing = store
        .record(
            arrival("gone", &body, "00", store.clock().now()),
            Judgment::reject(Verdict::BadSignature, "x"),
        )
        .await;
    assert!(matches!(missing, Err(Error::NotFound(_))));
}

#[tokio::test]
async fn event_filters_and_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.add_endpoint("ci", SECRET).await.expect("added");
    let t0 = Utc::now() - Duration::minutes(5);
    deliver(
        &store,
        "ci",
        &sample(Sample::BuildStarted, "iOS", "main", "t1", t0),
    )
    .await;
    deliver(
        &store,
        "ci",
        &sample(
            Sample::BuildFailed,
            "iOS",
            "main",
            "t1",
            t0 + Duration::seconds(90),
        ),
    )
    .await;
    deliver(
        &store,
        "ci",
        &sample(
            Sample::BuildSucceeded,
            "Android",
            "dev",
            "t2",
            t0 + Duration::seconds(30),
        ),
    )
    .await;
    deliver(
        &store,
        "ci",
        &sample(
            Sample::PublishRejected,
            "Store",
            "-",
            "-",
            t0 + Duration::seconds(60),
        ),
    )
    .await;

    let all = store.events(&EventQuery::default()).expect("all");
    let titles: Vec<_> = all
        .iter()
        .map(|e| e.title.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        titles,
        [
            "Build Failed",
            "A Version is Rejected on Publish",
            "Build Success",
            "Build Started"
        ],
        "newest first by the delivery's time"
    );
    assert_eq!(all[0].duration_ms, Some(90_000), "start to end of task t1");

    let q = |f: fn(&mut EventQuery)| {
        let mut query = EventQuery::default();
        f(&mut query);
        store.events(&query).expect("query").len()
    };
    assert_eq!(q(|q| q.scope = Some(Scope::Build)), 3);
    assert_eq!(q(|q| q.scope = Some(Scope::PublishToStores)), 1);
    assert_eq!(
        q(|q| q.outcome = Some(Outcome::Failed)),
        2,
        "the rejection fails too"
    );
    assert_eq!(
        q(|q| q.profile = Some("ios".into())),
        2,
        "names match case-insensitively"
    );
    assert_eq!(q(|q| q.branch = Some("dev".into())), 1);
    assert_eq!(q(|q| q.text = Some("rejected".into())), 1);
    assert_eq!(
        q(|q| q.text = Some("100%_".into())),
        0,
        "LIKE wildcards are escaped"
    );
    assert_eq!(q(|q| q.limit = Some(2)), 2);
    assert_eq!(q(|q| q.endpoint = Some("ci".into())), 4);
    let since = gatehouse_core::time::to_text(t0 + Duration::seconds(45));
    let n = store
        .events(&EventQuery {
            since: Some(since),
            ..Default::default()
        })
        .expect("since")
        .len();
    assert_eq!(n, 2);
    assert!(
        store
            .events(&EventQuery {
                until: Some("tomorrow".into()),
                ..Default::default()
            })
            .is_err()
    );
}

#[tokio::test]
async fn the_gate_follows_latest_ends_per_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.add_endpoint("ci", SECRET).await.expect("added");
    let gate_of = |filter: &GateFilter| gate::evaluate(store.streams().expect("streams"), filter);
    assert_eq!(gate_of(&GateFilter::default()).state, GateState::Unknown);

    let t = Utc::now() - Duration::minutes(30);
    deliver_within(
        &store,
        "ci",
        &sample(Sample::BuildStarted, "iOS", "main", "t1", t),
        DAY,
    )
    .await;
    let g = gate_of(&GateFilter::default());
    assert_eq!(
        (g.state, g.running),
        (GateState::Unknown, true),
        "a start alone is running, not finished"
    );

    deliver_within(
        &store,
        "ci",
        &sample(
            Sample::BuildFailed,
            "iOS",
            "main",
            "t1",
            t + Duration::minutes(1),
        ),
        DAY,
    )
    .await;
    deliver_within(
        &store,
        "ci",
        &sample(
            Sample::BuildSucceeded,
            "iOS",
            "dev",
            "t2",
            t + Duration::minutes(2),
        ),
        DAY,
    )
    .await;
    let g = gate_of(&GateFilter::default());
    assert_eq!((g.state, g.running), (GateState::Failing, false));
    assert_eq!(g.failing().count(), 1);
    assert_eq!(
        gate_of(&GateFilter {
            branch: Some("dev".into()),
            ..Default::default()
        })
        .state,
        GateState::Passing
    );
    assert_eq!(
        gate_of(&GateFilter {
            profile: Some("nope".into()),
            ..Default::default()
        })
        .state,
        GateState::Unknown
    );

    // A late delivery of an older end does not override a newer one.
    deliver_within(
        &store,
        "ci",
        &sample(
            Sample::BuildSucceeded,
            "iOS",
            "main",
            "t3",
            t + Duration::minutes(5),
        ),
        DAY,
    )
    .await;
    deliver_within(
        &store,
        "ci",
        &sample(
            Sample::BuildFailed,
            "iOS",
            "main",
            "t0",
            t - Duration::minutes(5),
        ),
        DAY,
    )
    .await;
    assert_eq!(gate_of(&GateFilter::default()).state, GateState::Passing);

    // A new build on a passing stream: still passing, and running.
    deliver_within(
        &store,
        "ci",
        &sample(
            Sample::BuildStarted,
            "iOS",
            "main",
            "t4",
            t + Duration::minutes(6),
        ),
        DAY,
    )
    .await;
    let g = gate_of(&GateFilter {
        branch: Some("main".into()),
        ..Default::default()
    });
    assert_eq!((g.state, g.running), (GateState::Passing, true));

    // A rejected version fails its publish stream; signing warnings do not gate.
    deliver_within(
        &store,
        "ci",
        &sample(Sample::CertificateExpiring, "-", "-", "-", t),
        DAY,
    )
    .await;
    assert_eq!(gate_of(&GateFilter::default()).state, GateState::Passing);
    deliver_within(
        &store,
        "ci",
        &sample(Sample::PublishRejected, "Store App", "-", "-", t),
        DAY,
    )
    .await;
    let g = gate_of(&GateFilter::default());
    assert_eq!(g.state, GateState::Failing);
    let failing: Vec<_> = g.failing().collect();
    assert!(failing[0].rejected && failing[0].scope == Scope::PublishToStores);
    deliver_within(
        &store,
        "ci",
        &sample(
            Sample::PublishSucceeded,
            "Store App",
            "-",
            "-",
            t + Duration::minutes(1),
        ),
        DAY,
    )
    .await;
    assert_eq!(
        gate_of(&GateFilter::default()).state,
        GateState::Passing,
        "back to green"
    );
}

/// A start whose end never comes runs until the running limit, by the store's clock; past
/// it the stream is stale ("running for 2 days?"), not running, and keeps its last result.
#[tokio::test]
async fn a_start_past_the_running_limit_is_stale_and_keeps_the_last_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (clock, hand) = Clock::manual(Utc::now());
    let store = open_on(&dir, &clock);
    store.add_endpoint("ci", SECRET).await.expect("added");
    let t = clock.now();
    for (kind, task, at) in [
        (Sample::BuildSucceeded, "t1", t - Duration::hours(3)),
        (Sample::BuildStarted, "t2", t - Duration::hours(1)),
    ] {
        deliver_within(&store, "ci", &sample(kind, "iOS", "main", task, at), DAY).await;
    }
    let stream = || {
        let g = gate::evaluate(store.streams().expect("streams"), &GateFilter::default());
        assert_eq!(g.streams.len(), 1);
        (g.running, g.streams[0].clone())
    };
    let (running, s) = stream();
    assert!(running && s.running && !s.stale, "{s:?}");
    assert_eq!(s.state, GateState::Passing);

    // 22 hours later (23 h since the start): still running.
    hand.advance(Duration::hours(22));
    let (_, s) = stream();
    assert!(s.running && !s.stale, "{s:?}");

    // Two days on: stale, neither running nor a new result; the last result stands.
    hand.advance(Duration::hours(27));
    let (running, s) = stream();
    assert!(!running && !s.running && s.stale, "{s:?}");
    assert_eq!(
        (s.state, s.outcome),
        (GateState::Passing, Some(Outcome::Succeeded))
    );
    let since = s.running_since.as_deref().expect("since");
    assert_eq!(gate::stale_words(since, clock.now()), "running for 2 days?");

    // Its end arrives at last: a result again, nothing stale.
    let end = sample(Sample::BuildFailed, "iOS", "main", "t2", clock.now());
    deliver(&store, "ci", &end).await;
    let (_, s) = stream();
    assert!(!s.running && !s.stale, "{s:?}");
    assert_eq!(s.state, GateState::Failing);
}

#[tokio::test]
async fn reopening_keeps_everything_and_does_not_migrate_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(&dir);
        store.add_endpoint("ci", SECRET).await.expect("added");
        deliver(
            &store,
            "ci",
            &sample(Sample::BuildFailed, "A", "b", "t", Utc::now()),
        )
        .await;
    }
    let store = open(&dir);
    assert_eq!(
        store.events(&EventQuery::default()).expect("events").len(),
        1
    );
    assert_eq!(store.endpoints().expect("endpoints")[0].event_count, 1);
}

#[tokio::test]
async fn a_full_disk_fails_the_write_and_keeps_what_was_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("small.db");
    let store = Store::open_with(
        &path,
        StoreOptions {
            max_batch: 16,
            max_pages: Some(40),
            ..StoreOptions::default()
        },
    )
    .expect("opens");
    store.add_endpoint("ci", SECRET).await.expect("added");
    let mut accepted = Vec::new();
    let mut failure = None;
    for i in 0..500 {
        let body = failure_of_profile(i);
        match try_deliver(&store, "ci", &body, Duration::minutes(10)).await {
            Ok(r) => accepted.push(r.event_id.expect("event")),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("the capped database fills up");
    assert!(
        matches!(failure, Error::Database(_) | Error::StoreUnavailable(_)),
        "{failure}"
    );
    let stored = store
        .events(&EventQuery {
            limit: Some(1000),
            ..Default::default()
        })
        .expect("events");
    assert_eq!(
        stored.len(),
        accepted.len(),
        "everything acknowledged is there, nothing more"
    );
}

#[tokio::test]
async fn pruning_keeps_what_the_gate_shows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.add_endpoint("ci", SECRET).await.expect("added");
    let t = Utc::now();
    deliver(
        &store,
        "ci",
        &sample(Sample::BuildFailed, "App", "main", "t1", t),
    )
    .await;
    deliver(
        &store,
        "ci",
        &sample(Sample::BuildSucceeded, "App", "main", "t2", t),
    )
    .await;
    deliver(
        &store,
        "ci",
        &sample(Sample::BuildFailed, "Other", "main", "t3", t),
    )
    .await;
    let before_gate = gate::evaluate(store.streams().expect("streams"), &GateFilter::default());
    let pruned = store
        .prune(Utc::now() + Duration::seconds(1))
        .await
        .expect("pruned");
    assert_eq!(pruned.events, 1, "only the superseded failure of App goes");
    assert_eq!(pruned.requests, 1);
    let after_gate = gate::evaluate(store.streams().expect("streams"), &GateFilter::default());
    assert_eq!(before_gate.state, after_gate.state);
    assert_eq!(
        store.events(&EventQuery::default()).expect("events").len(),
        2
    );
    let nothing = store
        .prune(Utc::now() - Duration::days(1))
        .await
        .expect("pruned");
    assert_eq!((nothing.events, nothing.requests), (0, 0));
}

#[cfg(unix)]
#[test]
fn a_new_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("fresh");
    let _store = Store::open_dir(&dir).expect("opens");
    let mode = std::fs::metadata(&dir).expect("dir").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[tokio::test]
async fn a_replay_goes_through_the_pipeline_again_and_dedupes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.add_endpoint("ci", SECRET).await.expect("added");
    let first = deliver(
        &store,
        "ci",
        &sample(Sample::BuildFailed, "App", "main", "t1", Utc::now()),
    )
    .await;
    let replayed = store.replay(first.request_id).await.expect("replayed");
    assert_eq!(replayed.verdict, Verdict::Duplicate);
    assert_eq!(replayed.event_id, first.event_id);
    assert_ne!(
        replayed.request_id, first.request_id,
        "recorded as a request of its own"
    );
    let request = store.request(replayed.request_id).expect("request");
    assert!(
        request
            .remote_addr
            .as_deref()
            .is_some_and(|a| a.starts_with("replay of request"))
    );
    assert_eq!(
        store.events(&EventQuery::default()).expect("events").len(),
        1
    );

    // A rejected request has nothing valid to replay into an event.
    let bad = store
        .record(
            arrival("ci", b"{}", "00", store.clock().now()),
            Judgment::reject(Verdict::BadSignature, "x"),
        )
        .await
        .expect("recorded");
    let again = store.replay(bad.request_id).await.expect("replayed");
    assert_eq!(again.verdict, Verdict::BadSignature);
    assert!(matches!(store.replay(9999).await, Err(Error::NotFound(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_filling_up_in_the_middle_of_batches_answers_every_caller_consistently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = std::sync::Arc::new(
        Store::open_with(
            &dir.path().join("small.db"),
            StoreOptions {
                max_batch: 64,
                // Room for the schema and a few batches (schema 13 took three more pages).
                max_pages: Some(90),
                ..StoreOptions::default()
            },
        )
        .expect("opens"),
    );
    store.add_endpoint("ci", SECRET).await.expect("added");
    let mut notices = store.subscribe();
    // Hundreds at once, so batches hold many jobs and the disk fills inside one.
    let tasks: Vec<_> = (0..600)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let body = failure_of_profile(i);
                try_deliver(&store, "ci", &body, Duration::minutes(10)).await
            })
        })
        .collect();
    let mut acknowledged = std::collections::BTreeSet::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(r) => {
                acknowledged.insert(r.event_id.expect("event"));
            }
            Err(_) => refused += 1,
        }
    }
    assert!(refused > 0, "the capped database fills up");
    assert!(!acknowledged.is_empty());
    let stored: std::collections::BTreeSet<i64> = store
        .events(&EventQuery {
            limit: Some(10_000),
            ..Default::default()
        })
        .expect("events")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(stored, acknowledged, "stored exactly what was acknowledged");
    let mut announced = std::collections::BTreeSet::new();
    while let Ok(n) = notices.try_recv() {
        if let Notice::Event { event, .. } = n {
            announced.insert(event.id);
        }
    }
    assert_eq!(
        announced, acknowledged,
        "a notice for each stored event, none for the rest"
    );
}

#[tokio::test]
async fn saved_settings_out_of_range_fall_back_to_the_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store
        .set_setting("settings", r#"{"retention_days": 100000000}"#)
        .await
        .expect("written as an older build might have");
    assert_eq!(
        store.settings().expect("read"),
        gatehouse_core::settings::Settings::default()
    );
    store
        .set_setting("settings", "{not json")
        .await
        .expect("written");
    assert_eq!(
        store.settings().expect("read"),
        gatehouse_core::settings::Settings::default()
    );
}

#[tokio::test]
async fn rejected_requests_expire_and_events_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.add_endpoint("ci", SECRET).await.expect("added");
    let old = Utc::now() - Duration::days(40);
    let body = sample(Sample::BuildFailed, "A", "main", "t1", Utc::now());
    let mut refused = arrival("ci", b"not signed", "00", store.clock().now());
    refused.received_at = old;
    store
        .record(refused, Judgment::reject(Verdict::BadSignature, "bad"))
        .await
        .expect("recorded");
    deliver_received_at(&store, "ci", &body, old).await;
    let removed = gatehouse_core::rules::retention::apply(
        &store,
        &gatehouse_core::settings::Settings::default(),
        Utc::now(),
    )
    .await
    .expect("applied");
    assert_eq!(removed.rejected_requests, 1);
    let left = store.requests(&RequestQuery::default()).expect("requests");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].verdict, Verdict::Accepted);
    assert_eq!(
        store.events(&EventQuery::default()).expect("events").len(),
        1
    );
}

#[tokio::test]
async fn unknown_endpoint_hits_are_counted_in_memory_and_written_in_bulk() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(&dir);
        for i in 0..5_000 {
            store.count_unmatched(&format!("scan-{i}"), Utc::now());
        }
        store.count_unmatched("scan-7", Utc::now());
        let listed = store.unmatched().expect("listed before the flush");
        assert_eq!(listed.iter().map(|u| u.hits).sum::<u64>(), 5_001);
    }
    // Dropped: the writer flushed on its way out.
    let (names, hits, other) = unmatched_table(&dir);
    assert_eq!(
        names,
        gatehouse_core::store::MAX_DISTINCT_NAMES as i64 + 1,
        "distinct names are bounded"
    );
    assert_eq!(hits, 5_001);
    assert!(other > 0, "the rest are added up");
}

/// The `unmatched` table as stored: distinct names, all hits, hits of the catch-all row.
fn unmatched_table(dir: &tempfile::TempDir) -> (i64, i64, i64) {
    let conn = rusqlite::Connection::open(dir.path().join("gatehouse.db")).expect("open");
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(hits), 0),
             COALESCE((SELECT hits FROM unmatched WHERE name = ?1), 0) FROM unmatched",
        [gatehouse_core::store::OTHER_NAMES],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .expect("unmatched")
}

#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private_in_an_existing_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // A database file left readable by others (an older build, a restore with umask 022).
    std::fs::write(dir.path().join("gatehouse.db"), b"").expect("touch");
    std::fs::set_permissions(
        dir.path().join("gatehouse.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let store = open(&dir);
    store
        .add_endpoint("ci", SECRET)
        .await
        .expect("a write creates the WAL");
    for name in ["gatehouse.db", "gatehouse.db-wal", "gatehouse.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .expect(name)
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} is {mode:o}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_beside_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.add_endpoint("ci", SECRET).await.expect("added");
    let db = dir.path().join("gatehouse.db");
    let before = std::fs::metadata(&db).expect("db").len();
    for i in 0..200 {
        let body = failure_of_profile(i);
        deliver(&store, "ci", &body).await;
    }
    // The writer never checkpoints (wal_autocheckpoint is off); the checkpointer thread
    // copies the WAL into the database within a few hundred milliseconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::metadata(&db).expect("db").len() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file never grew: nothing checkpointed the WAL"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tallies_match_the_rows_through_inserts_prunes_and_removals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir);
    store.add_endpoint("a", SECRET).await.expect("a");
    store.add_endpoint("b", SECRET).await.expect("b");
    let old = Utc::now() - Duration::days(10);
    for (i, endpoint) in ["a", "a", "b", "a"].into_iter().enumerate() {
        let body = sample(
            Sample::BuildFailed,
            &format!("P{i}"),
            "main",
            &format!("t{i}"),
            Utc::now(),
        );
        // An old request whose event the gate keeps: pruning leaves both.
        let received = if i == 0 { old } else { Utc::now() };
        deliver_received_at(&store, endpoint, &body, received).await;
    }
    store
        .record(
            arrival("b", b"x", "00", store.clock().now()),
            Judgment::reject(Verdict::BadSignature, "bad"),
        )
        .await
        .expect("refused, recorded");
    let counts = |store: &Store| -> Vec<(String, u64, u64)> {
        store
            .endpoints()
            .expect("endpoints")
            .into_iter()
            .map(|e| (e.name, e.request_count, e.event_count))
            .collect()
    };
    assert_eq!(counts(&store), vec![("a".into(), 3, 3), ("b".into(), 2, 1)]);
    assert_eq!(
        store
            .count_events(&EventQuery::default())
            .expect("count")
            .total,
        4
    );

    // Pruning history that the gate still shows removes nothing; expiring the refused
    // request uncounts it.
    store
        .prune(Utc::now() - Duration::days(5))
        .await
        .expect("pruned");
    assert_eq!(counts(&store), vec![("a".into(), 3, 3), ("b".into(), 2, 1)]);
    let expired = store
        .prune_rejected(Utc::now() + Duration::days(1))
        .await
        .expect("expired");
    assert_eq!(expired, 1);
    assert_eq!(
        counts(&store),
        vec![("a".into(), 3, 3), ("b".into(), 1, 1)],
        "a deleted request is uncounted"
    );

    // Removing an endpoint moves its rows' tallies aside; the totals stay true.
    store.remove_endpoint("b").await.expect("removed");
    assert_eq!(counts(&store), vec![("a".into(), 3, 3)]);
    assert_eq!(
        store
            .count_events(&EventQuery::default())
            .expect("count")
            .total,
        4
    );
    let filtered = store
        .count_events(&EventQuery {
            endpoint: Some("a".into()),
            ..Default::default()
        })
        .expect("count");
    assert_eq!((filtered.total, filtered.capped), (3, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_counts_stop_at_the_cap_and_say_so() {
    use gatehouse_core::store::COUNT_CAP;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = std::sync::Arc::new(open(&dir));
    store.add_endpoint("ci", SECRET).await.expect("added");
    let tasks: Vec<_> = (0..COUNT_CAP + 5)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let body = sample(
                    Sample::BuildFailed,
                    "P",
                    "main",
                    &format!("t{i}"),
                    Utc::now(),
                );
                deliver(&store, "ci", &body).await
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let failed = EventQuery {
        outcome: Some(Outcome::Failed),
        ..Default::default()
    };
    let count = store.count_events(&failed).expect("count");
    assert_eq!((count.total, count.capped), (COUNT_CAP, true));
    let all = store.count_events(&EventQuery::default()).expect("count");
    assert_eq!(
        (all.total, all.capped),
        (COUNT_CAP + 5, false),
        "unfiltered is exact"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_sustained_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("busy.db");
    let store =
        std::sync::Arc::new(Store::open_with(&path, StoreOptions::default()).expect("opens"));
    store.add_endpoint("ci", SECRET).await.expect("added");
    // Eight writers with no pause between deliveries for about two seconds: the log never
    // drains on its own; only the writer's checkpoint lets it start over.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut i = 0;
                while std::time::Instant::now() < until {
                    let body = sample(
                        Sample::BuildFailed,
                        "P",
                        "main",
                        &format!("w{w}-{i}"),
                        Utc::now(),
                    );
                    deliver(&store, "ci", &body).await;
                    i += 1;
                }
                i
            })
        })
        .collect();
    let mut largest = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        let wal = std::fs::metadata(dir.path().join("busy.db-wal")).map_or(0, |m| m.len());
        largest = largest.max(wal);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut written = 0;
    for w in writers {
        written += w.await.expect("writer");
    }
    // The checkpoint threshold's frames of 4 KiB, plus what arrives while a checkpoint runs.
    let bound = (gatehouse_core::store::WAL_AUTOCHECKPOINT_PAGES as u64 + 2000) * 4120;
    assert!(
        largest < bound,
        "the WAL reached {largest} bytes over {written} deliveries"
    );
    assert!(
        written > 500,
        "the load was sustained: {written} deliveries"
    );
}

#[tokio::test]
async fn unknown_names_stored_are_bounded_over_many_flushes() {
    use gatehouse_core::store::MAX_STORED_NAMES;
    let dir = tempfile::tempdir().expect("tempdir");
    // Each store lifetime ends in a flush: five rounds of 300 new names each.
    for round in 0..5 {
        let store = open(&dir);
        for i in 0..300 {
            store.count_unmatched(&format!("scan-{round}-{i}"), Utc::now());
        }
    }
    let store = open(&dir);
    assert!(
        store.unmatched().expect("listed").len() <= 100,
        "the listing is limited"
    );
    let (names, hits, other) = unmatched_table(&dir);
    assert_eq!(hits, 1_500, "no hit is lost");
    assert!(other > 0, "names past the bound are added up");
    assert!(names <= MAX_STORED_NAMES + 1, "{names} names stored");
}

/// Two processes starting at once on a data directory with no database yet (the app and a
/// CLI command, a follower and `gatehouse events`) both create it and turn on WAL. Neither
/// may fail with "database is locked": turning WAL on waits for the other as any lock does.
#[test]
fn stores_opened_at_once_on_a_new_file_all_open() {
    for round in 0..40 {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gatehouse.db");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Store::open_with(&path, StoreOptions::default()).map(drop)
                })
            })
            .collect();
        for opener in openers {
            if let Err(e) = opener.join().expect("opener") {
                panic!("round {round}: a store opened beside others failed: {e}");
            }
        }
    }
}

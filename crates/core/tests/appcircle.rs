//! The Appcircle client and the account sync against a fake Appcircle (fake_appcircle: an
//! axum server on loopback built strictly from the shapes in ../shared/appcircle/API.md).
//!
//! Each test runs on a manual clock that starts at the real now and moves only when the test
//! moves it; the store, the client and the fake all read it, and the fake's dates are
//! offsets from it. The suite passes on any date (make test runs it shifted by faketime).

mod fake_appcircle;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use fake_appcircle::{KEY_NAME, KEY_SECRET, stamp};
use gatehouse_core::accounts::appcircle::{self, Account, Client, Key};
use gatehouse_core::accounts::sync::{self, Positions};
use gatehouse_core::accounts::{AccountKey, AccountSync, Connection};
use gatehouse_core::clock::{Clock, ClockHand};
use gatehouse_core::model::Source;
use gatehouse_core::model::{Outcome, Scope};
use gatehouse_core::rules::gate::{self, GateFilter, GateState};
use gatehouse_core::send::samples::{self, Sample, SampleOptions};
use gatehouse_core::store::{EventQuery, Store, StoreOptions};
use serde_json::{Value, json};

/// A test's clock: the real now, standing still until the test moves it.
fn clock() -> (Clock, ClockHand) {
    Clock::manual(Utc::now())
}

async fn start_fake(
    profiles: usize,
    branches: usize,
    clock: &Clock,
) -> (fake_appcircle::Shared, SocketAddr) {
    fake_appcircle::start(profiles, branches, clock.clone()).await
}

fn account(addr: SocketAddr, secret: &str) -> Account {
    Account {
        api_host: format!("http://{addr}"),
        auth_host: format!("http://{addr}/"),
        key: Key::ApiKey {
            name: KEY_NAME.into(),
            secret: secret.into(),
            organization: None,
        },
    }
}

/// Runs the blocking client off the async threads.
async fn off<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    tokio::task::spawn_blocking(f).await.expect("client thread")
}

/// The reads of an account whose lists besides the builds are empty: the build profiles,
/// distribution, publish (two platforms), the Enterprise App Store and three signing lists.
const LIST_READS: u64 = 1 + 1 + 2 + 1 + 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_read_walks_every_branch_and_a_second_only_what_moved() {
    let (clock, hand) = clock();
    let (fake, addr) = start_fake(3, 2, &clock).await;
    let now = clock.now();
    let (first, mut client) = off(move || {
        let mut client = Client::with_pace(account(addr, KEY_SECRET), Duration::ZERO, clock);
        let reading = sync::read(&mut client, &Positions::new(), now).expect("read");
        (reading, client)
    })
    .await;
    let builds: Vec<_> = first
        .facts
        .iter()
        .filter(|f| f.scope == Scope::Build)
        .collect();
    assert_eq!(builds.len(), 6, "3 profiles x 2 branches");
    // One sign-in, the lists, 3 profiles, 6 branches' builds.
    assert_eq!(first.requests, 1 + LIST_READS + 3 + 6);
    for f in &builds {
        let build = f.subject.build_id.as_deref().expect("build id");
        assert!(
            build.ends_with("-latest"),
            "the newest build, not the first listed"
        );
        let want = if build.contains("b0") {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        };
        assert_eq!(f.outcome, want, "{build}");
        assert!(f.subject.profile_name.is_some() && f.subject.branch_name.is_some());
    }

    // Half an hour later (the hour-long token still good) one branch built again: the second
    // read takes the lists, that profile and that branch.
    hand.advance(chrono::Duration::minutes(30));
    {
        let mut account = fake.account.lock().expect("lock");
        account.profiles[1].last_build_date = fake.minutes_ago(10);
        let branch = &mut account.profiles[1].branches[1];
        branch.last_build_date = fake.minutes_ago(10);
        branch.build_id = "p1b1-next".into();
        branch.status = 3;
    }
    let positions = first.positions.clone();
    let now = hand.now();
    let second = off(move || sync::read(&mut client, &positions, now).expect("read")).await;
    assert_eq!(second.requests, LIST_READS + 2, "{}", second.requests);
    assert_eq!(second.facts.len(), 1);
    assert_eq!(second.facts[0].subject.branch_id.as_deref(), Some("p1b1"));
    assert_eq!(second.facts[0].outcome, Outcome::TimedOut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_refreshed_before_they_expire_and_once_on_a_401() {
    let (clock, hand) = clock();
    let (fake, addr) = start_fake(1, 1, &clock).await;
    // Tokens that expire within the refresh margin are replaced before every use.
    fake.behaviour.lock().expect("lock").token_lifetime = 30;
    let f = fake.clone();
    off(move || {
        let mut client = Client::with_pace(account(addr, KEY_SECRET), Duration::ZERO, clock);
        for _ in 0..3 {
            let _: Value = client.get("build/v2/profiles", "a list").expect("listed");
        }
        assert_eq!(f.tokens(), 3, "one sign-in per call");
        // Long-lived tokens are kept; a 401 signs in once more and the call succeeds.
        f.behaviour.lock().expect("lock").token_lifetime = 3600;
        let _: Value = client.get("build/v2/profiles", "a list").expect("listed");
        let _: Value = client.get("build/v2/profiles", "a list").expect("listed");
        assert_eq!(f.tokens(), 4);
        f.behaviour.lock().expect("lock").refuse_next_token = true;
        let _: Value = client
            .get("build/v2/profiles", "a list")
            .expect("after a refresh");
        assert_eq!(f.tokens(), 5);
        // By the clock, the hour-long token is kept until a minute before its `exp`, then
        // replaced before it is used.
        hand.advance(chrono::Duration::minutes(58));
        let _: Value = client.get("build/v2/profiles", "a list").expect("listed");
        assert_eq!(f.tokens(), 5, "58 minutes in: still good");
        hand.advance(chrono::Duration::seconds(90));
        let _: Value = client.get("build/v2/profiles", "a list").expect("listed");
        assert_eq!(f.tokens(), 6, "59.5 minutes in: refreshed before use");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_says_so_without_the_secret() {
    let (clock, _) = clock();
    let (_fake, addr) = start_fake(1, 1, &clock).await;
    let err = off(move || {
        let mut client = Client::with_pace(account(addr, "wrong-secret"), Duration::ZERO, clock);
        client
            .get::<Value>("build/v2/profiles", "a list")
            .expect_err("refused")
    })
    .await;
    let text = err.to_string();
    assert!(
        text.contains("refused the API key `gatehouse`") && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_and_failing_answers_are_waited_out_and_then_reported() {
    let (clock, _) = clock();
    let (fake, addr) = start_fake(1, 1, &clock).await;
    fake.behaviour.lock().expect("lock").too_many = 1;
    let f = fake.clone();
    let (took, listed) = off(move || {
        let mut client = Client::with_pace(account(addr, KEY_SECRET), Duration::ZERO, clock);
        let started = Instant::now();
        let listed: Vec<appcircle::BuildProfile> = client
            .get("build/v2/profiles", "a list of build profiles")
            .expect("after waiting");
        let took = started.elapsed();
        // Two 500s are retried; four in a row are reported with their status.
        f.behaviour.lock().expect("lock").failing = 2;
        let _: Value = client
            .get("build/v2/profiles", "a list")
            .expect("after two 500s");
        f.behaviour.lock().expect("lock").failing = 10;
        let err = client
            .get::<Value>("build/v2/profiles", "a list")
            .expect_err("gives up");
        assert!(err.to_string().contains("HTTP 500 4 times"), "{err}");
        (took, listed)
    })
    .await;
    assert_eq!(listed.len(), 1);
    assert!(
        took >= Duration::from_secs(1),
        "Retry-After: 1 was honoured ({took:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_answer_is_retried_and_an_unreachable_host_is_said_plainly() {
    let (clock, _) = clock();
    let (fake, addr) = start_fake(1, 1, &clock).await;
    fake.behaviour.lock().expect("lock").stalling = 1;
    let stalled_clock = clock.clone();
    let took = off(move || {
        let mut client = Client::with_timeout(
            account(addr, KEY_SECRET),
            Duration::ZERO,
            Duration::from_secs(1),
            stalled_clock,
        );
        let started = Instant::now();
        let listed: Vec<appcircle::BuildProfile> = client
            .get("build/v2/profiles", "a list of build profiles")
            .expect("after the timeout, tried again");
        assert_eq!(listed.len(), 1);
        started.elapsed()
    })
    .await;
    assert!(
        took >= Duration::from_secs(1),
        "the read timed out first ({took:?})"
    );

    // Nothing listens: the error names the host, after three waits (1, 2, 4 s).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let gone = closed.local_addr().expect("addr");
    drop(closed);
    let err = off(move || {
        let mut client = Client::with_pace(account(gone, KEY_SECRET), Duration::ZERO, clock);
        client
            .get::<Value>("build/v2/profiles", "a list")
            .expect_err("unreachable")
    })
    .await;
    let text = err.to_string();
    assert!(
        text.contains("cannot reach") && text.contains(&gone.to_string()),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unexpected_shape_is_a_clear_error() {
    let (clock, _) = clock();
    let (fake, addr) = start_fake(1, 1, &clock).await;
    fake.behaviour.lock().expect("lock").odd_shape = true;
    let now = clock.now();
    let err = off(move || {
        let mut client = Client::with_pace(account(addr, KEY_SECRET), Duration::ZERO, clock);
        sync::read(&mut client, &Positions::new(), now).expect_err("odd shape")
    })
    .await;
    let text = err.to_string();
    assert!(
        text.contains("/build/v2/profiles")
            && text.contains("HTTP 200")
            && text.contains("a list of build profiles"),
        "{text}"
    );
}

/// The pace holds: at most two requests a second by default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_keeps_to_two_requests_a_second() {
    let (clock, _) = clock();
    let (_fake, addr) = start_fake(1, 1, &clock).await;
    let took = off(move || {
        let mut client = Client::new(account(addr, KEY_SECRET), clock);
        let started = Instant::now();
        for _ in 0..3 {
            let _: Value = client.get("build/v2/profiles", "a list").expect("listed");
        }
        // Four requests (a sign-in and three calls): three gaps of 500 ms.
        (started.elapsed(), client.requests())
    })
    .await;
    assert_eq!(took.1, 4);
    assert!(took.0 >= Duration::from_millis(1500), "{:?}", took.0);
}

/// A store on `clock` in a temporary directory.
fn store_on(clock: &Clock) -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let store = Arc::new(Store::open_dir_with(dir.path(), options).expect("store"));
    (dir, store)
}

/// A store on `clock` with an account connected to the fake. The key goes to the keyring
/// when a session bus is there (an entry of this data directory's own, removed by
/// [`disconnect`]), else to the database.
async fn connected(
    addr: SocketAddr,
    clock: &Clock,
) -> (tempfile::TempDir, Arc<Store>, Arc<AccountSync>) {
    let (dir, store) = store_on(clock);
    let account = Arc::new(AccountSync::new(store.clone()));
    account
        .connect(connection(addr, KEY_SECRET))
        .await
        .expect("connected");
    (dir, store, account)
}

fn connection(addr: SocketAddr, secret: &str) -> Connection {
    Connection {
        api_host: Some(format!("http://{addr}")),
        auth_host: Some(format!("http://{addr}")),
        key: AccountKey::ApiKey {
            name: KEY_NAME.into(),
            organization: None,
        },
        secret: secret.into(),
    }
}

async fn disconnect(account: &AccountSync) {
    account.disconnect().await.expect("disconnected");
}

/// Fills the fake's lists besides builds, dated from its clock: a distribution profile, a
/// publish profile whose latest version's flow failed, an Enterprise App Store profile, a
/// certificate expiring in 5 days, one in 100 days, and a keystore that expired 2 days ago.
fn fill_lists(fake: &fake_appcircle::Fake) {
    let now = fake.clock.now();
    let days_from_now = |days: i64| stamp(now + chrono::Duration::days(days));
    let hours_ago = |hours: i64| stamp(now - chrono::Duration::hours(hours));
    let mut account = fake.account.lock().expect("lock");
    account.distribution = vec![json!({
        "id": "d1", "name": "Testers", "pinned": false, "iOSVersion": "1.1", "androidVersion": null,
        "updateDate": hours_ago(3), "lastAppVersionSharedDate": hours_ago(3),
        "settings": {"authenticationType": 1}, "testingGroupIds": []
    })];
    account.publish.insert(
        "ios".into(),
        vec![(
            json!({"id": "pub1", "name": "Store App"}),
            vec![
                json!({"id": "v1", "version": "1.0", "versionCode": "10", "name": "Store App",
                       "createDate": days_from_now(-30), "updateDate": days_from_now(-30),
                       "releaseCandidate": true, "latestFlowStatus": 0, "uniqueName": "a"}),
                json!({"id": "v2", "version": "1.1", "versionCode": "11", "name": "Store App",
                       "createDate": hours_ago(12), "updateDate": hours_ago(4),
                       "releaseCandidate": true, "latestFlowStatus": 1, "uniqueName": "b"}),
            ],
        )],
    );
    account.store = vec![json!({
        "id": "s1", "name": "Enterprise App", "version": "2.0", "totalDownloadCount": 3,
        "latestPublishDate": days_from_now(-2), "lastBinaryReceivedDate": days_from_now(-3)
    })];
    account.signing.insert(
        "certificates".into(),
        vec![
            json!({"id": "c1", "name": "Apple Distribution: Acme", "expireDate": days_from_now(5)}),
            json!({"id": "c2", "name": "Apple Development: Acme", "expireDate": days_from_now(100)}),
        ],
    );
    account.signing.insert(
        "keystores".into(),
        vec![json!({"id": "k1", "name": "release.keystore", "expireDate": days_from_now(-2)})],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_fills_the_dashboard_and_a_second_adds_nothing() {
    let (clock, _) = clock();
    let (fake, addr) = start_fake(3, 2, &clock).await;
    fill_lists(&fake);
    let (_dir, store, account) = connected(addr, &clock).await;
    let report = account.sync_now().await.expect("synced");
    // 6 builds, a share with testers, a failed publish flow, a store release, 2 reminders.
    assert_eq!(report.events, 6 + 1 + 1 + 1 + 2, "{report:?}");

    let g = gate::evaluate(store.streams().expect("streams"), &GateFilter::default());
    let state = |scope: Scope, profile: &str, branch: Option<&str>| {
        g.streams
            .iter()
            .find(|s| {
                s.scope == scope
                    && s.profile_id.as_deref() == Some(profile)
                    && s.branch_id.as_deref() == branch
            })
            .map(|s| s.state)
    };
    assert_eq!(
        state(Scope::Build, "p0", Some("p0b0")),
        Some(GateState::Failing)
    );
    assert_eq!(
        state(Scope::Build, "p2", Some("p2b1")),
        Some(GateState::Passing)
    );
    assert_eq!(
        state(Scope::TestingDistribution, "d1", None),
        Some(GateState::Passing)
    );
    assert_eq!(
        state(Scope::PublishToStores, "pub1", None),
        Some(GateState::Failing),
        "the latest version's flow, not the older one's"
    );
    assert_eq!(
        state(Scope::EnterpriseAppStore, "s1", None),
        Some(GateState::Passing)
    );
    assert_eq!(g.state, GateState::Failing);

    let events = store.events(&EventQuery::default()).expect("events");
    assert!(events.iter().all(|e| e.source == Source::Synced));
    let reminders: Vec<_> = events.iter().filter(|e| e.expiring).collect();
    assert_eq!(
        reminders.len(),
        2,
        "the certificate in 5 days and the expired keystore"
    );
    assert!(
        reminders.iter().any(|e| e
            .message
            .as_deref()
            .is_some_and(|m| m.contains("release.keystore expired"))),
        "{reminders:?}"
    );
    let detail = store.event(events[0].id).expect("event");
    assert!(
        detail
            .payload
            .as_deref()
            .is_some_and(|p| p.starts_with('{')),
        "what the API answered is the payload"
    );

    let status = account.status().expect("status").expect("connected");
    assert!(status.sync.last_success.is_some() && status.sync.error.is_none());
    assert_eq!(status.sync.events, report.events);

    // Nothing moved: the lists are read again, no branch is, nothing is stored.
    let calls = fake.api_calls();
    let again = account.sync_now().await.expect("synced");
    assert_eq!(
        (again.events, again.known),
        (0, 3),
        "the publish flow and the two reminders, seen before"
    );
    let idle = fake.api_calls() - calls;
    assert_eq!(
        idle,
        LIST_READS + 1,
        "the lists and one publish profile's versions"
    );
    println!(
        "measured: an idle sync of this account: {idle} requests; an idle hour (6 syncs): {}",
        6 * idle
    );
    disconnect(&account).await;
}

/// Stores a signed webhook of `sample` (as the listener would, on endpoint `ac`, which it
/// creates the first time); returns its body as JSON.
async fn webhook(store: &Store, sample: Sample, options: SampleOptions) -> Value {
    if store.endpoint("ac").is_err() {
        store
            .add_endpoint("ac", "hook-secret")
            .await
            .expect("endpoint");
    }
    let now = store.clock().now();
    let options = SampleOptions {
        timestamp: options.timestamp.or(Some(now)),
        ..options
    };
    let body = samples::build(sample, &options).expect("sample");
    let (arrival, judgment) = samples::live_arrival("ac", "hook-secret", body.clone(), now);
    store
        .record(arrival, judgment)
        .await
        .expect("webhook stored");
    serde_json::from_slice(&body).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_builds_are_synced_and_a_build_a_webhook_told_of_is_not_stored_twice() {
    let (clock, _) = clock();
    let (fake, addr) = start_fake(1, 2, &clock).await;
    let (_dir, store, account) = connected(addr, &clock).await;
    account.sync_now().await.expect("first sync");

    // A webhook tells of a failed build of branch-1; Appcircle's API then lists that build.
    let options = SampleOptions {
        profile: Some("App 0".into()),
        branch: Some("branch-1".into()),
        task_id: Some("t1".into()),
        ..Default::default()
    };
    let body = webhook(&store, Sample::BuildFailed, options).await;
    let item = &body["item"];
    {
        let mut account = fake.account.lock().expect("lock");
        let profile = &mut account.profiles[0];
        profile.id = item["profileId"].as_str().expect("profile").into();
        profile.last_build_date = fake.minutes_ago(0);
        for b in &mut profile.branches {
            b.last_build_date = fake.minutes_ago(0);
        }
        let branch = &mut profile.branches[1];
        branch.id = item["branchId"].as_str().expect("branch").into();
        branch.build_id = item["buildId"].as_str().expect("build").into();
        branch.status = 1;
        // The other branch built again too, and no webhook told of it.
        profile.branches[0].build_id = "p0b0-next".into();
        profile.branches[0].status = 0;
    }

    let report = account.sync_now().await.expect("second sync");
    assert_eq!(
        (report.events, report.known),
        (1, 1),
        "the other branch's new build; the webhook's build is known: {report:?}"
    );
    let of_build = store
        .events(&EventQuery::default())
        .expect("events")
        .into_iter()
        .filter(|e| e.build_id.as_deref() == item["buildId"].as_str())
        .count();
    assert_eq!(of_build, 1, "one event for the build: the webhook's");
    disconnect(&account).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_build_is_read_again_until_it_ends() {
    let (clock, hand) = clock();
    let (fake, addr) = start_fake(1, 1, &clock).await;
    fake.account.lock().expect("lock").profiles[0].branches[0].status = 91;
    let (_dir, store, account) = connected(addr, &clock).await;
    let first = account.sync_now().await.expect("synced");
    assert_eq!(first.events, 1);
    let g = gate::evaluate(store.streams().expect("streams"), &GateFilter::default());
    assert!(g.streams[0].running, "a running build shows as running");

    // Two days on, its end never seen: past the running limit (by the store's clock), the
    // start is stale, not running; the branch is still read until it ends.
    hand.advance(chrono::Duration::days(2));
    assert_eq!(account.sync_now().await.expect("synced").events, 0);
    let g = gate::evaluate(store.streams().expect("streams"), &GateFilter::default());
    assert!(
        g.streams[0].stale && !g.streams[0].running,
        "{:?}",
        g.streams[0]
    );

    // The build ends; Appcircle's dates need not move for the sync to see it.
    fake.account.lock().expect("lock").profiles[0].branches[0].status = 0;
    let second = account.sync_now().await.expect("synced");
    assert_eq!(second.events, 1, "its end");
    let g = gate::evaluate(store.streams().expect("streams"), &GateFilter::default());
    assert_eq!(g.streams[0].state, GateState::Passing);
    assert!(!g.streams[0].running && !g.streams[0].stale);

    // Ended and seen: the branch is not read again.
    let calls = fake.api_calls();
    account.sync_now().await.expect("synced");
    assert_eq!(fake.api_calls() - calls, LIST_READS);

    // A skipped build (status 100) is no news for the gate, and nothing to wait for.
    {
        let mut account = fake.account.lock().expect("lock");
        let profile = &mut account.profiles[0];
        profile.last_build_date = fake.minutes_ago(0);
        profile.branches[0].last_build_date = fake.minutes_ago(0);
        profile.branches[0].build_id = "p0b0-skipped".into();
        profile.branches[0].status = 100;
    }
    assert_eq!(account.sync_now().await.expect("synced").events, 0);
    let calls = fake.api_calls();
    account.sync_now().await.expect("synced");
    assert_eq!(fake.api_calls() - calls, LIST_READS, "not read again");
    disconnect(&account).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_is_not_kept_and_a_failed_sync_says_why() {
    let (clock, _) = clock();
    let (fake, addr) = start_fake(1, 1, &clock).await;
    let (_dir, store) = store_on(&clock);
    let account = AccountSync::new(store.clone());
    let err = account
        .connect(connection(addr, "wrong-secret"))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("HTTP 401"), "{err}");
    assert!(account.status().expect("status").is_none(), "nothing kept");

    account
        .connect(connection(addr, KEY_SECRET))
        .await
        .expect("connected");
    fake.behaviour.lock().expect("lock").odd_shape = true;
    let err = account.sync_now().await.expect_err("odd shape");
    let status = account.status().expect("status").expect("connected");
    assert_eq!(status.sync.error.as_deref(), Some(err.to_string().as_str()));
    assert!(status.sync.last_success.is_none());
    // The webhook path is untouched by a failing sync.
    store
        .add_endpoint("ac", "hook-secret")
        .await
        .expect("endpoint");
    account.disconnect().await.expect("disconnected");
    assert!(account.status().expect("status").is_none());
}

/// The schedule syncs at start and when an account is connected, without being asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_syncs_a_newly_connected_account_at_once() {
    let (clock, _) = clock();
    let (_fake, addr) = start_fake(1, 1, &clock).await;
    let (_dir, store) = store_on(&clock);
    let account = Arc::new(AccountSync::new(store.clone()));
    let schedule = tokio::spawn(account.clone().run());
    account
        .connect(connection(addr, KEY_SECRET))
        .await
        .expect("connected");
    let until = Instant::now() + Duration::from_secs(10);
    while account
        .status()
        .expect("status")
        .is_none_or(|s| s.sync.last_success.is_none())
    {
        assert!(Instant::now() < until, "no sync within 10 s of connecting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.events(&EventQuery::default()).expect("events").len(),
        1
    );
    schedule.abort();
    disconnect(&account).await;
}

/// News a webhook told is not stored again when the sync reads it: a running build (whose
/// webhook has no build id: Appcircle sends the empty GUID at start) and a share with testers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn news_a_webhook_told_is_not_synced_again() {
    let (clock, _) = clock();
    let (fake, addr) = start_fake(1, 1, &clock).await;
    let (_dir, store, account) = connected(addr, &clock).await;
    let options = SampleOptions {
        profile: Some("App 0".into()),
        branch: Some("main".into()),
        task_id: Some("t2".into()),
        ..Default::default()
    };
    let started = webhook(&store, Sample::BuildStarted, options).await;
    let shared = webhook(
        &store,
        Sample::Distribution,
        SampleOptions {
            profile: Some("Testers".into()),
            ..Default::default()
        },
    )
    .await;
    let now = fake.minutes_ago(0);
    {
        let mut account = fake.account.lock().expect("lock");
        let profile = &mut account.profiles[0];
        profile.id = started["item"]["profileId"].as_str().expect("id").into();
        profile.last_build_date = now.clone();
        let branch = &mut profile.branches[0];
        branch.id = started["item"]["branchId"].as_str().expect("id").into();
        branch.last_build_date = now.clone();
        branch.status = 91;
        account.distribution = vec![json!({
            "id": shared["item"]["profileId"], "name": "Testers", "pinned": false,
            "updateDate": now, "lastAppVersionSharedDate": now, "settings": {}, "testingGroupIds": []
        })];
    }
    let report = account.sync_now().await.expect("synced");
    assert_eq!((report.events, report.known), (0, 2), "{report:?}");
    assert_eq!(
        store.events(&EventQuery::default()).expect("events").len(),
        2,
        "the webhooks' only"
    );
    disconnect(&account).await;
}

/// A key that may not read a part of the account (publish, here) still fills the rest; the
/// sync says which part failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_the_key_may_not_read_is_reported_and_the_rest_is_stored() {
    let (clock, _) = clock();
    let (fake, addr) = start_fake(2, 1, &clock).await;
    fill_lists(&fake);
    fake.behaviour.lock().expect("lock").forbid_publish = true;
    let (_dir, store, account) = connected(addr, &clock).await;
    let err = account.sync_now().await.expect_err("partly");
    let text = err.to_string();
    assert!(
        text.contains("part of the account could not be read") && text.contains("HTTP 403"),
        "{text}"
    );
    let events = store.events(&EventQuery::default()).expect("events");
    assert!(events.iter().any(|e| e.scope == Scope::Build));
    assert!(events.iter().any(|e| e.scope == Scope::EnterpriseAppStore));
    assert!(!events.iter().any(|e| e.scope == Scope::PublishToStores));
    let status = account.status().expect("status").expect("connected");
    assert!(status.sync.last_success.is_some());
    assert!(
        status
            .sync
            .error
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 403"))
    );
    // Allowed again: publish is read, nothing else twice.
    fake.behaviour.lock().expect("lock").forbid_publish = false;
    let report = account.sync_now().await.expect("synced");
    assert_eq!(report.events, 1, "the publish flow");
    let status = account.status().expect("status").expect("connected");
    assert!(status.sync.error.is_none());
    disconnect(&account).await;
}

/// The figure the closing note asks for: a first sync of 50 profiles x 5 branches at the
/// real pace (two requests a second). About two and a half minutes, so not in `make test`:
/// `cargo test -p gatehouse-core --test appcircle -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "takes about 150 s at Appcircle's pace; run by hand for the figure"]
async fn measure_a_first_sync_of_50_profiles_by_5_branches() {
    let (clock, _) = clock();
    let (_fake, addr) = start_fake(50, 5, &clock).await;
    let now = clock.now();
    let (found, requests, took) = off(move || {
        let mut client = Client::new(account(addr, KEY_SECRET), clock);
        let started = Instant::now();
        let reading = sync::read(&mut client, &Positions::new(), now).expect("read");
        (reading.facts.len(), reading.requests, started.elapsed())
    })
    .await;
    assert_eq!(found, 250);
    println!(
        "measured: first sync of 50 profiles x 5 branches: {requests} requests in {:.1} s",
        took.as_secs_f64()
    );
}

//! A commit's checks across providers, over real HTTP into a real SQLite file: Appcircle's
//! build (read by the account from a fake Appcircle, then told by webhook), GitHub
//! Actions' workflow (webhooks) and the TestFlight submission (Appcircle's publish webhook
//! naming the build). The manual clock starts at the real now, so the suite passes on any
//! date.

mod fake_appcircle;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{Duration, Utc};
use fake_appcircle::{KEY_NAME, KEY_SECRET, commit_of, sha_of};
use gatehouse_core::Error;
use gatehouse_core::accounts::{AccountKey, AccountSync, Connection};
use gatehouse_core::clock::{Clock, ClockHand};
use gatehouse_core::model::Provider;
use gatehouse_core::receive::listener::{ListenerConfig, RunningListener};
use gatehouse_core::receive::signature;
use gatehouse_core::rules::checks::{self, CheckState, CommitChecks, CommitState};
use gatehouse_core::rules::notify::Notifier;
use gatehouse_core::send::samples::dotnet_timestamp;
use gatehouse_core::settings::{RequiredChecks, Settings};
use gatehouse_core::store::{CommitFilter, EventQuery, EventRecord, Store, StoreOptions};
use serde_json::{Value, json};

const AC_SECRET: &str = "appcircle-webhook-secret";
const GH_SECRET: &str = "github-webhook-secret";
const BUILD: &str = "p0b0-latest";
const BRANCH: &str = "release/2.4";

struct World {
    store: Arc<Store>,
    listener: RunningListener,
    account: Arc<AccountSync>,
    fake: fake_appcircle::Shared,
    fake_addr: SocketAddr,
    clock: Clock,
    hand: ClockHand,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let (clock, hand) = Clock::manual(Utc::now());
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let store = Arc::new(Store::open_dir_with(dir.path(), options).expect("store"));
    store
        .add_endpoint_for(Provider::Appcircle, "ac", AC_SECRET)
        .await
        .expect("endpoint");
    store
        .add_endpoint_for(Provider::Github, "gh", GH_SECRET)
        .await
        .expect("endpoint");
    let listener = RunningListener::start(
        "127.0.0.1:0".parse().expect("addr"),
        store.clone(),
        ListenerConfig::default(),
    )
    .await
    .expect("listening");
    let (fake, fake_addr) = fake_appcircle::start(1, 1, clock.clone()).await;
    World {
        account: Arc::new(AccountSync::new(store.clone())),
        store,
        listener,
        fake,
        fake_addr,
        clock,
        hand,
        _dir: dir,
    }
}

impl World {
    async fn connect(&self, addr: SocketAddr) {
        self.account
            .connect(Connection {
                api_host: Some(format!("http://{addr}")),
                auth_host: Some(format!("http://{addr}")),
                key: AccountKey::ApiKey {
                    name: KEY_NAME.into(),
                    organization: None,
                },
                secret: KEY_SECRET.into(),
            })
            .await
            .expect("connected");
    }

    async fn post(&self, endpoint: &str, headers: Vec<(&str, String)>, body: Value) -> u16 {
        let url = format!("http://{}/hooks/{endpoint}", self.listener.local_addr());
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        tokio::task::spawn_blocking(move || {
            let mut request = ureq::post(&url).set("Content-Type", "application/json");
            for (k, v) in &headers {
                request = request.set(k, v);
            }
            match request.send_string(&body.to_string()) {
                Ok(a) | Err(ureq::Error::Status(_, a)) => a.status(),
                Err(e) => panic!("transport: {e}"),
            }
        })
        .await
        .expect("client")
    }

    /// An Appcircle webhook, signed (`ac_signature`), dated now.
    async fn appcircle(&self, title: &str, item: Value) -> u16 {
        let body = json!({
            "deliveryId": format!("{title} {item}"),
            "timestamp": dotnet_timestamp(self.clock.now()),
            "action": Value::Null,
            "title": title,
            "message": title,
            "item": item,
            "links": {"detail": "https://my.appcircle.io/build/detail"},
        });
        let sig = signature::sign(AC_SECRET.as_bytes(), body.to_string().as_bytes());
        self.post("ac", vec![("ac_signature", sig)], body).await
    }

    /// GitHub's `workflow_run` for attempt `attempt` of run 101 of acme/app's CI.
    async fn workflow(&self, sha: &str, attempt: u32, conclusion: Option<&str>) -> u16 {
        self.workflow_on(BRANCH, sha, attempt, conclusion).await
    }

    async fn workflow_on(
        &self,
        branch: &str,
        sha: &str,
        attempt: u32,
        conclusion: Option<&str>,
    ) -> u16 {
        let now = self.clock.now().to_rfc3339();
        let body = json!({
            "action": if conclusion.is_some() { "completed" } else { "in_progress" },
            "workflow_run": {
                "id": 101, "name": "CI", "path": ".github/workflows/ci.yml",
                "head_branch": branch, "head_sha": sha, "run_number": 7,
                "run_attempt": attempt,
                "status": if conclusion.is_some() { "completed" } else { "in_progress" },
                "conclusion": conclusion, "run_started_at": now, "created_at": now,
                "updated_at": now,
                "html_url": "https://github.com/acme/app/actions/runs/101",
                "repository": {"id": 42, "full_name": "acme/app"},
            },
            "repository": {"id": 42, "full_name": "acme/app"},
            "sender": {"login": "octocat"},
        });
        let sig = format!(
            "sha256={}",
            signature::sign(GH_SECRET.as_bytes(), body.to_string().as_bytes())
        );
        let delivery = format!("{sha}-{attempt}-{conclusion:?}");
        self.post(
            "gh",
            vec![
                ("X-GitHub-Event", "workflow_run".into()),
                ("X-GitHub-Delivery", delivery),
                ("X-Hub-Signature-256", sig),
            ],
            body,
        )
        .await
    }

    fn checks(&self, commit: &str) -> CommitChecks {
        checks::for_commit(&self.store, commit).expect("checks")
    }

    /// A moment later: each report is dated after the one before.
    fn tick(&self) {
        self.hand.advance(Duration::seconds(30));
    }
}

fn states(c: &CommitChecks) -> Vec<(String, CheckState)> {
    c.checks.iter().map(|c| (c.name.clone(), c.state)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_built_tested_and_shipped_goes_pending_failing_pending_ready() {
    let w = world().await;
    let sha = sha_of(BUILD);
    {
        let mut account = w.fake.account.lock().expect("lock");
        let profile = &mut account.profiles[0];
        profile.name = "Acme iOS".into();
        let branch = &mut profile.branches[0];
        branch.name = BRANCH.into();
        branch.status = 91; // running
    }
    // The builds list's fields are undocumented: the commit's hash is read from
    // `build/v2/commits/{id}`, as documented.
    w.fake.behaviour.lock().expect("lock").no_hash_in_builds = true;
    w.connect(w.fake_addr).await;
    w.account.sync_now().await.expect("synced");
    // Read again while it runs: its commit is not asked again.
    w.account.sync_now().await.expect("synced");

    // Running on Appcircle (read by the account) and on GitHub Actions (a webhook).
    w.tick();
    assert_eq!(w.workflow(&sha, 1, None).await, 200);
    let c = w.checks(&sha);
    assert_eq!(c.state, CommitState::Pending, "{c:#?}");
    assert_eq!(c.state.exit_code(), 2);
    assert_eq!(
        states(&c),
        vec![
            ("build: Acme iOS".to_owned(), CheckState::Running),
            ("github: acme/app · CI".to_owned(), CheckState::Running),
        ]
    );
    assert_eq!(c.summary, "0 of 2 checks passed, 2 running");
    assert_eq!(c.branches, vec![BRANCH.to_owned()]);

    // The tests fail: the commit fails.
    w.tick();
    assert_eq!(w.workflow(&sha, 1, Some("failure")).await, 200);
    let c = w.checks(&sha);
    assert_eq!(c.state, CommitState::Failing, "{c:#?}");
    assert_eq!(c.state.exit_code(), 1);

    // A re-run supersedes the failure while it runs...
    w.tick();
    assert_eq!(w.workflow(&sha, 2, None).await, 200);
    assert_eq!(w.checks(&sha).state, CommitState::Pending);
    // ...and passes. Appcircle's build succeeds: its webhook names Appcircle's commit GUID
    // only, which the account's read tied to the SHA.
    w.tick();
    assert_eq!(w.workflow(&sha, 2, Some("success")).await, 200);
    let status = w
        .appcircle(
            "Build Success",
            json!({"id": "task-1", "taskId": "task-1", "profileId": "p0", "branchId": "p0b0",
                   "buildId": BUILD, "commitId": commit_of(BUILD)}),
        )
        .await;
    assert_eq!(status, 200);
    let c = w.checks(&sha[..7]);
    assert_eq!(c.sha, sha, "a 7-digit prefix finds the commit");
    assert_eq!(c.state, CommitState::Ready, "{c:#?}");
    assert_eq!(c.state.exit_code(), 0);
    assert_eq!(c.summary, "2 of 2 checks passed");
    let github = c
        .checks
        .iter()
        .find(|c| c.name.starts_with("github"))
        .expect("github");
    assert_eq!(github.runs, 2, "the re-run is a second run");
    let build = c
        .checks
        .iter()
        .find(|c| c.name.starts_with("build"))
        .expect("build");
    assert_eq!(
        build.runs, 1,
        "one build, read by the account and told by webhook"
    );

    // A release needs the store submission too: until it reports, it is missing.
    let mut settings = w.store.settings().expect("settings");
    settings.required_checks = vec![RequiredChecks {
        branch: "release/*".into(),
        checks: vec![
            "build: Acme iOS".into(),
            "github: acme/app · CI".into(),
            "publish_to_stores: Acme iOS".into(),
        ],
    }];
    w.store.save_settings(&settings).await.expect("saved");
    let c = w.checks(&sha);
    assert_eq!(c.state, CommitState::Pending);
    assert_eq!(c.summary, "2 of 3 checks passed, 1 missing");
    assert_eq!(c.rule.as_deref(), Some("release/*"));

    // TestFlight: the publish webhook names the build it ships, and so its commit.
    w.tick();
    let status = w
        .appcircle(
            "Publish Flow Succeeded",
            json!({"profileId": "pub-1", "profileName": "Acme iOS", "buildId": BUILD}),
        )
        .await;
    assert_eq!(status, 200);
    let c = w.checks(&sha);
    assert_eq!(c.state, CommitState::Ready, "{c:#?}");
    assert_eq!(c.summary, "3 of 3 checks passed");
    assert_eq!(
        states(&c),
        vec![
            ("build: Acme iOS".to_owned(), CheckState::Passed),
            ("github: acme/app · CI".to_owned(), CheckState::Passed),
            ("publish_to_stores: Acme iOS".to_owned(), CheckState::Passed),
        ]
    );
    let on_branch = CommitFilter {
        branch: Some(BRANCH),
        ..CommitFilter::default()
    };
    let listed = checks::recent(&w.store, on_branch, 10).expect("recent");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sha, sha);
    assert_eq!(listed[0].state, CommitState::Ready);
    assert_eq!(
        w.fake
            .commit_reads
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the SHA is read once, from the documented commit, though the build was read twice"
    );
    w.account.disconnect().await.expect("disconnected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_resolve_once_and_unknown_or_ambiguous_commits_say_so() {
    let w = world().await;
    let a = format!("abcdef1{}", "0".repeat(33));
    let b = format!("abcdef1{}", "1".repeat(33));
    for sha in [&a, &b] {
        w.tick();
        assert_eq!(w.workflow(sha, 1, Some("success")).await, 200);
    }
    match checks::for_commit(&w.store, "ABCDEF1") {
        Err(Error::Invalid(message)) => {
            assert!(message.contains(&a) && message.contains(&b), "{message}");
            assert!(message.contains("ambiguous"), "{message}");
        }
        other => panic!("ambiguous: {other:?}"),
    }
    assert_eq!(w.checks(&b[..8]).sha, b, "one more digit decides");
    assert_eq!(w.checks(&a.to_uppercase()).sha, a, "any case");
    for unknown in ["1234567", &"f".repeat(40)] {
        match checks::for_commit(&w.store, unknown) {
            Err(Error::NotFound(m)) => assert!(m.contains("no check has reported"), "{m}"),
            other => panic!("unknown: {other:?}"),
        }
    }
    for bad in ["abc12", "not-a-sha", "ba50d2d6-bfcc-49a1-8fa6-6e00711b4d5b"] {
        assert!(
            matches!(checks::for_commit(&w.store, bad), Err(Error::Invalid(_))),
            "{bad}"
        );
    }
}

/// A webhook ahead of the account's read: its build is given the SHA once the read learns
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appcircle_webhook_before_the_accounts_read_joins_its_commit_when_learnt() {
    let w = world().await;
    let sha = sha_of(BUILD);
    w.fake.account.lock().expect("lock").profiles[0].branches[0].status = 0;
    let status = w
        .appcircle(
            "Build Success",
            json!({"taskId": "task-1", "profileId": "p0", "branchId": "p0b0",
                   "buildId": BUILD, "commitId": commit_of(BUILD)}),
        )
        .await;
    assert_eq!(status, 200);
    let webhook = w.newest().id;
    assert!(matches!(
        checks::for_commit(&w.store, &sha),
        Err(Error::NotFound(_))
    ));
    w.connect(w.fake_addr).await;
    w.account.sync_now().await.expect("synced");
    let stored: Vec<i64> = w
        .store
        .commit_events(&sha)
        .expect("events")
        .iter()
        .map(|e| e.id)
        .collect();
    assert!(
        stored.contains(&webhook),
        "the webhook's event has the SHA: {stored:?}"
    );
    let c = w.checks(&sha);
    // The read found the build told already (and stored nothing new); the webhook named no
    // profile, so the check is named by its id.
    assert_eq!(
        states(&c),
        vec![("build: p0".to_owned(), CheckState::Passed)]
    );
    w.account.disconnect().await.expect("disconnected");
}

/// A build's start told by webhook (no build id: Appcircle sends the empty GUID), then read
/// by the account while it runs: the read finds it told, stores nothing, and gives the
/// webhook's start the SHA, so the commit waits for the build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_build_told_by_webhook_before_the_read_holds_its_commit_back() {
    let w = world().await;
    let sha = sha_of(BUILD);
    w.fake.account.lock().expect("lock").profiles[0].branches[0].status = 91;
    w.build_started().await;
    w.tick();
    assert_eq!(w.workflow(&sha, 1, Some("success")).await, 200);
    w.connect(w.fake_addr).await;
    w.account.sync_now().await.expect("synced");
    let c = w.checks(&sha);
    assert_eq!(
        states(&c),
        vec![
            ("build: p0".to_owned(), CheckState::Running),
            ("github: acme/app · CI".to_owned(), CheckState::Passed),
        ],
        "{c:#?}"
    );
    assert_eq!(c.state.exit_code(), 2);
    w.account.disconnect().await.expect("disconnected");
}

/// An Appcircle commit GUID is not a SHA: a prefix of one finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appcircle_guid_is_never_taken_for_a_sha() {
    let w = world().await;
    let status = w
        .appcircle(
            "Build Failed",
            json!({"taskId": "t-9", "profileId": "p9", "buildId": "b9",
                   "commitId": "ba50d2d6-bfcc-49a1-8fa6-6e00711b4d5b"}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(matches!(
        checks::for_commit(&w.store, "ba50d2d"),
        Err(Error::NotFound(_))
    ));
}

impl World {
    /// Appcircle's webhook of BUILD's start: it names the commit's GUID and no build (the
    /// empty GUID, as Appcircle sends it).
    async fn build_started(&self) {
        let status = self
            .appcircle(
                "Build Started",
                json!({"taskId": "task-1", "profileId": "p0", "branchId": "p0b0",
                       "buildId": "00000000-0000-0000-0000-000000000000",
                       "commitId": commit_of(BUILD)}),
            )
            .await;
        assert_eq!(status, 200);
    }

    fn newest(&self) -> EventRecord {
        self.store
            .events(&EventQuery::default())
            .expect("events")
            .remove(0)
    }

    /// What the desktop's notifier says of the newest event's commit.
    fn ready(&self, notifier: &mut Notifier, settings: &Settings) -> Vec<String> {
        let event = self.newest();
        let Some(commit) =
            checks::for_event(&self.store, &event, &settings.required_checks).expect("checks")
        else {
            return Vec::new();
        };
        notifier
            .on_commit(&event, &commit, settings, false, std::time::Instant::now())
            .into_iter()
            .map(|n| format!("{}: {}", n.summary, n.body))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_commit_that_turns_ready_is_said_once_and_again_after_a_rerun() {
    let w = world().await;
    let sha = "c0ffee".to_owned() + &"1".repeat(34);
    let mut notifier = Notifier::default();
    let settings = Settings::default();
    w.tick();
    w.workflow(&sha, 1, None).await;
    assert!(w.ready(&mut notifier, &settings).is_empty(), "running");
    w.tick();
    w.workflow(&sha, 1, Some("success")).await;
    assert_eq!(
        w.ready(&mut notifier, &settings),
        vec!["acme/app · CI on release/2.4 (c0ffee1) is ready: 1 of 1 check passed".to_owned()]
    );
    assert!(
        w.ready(&mut notifier, &settings).is_empty(),
        "said once for the same state"
    );
    // A re-run makes it pending; its success makes it ready again.
    w.tick();
    w.workflow(&sha, 2, None).await;
    assert!(w.ready(&mut notifier, &settings).is_empty());
    w.tick();
    w.workflow(&sha, 2, Some("success")).await;
    assert_eq!(w.ready(&mut notifier, &settings).len(), 1);

    // The rules can switch it off.
    let other = "c0ffee".to_owned() + &"2".repeat(34);
    let mut off = settings.clone();
    off.notifications.commit_ready = false;
    w.tick();
    w.workflow(&other, 1, Some("success")).await;
    assert!(w.ready(&mut Notifier::default(), &off).is_empty());
    assert_eq!(w.ready(&mut Notifier::default(), &settings).len(), 1);

    // A commit on a branch that is no release branch is not news.
    let feature = "c0ffee".to_owned() + &"3".repeat(34);
    w.tick();
    w.workflow_on("feature/login", &feature, 1, Some("success"))
        .await;
    assert!(w.ready(&mut Notifier::default(), &settings).is_empty());
    // Unless a rule names it.
    let mut ruled = settings.clone();
    ruled.required_checks = vec![RequiredChecks {
        branch: "feature/*".into(),
        checks: vec!["github: acme/app · CI".into()],
    }];
    w.store.save_settings(&ruled).await.expect("saved");
    assert_eq!(w.ready(&mut Notifier::default(), &ruled).len(), 1);
}

/// A desktop following an inbox sees the same checks: each mirrored event keeps its SHA (an
/// inbox older than commit checks sends none, and GitHub's commit id is one), and a publish
/// finds its build among the mirrored events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_of_the_inbox_has_the_same_checks() {
    use gatehouse_core::store::Incoming;
    let w = world().await;
    let sha = sha_of(BUILD);
    w.connect(w.fake_addr).await;
    w.account.sync_now().await.expect("synced");
    w.tick();
    assert_eq!(w.workflow(&sha, 1, Some("success")).await, 200);
    w.tick();
    let status = w
        .appcircle(
            "Publish Flow Succeeded",
            json!({"profileId": "pub-1", "profileName": "App 0", "buildId": BUILD}),
        )
        .await;
    assert_eq!(status, 200);
    let at_inbox = w.checks(&sha);
    assert_eq!(at_inbox.checks.len(), 3, "{at_inbox:#?}");

    let desk = world().await;
    let mut events = w
        .store
        .events(&EventQuery {
            limit: Some(100),
            ..EventQuery::default()
        })
        .expect("events");
    events.reverse();
    for e in &mut events {
        if e.provider == Provider::Github {
            e.commit_sha = None;
        }
    }
    let batch = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| (i as i64 + 1, Incoming::Event(Box::new(e))))
        .collect();
    desk.store
        .apply_mirrored("http://inbox", batch, false)
        .await
        .expect("mirrored");
    let at_desk = desk.checks(&sha);
    assert_eq!(states(&at_desk), states(&at_inbox));
    assert_eq!(at_desk.summary, at_inbox.summary);
    w.account.disconnect().await.expect("disconnected");
}

/// The inbox gives a webhook's build start the SHA only when its account's read finds it
/// told; a desktop that copied the start before gets the SHA too, as the inbox announces the
/// event again (no new event: it is not stored twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_gets_the_sha_the_inbox_learns_after_copying() {
    use gatehouse_core::store::{Incoming, Notice};
    let w = world().await;
    let sha = sha_of(BUILD);
    w.fake.account.lock().expect("lock").profiles[0].branches[0].status = 91;
    w.build_started().await;
    let start = w.newest();
    assert_eq!(start.commit_sha, None);
    let desk = world().await;
    let copy = |notices: Vec<Notice>| {
        notices
            .into_iter()
            .filter_map(|n| match n {
                Notice::Event { seq, event, .. } => {
                    Some((seq, Incoming::Event(Box::new((*event).clone()))))
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let before = w.store.changes_after(0, 100).expect("changes");
    let seen = before.last().map(Notice::seq).unwrap_or(0);
    desk.store
        .apply_mirrored("http://inbox", copy(before), false)
        .await
        .expect("mirrored");

    w.connect(w.fake_addr).await;
    w.account.sync_now().await.expect("synced");
    let again = copy(w.store.changes_after(seen, 100).expect("changes"));
    assert!(
        again
            .iter()
            .any(|(_, i)| matches!(i, Incoming::Event(e) if e.id == start.id
            && e.commit_sha.as_deref() == Some(sha.as_str()))),
        "the start is announced again with its SHA"
    );
    let applied = desk
        .store
        .apply_mirrored("http://inbox", again, false)
        .await
        .expect("mirrored");
    assert_eq!(applied.events, 0, "nothing new is stored");
    let c = desk.checks(&sha);
    assert_eq!(
        states(&c),
        vec![("build: p0".to_owned(), CheckState::Running)]
    );
    w.account.disconnect().await.expect("disconnected");
}

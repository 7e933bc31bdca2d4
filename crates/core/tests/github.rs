//! Following GitHub Actions with a token alone: the CI accounts' read of GitHub's REST API
//! against a fake GitHub (fake_github, built strictly from docs/PROVIDER_APIS.md), into a
//! real SQLite file, beside a real listener on loopback for the webhooks of the same runs.
//!
//! A manual clock starts at the real now; the store, the client's rate-limit arithmetic and
//! the fake's dates all read it, so the suite passes on any date.

mod fake_github;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use fake_github::TOKEN;
use gatehouse_core::accounts::ci::{CiAccounts, CiConnection};
use gatehouse_core::accounts::github::{self, Client};
use gatehouse_core::accounts::runs::Positions;
use gatehouse_core::clock::{Clock, ClockHand};
use gatehouse_core::model::{Outcome, Provider, Scope, Source, Verdict};
use gatehouse_core::receive::listener::{ListenerConfig, RunningListener};
use gatehouse_core::receive::signature;
use gatehouse_core::rules::gate::{self, GateFilter, GateState};
use gatehouse_core::store::{EventQuery, RequestQuery, Store, StoreOptions};
use serde_json::json;

const SECRET: &str = "github-webhook-secret";
const REPO: &str = "acme/app";

struct Harness {
    store: Arc<Store>,
    listener: RunningListener,
    ci: Arc<CiAccounts>,
    fake: fake_github::Shared,
    addr: SocketAddr,
    clock: Clock,
    hand: ClockHand,
    _dir: tempfile::TempDir,
}

async fn start() -> Harness {
    let (clock, hand) = Clock::manual(Utc::now());
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let store = Arc::new(Store::open_dir_with(dir.path(), options).expect("store"));
    store
        .add_endpoint_for(Provider::Github, "gh", SECRET)
        .await
        .expect("endpoint");
    let listener = RunningListener::start(
        "127.0.0.1:0".parse().expect("addr"),
        store.clone(),
        ListenerConfig::default(),
    )
    .await
    .expect("listening");
    let (fake, addr) = fake_github::start(clock.clone()).await;
    Harness {
        ci: Arc::new(CiAccounts::new(store.clone())),
        store,
        listener,
        fake,
        addr,
        clock,
        hand,
        _dir: dir,
    }
}

impl Harness {
    fn connection(&self, token: &str, repos: &[&str]) -> CiConnection {
        CiConnection {
            provider: Provider::Github,
            api_host: Some(format!("http://{}", self.addr)),
            repos: repos.iter().map(|r| (*r).to_owned()).collect(),
            token: token.into(),
        }
    }

    async fn connect(&self) -> String {
        self.ci
            .connect(self.connection(TOKEN, &[REPO]))
            .await
            .expect("connect")
            .id
    }

    fn github_events(&self) -> Vec<gatehouse_core::store::EventRecord> {
        self.store
            .events(&EventQuery {
                provider: Some(Provider::Github),
                ..EventQuery::default()
            })
            .expect("events")
    }

    /// Sends run `id`'s `workflow_run` webhook (`action`) as GitHub would, signed.
    async fn webhook(&self, id: u64, action: &str) -> (u16, serde_json::Value) {
        let run = {
            let repos = self.fake.repos.lock().expect("lock");
            let repo = &repos[REPO];
            let run = repo.runs.iter().find(|r| r.id == id).expect("run");
            self.fake.run_json(REPO, repo.id, run)
        };
        let body = json!({
            "action": action,
            "workflow_run": run,
            "repository": run["repository"],
            "sender": {"login": "octocat"},
        });
        self.deliver("workflow_run", &format!("{id}-{action}-delivery"), body)
            .await
    }

    /// Sends `body` as GitHub's `event` webhook, signed; the status and the answer.
    async fn deliver(
        &self,
        event: &str,
        delivery: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let body = body.to_string();
        let signature = format!(
            "sha256={}",
            signature::sign(SECRET.as_bytes(), body.as_bytes())
        );
        let url = format!("http://{}/hooks/gh", self.listener.local_addr());
        let (event, delivery) = (event.to_owned(), delivery.to_owned());
        tokio::task::spawn_blocking(move || {
            let answer = ureq::post(&url)
                .set("X-GitHub-Event", &event)
                .set("X-GitHub-Delivery", &delivery)
                .set("X-Hub-Signature-256", &signature)
                .set("Content-Type", "application/json")
                .send_string(&body);
            let answer = match answer {
                Ok(a) | Err(ureq::Error::Status(_, a)) => a,
                Err(e) => panic!("transport: {e}"),
            };
            let status = answer.status();
            let text = answer.into_string().unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or_default())
        })
        .await
        .expect("thread")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_and_a_repository_are_enough_to_see_its_runs() {
    let h = start().await;
    h.fake.add_run(
        REPO,
        h.fake
            .run(101, "CI", "main", "completed", Some("success"), 30),
    );
    h.fake
        .add_run(REPO, h.fake.run(102, "CI", "main", "in_progress", None, 2));

    // A refused token and a repository the token cannot see: said, and nothing kept.
    let err =
        h.ci.connect(h.connection("wrong-token", &[REPO]))
            .await
            .expect_err("refused");
    assert!(err.to_string().contains("refused the token"), "{err}");
    assert!(!err.to_string().contains("wrong-token"), "{err}");
    let err =
        h.ci.connect(h.connection(TOKEN, &[REPO, "acme/private"]))
            .await
            .expect_err("unknown repository");
    assert!(
        err.to_string().contains("HTTP 404")
            && err.to_string().contains("acme/private")
            && err.to_string().contains("cannot see it"),
        "{err}"
    );
    assert!(h.ci.list().expect("list").is_empty());

    let id = h.connect().await;
    let first = h.ci.sync_now(&id).await.expect("first read");
    assert_eq!((first.events, first.known, first.requests), (2, 0, 1));
    let events = h.github_events();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.source == Source::Synced));
    let name = "GitHub account at 127.0.0.1";
    assert!(
        events.iter().all(|e| e.endpoint == name),
        "{:?}",
        events[0].endpoint
    );
    let ended = events
        .iter()
        .find(|e| e.outcome == Outcome::Succeeded)
        .expect("run 101");
    assert_eq!(ended.title.as_deref(), Some("Workflow succeeded"));
    assert_eq!(ended.profile_name.as_deref(), Some("acme/app · CI"));
    assert_eq!(
        ended.duration_ms,
        Some(95_000),
        "updated_at − run_started_at"
    );
    assert_eq!(
        ended.links.get("detail").and_then(|v| v.as_str()),
        Some(format!("http://{}/acme/app/actions/runs/101", h.addr).as_str())
    );
    let payload = h.store.event(ended.id).expect("event").payload;
    assert!(
        payload
            .as_deref()
            .is_some_and(|p| p.contains("\"run_attempt\":1")),
        "{payload:?}"
    );
    // One stream: the running run is its latest.
    let streams = h.store.streams().expect("streams");
    assert_eq!(streams.len(), 1);
    assert!(streams[0].running_since.is_some());

    // The run fails: the next read stores its end, and the gate fails.
    h.hand.advance(chrono::Duration::seconds(15));
    h.fake.set_run(REPO, 102, "completed", Some("failure"));
    let second = h.ci.sync_now(&id).await.expect("second read");
    assert_eq!((second.events, second.known), (1, 1));
    let g = gate::evaluate(h.store.streams().expect("streams"), &GateFilter::default());
    assert_eq!(g.state, GateState::Failing);

    // Nothing changed: a 304, which costs nothing of the rate limit.
    let remaining = h.fake.remaining();
    let third = h.ci.sync_now(&id).await.expect("third read");
    assert_eq!((third.events, third.requests), (0, 1));
    assert_eq!(h.fake.not_modified(), 1);
    assert_eq!(h.fake.remaining(), remaining);
    let listed = h.ci.list().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].repos, [REPO]);
    assert!(listed[0].sync.error.is_none());

    // Disconnected: its history stays, the account goes.
    h.ci.disconnect(&id).await.expect("disconnect");
    assert!(h.ci.list().expect("list").is_empty());
    assert_eq!(h.github_events().len(), 3);
    let err = h.ci.sync_now(&id).await.expect_err("gone");
    assert!(err.to_string().contains("no account"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_told_by_a_webhook_and_by_a_read_is_stored_once_in_either_order() {
    let h = start().await;
    h.fake.add_repo(REPO);
    let id = h.connect().await;

    // The webhook first: the read finds it told.
    h.fake.add_run(
        REPO,
        h.fake
            .run(201, "CI", "main", "completed", Some("failure"), 10),
    );
    let (status, answer) = h.webhook(201, "completed").await;
    assert_eq!(status, 200, "{answer}");
    let read = h.ci.sync_now(&id).await.expect("read");
    assert_eq!((read.events, read.known), (0, 1));
    assert_eq!(h.github_events().len(), 1);

    // The read first: the webhook is a duplicate of what it stored, answered 200.
    h.fake
        .add_run(REPO, h.fake.run(202, "CI", "main", "in_progress", None, 3));
    let read = h.ci.sync_now(&id).await.expect("read");
    assert_eq!(read.events, 1);
    let (status, answer) = h.webhook(202, "requested").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "duplicate", "{answer}");
    assert_eq!(answer["event_id"], read.event_ids[0], "{answer}");
    let (status, answer) = h.webhook(202, "in_progress").await;
    assert_eq!((status, &answer["status"]), (200, &json!("duplicate")));

    // Its end by webhook, then read: one end.
    h.fake.set_run(REPO, 202, "completed", Some("success"));
    let (_, answer) = h.webhook(202, "completed").await;
    assert_eq!(answer["status"], "accepted", "{answer}");
    let read = h.ci.sync_now(&id).await.expect("read");
    assert_eq!(read.events, 0);
    let events = h.github_events();
    assert_eq!(events.len(), 3, "201's end, 202's start and end");
    let sources: Vec<(Outcome, Source)> = events.iter().map(|e| (e.outcome, e.source)).collect();
    assert!(
        sources.contains(&(Outcome::Started, Source::Synced)),
        "{sources:?}"
    );
    assert!(
        sources.contains(&(Outcome::Succeeded, Source::Live)),
        "{sources:?}"
    );
    // Every webhook request is recorded with its verdict.
    let verdicts: Vec<Verdict> = h
        .store
        .requests(&RequestQuery::default())
        .expect("requests")
        .iter()
        .map(|r| r.verdict)
        .collect();
    assert_eq!(verdicts.len(), 4);
    assert_eq!(
        verdicts
            .iter()
            .filter(|v| **v == Verdict::Duplicate)
            .count(),
        2
    );
    // A re-run is a new attempt: news again.
    {
        let mut repos = h.fake.repos.lock().expect("lock");
        let run = repos
            .get_mut(REPO)
            .and_then(|r| r.runs.iter_mut().find(|r| r.id == 201))
            .expect("run");
        run.attempt = 2;
        run.status = "completed".into();
        run.conclusion = Some("success".into());
    }
    let read = h.ci.sync_now(&id).await.expect("read");
    assert_eq!(read.events, 1, "attempt 2 of run 201");
    let streams = h.store.streams().expect("streams");
    assert_eq!(streams.len(), 1, "webhooks and reads share the stream");
    let g = gate::evaluate(streams, &GateFilter::default());
    assert_eq!(g.state, GateState::Passing);
    assert!(
        h.github_events()
            .iter()
            .all(|e| e.scope == Scope::Build && e.profile_name.as_deref() == Some("acme/app · CI"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_is_never_gone_past() {
    let h = start().await;
    h.fake
        .add_run(REPO, h.fake.run(301, "CI", "main", "queued", None, 1));
    let id = h.connect().await;
    let after_connect = h.fake.requests();

    // One request left: the read takes it, and the next makes none until the reset.
    h.fake.set_remaining(1, chrono::Duration::minutes(30));
    h.ci.sync_now(&id).await.expect("read");
    assert_eq!(h.fake.remaining(), 0);
    h.fake.set_run(REPO, 301, "in_progress", None);
    let err = h.ci.sync_now(&id).await.expect_err("used up");
    assert!(err.to_string().contains("rate limit"), "{err}");
    assert_eq!(
        h.fake.requests(),
        after_connect + 1,
        "no request while used up"
    );
    let status = &h.ci.list().expect("list")[0].sync;
    assert!(
        status
            .error
            .as_deref()
            .is_some_and(|e| e.contains("rate limit"))
    );

    // After the reset, reads go on.
    h.hand.advance(chrono::Duration::minutes(31));
    h.fake.set_remaining(5000, chrono::Duration::hours(1));
    h.ci.sync_now(&id).await.expect("after the reset");

    // A secondary limit: its Retry-After is waited for.
    h.fake.behaviour.lock().expect("lock").secondary = Some(120);
    h.fake.set_run(REPO, 301, "completed", Some("failure"));
    let err = h.ci.sync_now(&id).await.expect_err("secondary");
    assert!(
        err.to_string().contains("secondary rate limit") && err.to_string().contains("120 s"),
        "{err}"
    );
    let asked = h.fake.requests();
    h.ci.sync_now(&id).await.expect_err("held");
    assert_eq!(h.fake.requests(), asked);
    h.hand.advance(chrono::Duration::seconds(121));
    let read = h.ci.sync_now(&id).await.expect("after the wait");
    assert_eq!(read.events, 1, "the failure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_tried_again_and_then_named() {
    let h = start().await;
    h.fake
        .add_run(REPO, h.fake.run(401, "CI", "main", "in_progress", None, 1));
    let host = format!("http://{}", h.addr);
    let now = h.clock.now();
    let reading = tokio::task::spawn_blocking({
        let fake = h.fake.clone();
        move || {
            let mut client = Client::new(&host, TOKEN.into());
            fake.behaviour.lock().expect("lock").failing = 1;
            let first = github::read(&mut client, &[REPO.into()], &Positions::new(), now)
                .expect("one 500, then an answer");
            fake.behaviour.lock().expect("lock").failing = 5;
            let err =
                github::read(&mut client, &[REPO.into()], &first.positions, now).expect_err("500s");
            (first, err)
        }
    })
    .await
    .expect("thread");
    let (first, err) = reading;
    assert_eq!(first.requests, 2);
    assert!(first.running, "a run is in progress");
    assert_eq!(first.runs.len(), 1);
    assert!(
        err.to_string().contains("HTTP 500 3 times")
            && err.to_string().contains("/repos/acme/app/actions/runs"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_ends_awaiting_approval_is_stored_as_its_end_once() {
    let h = start().await;
    h.fake
        .add_run(REPO, h.fake.run(501, "CI", "main", "queued", None, 1));
    let id = h.connect().await;
    assert_eq!(h.ci.sync_now(&id).await.expect("read").events, 1);
    h.fake
        .set_run(REPO, 501, "completed", Some("action_required"));
    let read = h.ci.sync_now(&id).await.expect("read");
    assert_eq!(read.events, 1, "its end, though no news for the gate");
    let streams = h.store.streams().expect("streams");
    let last = streams[0].last_event.as_ref().expect("latest");
    assert_eq!(
        last.title.as_deref(),
        Some("Workflow needs action"),
        "the stream's latest"
    );
    // Read again (a fresh answer): stored once, by its delivery id.
    h.fake.add_run(
        REPO,
        h.fake
            .run(502, "Lint", "main", "completed", Some("success"), 1),
    );
    let again = h.ci.sync_now(&id).await.expect("read");
    assert_eq!((again.events, again.known), (1, 1));

    // Its webhook after the read: a duplicate of the read's event, not a second end.
    let (status, answer) = h.webhook(501, "completed").await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate")),
        "{answer}"
    );
    // The other order: a webhook first, then the read finds it told.
    h.fake.add_run(
        REPO,
        h.fake.run(
            503,
            "Deploy",
            "main",
            "completed",
            Some("action_required"),
            1,
        ),
    );
    let (_, answer) = h.webhook(503, "completed").await;
    assert_eq!(answer["status"], "accepted", "{answer}");
    let last = h.ci.sync_now(&id).await.expect("read");
    assert_eq!((last.events, last.known), (0, 3), "{last:?}");
    let needs_action = h
        .github_events()
        .iter()
        .filter(|e| e.title.as_deref() == Some("Workflow needs action"))
        .count();
    assert_eq!(needs_action, 2, "one each for 501 and 503");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_repository_is_named_not_followed_and_the_others_are_still_read() {
    let h = start().await;
    h.fake
        .add_run(REPO, h.fake.run(601, "CI", "main", "in_progress", None, 1));
    h.fake.add_run(
        "acme/old",
        h.fake
            .run(602, "CI", "main", "completed", Some("success"), 5),
    );
    let id =
        h.ci.connect(h.connection(TOKEN, &[REPO, "acme/old"]))
            .await
            .expect("connect")
            .id;
    h.fake
        .behaviour
        .lock()
        .expect("lock")
        .moved
        .insert("acme/old".into(), "acme/new".into());
    let asked = h.fake.requests();
    let err = h.ci.sync_now(&id).await.expect_err("one repository moved");
    let text = err.to_string();
    assert!(
        text.contains("HTTP 301")
            && text.contains("/repos/acme/new/actions/runs")
            && text.contains("new OWNER/NAME"),
        "{text}"
    );
    assert!(text.starts_with("1 new events stored"), "{text}");
    // Each repository asked once: the 301's Location was not asked for.
    assert_eq!(h.fake.requests(), asked + 2);
    assert!(
        !h.fake
            .log
            .lock()
            .expect("lock")
            .iter()
            .any(|p| p.contains("acme/new")),
        "the redirect was not followed"
    );
    let stored: Vec<_> = h
        .github_events()
        .into_iter()
        .map(|e| e.profile_name)
        .collect();
    assert_eq!(
        stored,
        vec![Some("acme/app · CI".to_owned())],
        "the other repository's run"
    );
    let status = &h.ci.list().expect("list")[0].sync;
    assert!(
        status
            .error
            .as_deref()
            .is_some_and(|e| e.contains("renamed or moved")),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_that_names_no_limit_waits_a_minute() {
    let h = start().await;
    h.fake
        .add_run(REPO, h.fake.run(701, "CI", "main", "in_progress", None, 1));
    let id = h.connect().await;
    h.fake.behaviour.lock().expect("lock").too_many = true;
    let err = h.ci.sync_now(&id).await.expect_err("429");
    assert!(
        err.to_string().contains("HTTP 429") && err.to_string().contains("waiting 60 s"),
        "{err}"
    );
    let asked = h.fake.requests();
    h.hand.advance(chrono::Duration::seconds(59));
    let err = h.ci.sync_now(&id).await.expect_err("still waiting");
    assert!(err.to_string().contains("allows no request"), "{err}");
    assert_eq!(h.fake.requests(), asked, "no request within the minute");
    h.hand.advance(chrono::Duration::seconds(2));
    h.fake.set_run(REPO, 701, "completed", Some("failure"));
    let read = h.ci.sync_now(&id).await.expect("after the minute");
    assert_eq!(read.events, 1, "the failure (its start was never seen)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_s_jobs_are_read_on_demand_for_its_attempt_whichever_way_it_came() {
    let h = start().await;
    h.fake
        .add_run(REPO, h.fake.run(801, "CI", "main", "in_progress", None, 3));
    // Attempt 1's jobs, then attempt 2's: each event shows its own attempt's.
    h.fake.add_job(
        801,
        1,
        51,
        "lint",
        "completed",
        Some("failure"),
        3,
        Some(42),
    );
    h.fake
        .add_job(801, 2, 62, "test", "in_progress", None, 1, None);
    h.fake.add_job(
        801,
        2,
        61,
        "lint",
        "completed",
        Some("success"),
        2,
        Some(40),
    );

    // No account yet: the webhook's run says how to see its jobs.
    let (_, answer) = h.webhook(801, "in_progress").await;
    let hooked = answer["event_id"].as_i64().expect("event id");
    let err = h.ci.jobs(hooked).await.expect_err("no token");
    assert!(
        err.to_string()
            .contains("no GitHub account follows the repository acme/app")
            && err.to_string().contains("Settings"),
        "{err}"
    );

    let id = h.connect().await;
    let jobs = h.ci.jobs(hooked).await.expect("the webhook's run's jobs");
    assert_eq!(jobs.account, "GitHub account at 127.0.0.1");
    let seen: Vec<(&str, Outcome, Option<i64>)> = jobs
        .jobs
        .iter()
        .map(|j| (j.name.as_str(), j.outcome, j.duration_ms))
        .collect();
    assert_eq!(
        seen,
        vec![("lint", Outcome::Failed, Some(42_000))],
        "attempt 1's"
    );
    // Asked again at once: the same answer, without a request (a reader may ask in a loop).
    let asked = h.fake.requests();
    assert_eq!(h.ci.jobs(hooked).await.expect("again").jobs, jobs.jobs);
    assert_eq!(h.fake.requests(), asked, "kept for 30 s");
    assert_eq!(jobs.jobs[0].status, "failure");

    // Re-run: the read's event of attempt 2 shows attempt 2's jobs, in the order made.
    {
        let mut repos = h.fake.repos.lock().expect("lock");
        let run = &mut repos.get_mut(REPO).expect("repo").runs[0];
        run.attempt = 2;
        run.updated = h.clock.now();
    }
    let read = h.ci.sync_now(&id).await.expect("read");
    let second =
        h.ci.jobs(read.event_ids[0])
            .await
            .expect("attempt 2's jobs");
    let seen: Vec<(&str, Outcome)> = second
        .jobs
        .iter()
        .map(|j| (j.name.as_str(), j.outcome))
        .collect();
    assert_eq!(
        seen,
        vec![("lint", Outcome::Succeeded), ("test", Outcome::Started)]
    );
    assert!(
        h.fake
            .log
            .lock()
            .expect("lock")
            .iter()
            .any(|l| l == "/repos/acme/app/actions/runs/801/attempts/2/jobs")
    );

    // An event that is not a run (a ping): said so.
    let (_, ping) = h
        .deliver(
            "ping",
            "ping-1",
            json!({"zen": "Keep it logically awesome.", "hook_id": 1}),
        )
        .await;
    let ping = ping["event_id"].as_i64().expect("the ping's event");
    let err = h.ci.jobs(ping).await.expect_err("a ping has no jobs");
    assert!(
        err.to_string().contains("is not a GitHub Actions run"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_older_than_the_history_keeps_is_not_stored() {
    let h = start().await;
    let mut settings = h.store.settings().expect("settings");
    settings.retention_days = Some(7);
    h.store.save_settings(&settings).await.expect("saved");
    h.fake.add_run(
        REPO,
        h.fake.run(
            901,
            "CI",
            "main",
            "completed",
            Some("failure"),
            10 * 24 * 60,
        ),
    );
    h.fake.add_run(
        REPO,
        h.fake
            .run(902, "CI", "main", "completed", Some("success"), 24 * 60),
    );
    let id = h.connect().await;
    let read = h.ci.sync_now(&id).await.expect("read");
    assert_eq!(read.events, 1, "only the run within the last 7 days");
    let stored = h.github_events();
    assert_eq!(stored[0].outcome, Outcome::Succeeded);
    // Retention runs, and a fresh answer comes: the old failure never comes back as news.
    h.store
        .prune(h.clock.now() - chrono::Duration::days(7))
        .await
        .expect("pruned");
    h.fake
        .add_run(REPO, h.fake.run(903, "CI", "main", "in_progress", None, 0));
    let again = h.ci.sync_now(&id).await.expect("read");
    assert_eq!((again.events, again.known), (1, 1), "{again:?}");

    // 903 ends while Gatehouse is off for 8 days: its end is older than the history keeps,
    // but its start is stored, so the end is kept (the row would show it running forever).
    h.fake.set_run(REPO, 903, "completed", Some("failure"));
    h.hand.advance(chrono::Duration::days(8));
    let back = h.ci.sync_now(&id).await.expect("read");
    assert_eq!(back.events, 1, "903's end: {back:?}");
    let streams = h.store.streams().expect("streams");
    let last = streams[0].last_event.as_ref().expect("latest");
    assert_eq!(last.outcome, Outcome::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_repository_is_read_past_its_first_page_and_a_run_pushed_off_is_read_to_its_end() {
    let h = start().await;
    h.fake.add_run(
        REPO,
        h.fake.run(1000, "Release", "main", "in_progress", None, 30),
    );
    let id = h.connect().await;
    assert_eq!(h.ci.sync_now(&id).await.expect("read").events, 1);

    // 100 runs made since the last read: more than a page.
    for run in 1001..=1100 {
        h.fake.add_run(
            REPO,
            h.fake
                .run(run, "CI", "main", "completed", Some("success"), 1),
        );
    }
    let err = h.ci.sync_now(&id).await.expect_err("more than three pages");
    assert!(
        err.to_string().starts_with("90 new events stored")
            && err
                .to_string()
                .contains("more than 90 runs were made in acme/app"),
        "three pages of new runs, and the rest said: {err}"
    );
    let asked = |path: &str| {
        h.fake
            .log
            .lock()
            .expect("lock")
            .iter()
            .filter(|p| p.as_str() == path)
            .count()
    };
    assert_eq!(asked("/repos/acme/app/actions/runs?per_page=30&page=3"), 1);
    assert_eq!(
        asked("/repos/acme/app/actions/runs?per_page=30&page=4"),
        0,
        "three at most"
    );
    // The release run is no longer listed but still runs: read on its own.
    assert_eq!(asked("/repos/acme/app/actions/runs/1000"), 1);

    h.fake.set_run(REPO, 1000, "completed", Some("failure"));
    let read = h.ci.sync_now(&id).await.expect("read");
    assert_eq!(read.events, 1, "the release run's failure");
    let failed: Vec<_> = h
        .store
        .events(&EventQuery {
            provider: Some(Provider::Github),
            outcome: Some(Outcome::Failed),
            ..EventQuery::default()
        })
        .expect("events")
        .into_iter()
        .map(|e| e.profile_name)
        .collect();
    assert_eq!(failed, vec![Some("acme/app · Release".to_owned())]);
    // Ended: not asked for again; the list is unchanged, so nothing is running.
    h.ci.sync_now(&id).await.expect("read");
    assert_eq!(asked("/repos/acme/app/actions/runs/1000"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_an_account_reads_it_and_leaves_the_others_at_their_pace() {
    let h = start().await;
    h.fake.add_run(
        REPO,
        h.fake
            .run(1201, "CI", "main", "completed", Some("success"), 30),
    );
    let mut reports = h.ci.reports();
    h.connect().await;
    tokio::spawn(h.ci.clone().run());
    let (first, _) = tokio::time::timeout(std::time::Duration::from_secs(10), reports.recv())
        .await
        .expect("the first read")
        .expect("report");
    assert_eq!(first, "GitHub account at 127.0.0.1");
    let asked = h.fake.requests();

    // A second account, on another host (GitHub Enterprise, say).
    let (other, other_addr) = fake_github::start(h.clock.clone()).await;
    other.add_run(
        "acme/ios",
        other.run(1301, "CI", "main", "completed", Some("failure"), 5),
    );
    h.ci.connect(CiConnection {
        provider: Provider::Github,
        api_host: Some(format!("http://{other_addr}")),
        repos: vec!["acme/ios".into()],
        token: TOKEN.into(),
    })
    .await
    .expect("connect");
    let (_, report) = tokio::time::timeout(std::time::Duration::from_secs(10), reports.recv())
        .await
        .expect("the new account's read")
        .expect("report");
    assert_eq!(report.events, 1, "the new account is read at once");
    assert_eq!(h.fake.requests(), asked, "the first account keeps its pace");
}

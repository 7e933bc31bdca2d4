//! Following GitLab CI with a token alone: the CI accounts' read of GitLab's REST API against
//! a fake GitLab (fake_gitlab, built strictly from docs/PROVIDER_APIS.md), into a real SQLite
//! file, beside a real listener on loopback for the Pipeline Hooks of the same pipelines.
//! A manual clock starts at the real now; the suite passes on any date.

mod fake_gitlab;

use std::sync::Arc;

use chrono::Utc;
use fake_gitlab::{PROJECT, PROJECT_ID, TOKEN};
use gatehouse_core::accounts::ci::{CiAccounts, CiConnection};
use gatehouse_core::clock::{Clock, ClockHand};
use gatehouse_core::model::{Outcome, Provider, Source};
use gatehouse_core::receive::listener::{ListenerConfig, RunningListener};
use gatehouse_core::rules::gate::{self, GateFilter, GateState};
use gatehouse_core::store::{EventQuery, Store, StoreOptions};
use serde_json::json;

const SECRET: &str = "gitlab-hook-token";

/// A real SQLite file in a temporary directory, on a manual clock that starts at the real
/// now.
fn manual_store() -> (Clock, ClockHand, Arc<Store>, tempfile::TempDir) {
    let (clock, hand) = Clock::manual(Utc::now());
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let store = Arc::new(Store::open_dir_with(dir.path(), options).expect("store"));
    (clock, hand, store, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_and_a_project_are_enough_to_see_its_pipelines_once_whichever_way_they_come() {
    let (clock, hand, store, _dir) = manual_store();
    store
        .add_endpoint_for(Provider::Gitlab, "gl", SECRET)
        .await
        .expect("endpoint");
    let listener = RunningListener::start(
        "127.0.0.1:0".parse().expect("addr"),
        store.clone(),
        ListenerConfig::default(),
    )
    .await
    .expect("listening");
    let (fake, addr) = fake_gitlab::start(clock.clone()).await;
    fake.add(301, "running", 3);
    let host = format!("http://{addr}");
    let ci = CiAccounts::new(store.clone());
    let connection = |token: &str, project: &str| CiConnection {
        provider: Provider::Gitlab,
        api_host: Some(host.clone()),
        repos: vec![project.into()],
        token: token.into(),
    };

    // A refused token, and a project the token cannot see: said, nothing kept.
    let err = ci
        .connect(connection("glpat-wrong", PROJECT))
        .await
        .expect_err("401");
    assert!(err.to_string().contains("refused the token"), "{err}");
    let err = ci
        .connect(connection(TOKEN, "acme/other"))
        .await
        .expect_err("404");
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert!(ci.list().expect("list").is_empty());

    // By path: the `/` is encoded into the URL.
    let id = ci
        .connect(connection(TOKEN, PROJECT))
        .await
        .expect("connect")
        .id;
    let first = ci.sync_now(&id).await.expect("read");
    assert_eq!(first.events, 1);
    let events = store
        .events(&EventQuery {
            provider: Some(Provider::Gitlab),
            ..EventQuery::default()
        })
        .expect("events");
    assert_eq!(events[0].outcome, Outcome::Started);
    assert_eq!(events[0].profile_name.as_deref(), Some(PROJECT));
    assert_eq!(events[0].source, Source::Synced);

    // It fails: the next read asks only for what changed, and reads it whole for its run time.
    hand.advance(chrono::Duration::seconds(30));
    fake.set(301, "failed", Some(140));
    let asked = fake.requests();
    let second = ci.sync_now(&id).await.expect("read");
    assert_eq!((second.events, second.requests), (1, 2));
    let log = fake.log.lock().expect("lock").clone();
    assert!(log[asked].contains("after Some("), "{log:?}");
    let failed = store
        .events(&EventQuery {
            provider: Some(Provider::Gitlab),
            outcome: Some(Outcome::Failed),
            ..EventQuery::default()
        })
        .expect("events");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].duration_ms,
        Some(140_000),
        "GitLab's own duration"
    );
    let g = gate::evaluate(store.streams().expect("streams"), &GateFilter::default());
    assert_eq!(g.state, GateState::Failing);

    // Its Pipeline Hook arrives after the read: a duplicate of the read's event.
    let hook = |id: u64, status: &str| {
        json!({
            "object_kind": "pipeline",
            "object_attributes": {"id": id, "ref": "main", "sha": "abc", "status": status,
                "created_at": "2026-01-01 10:00:00 UTC", "duration": 140},
            "project": {"id": PROJECT_ID, "path_with_namespace": PROJECT,
                "web_url": format!("https://gitlab.example.com/{PROJECT}")},
        })
        .to_string()
    };
    let post_from = |body: String, key: &str, host: &str| {
        let url = format!("http://{}/hooks/gl", listener.local_addr());
        let (key, host) = (key.to_owned(), host.to_owned());
        tokio::task::spawn_blocking(move || {
            let answer = ureq::post(&url)
                .set("X-Gitlab-Token", SECRET)
                .set("X-Gitlab-Event", "Pipeline Hook")
                .set("X-Gitlab-Instance", &host)
                .set("Idempotency-Key", &key)
                .send_string(&body);
            let answer = match answer {
                Ok(a) | Err(ureq::Error::Status(_, a)) => a,
                Err(e) => panic!("transport: {e}"),
            };
            let text = answer.into_string().unwrap_or_default();
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default()
        })
    };
    let post = |body: String, key: &str| post_from(body, key, &host);
    let answer = post(hook(301, "failed"), "k-301-failed")
        .await
        .expect("thread");
    assert_eq!(answer["status"], "duplicate", "{answer}");
    assert_eq!(answer["event_id"], second.event_ids[0]);

    // A hook first, then the read: the read finds it told.
    hand.advance(chrono::Duration::seconds(30));
    fake.add(302, "running", 0);
    let answer = post(hook(302, "running"), "k-302-running")
        .await
        .expect("thread");
    assert_eq!(answer["status"], "accepted", "{answer}");
    let hooked = answer["event_id"].as_i64().expect("event id");
    let third = ci.sync_now(&id).await.expect("read");
    // 302 was told by its hook; 301 comes again within the second of overlap, known too.
    assert_eq!((third.events, third.known), (0, 2), "{third:?}");

    // GitLab's 429: its Retry-After is waited for, with no request before.
    *fake.limited.lock().expect("lock") = Some(90);
    let err = ci.sync_now(&id).await.expect_err("429");
    assert!(err.to_string().contains("waiting 90 s"), "{err}");
    let asked = fake.requests();
    ci.sync_now(&id).await.expect_err("held");
    assert_eq!(fake.requests(), asked);
    hand.advance(chrono::Duration::seconds(91));
    ci.sync_now(&id).await.expect("after the wait");

    // A pipeline's jobs on demand, with the account's token, in the order they were made;
    // the read pipeline's, and the hooked one's (found by its project and instance).
    fake.add_job(301, 9002, "rspec", "test", "failed", 3, Some(61.5));
    fake.add_job(301, 9001, "compile", "build", "success", 4, Some(30.0));
    fake.add_job(302, 9003, "compile", "build", "running", 0, None);
    let jobs = ci.jobs(second.event_ids[0]).await.expect("jobs");
    assert!(
        jobs.account.starts_with("GitLab account"),
        "{}",
        jobs.account
    );
    let names: Vec<(&str, Option<&str>, Outcome, Option<i64>)> = jobs
        .jobs
        .iter()
        .map(|j| {
            (
                j.name.as_str(),
                j.stage.as_deref(),
                j.outcome,
                j.duration_ms,
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("compile", Some("build"), Outcome::Succeeded, Some(30_000)),
            ("rspec", Some("test"), Outcome::Failed, Some(61_500)),
        ]
    );
    assert!(
        jobs.jobs[1]
            .link
            .as_deref()
            .is_some_and(|l| l.ends_with("/-/jobs/9002"))
    );
    let running = ci.jobs(hooked).await.expect("the hooked pipeline's jobs");
    assert_eq!(running.jobs.len(), 1);
    assert_eq!(
        (running.jobs[0].outcome, running.jobs[0].status.as_str()),
        (Outcome::Started, "running")
    );
    assert!(
        fake.log
            .lock()
            .expect("lock")
            .iter()
            .any(|l| l == "jobs of 302"),
        "asked by id or path"
    );
    // The same project's path on another instance: not this account's run.
    let elsewhere = post_from(hook(303, "running"), "k-303", "https://gitlab.other.test")
        .await
        .expect("thread");
    let elsewhere = elsewhere["event_id"].as_i64().expect("event id");
    let err = ci.jobs(elsewhere).await.expect_err("another instance");
    assert!(
        err.to_string().contains("no GitLab account follows"),
        "{err}"
    );

    // Two ends that are no result, one after the other: both told.
    hand.advance(chrono::Duration::seconds(30));
    fake.add(310, "manual", 0);
    assert_eq!(ci.sync_now(&id).await.expect("read").events, 1, "manual");
    hand.advance(chrono::Duration::seconds(30));
    fake.set(310, "skipped", None);
    assert_eq!(
        ci.sync_now(&id).await.expect("read").events,
        1,
        "then skipped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_project_is_read_past_its_first_page() {
    let (clock, hand, store, _dir) = manual_store();
    let (fake, addr) = fake_gitlab::start(clock.clone()).await;
    for id in 401..=425 {
        fake.add(id, "running", 10);
    }
    let ci = CiAccounts::new(store.clone());
    let id = ci
        .connect(CiConnection {
            provider: Provider::Gitlab,
            api_host: Some(format!("http://{addr}")),
            repos: vec![PROJECT.into()],
            token: TOKEN.into(),
        })
        .await
        .expect("connect")
        .id;
    // The first read keeps to one page of history.
    assert_eq!(ci.sync_now(&id).await.expect("read").events, 20);
    // 45 updated since, and the 25 first ones within the second of overlap (all updated
    // in the same second): 70, four pages, of which 50 are news (the first read's page
    // missed 5 of the first 25).
    hand.advance(chrono::Duration::seconds(30));
    for id in 426..=470 {
        fake.add(id, "running", 0);
    }
    let read = ci.sync_now(&id).await.expect("read");
    assert_eq!((read.events, read.known), (50, 20), "{read:?}");
    let log = fake.log.lock().expect("lock").clone();
    assert!(log.iter().any(|l| l.ends_with("page 4")), "{log:?}");
    assert!(!log.iter().any(|l| l.ends_with("page 5")), "{log:?}");

    // 120 updated, a second apart: five pages at most in one read, oldest first (the 45
    // of the last read come again, within the second of overlap, and are known), and the
    // rest at the next read, none skipped.
    for id in 501..=620 {
        hand.advance(chrono::Duration::seconds(1));
        fake.add(id, "running", 0);
    }
    let capped = ci.sync_now(&id).await.expect("read");
    assert_eq!((capped.events, capped.known), (55, 45), "{capped:?}");
    let rest = ci.sync_now(&id).await.expect("read");
    assert_eq!(rest.events, 65, "{rest:?}");
    let stored = store
        .events(&EventQuery {
            provider: Some(Provider::Gitlab),
            limit: Some(1000),
            ..EventQuery::default()
        })
        .expect("events");
    assert_eq!(stored.len(), 20 + 50 + 120, "every pipeline once");
}

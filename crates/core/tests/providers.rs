//! GitHub and GitLab beside Appcircle, over real loopback HTTP into a real SQLite file:
//! each provider's proof, its delivery id as the dedupe key, what is stored for a later
//! check, and a mixed run of all three in one gate.

use std::net::SocketAddr;
use std::sync::Arc;

use gatehouse_core::model::{Outcome, Provider, Scope, Verdict};
use gatehouse_core::receive::listener::{ListenerConfig, RunningListener};
use gatehouse_core::rules::gate::{self, GateFilter, GateState};
use gatehouse_core::send;
use gatehouse_core::send::samples::{self, Outgoing, SampleOptions};
use gatehouse_core::store::{EventQuery, RequestQuery, Store};

const SECRET: &str = "providers-test-secret";
/// GitLab's endpoint has a secret of its own, so that the test can look for it.
const GL_TOKEN: &str = "gitlab-token-that-must-not-be-stored";

struct Harness {
    store: Arc<Store>,
    listener: RunningListener,
    _dir: tempfile::TempDir,
}

async fn start() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open_dir(dir.path()).expect("store"));
    for (provider, name, secret) in [
        (Provider::Appcircle, "ac", SECRET),
        (Provider::Github, "gh", SECRET),
        (Provider::Gitlab, "gl", GL_TOKEN),
    ] {
        store
            .add_endpoint_for(provider, name, secret)
            .await
            .expect("endpoint");
    }
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let listener = RunningListener::start(addr, store.clone(), ListenerConfig::default())
        .await
        .expect("listening");
    Harness {
        store,
        listener,
        _dir: dir,
    }
}

impl Harness {
    fn hook(&self, name: &str) -> String {
        format!("http://{}/hooks/{name}", self.listener.local_addr())
    }

    /// Sends `outgoing` to endpoint `name` as `provider` does, with `secret`.
    async fn send(
        &self,
        provider: Provider,
        name: &str,
        secret: &str,
        outgoing: Outgoing,
    ) -> (u16, serde_json::Value) {
        let (url, secret) = (self.hook(name), secret.to_owned());
        let sent = tokio::task::spawn_blocking(move || {
            send::deliver_as(provider, &url, &secret, &outgoing)
        })
        .await
        .expect("thread")
        .expect("sent");
        (sent.status_code, sent.response)
    }
}

fn sample(provider: Provider, name: &str, options: &SampleOptions) -> Outgoing {
    samples::outgoing(provider, name, options).expect("sample")
}

/// Posts raw headers and body; returns the status.
async fn post(url: String, headers: Vec<(&'static str, String)>, body: Vec<u8>) -> u16 {
    tokio::task::spawn_blocking(move || {
        let mut req = ureq::post(&url);
        for (k, v) in &headers {
            req = req.set(k, v);
        }
        match req.send_bytes(&body) {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("transport: {e}"),
        }
    })
    .await
    .expect("thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_deliveries_are_proven_by_their_signature_and_deduplicated_by_their_id() {
    let h = start().await;
    let options = SampleOptions {
        profile: Some("acme/app".into()),
        delivery_id: Some("gh-delivery-1".into()),
        task_id: Some("501".into()),
        ..Default::default()
    };
    let failed = sample(Provider::Github, "workflow-failed", &options);
    let (status, answer) = h.send(Provider::Github, "gh", SECRET, failed.clone()).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("accepted")));
    // The same delivery again (GitHub's redelivery keeps the id): a duplicate, stored once.
    let (status, answer) = h.send(Provider::Github, "gh", SECRET, failed.clone()).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    // Another secret, no signature, the wrong algorithm: refused and recorded.
    let (status, _) = h
        .send(Provider::Github, "gh", "wrong", failed.clone())
        .await;
    assert_eq!(status, 401);
    let headers = |sig: String| {
        vec![
            ("X-GitHub-Event", "workflow_run".to_owned()),
            ("X-GitHub-Delivery", "gh-delivery-2".to_owned()),
            ("X-Hub-Signature-256", sig),
        ]
    };
    let hex = gatehouse_core::receive::signature::sign(SECRET.as_bytes(), &failed.body);
    assert_eq!(
        post(h.hook("gh"), headers(hex.clone()), failed.body.clone()).await,
        401,
        "no sha256= prefix"
    );
    assert_eq!(
        post(
            h.hook("gh"),
            headers(format!("sha1={hex}")),
            failed.body.clone()
        )
        .await,
        401
    );
    // An Appcircle signature on a GitHub endpoint proves nothing (no X-Hub-Signature-256).
    let ac = vec![
        ("X-GitHub-Event", "workflow_run".to_owned()),
        ("X-GitHub-Delivery", "gh-delivery-3".to_owned()),
        ("ac_signature", hex),
    ];
    assert_eq!(post(h.hook("gh"), ac, failed.body.clone()).await, 401);

    let events = h
        .store
        .events(&EventQuery {
            provider: Some(Provider::Github),
            ..Default::default()
        })
        .expect("events");
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        e.delivery_id, "gh-delivery-1",
        "the X-GitHub-Delivery header"
    );
    assert_eq!((e.scope, e.outcome), (Scope::Build, Outcome::Failed));
    assert_eq!(e.profile_name.as_deref(), Some("acme/app · CI"));
    assert_eq!(
        e.duration_ms,
        Some(95_000),
        "from run_started_at to updated_at"
    );
    assert!(
        e.links
            .get("detail")
            .and_then(|l| l.as_str())
            .is_some_and(|l| l.ends_with("/actions/runs/501"))
    );
    let requests = h
        .store
        .requests(&RequestQuery {
            endpoint: Some("gh".into()),
            ..Default::default()
        })
        .expect("requests");
    let verdicts: Vec<Verdict> = requests.iter().map(|r| r.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::MissingSignature,
            Verdict::BadSignature,
            Verdict::BadSignature,
            Verdict::BadSignature,
            Verdict::Duplicate,
            Verdict::Accepted
        ],
        "every request is recorded with its verdict"
    );
    let reasons: Vec<String> = requests.iter().filter_map(|r| r.error.clone()).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("must start with sha256=")),
        "{reasons:?}"
    );

    // A job of that run: shown under it (its run's key), not a stream of its own.
    let job = br#"{"action":"completed","workflow_job":{"id":9001,"run_id":501,"run_attempt":1,"name":"unit tests","status":"completed","conclusion":"failure","workflow_name":"CI","head_branch":"main","html_url":"https://github.com/acme/app/actions/runs/501/job/9001"},"repository":{"id":1296269,"full_name":"acme/app"}}"#.to_vec();
    let signed = format!(
        "sha256={}",
        gatehouse_core::receive::signature::sign(SECRET.as_bytes(), &job)
    );
    let job_headers = vec![
        ("X-GitHub-Event", "workflow_job".to_owned()),
        ("X-GitHub-Delivery", "gh-job-1".to_owned()),
        ("X-Hub-Signature-256", signed),
    ];
    assert_eq!(post(h.hook("gh"), job_headers, job).await, 200);
    let jobs = h
        .store
        .events(&EventQuery {
            task: e.task_id.clone(),
            scope: Some(Scope::Other),
            ..Default::default()
        })
        .expect("jobs");
    assert_eq!(jobs.len(), 1, "the run's job, found by the run's key");
    assert_eq!(jobs[0].title.as_deref(), Some("Job unit tests failed"));
    let streams = h.store.streams().expect("streams");
    assert_eq!(
        streams
            .iter()
            .filter(|s| s.provider == Provider::Github)
            .count(),
        1,
        "a job is no stream"
    );

    // A stored GitHub request replays through GitHub's pipeline (a duplicate now).
    let accepted = requests.last().expect("accepted").id;
    let replayed = h.store.replay(accepted).await.expect("replayed");
    assert_eq!(replayed.verdict, Verdict::Duplicate);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_tokens_are_compared_never_kept_and_deliveries_deduplicated_by_their_key() {
    let h = start().await;
    let options = SampleOptions {
        profile: Some("acme/backend".into()),
        delivery_id: Some("idem-1".into()),
        task_id: Some("77".into()),
        // One pipeline: its deliveries share its creation time.
        timestamp: Some(chrono::Utc::now()),
        ..Default::default()
    };
    let running = sample(Provider::Gitlab, "pipeline-running", &options);
    let (status, answer) = h
        .send(Provider::Gitlab, "gl", GL_TOKEN, running.clone())
        .await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("accepted")));
    let (_, answer) = h
        .send(Provider::Gitlab, "gl", GL_TOKEN, running.clone())
        .await;
    assert_eq!(
        answer["status"].as_str(),
        Some("duplicate"),
        "same Idempotency-Key"
    );
    let (status, _) = h
        .send(Provider::Gitlab, "gl", "wrong-token", running.clone())
        .await;
    assert_eq!(status, 401);
    let failed = sample(
        Provider::Gitlab,
        "pipeline-failed",
        &SampleOptions {
            delivery_id: Some("idem-2".into()),
            ..options.clone()
        },
    );
    let (status, _) = h.send(Provider::Gitlab, "gl", GL_TOKEN, failed).await;
    assert_eq!(status, 200);

    let g = gate::evaluate(
        h.store.streams().expect("streams"),
        &GateFilter {
            provider: Some(Provider::Gitlab),
            ..Default::default()
        },
    );
    assert_eq!(g.state, GateState::Failing);
    assert_eq!(g.streams.len(), 1, "one pipeline stream: project x ref");
    assert_eq!(g.streams[0].profile_name.as_deref(), Some("acme/backend"));
    assert_eq!(g.streams[0].duration_ms, Some(130_000));

    // No request keeps the token: its header is redacted, its proof is a digest.
    let requests = h
        .store
        .requests(&RequestQuery {
            endpoint: Some("gl".into()),
            ..Default::default()
        })
        .expect("requests");
    assert_eq!(requests.len(), 4);
    for r in &requests {
        let full = h.store.request(r.id).expect("request");
        let text = serde_json::to_string(&full).expect("json");
        assert!(!text.contains(GL_TOKEN), "{text}");
        assert!(
            full.headers
                .iter()
                .any(|(n, v)| n == "x-gitlab-token" && v == "[redacted]")
        );
    }
    // The kept proofs, read from the file: a digest for the requests that passed, nothing
    // for the wrong token.
    let db = rusqlite::Connection::open(h.store.path()).expect("open");
    let mut proofs: Vec<(String, Option<String>)> = db
        .prepare("SELECT verdict, signature FROM requests WHERE endpoint_name = 'gl' ORDER BY id")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("read");
    let digest = gatehouse_core::receive::providers::gitlab::token_proof(GL_TOKEN);
    assert_eq!(
        proofs.remove(2),
        ("bad_signature".to_owned(), None),
        "a wrong token's digest is not kept"
    );
    for (verdict, proof) in proofs {
        assert_eq!(proof.as_deref(), Some(digest.as_str()), "{verdict}");
        assert!(!digest.contains(GL_TOKEN));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_run_gives_one_gate_over_every_provider() {
    let h = start().await;
    // Appcircle: a build failed. GitHub: a workflow succeeded. GitLab: a pipeline runs.
    let ac = sample(
        Provider::Appcircle,
        "build-failed",
        &SampleOptions::default(),
    );
    assert_eq!(h.send(Provider::Appcircle, "ac", SECRET, ac).await.0, 200);
    let gh = sample(
        Provider::Github,
        "workflow-succeeded",
        &SampleOptions::default(),
    );
    assert_eq!(h.send(Provider::Github, "gh", SECRET, gh).await.0, 200);
    let gl = sample(
        Provider::Gitlab,
        "pipeline-running",
        &SampleOptions::default(),
    );
    assert_eq!(h.send(Provider::Gitlab, "gl", GL_TOKEN, gl).await.0, 200);
    let ping = sample(Provider::Github, "ping", &SampleOptions::default());
    assert_eq!(h.send(Provider::Github, "gh", SECRET, ping).await.0, 200);

    let all = gate::evaluate(h.store.streams().expect("streams"), &GateFilter::default());
    assert_eq!(
        all.state,
        GateState::Failing,
        "Appcircle's failure fails the gate"
    );
    assert!(all.running, "GitLab's pipeline runs");
    let by = |p: Provider| {
        gate::evaluate(
            h.store.streams().expect("streams"),
            &GateFilter {
                provider: Some(p),
                ..Default::default()
            },
        )
    };
    assert_eq!(by(Provider::Appcircle).state, GateState::Failing);
    let repository = gate::evaluate(
        h.store.streams().expect("streams"),
        &GateFilter {
            profile: Some("ACME/app".into()),
            ..Default::default()
        },
    );
    assert_eq!(
        repository.streams.len(),
        1,
        "a repository's name stands for its workflows"
    );
    assert_eq!(repository.state, GateState::Passing);
    assert_eq!(by(Provider::Github).state, GateState::Passing);
    let gitlab = by(Provider::Gitlab);
    assert_eq!((gitlab.state, gitlab.running), (GateState::Unknown, true));
    let mut kinds: Vec<(Provider, Scope)> =
        all.streams.iter().map(|s| (s.provider, s.scope)).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            (Provider::Appcircle, Scope::Build),
            (Provider::Github, Scope::Build),
            (Provider::Gitlab, Scope::Build)
        ],
        "one build stream each; the ping is no stream"
    );
    // The ping is shown as the webhook connected, not gated.
    let pings = h
        .store
        .events(&EventQuery {
            provider: Some(Provider::Github),
            scope: Some(Scope::Other),
            ..Default::default()
        })
        .expect("events");
    assert_eq!(pings[0].title.as_deref(), Some("Webhook connected"));
}

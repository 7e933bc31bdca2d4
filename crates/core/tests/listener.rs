//! The listener over real loopback HTTP, with a real SQLite file behind it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use gatehouse_core::clock::Clock;
use gatehouse_core::receive::listener::{ListenerConfig, RunningListener};
use gatehouse_core::receive::signature::sign;
use gatehouse_core::send::samples::{self, Sample, SampleOptions};
use gatehouse_core::store::{EventQuery, Notice, RequestQuery, Store, StoreOptions};
use serde_json::Value;

const SECRET: &str = "listener-test-secret";

struct Harness {
    store: Arc<Store>,
    listener: RunningListener,
    _dir: tempfile::TempDir,
}

async fn start(options: StoreOptions, config: ListenerConfig) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open_with(&dir.path().join("t.db"), options).expect("store"));
    store.add_endpoint("ci", SECRET).await.expect("endpoint");
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let listener = RunningListener::start(addr, store.clone(), config)
        .await
        .expect("listening");
    Harness {
        store,
        listener,
        _dir: dir,
    }
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listener.local_addr())
    }
}

/// POSTs on a blocking thread; returns the status, the Retry-After header and the JSON body.
async fn post(
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> (u16, Option<String>, Value) {
    call(move || {
        let mut req = ureq::post(&url);
        for (k, v) in &headers {
            req = req.set(k, v);
        }
        req.send_bytes(&body).map_err(Box::new)
    })
    .await
}

/// GETs on a blocking thread; returns the status, the Retry-After header and the JSON body.
async fn get(url: String) -> (u16, Option<String>, Value) {
    call(move || ureq::get(&url).call().map_err(Box::new)).await
}

/// Runs one blocking HTTP call and reads what the tests look at.
async fn call(
    send: impl FnOnce() -> Result<ureq::Response, Box<ureq::Error>> + Send + 'static,
) -> (u16, Option<String>, Value) {
    tokio::task::spawn_blocking(move || {
        let resp = match send().map_err(|e| *e) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("transport error: {e}"),
        };
        let status = resp.status();
        let retry = resp.header("retry-after").map(str::to_owned);
        let json =
            serde_json::from_str(&resp.into_string().unwrap_or_default()).unwrap_or(Value::Null);
        (status, retry, json)
    })
    .await
    .expect("client thread")
}

fn signed(body: &[u8], secret: &str) -> Vec<(String, String)> {
    vec![("ac_signature".into(), sign(secret.as_bytes(), body))]
}

fn fresh(sample: Sample) -> Vec<u8> {
    samples::build(sample, &SampleOptions::default()).expect("sample")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_commit_answers_503_and_never_acknowledges_a_loss() {
    let h = start(
        StoreOptions {
            max_batch: 8,
            max_pages: Some(48),
            ..StoreOptions::default()
        },
        ListenerConfig::default(),
    )
    .await;
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for _ in 0..1000 {
        let body = fresh(Sample::BuildFailed);
        let (status, retry, json) = post(h.url("/hooks/ci"), signed(&body, SECRET), body).await;
        match status {
            200 => acknowledged.push(json["delivery_id"].as_str().expect("id").to_owned()),
            503 => {
                refused = Some((retry, json));
                break;
            }
            other => panic!("unexpected {other}: {json}"),
        }
    }
    let (retry, json) = refused.expect("the capped database fills up");
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(json["status"], "unavailable");

    // A monitor sees it: health is degraded, with the reason, until space is back.
    let (status, retry, health) = get(h.url("/healthz")).await;
    assert_eq!((status, health["status"].as_str()), (503, Some("degraded")));
    assert_eq!(retry.as_deref(), Some("5"));
    assert!(
        health["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{health}"
    );
    let stored: Vec<String> = h
        .store
        .events(&EventQuery {
            limit: Some(5000),
            ..Default::default()
        })
        .expect("events")
        .into_iter()
        .map(|e| e.delivery_id)
        .collect();
    assert_eq!(stored.len(), acknowledged.len());
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged {id} is stored");
    }

    // Space comes back (history pruned frees pages): healthy again without a restart, and
    // deliveries are acknowledged again.
    h.store
        .prune(chrono::Utc::now() + chrono::Duration::days(1))
        .await
        .expect("pruning frees pages");
    let (status, _, health) = get(h.url("/healthz")).await;
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("ok")),
        "{health}"
    );
    let body = fresh(Sample::BuildSucceeded);
    let (status, _, _) = post(h.url("/hooks/ci"), signed(&body, SECRET), body).await;
    assert_eq!(status, 200);
}

/// The replay window is measured from the store's clock: a delivery dated at the clock's now
/// is accepted; the same kind of delivery dated then, arriving after the clock moved on past
/// the window, is refused as stale (and kept, to be accepted by hand).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_window_is_measured_from_the_stores_clock() {
    let (clock, hand) = Clock::manual(chrono::Utc::now() - chrono::Duration::days(400));
    let h = start(
        StoreOptions {
            clock: clock.clone(),
            ..StoreOptions::default()
        },
        ListenerConfig::default(),
    )
    .await;
    let dated = |delivery: &str| {
        samples::build(
            Sample::BuildFailed,
            &SampleOptions {
                timestamp: Some(clock.now()),
                delivery_id: Some(delivery.into()),
                ..Default::default()
            },
        )
        .expect("sample")
    };
    let on_time = dated("on-time");
    let (status, _, json) = post(h.url("/hooks/ci"), signed(&on_time, SECRET), on_time).await;
    assert_eq!(
        (status, json["status"].as_str()),
        (200, Some("accepted")),
        "{json}"
    );

    let late = dated("late");
    hand.advance(chrono::Duration::minutes(11));
    let (status, _, json) = post(h.url("/hooks/ci"), signed(&late, SECRET), late).await;
    assert_eq!(
        (status, json["status"].as_str()),
        (400, Some("stale")),
        "{json}"
    );
    let requests = h
        .store
        .requests(&RequestQuery::default())
        .expect("requests");
    assert_eq!(
        requests[0].received_at,
        gatehouse_core::time::to_text(clock.now()),
        "received at the clock's time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_fails_verification_is_kept_only_in_part() {
    let h = start(StoreOptions::default(), ListenerConfig::default()).await;
    let big = vec![b'x'; 200 * 1024];
    let (status, _, json) = post(h.url("/hooks/ci"), vec![], big).await;
    assert_eq!(
        (status, json["status"].as_str()),
        (401, Some("missing_signature"))
    );
    let id = json["request_id"].as_i64().expect("recorded");
    let request = h.store.request(id).expect("stored");
    assert_eq!(request.body_size, 200 * 1024, "the size says what arrived");
    assert!(request.body_truncated);
    assert_eq!(
        request.body.map(|b| b.len()),
        Some(gatehouse_core::store::REJECTED_BODY_KEPT)
    );

    // A verified delivery keeps all of its body.
    let body = fresh(Sample::BuildFailed);
    let (_, _, json) = post(h.url("/hooks/ci"), signed(&body, SECRET), body.clone()).await;
    let request = h
        .store
        .request(json["request_id"].as_i64().expect("id"))
        .expect("stored");
    assert!(!request.body_truncated);
    assert_eq!(request.body.map(String::into_bytes), Some(body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_applies_with_and_without_content_length() {
    let config = ListenerConfig {
        body_limit: 2048,
        ..Default::default()
    };
    let h = start(StoreOptions::default(), config).await;
    let big = vec![b' '; 4096];
    let (status, _, json) = post(h.url("/hooks/ci"), signed(&big, SECRET), big.clone()).await;
    assert_eq!((status, json["status"].as_str()), (413, Some("too_large")));

    // Chunked: no Content-Length, so the limit is found while reading.
    let addr = h.listener.local_addr();
    let raw = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        let chunk = "x".repeat(1000);
        let mut req = String::from(
            "POST /hooks/ci HTTP/1.1\r\nHost: t\r\nac_signature: 00\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        );
        for _ in 0..4 {
            req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
        }
        req.push_str("0\r\n\r\n");
        s.write_all(req.as_bytes()).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
    .await
    .expect("raw client");
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");

    let too_large = h
        .store
        .requests(&RequestQuery {
            verdict: Some("too_large".parse().expect("verdict")),
            ..Default::default()
        })
        .expect("requests");
    assert_eq!(too_large.len(), 2, "both are recorded");
    assert!(
        h.store
            .request(too_large[0].id)
            .expect("one")
            .body
            .is_none(),
        "oversized bodies are not kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_case_rotation_routes_and_broadcast() {
    let h = start(StoreOptions::default(), ListenerConfig::default()).await;
    let mut notices = h.store.subscribe();

    let body = fresh(Sample::BuildStarted);
    let upper = vec![(
        "AC_SIGNATURE".to_owned(),
        sign(SECRET.as_bytes(), &body).to_uppercase(),
    )];
    let (status, _, json) = post(h.url("/hooks/ci/"), upper, body).await;
    assert_eq!(
        (status, json["status"].as_str()),
        (200, Some("accepted")),
        "{json}"
    );
    let mut kinds = Vec::new();
    while let Ok(n) = notices.try_recv() {
        kinds.push(match n {
            Notice::Event { .. } => "event",
            Notice::Request { .. } => "request",
            Notice::Endpoints { .. } => "endpoints",
            Notice::Settings { .. } => "settings",
        });
    }
    assert_eq!(
        kinds,
        ["event", "request"],
        "what the UI and notifier hear, before the 200"
    );

    h.store
        .add_secret("ci", "second-secret")
        .await
        .expect("rotate");
    for secret in [SECRET, "second-secret"] {
        let body = fresh(Sample::BuildSucceeded);
        let (status, _, _) = post(h.url("/hooks/ci"), signed(&body, secret), body).await;
        assert_eq!(status, 200, "both secrets verify during a rotation");
    }

    let body = fresh(Sample::BuildSucceeded);
    let (status, _, json) = post(h.url("/hooks/unknown"), signed(&body, SECRET), body).await;
    assert_eq!((status, json["status"].as_str()), (404, Some("not_found")));
    let (status, _, _) = post(h.url("/elsewhere"), vec![], b"{}".to_vec()).await;
    assert_eq!(status, 404);
    let unmatched = h.store.unmatched().expect("unmatched");
    assert_eq!(
        (unmatched[0].name.as_str(), unmatched[0].hits),
        ("unknown", 1)
    );
    assert_eq!(
        h.store
            .requests(&RequestQuery::default())
            .expect("requests")
            .len(),
        3,
        "requests to unknown endpoints are counted, not recorded"
    );

    let health: Value = tokio::task::spawn_blocking({
        let url = h.url("/healthz");
        move || {
            serde_json::from_str::<Value>(
                &ureq::get(&url)
                    .call()
                    .expect("healthz")
                    .into_string()
                    .expect("body"),
            )
            .expect("json")
        }
    })
    .await
    .expect("client");
    assert_eq!(health["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_lets_a_request_in_flight_finish_and_be_stored() {
    let h = start(StoreOptions::default(), ListenerConfig::default()).await;
    let addr = h.listener.local_addr();
    let body = fresh(Sample::BuildFailed);
    let signature = sign(SECRET.as_bytes(), &body);
    // Headers and half the body now; the rest after the stop has begun.
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "POST /hooks/ci HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nac_signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("headers");
    let half = body.len() / 2;
    stream.write_all(&body[..half]).expect("first half");
    stream.flush().expect("flush");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let stopping = tokio::spawn(h.listener.stop());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !stopping.is_finished(),
        "the stop waits for the request in flight"
    );
    assert!(
        TcpStream::connect(addr).is_err(),
        "no new connections once stopping"
    );

    let rest = body[half..].to_vec();
    let answer = tokio::task::spawn_blocking(move || {
        stream.write_all(&rest).expect("second half");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        answer
    })
    .await
    .expect("client");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stopping.await.expect("joined").expect("stops cleanly");
    assert_eq!(
        h.store
            .events(&EventQuery::default())
            .expect("events")
            .len(),
        1,
        "the request that was in flight is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_changes_from_another_process_apply_to_the_next_request() {
    let h = start(StoreOptions::default(), ListenerConfig::default()).await;
    let body = fresh(Sample::BuildSucceeded);
    let (status, _, _) = post(h.url("/hooks/ci"), signed(&body, SECRET), body).await;
    assert_eq!(status, 200, "cached from the first request");

    // The CLI opens the same file from another process: its own connections and writer.
    let cli = Store::open_with(h.store.path(), StoreOptions::default()).expect("second store");
    cli.add_secret("ci", "rotated-secret")
        .await
        .expect("rotate");
    cli.retire_secret("ci").await.expect("retire the old one");
    let body = fresh(Sample::BuildSucceeded);
    let (status, _, json) = post(h.url("/hooks/ci"), signed(&body, SECRET), body).await;
    assert_eq!(
        (status, json["status"].as_str()),
        (401, Some("bad_signature"))
    );
    let body = fresh(Sample::BuildSucceeded);
    let (status, _, _) = post(h.url("/hooks/ci"), signed(&body, "rotated-secret"), body).await;
    assert_eq!(status, 200, "the new secret verifies at once");

    cli.add_endpoint("new", "a-new-endpoint-secret")
        .await
        .expect("add");
    let body = fresh(Sample::BuildFailed);
    let (status, _, _) = post(
        h.url("/hooks/new"),
        signed(&body, "a-new-endpoint-secret"),
        body,
    )
    .await;
    assert_eq!(status, 200, "a new endpoint answers at once");
    cli.remove_endpoint("ci").await.expect("remove");
    let body = fresh(Sample::BuildSucceeded);
    let (status, _, _) = post(h.url("/hooks/ci"), signed(&body, "rotated-secret"), body).await;
    assert_eq!(status, 404, "a removed endpoint is gone at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_keeps_the_connection_usable() {
    let h = start(StoreOptions::default(), ListenerConfig::default()).await;
    let addr = h.listener.local_addr();
    let answers = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        let mut answers = Vec::new();
        for i in 0..2 {
            // Headers first, the body a moment later, as clients that write them apart do:
            // the 404 must not leave the body unread and close the connection.
            let body = format!("{{\"probe\":{i}}}");
            write!(
                stream,
                "POST /hooks/nobody-{i} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .expect("headers");
            stream.flush().expect("flush");
            std::thread::sleep(std::time::Duration::from_millis(50));
            stream.write_all(body.as_bytes()).expect("body");
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).expect("answer");
            answers.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        answers
    })
    .await
    .expect("client");
    for answer in &answers {
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    }
}

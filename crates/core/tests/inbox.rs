//! The inbox's API over real loopback HTTP, with a real SQLite file behind it: tokens and
//! roles on `/api/v1/rpc`, and the change stream on `/api/v1/stream` (resume, gap, live,
//! revocation, a subscriber that stops reading).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_core::api::{Api, Host};
use gatehouse_core::clock::Clock;
use gatehouse_core::receive::listener::{ListenerConfig, ListenerStatus, RunningListener};
use gatehouse_core::receive::signature::sign;
use gatehouse_core::send::samples::{self, Sample, SampleOptions};
use gatehouse_core::serve;
use gatehouse_core::serve::token::Role;
use gatehouse_core::settings::Settings;
use gatehouse_core::store::{Store, StoreOptions};
use serde_json::{Value, json};

const SECRET: &str = "inbox-test-secret";

#[derive(Clone)]
struct TestHost(SocketAddr);

impl Host for TestHost {
    fn listener(&self) -> ListenerStatus {
        ListenerStatus::listening(self.0)
    }
    async fn apply_settings(&self, _settings: Settings) -> gatehouse_core::Result<()> {
        Ok(())
    }
}

struct Inbox {
    store: Arc<Store>,
    /// The database file, for a second writer in the tests that need one.
    path: std::path::PathBuf,
    listener: RunningListener,
    _close: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn start() -> Inbox {
    start_with(ListenerConfig::default()).await
}

async fn start_with(config: ListenerConfig) -> Inbox {
    start_serving(config, serve::Options::default()).await
}

async fn start_serving(config: ListenerConfig, options: serve::Options) -> Inbox {
    start_on(Clock::system(), config, options).await
}

/// An inbox whose store (and so its sessions, tokens and listener) reads `clock`.
async fn start_on(clock: Clock, config: ListenerConfig, options: serve::Options) -> Inbox {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("inbox.db");
    let store_options = StoreOptions {
        clock,
        ..StoreOptions::default()
    };
    let store = Arc::new(Store::open_with(&path, store_options).expect("store"));
    store.add_endpoint("ci", SECRET).await.expect("endpoint");
    let (close, closing) = tokio::sync::watch::channel(false);
    // The host's address is only shown in overviews; the listener's own is what tests use.
    let host = TestHost("127.0.0.1:9".parse().expect("addr"));
    let api = Arc::new(Api::new(store.clone(), host));
    let listener = RunningListener::start_with(
        "127.0.0.1:0".parse().expect("addr"),
        store.clone(),
        config,
        serve::router_with(api, closing, options),
    )
    .await
    .expect("listening");
    Inbox {
        store,
        path,
        listener,
        _close: close,
        _dir: dir,
    }
}

impl Inbox {
    /// A new token NAME of `role`, in the clear.
    async fn token(&self, name: &str, role: Role) -> String {
        self.store.add_token(name, role).await.expect("token").1
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listener.local_addr())
    }

    /// Sends one signed delivery to the `ci` endpoint; returns its delivery id.
    async fn deliver(&self, sample: Sample) -> String {
        self.deliver_with(sample, SampleOptions::default()).await
    }

    async fn deliver_with(&self, sample: Sample, options: SampleOptions) -> String {
        let body = samples::build(sample, &options).expect("sample");
        let id = serde_json::from_slice::<Value>(&body).expect("json")["deliveryId"]
            .as_str()
            .expect("id")
            .to_owned();
        let url = self.url("/hooks/ci");
        let status = tokio::task::spawn_blocking(move || {
            ureq::post(&url)
                .set("ac_signature", &sign(SECRET.as_bytes(), &body))
                .send_bytes(&body)
                .map(|r| r.status())
                .unwrap_or_else(|e| match e {
                    ureq::Error::Status(s, _) => s,
                    other => panic!("transport: {other}"),
                })
        })
        .await
        .expect("client");
        assert_eq!(status, 200, "delivery accepted");
        id
    }

    async fn rpc(&self, token: Option<&str>, request: Value) -> (u16, Option<String>, Value) {
        let url = self.url("/api/v1/rpc");
        let token = token.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let mut req = ureq::post(&url);
            if let Some(t) = &token {
                req = req.set("Authorization", &format!("Bearer {t}"));
            }
            let resp = match req.send_string(&request.to_string()) {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(e) => panic!("transport: {e}"),
            };
            let status = resp.status();
            let challenge = resp.header("www-authenticate").map(str::to_owned);
            let body = serde_json::from_str(&resp.into_string().unwrap_or_default())
                .unwrap_or(Value::Null);
            (status, challenge, body)
        })
        .await
        .expect("client")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_off_until_a_token_exists_then_wants_one() {
    let inbox = start().await;
    let (status, _, body) = inbox.rpc(None, json!({"method": "overview"})).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("token add")),
        "{body}"
    );

    let read = inbox.token("wall", Role::Read).await;
    let (status, challenge, body) = inbox.rpc(None, json!({"method": "overview"})).await;
    assert_eq!(
        (status, challenge.as_deref()),
        (401, Some("Bearer")),
        "{body}"
    );
    assert_eq!(body["kind"], "unauthorized");
    let wrong = format!("{read}x");
    let (status, _, _) = inbox.rpc(Some(&wrong), json!({"method": "overview"})).await;
    assert_eq!(status, 401, "a token that differs by one character");

    let (status, _, body) = inbox.rpc(Some(&read), json!({"method": "overview"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["method"], "overview");
    assert!(body["result"]["gate"].is_object(), "{body}");

    // Another token keeps the API on: revoking one refuses it, not everyone.
    inbox.token("ops", Role::Admin).await;
    inbox.store.revoke_token("wall").await.expect("revoked");
    let (status, _, _) = inbox.rpc(Some(&read), json!({"method": "overview"})).await;
    assert_eq!(status, 401, "a revoked token is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_token_reads_and_is_refused_what_changes_or_reveals() {
    let inbox = start().await;
    let read = inbox.token("tester", Role::Read).await;
    let admin = inbox.token("ops", Role::Admin).await;
    let create = json!({"method": "create_endpoint", "params": {"name": "web", "secret": null}});
    let (status, _, body) = inbox.rpc(Some(&read), create.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["kind"], "forbidden");
    for method in [
        json!({"method": "secrets", "params": {"name": "ci"}}),
        json!({"method": "settings"}),
        json!({"method": "replay_request", "params": {"id": 1}}),
    ] {
        let (status, _, body) = inbox.rpc(Some(&read), method.clone()).await;
        assert_eq!(status, 403, "{method}: {body}");
    }
    assert!(
        inbox.store.endpoint_secrets("web").expect("read").is_none(),
        "nothing was created by the refused call"
    );
    let (status, _, body) = inbox.rpc(Some(&admin), create).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["endpoint"]["name"], "web");

    // An unsigned request: anyone's bytes. A read token sees that it came, not what it said.
    let url = inbox.url("/hooks/ci");
    tokio::task::spawn_blocking(move || {
        let _ = ureq::post(&url).send_string("{\"hostile\": \"<script>\"}");
    })
    .await
    .expect("client");
    let (_, _, list) = inbox
        .rpc(
            Some(&read),
            json!({"method": "requests", "params": {"query": {}}}),
        )
        .await;
    let id = list["result"][0]["id"].as_i64().expect("a request");
    let ask = json!({"method": "request", "params": {"id": id}});
    let (status, _, seen) = inbox.rpc(Some(&read), ask.clone()).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["result"]["verdict"], "missing_signature");
    assert!(seen["result"]["body"].is_null(), "{seen}");
    let (_, _, seen) = inbox.rpc(Some(&admin), ask).await;
    assert!(
        seen["result"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("hostile"))
    );

    let (status, _, body) = inbox.rpc(Some(&admin), json!({"method": "no_such"})).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (400, Some("invalid")),
        "{body}"
    );
}

/// A raw connection asking for the stream (`query` after the path), with a small receive
/// buffer so that the server's side fills quickly when it is read slowly or not at all.
/// Reads what a stuck subscriber's connection still holds until the server's close (or
/// reset) ends it, within `limit`; fails if the server never closed it. `took`: how long the
/// deliveries took, for the message.
fn drained_until_closed(
    stuck: &mut std::net::TcpStream,
    limit: Duration,
    took: Duration,
) -> String {
    stuck.set_read_timeout(Some(limit)).expect("timeout");
    let mut sink = Vec::new();
    let read = std::io::Read::read_to_end(stuck, &mut sink);
    assert!(
        match &read {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        },
        "the server closed the connection: {read:?} (deliveries took {took:?})"
    );
    String::from_utf8_lossy(&sink).into_owned()
}

fn small_buffered_stream(addr: SocketAddr, token: &str, query: &str) -> std::net::TcpStream {
    use std::io::Write;
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("small buffer");
    socket.connect(&addr.into()).expect("connect");
    let mut stream: std::net::TcpStream = socket.into();
    write!(
        stream,
        "GET /api/v1/stream{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .expect("request");
    stream
}

/// One SSE message as the tests look at it.
#[derive(Debug, Clone)]
struct Message {
    id: Option<i64>,
    kind: String,
    data: Value,
}

/// Opens the stream on a thread; messages arrive on the returned channel until it ends.
fn subscribe(
    inbox: &Inbox,
    token: &str,
    query: &str,
    last_event_id: Option<i64>,
) -> std::sync::mpsc::Receiver<Message> {
    let url = inbox.url(&format!("/api/v1/stream{query}"));
    let token = token.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut req = ureq::get(&url).set("Authorization", &format!("Bearer {token}"));
        if let Some(id) = last_event_id {
            req = req.set("Last-Event-ID", &id.to_string());
        }
        let Ok(resp) = req.call() else { return };
        let mut reader = BufReader::new(resp.into_reader());
        let (mut id, mut kind, mut data) = (None, String::new(), String::new());
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !kind.is_empty() || !data.is_empty() {
                    let message = Message {
                        id: id.take(),
                        kind: std::mem::take(&mut kind),
                        data: serde_json::from_str(&std::mem::take(&mut data))
                            .unwrap_or(Value::Null),
                    };
                    if tx.send(message).is_err() {
                        return;
                    }
                }
            } else if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
    });
    rx
}

/// Collects messages until `done` says so or `within` passes.
fn collect(
    rx: &std::sync::mpsc::Receiver<Message>,
    within: Duration,
    mut done: impl FnMut(&[Message]) -> bool,
) -> Vec<Message> {
    let until = Instant::now() + within;
    let mut seen = Vec::new();
    while !done(&seen) {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(m) => seen.push(m),
            Err(_) => break,
        }
    }
    seen
}

fn delivery_ids(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.kind == "event")
        .filter_map(|m| m.data["delivery_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_replays_then_goes_live_with_no_gap_and_no_duplicate() {
    let inbox = start().await;
    let token = inbox.token("desk", Role::Read).await;
    let mut sent = Vec::new();
    for _ in 0..20 {
        sent.push(inbox.deliver(Sample::BuildFailed).await);
    }
    // Subscribes from the start while deliveries keep arriving: the switch from stored to
    // live happens somewhere among them.
    let rx = subscribe(&inbox, &token, "?after=0", None);
    for _ in 0..40 {
        sent.push(inbox.deliver(Sample::BuildSucceeded).await);
    }
    let want = sent.len();
    let messages = tokio::task::spawn_blocking(move || {
        collect(&rx, Duration::from_secs(10), |seen| {
            seen.iter().filter(|m| m.kind == "request").count() >= want
        })
    })
    .await
    .expect("collect");
    let ids: Vec<i64> = messages.iter().filter_map(|m| m.id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "seq strictly increases, so nothing repeats: {ids:?}"
    );
    assert_eq!(
        delivery_ids(&messages),
        sent,
        "every delivery once, in order"
    );
    let requests = messages.iter().filter(|m| m.kind == "request").count();
    assert_eq!(requests, want, "and each delivery's request");
    assert!(
        messages.iter().any(|m| m.kind == "endpoints"),
        "the endpoint's creation is in the log too"
    );

    // Resuming after the last id seen gives only what came since.
    let last = *ids.last().expect("ids");
    let later = inbox.deliver(Sample::BuildStarted).await;
    let rx = subscribe(&inbox, &token, "", Some(last));
    let resumed = tokio::task::spawn_blocking(move || {
        collect(&rx, Duration::from_secs(10), |seen| {
            !delivery_ids(seen).is_empty()
        })
    })
    .await
    .expect("collect");
    assert_eq!(
        delivery_ids(&resumed),
        vec![later],
        "Last-Event-ID resumes after it"
    );
    assert_eq!(resumed[0].kind, "hello");
    assert!(resumed[0].data["newest"].as_i64().is_some_and(|n| n > last));
    assert!(
        resumed[1..]
            .iter()
            .all(|m| m.id.is_some_and(|id| id > last))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_from_before_what_retention_kept_starts_with_a_gap() {
    let inbox = start().await;
    let token = inbox.token("desk", Role::Read).await;
    inbox.deliver(Sample::BuildFailed).await;
    // Everything so far is older than the cut: the log starts over after it.
    let pruned = inbox
        .store
        .prune(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .expect("prune");
    assert!(pruned.requests > 0 || pruned.events == 0, "{pruned:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let kept = inbox.deliver(Sample::BuildSucceeded).await;
    let rx = subscribe(&inbox, &token, "?after=0", None);
    let messages = tokio::task::spawn_blocking(move || {
        collect(&rx, Duration::from_secs(10), |seen| {
            seen.iter().any(|m| m.kind == "caught_up")
        })
    })
    .await
    .expect("collect");
    let caught_up = messages.last().expect("messages");
    assert_eq!(
        caught_up.kind, "caught_up",
        "the end of what was stored is said"
    );
    assert_eq!(
        caught_up.data["last"],
        messages[messages.len() - 2].id.expect("an id")
    );
    assert_eq!(
        messages[0].kind, "hello",
        "where the log stands comes first"
    );
    assert_eq!(messages[1].kind, "gap", "{messages:?}");
    assert_eq!(messages[1].data["after"], 0);
    let resumes_at = messages[1].data["resumes_at"].as_i64().expect("resumes_at");
    assert!(resumes_at > 1);
    assert_eq!(messages[0].data["oldest"], resumes_at);
    assert_eq!(
        messages[2].data["payload"]
            .as_str()
            .map(|p| p.contains("deliveryId")),
        Some(true),
        "events carry their payload, for mirrors"
    );
    assert_eq!(delivery_ids(&messages), vec![kept]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_closes_its_open_stream() {
    let inbox = start().await;
    let token = inbox.token("laptop", Role::Read).await;
    // From the start, so the first message does not depend on when the thread connects.
    let rx = subscribe(&inbox, &token, "?after=0", None);
    inbox.deliver(Sample::BuildFailed).await;
    let first = tokio::task::spawn_blocking(move || {
        let seen = collect(&rx, Duration::from_secs(10), |seen| !seen.is_empty());
        (seen, rx)
    })
    .await
    .expect("collect");
    let (seen, rx) = first;
    assert!(!seen.is_empty(), "the stream is live");
    inbox.store.revoke_token("laptop").await.expect("revoked");
    let ended = tokio::task::spawn_blocking(move || {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(_) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return true,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return false,
            }
        }
    })
    .await
    .expect("wait");
    assert!(ended, "the server closed the revoked token's stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_dropped_and_ingest_goes_on() {
    // Events of 100 KB: 20 MB in all, well past the socket's buffers and the stream's 4 MiB.
    const DELIVERIES: u64 = 200;
    let options = SampleOptions {
        message: Some("x".repeat(100_000)),
        ..Default::default()
    };
    let inbox = start_with(ListenerConfig {
        write_stall: Duration::from_secs(2),
        ..ListenerConfig::default()
    })
    .await;
    let token = inbox.token("stuck", Role::Read).await;
    // A raw connection that asks for the stream and then never reads a byte, with a small
    // receive buffer so that the server's side fills quickly.
    let mut stuck = small_buffered_stream(inbox.listener.local_addr(), &token, "");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Enough changes to fill the socket's buffers and the stream's own.
    let started = Instant::now();
    for _ in 0..DELIVERIES {
        inbox
            .deliver_with(Sample::BuildSucceeded, options.clone())
            .await;
    }
    let took = started.elapsed();
    let events = inbox
        .store
        .count_events(&Default::default())
        .expect("count")
        .total;
    assert_eq!(
        events, DELIVERIES,
        "every delivery stored while the subscriber was stuck"
    );
    // The server gave up on it: reading now drains what was buffered, then ends.
    let text = drained_until_closed(&mut stuck, Duration::from_secs(10), took);
    let seen: HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .collect();
    assert!(
        seen.len() < 2 * DELIVERIES as usize,
        "it was cut off before receiving everything ({} ids)",
        seen.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_serves_https_with_the_certificate_it_is_given() {
    use gatehouse_core::receive::tls::TlsConfig;
    let dir = tempfile::tempdir().expect("tempdir");
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("cert file");
    std::fs::write(&key, made.key_pair.serialize_pem()).expect("key file");

    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("cert");
    let other_key = dir.path().join("other.pem");
    std::fs::write(&other_key, other.key_pair.serialize_pem()).expect("key file");
    let mismatch = TlsConfig::load(&cert, &other_key).expect_err("not a pair");
    assert!(
        mismatch.to_string().contains("do not make a pair"),
        "{mismatch}"
    );
    let missing = TlsConfig::load(&dir.path().join("none.pem"), &key).expect_err("no file");
    assert!(missing.to_string().contains("--tls-cert"), "{missing}");
    let not_pem = TlsConfig::load(&key, &key).expect_err("a key is no certificate");
    assert!(
        not_pem.to_string().contains("no PEM certificate"),
        "{not_pem}"
    );
    let not_key = TlsConfig::load(&cert, &cert).expect_err("a certificate is no key");
    assert!(
        not_key.to_string().contains("not a PEM private key"),
        "{not_key}"
    );
    // The same key in the older SEC1 form (`BEGIN EC PRIVATE KEY`), as `openssl ecparam
    // -genkey` writes it, is served as well as PKCS#8.
    let sec1 = openssl::pkey::PKey::private_key_from_pem(made.key_pair.serialize_pem().as_bytes())
        .and_then(|k| k.ec_key())
        .and_then(|k| k.private_key_to_pem())
        .expect("SEC1");
    assert!(sec1.starts_with(b"-----BEGIN EC PRIVATE KEY-----"));
    let sec1_key = dir.path().join("sec1.pem");
    std::fs::write(&sec1_key, &sec1).expect("key file");
    TlsConfig::load(&cert, &sec1_key).expect("a SEC1 key loads");

    let inbox = start_with(ListenerConfig {
        tls: Some(TlsConfig::load(&cert, &key).expect("loads")),
        ..ListenerConfig::default()
    })
    .await;
    assert_eq!(
        inbox.listener.status().base_url,
        Some(format!("https://{}", inbox.listener.local_addr()))
    );
    let token = inbox.token("remote", Role::Read).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).expect("root");
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let agent = ureq::AgentBuilder::new()
        .tls_config(Arc::new(client))
        .build();
    let addr = inbox.listener.local_addr();
    let (status, kind, body) = tokio::task::spawn_blocking(move || {
        let resp = agent
            .post(&format!("https://{addr}/api/v1/rpc"))
            .set("Authorization", &format!("Bearer {token}"))
            .send_string(r#"{"method":"overview"}"#)
            .expect("https answers");
        let kind = resp.content_type().to_owned();
        (resp.status(), kind, resp.into_string().unwrap_or_default())
    })
    .await
    .expect("client");
    assert_eq!(status, 200, "{body}");
    assert_eq!(kind, "application/json");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(answer["method"], "overview", "{body}");
    let plain = format!("http://{addr}/healthz");
    let refused = tokio::task::spawn_blocking(move || ureq::get(&plain).call().is_err())
        .await
        .expect("client");
    assert!(refused, "plain HTTP is not served on the TLS port");
}

/// A delivery a mirror copied from the inbox, then sent to this machine's own listener too,
/// is a duplicate here: deduplication by (endpoint, deliveryId) works both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_mirrored_first_is_a_duplicate_at_the_local_listener() {
    use gatehouse_core::store::Incoming;
    let inbox = start().await;
    let body = samples::build(Sample::BuildFailed, &SampleOptions::default()).expect("sample");
    let url = inbox.url("/hooks/ci");
    let signed = (sign(SECRET.as_bytes(), &body), body.clone());
    tokio::task::spawn_blocking(move || {
        ureq::post(&url)
            .set("ac_signature", &signed.0)
            .send_bytes(&signed.1)
            .expect("accepted")
    })
    .await
    .expect("client");
    let event = inbox
        .store
        .events(&Default::default())
        .expect("events")
        .remove(0);

    let desk = start().await;
    let applied = desk
        .store
        .apply_mirrored(
            "http://inbox",
            vec![(1, Incoming::Event(Box::new(event)))],
            false,
        )
        .await
        .expect("mirrored");
    assert_eq!(applied.events, 1);
    let url = desk.url("/hooks/ci");
    let answer: Value = tokio::task::spawn_blocking(move || {
        let resp = ureq::post(&url)
            .set("ac_signature", &sign(SECRET.as_bytes(), &body))
            .send_bytes(&body)
            .expect("answered");
        serde_json::from_str(&resp.into_string().expect("body")).expect("json")
    })
    .await
    .expect("client");
    assert_eq!(answer["status"], "duplicate", "{answer}");
    assert_eq!(
        desk.store
            .count_events(&Default::default())
            .expect("count")
            .total,
        1
    );
}

/// The same change log behind the position (an inbox restored from a backup) starts the
/// mirror over, as a new log does.
#[tokio::test]
async fn a_log_behind_the_mirror_starts_it_over() {
    use gatehouse_core::store::Incoming;
    let desk = start().await;
    assert_eq!(
        desk.store
            .begin_mirror("http://inbox", "log-a", 10)
            .await
            .ok(),
        Some(0)
    );
    let moved = desk
        .store
        .apply_mirrored("http://inbox", vec![(9, Incoming::Other)], false)
        .await
        .expect("applied");
    assert_eq!(moved.last_seq, 9);
    assert_eq!(
        desk.store
            .begin_mirror("http://inbox", "log-a", 12)
            .await
            .ok(),
        Some(9),
        "same log, ahead: resume"
    );
    assert_eq!(
        desk.store
            .begin_mirror("http://inbox", "log-a", 5)
            .await
            .ok(),
        Some(0),
        "same log, behind: start over"
    );
    assert_eq!(
        desk.store
            .begin_mirror("http://inbox", "log-b", 50)
            .await
            .ok(),
        Some(0),
        "another log: start over"
    );
}

/// A change committed by another process (the CLI beside `serve`) is never broadcast in the
/// inbox's own process; the stream notices the hole in the seq numbers and sends what it
/// missed from SQLite, so a live subscriber gets it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_committed_elsewhere_reaches_live_subscribers() {
    let inbox = start().await;
    let token = inbox.token("desk", Role::Read).await;
    let rx = subscribe(&inbox, &token, "", None);
    let rx = tokio::task::spawn_blocking(move || {
        // Wait for the end of the (empty) backlog, so that the change below can only come
        // live: committed before `caught_up`, the replay from SQLite would carry it.
        let opening = collect(&rx, Duration::from_secs(10), |seen| {
            seen.iter().any(|m| m.kind == "caught_up")
        });
        let kinds: Vec<&str> = opening.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, ["hello", "caught_up"]);
        rx
    })
    .await
    .expect("hello");
    // Another writer on the same file, as `gatehouse endpoint add` from a shell would be.
    let other = Store::open_with(&inbox.path, StoreOptions::default()).expect("second store");
    other
        .add_endpoint("web", SECRET)
        .await
        .expect("added elsewhere");
    drop(other);
    let sent = inbox.deliver(Sample::BuildFailed).await;
    let messages = tokio::task::spawn_blocking(move || {
        collect(&rx, Duration::from_secs(10), |seen| {
            !delivery_ids(seen).is_empty()
        })
    })
    .await
    .expect("collect");
    let kinds: Vec<&str> = messages.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"endpoints"), "{kinds:?}");
    assert_eq!(delivery_ids(&messages), vec![sent]);
    let ids: Vec<i64> = messages.iter().filter_map(|m| m.id).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "no hole: {ids:?}");
}

/// Revoking a token ends its stream while it is still sending the backlog, not only once it
/// is live: a revoked reader does not get the rest of the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_ends_its_stream_during_the_backlog() {
    let inbox = start().await;
    // 60 events of 100 KB: a backlog of 6 MB, past the stream's 4 MiB of room.
    let options = SampleOptions {
        message: Some("x".repeat(100_000)),
        ..Default::default()
    };
    for _ in 0..60 {
        inbox
            .deliver_with(Sample::BuildSucceeded, options.clone())
            .await;
    }
    let token = inbox.token("old-laptop", Role::Read).await;
    // A slow reader with a small receive buffer: 4 KiB every 20 ms, 30 s for the backlog.
    let addr = inbox.listener.local_addr();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut stream = small_buffered_stream(addr, &token, "?after=0");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let started = Instant::now();
        let (mut text, mut chunk) = (Vec::new(), [0u8; 4096]);
        loop {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.extend_from_slice(&chunk[..n]),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let ids = String::from_utf8_lossy(&text)
            .lines()
            .filter(|l| l.starts_with("id: "))
            .count();
        (ids, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    inbox
        .store
        .revoke_token("old-laptop")
        .await
        .expect("revoked");
    let (ids, took) = tokio::task::spawn_blocking(move || reader.join().expect("reader"))
        .await
        .expect("join");
    // What was already in the socket's buffers still arrives (about 40 of the 120 here);
    // without the check it is all of it, and only after the whole backlog.
    assert!(
        ids < 80,
        "the stream ended long before the whole backlog: {ids} of 121 messages"
    );
    assert!(
        took < Duration::from_secs(25),
        "and soon after the revocation: {took:?}"
    );
}

/// A mirror marks what its backlog brings (the desktop summarises it once) and reports the
/// end of the backlog only after every notice of it was broadcast; what follows is live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_marks_its_backlog_and_reports_its_end_after_the_notices() {
    use gatehouse_core::follow::mirror::{self, MirrorState, Report};
    use gatehouse_core::store::Notice;
    let inbox = start().await;
    let token = inbox.token("desk", Role::Read).await;
    for _ in 0..3 {
        inbox.deliver(Sample::BuildFailed).await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let desk = Arc::new(Store::open_dir(dir.path()).expect("store"));
    let mut notices = desk.subscribe();
    let (state, mut states) = tokio::sync::watch::channel(MirrorState::Connecting);
    let (reports, mut reported) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let follower = tokio::spawn(mirror::follow(
        desk.clone(),
        mirror::Inbox {
            url: inbox.url(""),
            token,
        },
        state,
        reports,
        stopping,
    ));
    let mut backlog_applied = 0;
    while let Report::Applied { applied, catch_up } =
        tokio::time::timeout(Duration::from_secs(20), reported.recv())
            .await
            .expect("a report in time")
            .expect("reporting")
    {
        assert!(catch_up, "before caught_up everything is backlog");
        backlog_applied += applied.events;
    }
    assert_eq!(backlog_applied, 3);
    // Every notice of the backlog is already there when CaughtUp is reported.
    let mut marked = 0;
    while let Ok(notice) = notices.try_recv() {
        if let Notice::Event { catch_up, .. } = notice {
            assert!(catch_up, "a backlog event is marked");
            marked += 1;
        }
    }
    assert_eq!(marked, 3);

    inbox.deliver(Sample::BuildSucceeded).await;
    match tokio::time::timeout(Duration::from_secs(20), reported.recv())
        .await
        .expect("a report in time")
    {
        Some(Report::Applied { applied, catch_up }) => {
            assert!(!catch_up, "after caught_up changes are live");
            assert_eq!(applied.events, 1);
        }
        other => panic!("expected a live batch, got {other:?}"),
    }
    match notices.try_recv() {
        Ok(Notice::Event { catch_up, .. }) => assert!(!catch_up, "a live event is not marked"),
        other => panic!("expected the live event's notice, got {other:?}"),
    }
    assert!(matches!(
        *states.borrow_and_update(),
        MirrorState::UpToDate { .. }
    ));
    let _ = stop.send(true);
    follower.await.expect("follower ends when stopped");
}

/// A subscriber that stops reading is cut once a quarter of its buffer waits and it has taken
/// nothing for a moment, not only when the whole buffer is full: while it is connected the
/// writer builds a notice for every change (a fifth of ingest at 32 clients in the benchmark).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_cut_before_its_buffer_fills() {
    // 300 deliveries of 10 KB: 600 changes, fewer than the 1,024 the buffer holds, and too
    // large for the server's write buffer (about 400 KB) to take most of them.
    const DELIVERIES: u64 = 300;
    let options = SampleOptions {
        message: Some("x".repeat(10_000)),
        ..Default::default()
    };
    let inbox = start().await;
    let token = inbox.token("stuck", Role::Read).await;
    let mut stuck = small_buffered_stream(inbox.listener.local_addr(), &token, "");
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..DELIVERIES {
        inbox
            .deliver_with(Sample::BuildSucceeded, options.clone())
            .await;
    }
    let text = drained_until_closed(&mut stuck, Duration::from_secs(5), Duration::ZERO);
    let seen = text.lines().filter(|l| l.starts_with("id: ")).count();
    assert!(seen < 2 * DELIVERIES as usize, "cut off early ({seen} ids)");
}

/// One HTTP call with any method and headers; returns status, headers (lowercase names) and
/// the body as text.
async fn call(
    url: String,
    method: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
) -> (u16, Vec<(String, String)>, String) {
    tokio::task::spawn_blocking(move || {
        let mut req = ureq::request(method, &url);
        for (name, value) in &headers {
            req = req.set(name, value);
        }
        let resp = match body {
            Some(b) => req.send_string(&b),
            None => req.call(),
        };
        let resp = match resp {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("transport: {e}"),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .flat_map(|n| {
                resp.all(&n)
                    .into_iter()
                    .map(|v| (n.to_lowercase(), v.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect();
        (status, headers, resp.into_string().unwrap_or_default())
    })
    .await
    .expect("client")
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The web dashboard's sessions: a token traded for an HttpOnly, SameSite=Strict cookie; the
/// cookie alone never changes anything without the CSRF header; a read session is refused
/// admin calls; sign-out and revocation end it, also its open stream; no CORS, and the
/// security headers on every answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_session_is_a_cookie_that_needs_the_csrf_header_to_change_anything() {
    const CSRF: (&str, &str) = ("X-Gatehouse-Request", "1");
    let inbox = start().await;
    let token = inbox.token("wall", Role::Read).await;
    let session_url = inbox.url("/api/v1/session");
    let sign_in = |with_csrf: bool, token: String| {
        let mut headers = vec![("Content-Type", "application/json".to_owned())];
        if with_csrf {
            headers.push((CSRF.0, CSRF.1.to_owned()));
        }
        call(
            session_url.clone(),
            "POST",
            headers,
            Some(json!({ "token": token }).to_string()),
        )
    };

    let (status, _, _) = sign_in(false, token.clone()).await;
    assert_eq!(status, 403, "signing in needs the CSRF header too");
    let (status, _, _) = sign_in(true, "gh_inbox_wrong".into()).await;
    assert_eq!(status, 401);
    let (status, headers, body) = sign_in(true, token.clone()).await;
    assert_eq!(status, 200, "{body}");
    let set = header(&headers, "set-cookie").expect("a cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/api"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    assert!(!set.contains(&token), "the cookie is not the token");
    assert!(!body.contains(&token), "{body}");
    let id = set
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("session id");
    let cookie = ("Cookie", format!("gatehouse_session={id}"));

    let (status, _, body) = call(session_url.clone(), "GET", vec![cookie.clone()], None).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["role"],
        "read"
    );

    let rpc = |headers: Vec<(&'static str, String)>, request: Value| {
        let mut headers = headers;
        headers.push(("Content-Type", "application/json".to_owned()));
        call(
            inbox.url("/api/v1/rpc"),
            "POST",
            headers,
            Some(request.to_string()),
        )
    };
    let (status, _, _) = rpc(vec![cookie.clone()], json!({"method": "overview"})).await;
    assert_eq!(status, 403, "the cookie alone is refused (CSRF)");
    let with_csrf = vec![cookie.clone(), (CSRF.0, CSRF.1.to_owned())];
    let (status, headers, body) = rpc(with_csrf.clone(), json!({"method": "overview"})).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        header(&headers, "content-security-policy")
            .is_some_and(|v| v.contains("default-src 'self'")
                && v.contains("frame-ancestors 'none'")
                && !v.contains("unsafe")),
        "{headers:?}"
    );
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&headers, "referrer-policy"), Some("no-referrer"));
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    let (status, _, _) = rpc(
        with_csrf.clone(),
        json!({"method": "secrets", "params": {"name": "ci"}}),
    )
    .await;
    assert_eq!(status, 403, "a read session cannot reveal secrets");
    // Nor change anything: refused by role, with the CSRF header in order, and nothing made.
    let (status, _, _) = rpc(
        with_csrf.clone(),
        json!({"method": "create_endpoint", "params": {"name": "web", "secret": null}}),
    )
    .await;
    assert_eq!(status, 403, "a read session cannot create an endpoint");
    assert!(
        inbox
            .store
            .endpoints()
            .expect("endpoints")
            .iter()
            .all(|e| e.name != "web"),
        "nothing was created"
    );

    // No CORS: a cross-origin caller gets no permission, and a preflight is not answered.
    let (_, headers, _) = rpc(
        vec![
            cookie.clone(),
            (CSRF.0, CSRF.1.to_owned()),
            ("Origin", "https://evil.example".into()),
        ],
        json!({"method": "overview"}),
    )
    .await;
    assert!(
        headers
            .iter()
            .all(|(n, _)| !n.starts_with("access-control-")),
        "{headers:?}"
    );
    let (status, headers, _) = call(
        inbox.url("/api/v1/rpc"),
        "OPTIONS",
        vec![
            ("Origin", "https://evil.example".into()),
            ("Access-Control-Request-Method", "POST".into()),
            (
                "Access-Control-Request-Headers",
                "x-gatehouse-request".into(),
            ),
        ],
        None,
    )
    .await;
    assert_ne!(status / 100, 2, "no preflight succeeds");
    assert!(
        headers
            .iter()
            .all(|(n, _)| !n.starts_with("access-control-"))
    );

    // The stream follows with the cookie (EventSource cannot send headers); signing out
    // ends it and the session.
    let addr = inbox.listener.local_addr();
    let (mut stream, opened) = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            s,
            "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nCookie: gatehouse_session={id}\r\n\r\n"
        )
        .expect("request");
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        // Open before signing out: a stream asked for after it is refused (401) instead,
        // and that answer leaves the connection open.
        let mut opened = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&opened).contains("event: hello") {
            let n = s.read(&mut chunk).expect("the stream opens");
            assert!(n > 0, "closed before hello");
            opened.extend_from_slice(&chunk[..n]);
        }
        (s, opened)
    })
    .await
    .expect("connect");
    let (status, _, _) = call(session_url.clone(), "DELETE", vec![cookie.clone()], None).await;
    assert_eq!(status, 403, "signing out needs the CSRF header");
    let (status, headers, _) = call(session_url.clone(), "DELETE", with_csrf.clone(), None).await;
    assert_eq!(status, 204);
    assert!(header(&headers, "set-cookie").is_some_and(|c| c.contains("Max-Age=0")));
    let (status, _, _) = rpc(with_csrf.clone(), json!({"method": "overview"})).await;
    assert_eq!(status, 401, "the session is over");
    let ended = tokio::task::spawn_blocking(move || {
        let mut sink = opened;
        let read = std::io::Read::read_to_end(&mut stream, &mut sink);
        (read.is_ok(), String::from_utf8_lossy(&sink).into_owned())
    })
    .await
    .expect("read");
    assert!(ended.0, "the stream ended after sign-out");
    assert!(
        ended.1.contains("200 OK") && ended.1.contains("event: hello"),
        "{}",
        ended.1
    );

    // Revoking the token ends its other sessions.
    let (_, headers, _) = sign_in(true, token.clone()).await;
    let again = header(&headers, "set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_owned();
    let with_again = vec![("Cookie", again), (CSRF.0, CSRF.1.to_owned())];
    let (status, _, _) = rpc(with_again.clone(), json!({"method": "overview"})).await;
    assert_eq!(status, 200);
    // Another token keeps the API on.
    inbox.token("ops", Role::Admin).await;
    inbox.store.revoke_token("wall").await.expect("revoked");
    let (status, _, _) = rpc(with_again, json!({"method": "overview"})).await;
    assert_eq!(status, 401, "revoking the token ended the session");
}

/// A session is kept server-side only as the SHA-256 of the cookie's value, with an expiry
/// the server enforces: the database (read here with SQLite itself) never holds the value a
/// browser presents, and a session is refused once its 30 days have passed on the inbox's
/// clock, though its row is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_stored_as_its_hash_and_refused_once_expired() {
    use sha2::{Digest, Sha256};
    let (clock, hand) = Clock::manual(chrono::Utc::now());
    let inbox = start_on(
        clock.clone(),
        ListenerConfig::default(),
        serve::Options::default(),
    )
    .await;
    let token = inbox.token("wall", Role::Read).await;
    let (status, headers, body) = call(
        inbox.url("/api/v1/session"),
        "POST",
        vec![
            ("Content-Type", "application/json".to_owned()),
            ("X-Gatehouse-Request", "1".to_owned()),
        ],
        Some(json!({ "token": token }).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = header(&headers, "set-cookie")
        .and_then(|c| c.split(';').next())
        .and_then(|kv| kv.strip_prefix("gatehouse_session="))
        .expect("a session cookie")
        .to_owned();
    let cookie = vec![("Cookie", format!("gatehouse_session={id}"))];
    let (status, _, _) = call(inbox.url("/api/v1/session"), "GET", cookie.clone(), None).await;
    assert_eq!(status, 200, "the session is live");

    let db = rusqlite::Connection::open(&inbox.path).expect("the database");
    db.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    let mut query = db.prepare("SELECT * FROM sessions").expect("sessions");
    let columns = query.column_count();
    let rows: Vec<Vec<rusqlite::types::Value>> = query
        .query_map([], |row| (0..columns).map(|i| row.get(i)).collect())
        .expect("rows")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    drop(query);
    assert_eq!(rows.len(), 1, "one session");
    let bytes = |v: &rusqlite::types::Value| match v {
        rusqlite::types::Value::Text(t) => t.as_bytes().to_vec(),
        rusqlite::types::Value::Blob(b) => b.clone(),
        rusqlite::types::Value::Integer(n) => n.to_string().into_bytes(),
        rusqlite::types::Value::Real(r) => r.to_string().into_bytes(),
        rusqlite::types::Value::Null => Vec::new(),
    };
    let values: Vec<Vec<u8>> = rows[0].iter().map(bytes).collect();
    let needle = id.as_bytes();
    assert!(
        values
            .iter()
            .all(|v| !v.windows(needle.len()).any(|w| w == needle)),
        "the cookie's value is stored: {:?}",
        rows[0]
    );
    let digest = Sha256::digest(needle).to_vec();
    let hex_digest = hex::encode(&digest).into_bytes();
    assert!(
        values.iter().any(|v| *v == digest || *v == hex_digest),
        "its SHA-256 is what is kept: {:?}",
        rows[0]
    );
    for file in [inbox.path.clone(), inbox.path.with_extension("db-wal")] {
        let content = std::fs::read(&file).unwrap_or_default();
        assert!(
            !content.windows(needle.len()).any(|w| w == needle),
            "{} holds the cookie's value",
            file.display()
        );
    }
    let expires: String = db
        .query_row("SELECT expires_at FROM sessions", [], |r| r.get(0))
        .expect("an expiry");
    assert_eq!(
        expires,
        gatehouse_core::time::to_text(clock.now() + chrono::Duration::days(30)),
        "a session lasts 30 days by the inbox's clock"
    );

    // 29 days on it is still live; 30 days and a second on, it is over (the row stays).
    hand.advance(chrono::Duration::days(29));
    let (status, _, _) = call(inbox.url("/api/v1/session"), "GET", cookie.clone(), None).await;
    assert_eq!(status, 200, "29 days in");
    hand.advance(chrono::Duration::days(1) + chrono::Duration::seconds(1));
    let left: i64 = db
        .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
        .expect("count");
    assert_eq!(left, 1, "the row is still there");
    let (status, _, _) = call(inbox.url("/api/v1/session"), "GET", cookie.clone(), None).await;
    assert_eq!(status, 401, "an expired session is over");
    let mut with_csrf = cookie;
    with_csrf.push(("X-Gatehouse-Request", "1".to_owned()));
    with_csrf.push(("Content-Type", "application/json".to_owned()));
    let (status, _, _) = call(
        inbox.url("/api/v1/rpc"),
        "POST",
        with_csrf,
        Some(json!({"method": "overview"}).to_string()),
    )
    .await;
    assert_eq!(status, 401, "and calls nothing");
}

/// The security headers are on every answer (the page, a file, the API, a hook, the 404 of
/// an unknown path), and a webhook posted to the bare address still gets the listener's 404,
/// not the page's 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers_and_the_site_keeps_the_listeners_404() {
    let site = serve::Site::new([
        (
            "index.html".to_owned(),
            b"<!doctype html><title>g</title>".to_vec(),
        ),
        (
            "assets/index-ab12.js".to_owned(),
            b"console.log(1)".to_vec(),
        ),
    ]);
    let served = start_serving(
        ListenerConfig::default(),
        serve::Options {
            site: Some(Arc::new(site)),
            secure_cookies: true,
        },
    )
    .await;
    let token = served.token("wall", Role::Read).await;
    let answers = [
        ("GET", "/", 200),
        ("GET", "/assets/index-ab12.js", 200),
        ("GET", "/api/v1/session", 401),
        ("GET", "/api/v2/nothing", 404),
        ("GET", "/a/b/c", 404),
        ("POST", "/hooks/nobody", 404),
        ("GET", "/healthz", 200),
    ];
    for (method, path, want) in answers {
        let (status, headers, _) =
            call(served.url(path), method, vec![], Some(String::new())).await;
        assert_eq!(status, want, "{method} {path}");
        let csp = header(&headers, "content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{method} {path}: {headers:?}"
        );
        assert_eq!(
            header(&headers, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header(&headers, "referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
    }
    // A webhook sent to the bare address: the listener's JSON 404, as without a site.
    let (status, _, body) = call(served.url("/"), "POST", vec![], Some("{}".into())).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("/hooks/"), "{body}");
    // Under TLS (or --secure-cookies) the session cookie is Secure.
    let (status, headers, _) = call(
        served.url("/api/v1/session"),
        "POST",
        vec![("X-Gatehouse-Request", "1".into())],
        Some(json!({ "token": token }).to_string()),
    )
    .await;
    assert_eq!(status, 200);
    assert!(header(&headers, "set-cookie").is_some_and(|c| c.contains("; Secure")));
}

/// The History view's export over the API: a read token may take the current filter's
/// events as CSV, oldest first, with the header the CLI's export has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_token_exports_the_filtered_history_as_csv() {
    let inbox = start().await;
    let token = inbox.token("desk", Role::Read).await;
    let first = inbox.deliver(Sample::BuildFailed).await;
    let second = inbox.deliver(Sample::BuildSucceeded).await;
    let (status, _, body) = inbox
        .rpc(
            Some(&token),
            json!({"method": "export_events", "params": {"query": {}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let csv = body["result"]["csv"].as_str().expect("csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(gatehouse_core::export::csv_header(&gatehouse_core::export::EVENT_COLUMNS).trim_end())
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0].ends_with(&first) && rows[1].ends_with(&second),
        "{rows:?}"
    );
    assert_eq!(body["result"]["rows"], 2);
    assert_eq!(body["result"]["capped"], false);
    let (_, _, failed) = inbox
        .rpc(
            Some(&token),
            json!({"method": "export_events", "params": {"query": {"outcome": "failed"}}}),
        )
        .await;
    assert_eq!(failed["result"]["rows"], 1, "the filter applies");
}

/// A stream with nothing to say still sends a comment every 15 s (the HEARTBEAT), which is
/// what keeps a subscriber's 45 s watchdog and any proxy from giving it up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_stream_carries_a_heartbeat() {
    use std::io::Read;
    let inbox = start().await;
    let token = inbox.token("desk", Role::Read).await;
    let addr = inbox.listener.local_addr();
    let (seen, waited) = tokio::task::spawn_blocking(move || {
        let mut stream = small_buffered_stream(addr, &token, "");
        // Up to a heartbeat and a third: long enough for one, short enough to fail without.
        let limit = gatehouse_core::serve::HEARTBEAT + gatehouse_core::serve::HEARTBEAT / 3;
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        let started = Instant::now();
        let mut seen = String::new();
        let mut caught_up_at = None;
        let mut buf = [0u8; 4096];
        while started.elapsed() < limit {
            if let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            if caught_up_at.is_none() && seen.contains("event: caught_up") {
                caught_up_at = Some(Instant::now());
            }
            if seen.contains(": heartbeat") {
                break;
            }
        }
        (seen, caught_up_at.map(|t| t.elapsed()))
    })
    .await
    .expect("reader");
    assert!(
        seen.contains("event: caught_up"),
        "the stream opened: {seen}"
    );
    assert!(
        seen.contains(": heartbeat\n"),
        "a heartbeat comment within {}s of a quiet stream: {seen}",
        (gatehouse_core::serve::HEARTBEAT + gatehouse_core::serve::HEARTBEAT / 3).as_secs()
    );
    eprintln!("heartbeat {waited:?} after caught_up");
}

//! `gatehouse token` and `gatehouse serve`'s API, through the real binary: a token is printed
//! once and never again, the API takes it, a stream left open does not hold up a stop, and a
//! revoked token is refused.

mod common;
#[path = "../crates/core/tests/fake_github/mod.rs"]
mod fake_github;
#[path = "../crates/core/tests/fake_gitlab/mod.rs"]
mod fake_gitlab;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Gatehouse, post};
use gatehouse_core::clock::Clock;
use gatehouse_core::receive::signature::sign;
use gatehouse_core::send::samples::{self, Sample, SampleOptions};
use serde_json::{Value, json};

#[test]
fn tokens_are_shown_once_and_open_the_api_of_serve() {
    let g = Gatehouse::new();
    let out = g.ok(&["token", "add", "ops", "--admin"]);
    let token = out.trim().to_owned();
    assert!(
        token.starts_with("gh_inbox_") && token.len() == 9 + 64,
        "{out}"
    );
    let list = g.ok(&["token", "list"]);
    assert!(
        list.contains("ops") && list.contains("admin") && list.contains("never"),
        "{list}"
    );
    assert!(!list.contains(&token[9..]), "the list never shows a token");
    let listed = g.json(&["token", "list", "--json"]);
    assert_eq!(listed[0]["role"], "admin");
    assert!(!listed.to_string().contains(&token[9..]));
    let db = std::fs::read(g.data_dir().join("gatehouse.db")).unwrap_or_default();
    let wal = std::fs::read(g.data_dir().join("gatehouse.db-wal")).unwrap_or_default();
    let needle = token.as_bytes();
    for file in [&db, &wal] {
        assert!(
            !file.windows(needle.len()).any(|w| w == needle),
            "the token itself is not stored"
        );
    }

    let server = g.serve(&[]);
    let rpc = format!("{}/api/v1/rpc", server.base);
    let auth = format!("Bearer {token}");
    let (status, body) = post(
        &rpc,
        &[("Authorization", &auth)],
        json!({"method": "create_endpoint", "params": {"name": "ci", "secret": null}})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["endpoint"]["name"], "ci");
    let (status, body) = post(
        &rpc,
        &[("Authorization", &auth)],
        json!({"method": "save_settings", "params": {"settings": {}}})
            .to_string()
            .as_bytes(),
    );
    assert!(
        status == 409 || status == 400,
        "serve does not store settings it would not apply: {status} {body}"
    );

    // A stream left open: the stop below must not wait for it.
    let stream_url = format!("{}/api/v1/stream?after=0", server.base);
    let auth_for_stream = auth.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok(resp) = ureq::get(&stream_url)
            .set("Authorization", &auth_for_stream)
            .call()
        {
            for line in BufReader::new(resp.into_reader())
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    return;
                }
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the stream answers");
    assert!(
        first.starts_with("id:") || first.starts_with("event:") || first.starts_with(':'),
        "{first}"
    );

    g.ok(&["token", "add", "wall"]);
    g.ok(&["token", "revoke", "ops"]);
    let (status, _) = post(
        &rpc,
        &[("Authorization", &auth)],
        br#"{"method":"overview"}"#,
    );
    assert_eq!(
        status, 401,
        "a token revoked by the CLI from another process is refused at once"
    );
    let listed = g.ok(&["token", "list"]);
    assert!(!listed.contains("ops"), "{listed}");

    let stopping = Instant::now();
    assert!(server.stop(), "serve stops cleanly with a stream open");
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopping.elapsed()
    );
}

const SECRET: &str = "follow-test-secret-0123456789";

/// `gatehouse follow` on its own data directory; SIGTERM on drop.
struct Follower {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Follower {
    fn start(desk: &Gatehouse, url: &str, token_file: &std::path::Path) -> Follower {
        let mut child = Command::new(common::BIN)
            .args(["follow", url, "--token-file"])
            .arg(token_file)
            .env("GATEHOUSE_DATA_DIR", desk.data_dir())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("follow starts");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log").push(line);
            }
        });
        Follower { child, log }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    fn stop(&mut self) {
        // SAFETY: signalling our own child process by its pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "follow stops cleanly: {:?}", self.log());
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An inbox's data: endpoint `ci` with [`SECRET`] and a read token named `token_name`,
/// which it returns.
fn set_up_inbox(inbox: &Gatehouse, token_name: &str) -> String {
    let token = inbox.ok(&["token", "add", token_name]).trim().to_owned();
    let secret_file = inbox.data_dir().join("secret");
    std::fs::write(&secret_file, SECRET).expect("secret");
    inbox.ok(&[
        "endpoint",
        "add",
        "ci",
        "--secret-file",
        secret_file.to_str().expect("path"),
    ]);
    token
}

fn deliver(hook: &str) -> String {
    let body = samples::build(Sample::BuildFailed, &SampleOptions::default()).expect("sample");
    let id = serde_json::from_slice::<Value>(&body).expect("json")["deliveryId"]
        .as_str()
        .expect("id")
        .to_owned();
    let signature = sign(SECRET.as_bytes(), &body);
    let (status, answer) = post(hook, &[("ac_signature", &signature)], &body);
    assert_eq!(status, 200, "{answer}");
    id
}

/// The delivery ids the mirror holds, once it holds `want` events (or what it has after 20 s).
fn mirrored(desk: &Gatehouse, want: usize) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let events = desk.json(&["events", "--json", "--limit", "1000"]);
        let ids: Vec<String> = events
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|e| e["delivery_id"].as_str().map(str::to_owned))
            .collect();
        if ids.len() >= want || Instant::now() > until {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_follower_gets_every_delivery_once_across_its_stops_and_an_inbox_kill() {
    let inbox = Gatehouse::new();
    let token = set_up_inbox(&inbox, "desk");
    let mut server = inbox.serve(&[]);
    let url = server.base.clone();
    let hook = server.hook("ci");

    let desk = Gatehouse::new();
    let token_file = desk.data_dir().join("token");
    std::fs::write(&token_file, format!("{token}\n")).expect("token file");

    // Sent before the follower ever ran: all of it arrives when it starts.
    let mut sent: Vec<String> = (0..5).map(|_| deliver(&hook)).collect();
    let mut follower = Follower::start(&desk, &url, &token_file);
    assert_eq!(mirrored(&desk, 5).len(), 5, "{:?}", follower.log());

    // Sent while it is stopped: arrives once it starts again, and nothing twice.
    follower.stop();
    sent.extend((0..5).map(|_| deliver(&hook)));
    let mut follower = Follower::start(&desk, &url, &token_file);
    assert_eq!(mirrored(&desk, 10).len(), 10, "{:?}", follower.log());

    // The inbox is killed under it and comes back on the same address.
    server.kill();
    std::thread::sleep(Duration::from_millis(300));
    let address = url.trim_start_matches("http://").to_owned();
    let server = inbox.serve(&["--listen", &address]);
    sent.extend((0..5).map(|_| deliver(&server.hook("ci"))));
    let ids = mirrored(&desk, 15);
    let log = follower.log();
    assert_eq!(ids.len(), 15, "{log:?}");
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 15, "nothing twice");
    assert_eq!(
        unique,
        sent.iter().collect::<HashSet<_>>(),
        "exactly what was sent"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("offline") || l.contains("retrying")),
        "the loss was noticed: {log:?}"
    );
    follower.stop();

    // A revoked token is said to be refused, not retried as if the network were down.
    inbox.ok(&["token", "add", "other"]);
    inbox.ok(&["token", "revoke", "desk"]);
    let follower = Follower::start(&desk, &server.base, &token_file);
    let until = Instant::now() + Duration::from_secs(10);
    while !follower.log().iter().any(|l| l.contains("token refused")) {
        assert!(Instant::now() < until, "{:?}", follower.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn status_and_events_can_ask_an_inbox_from_another_machine() {
    let inbox = Gatehouse::new();
    let token = set_up_inbox(&inbox, "ci-job");
    let server = inbox.serve(&[]);
    let failed = deliver(&server.hook("ci"));

    // A machine with no Gatehouse data of its own.
    let job = Gatehouse::new();
    let token_file = job.data_dir().join("token");
    std::fs::write(&token_file, &token).expect("token file");
    let remote = [
        "--remote",
        server.base.as_str(),
        "--token-file",
        token_file.to_str().expect("path"),
    ];
    let status = |extra: &[&str]| {
        let mut args = vec!["status"];
        args.extend_from_slice(&remote);
        args.extend_from_slice(extra);
        job.run(&args)
    };
    assert_eq!(
        status(&[]).status.code(),
        Some(1),
        "the inbox's gate is failing"
    );
    let gate: Value = serde_json::from_slice(&status(&["--json"]).stdout).expect("json");
    assert_eq!(gate["state"], "failing");
    assert_eq!(
        status(&["--profile", "no such profile"]).status.code(),
        Some(2),
        "the filter applies at the inbox"
    );
    let mut args = vec!["events", "--json"];
    args.extend_from_slice(&remote);
    let events = job.json(&args);
    assert_eq!(events[0]["delivery_id"], failed.as_str());
    assert!(
        job.json(&["events", "--json"])
            .as_array()
            .is_some_and(Vec::is_empty),
        "nothing was stored on the asking machine"
    );

    std::fs::write(&token_file, "gh_inbox_wrong").expect("token file");
    let out = status(&[]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the token"), "{err}");
    assert!(
        !err.contains("gh_inbox_wrong"),
        "the token is not echoed: {err}"
    );
}

#[test]
fn serving_beyond_loopback_without_tls_is_warned_and_tls_flags_go_together() {
    let g = Gatehouse::new();
    let server = g.serve(&["--listen", "0.0.0.0:0"]);
    // Logged right after the address.
    let until = Instant::now() + Duration::from_secs(5);
    while !server.log().iter().any(|l| l.contains("without TLS")) {
        assert!(
            Instant::now() < until,
            "a warning for clear text beyond loopback: {:?}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(server);
    let out = g.run(&["serve", "--tls-cert", "cert.pem"]);
    assert_eq!(out.status.code(), Some(64), "--tls-cert needs --tls-key");
    let missing = g.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        "none.pem",
        "--tls-key",
        "none.pem",
    ]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--tls-cert none.pem"));
}

/// An HTTPS client that trusts only the certificate in `cert` (PEM).
fn trusting(cert: &Path) -> ureq::Agent {
    use ureq::rustls;
    use ureq::rustls::pki_types::CertificateDer;
    use ureq::rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(cert).expect("a PEM certificate"))
        .expect("a root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    ureq::AgentBuilder::new()
        .tls_config(Arc::new(config))
        .build()
}

/// `serve --tls-cert --tls-key` marks the web dashboard's session cookie `Secure` (beside
/// HttpOnly, SameSite=Strict and Path=/api): a sign-in over real HTTPS to the binary, so the
/// flag must reach the inbox from serve's own arguments. The certificate in tests/fixtures/tls
/// is self-signed for 127.0.0.1 until 2126, made with `openssl req -x509 -newkey ec -pkeyopt
/// ec_paramgen_curve:prime256v1 -nodes -days 36500 -subj /CN=127.0.0.1 -addext
/// subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE -keyout key.pem
/// -out cert.pem`.
#[test]
fn signing_in_over_https_to_serve_gives_a_secure_cookie() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let (cert, key) = (fixtures.join("cert.pem"), fixtures.join("key.pem"));
    let g = Gatehouse::new();
    let token = g.ok(&["token", "add", "wall"]).trim().to_owned();
    let server = g.serve(&[
        "--tls-cert",
        cert.to_str().expect("path"),
        "--tls-key",
        key.to_str().expect("path"),
    ]);
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let signed_in = trusting(&cert)
        .post(&format!("{}/api/v1/session", server.base))
        .set("X-Gatehouse-Request", "1")
        .set("Content-Type", "application/json")
        .send_string(&json!({ "token": token }).to_string())
        .expect("signed in over HTTPS");
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in.header("set-cookie").expect("a session cookie");
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    for wanted in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/api"] {
        assert!(attributes.contains(&wanted), "no {wanted}: {cookie}");
    }
}

/// Outbound HTTPS goes through the system's TLS and trust store (crates/core/src/outbound.rs):
/// `status --remote` reaches an inbox behind a certificate the system trusts (here by
/// SSL_CERT_FILE, as a company's CA would be installed), and refuses the same inbox, with
/// exit 3 and a reason, when the system does not trust it.
#[test]
fn remote_calls_over_https_trust_what_the_system_trusts() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let (cert, key) = (fixtures.join("cert.pem"), fixtures.join("key.pem"));
    let inbox = Gatehouse::new();
    let token = set_up_inbox(&inbox, "ci-job");
    let server = inbox.serve(&[
        "--tls-cert",
        cert.to_str().expect("path"),
        "--tls-key",
        key.to_str().expect("path"),
    ]);
    let job = Gatehouse::new();
    let token_file = job.data_dir().join("token");
    std::fs::write(&token_file, &token).expect("token file");
    let status = |trusted: Option<&Path>| {
        let mut command = Command::new(common::BIN);
        command
            .args(["status", "--json", "--remote", &server.base, "--token-file"])
            .arg(&token_file)
            .env("GATEHOUSE_DATA_DIR", job.data_dir())
            .env_remove("RUST_LOG")
            .env_remove("SSL_CERT_DIR");
        match trusted {
            Some(cert) => command.env("SSL_CERT_FILE", cert),
            None => command.env_remove("SSL_CERT_FILE"),
        };
        command.output().expect("gatehouse runs")
    };

    let trusted = status(Some(&cert));
    let gate: Value = serde_json::from_slice(&trusted.stdout).unwrap_or_else(|e| {
        panic!(
            "no gate ({e}): {}",
            String::from_utf8_lossy(&trusted.stderr)
        )
    });
    assert_eq!(
        gate["state"], "unknown",
        "an inbox with nothing delivered yet"
    );

    let untrusted = status(None);
    assert_eq!(
        untrusted.status.code(),
        Some(3),
        "not trusted by the system"
    );
    let said = String::from_utf8_lossy(&untrusted.stderr);
    assert!(said.contains("certificate"), "{said}");
}

/// Every refusal of the API is logged (issue 7), and never with the token: a wrong bearer
/// token (401), a wrong token at the browser's sign-in (401, the token in the body) and a read
/// token calling an admin method (403) each leave a line in serve's log, and no line holds
/// either token's text.
#[test]
fn every_refusal_is_logged_without_the_token() {
    let g = Gatehouse::new();
    let read = g.ok(&["token", "add", "wall"]).trim().to_owned();
    // Shaped like a real one, so nothing could tell it apart by its form.
    let wrong = format!("gh_inbox_{}", "5eb63bbbe01eeed093cb22bb8f5acdc3".repeat(2));
    let server = g.serve(&[]);
    let rpc = format!("{}/api/v1/rpc", server.base);

    let (status, _) = post(
        &rpc,
        &[("Authorization", &format!("Bearer {wrong}"))],
        br#"{"method":"overview"}"#,
    );
    assert_eq!(status, 401);
    let (status, _) = post(
        &format!("{}/api/v1/session", server.base),
        &[("X-Gatehouse-Request", "1")],
        json!({ "token": wrong }).to_string().as_bytes(),
    );
    assert_eq!(status, 401);
    let (status, _) = post(
        &rpc,
        &[("Authorization", &format!("Bearer {read}"))],
        json!({"method": "secrets", "params": {"name": "ci"}})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(status, 403);

    // Each refusal's line: what it was refused for, and not only that something was.
    let refusals: [(&str, &[&str]); 3] = [
        ("the wrong bearer token", &["refused a call", "not valid"]),
        (
            "the wrong token at sign-in",
            &["refused a sign-in", "not valid"],
        ),
        ("the admin method", &["refused", "`secrets`", "`wall`"]),
    ];
    let missing = |log: &[String]| -> Vec<&str> {
        refusals
            .iter()
            .filter(|(_, words)| !log.iter().any(|l| words.iter().all(|w| l.contains(w))))
            .map(|(what, _)| *what)
            .collect()
    };
    let until = Instant::now() + Duration::from_secs(10);
    let mut log = server.log();
    while !missing(&log).is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        log = server.log();
    }
    assert!(
        missing(&log).is_empty(),
        "no log line for {:?}: {log:#?}",
        missing(&log)
    );
    // Not the token, nor its secret part without the prefix.
    for secret in [&wrong, &wrong[9..], &read, &read[9..]] {
        assert!(
            log.iter().all(|l| !l.contains(secret)),
            "a log line holds a token: {log:#?}"
        );
    }
}

/// An inbox whose database was replaced counts from seq 1 again: the mirror notices the new
/// log by its id and follows it from the start instead of waiting past its old position.
#[test]
fn a_follower_notices_a_replaced_inbox_and_starts_over() {
    let first = Gatehouse::new();
    let token = set_up_inbox(&first, "desk");
    let server = first.serve(&[]);
    let url = server.base.clone();
    let mut sent: Vec<String> = (0..6).map(|_| deliver(&server.hook("ci"))).collect();
    let desk = Gatehouse::new();
    let token_file = desk.data_dir().join("token");
    std::fs::write(&token_file, &token).expect("token file");
    let mut follower = Follower::start(&desk, &url, &token_file);
    assert_eq!(mirrored(&desk, 6).len(), 6, "{:?}", follower.log());
    follower.stop();
    drop(server);

    // A new database behind the same address: its seq numbers start over.
    let second = Gatehouse::new();
    let token = set_up_inbox(&second, "desk");
    std::fs::write(&token_file, &token).expect("token file");
    let address = url.trim_start_matches("http://").to_owned();
    let server = second.serve(&["--listen", &address]);
    sent.extend((0..2).map(|_| deliver(&server.hook("ci"))));
    let follower = Follower::start(&desk, &url, &token_file);
    let ids = mirrored(&desk, 8);
    assert_eq!(ids.len(), 8, "{:?}", follower.log());
    assert_eq!(
        ids.iter().collect::<HashSet<_>>(),
        sent.iter().collect::<HashSet<_>>()
    );
    assert!(
        follower.log().iter().any(|l| l.contains("new change log")),
        "{:?}",
        follower.log()
    );
}

/// Following by token on the headless paths with no webhook anywhere: the inbox reads a
/// GitLab project with a token and its follower mirrors what it read; the follower reads a
/// GitHub repository with its own token, as the desktop does. Both failures reach the
/// follower, whose `status` then fails.
#[test]
fn a_follower_mirrors_what_its_inbox_reads_by_token_and_reads_its_own_accounts() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (gitlab, gitlab_addr) = rt.block_on(fake_gitlab::start(Clock::system()));
    gitlab.add(601, "running", 2);
    let (github, github_addr) = rt.block_on(fake_github::start(Clock::system()));
    github.add_run(
        "acme/app",
        github.run(6101, "CI", "main", "in_progress", None, 1),
    );

    let inbox = Gatehouse::new();
    let token = set_up_inbox(&inbox, "desk");
    let file = inbox.secret_file("gitlab-token", fake_gitlab::TOKEN);
    let file = file.to_str().expect("path");
    inbox.ok(&[
        "account",
        "connect",
        "--provider",
        "gitlab",
        "--token-file",
        file,
        "--project",
        fake_gitlab::PROJECT,
        "--api-host",
        &format!("http://{gitlab_addr}"),
    ]);
    let server = inbox.serve(&[]);

    let desk = Gatehouse::new();
    let file = desk.secret_file("github-token", fake_github::TOKEN);
    let file = file.to_str().expect("path");
    desk.ok(&[
        "account",
        "connect",
        "--provider",
        "github",
        "--token-file",
        file,
        "--repo",
        "acme/app",
        "--api-host",
        &format!("http://{github_addr}"),
    ]);
    let inbox_token = desk.secret_file("token", &token);
    let mut follower = Follower::start(&desk, &server.base, &inbox_token);

    let outcomes = || -> Vec<(String, String)> {
        desk.json(&["events", "--json"])
            .as_array()
            .expect("a list")
            .iter()
            .map(|e| {
                (
                    e["provider"].as_str().unwrap_or_default().to_owned(),
                    e["outcome"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let wait_for = |what: &str, want: &[(&str, &str)], seconds: u64| {
        let until = Instant::now() + Duration::from_secs(seconds);
        loop {
            let seen = outcomes();
            if want
                .iter()
                .all(|(p, o)| seen.iter().any(|(sp, so)| sp == p && so == o))
            {
                return;
            }
            assert!(
                Instant::now() < until,
                "{what} within {seconds} s: {seen:?}\nfollower: {:?}\ninbox: {:?}",
                follower.log(),
                server.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for(
        "both runs seen running",
        &[("gitlab", "started"), ("github", "started")],
        20,
    );
    assert_eq!(desk.run(&["status"]).status.code(), Some(2), "running");

    // Both fail at their providers; nothing is pushed anywhere.
    gitlab.set(601, "failed", Some(70));
    github.set_run("acme/app", 6101, "completed", Some("failure"));
    wait_for(
        "both failures",
        &[("gitlab", "failed"), ("github", "failed")],
        25,
    );
    assert_eq!(desk.run(&["status"]).status.code(), Some(1), "failing");
    follower.stop();
}

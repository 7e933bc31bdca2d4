//! The contract, end to end: `gatehouse serve` on loopback, real HTTP, a real SQLite file,
//! and what the CLI reports afterwards.

mod common;

use common::{Gatehouse, post, vector};
use gatehouse_core::receive::signature::sign;
use serde_json::Value;

const SECRET: &str = "a-test-secret-of-decent-length";

fn verdicts(requests: &Value) -> Vec<String> {
    requests
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["verdict"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn every_kind_of_request_gets_its_verdict_and_the_cli_reports_it() {
    let g = Gatehouse::new();
    g.ok(&["endpoint", "add", "ci", "--secret", SECRET]);
    let server = g.serve(&[]);
    let url = server.hook("ci");

    // Accepted: a signed, fresh build start.
    let started = g.json(&[
        "send",
        &url,
        "--secret",
        SECRET,
        "--sample",
        "build-started",
        "--profile",
        "pr_mr_tag_test",
        "--branch",
        "develop",
        "--task-id",
        "task-1",
        "--json",
    ]);
    assert_eq!(started["status_code"], 200);
    assert_eq!(started["response"]["status"], "accepted");
    let delivery = started["delivery_id"]
        .as_str()
        .expect("delivery id")
        .to_owned();

    // Duplicate: the same deliveryId again.
    let dup = g.run(&[
        "send",
        &url,
        "--secret",
        SECRET,
        "--sample",
        "build-started",
        "--delivery-id",
        &delivery,
        "--json",
    ]);
    assert!(dup.status.success());
    let dup: Value = serde_json::from_slice(&dup.stdout).expect("json");
    assert_eq!(dup["response"]["status"], "duplicate");

    // Bad signature: wrong secret; `send` exits 1 on a non-2xx answer.
    let bad = g.run(&[
        "send",
        &url,
        "--secret",
        "not-the-secret",
        "--sample",
        "build-failed",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).starts_with("401 "));

    // Missing header.
    let body = br#"{"deliveryId":"m1","timestamp":"an unsigned body: never read"}"#;
    let (status, json) = post(&url, &[("content-type", "application/json")], body);
    assert_eq!(
        (status, json["status"].as_str()),
        (401, Some("missing_signature"))
    );

    // Stale: the documented vector, validly signed with `test` by Appcircle in 2022.
    // Fixed dates on purpose: a recorded payload's own date, stale on every day after it.
    g.ok(&["endpoint", "add", "documented", "--secret", "test"]);
    let vector_path = vector();
    let stale = g.run(&[
        "send",
        &server.hook("documented"),
        "--secret",
        "test",
        "--file",
        vector_path.to_str().expect("path"),
    ]);
    assert_eq!(stale.status.code(), Some(1));
    let stale_out = String::from_utf8_lossy(&stale.stdout).to_string();
    assert!(
        stale_out.starts_with("400 ") && stale_out.contains("stale"),
        "{stale_out}"
    );

    // Malformed JSON with a valid signature.
    let garbage = b"{not json";
    let sig = sign(SECRET.as_bytes(), garbage);
    let (status, json) = post(&url, &[("ac_signature", &sig)], garbage);
    assert_eq!((status, json["status"].as_str()), (400, Some("malformed")));
    assert!(
        json["error"].as_str().is_some_and(|e| e.contains("JSON")),
        "{json}"
    );

    // Oversized body.
    let big = vec![b'a'; 1024 * 1024 + 1];
    let sig = sign(SECRET.as_bytes(), &big);
    let (status, json) = post(&url, &[("ac_signature", &sig)], &big);
    assert_eq!((status, json["status"].as_str()), (413, Some("too_large")));

    // Unknown endpoint: 404, counted, not in the request history.
    let (status, _) = post(&server.hook("nobody"), &[("ac_signature", "00")], b"{}");
    assert_eq!(status, 404);

    // A build failure for the same task finishes the run.
    let failed = g.json(&[
        "send",
        &url,
        "--secret",
        SECRET,
        "--sample",
        "build-failed",
        "--profile",
        "pr_mr_tag_test",
        "--branch",
        "develop",
        "--task-id",
        "task-1",
        "--json",
    ]);
    assert_eq!(failed["response"]["status"], "accepted");

    // What the request history says, newest first.
    let requests = g.json(&["requests", "--json", "--limit", "100"]);
    assert_eq!(
        verdicts(&requests),
        [
            "accepted",
            "too_large",
            "malformed",
            "stale",
            "missing_signature",
            "bad_signature",
            "duplicate",
            "accepted"
        ]
    );
    let first = &requests.as_array().expect("array")[7];
    for key in [
        "id",
        "endpoint",
        "received_at",
        "verdict",
        "status_code",
        "delivery_id",
        "error",
    ] {
        assert!(first.get(key).is_some(), "requests carry {key}: {first}");
    }
    let stale_req = requests
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["verdict"] == "stale")
        .expect("stale request");
    assert_eq!(stale_req["status_code"], 400);
    assert_eq!(
        stale_req["delivery_id"],
        "ee81f55b-fd14-4f95-9e1f-f5bce3ad29e4"
    );
    let only_stale = g.json(&["requests", "--json", "--verdict", "stale"]);
    assert_eq!(only_stale.as_array().map(Vec::len), Some(1));

    // Secrets never appear in the history.
    let show = g.ok(&["requests", "show", &stale_req["id"].to_string(), "--json"]);
    assert!(
        !show.contains(&sign(
            b"test",
            &std::fs::read(&vector_path).expect("vector")
        )),
        "signature redacted"
    );
    assert!(show.contains("[redacted]"));

    // Events: two so far, newest first, with the documented fields.
    let events = g.json(&["events", "--json"]);
    let list = events.as_array().expect("array");
    assert_eq!(list.len(), 2);
    let e = &list[0];
    for key in [
        "id",
        "delivery_id",
        "endpoint",
        "scope",
        "outcome",
        "action",
        "title",
        "message",
        "profile_id",
        "profile_name",
        "branch_id",
        "branch_name",
        "occurred_at",
        "received_at",
    ] {
        assert!(e.get(key).is_some(), "events carry {key}: {e}");
    }
    assert_eq!(
        (e["scope"].as_str(), e["outcome"].as_str()),
        (Some("build"), Some("failed"))
    );
    assert_eq!(
        (e["profile_name"].as_str(), e["branch_name"].as_str()),
        (Some("pr_mr_tag_test"), Some("develop"))
    );
    assert!(
        e["duration_ms"].as_i64().is_some(),
        "start and end of task-1 give a duration"
    );

    // The gate is red: exit 1.
    let status = g.run(&["status", "--json"]);
    assert_eq!(status.status.code(), Some(1));
    let gate: Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(gate["state"], "failing");
    assert_eq!(
        g.run(&[
            "status",
            "--profile",
            "pr_mr_tag_test",
            "--branch",
            "develop"
        ])
        .status
        .code(),
        Some(1)
    );
    assert_eq!(
        g.run(&["status", "--profile", "some-other-profile"])
            .status
            .code(),
        Some(2)
    );

    // Accept the stale one: it becomes an event, the window waived, the signature checked.
    let id = stale_req["id"].to_string();
    let accepted = g.json(&["requests", "accept", &id, "--json"]);
    assert_eq!(accepted["verdict"], "accepted");
    let again = g.run(&["requests", "accept", &id]);
    assert_eq!(
        again.status.code(),
        Some(3),
        "only stale requests can be accepted"
    );
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    let documented = g.json(&["events", "--json", "--endpoint", "documented"]);
    assert_eq!(
        documented[0]["delivery_id"],
        "ee81f55b-fd14-4f95-9e1f-f5bce3ad29e4"
    );
    assert_eq!(documented[0]["profile_name"], "pr_mr_tag_test");
    // The payload's own instant (read from the vector, not written here), kept to the
    // microsecond the store holds.
    let sent: Value =
        serde_json::from_slice(&std::fs::read(vector()).expect("vector")).expect("vector json");
    let instant = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a timestamp"))
            .expect("rfc3339")
            .to_utc()
    };
    let stored_at = instant(&documented[0]["occurred_at"]);
    let sent_at = instant(&sent["timestamp"]);
    assert!(
        (stored_at - sent_at).num_microseconds().map(i64::abs) < Some(1),
        "occurred_at {stored_at} is the payload's {sent_at}"
    );
    assert_eq!(
        g.json(&[
            "events",
            "--json",
            "--scope",
            "build",
            "--outcome",
            "started"
        ])
        .as_array()
        .map(Vec::len),
        Some(2)
    );

    // Back to green: the next build of that branch succeeds.
    g.ok(&[
        "send",
        &url,
        "--secret",
        SECRET,
        "--sample",
        "build-succeeded",
        "--profile",
        "pr_mr_tag_test",
        "--branch",
        "develop",
    ]);
    assert_eq!(g.run(&["status"]).status.code(), Some(0));

    assert!(
        server
            .log()
            .iter()
            .any(|l| l.contains("POST /hooks/ci 401 bad_signature"))
    );
    assert!(server.stop(), "serve exits cleanly on SIGTERM");
}

#[test]
fn endpoint_commands() {
    let g = Gatehouse::new();
    let secret = g.ok(&["endpoint", "add", "mobile"]);
    let secret = secret.trim();
    assert_eq!(
        secret.len(),
        64,
        "a generated secret is printed once: {secret}"
    );
    let list = g.json(&["endpoint", "list", "--json"]);
    assert_eq!(list[0]["name"], "mobile");
    assert_eq!(list[0]["secret_count"], 1);
    assert!(
        !list.to_string().contains(secret),
        "secrets are never listed"
    );

    let rotated = g.ok(&["endpoint", "rotate", "mobile"]);
    assert_eq!(rotated.trim().len(), 64);
    assert_eq!(
        g.json(&["endpoint", "list", "--json"])[0]["secret_count"],
        2
    );
    assert_eq!(
        g.run(&["endpoint", "rotate", "mobile"]).status.code(),
        Some(3),
        "two at most"
    );
    g.ok(&["endpoint", "retire-secret", "mobile"]);
    assert_eq!(
        g.json(&["endpoint", "list", "--json"])[0]["secret_count"],
        1
    );

    let dup = g.run(&["endpoint", "add", "mobile", "--secret", "whatever-secret"]);
    assert_eq!(dup.status.code(), Some(3));
    let bad = g.run(&[
        "endpoint",
        "add",
        "no/slashes",
        "--secret",
        "whatever-secret",
    ]);
    assert_eq!(bad.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid endpoint name"));
    g.ok(&["endpoint", "remove", "mobile"]);
    assert_eq!(
        g.json(&["endpoint", "list", "--json"]),
        Value::Array(vec![])
    );
    assert_eq!(
        g.run(&["endpoint", "remove", "mobile"]).status.code(),
        Some(3)
    );
}

#[test]
fn errors_are_one_line_and_never_a_panic() {
    let g = Gatehouse::new();
    for args in [
        vec!["events", "--scope", "nonsense"],
        vec!["requests", "accept", "42"],
        vec!["events", "show", "42"],
        vec![
            "send",
            "http://127.0.0.1:9/hooks/x",
            "--secret",
            "s",
            "--sample",
            "build-failed",
        ],
        vec![
            "send",
            "http://127.0.0.1:9/hooks/x",
            "--secret",
            "s",
            "--sample",
            "no-such-sample",
        ],
        vec!["serve", "--listen", "not-an-address"],
        vec!["no-such-command"],
    ] {
        let out = g.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert_eq!(
        g.run(&["status"]).status.code(),
        Some(2),
        "nothing yet: unknown"
    );
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let g = Gatehouse::new();
    let server = g.serve(&[]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let out = g.run(&["serve", "--listen", &addr]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already in use"));
}

#[test]
fn endpoint_urls_are_shown_only_while_a_gatehouse_listens() {
    let g = Gatehouse::new();
    g.ok(&["endpoint", "add", "ci", "--secret", SECRET]);
    let out = g.run(&["endpoint", "list"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !stdout.contains("http://"),
        "no URL nothing answers on: {stdout}"
    );
    assert!(stdout.contains("(not listening)"), "{stdout}");
    assert!(stderr.contains("No Gatehouse is listening"), "{stderr}");

    let server = g.serve(&[]);
    let listed = g.ok(&["endpoint", "list"]);
    assert!(listed.contains(&server.hook("ci")), "{listed}");

    // Killed without a chance to clean up: its record names a dead process.
    let mut server = server;
    server.kill();
    let listed = g.ok(&["endpoint", "list"]);
    assert!(listed.contains("(not listening)"), "{listed}");
}

#[test]
fn stored_text_cannot_drive_the_terminal() {
    let g = Gatehouse::new();
    g.ok(&["endpoint", "add", "ci", "--secret", SECRET]);
    let server = g.serve(&[]);
    let hostile = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m \u{202e}edirrevo";
    g.ok(&[
        "send",
        &server.hook("ci"),
        "--secret",
        SECRET,
        "--sample",
        "build-failed",
        "--message",
        hostile,
    ]);
    // An unsigned body with escape sequences, from anyone who can reach the endpoint.
    let (status, answer) = post(
        &server.hook("ci"),
        &[],
        "\u{1b}[31mred\u{7}\u{202e}x".as_bytes(),
    );
    assert_eq!(status, 401);
    let request_id = answer["request_id"].as_i64().expect("recorded").to_string();
    let is_safe = |s: &str| {
        !s.chars().any(|c| {
            matches!(c, '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
    };
    let events = g.ok(&["events"]);
    let shown = g.ok(&["events", "show", "1"]);
    let request = g.ok(&["requests", "show", &request_id]);
    for (what, text) in [
        ("events", &events),
        ("events show", &shown),
        ("requests show", &request),
    ] {
        assert!(is_safe(text), "{what} printed raw controls: {text:?}");
    }
    assert!(
        shown.contains("\\x1b]0;pwned\\x07") && shown.contains("\\u{202e}edirrevo"),
        "{shown}"
    );
    assert!(request.contains("\\x1b[31mred\\x07\\u{202e}x"), "{request}");
    // JSON stays exact: parsing it gives back the very characters.
    let json = g.json(&["events", "show", "1", "--json"]);
    assert_eq!(json["message"].as_str(), Some(hostile));
    assert!(is_safe(&g.ok(&["events", "show", "1", "--json"])));
}

#[test]
fn secrets_come_from_a_file_or_stdin_not_only_the_command_line() {
    let g = Gatehouse::new();
    let secret_file = g.data_dir().join("secret.txt");
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("write");
    let file = secret_file.to_str().expect("utf-8 path");
    g.ok(&["endpoint", "add", "ci", "--secret-file", file]);
    let server = g.serve(&[]);
    // From the file, then from stdin: both verify (the trailing newline is not the secret).
    let out = g.ok(&[
        "send",
        &server.hook("ci"),
        "--secret-file",
        file,
        "--sample",
        "build-succeeded",
    ]);
    assert!(out.starts_with("200"), "{out}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "send",
            &server.hook("ci"),
            "--secret",
            "-",
            "--sample",
            "build-failed",
        ])
        .env("GATEHOUSE_DATA_DIR", g.data_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{SECRET}").expect("secret on stdin");
    }
    let out = child.wait_with_output().expect("send");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("200"));
    let missing = g.run(&["send", &server.hook("ci"), "--sample", "build-failed"]);
    assert_eq!(missing.status.code(), Some(3));
}

#[test]
fn out_of_range_flags_are_refused_without_a_panic() {
    let g = Gatehouse::new();
    for args in [
        vec![
            "send",
            "http://127.0.0.1:9/hooks/x",
            "--secret",
            "s",
            "--sample",
            "build-failed",
            "--timestamp",
            "+200000000000d",
        ],
        vec![
            "send",
            "http://127.0.0.1:9/hooks/x",
            "--secret",
            "s",
            "--sample",
            "build-failed",
            "--timestamp",
            "-9223372036854775807s",
        ],
        vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--replay-window",
            "9223372036854775807",
        ],
        vec!["serve", "--listen", "127.0.0.1:0", "--replay-window", "-5"],
        vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--body-limit",
            "18446744073709551615",
        ],
    ] {
        let out = g.run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn a_limit_over_the_page_size_is_said_not_silently_cut() {
    let g = Gatehouse::new();
    let out = g.run(&["events", "--limit", "20000"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("10000"), "{stderr}");
}

#[test]
fn a_data_directory_others_can_read_draws_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let g = Gatehouse::new();
    std::fs::set_permissions(g.data_dir(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = g.run(&["endpoint", "list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("readable by other users"), "{stderr}");
    std::fs::set_permissions(g.data_dir(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let out = g.run(&["endpoint", "list"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("readable by other users"));
}

/// GitHub and GitLab endpoints beside an Appcircle one, against `gatehouse serve`: `send
/// --provider` signs (or authenticates) like the real sender, a redelivery is a duplicate,
/// and `status --provider`, `events --provider` and the gate see each sender.
#[test]
fn github_and_gitlab_endpoints_feed_the_same_gate() {
    let g = Gatehouse::new();
    g.ok(&["endpoint", "add", "mobile", "--secret", SECRET]);
    g.ok(&[
        "endpoint",
        "add",
        "backend",
        "--provider",
        "github",
        "--secret",
        SECRET,
    ]);
    g.ok(&[
        "endpoint",
        "add",
        "api",
        "--provider",
        "gitlab",
        "--secret",
        SECRET,
    ]);
    let list = g.json(&["endpoint", "list", "--json"]);
    let providers: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["provider"].as_str())
        .collect();
    assert_eq!(providers.len(), 3);
    assert!(providers.contains(&"github") && providers.contains(&"gitlab"));
    let server = g.serve(&[]);
    let send = |provider: &str, endpoint: &str, sample: &str, extra: &[&str]| {
        let url = server.hook(endpoint);
        let mut args = vec![
            "send",
            &url,
            "--provider",
            provider,
            "--secret",
            SECRET,
            "--sample",
            sample,
            "--json",
        ];
        args.extend_from_slice(extra);
        g.json(&args)
    };
    let sent = send(
        "github",
        "backend",
        "workflow-failed",
        &["--delivery-id", "gh-1"],
    );
    assert_eq!(sent["status_code"], 200);
    assert_eq!(sent["response"]["status"], "accepted");
    let again = send(
        "github",
        "backend",
        "workflow-failed",
        &["--delivery-id", "gh-1"],
    );
    assert_eq!(again["response"]["status"], "duplicate", "a redelivery");
    let pipeline = send("gitlab", "api", "pipeline-succeeded", &[]);
    assert_eq!(pipeline["response"]["status"], "accepted");
    // A file sent as GitHub sends it: signed, with its event and delivery headers.
    let body = gatehouse_core::receive::providers::github::sample_workflow_run(
        "acme/app",
        "release",
        900,
        "completed",
        Some("success"),
        chrono::Utc::now(),
    );
    let file = g.data_dir().join("run.json");
    std::fs::write(&file, body.to_string()).expect("write");
    let file = file.to_str().expect("path").to_owned();
    let url = server.hook("backend");
    let from_file = g.json(&[
        "send",
        &url,
        "--provider",
        "github",
        "--secret",
        SECRET,
        "--file",
        &file,
        "--event",
        "workflow_run",
        "--delivery-id",
        "gh-file",
        "--json",
    ]);
    assert_eq!(from_file["response"]["status"], "accepted", "{from_file}");
    assert_eq!(from_file["delivery_id"], "gh-file");
    let mobile = send("appcircle", "mobile", "build-succeeded", &[]);
    assert_eq!(mobile["response"]["status"], "accepted");
    // The wrong provider's signature on an endpoint proves nothing.
    let wrong = g.run(&[
        "send",
        &server.hook("backend"),
        "--secret",
        SECRET,
        "--sample",
        "build-failed",
    ]);
    assert_eq!(wrong.status.code(), Some(1));
    let refused = g.json(&["requests", "--endpoint", "backend", "--json"]);
    assert_eq!(
        refused[0]["verdict"], "missing_signature",
        "an Appcircle signature proves nothing to a GitHub endpoint: {refused}"
    );

    assert_eq!(
        g.run(&["status"]).status.code(),
        Some(1),
        "GitHub's failure"
    );
    assert_eq!(
        g.run(&["status", "--provider", "gitlab"]).status.code(),
        Some(0)
    );
    assert_eq!(
        g.run(&["status", "--provider", "github"]).status.code(),
        Some(1)
    );
    let gh = g.json(&["events", "--provider", "github", "--json"]);
    let gh = gh.as_array().expect("events");
    assert_eq!(
        gh.len(),
        2,
        "the failed run on main and the file's on release"
    );
    assert!(gh.iter().all(|e| e["provider"] == "github"));
    assert_eq!(gh[0]["profile_name"], "acme/app · CI");
    let out = g.run(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("acme/app · CI"), "{text}");
    assert!(server.stop());
}

//! `gatehouse account` and the sync in `serve`, black-box: the built binary against the
//! fake Appcircle (crates/core/tests/fake_appcircle, built from ../shared/appcircle/API.md)
//! and the fake GitHub (crates/core/tests/fake_github, built from docs/PROVIDER_APIS.md).

mod common;
#[path = "../crates/core/tests/fake_appcircle/mod.rs"]
mod fake_appcircle;
#[path = "../crates/core/tests/fake_github/mod.rs"]
mod fake_github;
#[path = "../crates/core/tests/fake_gitlab/mod.rs"]
mod fake_gitlab;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::Gatehouse;
use fake_appcircle::{KEY_NAME, KEY_SECRET, PERSONAL_ACCESS_KEY};
use gatehouse_core::clock::Clock;
use serde_json::Value;

/// The fake on its own runtime, for as long as the test holds it; its dates are offsets from
/// the system's clock, which the binary under test reads.
fn fake(
    profiles: usize,
    branches: usize,
) -> (tokio::runtime::Runtime, fake_appcircle::Shared, SocketAddr) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (fake, addr) = rt.block_on(fake_appcircle::start(profiles, branches, Clock::system()));
    (rt, fake, addr)
}

fn hosts(addr: SocketAddr) -> [String; 4] {
    let url = format!("http://{addr}");
    ["--api-host".into(), url.clone(), "--auth-host".into(), url]
}

fn connect_api_key(g: &Gatehouse, addr: SocketAddr, secret: &str) -> std::process::Output {
    let file = g.secret_file("appcircle-secret", secret);
    let file = file.to_str().expect("path");
    let hosts = hosts(addr);
    let mut args = vec![
        "account",
        "connect",
        "--api-key",
        KEY_NAME,
        "--secret-file",
        file,
    ];
    args.extend(hosts.iter().map(String::as_str));
    g.run(&args)
}

#[test]
fn the_cli_connects_syncs_and_reports_an_account() {
    let (_rt, fake, addr) = fake(2, 2);
    let g = Gatehouse::new();

    // A refused key: exit 3, said clearly, nothing kept, and the secret never printed.
    let out = connect_api_key(&g, addr, "wrong-secret");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused the API key `gatehouse`") && stderr.contains("HTTP 401"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-secret"), "{stderr}");
    assert_eq!(g.json(&["account", "status", "--json"]), Value::Null);

    let out = connect_api_key(&g, addr, KEY_SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Connected"));

    // One sync now: what changed is printed, and the gate sees it.
    let out = g.run(&["account", "sync"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("branch-").count(), 4, "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Synced: 4 new"));
    assert_eq!(
        g.run(&["status"]).status.code(),
        Some(1),
        "each profile's branch-0 failed"
    );
    let events = g.json(&["events", "--json"]);
    let events = events.as_array().expect("events");
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| e["source"] == "synced"));

    let status = g.json(&["account", "status", "--json"]);
    assert_eq!(status["key"]["name"], KEY_NAME);
    assert!(status["sync"]["last_success"].is_string());
    assert_eq!(status["sync"]["events"], 4);
    assert!(
        !status.to_string().contains(KEY_SECRET),
        "the status never holds the key"
    );

    // Nothing new: nothing printed, still exit 0.
    let out = g.run(&["account", "sync", "--json"]);
    assert!(out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["report"]["events"], 0);

    // An answer of an unexpected shape: exit 3 with what was expected, kept in the status.
    fake.behaviour.lock().expect("lock").odd_shape = true;
    let out = g.run(&["account", "sync"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("a list of build profiles"), "{stderr}");
    let text = g.ok(&["account", "status"]);
    assert!(
        text.contains("failed: GET") && text.contains("a list of build profiles"),
        "{text}"
    );
    fake.behaviour.lock().expect("lock").odd_shape = false;

    // Disconnected: no account, the history stays. A personal access key connects too.
    g.ok(&["account", "disconnect"]);
    assert_eq!(g.json(&["account", "status", "--json"]), Value::Null);
    assert_eq!(
        g.json(&["events", "--json"]).as_array().map(Vec::len),
        Some(4)
    );
    let file = g.secret_file("pak", PERSONAL_ACCESS_KEY);
    let hosts = hosts(addr);
    let mut args = vec![
        "account",
        "connect",
        "--personal-access-key-file",
        file.to_str().expect("path"),
    ];
    args.extend(hosts.iter().map(String::as_str));
    g.ok(&args);
    assert_eq!(
        g.json(&["account", "status", "--json"])["key"]["kind"],
        "personal_access_key"
    );
    g.ok(&["account", "disconnect"]);
}

/// A running `serve` syncs a connected account by itself: one connected beside it (the CLI,
/// another process) within seconds, and at its next start.
#[test]
fn serve_syncs_on_its_own_schedule() {
    let (rt, fake, addr) = fake(1, 1);
    let g = Gatehouse::new();
    let server = g.serve(&[]);
    let out = connect_api_key(&g, addr, KEY_SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let synced_events = |want: usize| {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let events = g.json(&["events", "--json"]);
            if events.as_array().is_some_and(|e| e.len() >= want) {
                return;
            }
            assert!(Instant::now() < until, "serve did not sync within 15 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    synced_events(1);
    assert!(
        server
            .log()
            .iter()
            .any(|l| l.contains("appcircle sync: 1 new events")),
        "{:?}",
        server.log()
    );
    assert!(server.stop(), "serve stopped cleanly");

    // The branch built again while serve was down: the next start reads it.
    {
        let mut account = fake.account.lock().expect("lock");
        let profile = &mut account.profiles[0];
        profile.last_build_date = fake.minutes_ago(1);
        profile.branches[0].last_build_date = fake.minutes_ago(1);
        profile.branches[0].build_id = "p0b0-next".into();
        profile.branches[0].status = 0;
    }
    let server = g.serve(&[]);
    synced_events(2);
    assert_eq!(g.run(&["status"]).status.code(), Some(0), "back to green");

    // Another account, connected by the CLI beside the running serve: serve drops the old
    // account's client and reads the new one within seconds.
    let other = rt.block_on(fake_appcircle::start(1, 1, Clock::system()));
    {
        let mut account = other.0.account.lock().expect("lock");
        let p = &mut account.profiles[0];
        p.id = "q0".into();
        p.branches[0].id = "q0b0".into();
        p.branches[0].build_id = "q0b0-latest".into();
    }
    let first_calls = fake.api_calls();
    let out = connect_api_key(&g, other.1, KEY_SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    synced_events(3);
    let events = g.json(&["events", "--json"]);
    assert!(
        events
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["profile_id"] == "q0"),
        "{events}"
    );
    assert_eq!(
        fake.api_calls(),
        first_calls,
        "the old account is not read any more"
    );
    assert!(server.stop(), "serve stopped cleanly");
    g.ok(&["account", "disconnect"]);
}

/// A GitHub token and a repository are all it takes: no endpoint, no public URL. `serve`
/// reads the repository within seconds of the CLI connecting it beside it, and, while a run
/// runs, every 15 s, so that its failure fails the gate within 20 s.
#[test]
fn serve_follows_github_with_a_token_alone() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (fake, addr) = rt.block_on(fake_github::start(Clock::system()));
    fake.add_run(
        "acme/app",
        fake.run(7001, "CI", "main", "completed", Some("success"), 30),
    );
    fake.add_run(
        "acme/app",
        fake.run(7002, "CI", "main", "in_progress", None, 1),
    );
    let g = Gatehouse::new();
    let url = format!("http://{addr}");
    let connect = |token: &str| {
        let file = g.secret_file("github-token", token);
        g.run(&[
            "account",
            "connect",
            "--provider",
            "github",
            "--token-file",
            file.to_str().expect("path"),
            "--repo",
            "acme/app",
            "--api-host",
            &url,
        ])
    };
    // A refused token: exit 3, said, not printed, nothing kept.
    let out = connect("ghp_wrong");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused the token") && !stderr.contains("ghp_wrong"),
        "{stderr}"
    );
    assert_eq!(
        g.json(&["account", "status", "--provider", "github", "--json"]),
        serde_json::json!([])
    );

    let server = g.serve(&[]);
    let out = connect(fake_github::TOKEN);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wait_for = |what: &str, seconds: u64, done: &dyn Fn() -> bool| {
        let until = Instant::now() + Duration::from_secs(seconds);
        while !done() {
            assert!(
                Instant::now() < until,
                "{what} within {seconds} s: {:?}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let events = || g.json(&["events", "--json"]).as_array().map_or(0, Vec::len);
    wait_for("serve read the repository", 15, &|| events() == 2);
    assert_eq!(
        g.run(&["status"]).status.code(),
        Some(0),
        "its last end passed"
    );

    // The running run fails at GitHub: serve's next read (15 s apart while running) finds it.
    fake.set_run("acme/app", 7002, "completed", Some("failure"));
    wait_for("the failure", 20, &|| {
        g.run(&["status"]).status.code() == Some(1)
    });
    let listed = g.json(&["events", "--json"]);
    let failed = listed
        .as_array()
        .and_then(|e| e.iter().find(|e| e["outcome"] == "failed"))
        .expect("the failure");
    assert_eq!(failed["provider"], "github");
    assert_eq!(failed["source"], "synced");
    assert_eq!(failed["profile_name"], "acme/app · CI");

    let status = g.json(&["account", "status", "--provider", "github", "--json"]);
    assert_eq!(status[0]["repos"], serde_json::json!(["acme/app"]));
    assert_eq!(status[0]["name"], "GitHub account at 127.0.0.1");
    assert!(status[0]["sync"]["error"].is_null(), "{status}");
    let text = g.ok(&["account", "status", "--provider", "github"]);
    assert!(text.contains("Repositories: acme/app"), "{text}");
    assert!(!text.contains(fake_github::TOKEN), "{text}");
    // A sync now: nothing new, an unchanged answer.
    let report = g.json(&["account", "sync", "--provider", "github", "--json"]);
    assert_eq!(report["report"]["events"], 0, "{report}");
    assert!(fake.not_modified() >= 1, "conditional requests");
    assert!(server.stop(), "serve stopped cleanly");
    g.ok(&["account", "disconnect", "--provider", "github"]);
    assert_eq!(
        g.json(&["account", "status", "--provider", "github", "--json"]),
        serde_json::json!([])
    );
    assert_eq!(events(), 3, "what was read stays");
}

/// GitLab the same way: a token and a project (by path), read by `account sync`.
#[test]
fn the_cli_follows_a_gitlab_project_with_a_token() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (fake, addr) = rt.block_on(fake_gitlab::start(Clock::system()));
    fake.add(501, "running", 5);
    fake.set(501, "failed", Some(80));
    let g = Gatehouse::new();
    let file = g.secret_file("gitlab-token", fake_gitlab::TOKEN);
    let url = format!("http://{addr}");
    let connect = |flag: &str| {
        g.run(&[
            "account",
            "connect",
            "--provider",
            "gitlab",
            "--token-file",
            file.to_str().expect("path"),
            flag,
            fake_gitlab::PROJECT,
            "--api-host",
            &url,
        ])
    };
    let out = connect("--repo");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("GitLab follows projects"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = connect("--project");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = g.json(&["account", "sync", "--provider", "gitlab", "--json"]);
    assert_eq!(report["report"]["events"], 1, "{report}");
    assert_eq!(report["events"][0]["provider"], "gitlab");
    assert_eq!(report["events"][0]["outcome"], "failed");
    assert_eq!(g.run(&["status"]).status.code(), Some(1));
    let status = g.json(&["account", "status", "--provider", "gitlab", "--json"]);
    assert_eq!(
        status[0]["repos"],
        serde_json::json!([fake_gitlab::PROJECT])
    );
    assert_eq!(
        g.json(&["account", "status", "--provider", "github", "--json"]),
        serde_json::json!([])
    );
    g.ok(&["account", "disconnect", "--provider", "gitlab"]);
}

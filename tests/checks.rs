//! `gatehouse checks` and `status --commit`, the real binary against a real `serve`: one
//! commit built on Appcircle (read by the account from a fake Appcircle, then told by
//! webhook), tested on GitHub Actions and shipped to TestFlight, over real HTTP into a real
//! SQLite file, locally and from another machine with `--remote`. The binary reads the
//! system's clock; every date here is relative to it.

mod common;
#[path = "../crates/core/tests/fake_appcircle/mod.rs"]
mod fake_appcircle;

use std::net::SocketAddr;

use common::Gatehouse;
use fake_appcircle::{KEY_NAME, KEY_SECRET, commit_of, sha_of};
use gatehouse_core::clock::Clock;
use serde_json::{Value, json};

const AC_SECRET: &str = "appcircle-webhook-secret-for-checks";
const GH_SECRET: &str = "github-webhook-secret-for-checks";
const BUILD: &str = "p0b0-latest";
const BRANCH: &str = "release/2.4";

fn fake() -> (tokio::runtime::Runtime, fake_appcircle::Shared, SocketAddr) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (fake, addr) = rt.block_on(fake_appcircle::start(1, 1, Clock::system()));
    fake.release(BRANCH, true);
    (rt, fake, addr)
}

fn appcircle(hook: &str, title: &str, item: Value) {
    common::commit::appcircle(hook, AC_SECRET, title, item);
}

fn workflow(hook: &str, sha: &str, attempt: u32, conclusion: Option<&str>) {
    common::commit::workflow(hook, GH_SECRET, BRANCH, sha, attempt, conclusion);
}

#[test]
fn a_commits_checks_gate_a_release_in_the_cli_locally_and_remotely() {
    let (_rt, _fake, addr) = fake();
    let g = Gatehouse::new();
    g.connect_appcircle(addr, KEY_NAME, KEY_SECRET);
    g.add_endpoints(&[("ac", "appcircle", AC_SECRET), ("gh", "github", GH_SECRET)]);
    let token = g.ok(&["token", "add", "release-job"]).trim().to_owned();
    let server = g.serve(&[]);
    let sha = sha_of(BUILD);
    let short = &sha[..7];
    let code = |args: &[&str]| g.run(args).status.code();

    // Building on Appcircle, testing on GitHub Actions: pending.
    workflow(&server.hook("gh"), &sha, 1, None);
    assert_eq!(code(&["status", "--commit", short]), Some(2));
    let c = g.json(&["checks", short, "--json"]);
    assert_eq!(c["sha"], sha.as_str());
    assert_eq!(c["summary"], "0 of 2 checks passed, 2 running");

    // The tests fail, then a re-run runs and passes, and so does the build.
    workflow(&server.hook("gh"), &sha, 1, Some("failure"));
    assert_eq!(code(&["status", "--commit", short]), Some(1));
    workflow(&server.hook("gh"), &sha, 2, None);
    assert_eq!(code(&["status", "--commit", short]), Some(2));
    workflow(&server.hook("gh"), &sha, 2, Some("success"));
    appcircle(
        &server.hook("ac"),
        "Build Success",
        json!({"taskId": "task-1", "profileId": "p0", "branchId": "p0b0", "buildId": BUILD,
               "commitId": commit_of(BUILD)}),
    );
    assert_eq!(code(&["status", "--commit", short]), Some(0));

    // Release branches also need the TestFlight submission.
    g.ok(&[
        "checks",
        "require",
        "release/*",
        "build: Acme iOS",
        "github: acme/app · CI",
        "publish_to_stores: Acme iOS",
    ]);
    let rules = g.json(&["checks", "rules", "--json"]);
    assert_eq!(rules[0]["branch"], "release/*");
    assert_eq!(code(&["status", "--commit", short]), Some(2), "missing");
    appcircle(
        &server.hook("ac"),
        "Publish Flow Succeeded",
        json!({"profileId": "pub-1", "profileName": "Acme iOS", "buildId": BUILD}),
    );
    assert_eq!(code(&["status", "--commit", &sha]), Some(0));
    // Each event's detail names its commit, Appcircle's too (by its commit GUID, by its build).
    let events = g.json(&["events", "--json", "--limit", "20"]);
    for e in events.as_array().expect("events") {
        let id = e["id"].as_i64().expect("id").to_string();
        let shown = g.json(&["events", "show", &id, "--json"]);
        assert_eq!(shown["commit_sha"], sha.as_str(), "{shown}");
    }
    let table = g.ok(&["checks", short]);
    for line in [
        &format!("Commit {short} on {BRANCH}: READY (3 of 3 checks passed)"),
        "build: Acme iOS",
        "github: acme/app · CI",
        "publish_to_stores: Acme iOS",
        "https://github.com/acme/app/actions/runs/101",
    ] {
        assert!(table.contains(line), "{line} in:\n{table}");
    }
    let list = g.ok(&["checks", "--branch", BRANCH]);
    assert!(
        list.contains(short) && list.contains("3 of 3 checks passed"),
        "{list}"
    );
    for (filter, value, listed) in [
        ("--branch", "main", false),
        ("--repository", "acme/app", true),
        ("--repository", "Acme iOS", true),
        ("--repository", "acme/other", false),
    ] {
        let list = g.ok(&["checks", filter, value]);
        assert_eq!(list.contains(short), listed, "{filter} {value}: {list}");
    }

    // The rule can go again; a rule that is not there cannot.
    g.ok(&["checks", "require", "release/*", "--clear"]);
    let rules = g.ok(&["checks", "rules"]);
    assert!(rules.contains("No rules"), "{rules}");
    assert_eq!(
        code(&["checks", "require", "release/*", "--clear"]),
        Some(3)
    );
    assert_eq!(
        code(&["checks", "require", "release/*"]),
        Some(64),
        "no checks named"
    );

    // From a machine with no data of its own: the same answer, the same exit codes.
    let job = Gatehouse::new();
    let token_file = job.secret_file("token", &token);
    let remote = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--remote", &server.base, "--token-file"]);
        all.push(token_file.to_str().expect("path"));
        job.run(&all)
    };
    assert_eq!(
        remote(&["status", "--commit", short]).status.code(),
        Some(0)
    );
    let answer: Value =
        serde_json::from_slice(&remote(&["checks", short, "--json"]).stdout).expect("json");
    assert_eq!(answer["state"], "ready");

    // An unknown commit is pending with a message; a malformed one is an error.
    let unknown = g.run(&["status", "--commit", &"f".repeat(40)]);
    assert_eq!(unknown.status.code(), Some(2));
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(said.contains("no check has reported for commit"), "{said}");
    let unknown = remote(&["status", "--commit", "1234567"]);
    assert_eq!(unknown.status.code(), Some(2), "also from afar");
    assert_eq!(code(&["status", "--commit", "abc"]), Some(3));
    g.ok(&["account", "disconnect"]);
}

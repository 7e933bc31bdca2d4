//! One commit's reports as its senders make them, signed and posted to a hook: Appcircle's
//! webhook (its build, its store submission) and GitHub's `workflow_run` for acme/app's CI.
//! Dated by the system's clock, which the binary reads.

use chrono::Utc;
use gatehouse_core::receive::signature::sign;
use gatehouse_core::send::samples::dotnet_timestamp;
use serde_json::{Value, json};

use super::post;

/// An Appcircle webhook titled `title` with `item`, signed with `secret`.
pub fn appcircle(hook: &str, secret: &str, title: &str, item: Value) {
    let body = json!({
        "deliveryId": format!("{title} {item}"),
        "timestamp": dotnet_timestamp(Utc::now()),
        "title": title,
        "message": title,
        "item": item,
        "links": {"detail": "https://my.appcircle.io/build/detail"},
    })
    .to_string();
    let sig = sign(secret.as_bytes(), body.as_bytes());
    let (status, answer) = post(hook, &[("ac_signature", &sig)], body.as_bytes());
    assert_eq!(status, 200, "{answer}");
}

/// GitHub's `workflow_run` of attempt `attempt` of run 101 of acme/app's CI on `branch` for
/// commit `sha`: in progress, or completed with `conclusion`.
pub fn workflow(
    hook: &str,
    secret: &str,
    branch: &str,
    sha: &str,
    attempt: u32,
    conclusion: Option<&str>,
) {
    let now = Utc::now().to_rfc3339();
    let body = json!({
        "action": if conclusion.is_some() { "completed" } else { "in_progress" },
        "workflow_run": {
            "id": 101, "name": "CI", "path": ".github/workflows/ci.yml", "head_branch": branch,
            "head_sha": sha, "run_number": 7, "run_attempt": attempt,
            "status": if conclusion.is_some() { "completed" } else { "in_progress" },
            "conclusion": conclusion, "run_started_at": now, "created_at": now, "updated_at": now,
            "html_url": "https://github.com/acme/app/actions/runs/101",
        },
        "repository": {"id": 42, "full_name": "acme/app"},
        "sender": {"login": "octocat"},
    })
    .to_string();
    let sig = format!("sha256={}", sign(secret.as_bytes(), body.as_bytes()));
    let delivery = format!("{sha}-{attempt}-{conclusion:?}");
    let (status, answer) = post(
        hook,
        &[
            ("X-GitHub-Event", "workflow_run"),
            ("X-GitHub-Delivery", &delivery),
            ("X-Hub-Signature-256", &sig),
        ],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
}

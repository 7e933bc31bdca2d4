//! GitHub's webhooks (../shared/providers/GITHUB_GITLAB.md): signed with
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`, identified by
//! `X-GitHub-Delivery` (a redelivery keeps it), named by `X-GitHub-Event`, and not dated:
//! GitHub sends no timestamp, so there is no replay window and the delivery id is the
//! replay protection. A workflow run is a build of its repository's workflow on its branch;
//! its jobs, check runs and suites are shown, not gated; `ping` says the webhook is connected.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Headers, Origin, Parsed, Reading, Refused, first, refusal, text, values};
use crate::model::{Outcome, Provider, Scope, Subject, Verdict, git_sha};
use crate::receive::signature;
use crate::time::parse_liberal;

/// The signature header (lowercase, as headers are read).
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The legacy SHA-1 signature, not accepted (named in the refusal when it alone came).
const LEGACY_HEADER: &str = "x-hub-signature";
pub const DELIVERY_HEADER: &str = "x-github-delivery";
pub const EVENT_HEADER: &str = "x-github-event";
/// The signature's algorithm prefix.
const PREFIX: &str = "sha256=";
/// What the refusals call the header.
const NAME: &str = "X-Hub-Signature-256";
const FORM: &str = "sha256= and 64 hex digits";

/// Checks the one `X-Hub-Signature-256` against every secret, in constant time.
pub fn verify(
    secrets: &[&[u8]],
    proofs: &[&str],
    headers: &Headers,
    body: &[u8],
) -> Result<(), Refused> {
    if proofs.is_empty()
        && let Some(why) = missing_reason(headers)
    {
        return Err((Verdict::MissingSignature, why));
    }
    let header = signature::single_header(proofs).map_err(|e| refusal(e, NAME, FORM))?;
    let header = header.trim();
    if header.is_empty() {
        return Err(refusal(signature::SignatureError::Missing, NAME, FORM));
    }
    let Some(hex) = header.strip_prefix(PREFIX) else {
        // Named only when it is an algorithm's name (`sha1`), never the value itself.
        let algorithm = header
            .split_once('=')
            .map(|(a, _)| a)
            .filter(|a| a.len() <= 10 && a.bytes().all(|b| b.is_ascii_alphanumeric()));
        let why = match algorithm {
            Some(a) => format!("{NAME} must start with {PREFIX}, not `{a}=`"),
            None => format!("{NAME} must start with {PREFIX}"),
        };
        return Err((Verdict::BadSignature, why));
    };
    signature::verify(secrets, body, hex)
        .map(|_| ())
        .map_err(|e| refusal(e, NAME, FORM))
}

/// Why a request without `X-Hub-Signature-256` was refused, when GitHub sent only the
/// legacy SHA-1 header (a webhook without a secret sends neither).
fn missing_reason(headers: &Headers) -> Option<String> {
    (!values(headers, LEGACY_HEADER).is_empty()).then(|| {
        format!("missing {NAME} header (only the legacy SHA-1 X-Hub-Signature came; Gatehouse checks SHA-256)")
    })
}

/// Reads a proven delivery.
pub fn read(headers: &Headers, body: &[u8], received_at: DateTime<Utc>) -> Result<Parsed, Refused> {
    let malformed = |why: String| (Verdict::Malformed, why);
    let delivery_id = first(headers, DELIVERY_HEADER)
        .ok_or_else(|| malformed("missing X-GitHub-Delivery header".into()))?
        .to_owned();
    let event = first(headers, EVENT_HEADER)
        .ok_or_else(|| malformed("missing X-GitHub-Event header".into()))?
        .to_owned();
    let value = super::object(body)?;
    let action = text(&value, &["action"]);
    let repo = text(&value, &["repository", "full_name"]);
    let read = match event.as_str() {
        "workflow_run" => workflow_run(&value, repo.as_deref()),
        "workflow_job" => workflow_job(&value, repo.as_deref()),
        "check_run" | "check_suite" => check(&value, &event, repo.as_deref()),
        "ping" => Reading {
            title: "Webhook connected".into(),
            message: text(&value, &["zen"]),
            outcome: Outcome::Info,
            scope: Scope::Other,
            subject: Subject {
                profile_name: repo.clone(),
                ..Subject::default()
            },
            at: None,
            started_at: None,
            link: None,
        },
        other => Reading {
            title: match &action {
                Some(a) => format!("{other} {a}"),
                None => other.to_owned(),
            },
            message: repo.as_ref().map(|r| format!("in {r}")),
            outcome: Outcome::Info,
            scope: Scope::Other,
            subject: Subject {
                profile_name: repo.clone(),
                ..Subject::default()
            },
            at: None,
            started_at: None,
            link: text(&value, &["repository", "html_url"]),
        },
    };
    let origin = Origin {
        provider: Provider::Github,
        delivery_id,
        action: match &action {
            Some(a) => format!("{event}|{a}"),
            None => event.clone(),
        },
        module: Some(event),
        received_at,
    };
    Ok(read.into_read(origin, value))
}

fn time(value: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    text(value, path).as_deref().and_then(parse_liberal)
}

/// A run's, job's or check's outcome and the words for it, from its `status` and
/// `conclusion`: anything not completed has started (queued, waiting, in progress); a
/// completed one is what its conclusion says. `action_required` is no news for the gate (it
/// waits for someone's approval, it neither passed nor failed), `neutral` a success, `stale`
/// a cancellation (it never finished), `skipped` no news.
pub fn outcome(status: Option<&str>, conclusion: Option<&str>) -> (Outcome, String) {
    if status.is_some_and(|s| s != "completed") && conclusion.is_none() {
        let words = match status {
            Some("in_progress") => "started",
            Some("waiting") => "is waiting",
            _ => "is queued",
        };
        return (Outcome::Started, words.into());
    }
    let (outcome, words) = match conclusion.unwrap_or_default() {
        "success" => (Outcome::Succeeded, "succeeded"),
        "failure" => (Outcome::Failed, "failed"),
        "startup_failure" => (Outcome::Failed, "failed to start"),
        "cancelled" => (Outcome::Canceled, "was cancelled"),
        "timed_out" => (Outcome::TimedOut, "timed out"),
        // Waiting for someone's approval: not an end the gate can pass or fail on.
        "action_required" => (Outcome::Info, "needs action"),
        "neutral" => (Outcome::Succeeded, "ended neutral"),
        "stale" => (Outcome::Canceled, "went stale"),
        "skipped" => (Outcome::Info, "was skipped"),
        // Check runs name these as conclusions too: not over yet.
        "waiting" | "pending" => (Outcome::Started, "is waiting"),
        "" => (Outcome::Info, "completed"),
        other => return (Outcome::Info, format!("completed ({other})")),
    };
    (outcome, words.into())
}

/// "owner/repo · CI": where a workflow's runs are shown.
fn workflow_name(repo: Option<&str>, workflow: Option<String>) -> Option<String> {
    match (repo, workflow) {
        (Some(r), Some(w)) => Some(format!("{r} · {w}")),
        (Some(r), None) => Some(r.to_owned()),
        (None, w) => w,
    }
}

/// A workflow run: the stream is repository × workflow × branch.
fn workflow_run(value: &Value, repo: Option<&str>) -> Reading {
    let run = value.get("workflow_run").unwrap_or(&Value::Null);
    let (outcome, words) = outcome(
        text(run, &["status"]).as_deref(),
        text(run, &["conclusion"]).as_deref(),
    );
    let workflow = text(run, &["name"]).or_else(|| text(value, &["workflow", "name"]));
    // The workflow's file (or id) keeps its stream when the workflow is renamed.
    let workflow_key = text(run, &["path"])
        .or_else(|| text(run, &["workflow_id"]))
        .or_else(|| workflow.clone());
    let run_id = text(run, &["id"]);
    let attempt = text(run, &["run_attempt"]).unwrap_or_else(|| "1".into());
    // The repository's id keeps its streams when it is renamed.
    let repo_key = text(value, &["repository", "id"]).or_else(|| repo.map(str::to_owned));
    // A pull request from a fork runs on the fork's branch: `main` of a fork is not `main`.
    let head_repo = text(run, &["head_repository", "full_name"]);
    let branch = match (text(run, &["head_branch"]), head_repo) {
        (Some(b), Some(fork)) if Some(fork.as_str()) != repo => {
            let owner = fork.split('/').next().unwrap_or(&fork).to_owned();
            Some(format!("{owner}:{b}"))
        }
        (b, _) => b,
    };
    let started_at = time(run, &["run_started_at"]).or_else(|| time(run, &["created_at"]));
    let at = if outcome == Outcome::Started {
        started_at.or_else(|| time(run, &["updated_at"]))
    } else {
        time(run, &["updated_at"])
    };
    let number = text(run, &["run_number"])
        .map(|n| format!(" #{n}"))
        .unwrap_or_default();
    let by = text(run, &["triggering_actor", "login"])
        .or_else(|| text(run, &["actor", "login"]))
        .map(|a| format!(", by {a}"))
        .unwrap_or_default();
    Reading {
        title: format!("Workflow {words}"),
        message: Some(format!(
            "{}{number}{by}",
            text(run, &["display_title"]).unwrap_or_else(|| "Run".into())
        )),
        outcome,
        scope: Scope::Build,
        subject: Subject {
            profile_id: match (repo_key, workflow_key) {
                (Some(r), Some(w)) => Some(format!("{r}/{w}")),
                (_, w) => w,
            },
            profile_name: workflow_name(repo, workflow),
            branch_id: None,
            branch_name: branch,
            // One run attempt is one run: its start and end pair by it (and its jobs).
            task_id: run_id.as_ref().map(|id| run_key(id, &attempt)),
            build_id: run_id,
            commit_sha: text(run, &["head_sha"]).as_deref().and_then(git_sha),
            commit_id: text(run, &["head_sha"]),
        },
        at,
        started_at,
        link: text(run, &["html_url"]),
    }
}

/// What a run attempt's events (its start, its end, its jobs) share: the run's key in the
/// build runs, named so that no other provider's can be the same.
fn run_key(run_id: &str, attempt: &str) -> String {
    format!("github:{run_id}/{attempt}")
}

/// A job of a run: shown beside its run (same names), not a stream of its own.
fn workflow_job(value: &Value, repo: Option<&str>) -> Reading {
    let job = value.get("workflow_job").unwrap_or(&Value::Null);
    let (outcome, words) = outcome(
        text(job, &["status"]).as_deref(),
        text(job, &["conclusion"]).as_deref(),
    );
    let name = text(job, &["name"]).unwrap_or_else(|| "job".into());
    Reading {
        title: format!("Job {name} {words}"),
        message: text(job, &["run_id"]).map(|id| format!("in workflow run {id}")),
        outcome,
        scope: Scope::Other,
        subject: Subject {
            profile_name: workflow_name(repo, text(job, &["workflow_name"])),
            branch_name: text(job, &["head_branch"]),
            task_id: text(job, &["run_id"]).map(|id| {
                run_key(
                    &id,
                    &text(job, &["run_attempt"]).unwrap_or_else(|| "1".into()),
                )
            }),
            build_id: text(job, &["id"]),
            commit_sha: text(job, &["head_sha"]).as_deref().and_then(git_sha),
            commit_id: text(job, &["head_sha"]),
            ..Subject::default()
        },
        at: time(job, &["completed_at"]).or_else(|| time(job, &["started_at"])),
        started_at: time(job, &["started_at"]),
        link: text(job, &["html_url"]),
    }
}

/// A check run or suite: shown, not gated (the workflow run it belongs to is).
fn check(value: &Value, event: &str, repo: Option<&str>) -> Reading {
    let check = value.get(event).unwrap_or(&Value::Null);
    let (outcome, words) = outcome(
        text(check, &["status"]).as_deref(),
        text(check, &["conclusion"]).as_deref(),
    );
    let name = text(check, &["name"])
        .or_else(|| text(check, &["app", "name"]))
        .unwrap_or_else(|| "check".into());
    let branch =
        text(check, &["head_branch"]).or_else(|| text(check, &["check_suite", "head_branch"]));
    Reading {
        title: format!("Check {name} {words}"),
        message: repo.map(|r| format!("in {r}")),
        outcome,
        scope: Scope::Other,
        subject: Subject {
            profile_name: repo.map(str::to_owned),
            branch_name: branch,
            build_id: text(check, &["id"]),
            commit_sha: text(check, &["head_sha"]).as_deref().and_then(git_sha),
            commit_id: text(check, &["head_sha"]),
            ..Subject::default()
        },
        at: time(check, &["completed_at"])
            .or_else(|| time(check, &["updated_at"]))
            .or_else(|| time(check, &["started_at"])),
        started_at: time(check, &["started_at"]),
        link: text(check, &["html_url"]),
    }
}

/// A sample body for `gatehouse send --provider github` and the tests: a `workflow_run`
/// of `repo`'s CI on `branch`, with `status` and `conclusion`.
pub fn sample_workflow_run(
    repo: &str,
    branch: &str,
    run_id: u64,
    status: &str,
    conclusion: Option<&str>,
    at: DateTime<Utc>,
) -> Value {
    let started = crate::time::to_text(at - chrono::Duration::seconds(95));
    let now = crate::time::to_text(at);
    let action = match status {
        "completed" => "completed",
        "in_progress" => "in_progress",
        _ => "requested",
    };
    json!({
        "action": action,
        "workflow_run": {
            "id": run_id, "name": "CI", "display_title": "Add the release notes",
            "head_branch": branch, "head_sha": "9f1c2e4b7a", "path": ".github/workflows/ci.yml",
            "workflow_id": 161335, "event": "push", "status": status, "conclusion": conclusion,
            "run_number": 42, "run_attempt": 1, "run_started_at": started,
            "created_at": started, "updated_at": now,
            "html_url": format!("https://github.com/{repo}/actions/runs/{run_id}"),
            "actor": {"login": "octocat"}, "triggering_actor": {"login": "octocat"}
        },
        "workflow": {"id": 161335, "name": "CI", "path": ".github/workflows/ci.yml"},
        "repository": {"id": 1296269, "full_name": repo, "html_url": format!("https://github.com/{repo}")}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock these readings are made at: a fixed time, handed to `read` as its now.
    fn now() -> DateTime<Utc> {
        parse_liberal("2026-11-30T10:05:00Z").expect("a fixed now")
    }

    fn headers(event: &str, delivery: &str) -> Vec<(String, String)> {
        vec![
            (EVENT_HEADER.into(), event.into()),
            (DELIVERY_HEADER.into(), delivery.into()),
        ]
    }

    #[test]
    fn the_published_vector_verifies_with_its_prefix_and_nothing_else_does() {
        let body = include_bytes!("../../../tests/vectors/github-hello-world.txt");
        let secret: &[u8] = b"It's a Secret to Everybody";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(verify(&[secret], &[good], &[], body), Ok(()));
        // No prefix, the wrong algorithm, two headers, none, another secret.
        let bare = &good[PREFIX.len()..];
        let refused = |proofs: &[&str], secrets: &[&[u8]]| verify(secrets, proofs, &[], body).err();
        let (verdict, why) = refused(&[bare], &[secret]).expect("no prefix");
        assert_eq!(verdict, Verdict::BadSignature);
        assert!(why.contains("must start with sha256="), "{why}");
        let sha1 = "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59";
        let (_, why) = refused(&[sha1], &[secret]).expect("sha1");
        assert!(why.contains("not `sha1=`"), "{why}");
        let (verdict, why) = refused(&[&format!("{bare}={bare}")], &[secret]).expect("odd");
        assert_eq!(verdict, Verdict::BadSignature);
        assert!(!why.contains(bare), "a value is never echoed: {why}");
        let (verdict, _) = refused(&[" "], &[secret]).expect("empty");
        assert_eq!(
            verdict,
            Verdict::MissingSignature,
            "an empty header is none"
        );
        let (_, why) = refused(&[good, good], &[secret]).expect("two");
        assert!(why.contains("more than one X-Hub-Signature-256"), "{why}");
        let (verdict, _) = refused(&[], &[secret]).expect("none");
        assert_eq!(verdict, Verdict::MissingSignature);
        let (verdict, why) = refused(&[good], &[b"another"]).expect("other secret");
        assert_eq!(verdict, Verdict::BadSignature);
        assert!(why.contains("does not match"), "{why}");
        let legacy = vec![(LEGACY_HEADER.to_owned(), sha1.to_owned())];
        let (verdict, why) = verify(&[secret], &[], &legacy, body).expect_err("sha1 only");
        assert_eq!(verdict, Verdict::MissingSignature);
        assert!(why.contains("legacy SHA-1"), "{why}");
    }

    #[test]
    fn every_conclusion_and_status_has_its_outcome() {
        let done = |c: &str| outcome(Some("completed"), Some(c)).0;
        assert_eq!(done("success"), Outcome::Succeeded);
        assert_eq!(done("failure"), Outcome::Failed);
        assert_eq!(done("startup_failure"), Outcome::Failed);
        assert_eq!(done("cancelled"), Outcome::Canceled);
        assert_eq!(done("timed_out"), Outcome::TimedOut);
        assert_eq!(done("action_required"), Outcome::Info);
        assert_eq!(done("waiting"), Outcome::Started);
        assert_eq!(done("pending"), Outcome::Started);
        assert_eq!(done("neutral"), Outcome::Succeeded);
        assert_eq!(done("stale"), Outcome::Canceled);
        assert_eq!(done("skipped"), Outcome::Info);
        assert_eq!(done("something_new"), Outcome::Info);
        for status in ["requested", "queued", "pending", "waiting", "in_progress"] {
            assert_eq!(outcome(Some(status), None).0, Outcome::Started, "{status}");
        }
        assert_eq!(outcome(Some("in_progress"), None).1, "started");
    }

    #[test]
    fn a_workflow_run_is_a_build_of_its_workflow_on_its_branch() {
        let at = now() - chrono::Duration::minutes(5);
        let body = sample_workflow_run("acme/app", "main", 7, "completed", Some("failure"), at);
        let body = serde_json::to_vec(&body).expect("json");
        let (envelope, c) = read(&headers("workflow_run", "d-1"), &body, now()).expect("read");
        assert_eq!(envelope.delivery_id, "d-1");
        assert_eq!(envelope.timestamp, at, "dated by the run's updated_at");
        assert_eq!(envelope.title.as_deref(), Some("Workflow failed"));
        assert_eq!(
            envelope.links.get("detail").and_then(Value::as_str),
            Some("https://github.com/acme/app/actions/runs/7")
        );
        assert_eq!(
            (c.provider, c.scope, c.outcome),
            (Provider::Github, Scope::Build, Outcome::Failed)
        );
        assert_eq!(c.subject.profile_name.as_deref(), Some("acme/app · CI"));
        assert_eq!(
            c.subject.profile_id.as_deref(),
            Some("1296269/.github/workflows/ci.yml"),
            "by the repository's id, which a rename keeps"
        );
        assert_eq!(c.subject.branch_name.as_deref(), Some("main"));
        assert_eq!(c.subject.task_id.as_deref(), Some("github:7/1"));
        assert_eq!(
            c.started_at.map(|s| (at - s).num_seconds()),
            Some(95),
            "the duration comes from run_started_at"
        );
    }

    #[test]
    fn a_forks_branch_is_not_the_repositorys_own() {
        let at = now();
        let mut body = sample_workflow_run("acme/app", "main", 8, "completed", Some("failure"), at);
        body["workflow_run"]["head_repository"] = json!({"full_name": "mallory/app"});
        let body = serde_json::to_vec(&body).expect("json");
        let (_, c) = read(&headers("workflow_run", "d-5"), &body, now()).expect("read");
        assert_eq!(c.subject.branch_name.as_deref(), Some("mallory:main"));
        let mut own = sample_workflow_run("acme/app", "main", 9, "completed", Some("success"), at);
        own["workflow_run"]["head_repository"] = json!({"full_name": "acme/app"});
        let own = serde_json::to_vec(&own).expect("json");
        let (_, c) = read(&headers("workflow_run", "d-6"), &own, now()).expect("read");
        assert_eq!(c.subject.branch_name.as_deref(), Some("main"));
    }

    #[test]
    fn ping_jobs_and_unknown_events_are_shown_not_gated() {
        let ping =
            br#"{"zen":"Keep it logically awesome.","hook_id":1,"hook":{"type":"Repository"}}"#;
        let (e, c) = read(&headers("ping", "d-2"), ping, now()).expect("ping");
        assert_eq!(e.title.as_deref(), Some("Webhook connected"));
        assert_eq!((c.scope, c.outcome), (Scope::Other, Outcome::Info));
        let job = br#"{"action":"completed","workflow_job":{"id":9,"run_id":7,"name":"test","status":"completed","conclusion":"failure","workflow_name":"CI","head_branch":"main"},"repository":{"full_name":"acme/app"}}"#;
        let (e, c) = read(&headers("workflow_job", "d-3"), job, now()).expect("job");
        assert_eq!(e.title.as_deref(), Some("Job test failed"));
        assert_eq!((c.scope, c.outcome), (Scope::Other, Outcome::Failed));
        assert_eq!(
            c.subject.profile_name.as_deref(),
            Some("acme/app · CI"),
            "under its run"
        );
        let push = br#"{"ref":"refs/heads/main","repository":{"full_name":"acme/app"}}"#;
        let (e, c) = read(&headers("push", "d-4"), push, now()).expect("push");
        assert_eq!(e.title.as_deref(), Some("push"));
        assert_eq!((c.scope, c.outcome), (Scope::Other, Outcome::Info));
    }

    #[test]
    fn a_delivery_without_its_id_or_event_is_malformed() {
        let body = b"{}";
        let no_id = vec![(EVENT_HEADER.to_owned(), "push".to_owned())];
        assert_eq!(
            read(&no_id, body, now()).err().map(|e| e.0),
            Some(Verdict::Malformed)
        );
        let no_event = vec![(DELIVERY_HEADER.to_owned(), "d".to_owned())];
        assert_eq!(
            read(&no_event, body, now()).err().map(|e| e.0),
            Some(Verdict::Malformed)
        );
        assert_eq!(
            read(&headers("push", "d"), b"[]", now()).err().map(|e| e.0),
            Some(Verdict::Malformed)
        );
    }
}

//! GitLab's webhooks (../shared/providers/GITHUB_GITLAB.md): no signature; the webhook's
//! secret token comes as is in `X-Gitlab-Token`, compared in constant time (as SHA-256
//! digests, so that neither the length nor the bytes leak through timing). Identified by
//! `Idempotency-Key` (the same when GitLab sends a delivery again), else
//! `X-Gitlab-Event-UUID`; not dated, so no replay window. A pipeline is a build of its
//! project on its ref; a job is shown beside it, not gated.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Headers, Origin, Parsed, Reading, Refused, first, refusal, sha256_hex, text};
use crate::model::{Outcome, Provider, Scope, Subject, Verdict, git_sha};
use crate::receive::signature::{self, SignatureError};
use crate::time::parse_liberal;

/// The token header (lowercase, as headers are read).
pub const TOKEN_HEADER: &str = "x-gitlab-token";
pub const EVENT_HEADER: &str = "x-gitlab-event";
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
pub const UUID_HEADER: &str = "x-gitlab-event-uuid";
pub const INSTANCE_HEADER: &str = "x-gitlab-instance";
/// What a kept proof starts with: the token's SHA-256, never the token.
const PROOF_PREFIX: &str = "sha256:";
const NAME: &str = "X-Gitlab-Token";
const FORM: &str = "the webhook's secret token";

/// What is kept of a token to check it again later: its SHA-256.
pub fn token_proof(token: &str) -> String {
    format!("{PROOF_PREFIX}{}", sha256_hex(token.trim().as_bytes()))
}

/// Checks the one token (as its kept proof) against every secret, in constant time, every
/// secret tried even after a match.
pub fn verify(secrets: &[&[u8]], proofs: &[&str]) -> Result<(), Refused> {
    let proof = signature::single_header(proofs).map_err(|e| refusal(e, NAME, FORM))?;
    let digest = proof
        .strip_prefix(PROOF_PREFIX)
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| refusal(SignatureError::Malformed, NAME, FORM))?;
    if digest.as_slice() == Sha256::digest(b"").as_slice() {
        return Err(refusal(SignatureError::Missing, NAME, FORM));
    }
    let mut matched = false;
    for secret in secrets {
        matched |= bool::from(Sha256::digest(secret).as_slice().ct_eq(&digest));
    }
    if matched {
        Ok(())
    } else {
        Err(refusal(SignatureError::Mismatch, NAME, FORM))
    }
}

/// Reads a proven delivery.
pub fn read(headers: &Headers, body: &[u8], received_at: DateTime<Utc>) -> Result<Parsed, Refused> {
    let malformed = |why: String| (Verdict::Malformed, why);
    let delivery_id = first(headers, IDEMPOTENCY_HEADER)
        .or_else(|| first(headers, UUID_HEADER))
        .ok_or_else(|| malformed("missing Idempotency-Key and X-Gitlab-Event-UUID headers".into()))?
        .to_owned();
    let value = super::object(body)?;
    let event = first(headers, EVENT_HEADER).map(str::to_owned);
    let kind = text(&value, &["object_kind"]);
    let project = text(&value, &["project", "path_with_namespace"])
        .or_else(|| text(&value, &["project_name"]));
    // Two GitLab instances number their projects and pipelines each from 1.
    let instance = first(headers, INSTANCE_HEADER)
        .map(str::to_owned)
        .or_else(|| text(&value, &["project", "web_url"]))
        .or_else(|| text(&value, &["repository", "homepage"]))
        .map(|url| host(&url))
        .unwrap_or_else(|| "gitlab".into());
    let read = match kind.as_deref() {
        Some("pipeline") => pipeline(&value, project, &instance),
        Some("build") => job(&value, project, &instance),
        _ => Reading {
            title: event
                .clone()
                .or_else(|| kind.clone())
                .unwrap_or_else(|| "GitLab event".into()),
            message: project.as_ref().map(|p| format!("in {p}")),
            outcome: Outcome::Info,
            scope: Scope::Other,
            subject: Subject {
                profile_name: project,
                ..Subject::default()
            },
            at: None,
            started_at: None,
            link: text(&value, &["project", "web_url"]),
        },
    };
    let origin = Origin {
        provider: Provider::Gitlab,
        delivery_id,
        action: match (&event, &kind) {
            (Some(e), Some(k)) => format!("{e}|{k}"),
            (Some(e), None) => e.clone(),
            (None, k) => k.clone().unwrap_or_default(),
        },
        module: event,
        received_at,
    };
    Ok(read.into_read(origin, value))
}

/// GitLab writes times as `2026-11-30 10:00:00 UTC` in hooks (and RFC 3339 elsewhere).
fn time(value: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    let t = text(value, path)?;
    parse_liberal(t.trim().trim_end_matches(" UTC"))
}

/// A pipeline's or job's outcome and the words for it. `manual` waits for someone (no
/// news yet), `skipped` and `scheduled` are no news; everything before an end has started.
pub fn outcome(status: &str) -> (Outcome, &'static str) {
    match status {
        "success" => (Outcome::Succeeded, "succeeded"),
        "failed" => (Outcome::Failed, "failed"),
        "canceled" | "cancelled" => (Outcome::Canceled, "was canceled"),
        "created" | "waiting_for_resource" | "preparing" | "pending" => {
            (Outcome::Started, "is pending")
        }
        "running" | "canceling" => (Outcome::Started, "is running"),
        "manual" => (Outcome::Info, "waits for a manual action"),
        "scheduled" => (Outcome::Info, "is scheduled"),
        "skipped" => (Outcome::Info, "was skipped"),
        _ => (Outcome::Info, "changed"),
    }
}

/// The host of an instance's URL (`https://gitlab.example.com/` → `gitlab.example.com`).
fn host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_ascii_lowercase()
}

/// What a pipeline's events (its start, its end, its jobs) share: its key in the build runs,
/// with its instance and named so that no other provider's can be the same.
fn run_key(instance: &str, pipeline: &str) -> String {
    format!("gitlab:{instance}/{pipeline}")
}

/// A pipeline: the stream is project × ref.
fn pipeline(value: &Value, project: Option<String>, instance: &str) -> Reading {
    let attrs = value.get("object_attributes").unwrap_or(&Value::Null);
    let status = text(attrs, &["status"]).unwrap_or_default();
    let (outcome, words) = outcome(&status);
    let id = text(attrs, &["id"]);
    let finished_at = time(attrs, &["finished_at"]);
    // When it ran from: its end less its run time (not its queueing), else its creation.
    let ran_for = attrs
        .get("duration")
        .and_then(Value::as_f64)
        .map(|s| chrono::Duration::milliseconds((s * 1000.0) as i64));
    let started_at = match (finished_at, ran_for) {
        (Some(end), Some(d)) => Some(end - d),
        _ => time(attrs, &["created_at"]),
    };
    // A running pipeline's news is now (a retried one was created before its last end).
    let at = if outcome == Outcome::Started {
        None
    } else {
        finished_at.or(started_at)
    };
    let link = text(attrs, &["url"]).or_else(|| {
        Some(format!(
            "{}/-/pipelines/{}",
            text(value, &["project", "web_url"])?,
            id.clone()?
        ))
    });
    let by = text(value, &["user", "username"])
        .map(|u| format!(", by {u}"))
        .unwrap_or_default();
    Reading {
        title: format!("Pipeline {words}"),
        message: Some(format!(
            "{}{by}",
            text(value, &["commit", "title"])
                .or_else(|| id.as_ref().map(|i| format!("Pipeline {i}")))
                .unwrap_or_default()
        )),
        outcome,
        scope: Scope::Build,
        subject: Subject {
            profile_id: text(value, &["project", "id"])
                .or_else(|| project.clone())
                .map(|p| format!("{instance}/{p}")),
            profile_name: project,
            branch_id: None,
            branch_name: text(attrs, &["ref"]),
            task_id: id.as_ref().map(|i| run_key(instance, i)),
            build_id: id,
            commit_sha: text(attrs, &["sha"]).as_deref().and_then(git_sha),
            commit_id: text(attrs, &["sha"]),
        },
        at,
        started_at,
        link,
    }
}

/// A job of a pipeline: shown beside it (same names), not a stream of its own.
fn job(value: &Value, project: Option<String>, instance: &str) -> Reading {
    let status = text(value, &["build_status"]).unwrap_or_default();
    let (outcome, words) = outcome(&status);
    let name = text(value, &["build_name"]).unwrap_or_else(|| "job".into());
    let reason = text(value, &["build_failure_reason"])
        .filter(|r| r != "unknown_failure" || outcome == Outcome::Failed);
    let link = text(value, &["repository", "homepage"])
        .zip(text(value, &["build_id"]))
        .map(|(home, id)| format!("{home}/-/jobs/{id}"));
    Reading {
        title: format!("Job {name} {words}"),
        message: Some(match (text(value, &["pipeline_id"]), reason) {
            (Some(p), Some(r)) => format!("in pipeline {p}: {r}"),
            (Some(p), None) => format!("in pipeline {p}"),
            (None, r) => r.unwrap_or_default(),
        }),
        outcome,
        scope: Scope::Other,
        subject: Subject {
            profile_name: project,
            branch_name: text(value, &["ref"]),
            task_id: text(value, &["pipeline_id"]).map(|p| run_key(instance, &p)),
            build_id: text(value, &["build_id"]),
            commit_sha: text(value, &["sha"]).as_deref().and_then(git_sha),
            commit_id: text(value, &["sha"]),
            ..Subject::default()
        },
        at: time(value, &["build_finished_at"]).or_else(|| time(value, &["build_started_at"])),
        started_at: time(value, &["build_started_at"]),
        link,
    }
}

/// A sample `Pipeline Hook` body for `gatehouse send --provider gitlab` and the tests.
pub fn sample_pipeline(
    project: &str,
    branch: &str,
    id: u64,
    status: &str,
    at: DateTime<Utc>,
) -> Value {
    let gitlab_time = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let finished = matches!(status, "success" | "failed" | "canceled");
    json!({
        "object_kind": "pipeline",
        "object_attributes": {
            "id": id, "iid": 12, "ref": branch, "tag": false, "sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
            "source": "push", "status": status, "detailed_status": status,
            "created_at": gitlab_time(at - chrono::Duration::seconds(130)),
            "finished_at": if finished { Value::String(gitlab_time(at)) } else { Value::Null },
            "duration": if finished { json!(130) } else { Value::Null }, "queued_duration": 2,
            "url": format!("https://gitlab.example.com/{project}/-/pipelines/{id}")
        },
        "user": {"username": "root", "name": "Administrator"},
        "project": {"id": 15, "name": project.rsplit('/').next().unwrap_or(project),
                    "path_with_namespace": project,
                    "web_url": format!("https://gitlab.example.com/{project}")},
        "commit": {"title": "Add the release notes"},
        "builds": []
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock these readings are made at: a fixed time, handed to `read` as its now.
    fn now() -> DateTime<Utc> {
        parse_liberal("2026-11-30T10:05:00Z").expect("a fixed now")
    }

    fn headers(event: &str) -> Vec<(String, String)> {
        vec![
            (EVENT_HEADER.into(), event.into()),
            (UUID_HEADER.into(), "uuid-1".into()),
        ]
    }

    #[test]
    fn the_token_is_compared_as_a_digest_and_never_kept() {
        let proof = token_proof("s3cret-token");
        assert!(!proof.contains("s3cret"), "{proof}");
        assert_eq!(verify(&[b"old", b"s3cret-token"], &[&proof]), Ok(()));
        let (verdict, why) = verify(&[b"other"], &[&proof]).expect_err("wrong token");
        assert_eq!(verdict, Verdict::BadSignature);
        assert!(why.contains("X-Gitlab-Token does not match"), "{why}");
        let (verdict, _) = verify(&[b"s3cret-token"], &[]).expect_err("none");
        assert_eq!(verdict, Verdict::MissingSignature);
        let empty = token_proof("");
        assert_eq!(
            verify(&[b""], &[&empty]).err().map(|e| e.0),
            Some(Verdict::MissingSignature),
            "an empty token is no token, even for an empty secret"
        );
        let (_, why) = verify(&[b"s3cret-token"], &[&proof, &proof]).expect_err("two");
        assert!(why.contains("more than one"), "{why}");
        assert!(
            verify(&[b"s3cret-token"], &["s3cret-token"]).is_err(),
            "only digests"
        );
    }

    #[test]
    fn every_status_has_its_outcome() {
        let o = |s: &str| outcome(s).0;
        assert_eq!(o("success"), Outcome::Succeeded);
        assert_eq!(o("failed"), Outcome::Failed);
        assert_eq!(o("canceled"), Outcome::Canceled);
        for running in [
            "created",
            "waiting_for_resource",
            "preparing",
            "pending",
            "running",
        ] {
            assert_eq!(o(running), Outcome::Started, "{running}");
        }
        for quiet in ["skipped", "manual", "scheduled", "something_new"] {
            assert_eq!(o(quiet), Outcome::Info, "{quiet}");
        }
    }

    #[test]
    fn a_pipeline_is_a_build_of_its_project_on_its_ref() {
        let at = now() - chrono::Duration::minutes(5);
        let body = serde_json::to_vec(&sample_pipeline("acme/backend", "main", 31, "failed", at))
            .expect("json");
        let mut h = headers("Pipeline Hook");
        h.push((IDEMPOTENCY_HEADER.into(), "idem-1".into()));
        let (e, c) = read(&h, &body, now()).expect("read");
        assert_eq!(e.delivery_id, "idem-1", "Idempotency-Key first");
        assert_eq!(e.timestamp, at, "dated by finished_at");
        assert_eq!(e.title.as_deref(), Some("Pipeline failed"));
        assert_eq!(
            e.links.get("detail").and_then(Value::as_str),
            Some("https://gitlab.example.com/acme/backend/-/pipelines/31")
        );
        assert_eq!(
            (c.provider, c.scope, c.outcome),
            (Provider::Gitlab, Scope::Build, Outcome::Failed)
        );
        assert_eq!(c.subject.profile_name.as_deref(), Some("acme/backend"));
        assert_eq!(c.subject.branch_name.as_deref(), Some("main"));
        assert_eq!(
            c.subject.profile_id.as_deref(),
            Some("gitlab.example.com/15"),
            "the instance's project: two instances both count from 1"
        );
        assert_eq!(
            c.subject.task_id.as_deref(),
            Some("gitlab.example.com/31")
                .map(|t| format!("gitlab:{t}"))
                .as_deref()
        );
        // A running pipeline is news now; its end less its run time is when it started.
        let running =
            serde_json::to_vec(&sample_pipeline("acme/backend", "main", 31, "running", at))
                .expect("json");
        let read_at = now() + chrono::Duration::minutes(1);
        let (e, _) = read(&headers("Pipeline Hook"), &running, read_at).expect("read");
        assert_eq!(e.timestamp, read_at);
        assert_eq!(c.started_at.map(|s| (at - s).num_seconds()), Some(130));
        let (e, _) = read(&headers("Pipeline Hook"), &body, now()).expect("read");
        assert_eq!(e.delivery_id, "uuid-1", "else the event UUID");
    }

    #[test]
    fn jobs_and_unknown_events_are_shown_not_gated() {
        let job = br#"{"object_kind":"build","build_id":5,"build_name":"test","build_status":"failed","build_failure_reason":"script_failure","pipeline_id":31,"ref":"main","project_name":"acme/backend"}"#;
        let (e, c) = read(&headers("Job Hook"), job, now()).expect("job");
        assert_eq!(e.title.as_deref(), Some("Job test failed"));
        assert_eq!(e.message.as_deref(), Some("in pipeline 31: script_failure"));
        assert_eq!((c.scope, c.outcome), (Scope::Other, Outcome::Failed));
        let push = br#"{"object_kind":"push","project":{"path_with_namespace":"acme/backend"}}"#;
        let (e, c) = read(&headers("Push Hook"), push, now()).expect("push");
        assert_eq!(e.title.as_deref(), Some("Push Hook"));
        assert_eq!((c.scope, c.outcome), (Scope::Other, Outcome::Info));
        let no_id = vec![(EVENT_HEADER.to_owned(), "Push Hook".to_owned())];
        assert_eq!(
            read(&no_id, push, now()).err().map(|e| e.0),
            Some(Verdict::Malformed)
        );
    }
}

//! Sample deliveries for `gatehouse send --sample`, "Send a test delivery", tests and
//! benchmarks: shaped like Appcircle's (only `Build|BuildStart` is a documented action
//! string; the others follow its pattern and are marked as guesses in the README; titles
//! are the documented ones), and like GitHub's and GitLab's ([`outgoing`]).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::model::{Provider, Source};
use crate::receive::ingest::{Arrival, Judgment, judge};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    BuildStarted,
    BuildSucceeded,
    BuildWarning,
    BuildFailed,
    BuildCanceled,
    BuildTimeout,
    Distribution,
    PublishSucceeded,
    PublishRejected,
    Enterprise,
    CertificateExpiring,
}

impl Sample {
    pub const ALL: [Sample; 11] = [
        Sample::BuildStarted,
        Sample::BuildSucceeded,
        Sample::BuildWarning,
        Sample::BuildFailed,
        Sample::BuildCanceled,
        Sample::BuildTimeout,
        Sample::Distribution,
        Sample::PublishSucceeded,
        Sample::PublishRejected,
        Sample::Enterprise,
        Sample::CertificateExpiring,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Sample::BuildStarted => "build-started",
            Sample::BuildSucceeded => "build-succeeded",
            Sample::BuildWarning => "build-warning",
            Sample::BuildFailed => "build-failed",
            Sample::BuildCanceled => "build-canceled",
            Sample::BuildTimeout => "build-timeout",
            Sample::Distribution => "distribution",
            Sample::PublishSucceeded => "publish-succeeded",
            Sample::PublishRejected => "publish-rejected",
            Sample::Enterprise => "enterprise",
            Sample::CertificateExpiring => "certificate-expiring",
        }
    }

    pub fn parse(name: &str) -> Result<Sample> {
        let key = name.trim().to_ascii_lowercase().replace('_', "-");
        let alias = match key.as_str() {
            "build-success" | "build-successful" => "build-succeeded",
            "build-timed-out" => "build-timeout",
            "build-cancelled" => "build-canceled",
            "testing-distribution" => "distribution",
            "enterprise-store" | "enterprise-app-store" => "enterprise",
            "certificate-expiry" | "cert-expiring" => "certificate-expiring",
            other => other,
        };
        Sample::ALL
            .into_iter()
            .find(|s| s.name() == alias)
            .ok_or_else(|| {
                let names: Vec<_> = Sample::ALL.iter().map(|s| s.name()).collect();
                Error::Invalid(format!(
                    "unknown sample `{name}` (one of: {})",
                    names.join(", ")
                ))
            })
    }

    /// (action, title, message verb) for the build samples.
    fn build_words(self) -> Option<(&'static str, &'static str, &'static str)> {
        Some(match self {
            Sample::BuildStarted => ("Build|BuildStart", "Build Started", "Build started"),
            Sample::BuildSucceeded => ("Build|BuildSuccess", "Build Success", "Build succeeded"),
            Sample::BuildWarning => (
                "Build|BuildCompleteWithWarnings",
                "Build Complete with Warnings",
                "Build completed with warnings",
            ),
            Sample::BuildFailed => ("Build|BuildFailed", "Build Failed", "Build failed"),
            Sample::BuildCanceled => ("Build|BuildCanceled", "Build Canceled", "Build canceled"),
            Sample::BuildTimeout => ("Build|BuildTimeout", "Build Timeout", "Build timed out"),
            _ => return None,
        })
    }
}

/// What varies between sample deliveries; every `None` gets a fresh or default value.
#[derive(Debug, Clone, Default)]
pub struct SampleOptions {
    pub profile: Option<String>,
    pub branch: Option<String>,
    pub message: Option<String>,
    /// When it happened. `None`: now by the system's clock (a sample sent by hand, from
    /// the CLI); the API's test delivery and tests on a manual clock give the clock's.
    pub timestamp: Option<DateTime<Utc>>,
    pub delivery_id: Option<String>,
    /// Pairs a build's start with its end.
    pub task_id: Option<String>,
}

/// An Appcircle `body` as the listener records it at `endpoint`: signed with `secret`,
/// received at `now`, judged with a 10-minute window. For tests, fixtures and benchmarks
/// that fill a store without HTTP.
pub fn live_arrival(
    endpoint: &str,
    secret: &str,
    body: Vec<u8>,
    now: DateTime<Utc>,
) -> (Arrival, Judgment) {
    let sig = crate::receive::signature::sign(secret.as_bytes(), &body);
    let judgment = judge(
        &[secret.as_bytes()],
        &[&sig],
        &body,
        now,
        chrono::Duration::minutes(10),
    );
    let arrival = Arrival {
        endpoint: endpoint.into(),
        method: "POST".into(),
        path: format!("/hooks/{endpoint}"),
        remote_addr: None,
        headers: Vec::new(),
        signature: Some(sig),
        body_size: body.len() as u64,
        body: Some(body),
        received_at: now,
        source: Source::Live,
    };
    (arrival, judgment)
}

/// A fresh random GUID (version 4).
pub fn random_guid() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| Error::System(format!("the OS random source failed: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(guid(&b))
}

/// A stable GUID derived from a name, so one profile name always has one profile id.
pub fn name_guid(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    // Marked as a name-based (version 5 style) GUID so it reads as a valid one.
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    guid(&b)
}

fn guid(b: &[u8]) -> String {
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A delivery ready to send as its provider would: the body, and the headers its sender
/// adds besides the proof (which [`crate::send::deliver_as`] adds with the secret).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// The delivery id, where it travels in a header (GitHub, GitLab).
    pub delivery_id: Option<String>,
}

/// GitHub's samples, for `gatehouse send --provider github` and "Send a test delivery".
pub const GITHUB_SAMPLES: [&str; 6] = [
    "workflow-requested",
    "workflow-in-progress",
    "workflow-succeeded",
    "workflow-failed",
    "workflow-cancelled",
    "ping",
];

/// GitLab's samples.
pub const GITLAB_SAMPLES: [&str; 4] = [
    "pipeline-running",
    "pipeline-succeeded",
    "pipeline-failed",
    "pipeline-canceled",
];

/// The sample names of `provider`.
pub fn names(provider: Provider) -> Vec<&'static str> {
    match provider {
        Provider::Appcircle => Sample::ALL.iter().map(|s| s.name()).collect(),
        Provider::Github => GITHUB_SAMPLES.to_vec(),
        Provider::Gitlab => GITLAB_SAMPLES.to_vec(),
    }
}

/// The sample `name` of `provider`. Options: `profile` is the repository (GitHub,
/// `acme/app`) or project (GitLab, `acme/backend`); `task_id` the run or pipeline number
/// (the same for a run's start and end); `delivery_id` the delivery id header.
pub fn outgoing(provider: Provider, name: &str, options: &SampleOptions) -> Result<Outgoing> {
    let unknown = || {
        Error::Invalid(format!(
            "unknown {} sample `{name}` (one of: {})",
            provider.label(),
            names(provider).join(", ")
        ))
    };
    let at = options.timestamp.unwrap_or_else(|| Clock::system().now());
    let delivery_id = match &options.delivery_id {
        Some(id) => id.clone(),
        None => random_guid()?,
    };
    let branch = options.branch.clone().unwrap_or_else(|| "main".into());
    // A run number from the task id, else from the time (fresh for each send).
    let run = options
        .task_id
        .as_deref()
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or_else(|| at.timestamp_millis().unsigned_abs());
    let (body, event) = match provider {
        Provider::Appcircle => {
            let body = build(Sample::parse(name)?, options)?;
            return Ok(Outgoing {
                body,
                headers: Vec::new(),
                delivery_id: None,
            });
        }
        Provider::Github => {
            let repo = options.profile.clone().unwrap_or_else(|| "acme/app".into());
            let (status, conclusion) = match name.trim() {
                "workflow-requested" => ("requested", None),
                "workflow-in-progress" => ("in_progress", None),
                "workflow-succeeded" => ("completed", Some("success")),
                "workflow-failed" => ("completed", Some("failure")),
                "workflow-cancelled" | "workflow-canceled" => ("completed", Some("cancelled")),
                "ping" => {
                    let ping = json!({"zen": "Design for failure.", "hook_id": 1,
                        "hook": {"type": "Repository", "events": ["workflow_run"]},
                        "repository": {"full_name": repo}});
                    return Ok(Outgoing {
                        body: to_vec(&ping)?,
                        headers: github_headers("ping", &delivery_id),
                        delivery_id: Some(delivery_id),
                    });
                }
                _ => return Err(unknown()),
            };
            let body = crate::receive::providers::github::sample_workflow_run(
                &repo, &branch, run, status, conclusion, at,
            );
            (body, "workflow_run")
        }
        Provider::Gitlab => {
            let project = options
                .profile
                .clone()
                .unwrap_or_else(|| "acme/backend".into());
            let status = match name.trim() {
                "pipeline-running" => "running",
                "pipeline-succeeded" => "success",
                "pipeline-failed" => "failed",
                "pipeline-canceled" | "pipeline-cancelled" => "canceled",
                _ => return Err(unknown()),
            };
            let body = crate::receive::providers::gitlab::sample_pipeline(
                &project, &branch, run, status, at,
            );
            return Ok(Outgoing {
                body: to_vec(&body)?,
                headers: vec![
                    ("X-Gitlab-Event".into(), "Pipeline Hook".into()),
                    ("X-Gitlab-Event-UUID".into(), random_guid()?),
                    ("Idempotency-Key".into(), delivery_id.clone()),
                ],
                delivery_id: Some(delivery_id),
            });
        }
    };
    Ok(Outgoing {
        body: to_vec(&body)?,
        headers: github_headers(event, &delivery_id),
        delivery_id: Some(delivery_id),
    })
}

/// A file's `body` as `provider` sends it: GitHub's and GitLab's name their event and carry
/// their delivery id in headers (`event` and `delivery_id`, else a workflow run / pipeline
/// and a fresh id); Appcircle's are in the body.
pub fn file(
    provider: Provider,
    body: Vec<u8>,
    event: Option<&str>,
    delivery_id: Option<&str>,
) -> Result<Outgoing> {
    let id = match delivery_id {
        Some(id) => id.to_owned(),
        None => random_guid()?,
    };
    let headers = match provider {
        Provider::Appcircle => {
            return Ok(Outgoing {
                body,
                headers: Vec::new(),
                delivery_id: None,
            });
        }
        Provider::Github => github_headers(event.unwrap_or("workflow_run"), &id),
        Provider::Gitlab => vec![
            (
                "X-Gitlab-Event".into(),
                event.unwrap_or("Pipeline Hook").into(),
            ),
            ("Idempotency-Key".into(), id.clone()),
        ],
    };
    Ok(Outgoing {
        body,
        headers,
        delivery_id: Some(id),
    })
}

fn github_headers(event: &str, delivery_id: &str) -> Vec<(String, String)> {
    vec![
        ("X-GitHub-Event".into(), event.into()),
        ("X-GitHub-Delivery".into(), delivery_id.into()),
    ]
}

fn to_vec(value: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Invalid(format!("cannot encode sample: {e}")))
}

/// .NET's format, as Appcircle sends it: seven fractional digits and `+00:00`.
pub fn dotnet_timestamp(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}+00:00",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

/// The JSON body of a sample delivery (compact, ready to sign).
pub fn build(sample: Sample, options: &SampleOptions) -> Result<Vec<u8>> {
    let profile = options
        .profile
        .clone()
        .unwrap_or_else(|| "Sample iOS App".into());
    let branch = options.branch.clone().unwrap_or_else(|| "main".into());
    let profile_id = name_guid(&profile);
    let delivery_id = match &options.delivery_id {
        Some(id) => id.clone(),
        None => random_guid()?,
    };
    let timestamp = dotnet_timestamp(options.timestamp.unwrap_or_else(|| Clock::system().now()));
    let detail = format!("https://my.appcircle.io/build/detail/{profile_id}");
    let (action, title, message, item, links) = if let Some((action, title, verb)) =
        sample.build_words()
    {
        let task_id = match &options.task_id {
            Some(id) => id.clone(),
            None => random_guid()?,
        };
        let build_id = if sample == Sample::BuildStarted {
            "00000000-0000-0000-0000-000000000000".to_owned()
        } else {
            name_guid(&format!("build {task_id}"))
        };
        let commit_id = name_guid(&format!("commit {task_id}"));
        let message = format!("{verb} for the {branch} branch for the profile {profile} {detail}");
        let item = json!({
            "id": task_id, "agentId": name_guid("agent"), "organizationId": name_guid("organization"),
            "userId": name_guid("user"), "profileId": profile_id,
            "branchId": name_guid(&format!("{profile}/{branch}")), "buildId": build_id,
            "commitId": commit_id, "taskId": task_id, "purpose": 1, "triggerReason": 0,
            "cancelling": false, "queueItemStatus": if sample == Sample::BuildStarted { 1 } else { 0 },
            "xcodeVersion": "16.2",
        });
        let links = json!({
            "detail": detail,
            "viewlogs": format!("{detail}?modal=/build/modal/Logs&profileId={profile_id}&commitId={commit_id}&buildId={task_id}&scope=build&method=get"),
        });
        (action.to_owned(), title.to_owned(), message, item, links)
    } else {
        other_sample(sample, &profile, &profile_id)
    };
    let body = json!({
        "deliveryId": delivery_id,
        "timestamp": timestamp,
        "action": action,
        "message": options.message.clone().unwrap_or(message),
        "title": title,
        "item": item,
        "links": links,
    });
    serde_json::to_vec(&body).map_err(|e| Error::Invalid(format!("cannot encode sample: {e}")))
}

fn other_sample(
    sample: Sample,
    profile: &str,
    profile_id: &str,
) -> (String, String, String, Value, Value) {
    let version = "1.4.2 (87)";
    let (action, title, message, path) = match sample {
        Sample::Distribution => (
            "TestingDistribution|NewVersionAdded",
            "New Version Added for Distribution",
            format!("New version {version} added for the profile {profile}"),
            "distribution",
        ),
        Sample::PublishSucceeded => (
            "PublishToStores|PublishFlowSucceeded",
            "Publish Flow Succeeded",
            format!("Publish flow of version {version} succeeded for the profile {profile}"),
            "publish",
        ),
        Sample::PublishRejected => (
            "PublishToStores|VersionRejected",
            "A Version is Rejected on Publish",
            format!(
                "Version {version} was rejected by App Store Connect (Guideline 2.1 - App Completeness) for the profile {profile}"
            ),
            "publish",
        ),
        Sample::Enterprise => (
            "EnterpriseAppStore|NewVersionDeployed",
            "New Version Deployed to the Enterprise Store",
            format!(
                "New version {version} deployed to the Enterprise Store for the profile {profile}"
            ),
            "enterprise-store",
        ),
        _ => (
            "SigningIdentity|CertificateExpirationReminder",
            "iOS Certificate Expiration Reminder",
            "The iOS certificate \"Apple Distribution: Example Corp\" expires in 7 days".to_owned(),
            "signing-identities",
        ),
    };
    let detail = format!("https://my.appcircle.io/{path}/detail/{profile_id}");
    let item = if sample == Sample::CertificateExpiring {
        json!({"certificateId": name_guid("certificate"), "name": "Apple Distribution: Example Corp", "daysLeft": 7})
    } else {
        json!({"profileId": profile_id, "version": version})
    };
    (
        action.to_owned(),
        title.to_owned(),
        message,
        item,
        json!({"detail": detail}),
    )
}

#[cfg(test)]
mod tests {
    // Fixed dates on purpose: how one instant is written in .NET's format; no clock is read.
    use super::*;
    use crate::model::{Outcome, Scope};
    use crate::receive::envelope::Envelope;
    use crate::receive::providers::appcircle::classify;

    #[test]
    fn every_sample_parses_and_classifies_as_intended() {
        let expected = [
            (Scope::Build, Outcome::Started),
            (Scope::Build, Outcome::Succeeded),
            (Scope::Build, Outcome::Warning),
            (Scope::Build, Outcome::Failed),
            (Scope::Build, Outcome::Canceled),
            (Scope::Build, Outcome::TimedOut),
            (Scope::TestingDistribution, Outcome::Succeeded),
            (Scope::PublishToStores, Outcome::Succeeded),
            (Scope::PublishToStores, Outcome::Failed),
            (Scope::EnterpriseAppStore, Outcome::Succeeded),
            (Scope::SigningIdentity, Outcome::Warning),
        ];
        for (sample, (scope, outcome)) in Sample::ALL.into_iter().zip(expected) {
            let body = build(sample, &SampleOptions::default()).expect("builds");
            let e = Envelope::parse(&body).expect("parses");
            let c = classify(&e);
            assert_eq!((c.scope, c.outcome), (scope, outcome), "{}", sample.name());
            assert_eq!(Sample::parse(sample.name()).ok(), Some(sample));
        }
    }

    #[test]
    fn names_and_ids_round_trip_through_classification() {
        let opts = SampleOptions {
            profile: Some("Android Release".into()),
            branch: Some("release/2.0".into()),
            task_id: Some("t-1".into()),
            ..Default::default()
        };
        let e =
            Envelope::parse(&build(Sample::BuildFailed, &opts).expect("builds")).expect("parses");
        let s = classify(&e).subject;
        assert_eq!(s.profile_name.as_deref(), Some("Android Release"));
        assert_eq!(s.branch_name.as_deref(), Some("release/2.0"));
        assert_eq!(s.profile_id, Some(name_guid("Android Release")));
        assert_eq!(s.task_id.as_deref(), Some("t-1"));
    }

    #[test]
    fn fresh_ids_and_dotnet_timestamps() {
        let a =
            Envelope::parse(&build(Sample::BuildStarted, &SampleOptions::default()).expect("b"))
                .expect("p");
        let b =
            Envelope::parse(&build(Sample::BuildStarted, &SampleOptions::default()).expect("b"))
                .expect("p");
        assert_ne!(a.delivery_id, b.delivery_id);
        let t = crate::time::parse_liberal("2022-10-26T14:55:08.4622757Z").expect("t");
        assert_eq!(dotnet_timestamp(t), "2022-10-26T14:55:08.4622757+00:00");
    }

    #[test]
    fn unknown_sample_lists_the_names() {
        let err = Sample::parse("nope").expect_err("unknown");
        assert!(err.to_string().contains("build-failed"));
        assert_eq!(
            Sample::parse("BUILD_SUCCESS").ok(),
            Some(Sample::BuildSucceeded)
        );
    }
}

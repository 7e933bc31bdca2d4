//! The domain model every provider classifies into and every part of Gatehouse reads: who
//! sent a delivery ([`Provider`]), what it is about ([`Scope`], [`Subject`]), what happened
//! ([`Outcome`]), the stream the gate judges ([`StreamKey`]), and what became of the request
//! ([`Verdict`]) and how its event entered the store ([`Source`]). No provider's wire format
//! lives here (see [`crate::receive::providers`]).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Who sends deliveries to an endpoint: each signs, names and shapes them its own way
/// ([`crate::receive::providers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(ts_rs::TS)]
#[ts(export)]
pub enum Provider {
    Appcircle,
    Github,
    Gitlab,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Appcircle, Provider::Github, Provider::Gitlab];

    /// The stable name used in JSON, the database and CLI flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Appcircle => "appcircle",
            Provider::Github => "github",
            Provider::Gitlab => "gitlab",
        }
    }

    /// The name people know it by.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Appcircle => "Appcircle",
            Provider::Github => "GitHub Actions",
            Provider::Gitlab => "GitLab CI",
        }
    }

    pub fn parse(s: &str) -> Result<Provider> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown provider `{s}` (one of: appcircle, github, gitlab)"
                ))
            })
    }
}

/// What everything stored before GitHub and GitLab came was from.
impl Default for Provider {
    fn default() -> Self {
        Provider::Appcircle
    }
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Provider::parse(s).map_err(|e| e.to_string())
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What part of shipping an app an event is about: Appcircle's modules (legacy "Store
/// Submit" is `PublishToStores`); GitHub's and GitLab's runs are builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(ts_rs::TS)]
#[ts(export)]
pub enum Scope {
    Build,
    SigningIdentity,
    TestingDistribution,
    PublishToStores,
    EnterpriseAppStore,
    Other,
}

/// What happened, as a status check would show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(ts_rs::TS)]
#[ts(export)]
pub enum Outcome {
    Started,
    Succeeded,
    Warning,
    Failed,
    Canceled,
    TimedOut,
    Info,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Build,
        Scope::SigningIdentity,
        Scope::TestingDistribution,
        Scope::PublishToStores,
        Scope::EnterpriseAppStore,
        Scope::Other,
    ];

    /// The stable snake_case name used in JSON, the database and CLI flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Build => "build",
            Scope::SigningIdentity => "signing_identity",
            Scope::TestingDistribution => "testing_distribution",
            Scope::PublishToStores => "publish_to_stores",
            Scope::EnterpriseAppStore => "enterprise_app_store",
            Scope::Other => "other",
        }
    }

    /// The name Appcircle's UI uses.
    pub fn label(self) -> &'static str {
        match self {
            Scope::Build => "Build",
            Scope::SigningIdentity => "Signing Identity",
            Scope::TestingDistribution => "Testing Distribution",
            Scope::PublishToStores => "Publish to Stores",
            Scope::EnterpriseAppStore => "Enterprise App Store",
            Scope::Other => "Other",
        }
    }

    /// Reads a module name as Appcircle has spelled it over time (`Build`,
    /// `SigningIdentity`, `Distribution`, `StoreSubmit`, `Enterprise Store`, ...).
    pub fn from_module(module: &str) -> Option<Scope> {
        let key: String = module
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        Some(match key.as_str() {
            "build" | "builds" => Scope::Build,
            "signingidentity" | "signingidentities" | "signing" => Scope::SigningIdentity,
            "testingdistribution" | "distribution" => Scope::TestingDistribution,
            "publishtostores" | "publishtostore" | "publish" | "storesubmit" => {
                Scope::PublishToStores
            }
            "enterpriseappstore" | "enterprisestore" => Scope::EnterpriseAppStore,
            "other" => Scope::Other,
            _ => return None,
        })
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Scope::from_module(s).ok_or_else(|| {
            let names: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown scope `{s}` (one of: {})", names.join(", "))
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Started,
        Outcome::Succeeded,
        Outcome::Warning,
        Outcome::Failed,
        Outcome::Canceled,
        Outcome::TimedOut,
        Outcome::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Started => "started",
            Outcome::Succeeded => "succeeded",
            Outcome::Warning => "warning",
            Outcome::Failed => "failed",
            Outcome::Canceled => "canceled",
            Outcome::TimedOut => "timed_out",
            Outcome::Info => "info",
        }
    }

    /// A run's end: what the gate looks at.
    pub fn is_finished(self) -> bool {
        !matches!(self, Outcome::Started | Outcome::Info)
    }

    /// An end that turns the gate red.
    pub fn is_failing(self) -> bool {
        matches!(
            self,
            Outcome::Failed | Outcome::Canceled | Outcome::TimedOut
        )
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let key = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == key)
            .or(match key.as_str() {
                "success" | "successful" | "passed" => Some(Outcome::Succeeded),
                "failure" | "fail" => Some(Outcome::Failed),
                "cancelled" => Some(Outcome::Canceled),
                "timeout" => Some(Outcome::TimedOut),
                _ => None,
            })
            .ok_or_else(|| {
                let names: Vec<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
                format!("unknown outcome `{s}` (one of: {})", names.join(", "))
            })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a delivery is about: a build profile (Appcircle), a repository's workflow (GitHub)
/// or a project (GitLab), a branch, and the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Subject {
    pub profile_id: Option<String>,
    pub profile_name: Option<String>,
    pub branch_id: Option<String>,
    pub branch_name: Option<String>,
    /// Identifies one build run: its start and end share it.
    pub task_id: Option<String>,
    pub build_id: Option<String>,
    /// The sender's id of the commit: a git SHA for GitHub and GitLab, Appcircle's own GUID
    /// for Appcircle (not a SHA: see [`Subject::commit_sha`]).
    pub commit_id: Option<String>,
    /// The git commit, lowercase hex ([`git_sha`]): what a commit's checks are found by.
    /// GitHub's and GitLab's commit id; for Appcircle the commit's `hash` where the sender
    /// gave it (the account's read, a payload's `commitHash`).
    pub commit_sha: Option<String>,
}

/// A full git commit SHA (40 hex digits, or 64 for SHA-256 repositories) in its one stored
/// form, lowercase; `None` for anything else, so an Appcircle GUID is never taken for one.
pub fn git_sha(s: &str) -> Option<String> {
    let s = s.trim();
    (matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| s.to_ascii_lowercase())
}

/// Whether a profile named `name` is the one `wanted` names: the name in any case, or a
/// GitHub repository's name standing for all its workflows (`acme/app` names
/// `acme/app · CI`). The gate's filter and the recent commits' filter both ask this.
pub fn names_profile(name: &str, wanted: &str) -> bool {
    name.eq_ignore_ascii_case(wanted)
        || name
            .to_lowercase()
            .starts_with(&format!("{} · ", wanted.to_lowercase()))
}

/// "My App / develop": names where known, else ids; `None` when there is neither.
pub fn subject_name(
    profile_name: &Option<String>,
    profile_id: &Option<String>,
    branch_name: &Option<String>,
    branch_id: &Option<String>,
) -> Option<String> {
    let profile = profile_name.as_ref().or(profile_id.as_ref());
    let branch = branch_name.as_ref().or(branch_id.as_ref());
    match (profile, branch) {
        (Some(p), Some(b)) => Some(format!("{p} / {b}")),
        (Some(p), None) => Some(p.clone()),
        (None, Some(b)) => Some(b.clone()),
        (None, None) => None,
    }
}

/// The classified view of one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// Who sent it: it is part of the stream's key and the dashboard's sections.
    pub provider: Provider,
    pub scope: Scope,
    pub outcome: Outcome,
    /// The module as the sender named it (`Build`, `CodePush`, ...), if it did.
    pub module: Option<String>,
    /// A version was rejected by a store: failing, with its own wording.
    pub rejected: bool,
    /// A certificate, provisioning profile or keystore expiry reminder.
    pub expiring: bool,
    pub subject: Subject,
    /// When the run began, when the delivery says so itself (GitHub's `run_started_at`,
    /// GitLab's `created_at`): an end then has a duration without a start event.
    pub started_at: Option<DateTime<Utc>>,
}

/// Scopes the gate follows; the others (signing identity, other) are shown, not gated.
pub fn is_gated(scope: Scope) -> bool {
    matches!(
        scope,
        Scope::Build
            | Scope::TestingDistribution
            | Scope::PublishToStores
            | Scope::EnterpriseAppStore
    )
}

/// What a stream is keyed by: within a scope, the profile (its id when the sender gave one,
/// else its name) and, for builds only, the branch likewise. Empty when neither is known,
/// so such events still group together instead of vanishing. GitHub's and GitLab's keys
/// carry their provider's name, so that no two providers ever share a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub provider: Provider,
    pub scope: Scope,
    pub profile: String,
    pub branch: String,
}

impl StreamKey {
    pub fn of(provider: Provider, scope: Scope, subject: &Subject) -> StreamKey {
        let profile = subject
            .profile_id
            .clone()
            .or_else(|| subject.profile_name.clone())
            .unwrap_or_default();
        // Appcircle's keys stay as they were before other providers came.
        let profile = match provider {
            Provider::Appcircle => profile,
            other => format!("{}:{profile}", other.as_str()),
        };
        let branch = if scope == Scope::Build {
            subject
                .branch_id
                .clone()
                .or_else(|| subject.branch_name.clone())
                .unwrap_or_default()
        } else {
            String::new()
        };
        StreamKey {
            provider,
            scope,
            profile,
            branch,
        }
    }
}

/// What became of a request. Stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(ts_rs::TS)]
#[ts(export)]
pub enum Verdict {
    /// Verified, fresh, new: stored as an event.
    Accepted,
    /// Verified, but this endpoint already stored that delivery id (Appcircle's `deliveryId`,
    /// GitHub's `X-GitHub-Delivery`, GitLab's `Idempotency-Key`).
    Duplicate,
    MissingSignature,
    BadSignature,
    /// Verified, but not an envelope we can use (not JSON, no `deliveryId`, ...).
    Malformed,
    /// Verified, but its timestamp is outside the replay window; the user may accept it.
    Stale,
    TooLarge,
    MethodNotAllowed,
    /// The body did not arrive whole (client hung up or was too slow).
    Incomplete,
}

impl Verdict {
    /// Whether the body passed signature verification (so it came from the sender).
    pub fn is_verified(self) -> bool {
        matches!(
            self,
            Verdict::Accepted | Verdict::Duplicate | Verdict::Stale
        )
    }

    pub const ALL: [Verdict; 9] = [
        Verdict::Accepted,
        Verdict::Duplicate,
        Verdict::MissingSignature,
        Verdict::BadSignature,
        Verdict::Malformed,
        Verdict::Stale,
        Verdict::TooLarge,
        Verdict::MethodNotAllowed,
        Verdict::Incomplete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Duplicate => "duplicate",
            Verdict::MissingSignature => "missing_signature",
            Verdict::BadSignature => "bad_signature",
            Verdict::Malformed => "malformed",
            Verdict::Stale => "stale",
            Verdict::TooLarge => "too_large",
            Verdict::MethodNotAllowed => "method_not_allowed",
            Verdict::Incomplete => "incomplete",
        }
    }

    /// The HTTP status the sender gets. Never 410: senders read it as "disable me".
    pub fn status_code(self) -> u16 {
        match self {
            Verdict::Accepted | Verdict::Duplicate => 200,
            Verdict::MissingSignature | Verdict::BadSignature => 401,
            Verdict::Malformed | Verdict::Stale | Verdict::Incomplete => 400,
            Verdict::TooLarge => 413,
            Verdict::MethodNotAllowed => 405,
        }
    }
}

impl FromStr for Verdict {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let key = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        let alias = match key.as_str() {
            "invalid_signature" | "signature_mismatch" | "unauthorized" => "bad_signature",
            "unsigned" | "no_signature" => "missing_signature",
            "expired" | "too_old" | "outside_window" => "stale",
            "invalid" | "invalid_json" | "bad_request" => "malformed",
            "payload_too_large" | "oversized" => "too_large",
            "dup" | "duplicated" => "duplicate",
            other => other,
        };
        Verdict::ALL
            .into_iter()
            .find(|v| v.as_str() == alias)
            .ok_or_else(|| {
                let names: Vec<_> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
                format!("unknown verdict `{s}` (one of: {})", names.join(", "))
            })
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an event entered the store; notifications fire only for `live`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(ts_rs::TS)]
#[ts(export)]
pub enum Source {
    /// Arrived in time and was accepted on the spot.
    Live,
    /// Was stale, and the user accepted it from the request history.
    Accepted,
    /// A stored delivery fed through the pipeline again by the user.
    Replayed,
    /// Read from Appcircle's API by the account sync, not signed and pushed: never notified
    /// one by one (a sync ends in one summary at most).
    Synced,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Live => "live",
            Source::Accepted => "accepted",
            Source::Replayed => "replayed",
            Source::Synced => "synced",
        }
    }

    pub fn parse(s: &str) -> Source {
        match s {
            "accepted" => Source::Accepted,
            "replayed" => Source::Replayed,
            "synced" => Source::Synced,
            _ => Source::Live,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_win_over_names_and_only_builds_have_branches() {
        let subject = Subject {
            profile_id: Some("p-1".into()),
            profile_name: Some("App".into()),
            branch_id: None,
            branch_name: Some("main".into()),
            ..Subject::default()
        };
        let build = StreamKey::of(Provider::Appcircle, Scope::Build, &subject);
        assert_eq!(
            (build.profile.as_str(), build.branch.as_str()),
            ("p-1", "main")
        );
        let dist = StreamKey::of(Provider::Appcircle, Scope::TestingDistribution, &subject);
        assert_eq!((dist.profile.as_str(), dist.branch.as_str()), ("p-1", ""));
        let unknown = StreamKey::of(Provider::Appcircle, Scope::Build, &Subject::default());
        assert_eq!(
            (unknown.profile.as_str(), unknown.branch.as_str()),
            ("", "")
        );
        assert!(is_gated(Scope::Build) && !is_gated(Scope::SigningIdentity));
    }

    #[test]
    fn providers_never_share_a_stream() {
        let subject = Subject {
            profile_id: Some("acme/app".into()),
            branch_name: Some("main".into()),
            ..Subject::default()
        };
        let keys: Vec<String> = Provider::ALL
            .into_iter()
            .map(|p| StreamKey::of(p, Scope::Build, &subject).profile)
            .collect();
        assert_eq!(keys, ["acme/app", "github:acme/app", "gitlab:acme/app"]);
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()).ok(), Some(p));
        }
        assert!(Provider::parse("jenkins").is_err());
    }
}

//! What the store hands out: plain serialisable records with stable snake_case fields.
//! These are the JSON the CLI prints and the desktop UI receives.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::model::Source;
use crate::model::{Outcome, Provider, Scope, Verdict};

/// An endpoint as listed; secrets are never part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct EndpointInfo {
    pub id: i64,
    pub name: String,
    pub provider: Provider,
    pub secret_count: u32,
    pub created_at: String,
    pub updated_at: String,
    pub request_count: u64,
    pub event_count: u64,
    pub last_request_at: Option<String>,
}

/// One active secret of an endpoint (oldest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Secret {
    pub id: i64,
    pub secret: String,
    pub created_at: String,
}

/// One accepted delivery, classified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct EventRecord {
    pub id: i64,
    pub delivery_id: String,
    pub endpoint: String,
    /// Who sent it (an inbox older than GitHub and GitLab sends none: Appcircle).
    #[serde(default)]
    pub provider: Provider,
    pub request_id: Option<i64>,
    pub source: Source,
    pub scope: Scope,
    pub outcome: Outcome,
    pub module: Option<String>,
    pub action: Option<String>,
    pub title: Option<String>,
    pub message: Option<String>,
    pub profile_id: Option<String>,
    pub profile_name: Option<String>,
    pub branch_id: Option<String>,
    pub branch_name: Option<String>,
    pub task_id: Option<String>,
    pub build_id: Option<String>,
    pub commit_id: Option<String>,
    /// The git commit (lowercase hex) when known: what the Commits view links to. An inbox
    /// older than commit checks sends none.
    #[serde(default)]
    pub commit_sha: Option<String>,
    pub rejected: bool,
    pub expiring: bool,
    pub links: Map<String, Value>,
    /// Start to end of the build run this event finished, when both are known.
    pub duration_ms: Option<i64>,
    pub occurred_at: String,
    pub received_at: String,
    /// The payload exactly as received (lossy only for bytes that are not UTF-8), only when
    /// asked for one event. Text, not a parsed value: re-serialising would change numbers
    /// beyond 2^53 in JavaScript and the bytes a user copies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

/// One request the listener saw at an existing endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct RequestRecord {
    pub id: i64,
    pub endpoint: String,
    pub received_at: String,
    pub method: String,
    pub path: String,
    pub remote_addr: Option<String>,
    pub verdict: Verdict,
    pub status_code: u16,
    pub delivery_id: Option<String>,
    pub error: Option<String>,
    pub event_id: Option<i64>,
    pub accepted_at: Option<String>,
    pub body_size: u64,
    /// `[name, value]` pairs in arrival order, secret-bearing values redacted.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy for non-UTF-8), only when asked for one request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Only the first [`crate::store::REJECTED_BODY_KEPT`] bytes were kept: the request
    /// failed verification, and unauthenticated senders must not fill the disk.
    pub body_truncated: bool,
}

/// Requests to endpoints that do not exist, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct UnmatchedCount {
    pub name: String,
    pub hits: u64,
    pub first_seen: String,
    pub last_seen: String,
}

/// Filters for the event history; `None` means any.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ts_rs::TS)]
#[ts(export, optional_fields)]
#[serde(default)]
pub struct EventQuery {
    pub provider: Option<Provider>,
    /// A run's key (`task_id`): with scope `other`, a GitHub or GitLab run's jobs and checks.
    pub task: Option<String>,
    pub scope: Option<Scope>,
    pub outcome: Option<Outcome>,
    /// A profile id or name.
    pub profile: Option<String>,
    /// A branch id or name.
    pub branch: Option<String>,
    pub endpoint: Option<String>,
    /// Text searched for in title, message and action.
    pub text: Option<String>,
    /// Inclusive lower bound on `occurred_at` (RFC 3339).
    pub since: Option<String>,
    /// Exclusive upper bound on `occurred_at` (RFC 3339).
    pub until: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Filters for the request history.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ts_rs::TS)]
#[ts(export, optional_fields)]
#[serde(default)]
pub struct RequestQuery {
    pub verdict: Option<Verdict>,
    pub endpoint: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Default page size for listings.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page a single query returns.
pub const MAX_LIMIT: u32 = 10_000;

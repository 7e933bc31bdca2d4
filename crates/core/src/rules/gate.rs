//! The gate: one answer to "is everything green?", and the streams behind it.
//!
//! A stream is a build profile and branch, or a profile in Testing Distribution, Publish to
//! Stores or Enterprise App Store. Its state is its latest finished outcome (by the
//! delivery's own timestamp). The gate fails if any stream fails, passes if every stream
//! with an outcome passes, and is unknown when nothing has finished yet.

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use crate::model::{Outcome, Provider, Scope, names_profile};
use crate::store::{EventRecord, RecentOutcome, StreamRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(ts_rs::TS)]
#[ts(export)]
pub enum GateState {
    Passing,
    Failing,
    Unknown,
}

impl GateState {
    pub fn as_str(self) -> &'static str {
        match self {
            GateState::Passing => "passing",
            GateState::Failing => "failing",
            GateState::Unknown => "unknown",
        }
    }

    /// `gatehouse status` exits with this, so scripts can use it as a release gate.
    pub fn exit_code(self) -> i32 {
        match self {
            GateState::Passing => 0,
            GateState::Failing => 1,
            GateState::Unknown => 2,
        }
    }
}

/// One stream as the gate sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Stream {
    pub provider: Provider,
    pub scope: Scope,
    pub state: GateState,
    /// Stable identity of the stream (profile id or name; branch id or name for builds).
    pub profile_key: String,
    pub branch_key: String,
    pub profile_id: Option<String>,
    pub profile_name: Option<String>,
    pub branch_id: Option<String>,
    pub branch_name: Option<String>,
    /// The latest finished outcome.
    pub outcome: Option<Outcome>,
    pub rejected: bool,
    /// A build started after the latest end, within the running limit (24 hours).
    pub running: bool,
    /// A build started after the latest end longer ago than that, and never ended: shown as
    /// "running for 2 days?", neither running nor a result; `state` stays the last result's.
    pub stale: bool,
    /// When the unfinished build started (running or stale).
    pub running_since: Option<String>,
    /// How long a run usually takes: the median of recent successful runs.
    pub expected_duration_ms: Option<i64>,
    pub event_id: Option<i64>,
    pub title: Option<String>,
    pub message: Option<String>,
    pub occurred_at: Option<String>,
    pub duration_ms: Option<i64>,
    /// The latest event of any kind: what the dashboard row shows.
    pub last_event: Option<EventRecord>,
    /// The latest finished outcomes, newest first.
    pub recent: Vec<RecentOutcome>,
}

/// The overall answer with everything it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Gate {
    pub state: GateState,
    /// Some build is running in the streams considered.
    pub running: bool,
    pub streams: Vec<Stream>,
}

impl Gate {
    /// The streams that make the gate red.
    pub fn failing(&self) -> impl Iterator<Item = &Stream> {
        self.streams
            .iter()
            .filter(|s| s.state == GateState::Failing)
    }
}

/// Narrows the gate to one profile and/or branch, each matched by id or name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct GateFilter {
    pub provider: Option<Provider>,
    pub profile: Option<String>,
    pub branch: Option<String>,
}

/// By id, or by name in any case; a GitHub repository's name stands for all its workflows
/// (`acme/app` matches `acme/app · CI`).
fn matches(wanted: &Option<String>, id: &Option<String>, name: &Option<String>) -> bool {
    let Some(wanted) = wanted else { return true };
    id.as_deref() == Some(wanted.as_str())
        || name.as_deref().is_some_and(|n| names_profile(n, wanted))
}

pub fn evaluate(rows: Vec<StreamRow>, filter: &GateFilter) -> Gate {
    let streams: Vec<Stream> = rows
        .into_iter()
        .filter(|r| filter.provider.is_none_or(|p| r.provider == p))
        .filter(|r| matches(&filter.profile, &r.profile_id, &r.profile_name))
        .filter(|r| {
            filter.branch.is_none()
                || (r.scope == Scope::Build
                    && matches(&filter.branch, &r.branch_id, &r.branch_name))
        })
        .map(stream)
        .collect();
    let state = if streams.iter().any(|s| s.state == GateState::Failing) {
        GateState::Failing
    } else if streams.iter().any(|s| s.state == GateState::Passing) {
        GateState::Passing
    } else {
        GateState::Unknown
    };
    Gate {
        state,
        running: streams.iter().any(|s| s.running),
        streams,
    }
}

fn stream(row: StreamRow) -> Stream {
    let last = row.last_finished;
    let state = match &last {
        None => GateState::Unknown,
        Some(e) if e.outcome.is_failing() || e.rejected => GateState::Failing,
        Some(_) => GateState::Passing,
    };
    Stream {
        provider: row.provider,
        scope: row.scope,
        state,
        profile_key: row.profile_key,
        branch_key: row.branch_key,
        profile_id: row.profile_id,
        profile_name: row.profile_name,
        branch_id: row.branch_id,
        branch_name: row.branch_name,
        outcome: last.as_ref().map(|e| e.outcome),
        rejected: last.as_ref().is_some_and(|e| e.rejected),
        running: row.running_since.is_some() && !row.stale,
        stale: row.stale,
        running_since: row.running_since,
        expected_duration_ms: row.expected_duration_ms,
        event_id: last.as_ref().map(|e| e.id),
        title: last.as_ref().and_then(|e| e.title.clone()),
        message: last.as_ref().and_then(|e| e.message.clone()),
        occurred_at: last.as_ref().map(|e| e.occurred_at.clone()),
        duration_ms: last.as_ref().and_then(|e| e.duration_ms),
        last_event: row.last_event,
        recent: row.recent,
    }
}

/// A stale start in words, as of `now`: "running for 30 h?", "running for 2 days?". The
/// question mark is the point: its end was probably never told.
pub fn stale_words(since: &str, now: DateTime<Utc>) -> String {
    let Some(since) = crate::time::from_text(since) else {
        return "running for a long time?".into();
    };
    let hours = (now - since).num_hours().max(0);
    if hours < 48 {
        format!("running for {hours} h?")
    } else {
        format!("running for {} days?", hours / 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_start_says_how_long_with_a_question() {
        let now = crate::time::from_text("2028-03-01T00:05:00Z").expect("a fixed now");
        let ago = |h: i64| crate::time::to_text(now - chrono::Duration::hours(h));
        assert_eq!(stale_words(&ago(30), now), "running for 30 h?");
        assert_eq!(stale_words(&ago(49), now), "running for 2 days?");
        assert_eq!(stale_words(&ago(24 * 9 + 3), now), "running for 9 days?");
        assert_eq!(stale_words("garbage", now), "running for a long time?");
    }
}

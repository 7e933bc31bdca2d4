//! A commit's checks: "is this commit ready to ship?" across every provider, as GitHub
//! answers it for the checks that report to GitHub.
//!
//! A check is one stream's profile within the commit (an Appcircle build profile, a
//! distribution or publish profile, a GitHub workflow, a GitLab project), whatever the
//! branch: the commit is the same on any. Its state is its latest outcome by the event's
//! own time, so a re-run supersedes the run before it: a start after an end is running
//! again. Which checks are required comes from the settings' rules per branch pattern;
//! without a rule for the commit's branches, every check that reported is required.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::model::{Outcome, Provider, Scope, git_sha};
use crate::settings::RequiredChecks;
use crate::store::{
    CommitFilter, EventRecord, MAX_CANDIDATES, MIN_PREFIX, RUNNING_LIMIT_HOURS, Store,
};
use crate::time::from_text;
use crate::{Error, Result};

/// Where one check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum CheckState {
    Passed,
    Failed,
    Running,
    /// Required, and nothing reported it for this commit (yet, or it was pruned); or it
    /// started longer ago than the running limit and no result was ever told.
    Missing,
    /// It reported only news that is no result (a version deployed to Publish, say):
    /// neither passed nor failed, and like GitHub's `neutral` it does not hold a commit
    /// back.
    Neutral,
}

impl CheckState {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckState::Passed => "passed",
            CheckState::Failed => "failed",
            CheckState::Running => "running",
            CheckState::Missing => "missing",
            CheckState::Neutral => "neutral",
        }
    }
}

/// Where the commit stands: `gatehouse status --commit` exits with [`CommitState::exit_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum CommitState {
    /// Every required check passed.
    Ready,
    /// A required check failed.
    Failing,
    /// A required check is running or missing (or nothing reported for the commit).
    Pending,
}

impl CommitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CommitState::Ready => "ready",
            CommitState::Failing => "failing",
            CommitState::Pending => "pending",
        }
    }

    /// 0 ready, 1 failing, 2 pending: the gate's codes (3 is an error).
    pub fn exit_code(self) -> i32 {
        match self {
            CommitState::Ready => 0,
            CommitState::Failing => 1,
            CommitState::Pending => 2,
        }
    }
}

/// One check of a commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Check {
    /// What the required-checks rules name it by: `build: Acme iOS`,
    /// `github: acme/app · CI`, `gitlab: acme/app`.
    pub name: String,
    /// `None` for a required check that never reported.
    pub provider: Option<Provider>,
    pub scope: Option<Scope>,
    pub state: CheckState,
    pub required: bool,
    /// The latest outcome (a start while it runs again).
    pub outcome: Option<Outcome>,
    pub branch_name: Option<String>,
    /// The latest event: its detail in the window.
    pub event_id: Option<i64>,
    pub title: Option<String>,
    pub occurred_at: Option<String>,
    /// Start to end of the latest finished run, when both are known.
    pub duration_ms: Option<i64>,
    /// Where the sender shows it (the event's `detail` link).
    pub link: Option<String>,
    /// How many runs reported for this commit (a re-run is one more).
    pub runs: u32,
}

/// The counts GitHub's summary line gives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CheckCounts {
    /// Required checks.
    pub required: u32,
    pub passed: u32,
    pub failed: u32,
    pub running: u32,
    pub missing: u32,
    pub neutral: u32,
}

/// A commit's checks and what they add up to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CommitChecks {
    /// The full SHA, lowercase.
    pub sha: String,
    pub short: String,
    pub state: CommitState,
    /// "3 of 4 checks passed, 1 running": of the required checks.
    pub summary: String,
    pub counts: CheckCounts,
    /// The branches its events name.
    pub branches: Vec<String>,
    /// The rule's branch pattern that chose the required checks; `None`: every check
    /// that reported is required.
    pub rule: Option<String>,
    /// Required checks first, then by name.
    pub checks: Vec<Check>,
    /// Its newest event's time.
    pub last_at: Option<String>,
}

/// Release branches when no required-checks rule names any: where a commit that is ready
/// is news worth a notification.
pub const DEFAULT_RELEASE_BRANCHES: [&str; 5] =
    ["main", "master", "release/*", "release-*", "releases/*"];

/// Whether commit `c` is on a release branch: one a required-checks rule names, or, with
/// no rules at all, one of [`DEFAULT_RELEASE_BRANCHES`].
pub fn on_release_branch(c: &CommitChecks, rules: &[RequiredChecks]) -> bool {
    c.branches.iter().any(|b| {
        if rules.is_empty() {
            DEFAULT_RELEASE_BRANCHES
                .iter()
                .any(|p| crate::settings::glob_matches(p, b))
        } else {
            rules.iter().any(|r| r.matches(b))
        }
    })
}

/// The name a check has in rules and tables: the scope for Appcircle's (one profile can
/// build, distribute and publish), the provider for the others'.
pub fn check_name(provider: Provider, scope: Scope, profile: &str) -> String {
    match provider {
        Provider::Appcircle => format!("{}: {profile}", scope.as_str()),
        other => format!("{}: {profile}", other.as_str()),
    }
}

/// The first 7 digits, as git abbreviates.
pub fn short(sha: &str) -> String {
    sha.chars().take(7).collect()
}

/// Gathers `events` (the commit's, oldest first) into its checks under `rules` as of `now`.
pub fn evaluate(
    sha: &str,
    events: &[EventRecord],
    rules: &[RequiredChecks],
    now: DateTime<Utc>,
) -> CommitChecks {
    let mut branches: Vec<String> = Vec::new();
    for b in events.iter().filter_map(|e| e.branch_name.clone()) {
        if !branches.contains(&b) {
            branches.push(b);
        }
    }
    let rule = rules.iter().find(|r| branches.iter().any(|b| r.matches(b)));
    let mut by_check: BTreeMap<(Provider, Scope, String), Vec<&EventRecord>> = BTreeMap::new();
    for e in events {
        let key = (e.provider, e.scope, stream_profile(e));
        by_check.entry(key).or_default().push(e);
    }
    let mut checks: Vec<Check> = by_check
        .into_iter()
        .map(|((provider, scope, _), events)| check(provider, scope, &events, now))
        .collect();
    match rule {
        Some(rule) => {
            for c in &mut checks {
                c.required = rule.checks.iter().any(|n| n.trim() == c.name);
            }
            for name in &rule.checks {
                let name = name.trim();
                if !checks.iter().any(|c| c.name == name) {
                    checks.push(missing(name));
                }
            }
        }
        None => checks.iter_mut().for_each(|c| c.required = true),
    }
    checks.sort_by(|a, b| b.required.cmp(&a.required).then(a.name.cmp(&b.name)));
    let counts = count(&checks);
    let state = if counts.failed > 0 {
        CommitState::Failing
    } else if counts.required == 0 || counts.running > 0 || counts.missing > 0 {
        CommitState::Pending
    } else {
        CommitState::Ready
    };
    CommitChecks {
        sha: sha.to_owned(),
        short: short(sha),
        state,
        summary: summary(&counts),
        counts,
        branches,
        rule: rule.map(|r| r.branch.clone()),
        checks,
        last_at: events.iter().map(|e| e.occurred_at.clone()).max(),
    }
}

/// A check is its stream's profile: the key the stream keeps whatever the names.
fn stream_profile(e: &EventRecord) -> String {
    e.profile_id
        .clone()
        .or_else(|| e.profile_name.clone())
        .unwrap_or_default()
}

fn check(provider: Provider, scope: Scope, events: &[&EventRecord], now: DateTime<Utc>) -> Check {
    let newest = events.last().copied();
    let profile = events
        .iter()
        .rev()
        .find_map(|e| e.profile_name.clone())
        .or_else(|| newest.and_then(|e| e.profile_id.clone()))
        .unwrap_or_else(|| "(unnamed)".into());
    // Info is news, not a result: the latest result decides. Info of a started run itself
    // (skipped, waiting for a manual action, action required) ends that run with none.
    let results: Vec<&EventRecord> = events
        .iter()
        .copied()
        .filter(|e| e.outcome != Outcome::Info)
        .collect();
    let finished = results
        .iter()
        .rev()
        .find(|e| e.outcome.is_finished())
        .copied();
    let open_start = results
        .last()
        .copied()
        .filter(|e| e.outcome == Outcome::Started)
        .filter(|start| {
            !events
                .iter()
                .skip_while(|e| e.id != start.id)
                .skip(1)
                .any(|e| {
                    e.outcome == Outcome::Info && e.task_id.is_some() && e.task_id == start.task_id
                })
        });
    let horizon = now - Duration::hours(RUNNING_LIMIT_HOURS);
    // A start that never ended within the running limit is not running: its end was
    // probably never told, and the result before it stands (as the gate keeps it).
    let running =
        open_start.is_some_and(|e| from_text(&e.occurred_at).is_some_and(|t| t > horizon));
    let state = if running {
        CheckState::Running
    } else {
        match finished {
            Some(e) if e.outcome.is_failing() || e.rejected => CheckState::Failed,
            Some(_) => CheckState::Passed,
            // Started long ago, no end told: no result to go by.
            None if open_start.is_some() => CheckState::Missing,
            None => CheckState::Neutral,
        }
    };
    let shown = if running { open_start } else { finished }.or(newest);
    // One run: an Appcircle build by its build id (the account's read keys it by that, its
    // webhooks by their task, whose start names no build), a GitHub run attempt or GitLab
    // pipeline by its task.
    let build_of: std::collections::HashMap<&str, &str> = events
        .iter()
        .filter_map(|e| Some((e.task_id.as_deref()?, e.build_id.as_deref()?)))
        .collect();
    let mut runs: Vec<&str> = events
        .iter()
        .filter_map(|e| match provider {
            Provider::Appcircle => e
                .build_id
                .as_deref()
                .or_else(|| e.task_id.as_deref().and_then(|t| build_of.get(t).copied()))
                .or(e.task_id.as_deref()),
            _ => e.task_id.as_deref(),
        })
        .collect();
    runs.sort_unstable();
    runs.dedup();
    Check {
        name: check_name(provider, scope, &profile),
        provider: Some(provider),
        scope: Some(scope),
        state,
        required: false,
        outcome: shown.map(|e| e.outcome),
        branch_name: shown.and_then(|e| e.branch_name.clone()),
        event_id: shown.map(|e| e.id),
        title: shown.and_then(|e| e.title.clone()),
        occurred_at: shown.map(|e| e.occurred_at.clone()),
        duration_ms: finished.and_then(|e| e.duration_ms).filter(|_| !running),
        link: shown
            .and_then(|e| e.links.get("detail"))
            .and_then(|v| v.as_str())
            .filter(|l| l.starts_with("https://") || l.starts_with("http://"))
            .map(str::to_owned),
        runs: runs.len().max(usize::from(!events.is_empty())) as u32,
    }
}

fn missing(name: &str) -> Check {
    Check {
        name: name.to_owned(),
        provider: None,
        scope: None,
        state: CheckState::Missing,
        required: true,
        outcome: None,
        branch_name: None,
        event_id: None,
        title: None,
        occurred_at: None,
        duration_ms: None,
        link: None,
        runs: 0,
    }
}

fn count(checks: &[Check]) -> CheckCounts {
    let mut n = CheckCounts::default();
    for c in checks.iter().filter(|c| c.required) {
        n.required += 1;
        match c.state {
            CheckState::Passed => n.passed += 1,
            CheckState::Failed => n.failed += 1,
            CheckState::Running => n.running += 1,
            CheckState::Missing => n.missing += 1,
            CheckState::Neutral => n.neutral += 1,
        }
    }
    n
}

/// "3 of 4 checks passed, 1 running", GitHub's wording; "no checks have reported" for none.
pub fn summary(n: &CheckCounts) -> String {
    if n.required == 0 {
        return "no checks have reported".into();
    }
    let noun = if n.required == 1 { "check" } else { "checks" };
    let mut text = format!("{} of {} {noun} passed", n.passed + n.neutral, n.required);
    for (count, word) in [
        (n.failed, "failed"),
        (n.running, "running"),
        (n.missing, "missing"),
    ] {
        if count > 0 {
            text.push_str(&format!(", {count} {word}"));
        }
    }
    text
}

/// Reads commit `commit` (a full SHA, or a prefix of [`MIN_PREFIX`] hex digits or more
/// that only one commit starts with) from `store` and evaluates it under the settings'
/// rules. Not found: nothing reported for it. An ambiguous prefix lists its candidates.
pub fn for_commit(store: &Store, commit: &str) -> Result<CommitChecks> {
    let sha = resolve(store, commit)?;
    let rules = store.settings()?.required_checks;
    let c = stored(store, &sha, &rules)?;
    if c.last_at.is_none() {
        return Err(Error::NotFound(format!(
            "no check has reported for commit {sha}"
        )));
    }
    Ok(c)
}

/// The checks of the commit event `e` is of, if it is of one, under `rules` (the desktop
/// asks after each live event, to say when a commit becomes ready, with the settings it
/// has just read).
pub fn for_event(
    store: &Store,
    e: &EventRecord,
    rules: &[RequiredChecks],
) -> Result<Option<CommitChecks>> {
    if !crate::model::is_gated(e.scope) {
        return Ok(None);
    }
    let Some(sha) = store.commit_of(e)? else {
        return Ok(None);
    };
    Ok(Some(stored(store, &sha, rules)?))
}

/// The newest commits (at most `limit`, those `filter` keeps), each with its checks.
pub fn recent(store: &Store, filter: CommitFilter<'_>, limit: usize) -> Result<Vec<CommitChecks>> {
    let rules = store.settings()?.required_checks;
    store
        .recent_commits(filter, limit)?
        .iter()
        .map(|sha| stored(store, sha, &rules))
        .collect()
}

/// Commit `sha` as stored, under `rules`, as of the store's clock.
fn stored(store: &Store, sha: &str, rules: &[RequiredChecks]) -> Result<CommitChecks> {
    let events = store.commit_events(sha)?;
    Ok(evaluate(sha, &events, rules, store.clock().now()))
}

/// The full SHA `commit` stands for.
fn resolve(store: &Store, commit: &str) -> Result<String> {
    let wanted = commit.trim().to_ascii_lowercase();
    if wanted.len() < MIN_PREFIX
        || wanted.len() > 64
        || !wanted.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(Error::Invalid(format!(
            "`{}` is not a commit: give its SHA, or at least its first {MIN_PREFIX} hex digits",
            crate::text::neutralise(&commit.chars().take(80).collect::<String>(), false)
        )));
    }
    if git_sha(&wanted).is_some() {
        return Ok(wanted);
    }
    let candidates = store.commits_matching(&wanted)?;
    match candidates.as_slice() {
        [] => Err(Error::NotFound(format!(
            "no check has reported for a commit starting with {wanted}"
        ))),
        [one] => Ok(one.clone()),
        many => {
            let more = if many.len() > MAX_CANDIDATES {
                " (and more)".to_owned()
            } else {
                String::new()
            };
            let listed: Vec<&str> = many
                .iter()
                .take(MAX_CANDIDATES)
                .map(String::as_str)
                .collect();
            Err(Error::Invalid(format!(
                "{wanted} is ambiguous: it starts {}{more}; give more digits",
                listed.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events of one commit at fixed offsets from a fixed now: pure rules, no clock read.
    fn now() -> DateTime<Utc> {
        // Fixed dates on purpose: a now the events are placed around.
        crate::time::from_text("2028-03-01T12:00:00Z").expect("now")
    }

    fn event(
        id: i64,
        provider: Provider,
        scope: Scope,
        profile: &str,
        outcome: Outcome,
        hours_ago: i64,
    ) -> EventRecord {
        let at = crate::time::to_text(now() - Duration::hours(hours_ago));
        EventRecord {
            id,
            delivery_id: format!("d{id}"),
            endpoint: "ci".into(),
            provider,
            request_id: None,
            source: crate::model::Source::Live,
            scope,
            outcome,
            module: None,
            action: None,
            title: Some(format!("{outcome}")),
            message: None,
            profile_id: Some(profile.to_lowercase()),
            profile_name: Some(profile.into()),
            branch_id: None,
            branch_name: Some("release/2.4".into()),
            task_id: Some(format!("t{id}")),
            build_id: None,
            commit_id: None,
            commit_sha: Some("ab".repeat(20)),
            rejected: false,
            expiring: false,
            links: Default::default(),
            duration_ms: None,
            occurred_at: at.clone(),
            received_at: at,
            payload: None,
        }
    }

    const SHA: &str = "abababababababababababababababababababab";

    fn rule(branch: &str, checks: &[&str]) -> RequiredChecks {
        RequiredChecks {
            branch: branch.into(),
            checks: checks.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn a_start_past_the_running_limit_is_not_running_and_the_result_before_it_stands() {
        let (gh, build) = (Provider::Github, Scope::Build);
        let events = [
            event(1, gh, build, "acme/app · CI", Outcome::Succeeded, 30),
            event(2, gh, build, "acme/app · CI", Outcome::Started, 25),
        ];
        let c = evaluate(SHA, &events, &[], now());
        assert_eq!(c.checks[0].state, CheckState::Passed, "{c:#?}");
        assert_eq!(c.state, CommitState::Ready);
        // Within the limit, the same start runs again.
        let events = [
            event(1, gh, build, "acme/app · CI", Outcome::Succeeded, 3),
            event(2, gh, build, "acme/app · CI", Outcome::Started, 2),
        ];
        let c = evaluate(SHA, &events, &[], now());
        assert_eq!(c.checks[0].state, CheckState::Running);
        assert_eq!(
            c.checks[0].duration_ms, None,
            "no duration while it runs again"
        );
        assert_eq!(c.state, CommitState::Pending);
    }

    #[test]
    fn news_that_is_no_result_neither_passes_nor_holds_a_commit_back() {
        let ac = Provider::Appcircle;
        let events = [
            event(1, ac, Scope::Build, "Acme iOS", Outcome::Succeeded, 3),
            event(2, ac, Scope::PublishToStores, "Acme iOS", Outcome::Info, 2),
        ];
        let c = evaluate(SHA, &events, &[], now());
        let publish = c
            .checks
            .iter()
            .find(|c| c.name == "publish_to_stores: Acme iOS");
        assert_eq!(publish.map(|c| c.state), Some(CheckState::Neutral));
        assert_eq!(c.state, CommitState::Ready);
        assert_eq!(c.summary, "2 of 2 checks passed");
        // A result after the news decides.
        let mut events = events.to_vec();
        events.push(event(
            3,
            ac,
            Scope::PublishToStores,
            "Acme iOS",
            Outcome::Failed,
            1,
        ));
        let c = evaluate(SHA, &events, &[], now());
        assert_eq!(c.state, CommitState::Failing);
        assert_eq!(c.summary, "1 of 2 checks passed, 1 failed");
    }

    #[test]
    fn a_rule_requires_its_checks_only_and_names_the_missing_ones() {
        let events = [
            event(
                1,
                Provider::Appcircle,
                Scope::Build,
                "Acme iOS",
                Outcome::Succeeded,
                3,
            ),
            event(
                2,
                Provider::Github,
                Scope::Build,
                "acme/app · Lint",
                Outcome::Failed,
                2,
            ),
        ];
        let rules = [
            rule("main", &["build: Other"]),
            rule(
                "release/*",
                &["build: Acme iOS", " publish_to_stores: Acme iOS "],
            ),
        ];
        let c = evaluate(SHA, &events, &rules, now());
        assert_eq!(c.rule.as_deref(), Some("release/*"));
        let shown: Vec<(&str, bool, CheckState)> = c
            .checks
            .iter()
            .map(|c| (c.name.as_str(), c.required, c.state))
            .collect();
        assert_eq!(
            shown,
            [
                ("build: Acme iOS", true, CheckState::Passed),
                ("publish_to_stores: Acme iOS", true, CheckState::Missing),
                ("github: acme/app · Lint", false, CheckState::Failed),
            ]
        );
        assert_eq!(
            c.state,
            CommitState::Pending,
            "a failure not required holds nothing"
        );
        assert_eq!(c.summary, "1 of 2 checks passed, 1 missing");
        assert!(on_release_branch(&c, &rules));
        assert!(!on_release_branch(&c, &[rule("main", &["build: Other"])]));
    }

    #[test]
    fn without_rules_every_check_is_required_and_release_branches_are_the_usual_ones() {
        let mut e = event(
            1,
            Provider::Gitlab,
            Scope::Build,
            "acme/app",
            Outcome::Succeeded,
            1,
        );
        let c = evaluate(SHA, std::slice::from_ref(&e), &[], now());
        assert_eq!(c.checks[0].name, "gitlab: acme/app");
        assert!(c.checks[0].required);
        assert_eq!(c.summary, "1 of 1 check passed");
        assert!(on_release_branch(&c, &[]));
        e.branch_name = Some("feature/x".into());
        let c = evaluate(SHA, &[e], &[], now());
        assert!(!on_release_branch(&c, &[]));
        let none = evaluate(SHA, &[], &[], now());
        assert_eq!(none.state, CommitState::Pending);
        assert_eq!(none.summary, "no checks have reported");
    }

    #[test]
    fn a_run_that_ends_with_no_result_is_not_running() {
        let (gl, build) = (Provider::Gitlab, Scope::Build);
        let mut start = event(1, gl, build, "acme/app", Outcome::Started, 2);
        let mut skipped = event(2, gl, build, "acme/app", Outcome::Info, 1);
        start.task_id = Some("pipeline-9".into());
        skipped.task_id = Some("pipeline-9".into());
        let c = evaluate(SHA, &[start.clone(), skipped.clone()], &[], now());
        assert_eq!(c.checks[0].state, CheckState::Neutral, "{c:#?}");
        assert_eq!(c.state, CommitState::Ready);
        // Info of another run does not end this one.
        skipped.task_id = Some("pipeline-8".into());
        let c = evaluate(SHA, &[start, skipped], &[], now());
        assert_eq!(c.checks[0].state, CheckState::Running);
    }

    #[test]
    fn an_appcircle_build_told_by_its_webhooks_and_read_by_the_account_is_one_run() {
        let (ac, build) = (Provider::Appcircle, Scope::Build);
        let mut start = event(1, ac, build, "Acme iOS", Outcome::Started, 3);
        start.task_id = Some("task-1".into());
        let mut end = event(2, ac, build, "Acme iOS", Outcome::Succeeded, 2);
        end.task_id = Some("task-1".into());
        end.build_id = Some("build-1".into());
        let mut read = event(3, ac, build, "Acme iOS", Outcome::Succeeded, 1);
        read.task_id = Some("build-1".into());
        read.build_id = Some("build-1".into());
        let c = evaluate(SHA, &[start, end, read], &[], now());
        assert_eq!(c.checks[0].runs, 1, "{c:#?}");
    }

    #[test]
    fn a_rejected_version_fails_its_check() {
        let mut e = event(
            1,
            Provider::Appcircle,
            Scope::PublishToStores,
            "Acme iOS",
            Outcome::Succeeded,
            1,
        );
        // A rejection's outcome may read as a success (the flow ran): `rejected` decides.
        e.rejected = true;
        let c = evaluate(SHA, &[e], &[], now());
        assert_eq!(c.checks[0].state, CheckState::Failed);
        assert_eq!(c.state.exit_code(), 1);
    }
}

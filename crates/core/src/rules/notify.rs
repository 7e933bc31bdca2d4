//! Which stored events become desktop notifications, and when. Pure state, driven by the
//! shell (which owns the OS notification daemon and the clock), so every rule is tested here.
//!
//! Rules: only live deliveries notify (never ones accepted from history or replayed); per
//! scope and outcome as the settings say; a rejected version, an expiry reminder and a
//! stream turning green again have their own switches. More than three within ten seconds
//! become one summary. While paused or in quiet hours nothing shows; what was held back is
//! summarised once they end. What a desktop copies from an inbox's backlog (what arrived
//! while it was away) becomes one summary when the backlog is stored ([`CatchUp`]), and the
//! rules apply to each stream's latest state then, not to every event on the way.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;
use ts_rs::TS;

use crate::model::Source;
use crate::model::{Outcome, Provider, Scope, subject_name};
use crate::rules::checks::{CheckState, CommitChecks, CommitState, on_release_branch};
use crate::rules::gate::{Gate, GateState, Stream};
use crate::settings::Settings;
use crate::store::EventRecord;

/// How many notifications may show individually within [`BURST_WINDOW`].
pub const BURST_LIMIT: usize = 3;
pub const BURST_WINDOW: Duration = Duration::from_secs(10);

/// One notification to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct Notification {
    pub summary: String,
    pub body: String,
    /// The event a click should open; `None` for summaries.
    pub event_id: Option<i64>,
    pub critical: bool,
}

/// Remembers stream states and recent notifications.
#[derive(Debug, Default)]
pub struct Notifier {
    /// Each stream's state and latest finished event, as of the last gate seen.
    states: HashMap<GateKey, (GateState, Option<i64>)>,
    shown: VecDeque<Instant>,
    burst: Vec<Notification>,
    held: Vec<Notification>,
    /// Commits said to be ready, until they are not (a re-run starts): each is said once.
    ready: HashSet<String>,
}

/// Identifies a stream across gates: scope, profile key, branch key (the keys already carry
/// the provider; see [`crate::model::StreamKey`]).
type GateKey = (Scope, String, String);

fn stream_key(s: &Stream) -> GateKey {
    (s.scope, s.profile_key.clone(), s.branch_key.clone())
}

fn stream_name(e: &EventRecord) -> String {
    subject_name(&e.profile_name, &e.profile_id, &e.branch_name, &e.branch_id)
        .unwrap_or_else(|| e.scope.label().to_owned())
}

fn outcome_words(o: Outcome) -> &'static str {
    match o {
        Outcome::Started => "started",
        Outcome::Succeeded => "succeeded",
        Outcome::Warning => "finished with warnings",
        Outcome::Failed => "failed",
        Outcome::Canceled => "was canceled",
        Outcome::TimedOut => "timed out",
        Outcome::Info => "update",
    }
}

impl Notifier {
    /// Starts from the current gate so that "back to green" knows what was red.
    pub fn new(gate: &Gate) -> Self {
        let mut n = Notifier::default();
        n.remember(gate);
        n
    }

    fn remember(&mut self, gate: &Gate) {
        for s in &gate.streams {
            self.states.insert(stream_key(s), (s.state, s.event_id));
        }
    }

    /// What a new event should raise. `gate` is the gate after the event was stored.
    /// `quiet` is whether notifications are paused or in quiet hours right now.
    pub fn on_event(
        &mut self,
        event: &EventRecord,
        gate: &Gate,
        settings: &Settings,
        quiet: bool,
        now: Instant,
    ) -> Vec<Notification> {
        let before = self.states.clone();
        self.remember(gate);
        if event.source != Source::Live {
            return Vec::new();
        }
        let Some(notification) = self.decide(event, gate, &before, settings) else {
            return Vec::new();
        };
        self.pace(notification, quiet, now)
    }

    /// What `event` (live, just stored) makes of its commit `commit` (read after it): "is
    /// ready" once, when the event completes the required checks of a commit on a release
    /// branch. A commit that stops being ready (a re-run) can be ready again.
    pub fn on_commit(
        &mut self,
        event: &EventRecord,
        commit: &CommitChecks,
        settings: &Settings,
        quiet: bool,
        now: Instant,
    ) -> Vec<Notification> {
        if commit.state != CommitState::Ready {
            self.ready.remove(&commit.sha);
            return Vec::new();
        }
        let completes = commit
            .checks
            .iter()
            .any(|c| c.required && c.state == CheckState::Passed && c.event_id == Some(event.id));
        if event.source != Source::Live
            || !settings.notifications.commit_ready
            || !completes
            || !on_release_branch(commit, &settings.required_checks)
            || !self.ready.insert(commit.sha.clone())
        {
            return Vec::new();
        }
        // "Acme iOS on release/2.4 (abc1234) is ready": the first required check's subject.
        let what = commit
            .checks
            .first()
            .map(|c| c.name.split_once(": ").map_or(c.name.as_str(), |(_, n)| n))
            .unwrap_or("A commit");
        let on = commit
            .branches
            .first()
            .map(|b| format!(" on {b}"))
            .unwrap_or_default();
        let notification = Notification {
            summary: format!("{what}{on} ({}) is ready", commit.short),
            body: commit.summary.clone(),
            event_id: Some(event.id),
            critical: false,
        };
        self.pace(notification, quiet, now)
    }

    /// Shows `notification` now, or holds it (quiet time), or keeps it for a burst's summary.
    fn pace(&mut self, notification: Notification, quiet: bool, now: Instant) -> Vec<Notification> {
        if quiet {
            self.held.push(notification);
            return Vec::new();
        }
        self.shown.retain(|t| now.duration_since(*t) < BURST_WINDOW);
        if self.shown.len() >= BURST_LIMIT {
            self.burst.push(notification);
            return Vec::new();
        }
        self.shown.push_back(now);
        vec![notification]
    }

    fn decide(
        &self,
        e: &EventRecord,
        gate: &Gate,
        before: &HashMap<GateKey, (GateState, Option<i64>)>,
        settings: &Settings,
    ) -> Option<Notification> {
        // A GitHub job or check, a GitLab job: details of a run, which itself notifies.
        if e.provider != Provider::Appcircle && e.scope == Scope::Other {
            return None;
        }
        let rules = &settings.notifications;
        let title = e
            .title
            .clone()
            .unwrap_or_else(|| e.scope.label().to_owned());
        let body = e.message.clone().unwrap_or_default();
        let name = stream_name(e);
        if e.rejected {
            return rules.rejected.then(|| Notification {
                summary: format!("Rejected: {name}"),
                body,
                event_id: Some(e.id),
                critical: true,
            });
        }
        if e.expiring {
            return rules.expiring.then(|| Notification {
                summary: format!("Expiring soon: {title}"),
                body,
                event_id: Some(e.id),
                critical: false,
            });
        }
        if rules.wants(e.provider, e.scope, e.outcome) {
            return Some(Notification {
                summary: format!("{} {}: {name}", e.scope.label(), outcome_words(e.outcome)),
                body,
                event_id: Some(e.id),
                critical: e.outcome.is_failing(),
            });
        }
        if rules.back_to_green && matches!(e.outcome, Outcome::Succeeded | Outcome::Warning) {
            let turned_green = gate.streams.iter().any(|s| {
                s.event_id == Some(e.id)
                    && s.state == GateState::Passing
                    && before.get(&stream_key(s)).map(|b| b.0) == Some(GateState::Failing)
            });
            if turned_green {
                return Some(Notification {
                    summary: format!("Back to green: {name}"),
                    body,
                    event_id: Some(e.id),
                    critical: false,
                });
            }
        }
        None
    }

    /// Called on a timer: the summary of a finished burst, or of what quiet time held back.
    pub fn flush(&mut self, quiet: bool, now: Instant) -> Option<Notification> {
        self.shown.retain(|t| now.duration_since(*t) < BURST_WINDOW);
        if !quiet && !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            return Some(summary("while notifications were held", &held));
        }
        if !self.burst.is_empty() && self.shown.is_empty() {
            let burst = std::mem::take(&mut self.burst);
            if burst.len() == 1 {
                self.shown.push_back(now);
                return burst.into_iter().next();
            }
            return Some(summary("in a burst", &burst));
        }
        None
    }
}

/// What an inbox's backlog brought, gathered until it is all stored. It starts from the
/// stream states before the backlog ([`Notifier::catch_up`]), so live events handled in the
/// meantime do not hide what the backlog changed; its count comes from the mirror's reports
/// (a lagging broadcast may drop notices, never reports).
#[derive(Debug, Default)]
pub struct CatchUp {
    events: u64,
    before: HashMap<GateKey, (GateState, Option<i64>)>,
    rejected: Vec<String>,
    expiring: u64,
}

impl CatchUp {
    /// `n` more events stored from the backlog.
    pub fn count(&mut self, n: u64) {
        self.events += n;
    }

    /// One backlog event seen: rejected versions and expiry reminders are named in the summary.
    pub fn add(&mut self, e: &EventRecord) {
        if e.rejected {
            self.rejected.push(stream_name(e));
        }
        if e.expiring {
            self.expiring += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.events == 0
    }
}

impl Notifier {
    /// A catch-up starting from the states known now (before the backlog's first change).
    pub fn catch_up(&self) -> CatchUp {
        CatchUp {
            before: self.states.clone(),
            ..CatchUp::default()
        }
    }

    /// The one notification for a stored backlog or sync: under `heading` ("While you were
    /// away: 14 events"), then the
    /// streams whose latest state (in `gate`, read after the backlog) is a failure the rules
    /// notify about and whose latest event the backlog brought, those back to green, rejected
    /// versions and expiry reminders. `None` for an empty backlog.
    pub fn on_caught_up(
        &mut self,
        caught: CatchUp,
        heading: &str,
        gate: &Gate,
        settings: &Settings,
        quiet: bool,
    ) -> Option<Notification> {
        self.remember(gate);
        if caught.is_empty() {
            return None;
        }
        let before = &caught.before;
        let rules = &settings.notifications;
        let mut failed: Vec<(Scope, String)> = Vec::new();
        let mut green: Vec<String> = Vec::new();
        for s in &gate.streams {
            let name = subject_name(&s.profile_name, &s.profile_id, &s.branch_name, &s.branch_id)
                .unwrap_or_else(|| s.scope.label().to_owned());
            let was = before.get(&stream_key(s));
            let brought = was.map(|b| b.1) != Some(s.event_id);
            match (s.state, s.outcome) {
                (GateState::Failing, Some(outcome))
                    if brought && rules.wants(s.provider, s.scope, outcome) =>
                {
                    failed.push((s.scope, name));
                }
                (GateState::Passing, _)
                    if rules.back_to_green && was.map(|b| b.0) == Some(GateState::Failing) =>
                {
                    green.push(name);
                }
                _ => {}
            }
        }
        let mut lines = Vec::new();
        for scope in Scope::ALL {
            let names: Vec<&str> = failed
                .iter()
                .filter(|(sc, _)| *sc == scope)
                .map(|(_, n)| n.as_str())
                .collect();
            if !names.is_empty() {
                lines.push(format!(
                    "{}: {}",
                    failed_words(scope, names.len()),
                    names.join(", ")
                ));
            }
        }
        if !green.is_empty() {
            lines.push(format!(
                "{} back to green: {}",
                green.len(),
                green.join(", ")
            ));
        }
        if rules.rejected && !caught.rejected.is_empty() {
            lines.push(format!(
                "{} rejected: {}",
                plural(caught.rejected.len() as u64, "version", "versions"),
                caught.rejected.join(", ")
            ));
        }
        if rules.expiring && caught.expiring > 0 {
            lines.push(plural(
                caught.expiring,
                "expiry reminder",
                "expiry reminders",
            ));
        }
        if lines.is_empty() {
            lines.push("Nothing failed.".into());
        }
        let notification = Notification {
            summary: format!("{heading}: {}", plural(caught.events, "event", "events")),
            body: lines.join("\n"),
            event_id: None,
            critical: !failed.is_empty() || (rules.rejected && !caught.rejected.is_empty()),
        };
        if quiet {
            self.held.push(notification);
            return None;
        }
        Some(notification)
    }
}

/// "2 builds failed", "1 Testing Distribution failed".
fn failed_words(scope: Scope, n: usize) -> String {
    match scope {
        Scope::Build => format!("{} failed", plural(n as u64, "build", "builds")),
        other => format!("{n} {} failed", other.label()),
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn summary(when: &str, items: &[Notification]) -> Notification {
    let lines: Vec<&str> = items.iter().take(5).map(|n| n.summary.as_str()).collect();
    let more = items.len().saturating_sub(lines.len());
    let mut body = lines.join("\n");
    if more > 0 {
        body.push_str(&format!("\n…and {more} more"));
    }
    Notification {
        summary: format!("{} {when}", plural(items.len() as u64, "event", "events")),
        body,
        event_id: None,
        critical: items.iter().any(|n| n.critical),
    }
}

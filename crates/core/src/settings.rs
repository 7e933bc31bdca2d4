//! User settings, stored as one JSON document in the `settings` table. This module owns
//! their defaults and bounds, and the one parser of listen addresses, so the listener, the
//! store, the CLI and the desktop shell all read them from here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::model::{Outcome, Provider, Scope};
use crate::{Error, Result};

/// The port Gatehouse listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8473;
/// Bodies larger than this are refused with 413.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Deliveries whose timestamp is further than this from now are stale.
pub const DEFAULT_REPLAY_WINDOW_SECS: i64 = 600;
/// Requests that were refused (bad signature, malformed, ...) are kept this long by default;
/// anyone who can reach an endpoint can make them, so they must not pile up for ever.
pub const DEFAULT_REJECTED_RETENTION_DAYS: u32 = 30;

/// Upper bounds: beyond these a value is a typo, and date arithmetic would overflow.
pub const MAX_REPLAY_WINDOW_SECS: i64 = 30 * 24 * 3600;
pub const MIN_BODY_LIMIT: u64 = 1024;
pub const MAX_BODY_LIMIT: u64 = 64 * 1024 * 1024;
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// Reads `ADDR:PORT`, a bare port, or a bare address; `localhost` means 127.0.0.1.
/// The one parser of listen addresses (flags, settings, the environment).
pub fn parse_listen(s: &str) -> Result<SocketAddr> {
    let s = s.trim().replace("localhost", "127.0.0.1");
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    Err(Error::Invalid(format!(
        "`{s}` is not an address to listen on (use ADDR:PORT, e.g. 127.0.0.1:{DEFAULT_PORT})"
    )))
}

/// Checks a replay window from a flag or a form.
pub fn check_replay_window(secs: i64) -> Result<chrono::Duration> {
    if !(1..=MAX_REPLAY_WINDOW_SECS).contains(&secs) {
        return Err(Error::Invalid(format!(
            "the replay window must be 1 to {MAX_REPLAY_WINDOW_SECS} seconds (30 days), not {secs}"
        )));
    }
    Ok(chrono::Duration::seconds(secs))
}

/// Checks a body limit from a flag or a form.
pub fn check_body_limit(bytes: u64) -> Result<usize> {
    if !(MIN_BODY_LIMIT..=MAX_BODY_LIMIT).contains(&bytes) {
        return Err(Error::Invalid(format!(
            "the body limit must be {MIN_BODY_LIMIT} to {MAX_BODY_LIMIT} bytes (64 MiB), not {bytes}"
        )));
    }
    Ok(bytes as usize)
}

/// Checks a retention period in days.
pub fn check_retention_days(days: u32, what: &str) -> Result<chrono::Duration> {
    if !(1..=MAX_RETENTION_DAYS).contains(&days) {
        return Err(Error::Invalid(format!(
            "{what} must be 1 to {MAX_RETENTION_DAYS} days, not {days}"
        )));
    }
    Ok(chrono::Duration::days(i64::from(days)))
}

/// Everything the Settings view edits. Missing fields take their defaults, so older
/// documents keep loading as fields are added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
#[ts(export)]
pub struct Settings {
    /// `ADDR:PORT` the desktop app listens on.
    pub listen: String,
    pub replay_window_secs: i64,
    pub body_limit: u64,
    pub notifications: NotificationRules,
    /// Hold notifications back between these local times (`HH:MM`), e.g. 22:00 to 07:00.
    pub quiet_hours: Option<QuietHours>,
    pub launch_at_login: bool,
    /// Delete events and requests older than this many days; `None` keeps everything.
    pub retention_days: Option<u32>,
    /// Delete rejected requests (bad signature, malformed, ...) older than this many days;
    /// `None` keeps them. Events are never affected.
    pub rejected_retention_days: Option<u32>,
    /// Where builds come from: this machine's listener, an inbox, or both.
    pub source: SourceMode,
    /// The inbox followed when `source` includes one: `https://host:port`. Its token is kept
    /// apart (the OS keyring), never in this document, which the inbox's stream and the
    /// window both see.
    pub inbox_url: Option<String>,
    /// Which checks a commit needs before it is ready, per branch pattern: the first rule
    /// whose pattern matches one of the commit's branches applies. Without one, every check
    /// that reported for the commit is required (crate::rules::checks).
    pub required_checks: Vec<RequiredChecks>,
}

/// The checks a commit on matching branches needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RequiredChecks {
    /// A branch name, or a pattern where `*` stands for any text (`release/*`).
    pub branch: String,
    /// Check names as `gatehouse checks` prints them (`build: Acme iOS`,
    /// `github: acme/app · CI`, `publish_to_stores: Acme iOS`).
    pub checks: Vec<String>,
}

/// Most rules, and most checks in one rule: beyond these the document is a mistake.
pub const MAX_REQUIRED_RULES: usize = 100;
pub const MAX_REQUIRED_CHECKS: usize = 100;

impl RequiredChecks {
    /// Whether `branch` matches the rule's pattern (`*`: any text, `/` included).
    pub fn matches(&self, branch: &str) -> bool {
        glob_matches(self.branch.trim(), branch)
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Where the desktop's builds come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum SourceMode {
    /// This machine's listener receives webhooks itself (it needs a public URL).
    #[default]
    Listener,
    /// An always-on `gatehouse serve` receives them; this machine follows its stream.
    Inbox,
    /// Both: deliveries from either are stored once (deduplicated by delivery id).
    Both,
}

impl SourceMode {
    pub fn listens(self) -> bool {
        matches!(self, SourceMode::Listener | SourceMode::Both)
    }

    pub fn follows(self) -> bool {
        matches!(self, SourceMode::Inbox | SourceMode::Both)
    }
}

/// Checks an inbox's base URL: http or https, a host, nothing after the path; returns it
/// without a trailing slash (the mirror's position is kept under this exact text).
pub fn check_inbox_url(url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "the inbox URL must start with https:// (or http:// on a trusted network), not `{url}`"
            ))
        })?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty()
        || rest.contains(['?', '#', ' '])
        || rest.chars().any(char::is_control)
        || host.contains('@')
    {
        return Err(Error::Invalid(format!(
            "`{url}` is not an inbox URL (use https://host:port)"
        )));
    }
    Ok(url.to_owned())
}

/// Which events raise a desktop notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
#[ts(export)]
pub struct NotificationRules {
    /// Per scope, the outcomes that notify.
    pub rules: Vec<ScopeRule>,
    /// A version rejected by a store.
    pub rejected: bool,
    /// A certificate, provisioning profile or keystore about to expire.
    pub expiring: bool,
    /// A failing stream succeeds again.
    pub back_to_green: bool,
    /// A commit on a release branch has all its required checks passed ("is ready").
    pub commit_ready: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ScopeRule {
    /// `None`: every provider's events of this scope. A rule for one provider overrides it
    /// for that provider's.
    #[serde(default)]
    pub provider: Option<Provider>,
    pub scope: Scope,
    pub outcomes: Vec<Outcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct QuietHours {
    pub start: String,
    pub end: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: format!("127.0.0.1:{DEFAULT_PORT}"),
            replay_window_secs: DEFAULT_REPLAY_WINDOW_SECS,
            body_limit: DEFAULT_BODY_LIMIT as u64,
            notifications: NotificationRules::default(),
            quiet_hours: None,
            launch_at_login: false,
            retention_days: None,
            rejected_retention_days: Some(DEFAULT_REJECTED_RETENTION_DAYS),
            source: SourceMode::Listener,
            inbox_url: None,
            required_checks: Vec::new(),
        }
    }
}

impl Default for NotificationRules {
    /// Failures and timeouts everywhere; started and succeeded stay quiet.
    fn default() -> Self {
        let bad = vec![Outcome::Failed, Outcome::TimedOut];
        NotificationRules {
            rules: Scope::ALL
                .into_iter()
                .map(|scope| ScopeRule {
                    provider: None,
                    scope,
                    outcomes: bad.clone(),
                })
                .collect(),
            rejected: true,
            expiring: true,
            back_to_green: true,
            commit_ready: true,
        }
    }
}

impl NotificationRules {
    /// Whether an event of `provider`, `scope` and `outcome` notifies: the rule for that
    /// provider and scope decides when there is one, else the rule for the scope.
    pub fn wants(&self, provider: Provider, scope: Scope, outcome: Outcome) -> bool {
        let rule = self
            .rules
            .iter()
            .find(|r| r.provider == Some(provider) && r.scope == scope)
            .or_else(|| {
                self.rules
                    .iter()
                    .find(|r| r.provider.is_none() && r.scope == scope)
            });
        rule.is_some_and(|r| r.outcomes.contains(&outcome))
    }
}

/// Minutes since midnight from `HH:MM`.
fn minutes(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl QuietHours {
    /// Whether `hh:mm` (local time, minutes since midnight) falls inside; spans midnight when
    /// start is after end.
    pub fn contains(&self, minute_of_day: u32) -> bool {
        let (Some(start), Some(end)) = (minutes(&self.start), minutes(&self.end)) else {
            return false;
        };
        if start <= end {
            (start..end).contains(&minute_of_day)
        } else {
            minute_of_day >= start || minute_of_day < end
        }
    }
}

impl Settings {
    /// Whether `now` (the clock's, in this machine's time zone) is inside the quiet hours.
    pub fn in_quiet_hours(&self, now: chrono::DateTime<chrono::Local>) -> bool {
        use chrono::Timelike;
        self.quiet_hours
            .as_ref()
            .is_some_and(|q| q.contains(now.hour() * 60 + now.minute()))
    }
}

impl Settings {
    /// Refuses values the app could not run with, with a message for the form.
    pub fn validate(&self) -> Result<()> {
        parse_listen(&self.listen)?;
        check_replay_window(self.replay_window_secs)?;
        check_body_limit(self.body_limit)?;
        if let Some(q) = &self.quiet_hours
            && (minutes(&q.start).is_none() || minutes(&q.end).is_none())
        {
            return Err(Error::Invalid("quiet hours are HH:MM to HH:MM".into()));
        }
        if let Some(days) = self.retention_days {
            check_retention_days(days, "retention")?;
        }
        if let Some(days) = self.rejected_retention_days {
            check_retention_days(days, "retention of rejected requests")?;
        }
        if self.required_checks.len() > MAX_REQUIRED_RULES {
            return Err(Error::Invalid(format!(
                "at most {MAX_REQUIRED_RULES} required-check rules"
            )));
        }
        for rule in &self.required_checks {
            if rule.branch.trim().is_empty() {
                return Err(Error::Invalid(
                    "a required-check rule needs a branch or a pattern (`release/*`)".into(),
                ));
            }
            if rule.checks.is_empty() || rule.checks.len() > MAX_REQUIRED_CHECKS {
                return Err(Error::Invalid(format!(
                    "the rule for `{}` needs 1 to {MAX_REQUIRED_CHECKS} checks",
                    rule.branch
                )));
            }
            if rule.checks.iter().any(|c| c.trim().is_empty()) {
                return Err(Error::Invalid(format!(
                    "the rule for `{}` names an empty check",
                    rule.branch
                )));
            }
        }
        match (&self.inbox_url, self.source.follows()) {
            (Some(url), _) => {
                check_inbox_url(url)?;
            }
            (None, true) => {
                return Err(Error::Invalid(
                    "following an inbox needs its URL (https://host:port)".into(),
                ));
            }
            (None, false) => {}
        }
        Ok(())
    }

    /// The inbox URL in its one stored form (trimmed, no trailing slash), or `None`.
    pub fn normalized(mut self) -> Result<Settings> {
        self.inbox_url = match self.inbox_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => Some(check_inbox_url(url)?),
        };
        self.validate()?;
        Ok(self)
    }

    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr> {
        parse_listen(&self.listen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_patterns_match_as_globs() {
        for (pattern, branch, want) in [
            ("release/*", "release/2.4", true),
            ("release/*", "release", false),
            ("release/*", "hotfix/release/2", false),
            ("*", "anything/at/all", true),
            ("main", "main", true),
            ("main", "mainline", false),
            ("*-rc", "2.4-rc", true),
            ("v*.*", "v2.4", true),
            ("v*.*", "v24", false),
            ("a*a", "a", false),
        ] {
            assert_eq!(glob_matches(pattern, branch), want, "{pattern} ~ {branch}");
        }
    }

    #[test]
    fn required_check_rules_are_checked() {
        let with = |rule: RequiredChecks| Settings {
            required_checks: vec![rule],
            ..Settings::default()
        };
        let ok = RequiredChecks {
            branch: "release/*".into(),
            checks: vec!["build: Acme iOS".into()],
        };
        assert!(with(ok.clone()).validate().is_ok());
        for bad in [
            RequiredChecks {
                branch: " ".into(),
                ..ok.clone()
            },
            RequiredChecks {
                checks: vec![],
                ..ok.clone()
            },
            RequiredChecks {
                checks: vec!["".into()],
                ..ok.clone()
            },
        ] {
            assert!(matches!(with(bad).validate(), Err(Error::Invalid(_))));
        }
        let many = Settings {
            required_checks: vec![ok; MAX_REQUIRED_RULES + 1],
            ..Settings::default()
        };
        assert!(many.validate().is_err());
    }

    #[test]
    fn defaults_notify_failures_not_successes() {
        let r = NotificationRules::default();
        let ac = Provider::Appcircle;
        assert!(r.wants(ac, Scope::Build, Outcome::Failed));
        assert!(r.wants(ac, Scope::PublishToStores, Outcome::TimedOut));
        assert!(!r.wants(ac, Scope::Build, Outcome::Started));
        assert!(!r.wants(ac, Scope::Build, Outcome::Succeeded));
        assert!(
            r.wants(Provider::Github, Scope::Build, Outcome::Failed),
            "every provider"
        );
        // A rule for one provider decides for it alone.
        let mut quiet_github = r.clone();
        quiet_github.rules.push(ScopeRule {
            provider: Some(Provider::Github),
            scope: Scope::Build,
            outcomes: vec![Outcome::TimedOut],
        });
        assert!(!quiet_github.wants(Provider::Github, Scope::Build, Outcome::Failed));
        assert!(quiet_github.wants(Provider::Github, Scope::Build, Outcome::TimedOut));
        assert!(quiet_github.wants(Provider::Gitlab, Scope::Build, Outcome::Failed));
        assert!(r.back_to_green && r.rejected && r.expiring);
    }

    #[test]
    fn quiet_hours_across_midnight() {
        let q = QuietHours {
            start: "22:00".into(),
            end: "07:30".into(),
        };
        assert!(q.contains(23 * 60));
        assert!(q.contains(0));
        assert!(q.contains(7 * 60 + 29));
        assert!(!q.contains(7 * 60 + 30));
        assert!(!q.contains(12 * 60));
        let day = QuietHours {
            start: "12:00".into(),
            end: "13:00".into(),
        };
        assert!(day.contains(12 * 60 + 30) && !day.contains(13 * 60));
        // Read at the clock's local time: 23:00 is quiet, noon is not.
        let settings = Settings {
            quiet_hours: Some(q),
            ..Settings::default()
        };
        let local = |h: u32| {
            use chrono::TimeZone;
            chrono::Local
                .with_ymd_and_hms(2026, 6, 1, h, 0, 0)
                .earliest()
                .expect("a local time")
        };
        assert!(settings.in_quiet_hours(local(23)));
        assert!(!settings.in_quiet_hours(local(12)));
        assert!(!Settings::default().in_quiet_hours(local(23)), "none set");
    }

    #[test]
    fn validation_and_partial_documents() {
        assert!(Settings::default().validate().is_ok());
        let s: Settings = serde_json::from_str(r#"{"listen":"127.0.0.1:9000"}"#).expect("partial");
        assert_eq!(s.replay_window_secs, DEFAULT_REPLAY_WINDOW_SECS);
        let bad = Settings {
            listen: "nope".into(),
            ..Settings::default()
        };
        assert!(bad.validate().is_err());
        let bad = Settings {
            quiet_hours: Some(QuietHours {
                start: "25:00".into(),
                end: "07:00".into(),
            }),
            ..Settings::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn out_of_range_values_are_refused_not_overflowed() {
        let cases = [
            Settings {
                retention_days: Some(100_000_000),
                ..Settings::default()
            },
            Settings {
                retention_days: Some(0),
                ..Settings::default()
            },
            Settings {
                rejected_retention_days: Some(u32::MAX),
                ..Settings::default()
            },
            Settings {
                replay_window_secs: i64::MAX,
                ..Settings::default()
            },
            Settings {
                replay_window_secs: 0,
                ..Settings::default()
            },
            Settings {
                body_limit: u64::MAX,
                ..Settings::default()
            },
            Settings {
                body_limit: 10,
                ..Settings::default()
            },
        ];
        for s in cases {
            let err = s.validate().expect_err("refused");
            assert!(matches!(err, Error::Invalid(_)), "{err}");
        }
        let edge = Settings {
            retention_days: Some(MAX_RETENTION_DAYS),
            replay_window_secs: MAX_REPLAY_WINDOW_SECS,
            body_limit: MAX_BODY_LIMIT,
            ..Settings::default()
        };
        assert!(edge.validate().is_ok());
        // The largest accepted retention still subtracts from now without overflow.
        let _ = crate::clock::Clock::system().now()
            - check_retention_days(MAX_RETENTION_DAYS, "r").expect("ok");
    }

    #[test]
    fn inbox_urls_and_the_source_mode() {
        assert_eq!(
            check_inbox_url(" https://ci.example.com:8473/ ")
                .ok()
                .as_deref(),
            Some("https://ci.example.com:8473")
        );
        assert!(check_inbox_url("http://127.0.0.1:9000").is_ok());
        for bad in [
            "ci.example.com",
            "ftp://x",
            "https://",
            "https://a b",
            "https://user@host",
            "https://h?x=1",
        ] {
            assert!(check_inbox_url(bad).is_err(), "{bad}");
        }
        let inbox = Settings {
            source: SourceMode::Inbox,
            ..Settings::default()
        };
        assert!(inbox.validate().is_err(), "inbox mode needs a URL");
        let blank = Settings {
            inbox_url: Some("  ".into()),
            ..Settings::default()
        };
        assert_eq!(blank.normalized().expect("blank is none").inbox_url, None);
        let both = Settings {
            source: SourceMode::Both,
            inbox_url: Some("https://inbox.example/".into()),
            ..Settings::default()
        }
        .normalized()
        .expect("valid");
        assert_eq!(both.inbox_url.as_deref(), Some("https://inbox.example"));
        assert!(both.source.listens() && both.source.follows());
        assert!(!SourceMode::Inbox.listens() && !SourceMode::Listener.follows());
    }

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen("127.0.0.1:9000").ok(),
            "127.0.0.1:9000".parse().ok()
        );
        assert_eq!(parse_listen("9000").ok(), "127.0.0.1:9000".parse().ok());
        assert_eq!(
            parse_listen("localhost:9001").ok(),
            "127.0.0.1:9001".parse().ok()
        );
        assert_eq!(
            parse_listen("0.0.0.0").ok(),
            format!("0.0.0.0:{DEFAULT_PORT}").parse().ok()
        );
        assert_eq!(parse_listen("[::1]:9002").ok(), "[::1]:9002".parse().ok());
        assert!(parse_listen("example").is_err());
    }
}

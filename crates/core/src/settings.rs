//! User settings, stored as one JSON document in the `settings` table.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::classify::{Outcome, Scope};
use crate::listener::{DEFAULT_BODY_LIMIT, DEFAULT_PORT, DEFAULT_REPLAY_WINDOW_SECS};
use crate::{Error, Result};

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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ScopeRule {
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
                    scope,
                    outcomes: bad.clone(),
                })
                .collect(),
            rejected: true,
            expiring: true,
            back_to_green: true,
        }
    }
}

impl NotificationRules {
    pub fn wants(&self, scope: Scope, outcome: Outcome) -> bool {
        self.rules
            .iter()
            .any(|r| r.scope == scope && r.outcomes.contains(&outcome))
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
    /// Refuses values the app could not run with, with a message for the form.
    pub fn validate(&self) -> Result<()> {
        self.listen
            .parse::<std::net::SocketAddr>()
            .map_err(|_| Error::Invalid(format!("`{}` is not ADDR:PORT", self.listen)))?;
        if self.replay_window_secs < 1 {
            return Err(Error::Invalid(
                "the replay window must be at least 1 second".into(),
            ));
        }
        if self.body_limit < 1024 {
            return Err(Error::Invalid(
                "the body limit must be at least 1024 bytes".into(),
            ));
        }
        if let Some(q) = &self.quiet_hours
            && (minutes(&q.start).is_none() || minutes(&q.end).is_none())
        {
            return Err(Error::Invalid("quiet hours are HH:MM to HH:MM".into()));
        }
        if self.retention_days == Some(0) {
            return Err(Error::Invalid("retention must be at least one day".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_notify_failures_not_successes() {
        let r = NotificationRules::default();
        assert!(r.wants(Scope::Build, Outcome::Failed));
        assert!(r.wants(Scope::PublishToStores, Outcome::TimedOut));
        assert!(!r.wants(Scope::Build, Outcome::Started));
        assert!(!r.wants(Scope::Build, Outcome::Succeeded));
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
}

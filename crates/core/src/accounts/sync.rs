//! One read of an Appcircle account: what its API says now, as facts for the store
//! ([`crate::store::Fact`], stored as `synced` events). Incremental, since no
//! organisation-wide "since T" call exists: build profiles whose `lastBuildDate` moved since
//! the last read, then those branches, then their builds; distribution and Enterprise App
//! Store profiles by their dates; publish profiles' latest app version by its
//! `latestFlowStatus`; certificates, keystores and provisioning profiles by `expireDate`
//! (reminders 30, 15, 7, 3 and 1 days before, as Appcircle's own, and once expired).
//!
//! Blocking (the client is): callers run it off the async threads.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Result;
use crate::accounts::appcircle::{
    self, AppVersion, Branch, Build, BuildProfile, BuildProfileDetail, Client, Commit,
    DistributionProfile, PUBLISH_PLATFORMS, PublishProfile, SIGNING_LISTS, SigningItem,
    StoreProfile,
};
use crate::model::{Outcome, Scope, Subject, git_sha};
use crate::receive::providers::appcircle::documented_title;
use crate::store::Fact;
use crate::time::parse_liberal;

/// Where the last read stood: each profile's and branch's date as the API gave it ("build
/// P", "build P B", "distribution P", "store P" → the date). A date that differs is news.
/// And "commit G" → its git SHA, while a build of Appcircle's commit G runs.
pub type Positions = BTreeMap<String, String>;

/// Days before expiry on which a reminder is due, counted in whole days rounded up (so the
/// last one, 1, is "within a day"); then one more once it has expired.
const REMINDER_DAYS: [i64; 5] = [1, 3, 7, 15, 30];
/// An identity that expired longer ago than this gets no reminder: it is not news.
const EXPIRED_NEWS_DAYS: i64 = 30;

/// What one read found.
#[derive(Debug, Default)]
pub struct Reading {
    /// Oldest first, so the store sees them in the order they happened.
    pub facts: Vec<Fact>,
    pub positions: Positions,
    /// Requests it took (token exchanges included).
    pub requests: u64,
    /// A build is running or queued (read again until it ends).
    pub running: bool,
    /// The parts that could not be read (a key without the permission for publish, say),
    /// while the rest was: what was read is kept, and these are reported.
    pub failed: Vec<crate::Error>,
}

/// Reads the account from `positions` on. The build profiles come first and must be read:
/// failing there (a refused key, an unreachable host) fails the whole read. A later part that
/// fails is reported in [`Reading::failed`] and leaves its positions where they were.
pub fn read(client: &mut Client, positions: &Positions, now: DateTime<Utc>) -> Result<Reading> {
    let before = client.requests();
    let mut reading = Reading {
        positions: positions.clone(),
        ..Reading::default()
    };
    builds(client, &mut reading, now)?;
    let parts: [(&str, Part); 4] = [
        ("testing distribution", distribution),
        ("publish", publish),
        ("Enterprise App Store", enterprise_store),
        ("signing identities", signing),
    ];
    for (name, part) in parts {
        if let Err(e) = part(client, &mut reading, now) {
            tracing::warn!("appcircle sync: {name} could not be read: {e}");
            reading.failed.push(e);
        }
    }
    reading.facts.sort_by_key(|f| f.occurred_at);
    reading.requests = client.requests() - before;
    Ok(reading)
}

/// One part of a read: what it finds goes into the reading.
type Part = fn(&mut Client, &mut Reading, DateTime<Utc>) -> Result<()>;

/// A fact worded with one of Appcircle's webhook titles, so it gets that title's scope
/// and outcome.
fn fact(title: &str, key: String, message: String, subject: Subject, at: DateTime<Utc>) -> Fact {
    let (scope, outcome) = documented_title(title).unwrap_or((Scope::Other, Outcome::Info));
    Fact {
        key,
        scope,
        outcome,
        title: title.to_owned(),
        message,
        subject,
        rejected: false,
        expiring: false,
        occurred_at: at,
        payload: String::new(),
    }
}

fn payload(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The title of a build's webhook for `outcome` (running builds: "Build Started").
fn build_title(outcome: Outcome) -> Option<&'static str> {
    Some(match outcome {
        Outcome::Started => "Build Started",
        Outcome::Succeeded => "Build Success",
        Outcome::Warning => "Build Complete with Warnings",
        Outcome::Failed => "Build Failed",
        Outcome::Canceled => "Build Canceled",
        Outcome::TimedOut => "Build Timeout",
        Outcome::Info => return None,
    })
}

/// The latest build of each branch whose `lastBuildDate` moved. A branch's position is kept
/// only once its latest build has ended (a running build is read again next time, whatever
/// the dates say), and a profile's once all its branches are kept.
fn builds(client: &mut Client, reading: &mut Reading, now: DateTime<Utc>) -> Result<()> {
    let profiles: Vec<BuildProfile> =
        client.get("build/v2/profiles", "a list of build profiles")?;
    for profile in profiles {
        let Some(date) = profile.last_build_date.clone() else {
            continue;
        };
        let profile_key = format!("build {}", profile.id);
        if reading.positions.get(&profile_key) == Some(&date) {
            continue;
        }
        let detail: BuildProfileDetail = client.get(
            &format!("build/v1/profiles/{}", profile.id),
            "a build profile with its branches",
        )?;
        let mut settled = true;
        for branch in detail.branches {
            let Some(branch_date) = branch.last_build_date.clone() else {
                continue;
            };
            let branch_key = format!("build {} {}", profile.id, branch.id);
            if reading.positions.get(&branch_key) == Some(&branch_date) {
                continue;
            }
            let mut builds: Vec<Build> = client.get(
                &format!(
                    "build/v1/builds?branchId={}&profileId={}",
                    branch.id, profile.id
                ),
                "a list of builds",
            )?;
            // The newest by start, as Appcircle's CLI sorts them; one not started yet (no
            // date: queued) is the newest of all.
            builds.sort_by_key(|b| (b.start_date.is_none(), b.start_date.clone()));
            let Some(latest) = builds.pop() else {
                reading.positions.insert(branch_key, branch_date);
                continue;
            };
            let outcome = appcircle::build_outcome(latest.status, latest.has_warning);
            let running = outcome == Outcome::Started;
            let sha = build_sha(client, &latest, &mut reading.positions, running);
            // Started: read again until it ends. Info (unknown, skipped, not started): no
            // news for the gate, and nothing to wait for. A build whose commit could not be
            // read is read again too, so that it finds its commit.
            if running || sha.is_err() {
                settled = false;
                reading.running |= running;
            } else {
                reading.positions.insert(branch_key, branch_date);
            }
            let sha = sha.unwrap_or(None);
            if let Some(f) = build_fact(&profile, &branch, &latest, sha, outcome, now) {
                reading.facts.push(f);
            }
        }
        if settled {
            reading.positions.insert(profile_key, date);
        }
    }
    Ok(())
}

/// The git SHA of a build: its `hash` when the list gave one, else its commit's (one
/// request per commit: kept in the positions while its build runs, since a running build
/// is read every 15 s and a commit's hash never changes). `Err`: the commit could not be
/// read (logged); the branch is then read again next time.
fn build_sha(
    client: &mut Client,
    build: &Build,
    positions: &mut Positions,
    running: bool,
) -> std::result::Result<Option<String>, ()> {
    if let Some(sha) = build.hash.as_deref().and_then(git_sha) {
        return Ok(Some(sha));
    }
    let Some(commit_id) = build.commit_id.as_deref() else {
        return Ok(None);
    };
    let key = format!("commit {commit_id}");
    let known = if running {
        positions.get(&key).cloned()
    } else {
        positions.remove(&key)
    };
    if let Some(sha) = known {
        return Ok(Some(sha));
    }
    match client.get::<Commit>(&format!("build/v2/commits/{commit_id}"), "a commit") {
        Ok(commit) => {
            let sha = commit
                .builds
                .iter()
                .find(|b| b.id == build.id)
                .and_then(|b| b.hash.clone())
                .or(commit.hash)
                .as_deref()
                .and_then(git_sha);
            if let (true, Some(sha)) = (running, &sha) {
                positions.insert(key, sha.clone());
            }
            Ok(sha)
        }
        Err(e) => {
            tracing::warn!(
                "appcircle sync: the commit of build {} could not be read: {e}",
                build.id
            );
            Err(())
        }
    }
}

fn build_fact(
    profile: &BuildProfile,
    branch: &Branch,
    build: &Build,
    commit_sha: Option<String>,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Option<Fact> {
    let title = build_title(outcome)?;
    // A date that does not parse is not a reason to lose the news: it is dated now.
    let at = build
        .end_date
        .as_deref()
        .filter(|_| outcome.is_finished())
        .or(build.start_date.as_deref())
        .and_then(parse_liberal)
        .unwrap_or(now);
    let verb = match outcome {
        Outcome::Started => "is running",
        Outcome::Succeeded => "succeeded",
        Outcome::Warning => "succeeded with warnings",
        Outcome::Failed => "failed",
        Outcome::Canceled => "was canceled",
        Outcome::TimedOut => "timed out",
        Outcome::Info => "",
    };
    let subject = Subject {
        profile_id: Some(profile.id.clone()),
        profile_name: Some(profile.name.clone()),
        branch_id: Some(branch.id.clone()),
        branch_name: Some(branch.name.clone()),
        // The API gives no task id: the build id keys the run, so that a running build's
        // start and its end (read later) are one run with a duration.
        task_id: Some(build.id.clone()),
        build_id: Some(build.id.clone()),
        commit_id: build.commit_id.clone(),
        commit_sha: commit_sha.clone(),
    };
    let mut f = fact(
        title,
        format!("build {} {}", build.id, build.status),
        format!(
            "The latest build of the {} branch for the profile {} {verb} (read from Appcircle).",
            branch.name, profile.name
        ),
        subject,
        at,
    );
    f.payload = payload(&serde_json::json!({
        "profile": {"id": profile.id, "name": profile.name, "lastBuildDate": profile.last_build_date},
        "branch": {"id": branch.id, "name": branch.name, "lastBuildDate": branch.last_build_date},
        "build": {"id": build.id, "status": build.status, "hasWarning": build.has_warning,
                  "startDate": build.start_date, "endDate": build.end_date, "commitId": build.commit_id,
                  "hash": commit_sha},
    }));
    Some(f)
}

/// A profile-only subject (every scope but builds).
fn profile_subject(id: &str, name: Option<&str>) -> Subject {
    Subject {
        profile_id: Some(id.to_owned()),
        profile_name: name.map(str::to_owned),
        ..Subject::default()
    }
}

/// A profile listed with the date of its latest news: a testing distribution profile (its
/// latest share with testers) or an Enterprise App Store profile (its latest publication).
trait Dated: serde::de::DeserializeOwned + Serialize {
    /// Where the list is, what it is (for errors), the webhook title its news has, and the
    /// word its positions and fact keys start with.
    const PATH: &'static str;
    const WHAT: &'static str;
    const TITLE: &'static str;
    const KIND: &'static str;
    fn id(&self) -> &str;
    fn name(&self) -> &str;
    fn date(&self) -> Option<&str>;
    fn message(&self) -> String;
}

impl Dated for DistributionProfile {
    const PATH: &'static str = "distribution/v2/profiles";
    const WHAT: &'static str = "a list of testing distribution profiles";
    const TITLE: &'static str = "App Shared for Testing Distribution";
    const KIND: &'static str = "distribution";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn date(&self) -> Option<&str> {
        self.last_app_version_shared_date.as_deref()
    }
    fn message(&self) -> String {
        format!(
            "A version of {} was shared with testers (read from Appcircle).",
            self.name
        )
    }
}

impl Dated for StoreProfile {
    const PATH: &'static str = "store/v2/profiles";
    const WHAT: &'static str = "a list of Enterprise App Store profiles";
    const TITLE: &'static str = "New Version Deployed to the Enterprise Store";
    const KIND: &'static str = "store";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn date(&self) -> Option<&str> {
        self.latest_publish_date.as_deref()
    }
    fn message(&self) -> String {
        let version = self.version.as_deref().unwrap_or_default();
        format!(
            "{} {version} was published on the Enterprise App Store (read from Appcircle).",
            self.name
        )
    }
}

/// Each profile of a [`Dated`] list whose date moved: one fact, dated by it.
fn dated<T: Dated>(client: &mut Client, reading: &mut Reading, now: DateTime<Utc>) -> Result<()> {
    let profiles: Vec<T> = client.get(T::PATH, T::WHAT)?;
    for p in profiles {
        let Some(date) = p.date().map(str::to_owned) else {
            continue;
        };
        let position = format!("{} {}", T::KIND, p.id());
        if reading.positions.get(&position) == Some(&date) {
            continue;
        }
        let mut f = fact(
            T::TITLE,
            format!("{} {} {date}", T::KIND, p.id()),
            p.message(),
            profile_subject(p.id(), Some(p.name())),
            parse_liberal(&date).unwrap_or(now),
        );
        f.payload = payload(&p);
        reading.facts.push(f);
        reading.positions.insert(position, date);
    }
    Ok(())
}

fn distribution(client: &mut Client, reading: &mut Reading, now: DateTime<Utc>) -> Result<()> {
    dated::<DistributionProfile>(client, reading, now)
}

fn enterprise_store(client: &mut Client, reading: &mut Reading, now: DateTime<Utc>) -> Result<()> {
    dated::<StoreProfile>(client, reading, now)
}

/// The title of a publish flow's webhook for `outcome`.
fn publish_title(outcome: Outcome) -> Option<&'static str> {
    Some(match outcome {
        Outcome::Started => "Publish Step Started",
        Outcome::Succeeded | Outcome::Warning => "Publish Flow Succeeded",
        Outcome::Failed => "Publish Flow Failed",
        Outcome::Canceled => "Publish Flow Canceled",
        Outcome::TimedOut => "Publish Flow Timed Out",
        Outcome::Info => return None,
    })
}

/// Each publish profile's latest app version and where its publish flow stands. No date
/// on a publish profile is documented, so every profile's versions are read each time
/// (one request per profile); a flow state already stored is not stored again.
fn publish(client: &mut Client, reading: &mut Reading, now: DateTime<Utc>) -> Result<()> {
    for platform in PUBLISH_PLATFORMS {
        let profiles: Vec<PublishProfile> = client.get(
            &format!("publish/v2/profiles/{platform}"),
            "a list of publish profiles",
        )?;
        for p in profiles {
            let versions: Vec<AppVersion> = client.get(
                &format!("publish/v2/profiles/{platform}/{}/app-versions", p.id),
                "a list of app versions",
            )?;
            let latest = versions
                .into_iter()
                .max_by_key(|v| v.update_date.clone().or_else(|| v.create_date.clone()));
            let Some(v) = latest else { continue };
            let Some(status) = v.latest_flow_status else {
                continue;
            };
            let outcome = appcircle::build_outcome(status, false);
            let Some(title) = publish_title(outcome) else {
                continue;
            };
            let name = p.name.clone().unwrap_or_else(|| p.id.clone());
            let version = [
                v.version.clone(),
                v.version_code
                    .as_ref()
                    .map(|c| format!("({})", c.to_string().trim_matches('"'))),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            let at = v
                .update_date
                .as_deref()
                .or(v.create_date.as_deref())
                .and_then(parse_liberal)
                .unwrap_or(now);
            let mut f = fact(
                title,
                format!("publish {} {status}", v.id),
                format!(
                    "{name} {version}: {} (read from Appcircle).",
                    title.to_lowercase()
                ),
                profile_subject(&p.id, p.name.as_deref()),
                at,
            );
            f.payload = payload(&serde_json::json!({
                "platform": platform, "profile": {"id": p.id, "name": p.name},
                "appVersion": {"id": v.id, "version": v.version, "versionCode": v.version_code,
                               "name": v.name, "createDate": v.create_date,
                               "updateDate": v.update_date, "latestFlowStatus": status},
            }));
            reading.facts.push(f);
        }
    }
    Ok(())
}

/// The first of the names an item may have.
fn item_name(item: &SigningItem) -> Option<String> {
    ["name", "commonName", "alias", "fileName", "bundleId", "id"]
        .iter()
        .find_map(|k| {
            item.get(*k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        })
        .map(str::to_owned)
}

/// The reminder due for an expiry `days` away (negative: past): the nearest of
/// [`REMINDER_DAYS`] at or above it, "expired" after it; `None` when none is due yet.
fn reminder(days: i64) -> Option<String> {
    if days <= 0 {
        return Some("expired".into());
    }
    REMINDER_DAYS
        .iter()
        .find(|&&d| days <= d)
        .map(|d| d.to_string())
}

/// Whole days until `expires`, rounded up (a certificate expiring in 2 days and 23 hours gets
/// the 3-day reminder, as Appcircle's would); 0 once expired; `None` when it expired so
/// long ago that it is no news.
fn days_left(expires: DateTime<Utc>, now: DateTime<Utc>) -> Option<i64> {
    let seconds = (expires - now).num_seconds();
    if seconds < -EXPIRED_NEWS_DAYS * 86_400 {
        None
    } else if seconds <= 0 {
        Some(0)
    } else {
        Some((seconds + 86_399) / 86_400)
    }
}

/// A reminder for each certificate, keystore and provisioning profile that expires within
/// 30 days (or has expired), once per reminder day.
fn signing(client: &mut Client, reading: &mut Reading, now: DateTime<Utc>) -> Result<()> {
    for (path, title) in SIGNING_LISTS {
        let items: Vec<SigningItem> = client.get(path, "a list of signing identities")?;
        for item in items {
            let Some(expires) = item
                .get("expireDate")
                .and_then(|v| v.as_str())
                .and_then(parse_liberal)
            else {
                continue;
            };
            let Some(days) = days_left(expires, now) else {
                continue;
            };
            let Some(due) = reminder(days) else { continue };
            let name = item_name(&item).unwrap_or_else(|| "unnamed".into());
            let id = item
                .get("id")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| name.clone());
            let when = expires.format("%Y-%m-%d");
            let message = if days == 0 {
                format!("{name} expired on {when} (read from Appcircle).")
            } else if days <= 1 {
                format!("{name} expires within a day, on {when} (read from Appcircle).")
            } else {
                format!("{name} expires on {when}, in {days} days (read from Appcircle).")
            };
            let mut f = fact(
                title,
                // The expiry is part of it: a renewed identity under the same id is
                // reminded of again.
                format!("signing {path} {id} {} {due}", expires.timestamp()),
                message,
                Subject {
                    profile_name: Some(name),
                    ..Subject::default()
                },
                now,
            );
            f.expiring = true;
            f.payload = payload(&item);
            reading.facts.push(f);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_title_a_fact_uses_is_documented_with_the_outcome_it_stands_for() {
        for outcome in Outcome::ALL.into_iter().filter(|o| *o != Outcome::Info) {
            let title = build_title(outcome).expect("a title");
            assert_eq!(documented_title(title), Some((Scope::Build, outcome)));
            let title = publish_title(outcome).expect("a title");
            let want = if outcome == Outcome::Warning {
                Outcome::Succeeded
            } else {
                outcome
            };
            assert_eq!(
                documented_title(title),
                Some((Scope::PublishToStores, want))
            );
        }
        for (_, title) in SIGNING_LISTS {
            assert_eq!(
                documented_title(title),
                Some((Scope::SigningIdentity, Outcome::Warning))
            );
        }
        assert_eq!(
            documented_title("App Shared for Testing Distribution").map(|t| t.0),
            Some(Scope::TestingDistribution)
        );
        assert_eq!(
            documented_title("New Version Deployed to the Enterprise Store").map(|t| t.0),
            Some(Scope::EnterpriseAppStore)
        );
    }

    #[test]
    fn reminders_fall_on_appcircles_days() {
        assert_eq!(reminder(31), None);
        assert_eq!(reminder(30).as_deref(), Some("30"));
        assert_eq!(reminder(20).as_deref(), Some("30"));
        assert_eq!(reminder(15).as_deref(), Some("15"));
        assert_eq!(reminder(5).as_deref(), Some("7"));
        assert_eq!(reminder(1).as_deref(), Some("1"));
        assert_eq!(reminder(0).as_deref(), Some("expired"));
        assert_eq!(reminder(-1).as_deref(), Some("expired"));
        let now = crate::time::from_text("2028-02-28T23:00:00Z").expect("a fixed now");
        let days = |d: i64, h: i64| {
            days_left(
                now + chrono::Duration::days(d) + chrono::Duration::hours(h),
                now,
            )
        };
        assert_eq!(days(2, 23), Some(3), "rounded up");
        assert_eq!(days(0, 5), Some(1), "within a day");
        assert_eq!(days(-2, 0), Some(0), "expired");
        assert_eq!(days(-31, 0), None, "long expired: no news");
    }
}

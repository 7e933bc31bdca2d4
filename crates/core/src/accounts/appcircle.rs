//! Appcircle's public REST API, read-only, as its official CLI uses it
//! (../shared/appcircle/API.md): a bearer token from an API key or a personal access key,
//! then GETs. The client keeps Appcircle's manners for a long-running app: at most two
//! requests a second, the token refreshed before its JWT `exp` and once on a 401, 429 and
//! 5xx answered by waiting (`Retry-After` when given), and every refusal or unexpected answer
//! turned into one clear error (the HTTP status and what was expected), never a panic.
//!
//! Blocking (ureq): callers run it off the async threads.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::model::Outcome;
use crate::{Error, Result};

/// Appcircle's hosted service; self-hosted installs have their own two hosts.
pub const API_HOST: &str = "https://api.appcircle.io";
pub const AUTH_HOST: &str = "https://auth.appcircle.io";
/// Two requests a second at most: no rate limit is documented, so stay polite.
pub const PACE: Duration = Duration::from_millis(500);
/// A token this close to its expiry is replaced before it is used.
const REFRESH_MARGIN: chrono::Duration = chrono::Duration::seconds(60);
/// Attempts of one GET answered 429, 5xx or not at all, before giving up.
const ATTEMPTS: u32 = 4;
/// The longest `Retry-After` honoured; a longer one is an outage, reported as such.
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// How long an answer may take: Appcircle's lists are small, so a silent server is down.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How to get a bearer token.
#[derive(Clone)]
pub enum Key {
    /// An organisation's API key: its name and secret, and optionally which organisation.
    ApiKey {
        name: String,
        secret: String,
        organization: Option<String>,
    },
    /// A user's personal access key.
    PersonalAccessKey(String),
}

/// Without the secret: a `{:?}` anywhere must not print it.
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::ApiKey {
                name, organization, ..
            } => f
                .debug_struct("ApiKey")
                .field("name", name)
                .field("organization", organization)
                .field("secret", &"[redacted]")
                .finish(),
            Key::PersonalAccessKey(_) => f.write_str("PersonalAccessKey([redacted])"),
        }
    }
}

/// An Appcircle account: where its API is and how to sign in.
#[derive(Debug, Clone)]
pub struct Account {
    pub api_host: String,
    pub auth_host: String,
    pub key: Key,
}

/// A bearer token and when it expires (from its JWT `exp`, when it has one).
struct Bearer {
    token: String,
    expires: Option<DateTime<Utc>>,
}

/// A signed-in client of one account.
pub struct Client {
    account: Account,
    agent: ureq::Agent,
    bearer: Option<Bearer>,
    /// Time between two requests (see [`PACE`]).
    pace: Duration,
    last: Option<Instant>,
    requests: u64,
    /// What a token's expiry is compared with.
    clock: Clock,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

impl Client {
    /// `clock` says when a token has expired: the store's, so that a test's clock rules
    /// the refresh as it rules everything else.
    pub fn new(account: Account, clock: Clock) -> Client {
        Client::with_pace(account, PACE, clock)
    }

    /// With another pace (the tests' fake answers at once).
    pub fn with_pace(account: Account, pace: Duration, clock: Clock) -> Client {
        Client::with_timeout(account, pace, READ_TIMEOUT, clock)
    }

    /// With another pace and read timeout (the tests' fake can stall).
    pub fn with_timeout(
        account: Account,
        pace: Duration,
        read_timeout: Duration,
        clock: Clock,
    ) -> Client {
        let agent = crate::outbound::agent()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(read_timeout)
            .build();
        Client {
            account,
            agent,
            bearer: None,
            pace,
            last: None,
            requests: 0,
            clock,
        }
    }

    /// Requests made so far, token exchanges included.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Waits so that requests keep to the pace.
    fn pace(&mut self) {
        if let Some(last) = self.last {
            let next = last + self.pace;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
        self.last = Some(Instant::now());
        self.requests += 1;
    }

    /// Signs in (again): a new bearer token from the key.
    fn exchange(&mut self) -> Result<()> {
        let auth = self.account.auth_host.trim_end_matches('/').to_owned();
        let (url, form, what): (String, Vec<(&str, String)>, String) = match &self.account.key {
            Key::ApiKey {
                name,
                secret,
                organization,
            } => {
                let mut form = vec![("name", name.clone()), ("secret", secret.clone())];
                if let Some(org) = organization {
                    form.push(("organizationId", org.clone()));
                }
                (
                    format!("{auth}/auth/v1/api-key/token"),
                    form,
                    format!("the API key `{name}`"),
                )
            }
            Key::PersonalAccessKey(key) => (
                format!("{auth}/auth/v3/token"),
                vec![("personalAccessKey", key.clone())],
                "the personal access key".to_owned(),
            ),
        };
        self.pace();
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = match self.agent.post(&url).send_form(&fields) {
            Ok(answer) => answer,
            Err(ureq::Error::Status(code @ (400 | 401 | 403), _)) => {
                return Err(Error::Upstream(format!(
                    "Appcircle refused {what} (HTTP {code} from {url}): check it in Settings"
                )));
            }
            Err(ureq::Error::Status(code, _)) => {
                return Err(Error::Upstream(format!(
                    "Appcircle's sign-in answered HTTP {code} ({url})"
                )));
            }
            Err(e) => {
                return Err(Error::Transport(format!(
                    "cannot reach Appcircle's sign-in at {auth}: {e}"
                )));
            }
        };
        let token: TokenAnswer = json(answer).map_err(|e| {
            Error::Upstream(format!(
                "Appcircle's sign-in ({url}) did not answer JSON with `access_token`: {e}"
            ))
        })?;
        let expires = jwt_expiry(&token.access_token);
        self.bearer = Some(Bearer {
            token: token.access_token,
            expires,
        });
        Ok(())
    }

    /// A token good for the next request.
    fn token(&mut self) -> Result<String> {
        let stale = match &self.bearer {
            None => true,
            Some(b) => b
                .expires
                .is_some_and(|at| at <= self.clock.now() + REFRESH_MARGIN),
        };
        if stale {
            self.exchange()?;
        }
        self.bearer
            .as_ref()
            .map(|b| b.token.clone())
            .ok_or_else(|| Error::Upstream("no token after signing in".into()))
    }

    /// `GET {api}/{path}` as `T`; `what` names what was expected, for the error.
    pub fn get<T: DeserializeOwned>(&mut self, path: &str, what: &str) -> Result<T> {
        let url = format!(
            "{}/{}",
            self.account.api_host.trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.token()?;
            self.pace();
            let answer = self
                .agent
                .get(&url)
                .set("Authorization", &format!("Bearer {token}"))
                .set("Accept", "application/json")
                .call();
            let wait = match answer {
                Ok(answer) => {
                    let status = answer.status();
                    return json::<T>(answer).map_err(|e| {
                        Error::Upstream(format!(
                            "GET {url} answered HTTP {status} with something other than {what}: {e}"
                        ))
                    });
                }
                Err(ureq::Error::Status(401, _)) if !refreshed => {
                    // The token expired early, or was revoked: sign in once more.
                    refreshed = true;
                    self.bearer = None;
                    continue;
                }
                Err(ureq::Error::Status(code @ (401 | 403), _)) => {
                    return Err(Error::Upstream(format!(
                        "Appcircle refused access to {url} (HTTP {code}): the key may lack the permission"
                    )));
                }
                Err(ureq::Error::Status(code @ (429 | 500..=599), answer)) => {
                    let wait = retry_after(answer.header("Retry-After"))
                        .unwrap_or(Duration::from_secs(1 << (attempt - 1)));
                    if wait > LONGEST_WAIT || attempt >= ATTEMPTS {
                        return Err(Error::Upstream(format!(
                            "GET {url} answered HTTP {code} {attempt} times; trying again later"
                        )));
                    }
                    wait
                }
                Err(ureq::Error::Status(code, _)) => {
                    return Err(Error::Upstream(format!(
                        "GET {url} answered HTTP {code}; expected {what}"
                    )));
                }
                Err(e) => {
                    if attempt >= ATTEMPTS {
                        return Err(Error::Transport(format!("cannot reach {url}: {e}")));
                    }
                    Duration::from_secs(1 << (attempt - 1))
                }
            };
            tracing::info!(
                "appcircle: GET {url}: waiting {}s before trying again",
                wait.as_secs()
            );
            std::thread::sleep(wait);
        }
    }
}

/// The answer's body as JSON (ureq caps a body read this way at 10 MB).
fn json<T: DeserializeOwned>(answer: ureq::Response) -> std::result::Result<T, String> {
    let text = answer.into_string().map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// `Retry-After` in seconds (the HTTP-date form is not used by APIs like this one).
fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// When a JWT expires: its payload's `exp`, if it has one (the signature is not checked:
/// the token is only passed back to the server that made it).
fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let exp = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_i64()?;
    DateTime::from_timestamp(exp, 0)
}

/// A build profile (`GET build/v2/profiles`); missing fields are tolerated.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildProfile {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub last_build_date: Option<String>,
}

/// A build profile with its branches (`GET build/v1/profiles/{id}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildProfileDetail {
    #[serde(default)]
    pub branches: Vec<Branch>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Branch {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub last_build_date: Option<String>,
    #[serde(default)]
    pub build_status: Option<i64>,
}

/// One build of a branch (`GET build/v1/builds?branchId=&profileId=`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Build {
    pub id: String,
    pub status: i64,
    #[serde(default)]
    pub has_warning: bool,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default)]
    pub commit_id: Option<String>,
    /// The git commit, as a commit's builds name it (`build/v2/commits/{id}`); read here
    /// when the list gives it, else from the commit (see [`Commit`]).
    #[serde(default)]
    pub hash: Option<String>,
}

/// One commit (`GET build/v2/commits/{commitId}` → `{..., hash, builds: [{id, hash, ...}]}`):
/// where the git SHA of Appcircle's commit GUID is documented. Appcircle's CLI prints the
/// commit's `hash` and each build's.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Commit {
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub builds: Vec<CommitBuild>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommitBuild {
    pub id: String,
    #[serde(default)]
    pub hash: Option<String>,
}

/// The outcome a build status means (Appcircle's enum, `constant.ts` in its CLI): 0 success
/// (with warnings when `hasWarning`), 1 failed, 2 canceled, 3 timed out, 201 stopped
/// (canceled); waiting, running, completing, in progress and awaiting a response are a build
/// that has started; unknown, skipped and not started are news without an outcome.
pub fn build_outcome(status: i64, has_warning: bool) -> Outcome {
    match status {
        0 if has_warning => Outcome::Warning,
        0 => Outcome::Succeeded,
        1 => Outcome::Failed,
        2 | 201 => Outcome::Canceled,
        3 => Outcome::TimedOut,
        90 | 91 | 92 | 202 | 203 => Outcome::Started,
        _ => Outcome::Info,
    }
}

/// A testing distribution profile (`GET distribution/v2/profiles`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DistributionProfile {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub last_app_version_shared_date: Option<String>,
    #[serde(default)]
    pub update_date: Option<String>,
}

/// A publish profile (`GET publish/v2/profiles/{platform}`): only its id and name are
/// relied on (API.md lists no other field).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishProfile {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// An app version of a publish profile (`.../{profileId}/app-versions`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppVersion {
    pub id: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub version_code: Option<serde_json::Value>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub create_date: Option<String>,
    #[serde(default)]
    pub update_date: Option<String>,
    /// The publish flow's status, in the build status enum.
    #[serde(default)]
    pub latest_flow_status: Option<i64>,
}

/// An Enterprise App Store profile (`GET store/v2/profiles`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreProfile {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub latest_publish_date: Option<String>,
}

/// A certificate, keystore or provisioning profile: only `expireDate` is documented, so
/// the rest is read from whatever names the item has.
pub type SigningItem = serde_json::Map<String, serde_json::Value>;

/// The two platforms publish profiles are listed by.
pub const PUBLISH_PLATFORMS: [&str; 2] = ["ios", "android"];

/// The signing identity lists: their path, and the title Appcircle's reminder webhook has.
pub const SIGNING_LISTS: [(&str, &str); 3] = [
    (
        "signing-identity/v2/certificates",
        "iOS Certificate Expiration Reminder",
    ),
    (
        "signing-identity/v2/keystores",
        "Android Keystore Expiration Reminder",
    ),
    (
        "signing-identity/v2/provisioning-profiles",
        "iOS Provisioning Profile Expiration Reminder",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_status_has_its_outcome() {
        assert_eq!(build_outcome(0, false), Outcome::Succeeded);
        assert_eq!(build_outcome(0, true), Outcome::Warning);
        assert_eq!(build_outcome(1, false), Outcome::Failed);
        assert_eq!(build_outcome(2, false), Outcome::Canceled);
        assert_eq!(build_outcome(3, false), Outcome::TimedOut);
        for running in [90, 91, 92, 202, 203] {
            assert_eq!(build_outcome(running, false), Outcome::Started, "{running}");
        }
        assert_eq!(build_outcome(201, false), Outcome::Canceled);
        for other in [99, 100, 200, 12345] {
            assert_eq!(build_outcome(other, false), Outcome::Info, "{other}");
        }
    }

    #[test]
    fn a_key_never_prints_its_secret() {
        let keys = [
            Key::ApiKey {
                name: "ci".into(),
                secret: "hunter2-secret".into(),
                organization: None,
            },
            Key::PersonalAccessKey("hunter2-secret".into()),
        ];
        for key in keys {
            let text = format!("{key:?}");
            assert!(
                !text.contains("hunter2") && text.contains("[redacted]"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_jwt_gives_its_expiry_and_anything_else_none() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":2000000000}"#);
        let token = format!("eyJhbGciOiJub25lIn0.{payload}.sig");
        assert_eq!(
            jwt_expiry(&token),
            DateTime::from_timestamp(2_000_000_000, 0)
        );
        assert_eq!(jwt_expiry("opaque-token"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
        assert_eq!(retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2026 07:28:00 GMT")), None);
    }
}

//! What a CI system read by repository gives the CI accounts ([`crate::accounts::ci`]),
//! whichever it is: one trait per provider's API reader (GitHub's, GitLab's), beside its
//! webhook reader in `receive/providers`, which reads the runs it finds.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use ts_rs::TS;

use crate::model::Outcome;
use crate::receive::ingest::Delivery;
use crate::{Error, Result};

/// How long a CI API's answer may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP agent each CI API reader sends with. A redirect (a renamed or moved repository
/// or project) is reported by the reader, not followed: ureq would follow it without the
/// token, and read another limit's headers as this token's.
pub fn api_agent(read_timeout: Duration) -> ureq::Agent {
    crate::outbound::agent()
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(read_timeout)
        .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
        .redirects(0)
        .build()
}

/// Attempts of one GET answered 5xx or not at all, before the read gives up on it.
const ATTEMPTS: u32 = 3;

/// Where the last read stood, per repository (an ETag, the runs still running, the
/// newest update seen): the reader's own keys, kept between reads by the store.
pub type Positions = BTreeMap<String, String>;

/// What one read found.
#[derive(Debug, Default)]
pub struct Reading {
    /// Each run as its webhook would have told it, oldest first.
    pub runs: Vec<Delivery>,
    pub positions: Positions,
    pub requests: u64,
    /// Of them, answered 304 (free of GitHub's rate limit).
    pub unchanged: u64,
    /// A run of the account is running or queued (the schedule then reads fast).
    pub running: bool,
    /// The repositories that could not be read while others were.
    pub failed: Vec<crate::Error>,
}

/// One job of a run (GitHub) or pipeline (GitLab), read on demand for the detail view: not
/// stored, since a run's jobs are its detail and change while it runs.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct RunJob {
    pub name: String,
    /// GitLab's stage ("test"); GitHub's jobs have none.
    pub stage: Option<String>,
    pub outcome: Outcome,
    /// The provider's own word for it ("in_progress", "waiting_for_resource").
    pub status: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub link: Option<String>,
}

/// Which run's jobs: its repository (GitHub's `OWNER/NAME`, GitLab's project id or path),
/// the run (pipeline) id and, on GitHub, its attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRef {
    pub repo: String,
    pub run: String,
    pub attempt: Option<String>,
}

/// A provider's API, read for one account's repositories. Blocking: callers run it off the
/// async threads.
pub trait RunsApi: Send {
    /// Checks the token on each repository at once (connect): an error names the first
    /// that cannot be read.
    fn check(&mut self, repos: &[String], now: DateTime<Utc>) -> Result<()>;

    /// Reads each repository from `positions` on. One that cannot be read is reported in
    /// [`Reading::failed`] and keeps its positions; when none can be, the read fails.
    fn read(
        &mut self,
        repos: &[String],
        positions: &Positions,
        now: DateTime<Utc>,
    ) -> Result<Reading>;

    /// No request may be made before this (a rate limit), if not now.
    fn held_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>>;

    /// The jobs of one run, in the order they were created.
    fn jobs(&mut self, run: &RunRef, now: DateTime<Utc>) -> Result<Vec<RunJob>>;
}

/// Jobs by their ids, which grow as jobs are made: the order a run's detail lists them in,
/// whatever order the provider answered in.
pub fn in_creation_order(mut jobs: Vec<(u64, RunJob)>) -> Vec<RunJob> {
    jobs.sort_by_key(|(id, _)| *id);
    jobs.into_iter().map(|(_, j)| j).collect()
}

/// Milliseconds from `start` to `end`, both RFC 3339, when both are given and in order.
pub fn millis_between(start: Option<&str>, end: Option<&str>) -> Option<i64> {
    let start = DateTime::parse_from_rfc3339(start?).ok()?;
    let end = DateTime::parse_from_rfc3339(end?).ok()?;
    let ms = (end - start).num_milliseconds();
    (ms >= 0).then_some(ms)
}

/// Sends the GET that `request` builds until it is answered with anything but a 5xx, or
/// [`ATTEMPTS`] times (1 s, then 2 s apart), counting each in `requests`; `observe` sees every
/// answer (the rate limit's headers come on 5xx answers too). Gives the first answer that is
/// not a 5xx, of any status, for the reader to judge; a last 5xx or a last transport failure
/// is the error.
pub fn get_with_retries(
    url: &str,
    requests: &mut u64,
    request: impl Fn() -> ureq::Request,
    mut observe: impl FnMut(&ureq::Response),
) -> Result<ureq::Response> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        *requests += 1;
        match request().call() {
            Ok(answer) | Err(ureq::Error::Status(_, answer)) => {
                observe(&answer);
                let status = answer.status();
                if !(500..=599).contains(&status) {
                    return Ok(answer);
                }
                if attempt >= ATTEMPTS {
                    return Err(Error::Upstream(format!(
                        "GET {url} answered HTTP {status} {attempt} times; trying again at the next read"
                    )));
                }
            }
            Err(e) => {
                if attempt >= ATTEMPTS {
                    return Err(Error::Transport(format!("cannot reach {url}: {e}")));
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1 << (attempt - 1)));
    }
}

/// A 200's body as JSON; `what` names what was expected, for the error.
pub fn json_body(answer: ureq::Response, url: &str, what: &str) -> Result<Value> {
    let text = answer
        .into_string()
        .map_err(|e| Error::Transport(format!("GET {url}: the answer broke off: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Upstream(format!(
            "GET {url} answered HTTP 200 with something other than {what}: {e}"
        ))
    })
}

/// The number in header `name`, if it holds one.
pub fn header_number(answer: &ureq::Response, name: &str) -> Option<i64> {
    answer
        .header(name)
        .and_then(|v| v.trim().parse::<i64>().ok())
}

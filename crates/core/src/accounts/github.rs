//! GitHub Actions read from GitHub's REST API with a personal access token, for a user
//! with no public URL for webhooks (docs/PROVIDER_APIS.md holds every fact relied on here,
//! with its source). Each read asks for each repository's newest workflow runs; each run
//! becomes exactly what its `workflow_run` webhook would have been (the webhook's own reader
//! reads it: same stream, scope, outcome and duration), so a run told both ways is one fact.
//!
//! Its manners: `If-None-Match` with the ETag of the last answer, so that an unchanged
//! repository is a 304, which GitHub does not count against the rate limit; the rate limit's
//! headers are read on every answer and no request is made while it is used up; a 403 or
//! 429 of a secondary limit waits its `Retry-After`; timeouts and 5xx are tried again, as
//! the Appcircle client does, and every other answer becomes one clear error naming the
//! status and what was expected.
//!
//! Blocking (ureq): callers run it off the async threads.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::runs::{
    Positions, READ_TIMEOUT, Reading, RunJob, RunRef, RunsApi, api_agent, get_with_retries,
    header_number, in_creation_order, json_body, millis_between,
};
use crate::receive::ingest::Delivery;
use crate::receive::providers::github;
use crate::{Error, Result};

/// GitHub's hosted API; GitHub Enterprise Server's is `https://HOST/api/v3`.
pub const API_HOST: &str = "https://api.github.com";
/// The newest runs asked for per repository and read: a page of `gh run list`'s size.
const PER_PAGE: u32 = 30;
/// Pages read at most in one read of a repository when every run on a page is new.
const MAX_PAGES: u32 = 3;
/// Runs followed on their own after they left the list while running.
const MAX_OFF_PAGE: usize = 10;
/// The REST API version the fields were read from (docs/PROVIDER_APIS.md).
/// Fixed dates on purpose: a version's name (`X-GitHub-Api-Version`), not a time.
const API_VERSION: &str = "2022-11-28";
/// A secondary rate limit's wait when GitHub gives no `Retry-After` (octokit's fallback).
const SECONDARY_WAIT: chrono::Duration = chrono::Duration::seconds(60);

/// What a GET gave.
#[derive(Debug)]
pub enum Answer {
    /// A new answer and its ETag.
    Fresh { body: Value, etag: Option<String> },
    /// 304: the same as the answer whose ETag was sent.
    Unchanged,
}

/// The rate limit as the last answer's headers gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub remaining: u64,
    pub reset: DateTime<Utc>,
}

/// A client of one account: its host and token.
pub struct Client {
    api_host: String,
    token: String,
    agent: ureq::Agent,
    /// Requests made, 304s included.
    requests: u64,
    /// Answered 304 (free of the rate limit).
    unchanged: u64,
    limit: Option<RateLimit>,
    /// No request before this (a secondary limit's `Retry-After`, or the primary's reset).
    hold_until: Option<DateTime<Utc>>,
}

/// Without the token: a `{:?}` anywhere must not print it.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_host", &self.api_host)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl Client {
    pub fn new(api_host: &str, token: String) -> Client {
        Client::with_timeout(api_host, token, READ_TIMEOUT)
    }

    /// With another read timeout (the tests' fake can stall).
    pub fn with_timeout(api_host: &str, token: String, read_timeout: Duration) -> Client {
        Client {
            api_host: api_host.trim_end_matches('/').to_owned(),
            token,
            agent: api_agent(read_timeout),
            requests: 0,
            unchanged: 0,
            limit: None,
            hold_until: None,
        }
    }

    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Requests answered 304.
    pub fn unchanged(&self) -> u64 {
        self.unchanged
    }

    /// The rate limit as last seen.
    pub fn limit(&self) -> Option<RateLimit> {
        self.limit
    }

    /// When requests may be made again, if not now.
    pub fn held_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let primary = self
            .limit
            .filter(|l| l.remaining == 0 && l.reset > now)
            .map(|l| l.reset);
        primary
            .into_iter()
            .chain(self.hold_until.filter(|h| *h > now))
            .max()
    }

    /// `GET {api}/{path}`, conditional on `etag`; `what` names what was expected. A 404 is
    /// an error: the repository does not exist, or the token cannot see it.
    pub fn get(
        &mut self,
        path: &str,
        etag: Option<&str>,
        what: &str,
        now: DateTime<Utc>,
    ) -> Result<Answer> {
        self.get_if_there(path, etag, what, now)?.ok_or_else(|| {
            Error::Upstream(format!(
                "GitHub answered HTTP 404 for {}/{}; expected {what}: the repository does not exist, or the token cannot see it (a private one needs the token's Actions read permission)",
                self.api_host,
                path.trim_start_matches('/')
            ))
        })
    }

    /// As [`Client::get`], with a 404 as `None`: for a run that may have been deleted.
    pub fn get_if_there(
        &mut self,
        path: &str,
        etag: Option<&str>,
        what: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Answer>> {
        let url = format!("{}/{}", self.api_host, path.trim_start_matches('/'));
        if let Some(until) = self.held_until(now) {
            return Err(Error::Upstream(format!(
                "GitHub's rate limit allows no request to {url} before {}; waiting for it",
                crate::time::to_text(until)
            )));
        }
        let (agent, token) = (&self.agent, &self.token);
        let limit = &mut self.limit;
        let answer = get_with_retries(
            &url,
            &mut self.requests,
            || {
                let request = agent
                    .get(&url)
                    .set("Authorization", &format!("Bearer {token}"))
                    .set("Accept", "application/vnd.github+json")
                    .set("X-GitHub-Api-Version", API_VERSION);
                match etag {
                    Some(etag) => request.set("If-None-Match", etag),
                    None => request,
                }
            },
            |answer| note_limit(limit, answer),
        )?;
        match answer.status() {
            200 => {
                let etag = answer.header("ETag").map(str::to_owned);
                let body = json_body(answer, &url, what)?;
                Ok(Some(Answer::Fresh { body, etag }))
            }
            304 => {
                self.unchanged += 1;
                Ok(Some(Answer::Unchanged))
            }
            401 => Err(Error::Upstream(format!(
                "GitHub refused the token (HTTP 401 from {url}): it may be wrong, expired or revoked; connect the account again with a new one"
            ))),
            status @ (403 | 429) => Err(self.limited(status, answer, &url, now)),
            // GitHub redirects a renamed or transferred repository (docs/PROVIDER_APIS.md
            // §6). Not followed: ureq would follow without the token, so the answer would
            // be another request's; the user names the repository anew instead.
            status @ (301 | 302 | 307 | 308) => Err(Error::Upstream(format!(
                "GitHub answered HTTP {status} for {url}, to {}: the repository was renamed or moved; connect the account again with its new OWNER/NAME",
                answer.header("Location").unwrap_or("no Location")
            ))),
            404 => Ok(None),
            other => Err(Error::Upstream(format!(
                "GET {url} answered HTTP {other}; expected {what}"
            ))),
        }
    }

    /// A 403 or 429: the primary limit used up (remaining 0: wait for its reset), a
    /// secondary one (its `Retry-After`, else a minute), or a refusal of the token.
    fn limited(
        &mut self,
        status: u16,
        answer: ureq::Response,
        url: &str,
        now: DateTime<Utc>,
    ) -> Error {
        let retry_after = answer
            .header("Retry-After")
            .and_then(|v| v.trim().parse::<i64>().ok());
        let message = answer.into_string().unwrap_or_default();
        let secondary = message.to_ascii_lowercase().contains("secondary rate");
        let primary = self.limit.is_some_and(|l| l.remaining == 0);
        if secondary || retry_after.is_some() {
            let wait = retry_after
                .map(chrono::Duration::seconds)
                .unwrap_or(SECONDARY_WAIT);
            self.hold_until = Some(now + wait);
            return Error::Upstream(format!(
                "GitHub's secondary rate limit (HTTP {status} from {url}): waiting {} s",
                wait.num_seconds()
            ));
        }
        if primary && let Some(limit) = self.limit {
            return Error::Upstream(format!(
                "GitHub's rate limit is used up (HTTP {status} from {url}); no request before {}",
                crate::time::to_text(limit.reset)
            ));
        }
        if status == 429 {
            // Too many requests, without saying which limit: a minute, as a secondary one.
            self.hold_until = Some(now + SECONDARY_WAIT);
            return Error::Upstream(format!(
                "GitHub answered HTTP 429 from {url}: waiting {} s",
                SECONDARY_WAIT.num_seconds()
            ));
        }
        Error::Upstream(format!(
            "GitHub refused access to {url} (HTTP {status}): the token may lack the Actions read permission, or SSO authorisation for its organisation"
        ))
    }
}

/// Reads each repository's newest runs. A repository that cannot be read, or not all of
/// it, is reported in [`Reading::failed`]; what was read of it is kept, with positions that
/// agree with it. When none can be read, the read fails.
pub fn read(
    client: &mut Client,
    repos: &[String],
    positions: &Positions,
    now: DateTime<Utc>,
) -> Result<Reading> {
    let before = (client.requests(), client.unchanged());
    let mut reading = Reading {
        positions: positions.clone(),
        ..Reading::default()
    };
    let mut reached = 0;
    for repo in repos {
        match read_repo(client, repo, &mut reading, now) {
            Ok(None) => reached += 1,
            Ok(Some(part)) => {
                tracing::warn!("github sync: {repo} was read in part: {part}");
                reached += 1;
                reading.failed.push(part);
            }
            Err(e) => {
                tracing::warn!("github sync: {repo} could not be read: {e}");
                reading.failed.push(e);
            }
        }
    }
    if !repos.is_empty() && reached == 0 {
        return Err(reading.failed.remove(0));
    }
    reading.running = repos.iter().any(|r| {
        reading
            .positions
            .get(&format!("running {r}"))
            .is_some_and(|v| v == "1")
    });
    reading.runs.sort_by_key(|d| d.envelope.timestamp);
    reading.requests = client.requests() - before.0;
    reading.unchanged = client.unchanged() - before.1;
    Ok(reading)
}

/// Keeps what an answer says of the rate limit (`X-RateLimit-Remaining`/`-Reset`).
fn note_limit(limit: &mut Option<RateLimit>, answer: &ureq::Response) {
    if let (Some(remaining), Some(reset)) = (
        header_number(answer, "X-RateLimit-Remaining"),
        header_number(answer, "X-RateLimit-Reset"),
    ) && let Some(reset) = DateTime::from_timestamp(reset, 0)
    {
        *limit = Some(RateLimit {
            remaining: remaining.max(0) as u64,
            reset,
        });
    }
}

/// Positions per repository: the ETag of its last answer ("etag OWNER/NAME"), the newest run
/// id seen ("newest …", for paging on), the runs running on the first page and those that
/// fell off the pages while running ("running on page …", "running off page …", read on
/// their own until they end), and whether any runs ("running …"), which a 304 leaves as
/// it was.
impl RunsApi for Client {
    fn check(&mut self, repos: &[String], now: DateTime<Utc>) -> Result<()> {
        for repo in repos {
            self.get(
                &format!("repos/{repo}/actions/runs?per_page=1&exclude_pull_requests=true"),
                None,
                &format!("the workflow runs of {repo}"),
                now,
            )?;
        }
        Ok(())
    }

    fn read(
        &mut self,
        repos: &[String],
        positions: &Positions,
        now: DateTime<Utc>,
    ) -> Result<Reading> {
        read(self, repos, positions, now)
    }

    fn held_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        Client::held_until(self, now)
    }

    /// `GET …/actions/runs/{id}/attempts/{n}/jobs` (docs/PROVIDER_APIS.md §2): that
    /// attempt's jobs, so an older attempt's detail shows its own. One page of 100.
    fn jobs(&mut self, run: &RunRef, now: DateTime<Utc>) -> Result<Vec<RunJob>> {
        let attempt = run.attempt.as_deref().unwrap_or("1");
        let path = format!(
            "repos/{}/actions/runs/{}/attempts/{attempt}/jobs?per_page={JOBS_PER_PAGE}",
            run.repo, run.run
        );
        let body = match self.get(&path, None, "a list of jobs", now)? {
            Answer::Fresh { body, .. } => body,
            // Never asked conditionally, so never a 304.
            Answer::Unchanged => return Ok(Vec::new()),
        };
        let jobs = body.get("jobs").and_then(Value::as_array).ok_or_else(|| {
            Error::Upstream(format!(
                "GitHub's answer for run {} of {} has no `jobs` list",
                run.run, run.repo
            ))
        })?;
        Ok(in_creation_order(jobs.iter().map(job).collect()))
    }
}

/// Most jobs a run's detail shows (GitHub's largest page).
const JOBS_PER_PAGE: u32 = 100;

/// A job object (§2b) with its id, for the order.
fn job(j: &Value) -> (u64, RunJob) {
    let field = |name: &str| j.get(name).and_then(Value::as_str).map(str::to_owned);
    let (status, conclusion) = (field("status"), field("conclusion"));
    let (outcome, _) = github::outcome(status.as_deref(), conclusion.as_deref());
    let (started_at, finished_at) = (field("started_at"), field("completed_at"));
    (
        j.get("id").and_then(Value::as_u64).unwrap_or(u64::MAX),
        RunJob {
            name: field("name").unwrap_or_else(|| "Job".into()),
            stage: None,
            outcome,
            status: conclusion.or(status).unwrap_or_default(),
            duration_ms: millis_between(started_at.as_deref(), finished_at.as_deref()),
            started_at,
            finished_at,
            link: field("html_url"),
        },
    )
}

/// One repository's read: an error when nothing of it could be read, else what of it could
/// not be (older runs past the pages, a run off the list that did not answer), if anything.
fn read_repo(
    client: &mut Client,
    repo: &str,
    reading: &mut Reading,
    now: DateTime<Utc>,
) -> Result<Option<Error>> {
    let etag_key = format!("etag {repo}");
    let (newest_key, on_page_key, off_page_key) = (
        format!("newest {repo}"),
        format!("running on page {repo}"),
        format!("running off page {repo}"),
    );
    let run_etag_key = |id: u64| format!("etag run {repo} {id}");
    let ids = |key: &str| -> BTreeSet<u64> {
        reading
            .positions
            .get(key)
            .map(|v| v.split(',').filter_map(|i| i.parse().ok()).collect())
            .unwrap_or_default()
    };
    let seen: Option<u64> = reading
        .positions
        .get(&newest_key)
        .and_then(|v| v.parse().ok());
    let (mut on_page, mut off_page) = (ids(&on_page_key), ids(&off_page_key));
    // Positions of an older version know no running ids: one full answer learns them.
    let etag = reading
        .positions
        .get(&etag_key)
        .filter(|_| reading.positions.contains_key(&on_page_key))
        .cloned();
    let (mut newest, mut new_etag) = (seen, etag.clone());
    // What the read could not do, said once all it did is kept.
    let mut trouble: Option<Error> = None;
    let first = format!("repos/{repo}/actions/runs?per_page={PER_PAGE}&exclude_pull_requests=true");
    match client.get(&first, etag.as_deref(), "a list of workflow runs", now)? {
        // Nothing on the first page changed: its running runs still run.
        Answer::Unchanged => {}
        Answer::Fresh { body, etag } => {
            new_etag = etag;
            let mut listed = BTreeSet::new();
            let mut running = BTreeSet::new();
            let mut page = 1;
            let mut body = body;
            loop {
                let runs = page_runs(&body, repo)?;
                let mut all_new = runs.len() == PER_PAGE as usize;
                for run in runs {
                    let delivery = run_delivery(run, now)?;
                    let id = run.get("id").and_then(Value::as_u64).unwrap_or_default();
                    listed.insert(id);
                    all_new &= seen.is_some_and(|s| id > s);
                    newest = Some(newest.map_or(id, |n| n.max(id)));
                    if delivery.classification.outcome == crate::model::Outcome::Started {
                        running.insert(id);
                    }
                    reading.runs.push(delivery);
                }
                // A full page of runs all newer than the newest seen before: more were made
                // since the last read than a page holds, so the next page has news too (run
                // ids grow). The first read of a repository keeps to one page of history.
                if !all_new {
                    break;
                }
                if page >= MAX_PAGES {
                    trouble = Some(Error::Upstream(format!(
                        "more than {} runs were made in {repo} since the last read: the older ones were not read",
                        PER_PAGE * MAX_PAGES
                    )));
                    break;
                }
                page += 1;
                let next = format!("{first}&page={page}");
                body = match client.get(&next, None, "a list of workflow runs", now)? {
                    Answer::Fresh { body, .. } => body,
                    Answer::Unchanged => break,
                };
            }
            // What ran when last read and is no longer listed is read on its own below.
            off_page.extend(on_page.difference(&listed));
            off_page.retain(|id| !listed.contains(id));
            on_page = running;
        }
    }
    // At most MAX_OFF_PAGE of them, the newest: each costs a request per read.
    while off_page.len() > MAX_OFF_PAGE {
        if let Some(oldest) = off_page.pop_first() {
            tracing::warn!("github sync: run {oldest} of {repo} is no longer followed to its end");
            reading.positions.remove(&run_etag_key(oldest));
        }
    }
    // A run that fell off the pages while it ran (a busy repository): read until it ends,
    // conditionally, so that an unchanged one costs nothing of the limit.
    for id in off_page.clone() {
        let key = run_etag_key(id);
        let etag = reading.positions.get(&key).cloned();
        let path = format!("repos/{repo}/actions/runs/{id}");
        match client.get_if_there(&path, etag.as_deref(), "a workflow run", now) {
            Ok(Some(Answer::Fresh { body, etag })) => {
                let delivery = run_delivery(&body, now)?;
                if delivery.classification.outcome == crate::model::Outcome::Started {
                    match etag {
                        Some(etag) => reading.positions.insert(key, etag),
                        None => reading.positions.remove(&key),
                    };
                } else {
                    off_page.remove(&id);
                    reading.positions.remove(&key);
                }
                reading.runs.push(delivery);
            }
            Ok(Some(Answer::Unchanged)) => {}
            // Deleted since: nothing more to tell of it.
            Ok(None) => {
                off_page.remove(&id);
                reading.positions.remove(&key);
            }
            // Kept, and tried again at the next read.
            Err(e) => {
                trouble.get_or_insert(e);
            }
        }
    }
    let joined = |set: &BTreeSet<u64>| set.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    // Every position at once, so that they always agree with the runs read.
    let running = !on_page.is_empty() || !off_page.is_empty();
    reading.positions.insert(on_page_key, joined(&on_page));
    reading.positions.insert(off_page_key, joined(&off_page));
    reading.positions.insert(
        format!("running {repo}"),
        if running { "1" } else { "0" }.into(),
    );
    if let Some(newest) = newest {
        reading.positions.insert(newest_key, newest.to_string());
    }
    match new_etag {
        Some(etag) => reading.positions.insert(etag_key, etag),
        None => reading.positions.remove(&etag_key),
    };
    Ok(trouble)
}

/// The `workflow_runs` of a list's answer.
fn page_runs<'a>(body: &'a Value, repo: &str) -> Result<&'a Vec<Value>> {
    body.get("workflow_runs")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::Upstream(format!(
                "GitHub's answer for {repo}'s runs has no `workflow_runs` list"
            ))
        })
}

/// A run from the API as its `workflow_run` webhook would have told it, read by the
/// webhook's own reader. Its delivery id names the run attempt and how far it got, so that
/// a run is stored once per point of its life however often it is read.
pub fn run_delivery(run: &Value, now: DateTime<Utc>) -> Result<Delivery> {
    let field = |name: &str| run.get(name).and_then(Value::as_str);
    let id = run
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::Upstream("GitHub gave a workflow run without an `id`".into()))?;
    let attempt = run.get("run_attempt").and_then(Value::as_u64).unwrap_or(1);
    let status = field("status").unwrap_or_default();
    let action = match status {
        "completed" => "completed",
        "in_progress" => "in_progress",
        _ => "requested",
    };
    let body = json!({
        "action": action,
        "workflow_run": run,
        "repository": run.get("repository").cloned().unwrap_or(Value::Null),
    });
    let point = if status == "completed" {
        "completed"
    } else {
        "started"
    };
    let headers = [
        (
            github::DELIVERY_HEADER.to_owned(),
            format!("run {id}/{attempt} {point}"),
        ),
        (github::EVENT_HEADER.to_owned(), "workflow_run".to_owned()),
    ];
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let (envelope, classification) = github::read(&headers, &bytes, now)
        .map_err(|(_, why)| Error::Upstream(format!("GitHub's run {id} does not read: {why}")))?;
    Ok(Delivery {
        envelope,
        classification,
        stale: None,
    })
}

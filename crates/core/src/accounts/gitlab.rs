//! GitLab CI read from GitLab's REST API (v4) with a personal, project or group access token
//! (docs/PROVIDER_APIS.md holds every fact relied on here, with its source). Each read asks
//! each project for its pipelines updated since the last read (`order_by=updated_at`,
//! `updated_after`), and each finished one for its duration; each pipeline becomes exactly
//! what its Pipeline Hook would have been (the webhook's own reader reads it: same stream,
//! scope, outcome and duration), so a pipeline told both ways is one fact.
//!
//! GitLab documents no ETags for these endpoints, so every read is a full answer; kept small
//! by `updated_after`. Its manners: `RateLimit-Remaining`/`-Reset` read on every answer and
//! no request made while none remain; a 429's `Retry-After` waited out; timeouts and 5xx
//! tried again; every other answer one clear error naming the status and what was expected.
//!
//! Blocking (ureq): callers run it off the async threads.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::runs::{
    Positions, READ_TIMEOUT, Reading, RunJob, RunRef, RunsApi, api_agent, get_with_retries,
    header_number, in_creation_order, json_body, millis_between,
};
use crate::model::Outcome;
use crate::receive::ingest::Delivery;
use crate::receive::providers::gitlab;
use crate::time::parse_liberal;
use crate::{Error, Result};

/// GitLab.com; a self-managed instance is its own host.
pub const API_HOST: &str = "https://gitlab.com";
/// Pipelines asked for per project and read (GitLab's default page is 20).
const PER_PAGE: u32 = 20;
/// Pages read at most in one read of a project when every page is full.
const MAX_PAGES: u32 = 5;
/// A 429's wait when it gives no `Retry-After`.
const LIMITED_WAIT: chrono::Duration = chrono::Duration::seconds(60);
/// `updated_after` is this much before the newest update seen: two pipelines updated in the
/// same second are both read (a repeat is known to the store, so it costs nothing).
const OVERLAP: chrono::Duration = chrono::Duration::seconds(1);

/// A client of one account: its instance and token.
pub struct Client {
    api_host: String,
    token: String,
    agent: ureq::Agent,
    requests: u64,
    /// No request before this (the limit used up, or a 429).
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
        Client {
            api_host: api_host.trim_end_matches('/').to_owned(),
            token,
            agent: api_agent(READ_TIMEOUT),
            requests: 0,
            hold_until: None,
        }
    }

    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// `GET {host}/api/v4/{path}` as JSON; `what` names what was expected.
    pub fn get(&mut self, path: &str, what: &str, now: DateTime<Utc>) -> Result<Value> {
        let url = format!("{}/api/v4/{}", self.api_host, path.trim_start_matches('/'));
        if let Some(until) = self.hold_until.filter(|h| *h > now) {
            return Err(Error::Upstream(format!(
                "GitLab's rate limit allows no request to {url} before {}; waiting for it",
                crate::time::to_text(until)
            )));
        }
        let (agent, token) = (&self.agent, &self.token);
        let hold_until = &mut self.hold_until;
        let answer = get_with_retries(
            &url,
            &mut self.requests,
            || {
                agent
                    .get(&url)
                    .set("PRIVATE-TOKEN", token)
                    .set("Accept", "application/json")
            },
            |answer| note_limit(hold_until, answer),
        )?;
        match answer.status() {
            200 => json_body(answer, &url, what),
            401 => Err(Error::Upstream(format!(
                "GitLab refused the token (HTTP 401 from {url}): it may be wrong, expired or revoked; connect the account again with a new one"
            ))),
            403 => Err(Error::Upstream(format!(
                "GitLab refused access to {url} (HTTP 403): the token needs the read_api scope and may read the project's pipelines"
            ))),
            404 => Err(Error::Upstream(format!(
                "GitLab answered HTTP 404 for {url}; expected {what}: the project does not exist, or the token cannot see it"
            ))),
            429 => {
                let wait = header_number(&answer, "Retry-After")
                    .map(chrono::Duration::seconds)
                    .unwrap_or(LIMITED_WAIT);
                self.hold_until = Some(now + wait);
                Err(Error::Upstream(format!(
                    "GitLab's rate limit (HTTP 429 from {url}): waiting {} s",
                    wait.num_seconds()
                )))
            }
            other => Err(Error::Upstream(format!(
                "GET {url} answered HTTP {other}; expected {what}"
            ))),
        }
    }
}

/// `RateLimit-Remaining: 0` holds requests until `RateLimit-Reset` (absent on many answers:
/// then nothing is known, and nothing held).
fn note_limit(hold_until: &mut Option<DateTime<Utc>>, answer: &ureq::Response) {
    if header_number(answer, "RateLimit-Remaining") == Some(0)
        && let Some(reset) =
            header_number(answer, "RateLimit-Reset").and_then(|r| DateTime::from_timestamp(r, 0))
    {
        *hold_until = Some(hold_until.map_or(reset, |h| h.max(reset)));
    }
}

/// A project as the API's path takes it: its id, or its path with each `/` encoded.
fn project_path(project: &str) -> String {
    format!("projects/{}", project.replace('/', "%2F"))
}

/// Positions per project: the newest `updated_at` seen ("updated PROJECT") and the
/// pipelines still running ("running PROJECT", ids), which an answer of only what changed
/// would otherwise forget.
impl RunsApi for Client {
    fn check(&mut self, projects: &[String], now: DateTime<Utc>) -> Result<()> {
        for project in projects {
            self.get(
                &format!("{}/pipelines?per_page=1", project_path(project)),
                &format!("the pipelines of {project}"),
                now,
            )?;
        }
        Ok(())
    }

    fn read(
        &mut self,
        projects: &[String],
        positions: &Positions,
        now: DateTime<Utc>,
    ) -> Result<Reading> {
        let before = self.requests;
        let mut reading = Reading {
            positions: positions.clone(),
            ..Reading::default()
        };
        for project in projects {
            if let Err(e) = read_project(self, project, &mut reading, now) {
                tracing::warn!("gitlab sync: {project} could not be read: {e}");
                reading.failed.push(e);
            }
        }
        if !projects.is_empty() && reading.failed.len() == projects.len() {
            return Err(reading.failed.remove(0));
        }
        reading.running = projects.iter().any(|p| {
            reading
                .positions
                .get(&format!("running {p}"))
                .is_some_and(|ids| !ids.is_empty())
        });
        reading.runs.sort_by_key(|d| d.envelope.timestamp);
        reading.requests = self.requests - before;
        Ok(reading)
    }

    fn held_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.hold_until.filter(|h| *h > now)
    }

    /// `GET /projects/:id/pipelines/:pipeline_id/jobs` (docs/PROVIDER_APIS.md, GitLab §11):
    /// the pipeline's jobs without the retried ones (the API's default), newest first as
    /// GitLab lists them, here put in the order they were created. One page of 100.
    fn jobs(&mut self, run: &RunRef, now: DateTime<Utc>) -> Result<Vec<RunJob>> {
        let path = format!(
            "{}/pipelines/{}/jobs?per_page={JOBS_PER_PAGE}",
            project_path(&run.repo),
            run.run
        );
        let body = self.get(&path, "a list of jobs", now)?;
        let jobs = body.as_array().ok_or_else(|| {
            Error::Upstream(format!(
                "GitLab's answer for pipeline {} of {} is not a list of jobs",
                run.run, run.repo
            ))
        })?;
        Ok(in_creation_order(jobs.iter().map(job).collect()))
    }
}

/// Most jobs a pipeline's detail shows (GitLab's largest page).
const JOBS_PER_PAGE: u32 = 100;

/// A job object (§11) with its id, for the order.
fn job(j: &Value) -> (u64, RunJob) {
    let field = |name: &str| j.get(name).and_then(Value::as_str).map(str::to_owned);
    let status = field("status").unwrap_or_default();
    let (started_at, finished_at) = (field("started_at"), field("finished_at"));
    // `duration` is seconds as a float, null until the job starts.
    let duration_ms = j
        .get("duration")
        .and_then(Value::as_f64)
        .map(|s| (s * 1000.0).round() as i64)
        .or_else(|| millis_between(started_at.as_deref(), finished_at.as_deref()));
    (
        j.get("id").and_then(Value::as_u64).unwrap_or(u64::MAX),
        RunJob {
            name: field("name").unwrap_or_else(|| "Job".into()),
            stage: field("stage"),
            outcome: gitlab::outcome(&status).0,
            status,
            started_at,
            finished_at,
            duration_ms,
            link: field("web_url"),
        },
    )
}

fn read_project(
    client: &mut Client,
    project: &str,
    reading: &mut Reading,
    now: DateTime<Utc>,
) -> Result<()> {
    let (updated_key, running_key) = (format!("updated {project}"), format!("running {project}"));
    let since = reading
        .positions
        .get(&updated_key)
        .and_then(|t| parse_liberal(t));
    // The first read: the newest page, as history. After it, what was updated since, oldest
    // first, so that a read that stops at MAX_PAGES leaves the rest for the next one instead
    // of skipping it (the newest seen is then the last one read).
    let path = match since {
        None => format!(
            "{}/pipelines?order_by=updated_at&sort=desc&per_page={PER_PAGE}",
            project_path(project)
        ),
        // `+` would be a space in a query: the time is written in UTC with `Z`.
        Some(since) => format!(
            "{}/pipelines?order_by=updated_at&sort=asc&per_page={PER_PAGE}&updated_after={}",
            project_path(project),
            (since - OVERLAP).format("%Y-%m-%dT%H:%M:%SZ")
        ),
    };
    let mut items = Vec::new();
    for page in 1..=MAX_PAGES {
        let list = client.get(&format!("{path}&page={page}"), "a list of pipelines", now)?;
        let Value::Array(list) = list else {
            return Err(Error::Upstream(format!(
                "GitLab's answer for {project}'s pipelines is not a list"
            )));
        };
        let full = list.len() == PER_PAGE as usize;
        items.extend(list);
        // A full page: the next page has more (§5, offset pages).
        if !full || since.is_none() {
            break;
        }
    }
    let mut running: BTreeSet<String> = reading
        .positions
        .get(&running_key)
        .map(|ids| {
            ids.split(',')
                .filter(|i| !i.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut newest = since;
    let mut found = Vec::new();
    for item in &items {
        let id = item
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::Upstream("GitLab gave a pipeline without an `id`".into()))?;
        let status = item
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (outcome, _) = gitlab::outcome(status);
        // A finished one is read whole for its duration and end (the list has neither).
        let pipeline = if outcome.is_finished() {
            client.get(
                &format!("{}/pipelines/{id}", project_path(project)),
                "a pipeline",
                now,
            )?
        } else {
            item.clone()
        };
        if outcome == Outcome::Started {
            running.insert(id.to_string());
        } else {
            running.remove(&id.to_string());
        }
        if let Some(updated) = item
            .get("updated_at")
            .and_then(Value::as_str)
            .and_then(parse_liberal)
        {
            newest = Some(newest.map_or(updated, |n| n.max(updated)));
        }
        found.push(pipeline_delivery(&client.api_host, &pipeline, now)?);
    }
    reading.runs.extend(found);
    if let Some(newest) = newest {
        reading
            .positions
            .insert(updated_key, crate::time::to_text(newest));
    }
    reading.positions.insert(
        running_key,
        running.into_iter().collect::<Vec<_>>().join(","),
    );
    Ok(())
}

/// A pipeline from the API as its Pipeline Hook would have told it, read by the webhook's
/// own reader. The project's path and page come from the pipeline's `web_url`
/// (`{project web_url}/-/pipelines/{id}`); its instance from the API host, as the hook's
/// `X-Gitlab-Instance`. Its delivery id names the pipeline and how far it got.
pub fn pipeline_delivery(api_host: &str, p: &Value, now: DateTime<Utc>) -> Result<Delivery> {
    let field = |name: &str| p.get(name).cloned().unwrap_or(Value::Null);
    let id = p
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::Upstream("GitLab gave a pipeline without an `id`".into()))?;
    let web_url = p.get("web_url").and_then(Value::as_str).unwrap_or_default();
    let project_url = web_url
        .rsplit_once("/pipelines/")
        .map(|(project, _)| project.trim_end_matches("/-"))
        .unwrap_or_default();
    let path = url::Url::parse(project_url)
        .map(|u| u.path().trim_matches('/').to_owned())
        .unwrap_or_default();
    let body = json!({
        "object_kind": "pipeline",
        "object_attributes": {
            "id": id, "iid": field("iid"), "ref": field("ref"), "sha": field("sha"),
            "status": field("status"), "source": field("source"),
            "created_at": field("created_at"), "finished_at": field("finished_at"),
            "duration": field("duration"), "queued_duration": field("queued_duration"),
            "url": web_url,
        },
        "user": field("user"),
        "project": {
            "id": field("project_id"),
            "path_with_namespace": if path.is_empty() { Value::Null } else { Value::String(path) },
            "web_url": project_url,
        },
    });
    let status = p.get("status").and_then(Value::as_str).unwrap_or_default();
    // An end that is no result (manual, skipped, scheduled) by its own word: a pipeline can
    // wait for a manual action and then be skipped, two facts.
    let point = match gitlab::outcome(status).0 {
        Outcome::Started => "started",
        Outcome::Info => status,
        _ => "finished",
    };
    let headers = [
        (
            gitlab::IDEMPOTENCY_HEADER.to_owned(),
            format!("pipeline {id} {point}"),
        ),
        (gitlab::EVENT_HEADER.to_owned(), "Pipeline Hook".to_owned()),
        (gitlab::INSTANCE_HEADER.to_owned(), api_host.to_owned()),
    ];
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let (envelope, classification) = gitlab::read(&headers, &bytes, now).map_err(|(_, why)| {
        Error::Upstream(format!("GitLab's pipeline {id} does not read: {why}"))
    })?;
    Ok(Delivery {
        envelope,
        classification,
        stale: None,
    })
}

//! A fake GitHub REST API: an axum server on loopback built strictly from
//! docs/PROVIDER_APIS.md (its section and source named beside each behaviour). It serves
//! `GET /repos/{owner}/{repo}/actions/runs` with the `workflow-run` fields listed there,
//! ETags and 304s that leave the rate limit alone, the `X-RateLimit-*` headers, the primary
//! limit's 403 with remaining 0, a secondary limit's 403 with `Retry-After`, 401 "Bad
//! credentials", 404 for a repository the token cannot see, and 500s on demand. It counts
//! what it was asked. Shared by the core's tests and the binary's.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use gatehouse_core::clock::Clock;
use serde_json::{Value, json};

/// The token the fake accepts.
pub const TOKEN: &str = "github_pat_11FAKE0gatehouse";
/// The documentation URL GitHub's error bodies carry (§6, "401 body").
const DOCS: &str = "https://docs.github.com/rest";

/// One workflow run, as the test sets it.
#[derive(Debug, Clone)]
pub struct FakeRun {
    pub id: u64,
    pub attempt: u64,
    pub number: u64,
    pub workflow: String,
    pub branch: String,
    pub sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub started: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

#[derive(Default)]
pub struct FakeRepo {
    pub id: u64,
    /// Newest first, as the API lists them.
    pub runs: Vec<FakeRun>,
}

/// What the fake does besides answering.
#[derive(Default)]
pub struct Behaviour {
    /// Answer the next N requests 500.
    pub failing: u32,
    /// Answer the next request with a secondary rate limit's 403 and this `Retry-After`.
    pub secondary: Option<u64>,
    /// Answer the next request 429 with no `Retry-After` and no limit headers (§4 allows
    /// a 429 for either limit; this one says neither).
    pub too_many: bool,
    /// Repositories renamed: asked by the old name, a 301 to the new location (§6).
    pub moved: BTreeMap<String, String>,
}

pub struct Fake {
    /// Its web pages' origin (§8: a GitHub Enterprise Server's pages and API share a host).
    pub site: String,
    pub clock: Clock,
    pub repos: Mutex<BTreeMap<String, FakeRepo>>,
    pub behaviour: Mutex<Behaviour>,
    /// The primary rate limit (§4): its limit, what remains, and its reset.
    pub limit: Mutex<(u64, u64, DateTime<Utc>)>,
    /// Every request's path and query, in order.
    pub log: Mutex<Vec<String>>,
    /// Answered 304.
    pub not_modified: Mutex<u64>,
    /// Jobs of run attempts: (run id, attempt, the job's object).
    pub jobs: Mutex<Vec<(u64, u64, Value)>>,
}

pub type Shared = Arc<Fake>;

impl Fake {
    pub fn requests(&self) -> usize {
        self.log.lock().expect("lock").len()
    }

    pub fn not_modified(&self) -> u64 {
        *self.not_modified.lock().expect("lock")
    }

    pub fn remaining(&self) -> u64 {
        self.limit.lock().expect("lock").1
    }

    /// Sets what remains of the rate limit, resetting `reset_in` from the fake's now.
    pub fn set_remaining(&self, remaining: u64, reset_in: chrono::Duration) {
        let mut limit = self.limit.lock().expect("lock");
        limit.1 = remaining;
        limit.2 = self.clock.now() + reset_in;
    }

    /// Adds `repo`, with no runs yet.
    pub fn add_repo(&self, repo: &str) {
        let mut repos = self.repos.lock().expect("lock");
        let count = repos.len() as u64;
        repos.entry(repo.to_owned()).or_insert_with(|| FakeRepo {
            id: 1000 + count,
            runs: Vec::new(),
        });
    }

    /// Adds a run to `repo` (added if new), newest first; gives its id.
    pub fn add_run(&self, repo: &str, run: FakeRun) -> u64 {
        self.add_repo(repo);
        let mut repos = self.repos.lock().expect("lock");
        let r = repos.get_mut(repo).expect("repo");
        let id = run.id;
        r.runs.insert(0, run);
        id
    }

    /// Moves run `id` of `repo` on: its status, conclusion, and `updated_at` the fake's now.
    pub fn set_run(&self, repo: &str, id: u64, status: &str, conclusion: Option<&str>) {
        let now = self.clock.now();
        let mut repos = self.repos.lock().expect("lock");
        let run = repos
            .get_mut(repo)
            .and_then(|r| r.runs.iter_mut().find(|run| run.id == id))
            .expect("run");
        run.status = status.into();
        run.conclusion = conclusion.map(str::to_owned);
        run.updated = now;
    }

    /// Adds job `id` to attempt `attempt` of run `run` (the `job` schema, §2b): started
    /// `minutes_ago`, and when completed, `ran` seconds later.
    #[allow(clippy::too_many_arguments)]
    pub fn add_job(
        &self,
        run: u64,
        attempt: u64,
        id: u64,
        name: &str,
        status: &str,
        conclusion: Option<&str>,
        minutes_ago: i64,
        ran: Option<i64>,
    ) {
        let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let started = self.clock.now() - chrono::Duration::minutes(minutes_ago);
        let completed = ran.map(|s| stamp(started + chrono::Duration::seconds(s)));
        let job = json!({
            "id": id, "run_id": run, "run_attempt": attempt, "node_id": "J_fake",
            "name": name, "status": status, "conclusion": conclusion,
            "created_at": stamp(started), "started_at": stamp(started), "completed_at": completed,
            "html_url": format!("{}/acme/app/actions/runs/{run}/job/{id}", self.site),
            "run_url": "", "head_sha": "", "url": "", "check_run_url": "",
            "workflow_name": "CI", "head_branch": "main", "labels": ["ubuntu-latest"],
            "runner_id": null, "runner_name": null, "runner_group_id": null, "runner_group_name": null,
        });
        self.jobs.lock().expect("lock").push((run, attempt, job));
    }

    /// A run of `workflow` on `branch`, started `minutes_ago`, in `status`.
    pub fn run(
        &self,
        id: u64,
        workflow: &str,
        branch: &str,
        status: &str,
        conclusion: Option<&str>,
        minutes_ago: i64,
    ) -> FakeRun {
        let started = self.clock.now() - chrono::Duration::minutes(minutes_ago);
        FakeRun {
            id,
            attempt: 1,
            number: id % 1000,
            workflow: workflow.into(),
            branch: branch.into(),
            sha: format!("{:040x}", id * 7919),
            status: status.into(),
            conclusion: conclusion.map(str::to_owned),
            started,
            updated: if status == "completed" {
                started + chrono::Duration::seconds(95)
            } else {
                started
            },
        }
    }

    /// The `workflow-run` object for `run` of `repo` (§1b: its required fields, and the
    /// optional ones Gatehouse reads).
    pub fn run_json(&self, repo: &str, repo_id: u64, run: &FakeRun) -> Value {
        let html = format!("{}/{repo}", self.site);
        let owner = repo.split('/').next().unwrap_or(repo);
        let minimal = json!({
            "id": repo_id, "node_id": "R_fake", "name": repo.split('/').nth(1).unwrap_or(repo),
            "full_name": repo, "owner": {"login": owner, "id": 1}, "private": false,
            "html_url": html, "url": format!("https://api.github.com/repos/{repo}"),
        });
        let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        json!({
            "id": run.id,
            "name": run.workflow,
            "node_id": "WFR_fake",
            "check_suite_id": run.id + 1,
            "head_branch": run.branch,
            "head_sha": run.sha,
            "path": format!(".github/workflows/{}.yml", run.workflow.to_lowercase()),
            "display_title": "Add the release notes",
            "run_number": run.number,
            "run_attempt": run.attempt,
            "event": "push",
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": 161335,
            "url": format!("https://api.github.com/repos/{repo}/actions/runs/{}", run.id),
            "html_url": format!("{html}/actions/runs/{}", run.id),
            "pull_requests": [],
            "created_at": stamp(run.started),
            "updated_at": stamp(run.updated),
            "run_started_at": stamp(run.started),
            "actor": {"login": "octocat", "id": 1},
            "triggering_actor": {"login": "octocat", "id": 1},
            "jobs_url": format!("https://api.github.com/repos/{repo}/actions/runs/{}/jobs", run.id),
            "logs_url": "", "check_suite_url": "", "artifacts_url": "", "cancel_url": "",
            "rerun_url": "", "workflow_url": "", "previous_attempt_url": null,
            "head_commit": null,
            "repository": minimal,
            "head_repository": minimal,
        })
    }
}

#[derive(serde::Deserialize)]
struct ListQuery {
    per_page: Option<usize>,
    page: Option<usize>,
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"message": message, "documentation_url": DOCS}).to_string();
    (status, [("content-type", "application/json")], body).into_response()
}

/// The rate limit's headers (§1d, §4), on every answer.
fn limit_headers(headers: &mut HeaderMap, limit: (u64, u64, DateTime<Utc>)) {
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).expect("header"));
    };
    set("x-ratelimit-limit", limit.0.to_string());
    set("x-ratelimit-remaining", limit.1.to_string());
    set("x-ratelimit-used", (limit.0 - limit.1).to_string());
    set("x-ratelimit-reset", limit.2.timestamp().to_string());
    set("x-ratelimit-resource", "core".into());
}

async fn runs(
    State(fake): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let full = format!("{owner}/{repo}");
    fake.log.lock().expect("lock").push(match query.page {
        Some(page) => format!(
            "/repos/{full}/actions/runs?per_page={}&page={page}",
            query.per_page.unwrap_or(30)
        ),
        None => format!(
            "/repos/{full}/actions/runs?per_page={}",
            query.per_page.unwrap_or(30)
        ),
    });
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // §5: no User-Agent is refused.
    if header("user-agent").is_none_or(str::is_empty) {
        return (
            StatusCode::FORBIDDEN,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header.",
        )
            .into_response();
    }
    // §5: `Bearer` or `token`; §6: invalid credentials are 401 "Bad credentials".
    let token = header("authorization").and_then(|a| {
        a.strip_prefix("Bearer ")
            .or_else(|| a.strip_prefix("token "))
    });
    if token != Some(TOKEN) {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    {
        let mut b = fake.behaviour.lock().expect("lock");
        if b.failing > 0 {
            b.failing -= 1;
            return error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error");
        }
        if std::mem::take(&mut b.too_many) {
            return (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
        }
        if let Some(to) = b.moved.get(&full) {
            let mut r = error(StatusCode::MOVED_PERMANENTLY, "Moved Permanently");
            r.headers_mut().insert(
                "location",
                HeaderValue::from_str(&format!("/repos/{to}/actions/runs")).expect("location"),
            );
            return r;
        }
        // §6: a secondary limit is a 403 whose message says so, with Retry-After.
        if let Some(wait) = b.secondary.take() {
            let mut r = error(
                StatusCode::FORBIDDEN,
                "You have exceeded a secondary rate limit and have been temporarily blocked from content creation. Please retry your request again later.",
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(wait));
            return r;
        }
    }
    let limit = *fake.limit.lock().expect("lock");
    // §4: used up is 403 with remaining 0 (and the headers).
    if limit.1 == 0 {
        let mut r = error(
            StatusCode::FORBIDDEN,
            "API rate limit exceeded for user ID 1.",
        );
        limit_headers(r.headers_mut(), limit);
        return r;
    }
    let body = {
        let repos = fake.repos.lock().expect("lock");
        let Some(r) = repos.get(&full) else {
            // §6: a repository the token cannot see is 404, as one that does not exist.
            return error(StatusCode::NOT_FOUND, "Not Found");
        };
        // §1c: `per_page` (default 30, max 100) and `page` (from 1).
        let per_page = query.per_page.unwrap_or(30).min(100);
        let page: Vec<Value> = r
            .runs
            .iter()
            .skip(query.page.unwrap_or(1).saturating_sub(1) * per_page)
            .take(per_page)
            .map(|run| fake.run_json(&full, r.id, run))
            .collect();
        json!({"total_count": r.runs.len(), "workflow_runs": page}).to_string()
    };
    // §5: a weak ETag; §3: a match is a 304 that does not count against the limit.
    let etag = {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut hasher);
        format!("W/\"{:016x}\"", hasher.finish())
    };
    if header("if-none-match") == Some(etag.as_str()) {
        *fake.not_modified.lock().expect("lock") += 1;
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut()
            .insert("etag", HeaderValue::from_str(&etag).expect("etag"));
        limit_headers(r.headers_mut(), limit);
        return r;
    }
    let limit = {
        let mut l = fake.limit.lock().expect("lock");
        l.1 -= 1;
        *l
    };
    let mut r = (StatusCode::OK, [("content-type", "application/json")], body).into_response();
    r.headers_mut()
        .insert("etag", HeaderValue::from_str(&etag).expect("etag"));
    limit_headers(r.headers_mut(), limit);
    r
}

/// §5/§6: the token, as `Bearer`; else 401 "Bad credentials".
fn refused(headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.strip_prefix("Bearer "));
    (token != Some(TOKEN)).then(|| error(StatusCode::UNAUTHORIZED, "Bad credentials"))
}

/// §4: an answer that counts against the limit, with the limit's headers.
fn counted(fake: &Fake, mut r: Response) -> Response {
    let limit = {
        let mut l = fake.limit.lock().expect("lock");
        l.1 = l.1.saturating_sub(1);
        *l
    };
    limit_headers(r.headers_mut(), limit);
    r
}

/// §1e: one run, as the list gives it; 404 once it is gone.
async fn one_run(
    State(fake): State<Shared>,
    Path((owner, repo, run)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Response {
    let full = format!("{owner}/{repo}");
    fake.log
        .lock()
        .expect("lock")
        .push(format!("/repos/{full}/actions/runs/{run}"));
    if let Some(refused) = refused(&headers) {
        return refused;
    }
    let body = {
        let repos = fake.repos.lock().expect("lock");
        let found = repos.get(&full).and_then(|r| {
            r.runs
                .iter()
                .find(|x| x.id == run)
                .map(|x| fake.run_json(&full, r.id, x))
        });
        match found {
            Some(body) => body.to_string(),
            None => return error(StatusCode::NOT_FOUND, "Not Found"),
        }
    };
    let r = (StatusCode::OK, [("content-type", "application/json")], body).into_response();
    counted(&fake, r)
}

/// §2: an attempt's jobs, newest first (the order is GitHub's to choose; the reader sorts).
async fn jobs(
    State(fake): State<Shared>,
    Path((owner, repo, run, attempt)): Path<(String, String, u64, u64)>,
    headers: HeaderMap,
) -> Response {
    fake.log.lock().expect("lock").push(format!(
        "/repos/{owner}/{repo}/actions/runs/{run}/attempts/{attempt}/jobs"
    ));
    if let Some(refused) = refused(&headers) {
        return refused;
    }
    if !fake
        .repos
        .lock()
        .expect("lock")
        .contains_key(&format!("{owner}/{repo}"))
    {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    let jobs: Vec<Value> = fake
        .jobs
        .lock()
        .expect("lock")
        .iter()
        .rev()
        .filter(|(r, a, _)| *r == run && *a == attempt)
        .map(|(_, _, j)| j.clone())
        .collect();
    let r = (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({"total_count": jobs.len(), "jobs": jobs}).to_string(),
    )
        .into_response();
    counted(&fake, r)
}

/// Starts the fake on loopback with an empty account and a limit of 5,000 an hour (§4).
pub async fn start(clock: Clock) -> (Shared, SocketAddr) {
    let reset = clock.now() + chrono::Duration::hours(1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let fake = Arc::new(Fake {
        site: format!("http://{addr}"),
        clock,
        repos: Mutex::new(BTreeMap::new()),
        behaviour: Mutex::new(Behaviour::default()),
        limit: Mutex::new((5000, 5000, reset)),
        log: Mutex::new(Vec::new()),
        not_modified: Mutex::new(0),
        jobs: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/repos/{owner}/{repo}/actions/runs", get(runs))
        .route("/repos/{owner}/{repo}/actions/runs/{run}", get(one_run))
        .route(
            "/repos/{owner}/{repo}/actions/runs/{run}/attempts/{attempt}/jobs",
            get(jobs),
        )
        .with_state(fake.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("fake github");
    });
    (fake, addr)
}

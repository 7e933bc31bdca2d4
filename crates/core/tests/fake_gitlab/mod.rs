//! A fake GitLab REST API (v4): an axum server on loopback built strictly from
//! docs/PROVIDER_APIS.md (GitLab, the section named beside each behaviour). It serves
//! `GET /api/v4/projects/:id/pipelines` (`order_by=updated_at`, `updated_after`, the list's
//! fields) and `GET /api/v4/projects/:id/pipelines/:pipeline_id` (with `started_at`,
//! `finished_at`, `duration`), takes the token in `PRIVATE-TOKEN`, answers 401
//! `{"message": "401 Unauthorized"}`, 404 `{"message":"404 Project Not Found"}`, and 429
//! `Retry later` with `Retry-After` on demand. No ETags (§6: none documented). It counts what
//! it was asked.
#![allow(dead_code)]

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

pub const TOKEN: &str = "glpat-FAKE-gatehouse";
/// The project the fake holds: its id and path.
pub const PROJECT_ID: u64 = 21;
pub const PROJECT: &str = "acme/backend";

#[derive(Debug, Clone)]
pub struct FakePipeline {
    pub id: u64,
    pub status: String,
    pub reference: String,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// Seconds it ran (finished ones).
    pub duration: Option<i64>,
}

pub struct Fake {
    pub clock: Clock,
    pub pipelines: Mutex<Vec<FakePipeline>>,
    /// Answer the next request 429 with this `Retry-After`.
    pub limited: Mutex<Option<u64>>,
    pub log: Mutex<Vec<String>>,
    /// Jobs of pipelines: (pipeline id, the job's object, §11).
    pub jobs: Mutex<Vec<(u64, Value)>>,
}

pub type Shared = Arc<Fake>;

impl Fake {
    pub fn requests(&self) -> usize {
        self.log.lock().expect("lock").len()
    }

    pub fn add(&self, id: u64, status: &str, minutes_ago: i64) {
        let created = self.clock.now() - chrono::Duration::minutes(minutes_ago);
        self.pipelines.lock().expect("lock").push(FakePipeline {
            id,
            status: status.into(),
            reference: "main".into(),
            created,
            updated: created,
            duration: None,
        });
    }

    /// Moves pipeline `id` on: its status, updated now, and when it ends, `ran` seconds.
    pub fn set(&self, id: u64, status: &str, ran: Option<i64>) {
        let now = self.clock.now();
        let mut pipelines = self.pipelines.lock().expect("lock");
        let p = pipelines.iter_mut().find(|p| p.id == id).expect("pipeline");
        p.status = status.into();
        p.updated = now;
        p.duration = ran;
    }

    /// Adds job `id` of `stage` to pipeline `pipeline` (§11's fields): started
    /// `minutes_ago`, and when finished, after `ran` seconds (`duration` a float).
    #[allow(clippy::too_many_arguments)]
    pub fn add_job(
        &self,
        pipeline: u64,
        id: u64,
        name: &str,
        stage: &str,
        status: &str,
        minutes_ago: i64,
        ran: Option<f64>,
    ) {
        let started = self.clock.now() - chrono::Duration::minutes(minutes_ago);
        let finished =
            ran.map(|s| stamp(started + chrono::Duration::milliseconds((s * 1000.0) as i64)));
        let job = json!({
            "id": id, "name": name, "stage": stage, "status": status, "ref": "main", "tag": false,
            "allow_failure": false, "created_at": stamp(started), "started_at": stamp(started),
            "finished_at": finished, "duration": ran, "queued_duration": 0.5,
            "web_url": format!("https://gitlab.example.com/{PROJECT}/-/jobs/{id}"),
            "pipeline": {"id": pipeline, "project_id": PROJECT_ID, "status": status},
        });
        self.jobs.lock().expect("lock").push((pipeline, job));
    }

    /// The list's fields (§1, example item).
    fn basic(&self, p: &FakePipeline) -> Value {
        json!({
            "id": p.id, "iid": p.id - 100, "project_id": PROJECT_ID, "status": p.status,
            "source": "push", "ref": p.reference, "sha": format!("{:040x}", p.id * 31),
            "name": "Build pipeline",
            "web_url": format!("https://gitlab.example.com/{PROJECT}/-/pipelines/{}", p.id),
            "created_at": stamp(p.created), "updated_at": stamp(p.updated),
        })
    }
}

/// GitLab's times: RFC 3339 with milliseconds (§2 example).
fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({"message": text}).to_string(),
    )
        .into_response()
}

/// The checks every request passes: the token (§4), the project (§8), a 429 on demand (§7).
fn gate(fake: &Fake, headers: &HeaderMap, project: &str, what: String) -> Option<Response> {
    fake.log.lock().expect("lock").push(what);
    if headers.get("private-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        return Some(message(StatusCode::UNAUTHORIZED, "401 Unauthorized"));
    }
    if let Some(wait) = fake.limited.lock().expect("lock").take() {
        let mut r = (StatusCode::TOO_MANY_REQUESTS, "Retry later").into_response();
        r.headers_mut()
            .insert("retry-after", HeaderValue::from(wait));
        return Some(r);
    }
    if project != PROJECT_ID.to_string() && project != PROJECT {
        return Some(message(StatusCode::NOT_FOUND, "404 Project Not Found"));
    }
    None
}

#[derive(serde::Deserialize)]
struct ListQuery {
    order_by: Option<String>,
    sort: Option<String>,
    updated_after: Option<String>,
    per_page: Option<usize>,
    page: Option<usize>,
}

async fn list(
    State(fake): State<Shared>,
    Path(project): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let what = format!(
        "list {project} after {:?} page {}",
        q.updated_after,
        q.page.unwrap_or(1)
    );
    if let Some(refused) = gate(&fake, &headers, &project, what) {
        return refused;
    }
    let after = q
        .updated_after
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let mut pipelines = fake.pipelines.lock().expect("lock").clone();
    // §1: `updated_after`, and `order_by=updated_at`, `sort` desc (the default) or asc.
    pipelines.retain(|p| after.is_none_or(|a| p.updated > a));
    if q.order_by.as_deref() == Some("updated_at") {
        pipelines.sort_by_key(|p| (p.updated, p.id));
    } else {
        pipelines.sort_by_key(|p| p.id);
    }
    if q.sort.as_deref() != Some("asc") {
        pipelines.reverse();
    }
    // §5: `page` (from 1) and `per_page` (default 20, max 100).
    let per_page = q.per_page.unwrap_or(20).min(100);
    let items: Vec<Value> = pipelines
        .iter()
        .skip(q.page.unwrap_or(1).saturating_sub(1) * per_page)
        .take(per_page)
        .map(|p| fake.basic(p))
        .collect();
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        Value::Array(items).to_string(),
    )
        .into_response()
}

async fn single(
    State(fake): State<Shared>,
    Path((project, id)): Path<(String, u64)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = gate(&fake, &headers, &project, format!("pipeline {id}")) {
        return refused;
    }
    let pipelines = fake.pipelines.lock().expect("lock");
    let Some(p) = pipelines.iter().find(|p| p.id == id) else {
        return message(StatusCode::NOT_FOUND, "404 Not found");
    };
    // §2: the single pipeline adds its start, end and duration.
    let mut body = fake.basic(p);
    let finished = p.duration.map(|_| stamp(p.updated));
    let started = p
        .duration
        .map(|d| stamp(p.updated - chrono::Duration::seconds(d)));
    body["started_at"] = json!(started);
    body["finished_at"] = json!(finished);
    body["duration"] = json!(p.duration);
    body["queued_duration"] = json!(6);
    body["user"] = json!({"id": 1, "username": "octocat", "name": "Octo Cat"});
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// §11: a pipeline's jobs, newest first (sorted by ID, descending).
async fn jobs(
    State(fake): State<Shared>,
    Path((project, id)): Path<(String, u64)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = gate(&fake, &headers, &project, format!("jobs of {id}")) {
        return refused;
    }
    let mut jobs: Vec<(u64, Value)> = fake.jobs.lock().expect("lock").clone();
    jobs.retain(|(p, _)| *p == id);
    jobs.sort_by_key(|(_, j)| std::cmp::Reverse(j["id"].as_u64()));
    let items: Vec<Value> = jobs.into_iter().map(|(_, j)| j).collect();
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        Value::Array(items).to_string(),
    )
        .into_response()
}

pub async fn start(clock: Clock) -> (Shared, SocketAddr) {
    let fake = Arc::new(Fake {
        clock,
        pipelines: Mutex::new(Vec::new()),
        limited: Mutex::new(None),
        log: Mutex::new(Vec::new()),
        jobs: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/api/v4/projects/{project}/pipelines", get(list))
        .route("/api/v4/projects/{project}/pipelines/{id}", get(single))
        .route("/api/v4/projects/{project}/pipelines/{id}/jobs", get(jobs))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("fake gitlab");
    });
    (fake, addr)
}

//! A fake Appcircle: an axum server on loopback built strictly from the shapes in
//! ../shared/appcircle/API.md (the token exchanges, build profiles, their branches and
//! builds, testing distribution, publish and Enterprise App Store profiles, signing
//! identities). It counts requests and can refuse keys, expire tokens, answer 429 and 500,
//! or answer a shape nobody expects. Shared by the core's tests and the binary's (CLI, window).
//!
//! Its dates are offsets from the clock it is started with ("last built 2 hours ago"), and
//! its tokens expire by that clock: the core's tests hand it their manual clock, the
//! binary's tests (whose process reads the system's) hand it the system's.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Utc};
use gatehouse_core::clock::Clock;
use serde_json::{Value, json};

/// The API key and personal access key the fake accepts.
pub const KEY_NAME: &str = "gatehouse";
pub const KEY_SECRET: &str = "good-secret";
pub const PERSONAL_ACCESS_KEY: &str = "good-personal-key";

/// What the fake does besides answering.
#[derive(Default)]
pub struct Behaviour {
    /// Seconds until the tokens it issues expire.
    pub token_lifetime: u64,
    /// Refuse the next API call's token with 401 (as a token expired early would be).
    pub refuse_next_token: bool,
    /// Answer the next N API calls 429 with `Retry-After: 1`.
    pub too_many: u32,
    /// Answer the next N API calls 500 with `Retry-After: 0`.
    pub failing: u32,
    /// Answer the profile list as an object instead of a list.
    pub odd_shape: bool,
    /// Hold the next N API calls for 3 s before answering (a stalled server).
    pub stalling: u32,
    /// Refuse the publish lists with 403, as for a key without that permission.
    pub forbid_publish: bool,
    /// Leave `hash` out of the builds list (its fields are undocumented): the client must
    /// read the commit (`build/v2/commits/{id}`, documented).
    pub no_hash_in_builds: bool,
}

/// The git SHA the fake gives build `build_id`'s commit: 40 hex digits, the same every time
/// (the id's bytes in hex, repeated).
pub fn sha_of(build_id: &str) -> String {
    let hex: String = build_id.bytes().map(|b| format!("{b:02x}")).collect();
    hex.chars().cycle().take(40).collect()
}

impl Fake {
    /// The first profile as a release's: "Acme iOS", its first branch `branch`, its latest
    /// build running or not (succeeded).
    pub fn release(&self, branch: &str, running: bool) {
        let mut account = self.account.lock().expect("lock");
        let profile = &mut account.profiles[0];
        profile.name = "Acme iOS".into();
        profile.branches[0].name = branch.into();
        profile.branches[0].status = if running { 91 } else { 0 };
    }
}

/// Appcircle's commit GUID (as the fake names it) of build `build_id`'s commit.
pub fn commit_of(build_id: &str) -> String {
    format!("commit-{build_id}")
}

#[derive(Debug, Clone)]
pub struct FakeBranch {
    pub id: String,
    pub name: String,
    pub last_build_date: String,
    /// The latest build: its id, status and `hasWarning`.
    pub build_id: String,
    pub status: i64,
    pub has_warning: bool,
}

#[derive(Debug, Clone)]
pub struct FakeProfile {
    pub id: String,
    pub name: String,
    pub last_build_date: String,
    pub branches: Vec<FakeBranch>,
}

/// The account's state, as the tests set it.
#[derive(Default)]
pub struct Account {
    pub profiles: Vec<FakeProfile>,
    /// `distribution/v2/profiles` items.
    pub distribution: Vec<Value>,
    /// Per platform (`ios`, `android`): publish profiles and their app versions.
    pub publish: HashMap<String, Vec<(Value, Vec<Value>)>>,
    /// `store/v2/profiles` items.
    pub store: Vec<Value>,
    /// Per list (`certificates`, `keystores`, `provisioning-profiles`): its items.
    pub signing: HashMap<String, Vec<Value>>,
}

#[derive(Default)]
pub struct Fake {
    /// What "now" is for its dates and its tokens' expiry.
    pub clock: Clock,
    pub behaviour: Mutex<Behaviour>,
    pub account: Mutex<Account>,
    pub tokens_issued: AtomicU64,
    pub api_calls: AtomicU64,
    /// Reads of one commit (`build/v2/commits/{id}`).
    pub commit_reads: AtomicU64,
    valid: Mutex<Vec<String>>,
}

pub type Shared = Arc<Fake>;

impl Fake {
    pub fn api_calls(&self) -> u64 {
        self.api_calls.load(Ordering::SeqCst)
    }

    pub fn tokens(&self) -> u64 {
        self.tokens_issued.load(Ordering::SeqCst)
    }

    /// Its clock's now, less `minutes`, as Appcircle writes dates.
    pub fn minutes_ago(&self, minutes: i64) -> String {
        stamp(self.clock.now() - chrono::Duration::minutes(minutes))
    }
}

/// A time as Appcircle's API writes it (RFC 3339).
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

fn jwt(exp: u64, n: u64) -> String {
    let enc = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.sig",
        enc(json!({"alg": "none"})),
        enc(json!({"exp": exp, "n": n}))
    )
}

fn issue(fake: &Fake) -> Response {
    let n = fake.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    let lifetime = fake.behaviour.lock().expect("lock").token_lifetime;
    let now = u64::try_from(fake.clock.now().timestamp()).expect("after 1970");
    let token = jwt(now + lifetime, n);
    fake.valid.lock().expect("lock").push(token.clone());
    Json(json!({"access_token": token, "token_type": "Bearer"})).into_response()
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"message": "invalid"})),
    )
        .into_response()
}

async fn api_key_token(
    State(fake): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if form.get("name").map(String::as_str) != Some(KEY_NAME)
        || form.get("secret").map(String::as_str) != Some(KEY_SECRET)
    {
        return refused();
    }
    issue(&fake)
}

async fn personal_token(
    State(fake): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if form.get("personalAccessKey").map(String::as_str) != Some(PERSONAL_ACCESS_KEY) {
        return refused();
    }
    issue(&fake)
}

/// The checks every API call goes through: the bearer token, then the fake's behaviour.
fn gate(fake: &Fake, headers: &HeaderMap) -> Option<Response> {
    fake.api_calls.fetch_add(1, Ordering::SeqCst);
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let mut b = fake.behaviour.lock().expect("lock");
    if b.refuse_next_token {
        b.refuse_next_token = false;
        fake.valid.lock().expect("lock").retain(|t| *t != token);
    }
    if !fake.valid.lock().expect("lock").contains(&token) {
        return Some(StatusCode::UNAUTHORIZED.into_response());
    }
    if b.too_many > 0 {
        b.too_many -= 1;
        return Some((StatusCode::TOO_MANY_REQUESTS, [("Retry-After", "1")]).into_response());
    }
    if b.failing > 0 {
        b.failing -= 1;
        return Some((StatusCode::INTERNAL_SERVER_ERROR, [("Retry-After", "0")]).into_response());
    }
    None
}

async fn profiles(State(fake): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(refused) = gate(&fake, &headers) {
        return refused;
    }
    let stall = {
        let mut b = fake.behaviour.lock().expect("lock");
        let stall = b.stalling > 0;
        b.stalling = b.stalling.saturating_sub(1);
        stall
    };
    if stall {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    if fake.behaviour.lock().expect("lock").odd_shape {
        return Json(json!({"profiles": "elsewhere"})).into_response();
    }
    let list: Vec<Value> = fake
        .account
        .lock()
        .expect("lock")
        .profiles
        .iter()
        .map(|p| {
            json!({"id": p.id, "name": p.name, "pinned": false, "os": 1,
                   "buildPlatformType": 1, "repositoryName": "repo", "lastBuildDate": p.last_build_date,
                   "autoDistributeCount": 0, "autoBuildCount": 0})
        })
        .collect();
    Json(Value::Array(list)).into_response()
}

async fn profile(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = gate(&fake, &headers) {
        return refused;
    }
    let account = fake.account.lock().expect("lock");
    let Some(p) = account.profiles.iter().find(|p| p.id == id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let branches: Vec<Value> = p
        .branches
        .iter()
        .map(|b| json!({"id": b.id, "name": b.name, "lastBuildDate": b.last_build_date, "buildStatus": b.status}))
        .collect();
    Json(json!({"id": p.id, "name": p.name, "branches": branches})).into_response()
}

async fn builds(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = gate(&fake, &headers) {
        return refused;
    }
    let account = fake.account.lock().expect("lock");
    let wanted = q.get("branchId").cloned().unwrap_or_default();
    let Some(b) = account
        .profiles
        .iter()
        .flat_map(|p| p.branches.iter())
        .find(|b| b.id == wanted)
    else {
        return Json(json!([])).into_response();
    };
    // An older success, then the latest build (listed first: the client must sort).
    let month_ago = stamp(fake.clock.now() - chrono::Duration::days(30));
    let month_ago_plus_a_minute =
        stamp(fake.clock.now() - chrono::Duration::days(30) + chrono::Duration::minutes(1));
    let older = format!("{}-older", b.id);
    let mut list = json!([
        {"id": b.build_id, "hash": sha_of(&b.build_id), "hasWarning": b.has_warning,
         "status": b.status, "startDate": b.last_build_date, "endDate": b.last_build_date,
         "duration": 60, "isDistributable": false, "commitId": commit_of(&b.build_id)},
        {"id": older, "hash": sha_of(&older), "hasWarning": false, "status": 0,
         "startDate": month_ago, "endDate": month_ago_plus_a_minute, "duration": 60,
         "isDistributable": false, "commitId": commit_of(&older)},
    ]);
    if fake.behaviour.lock().expect("lock").no_hash_in_builds {
        for build in list.as_array_mut().expect("list") {
            build.as_object_mut().expect("build").remove("hash");
        }
    }
    Json(list).into_response()
}

/// `GET build/v2/commits/{commitId}`: the commit with its hash and its builds.
async fn commit(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = gate(&fake, &headers) {
        return refused;
    }
    fake.commit_reads.fetch_add(1, Ordering::SeqCst);
    let Some(build) = id.strip_prefix("commit-") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let sha = sha_of(build);
    Json(
        json!({"id": id, "hash": sha, "message": "A commit", "builds": [
            {"id": build, "hash": sha, "hasWarning": false, "status": 0, "commitId": id},
        ]}),
    )
    .into_response()
}

async fn distribution(State(fake): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(refused) = gate(&fake, &headers) {
        return refused;
    }
    Json(Value::Array(
        fake.account.lock().expect("lock").distribution.clone(),
    ))
    .into_response()
}

async fn publish_profiles(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Path(platform): Path<String>,
) -> Response {
    if let Some(refused) = gate(&fake, &headers) {
        return refused;
    }
    if fake.behaviour.lock().expect("lock").forbid_publish {
        return StatusCode::FORBIDDEN.into_response();
    }
    let account = fake.account.lock().expect("lock");
    let list: Vec<Value> = account
        .publish
        .get(&platform)
        .map(|ps| ps.iter().map(|(p, _)| p.clone()).collect())
        .unwrap_or_default();
    Json(Value::Array(list)).into_response()
}

async fn app_versions(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Path((platform, id)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = gate(&fake, &headers) {
        return refused;
    }
    let account = fake.account.lock().expect("lock");
    let versions = account
        .publish
        .get(&platform)
        .and_then(|ps| ps.iter().find(|(p, _)| p["id"] == id.as_str()))
        .map(|(_, v)| v.clone());
    match versions {
        Some(v) => Json(Value::Array(v)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn store_profiles(State(fake): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(refused) = gate(&fake, &headers) {
        return refused;
    }
    Json(Value::Array(
        fake.account.lock().expect("lock").store.clone(),
    ))
    .into_response()
}

async fn signing(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Path(list): Path<String>,
) -> Response {
    if let Some(refused) = gate(&fake, &headers) {
        return refused;
    }
    let items = fake
        .account
        .lock()
        .expect("lock")
        .signing
        .get(&list)
        .cloned()
        .unwrap_or_default();
    Json(Value::Array(items)).into_response()
}

/// `profiles` x `branches` build profiles ("p0" … with branches "p0b0" …), every branch
/// last built 2 hours before `now`; each profile's first branch failed, the others
/// succeeded. The other lists start empty.
pub fn build_profiles(profiles: usize, branches: usize, now: DateTime<Utc>) -> Vec<FakeProfile> {
    let built = stamp(now - chrono::Duration::hours(2));
    (0..profiles)
        .map(|p| FakeProfile {
            id: format!("p{p}"),
            name: format!("App {p}"),
            last_build_date: built.clone(),
            branches: (0..branches)
                .map(|b| FakeBranch {
                    id: format!("p{p}b{b}"),
                    name: format!("branch-{b}"),
                    last_build_date: built.clone(),
                    build_id: format!("p{p}b{b}-latest"),
                    status: if b == 0 { 1 } else { 0 },
                    has_warning: false,
                })
                .collect(),
        })
        .collect()
}

/// Starts a fake whose account has [`build_profiles`] as of `clock`'s now; tokens live an
/// hour by that clock.
pub async fn start(
    profile_count: usize,
    branch_count: usize,
    clock: Clock,
) -> (Shared, SocketAddr) {
    let listed = build_profiles(profile_count, branch_count, clock.now());
    let fake = Arc::new(Fake {
        clock,
        ..Fake::default()
    });
    fake.behaviour.lock().expect("lock").token_lifetime = 3600;
    fake.account.lock().expect("lock").profiles = listed;
    let app = Router::new()
        .route("/auth/v1/api-key/token", post(api_key_token))
        .route("/auth/v3/token", post(personal_token))
        .route("/build/v2/profiles", get(profiles))
        .route("/build/v1/profiles/{id}", get(profile))
        .route("/build/v1/builds", get(builds))
        .route("/build/v2/commits/{id}", get(commit))
        .route("/distribution/v2/profiles", get(distribution))
        .route("/publish/v2/profiles/{platform}", get(publish_profiles))
        .route(
            "/publish/v2/profiles/{platform}/{id}/app-versions",
            get(app_versions),
        )
        .route("/store/v2/profiles", get(store_profiles))
        .route("/signing-identity/v2/{list}", get(signing))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("fake serves");
    });
    (fake, addr)
}

//! The Appcircle client against a fake Appcircle: an axum server on loopback built strictly
//! from the shapes in ../shared/appcircle/API.md (the token exchange, build profiles, their
//! branches, builds). It counts requests and can refuse keys, expire tokens, answer 429 and
//! 500, or answer a shape nobody expects.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use gatehouse_core::appcircle::{self, Account, Client, Key};
use gatehouse_core::classify::Outcome;
use serde_json::{Value, json};

/// What the fake does besides answering.
#[derive(Default)]
struct Behaviour {
    /// Seconds until the tokens it issues expire.
    token_lifetime: u64,
    /// Refuse the next API call's token with 401 (as a token expired early would be).
    refuse_next_token: bool,
    /// Answer the next N API calls 429 with `Retry-After: 1`.
    too_many: u32,
    /// Answer the next N API calls 500 with `Retry-After: 0`.
    failing: u32,
    /// Answer the profile list as an object instead of a list.
    odd_shape: bool,
}

/// A branch: its id, `lastBuildDate` and its latest build's status.
type FakeBranch = (String, String, i64);
/// A profile: its id, `lastBuildDate` and branches.
type FakeProfile = (String, String, Vec<FakeBranch>);

#[derive(Default)]
struct Fake {
    behaviour: Mutex<Behaviour>,
    profiles: Mutex<Vec<FakeProfile>>,
    tokens_issued: AtomicU64,
    api_calls: AtomicU64,
    valid: Mutex<Vec<String>>,
}

type Shared = Arc<Fake>;

fn jwt(exp: u64, n: u64) -> String {
    let enc = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.sig",
        enc(json!({"alg": "none"})),
        enc(json!({"exp": exp, "n": n}))
    )
}

async fn api_key_token(
    State(fake): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if form.get("name").map(String::as_str) != Some("gatehouse")
        || form.get("secret").map(String::as_str) != Some("good-secret")
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "invalid"})),
        )
            .into_response();
    }
    let n = fake.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    let lifetime = fake.behaviour.lock().expect("lock").token_lifetime;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let token = jwt(now + lifetime, n);
    fake.valid.lock().expect("lock").push(token.clone());
    Json(json!({"access_token": token, "token_type": "Bearer"})).into_response()
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
    if fake.behaviour.lock().expect("lock").odd_shape {
        return Json(json!({"profiles": "elsewhere"})).into_response();
    }
    let list: Vec<Value> = fake
        .profiles
        .lock()
        .expect("lock")
        .iter()
        .map(|(id, date, _)| {
            json!({"id": id, "name": format!("App {id}"), "pinned": false, "os": 1,
                   "buildPlatformType": 1, "repositoryName": "repo", "lastBuildDate": date,
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
    let profiles = fake.profiles.lock().expect("lock");
    let Some((_, _, branches)) = profiles.iter().find(|(p, _, _)| *p == id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let branches: Vec<Value> = branches
        .iter()
        .map(|(b, date, status)| json!({"id": b, "name": format!("branch-{b}"), "lastBuildDate": date, "buildStatus": status}))
        .collect();
    Json(json!({"id": id, "name": format!("App {id}"), "branches": branches})).into_response()
}

async fn builds(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = gate(&fake, &headers) {
        return refused;
    }
    let profiles = fake.profiles.lock().expect("lock");
    let branch = q.get("branchId").cloned().unwrap_or_default();
    let Some((date, status)) = profiles
        .iter()
        .flat_map(|(_, _, bs)| bs.iter())
        .find(|(b, _, _)| *b == branch)
        .map(|(_, d, s)| (d.clone(), *s))
    else {
        return Json(json!([])).into_response();
    };
    // An older success, then the latest build (listed first: the client must sort).
    Json(json!([
        {"id": format!("{branch}-latest"), "hash": "abc", "hasWarning": false, "status": status,
         "startDate": date, "endDate": date, "duration": 60, "isDistributable": false, "commitId": "c2"},
        {"id": format!("{branch}-older"), "hash": "abd", "hasWarning": false, "status": 0,
         "startDate": "2026-01-01T00:00:00Z", "endDate": "2026-01-01T00:01:00Z", "duration": 60,
         "isDistributable": false, "commitId": "c1"},
    ]))
    .into_response()
}

async fn start_fake(profile_count: usize, branch_count: usize) -> (Shared, SocketAddr) {
    let fake = Arc::new(Fake::default());
    fake.behaviour.lock().expect("lock").token_lifetime = 3600;
    {
        let mut profiles = fake.profiles.lock().expect("lock");
        for p in 0..profile_count {
            let branches = (0..branch_count)
                .map(|b| {
                    (
                        format!("p{p}b{b}"),
                        "2026-11-30T10:00:00Z".to_owned(),
                        if b == 0 { 1 } else { 0 },
                    )
                })
                .collect();
            profiles.push((format!("p{p}"), "2026-11-30T10:00:00Z".to_owned(), branches));
        }
    }
    let app = Router::new()
        .route("/auth/v1/api-key/token", post(api_key_token))
        .route("/build/v2/profiles", get(profiles))
        .route("/build/v1/profiles/{id}", get(profile))
        .route("/build/v1/builds", get(builds))
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

fn account(addr: SocketAddr, secret: &str) -> Account {
    Account {
        api_host: format!("http://{addr}"),
        auth_host: format!("http://{addr}/"),
        key: Key::ApiKey {
            name: "gatehouse".into(),
            secret: secret.into(),
            organization: None,
        },
    }
}

/// Runs the blocking client off the async threads.
async fn off<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    tokio::task::spawn_blocking(f).await.expect("client thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_walk_reads_every_branch_and_a_second_only_what_moved() {
    let (fake, addr) = start_fake(3, 2).await;
    let (found, requests, mut client) = off(move || {
        let mut client = Client::with_pace(account(addr, "good-secret"), Duration::ZERO);
        let found = appcircle::latest_builds(&mut client, &|_, _| None).expect("walk");
        let requests = client.requests();
        (found, requests, client)
    })
    .await;
    assert_eq!(found.len(), 6, "3 profiles x 2 branches");
    // One sign-in, the list, 3 profiles, 6 branches' builds.
    assert_eq!(requests, 1 + 1 + 3 + 6);
    for (profile, branch, build) in &found {
        assert!(
            build.id.ends_with("-latest"),
            "the newest build, not the first listed"
        );
        let outcome = appcircle::build_outcome(build.status, build.has_warning);
        let want = if branch.id.ends_with("b0") {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        };
        assert_eq!(outcome, want, "{} / {}", profile.name, branch.name);
    }

    // One branch builds again: the second walk reads the list, that profile and that branch.
    {
        let mut profiles = fake.profiles.lock().expect("lock");
        profiles[1].1 = "2026-11-30T11:00:00Z".into();
        profiles[1].2[1].1 = "2026-11-30T11:00:00Z".into();
        profiles[1].2[1].2 = 3;
    }
    let (found, requests) = off(move || {
        let before = client.requests();
        let seen = |_: &str, _: &str| Some("2026-11-30T10:00:00Z".to_owned());
        let found = appcircle::latest_builds(&mut client, &seen).expect("walk");
        (found, client.requests() - before)
    })
    .await;
    assert_eq!(requests, 3, "the list, one profile, one branch: {requests}");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1.id, "p1b1");
    assert_eq!(
        appcircle::build_outcome(found[0].2.status, false),
        Outcome::TimedOut
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_refreshed_before_they_expire_and_once_on_a_401() {
    let (fake, addr) = start_fake(1, 1).await;
    // Tokens that expire within the refresh margin are replaced before every use.
    fake.behaviour.lock().expect("lock").token_lifetime = 30;
    let f = fake.clone();
    off(move || {
        let mut client = Client::with_pace(account(addr, "good-secret"), Duration::ZERO);
        for _ in 0..3 {
            let _: Value = client.get("build/v2/profiles", "a list").expect("listed");
        }
        assert_eq!(
            f.tokens_issued.load(Ordering::SeqCst),
            3,
            "one sign-in per call"
        );
        // Long-lived tokens are kept; a 401 signs in once more and the call succeeds.
        f.behaviour.lock().expect("lock").token_lifetime = 3600;
        let _: Value = client.get("build/v2/profiles", "a list").expect("listed");
        let _: Value = client.get("build/v2/profiles", "a list").expect("listed");
        assert_eq!(f.tokens_issued.load(Ordering::SeqCst), 4);
        f.behaviour.lock().expect("lock").refuse_next_token = true;
        let _: Value = client
            .get("build/v2/profiles", "a list")
            .expect("after a refresh");
        assert_eq!(f.tokens_issued.load(Ordering::SeqCst), 5);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_says_so_without_the_secret() {
    let (_fake, addr) = start_fake(1, 1).await;
    let err = off(move || {
        let mut client = Client::with_pace(account(addr, "wrong-secret"), Duration::ZERO);
        client
            .get::<Value>("build/v2/profiles", "a list")
            .expect_err("refused")
    })
    .await;
    let text = err.to_string();
    assert!(
        text.contains("refused the API key `gatehouse`") && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_and_failing_answers_are_waited_out_and_then_reported() {
    let (fake, addr) = start_fake(1, 1).await;
    fake.behaviour.lock().expect("lock").too_many = 1;
    let f = fake.clone();
    let (took, listed) = off(move || {
        let mut client = Client::with_pace(account(addr, "good-secret"), Duration::ZERO);
        let started = Instant::now();
        let listed: Vec<appcircle::BuildProfile> = client
            .get("build/v2/profiles", "a list of build profiles")
            .expect("after waiting");
        let took = started.elapsed();
        // Two 500s are retried; four in a row are reported with their status.
        f.behaviour.lock().expect("lock").failing = 2;
        let _: Value = client
            .get("build/v2/profiles", "a list")
            .expect("after two 500s");
        f.behaviour.lock().expect("lock").failing = 10;
        let err = client
            .get::<Value>("build/v2/profiles", "a list")
            .expect_err("gives up");
        assert!(err.to_string().contains("HTTP 500 4 times"), "{err}");
        (took, listed)
    })
    .await;
    assert_eq!(listed.len(), 1);
    assert!(
        took >= Duration::from_secs(1),
        "Retry-After: 1 was honoured ({took:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unexpected_shape_is_a_clear_error() {
    let (fake, addr) = start_fake(1, 1).await;
    fake.behaviour.lock().expect("lock").odd_shape = true;
    let err = off(move || {
        let mut client = Client::with_pace(account(addr, "good-secret"), Duration::ZERO);
        appcircle::latest_builds(&mut client, &|_, _| None).expect_err("odd shape")
    })
    .await;
    let text = err.to_string();
    assert!(
        text.contains("/build/v2/profiles") && text.contains("a list of build profiles"),
        "{text}"
    );
}

/// The pace holds: at most two requests a second by default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_keeps_to_two_requests_a_second() {
    let (_fake, addr) = start_fake(1, 1).await;
    let took = off(move || {
        let mut client = Client::new(account(addr, "good-secret"));
        let started = Instant::now();
        for _ in 0..3 {
            let _: Value = client.get("build/v2/profiles", "a list").expect("listed");
        }
        // Four requests (a sign-in and three calls): three gaps of 500 ms.
        (started.elapsed(), client.requests())
    })
    .await;
    assert_eq!(took.1, 4);
    assert!(took.0 >= Duration::from_millis(1500), "{:?}", took.0);
}

/// The figure the closing note asks for: a first walk of 50 profiles x 5 branches at the
/// real pace (two requests a second). About two and a half minutes, so not in `make test`:
/// `cargo test -p gatehouse-core --test appcircle -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "takes about 150 s at Appcircle's pace; run by hand for the figure"]
async fn measure_a_first_walk_of_50_profiles_by_5_branches() {
    let (_fake, addr) = start_fake(50, 5).await;
    let (found, requests, took) = off(move || {
        let mut client = Client::new(account(addr, "good-secret"));
        let started = Instant::now();
        let found = appcircle::latest_builds(&mut client, &|_, _| None).expect("walk");
        (found.len(), client.requests(), started.elapsed())
    })
    .await;
    assert_eq!(found, 250);
    println!(
        "measured: first walk of 50 profiles x 5 branches: {requests} requests in {:.1} s",
        took.as_secs_f64()
    );
}

//! The inbox's API over HTTP: `POST /api/v1/rpc` answers the same [`ApiRequest`] the window's
//! `rpc` command takes, and `GET /api/v1/stream` follows the change log ([`stream`]). Both
//! want `Authorization: Bearer <token>` or a browser session ([`session`]); the API is off
//! until a token exists. The web dashboard's files are served beside them ([`site`]); the
//! listener adds the security headers to every answer ([`crate::receive::headers`]). Errors become
//! HTTP statuses in one place
//! ([`crate::error::ErrorKind::http_status`]).

pub mod session;
pub mod site;
mod stream;
pub mod token;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::watch;

pub use site::Site;
pub use stream::HEARTBEAT;

use crate::api::{Api, ApiError, ApiRequest, Host};
use crate::offload::blocking;
use crate::receive::listener::json;
use crate::store::{Store, TokenInfo};
use crate::{Error, Result};

/// A token's last use is written at most this often (it costs a commit).
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

struct Inner<H> {
    api: Arc<Api<H>>,
    /// Becomes true when the server stops: open streams end, so shutdown is not held up.
    closing: watch::Receiver<bool>,
    rendered: Arc<stream::Rendered>,
    site: Option<Arc<Site>>,
    /// Session cookies are marked `Secure` (the inbox serves HTTPS).
    secure_cookies: bool,
}

type Shared<H> = Arc<Inner<H>>;

/// What the inbox serves besides the API.
#[derive(Default)]
pub struct Options {
    /// The web dashboard's files, served at `/`.
    pub site: Option<Arc<Site>>,
    /// Whether the inbox serves HTTPS (session cookies are then `Secure`).
    pub secure_cookies: bool,
}

/// The API's routes, to merge beside the listener's (see `RunningListener::start_with`).
pub fn router<H: Host>(api: Arc<Api<H>>, closing: watch::Receiver<bool>) -> Router {
    router_with(api, closing, Options::default())
}

/// The API's routes and, with a site, the web dashboard at `/`.
pub fn router_with<H: Host>(
    api: Arc<Api<H>>,
    closing: watch::Receiver<bool>,
    options: Options,
) -> Router {
    let mut routes = Router::new()
        .route("/api/v1/rpc", post(rpc::<H>))
        .route("/api/v1/stream", get(stream::follow::<H>))
        .route(
            "/api/v1/session",
            post(session::open::<H>)
                .get(session::current::<H>)
                .delete(session::close::<H>),
        );
    if options.site.is_some() {
        // Other methods on these paths (a webhook posted to the bare address) get the
        // listener's own 404, as without a site.
        let file = || get(page::<H>).fallback(crate::receive::listener::no_route);
        routes = routes
            .route("/", file())
            .route("/assets/{*path}", file())
            .route("/{file}", file());
    }
    routes.with_state(Arc::new(Inner {
        api,
        closing,
        rendered: Arc::default(),
        site: options.site,
        secure_cookies: options.secure_cookies,
    }))
}

/// A file of the web dashboard.
async fn page<H: Host>(
    State(inbox): State<Shared<H>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    match &inbox.site {
        Some(site) => site.answer(&uri, &headers),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// An [`Error`] as the API answers it: its status and an [`ApiError`] body.
struct Answer(Error);

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let error = ApiError::from(self.0);
        let status = StatusCode::from_u16(error.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = json(status, &error);
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// What a request presents to say who it is.
enum Credential {
    Bearer(String),
    /// A browser session's cookie.
    Session(String),
    Nothing,
}

/// Who a request is: the token it carries (a bearer token, or the token behind its session
/// cookie), if it is a live one, and the session it came through. A request that `changes`
/// anything with the cookie must also carry [`session::CSRF_HEADER`]. Refusals are logged with
/// the caller's address and the reason, never with what it sent.
async fn authenticate(
    store: &Arc<Store>,
    headers: &HeaderMap,
    from: SocketAddr,
    changes: bool,
) -> Result<Caller> {
    let refuse = |reason: &str| {
        tracing::warn!("api: refused a call from {from}: {reason}");
        Error::Unauthorized(reason.to_owned())
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_owned);
    let presented = match (bearer, session::session_cookie(headers)) {
        (Some(token), _) => Credential::Bearer(token),
        (None, Some(id)) => {
            if changes {
                session::require_csrf_header(headers, from)?;
            }
            Credential::Session(id)
        }
        (None, None) => Credential::Nothing,
    };
    let session = match &presented {
        Credential::Session(id) => Some(id.clone()),
        _ => None,
    };
    let lookup = store.clone();
    let (any, found) = blocking(move || {
        let any = lookup.has_tokens()?;
        let found = match &presented {
            Credential::Bearer(t) if any => lookup.find_token(t)?.map(Some),
            Credential::Session(id) if any => lookup.find_session(id)?.map(Some),
            Credential::Bearer(_) | Credential::Session(_) => None,
            Credential::Nothing => Some(None),
        };
        Ok((any, found))
    })
    .await?;
    if !any {
        tracing::warn!("api: refused a call from {from}: no token exists yet");
        return Err(Error::NotFound(
            "the API is off until a token exists: create one with `gatehouse token add NAME`"
                .into(),
        ));
    }
    let token = match found {
        Some(Some(token)) => token,
        Some(None) => {
            return Err(refuse(
                "an `Authorization: Bearer <token>` header (or a signed-in session) is required",
            ));
        }
        None => {
            return Err(refuse(
                "the token or session is not valid (unknown, expired or revoked)",
            ));
        }
    };
    touch(store, &token);
    Ok(Caller { token, session })
}

/// Notes the token's use, at most once per [`TOUCH_EVERY`], without holding up the call.
fn touch(store: &Arc<Store>, token: &TokenInfo) {
    let stale = token
        .last_used_at
        .as_deref()
        .and_then(crate::time::from_text)
        .is_none_or(|at| store.clock().now() - at >= TOUCH_EVERY);
    if stale {
        let (store, id) = (store.clone(), token.id);
        tokio::spawn(async move {
            if let Err(e) = store.touch_token(id).await {
                tracing::warn!("could not note a token's last use: {e}");
            }
        });
    }
}

async fn rpc<H: Host>(
    State(inbox): State<Shared<H>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let store = inbox.api.store().clone();
    let token = match authenticate(&store, &headers, from, true).await {
        Ok(caller) => caller.token,
        Err(e) => return Answer(e).into_response(),
    };
    let request = match serde_json::from_slice(&body).and_then(ApiRequest::from_json) {
        Ok(r) => r,
        Err(e) => {
            return Answer(Error::Invalid(format!("not an API request: {e}"))).into_response();
        }
    };
    let method = request.method();
    match inbox.api.call_as(token.role, request).await {
        Ok(response) => json(StatusCode::OK, &response),
        Err(e) => {
            if matches!(e, Error::Forbidden(_)) {
                tracing::warn!(
                    "api: refused `{method}` from {from} with token `{}` ({}): not allowed",
                    token.name,
                    token.role.as_str()
                );
            }
            Answer(e).into_response()
        }
    }
}

/// Who made a request: its token, and the browser session it came through (a stream opened
/// through one ends when it does).
struct Caller {
    token: TokenInfo,
    session: Option<String>,
}

/// Whether the caller may still follow: its token exists, and its session (if it came
/// through one) is still open. A revoked token's or a signed-out session's stream ends at its
/// next check.
async fn still_valid(store: &Arc<Store>, caller: &Caller) -> bool {
    let (store, id, session) = (store.clone(), caller.token.id, caller.session.clone());
    blocking(move || match session {
        Some(session) => Ok(store.find_session(&session)?.is_some()),
        None => Ok(store.tokens()?.iter().any(|t| t.id == id)),
    })
    .await
    .unwrap_or(true)
}

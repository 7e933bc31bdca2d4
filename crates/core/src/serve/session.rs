//! Browser sessions for the web dashboard: `POST /api/v1/session` trades an access token for
//! a session cookie (`HttpOnly`, `SameSite=Strict`, `Path=/api`, `Secure` under TLS),
//! `GET` says whose session it is, `DELETE` signs out. The token is sent once and never kept
//! by the browser; the session id is kept by the server only as its SHA-256.
//!
//! Cross-site requests: a browser sends the cookie only to this site (`SameSite=Strict`), and
//! every request that changes anything while authenticated by the cookie must carry
//! [`CSRF_HEADER`], which a cross-site form cannot send and a cross-site script could only
//! send after a CORS preflight that the API never grants.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{Answer, Host, Shared};
use crate::Error;
use crate::offload::blocking;
use crate::serve::token::Role;

/// The cookie that carries a session's id.
pub const SESSION_COOKIE: &str = "gatehouse_session";
/// The header a browser's changing requests carry (any value).
pub const CSRF_HEADER: &str = "x-gatehouse-request";
/// How long a session lasts: a wall screen signs in once a month.
const SESSION_DAYS: i64 = 30;

/// Whose session this is, for the front end (never the token).
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct SessionInfo {
    /// The token's name.
    pub name: String,
    pub role: Role,
    pub expires_at: Option<String>,
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

/// The session id the request's cookie carries, if any.
pub(super) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Refuses a changing request made with the cookie but without [`CSRF_HEADER`].
pub(super) fn require_csrf_header(headers: &HeaderMap, from: SocketAddr) -> crate::Result<()> {
    if headers.contains_key(CSRF_HEADER) {
        return Ok(());
    }
    tracing::warn!("api: refused a request from {from}: a session cookie without {CSRF_HEADER}");
    Err(Error::Forbidden(format!(
        "a request that changes anything needs the `{CSRF_HEADER}` header"
    )))
}

/// The `Set-Cookie` value: the session's id, or an empty one with `Max-Age=0` to clear it.
fn cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/api; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("gatehouse_session=; Max-Age=0; Path=/api"))
}

/// `POST /api/v1/session` with `{"token": "..."}`.
pub(super) async fn open<H: Host>(
    State(inbox): State<Shared<H>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = require_csrf_header(&headers, from) {
        return Answer(e).into_response();
    }
    let Ok(SignIn { token }) = serde_json::from_slice::<SignIn>(&body) else {
        return Answer(Error::Invalid(
            "expected {\"token\": \"gh_inbox_...\"}".into(),
        ))
        .into_response();
    };
    let store = inbox.api.store().clone();
    let lookup = store.clone();
    let found = match blocking(move || lookup.find_token(token.trim())).await {
        Ok(found) => found,
        Err(e) => return Answer(e).into_response(),
    };
    let Some(token) = found else {
        tracing::warn!("api: refused a sign-in from {from}: the token is not valid");
        return Answer(Error::Unauthorized(
            "the token is not valid (unknown or revoked)".into(),
        ))
        .into_response();
    };
    let expires = store.clock().now() + chrono::Duration::days(SESSION_DAYS);
    let secret = match store.open_session(token.id, expires).await {
        Ok(secret) => secret,
        Err(e) => return Answer(e).into_response(),
    };
    // Signing in again replaces the session this browser held: it does not linger for 30 days.
    if let Some(old) = session_cookie(&headers)
        && let Err(e) = store.close_session(&old).await
    {
        tracing::warn!("could not end the session a sign-in replaced: {e}");
    }
    tracing::info!("api: token `{}` signed in from {from}", token.name);
    let info = SessionInfo {
        name: token.name,
        role: token.role,
        expires_at: Some(crate::time::to_text(expires)),
    };
    let mut response = crate::receive::listener::json(StatusCode::OK, &info);
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&secret, SESSION_DAYS * 86_400, inbox.secure_cookies),
    );
    response
}

/// `GET /api/v1/session`: whose session the cookie (or bearer token) is.
pub(super) async fn current<H: Host>(
    State(inbox): State<Shared<H>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let store = inbox.api.store().clone();
    match super::authenticate(&store, &headers, from, false).await {
        Ok(caller) => crate::receive::listener::json(
            StatusCode::OK,
            &SessionInfo {
                name: caller.token.name,
                role: caller.token.role,
                expires_at: None,
            },
        ),
        Err(e) => Answer(e).into_response(),
    }
}

/// `DELETE /api/v1/session`: signs out; the cookie is cleared whatever it held.
pub(super) async fn close<H: Host>(
    State(inbox): State<Shared<H>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = require_csrf_header(&headers, from) {
        return Answer(e).into_response();
    }
    if let Some(secret) = session_cookie(&headers)
        && let Err(e) = inbox.api.store().close_session(&secret).await
    {
        return Answer(e).into_response();
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie("", 0, inbox.secure_cookies));
    response
}

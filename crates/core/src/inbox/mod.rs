//! The inbox's API over HTTP: `POST /api/v1/rpc` answers the same [`ApiRequest`] the window's
//! `rpc` command takes, and `GET /api/v1/stream` follows the change log ([`stream`]). Both
//! want `Authorization: Bearer <token>`; the API is off until a token exists. Errors become
//! HTTP statuses in one place ([`crate::error::ErrorKind::http_status`]).

mod stream;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::watch;

use crate::api::{Api, ApiError, ApiRequest, Host};
use crate::offload::blocking;
use crate::store::{Store, TokenInfo};
use crate::{Error, Result};

/// A token's last use is written at most this often (it costs a commit).
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

struct Inner<H> {
    api: Arc<Api<H>>,
    /// Becomes true when the server stops: open streams end, so shutdown is not held up.
    closing: watch::Receiver<bool>,
    rendered: Arc<stream::Rendered>,
}

type Shared<H> = Arc<Inner<H>>;

/// The API's routes, to merge beside the listener's (see `RunningListener::start_with`).
pub fn router<H: Host>(api: Arc<Api<H>>, closing: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/api/v1/rpc", post(rpc::<H>))
        .route("/api/v1/stream", get(stream::follow::<H>))
        .with_state(Arc::new(Inner {
            api,
            closing,
            rendered: Arc::default(),
        }))
}

/// An [`Error`] as the API answers it: its status and an [`ApiError`] body.
struct Answer(Error);

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let error = ApiError::from(self.0);
        let status = StatusCode::from_u16(error.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(error)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The token a request carries, if it is a live one. Refusals are logged with the caller's
/// address and the reason, never with what it sent as a token.
async fn authenticate(
    store: &Arc<Store>,
    headers: &HeaderMap,
    from: SocketAddr,
) -> Result<TokenInfo> {
    let refuse = |reason: &str| {
        tracing::warn!("api: refused a call from {from}: {reason}");
        Error::Unauthorized(reason.to_owned())
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_owned);
    let lookup = store.clone();
    let (any, found) = blocking(move || {
        let any = lookup.has_tokens()?;
        let found = match &presented {
            Some(t) if any => lookup.find_token(t)?.map(Some),
            Some(_) => None,
            None => Some(None),
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
                "an `Authorization: Bearer <token>` header is required",
            ));
        }
        None => return Err(refuse("the token is not valid (unknown or revoked)")),
    };
    touch(store, &token);
    Ok(token)
}

/// Notes the token's use, at most once per [`TOUCH_EVERY`], without holding up the call.
fn touch(store: &Arc<Store>, token: &TokenInfo) {
    let stale = token
        .last_used_at
        .as_deref()
        .and_then(crate::time::from_text)
        .is_none_or(|at| chrono::Utc::now() - at >= TOUCH_EVERY);
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
    let token = match authenticate(&store, &headers, from).await {
        Ok(t) => t,
        Err(e) => return Answer(e).into_response(),
    };
    let request: ApiRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return Answer(Error::Invalid(format!("not an API request: {e}"))).into_response();
        }
    };
    let method = request.method();
    match inbox.api.call_as(token.role, request).await {
        Ok(response) => axum::Json(response).into_response(),
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

/// Whether `token` still exists (a revoked token's stream ends at its next check).
async fn still_valid(store: &Arc<Store>, token: &TokenInfo) -> bool {
    let (store, id) = (store.clone(), token.id);
    blocking(move || Ok(store.tokens()?.iter().any(|t| t.id == id)))
        .await
        .unwrap_or(true)
}

//! The HTTP listener: `POST /hooks/{name}` and `GET /healthz`.
//!
//! Every request to an existing endpoint is recorded with its verdict before it is answered;
//! a 2xx goes out only after the store committed. When the store cannot commit the answer is
//! 503 with `Retry-After`, so the sender tries again and nothing acknowledged is lost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::serve::ListenerExt;
use chrono::Duration;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;

use crate::model::{Source, Verdict};
use crate::receive::ingest::{Arrival, Judgment, REDACTED, is_secret_header, judge_delivery};
use crate::receive::tls::{TlsConfig, TlsListener};
use crate::receive::write_stall::GuardedListener;
use crate::settings::{DEFAULT_BODY_LIMIT, DEFAULT_REPLAY_WINDOW_SECS};
use crate::store::{Recorded, Store};
use crate::{Error, Result};

/// Seconds a sender is asked to wait after a 503.
pub const RETRY_AFTER_SECS: u32 = 5;

/// How the listener judges requests.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub replay_window: Duration,
    pub body_limit: usize,
    /// A body that has not fully arrived by then is dropped as incomplete.
    pub body_timeout: std::time::Duration,
    /// A connection whose peer has read nothing for this long while an answer waits is
    /// closed ([`crate::receive::write_stall`]): a stalled stream subscriber above all.
    pub write_stall: std::time::Duration,
    /// Serve HTTPS with this certificate instead of plain HTTP.
    pub tls: Option<TlsConfig>,
}

impl ListenerConfig {
    /// The listener settings the user saved, checked against their bounds.
    pub fn from_settings(settings: &crate::settings::Settings) -> Result<ListenerConfig> {
        Ok(ListenerConfig {
            replay_window: crate::settings::check_replay_window(settings.replay_window_secs)?,
            body_limit: crate::settings::check_body_limit(settings.body_limit)?,
            ..ListenerConfig::default()
        })
    }
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            replay_window: Duration::seconds(DEFAULT_REPLAY_WINDOW_SECS),
            body_limit: DEFAULT_BODY_LIMIT,
            body_timeout: std::time::Duration::from_secs(30),
            write_stall: std::time::Duration::from_secs(30),
            tls: None,
        }
    }
}

#[derive(Clone)]
struct Shared {
    store: Arc<Store>,
    config: Arc<ListenerConfig>,
}

/// The routes, ready to serve with connect info (see [`serve`]).
pub fn router(store: Arc<Store>, config: ListenerConfig) -> Router {
    let shared = Shared {
        store,
        config: Arc::new(config),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/hooks/{name}", any(hook))
        .route("/hooks/{name}/", any(hook))
        .fallback(no_route)
        .with_state(shared)
}

/// Serves until `shutdown` resolves, then lets requests in flight finish. `extra` routes
/// (the inbox's API) are served beside the hooks.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<Store>,
    config: ListenerConfig,
    extra: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stall, tls) = (config.write_stall, config.tls.clone());
    // After the merge, so that the 404 of a path nobody serves gets them too.
    let app = extra
        .merge(router(store, config))
        .layer(axum::middleware::map_response(
            crate::receive::headers::secure,
        ))
        .into_make_service_with_connect_info::<SocketAddr>();
    // `tap_io` only so that axum's connect info (the peer's address) applies to our listeners.
    match tls {
        Some(tls) => {
            axum::serve(TlsListener::new(listener, &tls, stall)?.tap_io(|_| {}), app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(GuardedListener::new(listener, stall).tap_io(|_| {}), app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// Why a request got no verdict of its own: the single place errors become HTTP answers.
#[derive(Debug)]
enum Refusal {
    NoEndpoint(String),
    NoRoute,
    StoreDown(Error),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NoEndpoint(name) => reply(
                StatusCode::NOT_FOUND,
                json!({"status": "not_found", "error": format!("no endpoint named `{name}`")}),
            ),
            Refusal::NoRoute => reply(
                StatusCode::NOT_FOUND,
                json!({"status": "not_found", "error": "webhooks are received at /hooks/{name}"}),
            ),
            Refusal::StoreDown(e) => {
                tracing::error!("store unavailable: {e}");
                retry_later(reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"status": "unavailable", "error": "the delivery could not be stored; retry later"}),
                ))
            }
        }
    }
}

/// Asks the sender to come back in [`RETRY_AFTER_SECS`] (every 503 says so).
fn retry_later(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    json(status, &body)
}

/// A JSON answer, written with `serde_json::to_vec` as the window's `rpc` (Tauri) writes
/// its own: every answer type's serializer is large, and writing some through `axum::Json`'s
/// writer put a second copy of each in the binary. The inbox's API answers through here too.
pub(crate) fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            tracing::error!("an answer could not be written as JSON: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn verdict_response(r: &Recorded) -> Response {
    let status = StatusCode::from_u16(r.verdict.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut body = json!({"status": r.verdict.as_str(), "request_id": r.request_id});
    if let Some(id) = &r.delivery_id {
        body["delivery_id"] = json!(id);
    }
    if let Some(id) = r.event_id {
        body["event_id"] = json!(id);
    }
    if let Some(error) = &r.error {
        body["error"] = json!(error);
    }
    let mut response = reply(status, body);
    if r.verdict == Verdict::MethodNotAllowed {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

/// `ok` while the store commits; `degraded` with the reason and a 503 while it cannot (a
/// full disk), so a monitor or load balancer sees it. A degraded store is probed with one
/// 64 KiB write per check, so health returns as soon as space does.
async fn healthz(State(shared): State<Shared>) -> Response {
    let mut problem = shared.store.health();
    if problem.is_some() {
        problem = shared.store.probe().await.err().map(|e| e.to_string());
    }
    let (status, word) = match &problem {
        None => (StatusCode::OK, "ok"),
        Some(_) => (StatusCode::SERVICE_UNAVAILABLE, "degraded"),
    };
    tracing::info!("GET /healthz {} {word}", status.as_u16());
    let mut body = json!({
        "status": word,
        "version": env!("CARGO_PKG_VERSION"),
        "schema": crate::store::SCHEMA_VERSION,
        "replay_window_secs": shared.config.replay_window.num_seconds(),
        "body_limit": shared.config.body_limit,
    });
    if let Some(reason) = problem {
        body["reason"] = json!(reason);
    }
    let response = reply(status, body);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        retry_later(response)
    } else {
        response
    }
}

pub(crate) async fn no_route(method: Method, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    drain(request.into_body(), UNREAD_DRAIN, UNREAD_DRAIN_TIME).await;
    tracing::info!("{method} {path} 404 no_route");
    Refusal::NoRoute.into_response()
}

async fn hook(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match handle(&shared, name, remote, request).await {
        Ok(recorded) => {
            tracing::info!(
                "{method} {path} {} {} request={} delivery={} event={} {:.1}ms",
                recorded.verdict.status_code(),
                recorded.verdict,
                recorded.request_id,
                recorded.delivery_id.as_deref().unwrap_or("-"),
                recorded
                    .event_id
                    .map_or("-".to_owned(), |id| id.to_string()),
                started.elapsed().as_secs_f64() * 1000.0,
            );
            verdict_response(&recorded)
        }
        Err(refusal) => {
            let response = refusal.into_response();
            tracing::info!(
                "{method} {path} {} {:.1}ms",
                response.status().as_u16(),
                started.elapsed().as_secs_f64() * 1000.0
            );
            response
        }
    }
}

async fn handle(
    shared: &Shared,
    name: String,
    remote: SocketAddr,
    request: Request,
) -> std::result::Result<Recorded, Refusal> {
    let received_at = shared.store.clock().now();
    // From memory, checked against a one-row generation read: no hop to the blocking pool.
    let found = shared
        .store
        .endpoint_for_request(&name)
        .map_err(Refusal::StoreDown)?;
    let Some(endpoint) = found else {
        shared.store.count_unmatched(&name, received_at);
        // A small body is read and dropped so the connection stays usable: answering with
        // it unread makes the server close it, and a client reusing it sees a reset.
        drain(request.into_body(), UNREAD_DRAIN, UNREAD_DRAIN_TIME).await;
        return Err(Refusal::NoEndpoint(name));
    };

    let (parts, body) = request.into_parts();
    // Every header as text (names are lowercase): the provider finds its proof, delivery id
    // and event name in them. Only the redacted copy is stored.
    let raw_headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let provider = endpoint.provider;
    let proofs = provider.proofs(&raw_headers);
    let declared_size = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut arrival = Arrival {
        endpoint: name.clone(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        remote_addr: Some(remote.to_string()),
        headers: redacted(&parts.headers),
        // Kept to check the request again later (accept, replay): only a single proof (two
        // were refused and must stay so), see below for GitLab's.
        signature: match proofs.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        },
        body: None,
        body_size: declared_size.unwrap_or(0),
        received_at,
        source: Source::Live,
    };
    let limit = shared.config.body_limit;
    let judgment = if parts.method != Method::POST {
        Judgment::reject(
            Verdict::MethodNotAllowed,
            format!("{} is not accepted; use POST", parts.method),
        )
    } else if declared_size.is_some_and(|n| n > limit as u64) {
        // Read (and drop) what is bounded, so the sender is still reading when the 413
        // arrives; closing on unread data resets the connection and the answer is lost.
        drain(body, limit.saturating_mul(2), shared.config.body_timeout).await;
        Judgment::reject(
            Verdict::TooLarge,
            format!(
                "body of {} bytes is over the {limit}-byte limit",
                arrival.body_size
            ),
        )
    } else {
        match read_body(body, limit, shared.config.body_timeout).await {
            Ok(bytes) => {
                let values: Vec<&str> = proofs.iter().map(String::as_str).collect();
                let keys: Vec<&[u8]> = endpoint
                    .secrets
                    .iter()
                    .map(|s| s.secret.as_bytes())
                    .collect();
                let judgment = judge_delivery(
                    provider,
                    &keys,
                    &values,
                    &raw_headers,
                    &bytes,
                    received_at,
                    shared.config.replay_window,
                );
                arrival.body_size = bytes.len() as u64;
                arrival.body = Some(bytes);
                // A GitLab proof is a digest of the token sent: kept only when it matched
                // (it is then the secret's, which is stored anyway), never a stranger's
                // guess or another secret pasted by mistake.
                if provider == crate::model::Provider::Gitlab
                    && matches!(&judgment, Judgment::Reject { verdict, .. } if !verdict.is_verified())
                {
                    arrival.signature = None;
                }
                judgment
            }
            Err(BodyError::TooLarge) => {
                arrival.body_size = arrival.body_size.max(limit as u64 + 1);
                Judgment::reject(
                    Verdict::TooLarge,
                    format!("body is over the {limit}-byte limit"),
                )
            }
            Err(BodyError::Incomplete(reason)) => Judgment::reject(Verdict::Incomplete, reason),
        }
    };
    match shared.store.record(arrival, judgment).await {
        Ok(recorded) => Ok(recorded),
        // Removed between the lookup and the write.
        Err(Error::NotFound(_)) => Err(Refusal::NoEndpoint(name)),
        Err(e) => Err(Refusal::StoreDown(e)),
    }
}

/// How much of a body we read (and drop) before answering 404, and for how long.
const UNREAD_DRAIN: usize = 64 * 1024;
const UNREAD_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads and discards up to `most` bytes of `body`, for at most `timeout`; nothing is kept.
async fn drain(mut body: Body, most: usize, timeout: std::time::Duration) {
    let discard = async {
        let mut seen = 0usize;
        while seen < most {
            match body.frame().await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(timeout, discard).await;
}

enum BodyError {
    TooLarge,
    Incomplete(String),
}

async fn read_body(
    body: Body,
    limit: usize,
    timeout: std::time::Duration,
) -> std::result::Result<Vec<u8>, BodyError> {
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| {
            BodyError::Incomplete(format!("body did not arrive within {}s", timeout.as_secs()))
        })?;
    match collected {
        Ok(c) => Ok(c.to_bytes().to_vec()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(e) => Err(BodyError::Incomplete(format!(
            "body could not be read: {e}"
        ))),
    }
}

/// Header pairs in arrival order, with credential-like values replaced.
fn redacted(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if is_secret_header(name.as_str()) {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// Each connection's kernel send buffer, fixed (accepted sockets inherit it from the
/// listening one) instead of grown by Linux up to 4 MiB. A stream subscriber that stops
/// reading is noticed, and cut, once its buffer is full; until then every message it seems to
/// take is rendered for nothing, and with 4 MiB that was over a thousand messages, 5-20% of
/// ingest in `make bench`. 256 KiB still carries a catch-up at 2.5 MB/s over a 100 ms round
/// trip.
pub const SEND_BUFFER_BYTES: u32 = 256 * 1024;

/// Binds the listener (as tokio's `TcpListener::bind` does, with the fixed send buffer); a
/// failure names the address, the OS's reason and what to do.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    let listen = || -> std::io::Result<tokio::net::TcpListener> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_send_buffer_size(SEND_BUFFER_BYTES)?;
        socket.bind(addr)?;
        socket.listen(1024)
    };
    listen().map_err(|e| bind_error(addr, &e))
}

/// The [`Error::BindFailed`] for `e`, with a hint fitting its cause.
fn bind_error(addr: SocketAddr, e: &std::io::Error) -> Error {
    let hint = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "another program (perhaps another Gatehouse) holds port {}; stop it or choose another address in Settings or with --listen",
            addr.port()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "ports below 1024 need privileges; choose a port above 1024, e.g. 127.0.0.1:{}",
            crate::settings::DEFAULT_PORT
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this machine; use 127.0.0.1 or one of its interfaces",
            addr.ip()
        ),
        _ => "choose another address in Settings or with --listen".to_owned(),
    };
    let reason = if e.kind() == std::io::ErrorKind::AddrInUse {
        format!("the port is already in use ({e})")
    } else {
        e.to_string()
    };
    Error::BindFailed { addr, reason, hint }
}

/// Whether the listener runs, where, and if not, why: what the dashboard, Settings and the
/// CLI show instead of a URL that nothing answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[ts(export)]
pub struct ListenerStatus {
    /// The address the listener was asked to use.
    pub address: String,
    /// `http://ADDR` while it listens; `None` when it does not.
    pub base_url: Option<String>,
    /// Why it does not listen (the OS's reason), when it does not.
    pub error: Option<String>,
    /// What the user can do about it.
    pub hint: Option<String>,
    /// Off on purpose: Settings say builds come only from an inbox.
    pub off: bool,
}

impl ListenerStatus {
    pub fn listening(addr: SocketAddr) -> ListenerStatus {
        ListenerStatus {
            address: addr.to_string(),
            base_url: Some(format!("http://{addr}")),
            error: None,
            hint: None,
            off: false,
        }
    }

    /// Not listening on `address` because of `e`.
    pub fn failed(address: impl Into<String>, e: &Error) -> ListenerStatus {
        let (error, hint) = match e {
            Error::BindFailed { reason, hint, .. } => (reason.clone(), hint.clone()),
            other => (
                other.to_string(),
                "check the address in Settings (or --listen)".to_owned(),
            ),
        };
        ListenerStatus {
            address: address.into(),
            base_url: None,
            error: Some(error),
            hint: Some(hint),
            off: false,
        }
    }

    /// Not started yet (or stopped).
    pub fn stopped(address: impl Into<String>) -> ListenerStatus {
        ListenerStatus {
            address: address.into(),
            base_url: None,
            error: Some("the listener is stopped".into()),
            hint: None,
            off: false,
        }
    }

    /// Not wanted: builds come only from an inbox.
    pub fn off(address: impl Into<String>) -> ListenerStatus {
        ListenerStatus {
            address: address.into(),
            base_url: None,
            error: None,
            hint: Some("builds come from the inbox (Settings → Where builds come from)".into()),
            off: true,
        }
    }
}

/// A listener running on the tokio runtime: its address and a way to stop it gracefully.
/// The CLI's `serve` and the desktop shell both start the listener through this.
pub struct RunningListener {
    addr: SocketAddr,
    /// Serving HTTPS.
    tls: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningListener {
    /// Binds `addr` (port 0 picks a free one) and starts serving.
    pub async fn start(
        addr: SocketAddr,
        store: Arc<Store>,
        config: ListenerConfig,
    ) -> Result<RunningListener> {
        Self::start_with(addr, store, config, Router::new()).await
    }

    /// Like [`RunningListener::start`], serving `extra` routes beside the hooks.
    pub async fn start_with(
        addr: SocketAddr,
        store: Arc<Store>,
        config: ListenerConfig,
        extra: Router,
    ) -> Result<RunningListener> {
        let listener = bind(addr).await?;
        let addr = listener.local_addr()?;
        let tls = config.tls.is_some();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, store, config, extra, async {
            let _ = stopped.await;
        }));
        Ok(RunningListener {
            addr,
            tls,
            stop: Some(stop),
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where it listens, with the scheme it serves (`https://` with TLS).
    pub fn status(&self) -> ListenerStatus {
        let mut status = ListenerStatus::listening(self.addr);
        if self.tls {
            status.base_url = Some(format!("https://{}", self.addr));
        }
        status
    }

    /// Stops accepting, lets requests in flight finish (each waits for its commit), returns.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .map_err(|e| Error::System(format!("the listener task failed: {e}")))??;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepted connections carry the listener's fixed send buffer (Linux reports twice what
    /// was set; without it a new socket reports its 16 KiB starting size and then grows).
    #[tokio::test]
    async fn accepted_connections_have_the_fixed_send_buffer() {
        let listener = bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let _client = std::net::TcpStream::connect(addr).expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        let size = socket2::SockRef::from(&accepted)
            .send_buffer_size()
            .expect("SO_SNDBUF");
        assert!(
            size >= SEND_BUFFER_BYTES as usize && size <= 2 * SEND_BUFFER_BYTES as usize,
            "send buffer {size}"
        );
    }
}

//! The security headers every answer carries, whoever made it: the hooks, the API, the web
//! dashboard's pages and files, and the 404 for a path nobody serves. A browser that opens
//! any of them gets no sniffing, no referrer, no framing and the dashboard's CSP, so a
//! payload rendered by mistake could not run a script or be framed by another site.

use axum::http::{HeaderValue, header};
use axum::response::Response;

/// The Content-Security-Policy: the window's, with the API on this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Adds them to `response`; answers that say nothing of caching are never cached (the
/// dashboard's files say how they may be).
pub async fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

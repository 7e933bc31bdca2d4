//! The web dashboard's files: the same built front end the window embeds, handed over by
//! the shell (one build serves both). Kept in memory with a gzip copy made once at start;
//! Vite names its assets by content hash, so those are cached for good, and the page itself
//! is asked for again each time.

use std::collections::HashMap;
use std::io::Write;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// One file, ready to send.
struct File {
    body: Vec<u8>,
    /// Only when it is smaller than the body.
    gzip: Option<Vec<u8>>,
    content_type: &'static str,
    /// Named by content hash (Vite's `assets/`): never changes under its name.
    immutable: bool,
}

/// The dashboard's files by path (`index.html`, `assets/index-3f2a.js`, ...).
pub struct Site {
    files: HashMap<String, File>,
}

/// The page every route of the front end starts from.
const INDEX: &str = "index.html";

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    let packed = encoder.finish().ok()?;
    (packed.len() < bytes.len()).then_some(packed)
}

impl Site {
    /// The files as (path relative to the front end's root, bytes).
    pub fn new(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Site {
        let files = files
            .into_iter()
            .map(|(path, body)| {
                let path = path.trim_start_matches('/').to_owned();
                let file = File {
                    gzip: gzip(&body),
                    content_type: content_type(&path),
                    immutable: path.starts_with("assets/"),
                    body,
                };
                (path, file)
            })
            .collect();
        Site { files }
    }

    /// Whether it has the page to start from.
    pub fn has_index(&self) -> bool {
        self.files.contains_key(INDEX)
    }

    /// What a browser downloads for the first page: each file's size as sent with gzip.
    pub fn transferred_bytes(&self) -> usize {
        self.files
            .values()
            .filter(|f| !f.content_type.starts_with("image/"))
            .map(|f| f.gzip.as_ref().map_or(f.body.len(), Vec::len))
            .sum()
    }

    /// Answers a GET for `uri`: `/` is the page, other paths their file, 404 otherwise.
    pub fn answer(&self, uri: &Uri, headers: &HeaderMap) -> Response {
        let path = uri.path().trim_start_matches('/');
        let path = if path.is_empty() { INDEX } else { path };
        let Some(file) = self.files.get(path) else {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        };
        let accepts_gzip = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        let (body, gzipped) = match (&file.gzip, accepts_gzip) {
            (Some(packed), true) => (packed.clone(), true),
            _ => (file.body.clone(), false),
        };
        let mut response = Response::new(Body::from(body));
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(file.content_type),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if file.immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            }),
        );
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if gzipped {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::new([
            (
                "index.html".to_owned(),
                b"<!doctype html><p>hi</p>".repeat(20),
            ),
            (
                "/assets/index-ab12.js".to_owned(),
                b"console.log(1);".repeat(100),
            ),
        ])
    }

    #[test]
    fn the_page_is_revalidated_and_hashed_assets_are_kept_for_good() {
        let site = site();
        let mut gz = HeaderMap::new();
        gz.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip"),
        );
        let page = site.answer(&"/".parse().expect("uri"), &gz);
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(page.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let script = site.answer(
            &"/assets/index-ab12.js".parse().expect("uri"),
            &HeaderMap::new(),
        );
        assert!(
            script.headers()[header::CACHE_CONTROL]
                .to_str()
                .is_ok_and(|v| v.contains("immutable"))
        );
        assert!(
            script.headers().get(header::CONTENT_ENCODING).is_none(),
            "no gzip unless asked for"
        );
        let missing = site.answer(&"/nope.js".parse().expect("uri"), &HeaderMap::new());
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert!(site.transferred_bytes() < 20 * 25 + 100 * 15);
    }
}

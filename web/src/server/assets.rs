//! What the web UI serves the same to everyone, without a session: the stylesheet, the browser
//! bundle (gzipped once at start, with entity tags) and the page for unknown addresses.

use std::path::Path as FilePath;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::telemetry::BundleFileUnreadable;

const STYLESHEET: &str = include_str!("../../style.css");

/// The bundle's file names, without extensions.
pub(super) const OUTPUT_NAME: &str = "tally-web";

/// The browser bundle that hydrates the pages.
pub(super) struct Bundle {
    js: BundleFile,
    wasm: BundleFile,
}

/// A file of the bundle, gzipped once at start, with an entity tag so that browsers download
/// it again only when it changed.
struct BundleFile {
    gzipped: Bytes,
    etag: HeaderValue,
}

impl Bundle {
    /// Reads the bundle from its directory; `None`, with a warning, if it is not all there.
    pub(super) fn read(directory: &FilePath) -> Option<Self> {
        let read = |name: &str| {
            std::fs::read(directory.join(name))
                .and_then(|content| BundleFile::new(&content))
                .inspect_err(|error| {
                    BundleFileUnreadable {
                        directory,
                        name,
                        error,
                    }
                    .emit();
                })
                .ok()
        };
        Some(Self {
            js: read(&format!("{OUTPUT_NAME}.js"))?,
            wasm: read(&format!("{OUTPUT_NAME}_bg.wasm"))?,
        })
    }
}

impl BundleFile {
    /// Gzips a file of the bundle and tags it with a hash of its content.
    fn new(content: &[u8]) -> std::io::Result<Self> {
        use std::hash::{Hash, Hasher};
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(content)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        content.hash(&mut hasher);
        Ok(Self {
            gzipped: Bytes::from(encoder.finish()?),
            etag: HeaderValue::try_from(format!("\"{:016x}\"", hasher.finish()))
                .map_err(std::io::Error::other)?,
        })
    }
}

/// What any unknown address gets, signed in or not.
pub(super) async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Not found · Tally</title><link rel=\"stylesheet\" href=\"/assets/tally.css\">\
         </head><body><main class=\"narrow\"><h1>Page not found</h1><p>There is no page at \
         this address. <a href=\"/\">Go to the overview</a>.</p></main></body></html>",
    )
        .into_response()
}

/// Serves the stylesheet, cached for an hour.
pub(super) async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// Serves the browser bundle, gzipped; browsers revalidate it with its entity tag on every
/// page load and download it only when it changed. It was read at start, so rebuilding it never
/// changes the scripts under a running server's pages.
pub(super) async fn bundle_file(
    State(bundle): State<Option<Arc<Bundle>>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(bundle) = bundle else {
        return not_found().await;
    };
    let (served, content_type) = match file.strip_prefix(OUTPUT_NAME) {
        Some(".js") => (&bundle.js, "text/javascript; charset=utf-8"),
        Some("_bg.wasm") => (&bundle.wasm, "application/wasm"),
        _ => return not_found().await,
    };
    let cache = [
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (ETAG, served.etag.clone()),
    ];
    if headers.get(IF_NONE_MATCH) == Some(&served.etag) {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    // Every browser that runs the bundle accepts gzip.
    (
        cache,
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CONTENT_ENCODING, HeaderValue::from_static("gzip")),
        ],
        served.gzipped.clone(),
    )
        .into_response()
}

/// The stylesheet and the browser bundle: the same for everyone, served without a session.
pub(super) fn is_static(path: &str) -> bool {
    path.starts_with("/assets/") || path.starts_with("/pkg/")
}

//! The web pages: one HTML shell, a stylesheet and a script in ES modules (`app.js`, the shell,
//! imports `common.js` and one module per page), compiled into the binary (no build step,
//! nothing fetched from elsewhere). They hold no data and need no token to load; every
//! thing they show comes from the public JSON API and event stream with the token the user
//! signs in with, so the API's roles and audit apply to the pages unchanged.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../pages/index.html");
/// The script is ES modules (`app.js` imports the others), loaded from this origin only.
const FILES: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../pages/app.js"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("../pages/common.js"),
    ),
    (
        "map.js",
        "text/javascript; charset=utf-8",
        include_str!("../pages/map.js"),
    ),
    (
        "station.js",
        "text/javascript; charset=utf-8",
        include_str!("../pages/station.js"),
    ),
    (
        "biomed.js",
        "text/javascript; charset=utf-8",
        include_str!("../pages/biomed.js"),
    ),
    (
        "beds.js",
        "text/javascript; charset=utf-8",
        include_str!("../pages/beds.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("../pages/chart.js"),
    ),
    (
        "environment.js",
        "text/javascript; charset=utf-8",
        include_str!("../pages/environment.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../pages/app.css"),
    ),
];

/// Only this origin's script and styles, no frames, no inline script: a page that shows
/// patients' names should not be embeddable or scriptable from elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn page(content_type: &'static str, body: &'static str) -> Response {
    page_bytes(content_type, body.as_bytes())
}

/// A static file with the pages' headers (CSP, no sniffing, no referrer).
pub(crate) fn page_bytes(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// The pages' shell (`/`): sign-in, then the floor map, station board or biomed board.
pub(crate) async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

/// The scripts and the stylesheet (`/ui/app.js`, `/ui/map.js`, ..., `/ui/app.css`).
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, ct, body)) => page(ct, body),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

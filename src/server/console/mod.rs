//! The task console: a small web page for watching the tasks a developer's code ran against the
//! local server, served at [`CONSOLE_PATH`] from files compiled into the binary (no CDN, no
//! network, no build step: plain HTML, CSS and JavaScript modules).
//!
//! The page holds no data of its own and gets no privileged route: it signs in with an API key
//! (or Basic credentials) kept in the tab's `sessionStorage` only, and every call it makes goes
//! through the public v1 routes with those credentials, so a user sees exactly their namespaces'
//! tasks. The assets themselves are served to anyone (they hold nothing secret).
//!
//! Safe by construction: the scripts write data into the page as text only (`textContent`, text
//! nodes, SVG `<title>` text), never as HTML, and every console answer carries a strict
//! `Content-Security-Policy` ([`CSP`]): scripts only from these files, no inline script or event
//! handler, no `eval`, no images or frames, and Trusted Types required, so any HTML sink given a
//! string throws in the browser. No cookie is ever set.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::state::AppState;

/// Where the console is served: the page itself (with or without a trailing slash), and its
/// files under it.
pub(crate) const CONSOLE_PATH: &str = "/_emulator/console";

/// The policy on every console answer.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'none'; font-src 'none'; object-src 'none'; frame-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'; trusted-types 'none'";

/// One embedded file: its name under [`CONSOLE_PATH`], its media type, its text.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console. `index.html` is also the page at [`CONSOLE_PATH`] itself.
const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("assets/index.html"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("assets/console.css"),
    },
    Asset {
        name: "app.js",
        content_type: JS,
        body: include_str!("assets/app.js"),
    },
    Asset {
        name: "api.js",
        content_type: JS,
        body: include_str!("assets/api.js"),
    },
    Asset {
        name: "dom.js",
        content_type: JS,
        body: include_str!("assets/dom.js"),
    },
    Asset {
        name: "list.js",
        content_type: JS,
        body: include_str!("assets/list.js"),
    },
    Asset {
        name: "task.js",
        content_type: JS,
        body: include_str!("assets/task.js"),
    },
    Asset {
        name: "timeline.js",
        content_type: JS,
        body: include_str!("assets/timeline.js"),
    },
    Asset {
        name: "sql.js",
        content_type: JS,
        body: include_str!("assets/sql.js"),
    },
];

/// The console's routes, merged into the server's router.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(CONSOLE_PATH, get(index))
        .route(&format!("{CONSOLE_PATH}/"), get(index))
        .route(&format!("{CONSOLE_PATH}/{{file}}"), get(file))
}

async fn index() -> Response {
    serve("index.html")
}

async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        // The router's error middleware turns this into the usual `Error` body.
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.body,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

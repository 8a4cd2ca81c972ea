//! The HTTP surface: the four v1 routes (thin handlers in `sql.rs` and `tasks.rs`: parse, call,
//! answer), the console's files (`server/console/`), the error-body middleware, compression,
//! tracing.

mod emulator;
mod sql;
mod tasks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _, SizeAbove};
use tower_http::trace::TraceLayer;
use tracing::Span;

use super::console;
use super::emulator::Emulator;
use super::error::{ErrorCode, ErrorInfo, shorten};
use super::faults;
use super::state::AppState;
use crate::model::{ErrorBody, TASK_ID_HEADER};

/// The header carrying the id the server gave the request (also in error bodies).
const REQUEST_ID_HEADER: &str = "x-request-id";
/// Answers at most this large are sent uncompressed.
const COMPRESS_ABOVE: u16 = 1024;

/// The whole application: routes, then (outermost last) body limit, error bodies, compression
/// and a tracing span per request.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let max_body = state.limits.max_body_bytes;
    Router::new()
        .route("/v1/sql/{namespace}", post(sql::run_sql))
        .route("/v1/task/{id}", get(tasks::get_task))
        .route("/v1/task/{id}/result", get(tasks::get_result))
        .route("/v1/tasks", get(tasks::list_tasks))
        .merge(console::routes())
        .merge(emulator::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            faults::apply,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            finish_response,
        ))
        // Small answers (a task, an error) are not worth compressing: setting up a deflate
        // stream costs more than the bytes it saves, and task lookups must stay cheap.
        .layer(
            CompressionLayer::new()
                .compress_when(DefaultPredicate::new().and(SizeAbove::new(COMPRESS_ABOVE))),
        )
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = route_of(req.uri().path());
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        route,
                        status = tracing::field::Empty,
                    )
                })
                .on_response(|resp: &Response, latency: Duration, span: &Span| {
                    let status = resp.status().as_u16();
                    span.record("status", status);
                    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                    tracing::info!(parent: span, status, latency_us = micros, "answered");
                }),
        )
        .with_state(state)
}

/// The route template a path falls under, for the request span: ids and namespaces stay out
/// of the span (they are high-cardinality; axum's `MatchedPath` needs a feature we do not use).
fn route_of(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "sql", _] => "/v1/sql/{namespace}",
        ["v1", "task", _] => "/v1/task/{id}",
        ["v1", "task", _, "result"] => "/v1/task/{id}/result",
        ["v1", "tasks"] => "/v1/tasks",
        ["_emulator", "console", ..] => console::CONSOLE_PATH,
        _ => "<unmatched>",
    }
}

/// Gives every answer an `X-Request-Id`, and every error answer an `Error` JSON body carrying
/// that id: from the [`ErrorInfo`] a route left, or derived from the status for errors the
/// framework produced itself (unknown route, 405, 413, undecodable path).
async fn finish_response(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = req.method().clone();
    let path = shorten(req.uri().path(), 200);
    let query = req.uri().query().map(|q| shorten(q, 400));
    let pending = Emulator::begin(&state, &method, &path, query, &mut req);
    let mut response = next.run(req).await;
    if let Some(pending) = pending {
        pending.answered(&response);
    }
    let status = response.status();
    let info = response.extensions_mut().remove::<ErrorInfo>();
    let framework_error = info.is_none()
        && (status.is_client_error() || status.is_server_error())
        && !is_json(response.headers());
    if info.is_some() || framework_error {
        let (code, message) = match info {
            Some(info) => (info.code, info.message),
            None => {
                let original = std::mem::take(response.body_mut());
                let text = axum::body::to_bytes(original, 4096)
                    .await
                    .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
                    .unwrap_or_default();
                let message = match status {
                    StatusCode::NOT_FOUND => format!("no route for {method} {path}"),
                    StatusCode::METHOD_NOT_ALLOWED => {
                        format!("method {method} is not allowed on {path}")
                    }
                    StatusCode::PAYLOAD_TOO_LARGE => format!(
                        "request body exceeds the limit of {} bytes",
                        state.limits.max_body_bytes
                    ),
                    _ if !text.is_empty() => text,
                    other => other
                        .canonical_reason()
                        .unwrap_or("request failed")
                        .to_owned(),
                };
                (ErrorCode::for_status(status), message)
            }
        };
        let body = ErrorBody::new(code.as_i64(), message, request_id.clone());
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_LENGTH);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        *response.body_mut() = Body::from(bytes);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

pub(super) fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.into(),
    )
        .into_response()
}

pub(super) fn with_task_id(mut response: Response, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(TASK_ID_HEADER, value);
    }
    response
}

//! The HTTP surface: the four v1 routes, the error-body middleware, compression, tracing.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _, SizeAbove};
use tower_http::trace::TraceLayer;
use tracing::Span;

use super::auth::User;
use super::engine::{self, Encoder, Output, Query, QueryError};
use super::error::{ApiFailure, ErrorCode, ErrorInfo, shorten};
use super::store::{ListFilter, NewResult, Order};
use super::{AppState, InFlightGuard};
use crate::model::{
    ArrayTask, ArrayTaskStatus, ArrayTaskType, ErrorBody, PaginationMetadata, ResultFormat,
    SqlParameters, TASK_ID_HEADER,
};
use tokio::sync::{OwnedSemaphorePermit, oneshot};

/// The header carrying the id the server gave the request (also in error bodies).
const REQUEST_ID_HEADER: &str = "x-request-id";
/// Answers at most this large are sent uncompressed.
const COMPRESS_ABOVE: u16 = 1024;
/// `per_page` when absent.
const DEFAULT_PER_PAGE: u64 = 10;
/// The largest `per_page` accepted.
const MAX_PER_PAGE: u64 = 1000;

/// The whole application: routes, then (outermost last) body limit, error bodies, compression
/// and a tracing span per request.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let max_body = state.max_body_bytes;
    Router::new()
        .route("/v1/sql/{namespace}", post(run_sql))
        .route("/v1/task/{id}", get(get_task))
        .route("/v1/task/{id}/result", get(get_result))
        .route("/v1/tasks", get(list_tasks))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
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
        _ => "<unmatched>",
    }
}

/// Gives every answer an `X-Request-Id`, and every error answer an `Error` JSON body carrying
/// that id: from the [`ErrorInfo`] a route left, or derived from the status for errors the
/// framework produced itself (unknown route, 405, 413, undecodable path).
async fn finish_response(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = req.method().clone();
    let path = shorten(req.uri().path(), 200);
    let mut response = next.run(req).await;
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
                        state.max_body_bytes
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

fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
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

fn with_task_id(mut response: Response, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(TASK_ID_HEADER, value);
    }
    response
}

/// The body as `SQLParameters`, or a 413/400 saying what was wrong with it.
fn parse_body(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<SqlParameters, ApiFailure> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiFailure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::BodyTooLarge,
                format!("request body exceeds the limit of {limit} bytes"),
            )
        } else {
            ApiFailure::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MalformedBody,
                rejection.body_text(),
            )
        }
    })?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let params: SqlParameters = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if path == "." {
            format!("invalid SQLParameters body: {inner}")
        } else {
            format!("invalid SQLParameters body: {path}: {inner}")
        };
        ApiFailure::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedBody, message)
    })?;
    de.end().map_err(|e| {
        ApiFailure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedBody,
            format!("invalid SQLParameters body: {e}"),
        )
    })?;
    Ok(params)
}

/// `POST /v1/sql/{namespace}`.
async fn run_sql(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    namespace: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiFailure> {
    let user = app.users.authenticate(&headers)?;
    let namespace = namespace.map(|Path(n)| n).unwrap_or_default();
    if !user.can_use(&namespace) {
        return Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            ErrorCode::NamespaceForbidden,
            format!(
                "user {} may not run tasks in namespace {}",
                user.name,
                shorten(&namespace, 64)
            ),
        ));
    }
    let params = parse_body(body, app.max_body_bytes)?;

    // Everything that can be checked without running is checked before a task exists.
    let sql = match params.query.as_deref() {
        Some(q) if !q.trim().is_empty() => q.to_owned(),
        _ => return Err(ApiFailure::invalid("query is required")),
    };
    if params.output_uri.is_some() {
        return Err(ApiFailure::invalid(
            "output_uri is not supported by the local server (it has no arrays)",
        ));
    }
    let format = params.result_format.clone().unwrap_or(ResultFormat::Json);
    let encoder = engine::encoder_for(&format).map_err(|message| {
        ApiFailure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedFormat,
            message,
        )
    })?;
    let bound = engine::sql_parameters(&params.parameters).map_err(ApiFailure::invalid)?;

    // Counted before the admission check: a shutdown that starts after this point waits for
    // the task, one that started before is seen by the check.
    let in_flight = app.in_flight.enter();
    if !app.accepting.load(Ordering::SeqCst) {
        return Err(ApiFailure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ShuttingDown,
            "the server is shutting down; the query was not run",
        ));
    }
    let Ok(permit) = Arc::clone(&app.permits).try_acquire_owned() else {
        let mut busy = ApiFailure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Busy,
            format!(
                "all {} query slots are busy; the query was not run, retry later",
                app.max_permits
            ),
        );
        busy.retry_after_secs = Some(app.retry_after_secs);
        return Err(busy);
    };

    let detached = params.dont_download_results.unwrap_or(false);
    let store_results = params.store_results.unwrap_or(false);
    let id = uuid::Uuid::new_v4().to_string();
    let now = app.clock.now();
    let task = ArrayTask {
        id: Some(id.clone()),
        name: params.name.clone(),
        username: Some(user.name.clone()),
        namespace: Some(namespace.clone()),
        status: Some(if detached {
            ArrayTaskStatus::Queued
        } else {
            ArrayTaskStatus::Running
        }),
        start_time: Some(now),
        cost: Some(0.0),
        sql_query: Some(sql.clone()),
        task_type: Some(ArrayTaskType::Sql),
        logs: Some(String::new()),
        sql_init_commands: params.init_commands.clone(),
        sql_parameters: params.parameters.clone(),
        result_format: Some(format),
        task_graph_uuid: params.task_graph_uuid.clone(),
        client_node_uuid: params.client_node_uuid.clone(),
        ..ArrayTask::default()
    };
    let job = Job {
        app: Arc::clone(&app),
        permit: Some(permit),
        in_flight,
        id: id.clone(),
        queued: detached,
        store_results,
        encoder,
        query: Query {
            namespace: namespace.clone(),
            sql,
            init_commands: params.init_commands,
            parameters: bound,
            encoder,
        },
    };
    // Recording and running happen in one blocking job that runs to its end even if this
    // request is dropped (client gone): a recorded task always reaches an outcome.
    let (recorded_tx, recorded_rx) = oneshot::channel::<Result<(), String>>();
    let worker = tokio::task::spawn_blocking(move || {
        let recorded = job.app.store.insert(task, store_results, now).map(|_| ());
        let ok = recorded.is_ok();
        let _ = recorded_tx.send(recorded);
        ok.then(|| job.run())
    });
    match recorded_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(ApiFailure::internal(format!(
                "recording the task failed: {e}"
            )));
        }
        Err(_) => return Err(ApiFailure::internal("the task recorder stopped")),
    }
    tracing::info!(task = %id, namespace = %namespace, user = %user.name, detached, "task recorded");
    if detached {
        return Ok(with_task_id(StatusCode::NO_CONTENT.into_response(), &id));
    }
    let outcome = worker
        .await
        .ok()
        .flatten()
        .ok_or_else(|| ApiFailure::internal("the query worker failed").with_task_id(&id))?;
    match outcome {
        Ok(Output::Rows(bytes)) => {
            let response = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, encoder.content_type())],
                Body::from(bytes),
            )
                .into_response();
            Ok(with_task_id(response, &id))
        }
        Ok(Output::NoColumns) => Ok(with_task_id(StatusCode::NO_CONTENT.into_response(), &id)),
        Err(error) => {
            let status = match error {
                QueryError::Stopped | QueryError::Setup(_) | QueryError::Encode(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                _ => StatusCode::BAD_REQUEST,
            };
            Err(ApiFailure::new(status, error.code(), error.message()).with_task_id(&id))
        }
    }
}

/// One recorded task on its way to an outcome. Runs on a blocking thread.
struct Job {
    app: Arc<AppState>,
    /// The query slot, released as soon as the query ends: a client that sees the task done
    /// can submit again at once.
    permit: Option<OwnedSemaphorePermit>,
    /// Released after the last store write.
    in_flight: InFlightGuard,
    id: String,
    /// Recorded QUEUED (detached) rather than RUNNING.
    queued: bool,
    store_results: bool,
    encoder: Encoder,
    query: Query,
}

impl Job {
    /// Runs the query and records the outcome (write-through), returning it for a synchronous
    /// answer. The rows come back as [`Bytes`], shared with the stored copy.
    fn run(mut self) -> Result<Output<Bytes>, QueryError> {
        let result = self.execute();
        drop(self.in_flight);
        result
    }

    fn execute(&mut self) -> Result<Output<Bytes>, QueryError> {
        let store = &self.app.store;
        if self.queued {
            self.record(store.update(
                &self.id,
                |t| t.status = Some(ArrayTaskStatus::Running),
                None,
            ));
        }
        let started = Instant::now();
        let result = self.app.engine.run(&self.query);
        drop(self.permit.take());
        let duration = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let finished = self.app.clock.now();
        match result {
            Ok(output) => {
                let output = match output {
                    Output::Rows(rows) => Output::Rows(Bytes::from(rows)),
                    Output::NoColumns => Output::NoColumns,
                };
                let kept = self.store_results.then(|| NewResult {
                    content_type: self.encoder.content_type().to_owned(),
                    body: match &output {
                        Output::Rows(rows) => rows.clone(),
                        Output::NoColumns => Bytes::from(self.encoder.empty()),
                    },
                    expires_at: self.app.expiry(finished),
                });
                self.record(store.update(
                    &self.id,
                    |t| {
                        t.status = Some(ArrayTaskStatus::Completed);
                        t.finish_time = Some(finished);
                        t.duration = Some(duration);
                    },
                    kept,
                ));
                tracing::info!(task = %self.id, "task completed");
                Ok(output)
            }
            Err(error) => {
                let message = error.message();
                tracing::info!(task = %self.id, error = %message, "task failed");
                self.record(store.update(
                    &self.id,
                    |t| {
                        t.status = Some(ArrayTaskStatus::Failed);
                        t.status_message = Some(message);
                        t.finish_time = Some(finished);
                        t.duration = Some(duration);
                    },
                    None,
                ));
                Err(error)
            }
        }
    }

    fn record(&self, written: rusqlite::Result<()>) {
        if let Err(e) = written {
            tracing::error!(task = %self.id, error = %e, "could not record the task's state");
        }
    }
}

/// The task `id` if the caller may see it; 404 otherwise, the same answer for "unknown" and
/// "someone else's", so ids of other namespaces cannot be probed.
fn visible_task(
    app: &AppState,
    user: &User,
    id: &str,
) -> Result<Arc<super::store::TaskEntry>, ApiFailure> {
    app.store
        .get(id)
        .filter(|e| user.can_use(e.task.namespace.as_deref().unwrap_or("")))
        .ok_or_else(|| ApiFailure::task_not_found(id))
}

/// `GET /v1/task/{id}`.
async fn get_task(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiFailure> {
    let user = app.users.authenticate(&headers)?;
    let id = id.map(|Path(id)| id).unwrap_or_default();
    let entry = visible_task(&app, &user, &id)?;
    Ok(json_response(StatusCode::OK, entry.json.clone()))
}

/// `GET /v1/task/{id}/result`.
async fn get_result(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiFailure> {
    let user = app.users.authenticate(&headers)?;
    let id = id.map(|Path(id)| id).unwrap_or_default();
    let entry = visible_task(&app, &user, &id)?;
    let unavailable = |message: String| {
        ApiFailure::new(StatusCode::NOT_FOUND, ErrorCode::ResultUnavailable, message)
            .with_task_id(&id)
    };
    let status = entry
        .task
        .status
        .clone()
        .unwrap_or(ArrayTaskStatus::Unknown);
    if !entry.store_results {
        return Err(unavailable(format!(
            "task {id} does not store its result (it was submitted without store_results)"
        )));
    }
    match status {
        ArrayTaskStatus::Queued | ArrayTaskStatus::Running => {
            return Ok(with_task_id(StatusCode::ACCEPTED.into_response(), &id));
        }
        ArrayTaskStatus::Completed => {}
        ArrayTaskStatus::Failed => {
            return Err(unavailable(format!(
                "task {id} failed, so it has no result: {}",
                entry.task.status_message.as_deref().unwrap_or("no message")
            )));
        }
        other => {
            return Err(unavailable(format!(
                "task {id} has no result (status {other})"
            )));
        }
    }
    let now = app.clock.now();
    match entry.result_expires_at {
        Some(at) if at <= now => {
            return Err(unavailable(format!(
                "the result of task {id} expired at {}",
                at.to_rfc3339()
            )));
        }
        None => return Err(unavailable(format!("task {id} has no stored result"))),
        Some(_) => {}
    }
    let store = Arc::clone(&app.store);
    let lookup = id.clone();
    let stored = tokio::task::spawn_blocking(move || store.read_result(&lookup, now))
        .await
        .map_err(|e| ApiFailure::internal(format!("reading the result failed: {e}")))?
        .map_err(|e| ApiFailure::internal(format!("reading the result failed: {e}")))?;
    match stored {
        Some((content_type, body)) => {
            let content_type = HeaderValue::from_str(&content_type)
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
            let response =
                (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response();
            Ok(with_task_id(response, &id))
        }
        None => Err(unavailable(format!("the result of task {id} has expired"))),
    }
}

/// `GET /v1/tasks`.
async fn list_tasks(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiFailure> {
    let user = app.users.authenticate(&headers)?;
    let listing = parse_list_query(query.as_deref().unwrap_or(""), user.namespaces.clone())?;
    let (entries, total) = app
        .store
        .list(&listing.filter, listing.page, listing.per_page);
    let meta = PaginationMetadata::new(listing.page, listing.per_page, total);
    let mut body = Vec::with_capacity(64 + entries.iter().map(|e| e.json.len() + 1).sum::<usize>());
    body.extend_from_slice(b"{\"array_tasks\":[");
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&entry.json);
    }
    body.extend_from_slice(b"],\"pagination_metadata\":");
    body.extend_from_slice(&serde_json::to_vec(&meta).unwrap_or_else(|_| b"{}".to_vec()));
    body.push(b'}');
    Ok(json_response(StatusCode::OK, body))
}

/// A validated `GET /v1/tasks` query.
#[derive(Debug)]
struct Listing {
    filter: ListFilter,
    page: u64,
    per_page: u64,
}

/// The single-valued parameters of `GET /v1/tasks`.
const SINGLE_VALUED: &[&str] = &[
    "namespace",
    "created_by",
    "array",
    "start",
    "end",
    "page",
    "per_page",
    "type",
    "status",
    "search",
    "orderby",
];

fn split_list(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn parse_u64(name: &str, value: &str) -> Result<u64, ApiFailure> {
    value.parse::<u64>().map_err(|_| {
        ApiFailure::invalid(format!(
            "parameter {name} must be a non-negative integer, got \"{}\"",
            shorten(value, 40)
        ))
    })
}

/// Parses the raw query string (by hand: `file_type` and `exclude_file_type` are repeated keys,
/// which serde's form decoding cannot collect).
fn parse_list_query(raw: &str, visible: Vec<String>) -> Result<Listing, ApiFailure> {
    let mut filter = ListFilter {
        visible,
        ..ListFilter::default()
    };
    let mut single: HashMap<&'static str, String> = HashMap::new();
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let value = value.trim();
        match key.as_ref() {
            "exclude_type" => filter.exclude_types.extend(split_list(value)),
            "file_type" => filter.file_types.extend(split_list(value)),
            "exclude_file_type" => filter.exclude_file_types.extend(split_list(value)),
            other => {
                let Some(name) = SINGLE_VALUED.iter().find(|n| **n == other) else {
                    continue; // unknown parameters are ignored
                };
                if value.is_empty() {
                    continue;
                }
                if single.insert(name, value.to_owned()).is_some() {
                    return Err(ApiFailure::invalid(format!(
                        "parameter {name} is given more than once"
                    )));
                }
            }
        }
    }
    let mut take = |name: &str| single.remove(name);
    filter.namespace = take("namespace");
    filter.created_by = take("created_by");
    filter.array = take("array");
    filter.task_type = take("type");
    filter.status = take("status");
    filter.search = take("search").map(|s| s.to_lowercase());
    let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    filter.start = take("start")
        .map(|v| parse_u64("start", &v))
        .transpose()?
        .map(to_i64);
    filter.end = take("end")
        .map(|v| parse_u64("end", &v))
        .transpose()?
        .map(to_i64);
    filter.order = match take("orderby").as_deref() {
        None | Some("start_time") => Order::StartTimeDesc,
        Some("name") => Order::Name,
        Some(other) => {
            return Err(ApiFailure::invalid(format!(
                "parameter orderby must be start_time or name, got \"{}\"",
                shorten(other, 40)
            )));
        }
    };
    let page = match take("page") {
        None => 1,
        Some(v) => parse_u64("page", &v)?,
    };
    if page == 0 {
        return Err(ApiFailure::invalid(
            "parameter page must be at least 1 (pages are 1-based)",
        ));
    }
    let per_page = match take("per_page") {
        None => DEFAULT_PER_PAGE,
        Some(v) => parse_u64("per_page", &v)?,
    };
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(ApiFailure::invalid(format!(
            "parameter per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}"
        )));
    }
    Ok(Listing {
        filter,
        page,
        per_page,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Listing, ApiFailure> {
        parse_list_query(raw, vec!["ns".into()])
    }

    #[test]
    fn list_query_defaults() {
        let l = parse("").unwrap();
        assert_eq!((l.page, l.per_page), (1, DEFAULT_PER_PAGE));
        assert_eq!(l.filter.order, Order::StartTimeDesc);
    }

    #[test]
    fn list_query_collects_repeated_and_comma_joined_lists() {
        let l = parse("exclude_type=SQL,UDF&file_type=a&file_type=b&exclude_file_type=c").unwrap();
        assert_eq!(l.filter.exclude_types, vec!["SQL", "UDF"]);
        assert_eq!(l.filter.file_types, vec!["a", "b"]);
        assert_eq!(l.filter.exclude_file_types, vec!["c"]);
    }

    #[test]
    fn list_query_rejects_bad_values_naming_them() {
        for (raw, name) in [
            ("page=0", "page"),
            ("per_page=0", "per_page"),
            ("per_page=1001", "per_page"),
            ("start=yesterday", "start"),
            ("end=-1", "end"),
            ("orderby=size", "orderby"),
            ("page=1&page=2", "page"),
        ] {
            let err = parse(raw).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{raw}");
            assert!(err.message.contains(name), "{raw}: {}", err.message);
        }
    }
}

//! The three read routes: `GET /v1/task/{id}`, `GET /v1/task/{id}/result`, `GET /v1/tasks`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{json_response, with_task_id};
use crate::model::{ArrayTaskStatus, PaginationMetadata, TaskOrder, TasksQuery};
use crate::server::auth::User;
use crate::server::error::{ApiFailure, ErrorCode, shorten};
use crate::server::state::AppState;
use crate::server::store::{ListFilter, Order, TaskEntry, result_stream};

/// `per_page` when absent.
const DEFAULT_PER_PAGE: u64 = 10;
/// The largest `per_page` accepted.
const MAX_PER_PAGE: u64 = 1000;

/// The task `id` if the caller may see it; 404 otherwise, the same answer for "unknown" and
/// "someone else's", so ids of other namespaces cannot be probed.
fn visible_task(app: &AppState, user: &User, id: &str) -> Result<Arc<TaskEntry>, ApiFailure> {
    app.store
        .get(id)
        .filter(|e| user.can_use(e.task.namespace.as_deref().unwrap_or("")))
        .ok_or_else(|| ApiFailure::task_not_found(id))
}

fn path_id(id: Result<Path<String>, PathRejection>) -> String {
    id.map(|Path(id)| id).unwrap_or_default()
}

/// `GET /v1/task/{id}`.
pub(super) async fn get_task(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiFailure> {
    let user = app.users.authenticate(&headers)?;
    let entry = visible_task(&app, &user, &path_id(id))?;
    Ok(json_response(StatusCode::OK, entry.json.clone()))
}

/// `GET /v1/task/{id}/result`.
pub(super) async fn get_result(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiFailure> {
    let user = app.users.authenticate(&headers)?;
    let id = path_id(id);
    let entry = visible_task(&app, &user, &id)?;
    let now = app.clock.now();
    if let Some(running) = result_availability(&entry, &id, now)? {
        return Ok(running);
    }
    let store = Arc::clone(&app.store);
    let lookup = id.clone();
    let stored = tokio::task::spawn_blocking(move || store.find_result(&lookup, now))
        .await
        .map_err(|e| ApiFailure::internal(format!("reading the result failed: {e}")))?
        .map_err(|e| ApiFailure::internal(format!("reading the result failed: {e}")))?;
    let Some(stored) = stored else {
        return Err(unavailable(
            &id,
            format!("the result of task {id} has expired"),
        ));
    };
    let content_type = HeaderValue::from_str(&stored.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    // Sent as it is read from the store, a chunk at a time (memory per reader: a chunk).
    let body = Body::from_stream(result_stream(Arc::clone(&app.store), id.clone(), &stored));
    let response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_LENGTH, HeaderValue::from(stored.len)),
        ],
        body,
    )
        .into_response();
    Ok(with_task_id(response, &id))
}

fn unavailable(id: &str, message: String) -> ApiFailure {
    ApiFailure::new(StatusCode::NOT_FOUND, ErrorCode::ResultUnavailable, message).with_task_id(id)
}

/// Whether the task's result can be read now: `Ok(None)` when it is stored and unexpired, a 202
/// while the task is queued or running, a 404 saying why otherwise.
fn result_availability(
    entry: &TaskEntry,
    id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Response>, ApiFailure> {
    if !entry.store_results {
        return Err(unavailable(
            id,
            format!("task {id} does not store its result (it was submitted without store_results)"),
        ));
    }
    let status = entry
        .task
        .status
        .clone()
        .unwrap_or(ArrayTaskStatus::Unknown);
    match status {
        ArrayTaskStatus::Queued | ArrayTaskStatus::Running => {
            return Ok(Some(with_task_id(StatusCode::ACCEPTED.into_response(), id)));
        }
        ArrayTaskStatus::Completed => {}
        ArrayTaskStatus::Failed => {
            let why = entry.task.status_message.as_deref().unwrap_or("no message");
            return Err(unavailable(
                id,
                format!("task {id} failed, so it has no result: {why}"),
            ));
        }
        other => {
            return Err(unavailable(
                id,
                format!("task {id} has no result (status {other})"),
            ));
        }
    }
    match entry.result_expires_at {
        Some(at) if at <= now => Err(unavailable(
            id,
            format!("the result of task {id} expired at {}", at.to_rfc3339()),
        )),
        None => Err(unavailable(id, format!("task {id} has no stored result"))),
        Some(_) => Ok(None),
    }
}

/// `GET /v1/tasks`.
pub(super) async fn list_tasks(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiFailure> {
    let user = app.users.authenticate(&headers)?;
    let raw = raw.unwrap_or_default();
    let query = TasksQuery::from_pairs(lenient_paging(&raw))
        .map_err(|e| ApiFailure::invalid(format!("parameter {} {}", e.wire_name(), e.reason)))?;
    let (page, per_page) = paging(&query);
    let filter = ListFilter::new(&user.namespaces, &query, order(&query)?);
    let (entries, total) = app.store.list(&filter, page, per_page);
    let meta = PaginationMetadata::new(page, per_page, total);
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

/// The query's pairs, with a negative `page` or `per_page` (spec-valid integers) read as 0, which
/// [`paging`] then reads as "the first page" and "the default size".
fn lenient_paging(raw: &str) -> impl Iterator<Item = (String, String)> + '_ {
    url::form_urlencoded::parse(raw.as_bytes()).map(|(k, v)| {
        let negative = matches!(k.as_ref(), "page" | "per_page")
            && v.trim().parse::<i64>().is_ok_and(|n| n < 0);
        let value = if negative {
            "0".to_owned()
        } else {
            v.into_owned()
        };
        (k.into_owned(), value)
    })
}

/// The page and page size a listing serves, which `pagination_metadata` reports: a `page` below
/// 1 is the first page, a `per_page` of 0 (or absent) the default, one above the maximum the
/// maximum. A listing is never refused for its paging.
fn paging(query: &TasksQuery) -> (u64, u64) {
    let page = query.get_page().unwrap_or(1).max(1);
    let per_page = match query.get_per_page() {
        None | Some(0) => DEFAULT_PER_PAGE,
        Some(n) => n.min(MAX_PER_PAGE),
    };
    (page, per_page)
}

/// The order a listing is sorted in: newest first unless `orderby=name`.
fn order(query: &TasksQuery) -> Result<Order, ApiFailure> {
    match query.get_order_by() {
        None | Some(TaskOrder::StartTime) => Ok(Order::StartTimeDesc),
        Some(TaskOrder::Name) => Ok(Order::Name),
        Some(other) => Err(ApiFailure::invalid(format!(
            "parameter orderby must be start_time or name, got \"{}\"",
            shorten(other.as_str(), 40)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<(u64, u64, Order), ApiFailure> {
        let q = TasksQuery::from_pairs(lenient_paging(raw)).map_err(|e| {
            ApiFailure::invalid(format!("parameter {} {}", e.wire_name(), e.reason))
        })?;
        let (page, per_page) = paging(&q);
        Ok((page, per_page, order(&q)?))
    }

    #[test]
    fn list_query_defaults() {
        assert_eq!(
            parse("").unwrap(),
            (1, DEFAULT_PER_PAGE, Order::StartTimeDesc)
        );
    }

    #[test]
    fn paging_out_of_range_is_read_not_refused() {
        for (raw, page, per_page) in [
            ("page=0", 1, DEFAULT_PER_PAGE),
            ("page=-3", 1, DEFAULT_PER_PAGE),
            ("per_page=0", 1, DEFAULT_PER_PAGE),
            ("per_page=-5", 1, DEFAULT_PER_PAGE),
            ("per_page=100000", 1, MAX_PER_PAGE),
            ("page=7&per_page=1000", 7, 1000),
        ] {
            let (p, n, _) = parse(raw).unwrap();
            assert_eq!((p, n), (page, per_page), "{raw}");
        }
    }

    #[test]
    fn list_query_rejects_bad_values_naming_them() {
        for (raw, name) in [
            ("page=first", "page"),
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

//! A `GET /v1/tasks` server on 127.0.0.1 with any number of tasks, made up as they are asked for
//! (the shape and size of the local server's SQL tasks, newest first), for listings too long to
//! seed into the local server: recording a task through the local server's API costs about 8 ms
//! in a debug build, so 20,000 would take minutes. Pages follow the spec: `page` 1-based,
//! `per_page`, `pagination_metadata` with the totals. Filters are ignored.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::prelude::PaginationMetadata;

pub struct Pager {
    base: String,
    serve: JoinHandle<()>,
}

impl Drop for Pager {
    fn drop(&mut self) {
        self.serve.abort();
    }
}

struct Tasks {
    total: u64,
    newest: DateTime<Utc>,
}

impl Pager {
    /// A server listing `total` tasks.
    pub async fn start(total: u64) -> Pager {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let tasks = Arc::new(Tasks {
            total,
            newest: Utc::now() - Duration::minutes(1),
        });
        let app = axum::Router::new()
            .route("/v1/tasks", axum::routing::get(page))
            .with_state(tasks);
        let serve = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Pager { base, serve }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }
}

/// Task `i` (0 is the newest).
fn task(tasks: &Tasks, i: u64) -> Value {
    let started = tasks.newest - Duration::milliseconds(i64::try_from(i).unwrap_or(0) * 10);
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    json!({
        "id": format!("00000000-0000-4000-8000-{i:012}"),
        "name": format!("nightly-report-{i}"),
        "username": "local",
        "namespace": "local",
        "status": "COMPLETED",
        "cost": 0.0,
        "start_time": time(started),
        "finish_time": time(started + Duration::milliseconds(3)),
        "sql_query": format!("SELECT region, sum(amount) AS total FROM sales WHERE day = {i} GROUP BY region"),
        "type": "SQL",
        "logs": "",
        "duration": 3_000_000,
        "sql_parameters": [i],
        "result_format": "json",
    })
}

async fn page(
    State(tasks): State<Arc<Tasks>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Json<Value> {
    let number = |k: &str, default: u64| {
        q.get(k)
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    let page = number("page", 1);
    let per_page = number("per_page", 10);
    let first = (page - 1).saturating_mul(per_page).min(tasks.total);
    let last = first.saturating_add(per_page).min(tasks.total);
    let array_tasks: Vec<Value> = (first..last).map(|i| task(&tasks, i)).collect();
    Json(json!({
        "array_tasks": array_tasks,
        "pagination_metadata": PaginationMetadata::new(page, per_page, tasks.total),
    }))
}

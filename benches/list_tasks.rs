//! `list_tasks`: streaming every task of a listing, sequentially (`prefetch(0)`) and with pages
//! fetched ahead, against a local server that takes [`DELAY`] to answer each page.
//!
//! ```sh
//! cargo bench --bench list_tasks
//! ```
//!
//! The server is a minimal axum app (the default `server` feature brings axum) on 127.0.0.1, on
//! its own runtime and thread, serving pre-rendered pages of realistic tasks (about 2 KB each:
//! activity, array metadata, SQL, logs). The consumer only counts, so the figures show how much
//! of the per-page latency prefetch hides. Results and the exact command are in BENCHMARKS.md.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use futures::TryStreamExt as _;
use serde_json::{Value, json};
use tiledb_cloud_tasks::Client;

/// Tasks in the listing.
const TASKS: u64 = 400;
/// Tasks per page (so 20 pages).
const PER_PAGE: u64 = 20;
/// How long the server takes to answer each page.
const DELAY: Duration = Duration::from_millis(20);

fn task(i: u64) -> Value {
    let id = format!("6f1c2a0e-3b7d-4c59-9e21-{i:012}");
    let event = |n: u64, action: &str| {
        json!({
            "event_at": "2025-03-04T05:06:07Z",
            "action": action,
            "username": "alice",
            "bytes_sent": 1_048_576 + n,
            "bytes_received": 2_048 + n,
            "array_task_id": id,
            "id": format!("{id}-{n}"),
            "query_ranges": "{\"ranges\":[[0,1000],[0,2000]],\"layout\":\"row-major\"}",
            "query_stats": "{\"timers\":{\"Context.StorageManager.Query.Reader.read\":0.0123},\"counters\":{\"tiles_read\":42}}",
        })
    };
    let status = ["COMPLETED", "FAILED", "RUNNING"][(i % 3) as usize];
    json!({
        "id": id,
        "name": format!("nightly-report-{i}"),
        "username": "alice",
        "description": "Aggregates yesterday's sensor readings by region and writes a summary array.",
        "namespace": "analytics-team",
        "status": status,
        "status_message": "",
        "start_time": "2025-03-04T05:06:07Z",
        "finish_time": "2025-03-04T05:07:08Z",
        "cost": 0.0125,
        "egress_cost": 0.0025,
        "access_cost": 0.01,
        "memory": 2_147_483_648u64,
        "cpu": 2000,
        "type": "SQL",
        "sql_query": "SELECT region, avg(value) AS mean, max(value) AS peak FROM sensors WHERE day = ? GROUP BY region ORDER BY region",
        "sql_init_commands": ["SET timezone = 'UTC'"],
        "sql_parameters": ["2025-03-03"],
        "result_format": "arrow",
        "duration": 61_000_000_000.0,
        "logs": "query planned in 12 ms\nread 4 fragments\nwrote 1 fragment\n",
        "cloud_provider": "AWS",
        "cloud_region": "us-east-1",
        "array_metadata": {
            "id": "a8c0c9b2-5d5e-4b8a-8f8e-1d2c3b4a5968",
            "uri": "s3://analytics-bucket/arrays/sensors",
            "tiledb_uri": "tiledb://analytics-team/sensors",
            "namespace": "analytics-team",
            "name": "sensors",
            "description": "Hourly sensor readings, partitioned by day.",
            "file_type": "file",
            "array_type": "sparse",
            "size": 123_456_789,
            "allowed_actions": ["read", "write", "read_array_schema", "read_array_info"],
            "tags": ["sensors", "hourly", "production"],
            "created_at": "2024-01-01T00:00:00Z",
            "created_by": "alice",
            "last_accessed": "2025-03-04T05:06:07Z",
            "share_count": 3,
            "public_share": false,
            "read_only": false,
        },
        "activity": [event(1, "query_read"), event(2, "query_write")],
    })
}

/// Every page, rendered once.
fn render_pages() -> Vec<Bytes> {
    let total_pages = TASKS.div_ceil(PER_PAGE);
    (1..=total_pages)
        .map(|page| {
            let first = (page - 1) * PER_PAGE;
            let tasks: Vec<Value> = (first..TASKS.min(first + PER_PAGE)).map(task).collect();
            let body = json!({
                "array_tasks": tasks,
                "pagination_metadata": {
                    "page": page, "per_page": PER_PAGE, "total_pages": total_pages, "total_items": TASKS,
                }
            });
            Bytes::from(serde_json::to_vec(&body).expect("render"))
        })
        .collect()
}

async fn tasks(
    State(pages): State<Arc<Vec<Bytes>>>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    tokio::time::sleep(DELAY).await;
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let body = pages
        .get(page.saturating_sub(1))
        .cloned()
        .unwrap_or_else(|| Bytes::from_static(br#"{"array_tasks":[]}"#));
    ([(header::CONTENT_TYPE, "application/json")], body)
}

/// Starts the server on its own thread and runtime; returns its URI.
fn start_server(pages: Vec<Bytes>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("send addr");
            let app = axum::Router::new()
                .route("/v1/tasks", get(tasks))
                .with_state(Arc::new(pages));
            axum::serve(listener, app).await.expect("serve");
        });
    });
    format!("http://{}", rx.recv().expect("server address"))
}

fn list_tasks(c: &mut Criterion) {
    let pages = render_pages();
    let bytes: usize = pages.iter().map(Bytes::len).sum();
    eprintln!(
        "list_tasks: {TASKS} tasks in {} pages of {PER_PAGE}, {:.1} KB per task, {DELAY:?} per page",
        pages.len(),
        bytes as f64 / TASKS as f64 / 1024.0
    );
    let uri = start_server(pages);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = Client::builder()
        .host(uri)
        .api_key("bench")
        .build()
        .expect("client");

    let mut group = c.benchmark_group("list_tasks");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    for (name, depth) in [("sequential", 0), ("prefetch_1", 1), ("prefetch_4", 4)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let n = client
                    .tasks()
                    .per_page(PER_PAGE)
                    .prefetch(depth)
                    .stream()
                    .try_fold(0u64, |n, t| async move {
                        std::hint::black_box(&t);
                        Ok(n + 1)
                    })
                    .await
                    .expect("listing");
                assert_eq!(n, TASKS);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, list_tasks);
criterion_main!(benches);

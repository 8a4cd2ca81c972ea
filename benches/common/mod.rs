//! Shared by the benches: realistic task JSON, the floor's own `Option`-field structs, a client
//! thread's CPU time, and a minimal in-bench axum server on its own thread and runtime.
#![allow(dead_code)]

pub mod child;

use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

/// One realistic task of about 2.2 KB: array metadata, two activity entries with query ranges and
/// stats, SQL, parameters, logs.
pub fn task(i: u64) -> Value {
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

/// Every page of a listing of `tasks` tasks, `per_page` a page, rendered once.
pub fn render_pages(tasks: u64, per_page: u64) -> Vec<Bytes> {
    let total_pages = tasks.div_ceil(per_page);
    (1..=total_pages)
        .map(|page| {
            let first = (page - 1) * per_page;
            let list: Vec<Value> = (first..tasks.min(first + per_page)).map(task).collect();
            let body = json!({
                "array_tasks": list,
                "pagination_metadata": {
                    "page": page, "per_page": per_page, "total_pages": total_pages, "total_items": tasks,
                }
            });
            Bytes::from(serde_json::to_vec(&body).expect("render"))
        })
        .collect()
}

// The floor's own structs: every field an `Option`, timestamps and enums as plain strings, what a
// hand-written reqwest + serde_json client would do.

/// The floor's task.
#[derive(Debug, Deserialize)]
pub struct FloorTask {
    pub id: Option<String>,
    pub name: Option<String>,
    pub username: Option<String>,
    pub description: Option<String>,
    pub namespace: Option<String>,
    pub status: Option<String>,
    pub status_message: Option<String>,
    pub start_time: Option<String>,
    pub finish_time: Option<String>,
    pub cost: Option<f64>,
    pub egress_cost: Option<f64>,
    pub access_cost: Option<f64>,
    pub memory: Option<u64>,
    pub cpu: Option<u64>,
    #[serde(rename = "type")]
    pub task_type: Option<String>,
    pub sql_query: Option<String>,
    pub sql_init_commands: Option<Vec<String>>,
    pub sql_parameters: Option<Vec<Value>>,
    pub result_format: Option<String>,
    pub duration: Option<f64>,
    pub logs: Option<String>,
    pub cloud_provider: Option<String>,
    pub cloud_region: Option<String>,
    pub array_metadata: Option<FloorArray>,
    pub activity: Option<Vec<FloorActivity>>,
}

/// The floor's array metadata.
#[derive(Debug, Deserialize)]
pub struct FloorArray {
    pub id: Option<String>,
    pub uri: Option<String>,
    pub tiledb_uri: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub file_type: Option<String>,
    pub array_type: Option<String>,
    pub size: Option<f64>,
    pub allowed_actions: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<String>,
    pub created_by: Option<String>,
    pub last_accessed: Option<String>,
    pub share_count: Option<f64>,
    pub public_share: Option<bool>,
    pub read_only: Option<bool>,
}

/// The floor's activity entry.
#[derive(Debug, Deserialize)]
pub struct FloorActivity {
    pub event_at: Option<String>,
    pub action: Option<String>,
    pub username: Option<String>,
    pub bytes_sent: Option<u64>,
    pub bytes_received: Option<u64>,
    pub array_task_id: Option<String>,
    pub id: Option<String>,
    pub query_ranges: Option<String>,
    pub query_stats: Option<String>,
}

/// The floor's page.
#[derive(Debug, Deserialize)]
pub struct FloorPage {
    pub array_tasks: Option<Vec<FloorTask>>,
    pub pagination_metadata: Option<FloorPagination>,
}

/// The floor's pagination metadata.
#[derive(Debug, Deserialize)]
pub struct FloorPagination {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
    pub total_pages: Option<u64>,
    pub total_items: Option<u64>,
}

/// CPU time of the calling thread so far (`/proc/thread-self/schedstat`, first field: ns on CPU).
/// Tasks spawned on a current-thread runtime driven by this thread are included.
pub fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns: u64 = s
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .expect("schedstat field");
    Duration::from_nanos(ns)
}

/// CPU time of the whole process so far (`/proc/self/stat` utime + stime, 100 Hz ticks).
pub fn process_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/self/stat").expect("stat");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &s[s.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let ticks: u64 = f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

/// Serves `app` on 127.0.0.1 from its own OS thread and current-thread runtime, so that its CPU is
/// not the client's; returns `http://addr`.
pub fn serve(app: axum::Router) -> String {
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
            axum::serve(listener, app).await.expect("serve");
        });
    });
    format!("http://{}", rx.recv().expect("server address"))
}

/// A current-thread runtime for the client, driven by the bench thread.
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
}

/// The floor's HTTP client: what a hand-written client would build.
pub fn floor_http() -> reqwest::Client {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("floor client")
}

/// Sums of one side's runs, for ratios printed at the end of a bench.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub iters: u64,
    pub wall: Duration,
    pub cpu: Duration,
}

impl Tally {
    pub fn add(&mut self, iters: u64, wall: Duration, cpu: Duration) {
        self.iters += iters;
        self.wall += wall;
        self.cpu += cpu;
    }

    pub fn wall_per_iter(&self) -> f64 {
        self.wall.as_secs_f64() / self.iters.max(1) as f64
    }

    pub fn cpu_per_iter(&self) -> f64 {
        self.cpu.as_secs_f64() / self.iters.max(1) as f64
    }
}

/// Every side's tally in one bench, by name.
pub type Tallies = std::cell::RefCell<std::collections::HashMap<&'static str, Tally>>;

/// Runs `f` `iters` times, adds the wall and this thread's CPU time to `name`'s tally, and returns
/// the wall time (for criterion's `iter_custom`).
pub fn measure<R>(
    tallies: &Tallies,
    name: &'static str,
    iters: u64,
    f: &dyn Fn() -> R,
) -> Duration {
    let (w0, c0) = (std::time::Instant::now(), thread_cpu());
    for _ in 0..iters {
        std::hint::black_box(f());
    }
    let (wall, cpu) = (w0.elapsed(), thread_cpu() - c0);
    tallies
        .borrow_mut()
        .entry(name)
        .or_default()
        .add(iters, wall, cpu);
    wall
}

/// Whether the part of a bench named `name` runs, by criterion's filter on the command line
/// (`cargo bench --bench list_tasks -- decode_page`): for the parts measured outside criterion.
pub fn selected(name: &str) -> bool {
    const WITH_VALUE: &[&str] = &[
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--profile-time",
        "--measurement-time",
        "--warm-up-time",
        "--sample-size",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--output-format",
        "--color",
        "--plotting-backend",
        "--format",
    ];
    let mut args = std::env::args().skip(1);
    let mut filter = None;
    while let Some(a) = args.next() {
        if WITH_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            filter = Some(a);
            break;
        }
    }
    filter.is_none_or(|f| name.contains(&f))
}

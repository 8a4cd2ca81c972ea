//! `list_tasks`: streaming every task of a 20,000-task listing (pages of 100, about 2.2 KB per
//! task), the SDK's `TaskList` stream against the floor: a plain reqwest + serde_json loop with its
//! own `Option`-field structs, side by side in one run, against the same minimal axum server on
//! 127.0.0.1 serving pre-rendered pages.
//!
//! ```sh
//! cargo bench --bench list_tasks
//! ```
//!
//! Two settings:
//! - `list_tasks/no_delay`: the server answers at once. The SDK with default settings
//!   (`prefetch` 1) against the floor's sequential loop: wall time and the client thread's CPU.
//! - `list_tasks/delay_20ms`: the server waits 20 ms before each page. The floor's sequential loop
//!   against the SDK at `prefetch(4)`.
//!
//! Method: the server runs on its own OS thread and current-thread runtime; the client on a
//! current-thread runtime driven by the bench thread, so that the bench thread's CPU time
//! (`/proc/thread-self/schedstat`) is the client's alone, its spawned prefetch tasks included.
//! The ratios are printed at the end (`RATIO` lines) from the same run. Figures: BENCHMARKS.md.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use common::FloorPage;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures::TryStreamExt as _;
use tiledb_cloud_tasks::Client;
use tiledb_cloud_tasks::model::ArrayTaskData;

/// Tasks in the listing.
const TASKS: u64 = 20_000;
/// Tasks per page (so 200 pages).
const PER_PAGE: u64 = 100;
/// The per-page delay of the second setting.
const DELAY: Duration = Duration::from_millis(20);

struct Pages {
    pages: Vec<Bytes>,
    delay: Duration,
}

async fn tasks(
    State(s): State<Arc<Pages>>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    if !s.delay.is_zero() {
        tokio::time::sleep(s.delay).await;
    }
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let body = s
        .pages
        .get(page.saturating_sub(1))
        .cloned()
        .unwrap_or_else(|| Bytes::from_static(br#"{"array_tasks":[]}"#));
    ([(header::CONTENT_TYPE, "application/json")], body)
}

fn start(pages: Vec<Bytes>, delay: Duration) -> String {
    common::serve(
        axum::Router::new()
            .route("/v1/tasks", get(tasks))
            .with_state(Arc::new(Pages { pages, delay })),
    )
}

async fn sdk(client: &Client, depth: Option<usize>) -> u64 {
    let mut list = client.tasks().per_page(PER_PAGE);
    if let Some(d) = depth {
        list = list.prefetch(d);
    }
    let n = list
        .stream()
        .try_fold(0u64, |n, t| async move {
            std::hint::black_box(&t);
            Ok(n + 1)
        })
        .await
        .expect("listing");
    assert_eq!(n, TASKS);
    n
}

/// The floor: one page after another until `total_pages`.
async fn floor(http: &reqwest::Client, base: &str) -> u64 {
    let url = format!("{base}/v1/tasks");
    let per_page = PER_PAGE.to_string();
    let mut n = 0u64;
    let mut page = 1u64;
    loop {
        let body = http
            .get(&url)
            .header("X-TILEDB-REST-API-KEY", "bench")
            .query(&[("page", page.to_string().as_str()), ("per_page", &per_page)])
            .send()
            .await
            .expect("send")
            .error_for_status()
            .expect("status")
            .bytes()
            .await
            .expect("body");
        let p: FloorPage = serde_json::from_slice(&body).expect("decode");
        let tasks = p.array_tasks.unwrap_or_default();
        if tasks.is_empty() {
            break;
        }
        n += tasks.len() as u64;
        std::hint::black_box(&tasks);
        let total = p.pagination_metadata.and_then(|m| m.total_pages);
        if total.is_none_or(|t| page >= t) {
            break;
        }
        page += 1;
    }
    assert_eq!(n, TASKS);
    n
}

fn list_tasks(c: &mut Criterion) {
    let pages = common::render_pages(TASKS, PER_PAGE);
    let bytes: usize = pages.iter().map(Bytes::len).sum();
    eprintln!(
        "list_tasks: {TASKS} tasks in {} pages of {PER_PAGE}, {:.2} KB per task, {:.1} MB per listing",
        pages.len(),
        bytes as f64 / TASKS as f64 / 1024.0,
        bytes as f64 / 1e6
    );
    let pages_for_decode = pages.clone();
    let fast = start(pages.clone(), Duration::ZERO);
    let slow = start(pages, DELAY);
    let rt = common::client_runtime();
    let http = common::floor_http();
    let client = |uri: &str| {
        Client::builder()
            .host(uri)
            .api_key("bench")
            .build()
            .expect("client")
    };
    let (fast_client, slow_client) = (client(&fast), client(&slow));

    let tallies = common::Tallies::default();
    let measure = |name: &'static str, iters: u64, f: &dyn Fn() -> _| {
        common::measure(&tallies, name, iters, f)
    };

    let mut group = c.benchmark_group("list_tasks/no_delay");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("floor_sequential", |b| {
        b.iter_custom(|iters| measure("floor_fast", iters, &|| rt.block_on(floor(&http, &fast))))
    });
    group.bench_function("sdk_default", |b| {
        b.iter_custom(|iters| measure("sdk_fast", iters, &|| rt.block_on(sdk(&fast_client, None))))
    });
    group.finish();

    let mut group = c.benchmark_group("list_tasks/delay_20ms");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("floor_sequential", |b| {
        b.iter_custom(|iters| measure("floor_slow", iters, &|| rt.block_on(floor(&http, &slow))))
    });
    group.bench_function("sdk_prefetch_4", |b| {
        b.iter_custom(|iters| {
            measure("sdk_slow_4", iters, &|| {
                rt.block_on(sdk(&slow_client, Some(4)))
            })
        })
    });
    group.finish();

    // Where the SDK's decoding time goes: one 100-task page, decoded three ways, no HTTP.
    let page = &pages_for_decode[0];
    let mut group = c.benchmark_group("list_tasks/decode_page");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Bytes(page.len() as u64));
    group.bench_function("floor_structs", |b| {
        b.iter(|| serde_json::from_slice::<FloorPage>(page).expect("page"))
    });
    group.bench_function("sdk_model_from_slice", |b| {
        b.iter(|| serde_json::from_slice::<ArrayTaskData>(page).expect("page"))
    });
    group.bench_function("sdk_model_path_to_error", |b| {
        b.iter(|| {
            let mut de = serde_json::Deserializer::from_slice(page);
            serde_path_to_error::deserialize::<_, ArrayTaskData>(&mut de).expect("page")
        })
    });
    group.finish();

    let t = tallies.borrow();
    // A filtered run (`-- decode_page`) may have skipped a side: print only what was measured.
    if let (Some(&ff), Some(&sf)) = (t.get("floor_fast"), t.get("sdk_fast")) {
        eprintln!(
            "RATIO list_tasks/no_delay sdk_default/floor: wall {:.3} ({:.1} ms / {:.1} ms, target <= 1.00), client CPU {:.3} ({:.1} ms / {:.1} ms, target <= 1.15)",
            sf.wall_per_iter() / ff.wall_per_iter(),
            sf.wall_per_iter() * 1e3,
            ff.wall_per_iter() * 1e3,
            sf.cpu_per_iter() / ff.cpu_per_iter(),
            sf.cpu_per_iter() * 1e3,
            ff.cpu_per_iter() * 1e3,
        );
    }
    if let (Some(&fs), Some(&s4)) = (t.get("floor_slow"), t.get("sdk_slow_4")) {
        eprintln!(
            "RATIO list_tasks/delay_20ms sdk_prefetch_4/floor_sequential: wall {:.3} ({:.1} ms / {:.1} ms, target <= 0.333)",
            s4.wall_per_iter() / fs.wall_per_iter(),
            s4.wall_per_iter() * 1e3,
            fs.wall_per_iter() * 1e3,
        );
    }
}

criterion_group!(benches, list_tasks);
criterion_main!(benches);

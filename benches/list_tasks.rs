//! `list_tasks`: streaming every task of a 20,000-task listing (pages of 100, about 2.2 KB per
//! task), the SDK's `TaskList` stream against the floor: a plain reqwest + serde_json loop with its
//! own `Option`-field structs, side by side in one run, against the same minimal axum server on
//! 127.0.0.1 serving pre-rendered pages.
//!
//! ```sh
//! cargo bench --bench list_tasks
//! ```
//!
//! Three settings:
//! - `list_tasks/no_delay` (criterion): the server answers at once. The floor's sequential loop
//!   against the SDK with default settings (`prefetch` 4), and at fixed depths 1 and 8: wall time
//!   and the client thread's CPU.
//! - `list_tasks/delay_20ms`: the server waits 20 ms before each page. The floor's sequential
//!   loop against the SDK's default and fixed depths 1, 2 and 8, three listings of each, taken in
//!   turn (not criterion: a sequential listing takes 4.7 s, and criterion wants ten samples).
//! - `list_tasks/memory`: peak resident memory of a child process listing 2,000 and 20,000 tasks
//!   with default settings (`common::child`); the servers are in the parent.
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
use criterion::{Criterion, SamplingMode, Throughput, criterion_group};
use futures::TryStreamExt as _;
use tiledb_cloud_tasks::Client;
use tiledb_cloud_tasks::model::ArrayTaskData;

/// Tasks in the listing.
const TASKS: u64 = 20_000;
/// Tasks per page (so 200 pages).
const PER_PAGE: u64 = 100;
/// The per-page delay of the second setting.
const DELAY: Duration = Duration::from_millis(20);
/// Listings of each side in the 20 ms setting.
const SLOW_ROUNDS: u32 = 3;
/// The smaller listing of the memory measure.
const SMALL: u64 = 2_000;

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
    sdk_n(client, depth, TASKS).await
}

async fn sdk_n(client: &Client, depth: Option<usize>, tasks: u64) -> u64 {
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
    assert_eq!(n, tasks);
    n
}

fn client(uri: &str) -> Client {
    Client::builder()
        .host(uri)
        .api_key("bench")
        .build()
        .expect("client")
}

/// The measuring child (`common::child`): `list <uri> <tasks>` lists with default settings.
fn child(job: &str) {
    let mut words = job.split_whitespace();
    assert_eq!(words.next(), Some("list"), "job {job:?}");
    let uri = words.next().expect("uri");
    let tasks: u64 = words.next().and_then(|n| n.parse().ok()).expect("tasks");
    let rt = common::client_runtime();
    let client = client(uri);
    let baseline = common::child::start();
    rt.block_on(sdk_n(&client, None, tasks));
    common::child::report(baseline);
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
    let small = start(common::render_pages(SMALL, PER_PAGE), Duration::ZERO);
    let fast = start(pages.clone(), Duration::ZERO);
    let slow = start(pages, DELAY);
    let rt = common::client_runtime();
    let http = common::floor_http();
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
    for (name, tally, depth) in [
        ("sdk_prefetch_1", "sdk_fast_1", 1),
        ("sdk_prefetch_8", "sdk_fast_8", 8),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                measure(tally, iters, &|| {
                    rt.block_on(sdk(&fast_client, Some(depth)))
                })
            })
        });
    }
    group.finish();

    // The slow link: each side lists SLOW_ROUNDS times, in turn, so that a noisy moment on the
    // machine hits every side alike.
    let slow_sides: [(&'static str, Option<usize>); 5] = [
        ("floor_slow", None),
        ("sdk_slow", None),
        ("sdk_slow_1", Some(1)),
        ("sdk_slow_2", Some(2)),
        ("sdk_slow_8", Some(8)),
    ];
    let rounds = if common::selected("list_tasks/delay_20ms") {
        SLOW_ROUNDS
    } else {
        0
    };
    for _ in 0..rounds {
        for (name, depth) in slow_sides {
            measure(name, 1, &|| {
                if name == "floor_slow" {
                    rt.block_on(floor(&http, &slow))
                } else {
                    rt.block_on(sdk(&slow_client, depth))
                }
            });
        }
    }

    // Memory: a child lists 2,000 then 20,000 tasks (twice each, the larger peak kept).
    let peak = |uri: &str, tasks: u64| {
        let job = format!("list {uri} {tasks}");
        let (a, b) = (common::child::run(&job), common::child::run(&job));
        if a.peak_kib >= b.peak_kib { a } else { b }
    };
    let memory =
        common::selected("list_tasks/memory").then(|| (peak(&small, SMALL), peak(&fast, TASKS)));

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
    if let Some(&ff) = t.get("floor_fast") {
        for (side, tally, target) in [
            (
                "sdk_default",
                "sdk_fast",
                ", target wall <= 0.95, CPU <= 1.05",
            ),
            ("sdk_prefetch_1", "sdk_fast_1", ""),
            ("sdk_prefetch_8", "sdk_fast_8", ""),
        ] {
            let Some(&sf) = t.get(tally) else { continue };
            eprintln!(
                "RATIO list_tasks/no_delay {side}/floor_sequential: wall {:.3} ({:.1} ms / {:.1} ms), client CPU {:.3} ({:.1} ms / {:.1} ms){target}",
                sf.wall_per_iter() / ff.wall_per_iter(),
                sf.wall_per_iter() * 1e3,
                ff.wall_per_iter() * 1e3,
                sf.cpu_per_iter() / ff.cpu_per_iter(),
                sf.cpu_per_iter() * 1e3,
                ff.cpu_per_iter() * 1e3,
            );
        }
    }
    if let Some(&fs) = t.get("floor_slow") {
        for (side, tally, target) in [
            ("sdk_default", "sdk_slow", ", target <= 0.40"),
            ("sdk_prefetch_1", "sdk_slow_1", ""),
            ("sdk_prefetch_2", "sdk_slow_2", ""),
            ("sdk_prefetch_8", "sdk_slow_8", ""),
        ] {
            let Some(&s) = t.get(tally) else { continue };
            eprintln!(
                "RATIO list_tasks/delay_20ms {side}/floor_sequential: wall {:.3} ({:.1} ms / {:.1} ms, {} listings each), client CPU {:.1} ms / {:.1} ms{target}",
                s.wall_per_iter() / fs.wall_per_iter(),
                s.wall_per_iter() * 1e3,
                fs.wall_per_iter() * 1e3,
                s.iters,
                s.cpu_per_iter() * 1e3,
                fs.cpu_per_iter() * 1e3,
            );
        }
    }
    if let Some((mem_small, mem_large)) = memory {
        eprintln!(
            "RATIO list_tasks/memory peak RSS {TASKS}/{SMALL} tasks: {:.3} ({:.1} MiB / {:.1} MiB, target <= 1.5); above the child's baseline {:.1} MiB / {:.1} MiB",
            mem_large.peak_kib as f64 / mem_small.peak_kib as f64,
            mem_large.peak_mib(),
            mem_small.peak_mib(),
            mem_large.growth_mib(),
            mem_small.growth_mib(),
        );
    }
}

criterion_group!(benches, list_tasks);
fn main() {
    if let Some(job) = common::child::job() {
        child(&job);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

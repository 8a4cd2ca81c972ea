//! `get_task`: 2,000 sequential `GET /v1/task/{id}` calls, the SDK's `TasksApi::task_id_get`
//! against the floor (plain reqwest + serde_json with its own `Option`-field struct), side by side
//! in one run, against the same minimal axum server on 127.0.0.1 answering a pre-rendered, realistic
//! task of about 2.2 KB.
//!
//! ```sh
//! cargo bench --bench get_task
//! ```
//!
//! Method as in `list_tasks`: server on its own thread and runtime, client on a current-thread
//! runtime on the bench thread; wall time and the client thread's CPU
//! (`/proc/thread-self/schedstat`). The ratios are printed at the end (`RATIO` lines).

mod common;

use std::time::Duration;

use axum::http::header;
use axum::routing::get;
use bytes::Bytes;
use common::FloorTask;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use tiledb_cloud_tasks::Client;

/// Calls per iteration.
const CALLS: u64 = 2_000;
const ID: &str = "6f1c2a0e-3b7d-4c59-9e21-000000000007";

async fn sdk(client: &Client) {
    let api = client.api();
    for _ in 0..CALLS {
        let t = api.task_id_get(ID).await.expect("task");
        std::hint::black_box(&t);
    }
}

async fn floor(http: &reqwest::Client, base: &str) {
    let url = format!("{base}/v1/task/{ID}");
    for _ in 0..CALLS {
        let body = http
            .get(&url)
            .header("X-TILEDB-REST-API-KEY", "bench")
            .send()
            .await
            .expect("send")
            .error_for_status()
            .expect("status")
            .bytes()
            .await
            .expect("body");
        let t: FloorTask = serde_json::from_slice(&body).expect("decode");
        std::hint::black_box(&t);
    }
}

fn get_task(c: &mut Criterion) {
    let body = Bytes::from(serde_json::to_vec(&common::task(7)).expect("render"));
    eprintln!(
        "get_task: {CALLS} calls per iteration, {} B per task",
        body.len()
    );
    let uri = common::serve(axum::Router::new().route(
        "/v1/task/{id}",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    ));
    let rt = common::client_runtime();
    let http = common::floor_http();
    let client = Client::builder()
        .host(&uri)
        .api_key("bench")
        .build()
        .expect("client");

    let tallies = common::Tallies::default();
    let measure = |name: &'static str, iters: u64, f: &dyn Fn() -> _| {
        common::measure(&tallies, name, iters, f)
    };

    let mut group = c.benchmark_group("get_task");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(CALLS))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("floor", |b| {
        b.iter_custom(|iters| measure("floor", iters, &|| rt.block_on(floor(&http, &uri))))
    });
    group.bench_function("sdk_task_id_get", |b| {
        b.iter_custom(|iters| measure("sdk", iters, &|| rt.block_on(sdk(&client))))
    });
    group.finish();

    let t = tallies.borrow();
    // A filtered run may have skipped a side: print only what was measured.
    let (Some(&f), Some(&s)) = (t.get("floor"), t.get("sdk")) else {
        return;
    };
    eprintln!(
        "RATIO get_task sdk/floor: wall {:.3} ({:.1} us / {:.1} us per call, target <= 1.10), client CPU {:.3} ({:.1} us / {:.1} us per call)",
        s.wall_per_iter() / f.wall_per_iter(),
        s.wall_per_iter() * 1e6 / CALLS as f64,
        f.wall_per_iter() * 1e6 / CALLS as f64,
        s.cpu_per_iter() / f.cpu_per_iter(),
        s.cpu_per_iter() * 1e6 / CALLS as f64,
        f.cpu_per_iter() * 1e6 / CALLS as f64,
    );
}

criterion_group!(benches, get_task);
criterion_main!(benches);

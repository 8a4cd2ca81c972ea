//! `server_throughput`: the local Tasks server's (`LocalServer`) rate for `GET /v1/task/{id}`
//! (`task_id_get`) and for `GET /v1/tasks` pages of 100 (`tasks_get`), on this machine, with the
//! SDK as the client.
//!
//! ```sh
//! cargo bench --bench server_throughput
//! ```
//!
//! Setup: a default `LocalServer` (temporary data directory, SQLite task store) seeded with 300
//! tasks (`SELECT i`, inline). Server and client share one 2-worker Tokio runtime, so on a
//! 2-core machine the rate is the whole system's: server, SQLite and the SDK together. Each
//! iteration is a batch of calls kept [`IN_FLIGHT`] at a time on one `Client`; criterion's
//! `Throughput::Elements` turns the time into calls (or pages) per second.
//!
//! Target: 3,000 `task_id_get` per second or more.

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures::{StreamExt as _, TryStreamExt as _};
use tiledb_cloud_tasks::TasksQuery;
use tiledb_cloud_tasks::server::{LocalServer, ServerConfig};

const SEED: usize = 300;
const IN_FLIGHT: usize = 8;
const GETS: u64 = 1_000;
const PAGES: u64 = 50;

fn server_throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt
        .block_on(LocalServer::start(ServerConfig::new()))
        .expect("server");
    let client = server.client().expect("client");
    let ns = server.namespace().to_owned();
    let ids: Vec<String> = rt.block_on(async {
        futures::stream::iter(0..SEED)
            .map(|i| {
                let h = client
                    .run_sql(ns.as_str(), format!("SELECT {i} AS i"))
                    .inline();
                async move {
                    let r = h.await?;
                    Ok::<_, tiledb_cloud_tasks::Error>(r.task_id().expect("id").to_string())
                }
            })
            .buffer_unordered(4)
            .try_collect()
            .await
            .expect("seed")
    });
    let api = client.api();
    let first = rt
        .block_on(api.tasks_get(&TasksQuery::new().per_page(100)))
        .expect("page");
    let (items, total) = first
        .pagination_metadata
        .map(|m| (m.total_items, m.total_pages))
        .unwrap_or_default();
    eprintln!(
        "server_throughput: {SEED} tasks seeded; a page of 100 holds {} tasks (total_items {items:?}, total_pages {total:?})",
        first.array_tasks.len()
    );

    let mut group = c.benchmark_group("server_throughput");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(GETS));
    group.bench_function("task_id_get", |b| {
        b.to_async(&rt).iter(|| async {
            futures::stream::iter(0..GETS as usize)
                .map(|i| api.task_id_get(ids[i % ids.len()].as_str()))
                .buffer_unordered(IN_FLIGHT)
                .try_for_each(|t| async move {
                    std::hint::black_box(t);
                    Ok(())
                })
                .await
                .expect("task_id_get");
        })
    });
    group.throughput(Throughput::Elements(PAGES));
    group.bench_function("tasks_get_100", |b| {
        b.to_async(&rt).iter(|| async {
            let q = TasksQuery::new().per_page(100);
            futures::stream::iter(0..PAGES)
                .map(|_| api.tasks_get(&q))
                .buffer_unordered(IN_FLIGHT)
                .try_for_each(|p| async move {
                    assert_eq!(p.array_tasks.len(), 100);
                    Ok(())
                })
                .await
                .expect("tasks_get");
        })
    });
    group.finish();
    drop(api);
    drop(client);
    rt.block_on(server.shutdown());
}

criterion_group!(benches, server_throughput);
criterion_main!(benches);

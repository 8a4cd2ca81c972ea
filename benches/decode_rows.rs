//! `decode_rows`: decoding a result of typed rows, JSON and Arrow, in MB/s of encoded body
//! (criterion's `Throughput::Bytes`), the SDK beside its floor in one run.
//!
//! ```sh
//! cargo bench --features arrow --bench decode_rows
//! ```
//!
//! The result: 50,000 rows of `(id i64, region utf8, day utf8, value f64, flagged bool)`, rendered
//! once as a JSON array of objects and as an Arrow IPC stream (`arrow_ipc::writer::StreamWriter`,
//! batches of 8,192 rows), served by a minimal in-bench axum server on 127.0.0.1 (its own thread).
//!
//! - `json/floor_from_slice`: `serde_json::from_slice::<Vec<Row>>` on the whole body, in memory.
//! - `json/sdk_row_decoder`: the SDK's incremental `JsonRowDecoder<Row>`, fed 64 KiB chunks
//!   (what `ResultStream::rows_stream` runs on each chunk), in memory.
//! - `json/floor_http`: a plain `reqwest` GET, `.bytes()`, then `serde_json::from_slice`.
//! - `json/sdk_rows_http`: `client.task(id)` awaited, then `SqlResult::rows::<Row>()`.
//! - `json/sdk_rows_stream_http`: `result_stream()` then `rows_stream::<Row>()`.
//! - `arrow/floor_stream_reader`: `arrow_ipc::reader::StreamReader` on the whole body, in memory.
//! - `arrow/floor_http`: a plain `reqwest` GET, `.bytes()`, then `StreamReader`.
//! - `arrow/sdk_record_batches_http`: `result_stream()` then `record_batches()`.
//! - `memory`: a child process (`common::child`) streams a 60 MB JSON result with
//!   `rows_stream::<Row>()`; its peak resident memory above its baseline.
//!
//! `RATIO` lines at the end give each SDK side's speed over its floor's (higher is better), from
//! the same run.

mod common;

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;
use tiledb_cloud_tasks::__private::JsonRowDecoder;

use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use axum::extract::Path;
use axum::http::header;
use axum::routing::get;
use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group};
use futures::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use tiledb_cloud_tasks::arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use tiledb_cloud_tasks::arrow_schema::{DataType, Field, Schema};

use tiledb_cloud_tasks::{Client, ResultFormat};

const ROWS: usize = 50_000;
const BATCH: usize = 8_192;
const CHUNK: usize = 64 * 1024;
/// The size of the JSON result the memory child streams.
const BIG: usize = 60_000_000;

#[derive(Debug, Serialize, Deserialize)]
struct Row {
    id: i64,
    region: String,
    day: String,
    value: f64,
    flagged: bool,
}

fn row(i: usize) -> Row {
    Row {
        id: i as i64,
        region: ["eu-west-1", "us-east-1", "ap-south-1"][i % 3].to_owned(),
        day: format!("2025-03-{:02}", i % 28 + 1),
        value: i as f64 * 0.731,
        flagged: i.is_multiple_of(7),
    }
}

fn arrow_body() -> Bytes {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("day", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("flagged", DataType::Boolean, false),
    ]));
    let mut out = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut out, &schema).expect("writer");
        for start in (0..ROWS).step_by(BATCH) {
            let rows: Vec<Row> = (start..ROWS.min(start + BATCH)).map(row).collect();
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id))),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| &r.region),
                )),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.day))),
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.value))),
                Arc::new(BooleanArray::from(
                    rows.iter().map(|r| r.flagged).collect::<Vec<_>>(),
                )),
            ];
            let batch = RecordBatch::try_new(Arc::clone(&schema), cols).expect("batch");
            w.write(&batch).expect("write");
        }
        w.finish().expect("finish");
    }
    Bytes::from(out)
}

fn json_body(rows: usize) -> Bytes {
    let rows: Vec<Row> = (0..rows).map(row).collect();
    Bytes::from(serde_json::to_vec(&rows).expect("json"))
}

fn client(uri: &str) -> Client {
    Client::builder()
        .host(uri)
        .api_key("bench")
        .build()
        .expect("client")
}

/// Streams result `id` as rows of `Row`; returns how many.
async fn sdk_rows_stream(client: &Client, id: &str) -> usize {
    client
        .task(id)
        .result_format(ResultFormat::Json)
        .result_stream()
        .await
        .expect("result")
        .rows_stream::<Row>()
        .try_fold(0usize, |n, r| async move {
            std::hint::black_box(r);
            Ok(n + 1)
        })
        .await
        .expect("rows")
}

/// The floor over HTTP: the body, whole.
async fn floor_get(http: &reqwest::Client, uri: &str, id: &str) -> Bytes {
    http.get(format!("{uri}/v1/task/{id}/result"))
        .header("X-TILEDB-REST-API-KEY", "bench")
        .send()
        .await
        .expect("send")
        .error_for_status()
        .expect("status")
        .bytes()
        .await
        .expect("body")
}

/// The measuring child (`common::child`): `rows <uri>` streams the big result.
fn child(job: &str) {
    let mut words = job.split_whitespace();
    assert_eq!(words.next(), Some("rows"), "job {job:?}");
    let uri = words.next().expect("uri");
    let rt = common::client_runtime();
    let client = client(uri);
    let baseline = common::child::start();
    let n = rt.block_on(sdk_rows_stream(&client, "big"));
    assert!(n > 0);
    common::child::report(baseline);
}

fn decode_rows(c: &mut Criterion) {
    let json = json_body(ROWS);
    let arrow = arrow_body();
    eprintln!(
        "decode_rows: {ROWS} rows; JSON {:.2} MB, Arrow IPC {:.2} MB",
        json.len() as f64 / 1e6,
        arrow.len() as f64 / 1e6
    );
    let memory = common::selected("decode_rows/memory");
    // The memory child's result: rows of the same shape, about 60 MB (rendered only if measured).
    let big = if memory {
        json_body(BIG / (json.len() / ROWS))
    } else {
        Bytes::new()
    };
    let (j, a, g) = (json.clone(), arrow.clone(), big.clone());
    let uri = common::serve(axum::Router::new().route(
        "/v1/task/{id}/result",
        get(move |Path(id): Path<String>| {
            let (j, a, g) = (j.clone(), a.clone(), g.clone());
            async move {
                match id.as_str() {
                    "arrow" => (
                        [(header::CONTENT_TYPE, "application/vnd.apache.arrow.stream")],
                        a,
                    ),
                    "big" => ([(header::CONTENT_TYPE, "application/json")], g),
                    _ => ([(header::CONTENT_TYPE, "application/json")], j),
                }
            }
        }),
    ));
    let rt = common::client_runtime();
    let client = client(&uri);
    let http = common::floor_http();
    let tallies = common::Tallies::default();
    let measure = |name: &'static str, iters: u64, f: &dyn Fn() -> _| {
        common::measure(&tallies, name, iters, f)
    };

    let mut group = c.benchmark_group("decode_rows/json");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(json.len() as u64));
    group.bench_function("floor_from_slice", |b| {
        b.iter_custom(|iters| {
            measure("json_floor", iters, &|| {
                let rows: Vec<Row> = serde_json::from_slice(&json).expect("rows");
                assert_eq!(rows.len(), ROWS);
            })
        })
    });
    group.bench_function("sdk_row_decoder", |b| {
        b.iter_custom(|iters| {
            measure("json_decoder", iters, &|| {
                let mut d = JsonRowDecoder::<Row>::new(None);
                let mut n = 0;
                for chunk in json.chunks(CHUNK) {
                    for r in d.push(chunk) {
                        std::hint::black_box(r.expect("row"));
                        n += 1;
                    }
                }
                if let Some(r) = d.finish() {
                    std::hint::black_box(r.expect("row"));
                    n += 1;
                }
                assert_eq!(n, ROWS);
            })
        })
    });
    group.bench_function("floor_http", |b| {
        b.iter_custom(|iters| {
            measure("json_floor_http", iters, &|| {
                rt.block_on(async {
                    let body = floor_get(&http, &uri, "json").await;
                    let rows: Vec<Row> = serde_json::from_slice(&body).expect("rows");
                    assert_eq!(rows.len(), ROWS);
                })
            })
        })
    });
    group.bench_function("sdk_rows_http", |b| {
        b.iter_custom(|iters| {
            measure("json_rows_http", iters, &|| {
                rt.block_on(async {
                    let result = client
                        .task("json")
                        .result_format(ResultFormat::Json)
                        .await
                        .expect("result");
                    let rows: Vec<Row> = result.rows().expect("rows");
                    assert_eq!(rows.len(), ROWS);
                })
            })
        })
    });
    group.bench_function("sdk_rows_stream_http", |b| {
        b.iter_custom(|iters| {
            measure("json_stream_http", iters, &|| {
                assert_eq!(rt.block_on(sdk_rows_stream(&client, "json")), ROWS)
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("decode_rows/arrow");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(arrow.len() as u64));
    group.bench_function("floor_stream_reader", |b| {
        b.iter_custom(|iters| {
            measure("arrow_floor", iters, &|| {
                let reader =
                    StreamReader::try_new(Cursor::new(arrow.clone()), None).expect("reader");
                let n: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
                assert_eq!(n, ROWS);
            })
        })
    });
    group.bench_function("floor_http", |b| {
        b.iter_custom(|iters| {
            measure("arrow_floor_http", iters, &|| {
                rt.block_on(async {
                    let body = floor_get(&http, &uri, "arrow").await;
                    let reader = StreamReader::try_new(Cursor::new(body), None).expect("reader");
                    let n: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
                    assert_eq!(n, ROWS);
                })
            })
        })
    });
    group.bench_function("sdk_record_batches_http", |b| {
        b.iter_custom(|iters| {
            measure("arrow_sdk_http", iters, &|| {
                rt.block_on(async {
                    let n = client
                        .task("arrow")
                        .result_format(ResultFormat::Arrow)
                        .result_stream()
                        .await
                        .expect("result")
                        .record_batches()
                        .try_fold(0usize, |n, b| async move { Ok(n + b.num_rows()) })
                        .await
                        .expect("batches");
                    assert_eq!(n, ROWS);
                })
            })
        })
    });
    group.finish();

    // Memory: a child streams the 60 MB result (twice, the larger peak kept).
    let rss = memory.then(|| {
        let job = format!("rows {uri}");
        let (a, b) = (common::child::run(&job), common::child::run(&job));
        if a.peak_kib >= b.peak_kib { a } else { b }
    });

    let t = tallies.borrow();
    let mib_s = |bytes: usize, tally: &common::Tally| {
        bytes as f64 / tally.wall_per_iter() / (1024.0 * 1024.0)
    };
    for (side, floor, sdk, bytes, target) in [
        (
            "json sdk_row_decoder/floor_from_slice",
            "json_floor",
            "json_decoder",
            json.len(),
            ">= 0.90",
        ),
        (
            "json sdk_rows_http/floor_http",
            "json_floor_http",
            "json_rows_http",
            json.len(),
            ">= 0.85",
        ),
        (
            "json sdk_rows_stream_http/floor_http",
            "json_floor_http",
            "json_stream_http",
            json.len(),
            ">= 0.85",
        ),
        (
            "arrow sdk_record_batches_http/floor_http",
            "arrow_floor_http",
            "arrow_sdk_http",
            arrow.len(),
            ">= 0.85",
        ),
        (
            "arrow floor_http/floor_stream_reader",
            "arrow_floor",
            "arrow_floor_http",
            arrow.len(),
            "none",
        ),
    ] {
        let (Some(f), Some(s)) = (t.get(floor), t.get(sdk)) else {
            continue;
        };
        eprintln!(
            "RATIO decode_rows/{side}: speed {:.3} ({:.1} MiB/s / {:.1} MiB/s; client CPU {:.2} ms / {:.2} ms per result), target {target}",
            f.wall_per_iter() / s.wall_per_iter(),
            mib_s(bytes, s),
            mib_s(bytes, f),
            s.cpu_per_iter() * 1e3,
            f.cpu_per_iter() * 1e3,
        );
    }
    if let Some(rss) = rss {
        eprintln!(
            "RATIO decode_rows/memory rows_stream of a {:.1} MB JSON result: peak {:.1} MiB above the child's baseline ({:.1} MiB peak, {:.1} MiB baseline), target <= 32 MB",
            big.len() as f64 / 1e6,
            rss.growth_mib(),
            rss.peak_mib(),
            rss.baseline_kib as f64 / 1024.0,
        );
    }
}

criterion_group!(benches, decode_rows);

fn main() {
    if let Some(job) = common::child::job() {
        child(&job);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

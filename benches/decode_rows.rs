//! `decode_rows`: decoding a result of typed rows, JSON and Arrow, in MB/s of encoded body
//! (criterion's `Throughput::Bytes`), the SDK beside the floor in one run.
//!
//! ```sh
//! cargo bench --features arrow --bench decode_rows
//! ```
//!
//! The result: 50,000 rows of `(id i64, region utf8, day utf8, value f64, flagged bool)`, rendered
//! once as a JSON array of objects and as an Arrow IPC stream (`arrow_ipc::writer::StreamWriter`,
//! batches of 8,192 rows).
//!
//! - `json/floor_from_slice`: `serde_json::from_slice::<Vec<Row>>` on the whole body.
//! - `json/sdk_row_decoder`: the SDK's incremental `JsonRowDecoder<Row>`, fed 64 KiB chunks
//!   (what `ResultStream::rows_stream` runs on each chunk).
//! - `json/sdk_rows_stream_http`: `client.task(id).result_stream()` then `rows_stream::<Row>()`,
//!   from a minimal in-bench axum server on 127.0.0.1 (the transfer included).
//! - `arrow/floor_stream_reader`: `arrow_ipc::reader::StreamReader` on the whole body.
//! - `arrow/sdk_record_batches_http`: `result_stream()` then `record_batches()`, from the same
//!   server (the transfer included).

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
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
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

fn decode_rows(c: &mut Criterion) {
    let rows: Vec<Row> = (0..ROWS).map(row).collect();
    let json = Bytes::from(serde_json::to_vec(&rows).expect("json"));
    let arrow = arrow_body();
    eprintln!(
        "decode_rows: {ROWS} rows; JSON {:.2} MB, Arrow IPC {:.2} MB",
        json.len() as f64 / 1e6,
        arrow.len() as f64 / 1e6
    );
    let (j, a) = (json.clone(), arrow.clone());
    let uri = common::serve(axum::Router::new().route(
        "/v1/task/{id}/result",
        get(move |Path(id): Path<String>| {
            let (j, a) = (j.clone(), a.clone());
            async move {
                if id == "arrow" {
                    (
                        [(header::CONTENT_TYPE, "application/vnd.apache.arrow.stream")],
                        a,
                    )
                } else {
                    ([(header::CONTENT_TYPE, "application/json")], j)
                }
            }
        }),
    ));
    let rt = common::client_runtime();
    let client = Client::builder()
        .host(&uri)
        .api_key("bench")
        .build()
        .expect("client");

    let mut group = c.benchmark_group("decode_rows/json");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(json.len() as u64));
    group.bench_function("floor_from_slice", |b| {
        b.iter(|| {
            let rows: Vec<Row> = serde_json::from_slice(&json).expect("rows");
            assert_eq!(rows.len(), ROWS);
        })
    });
    group.bench_function("sdk_row_decoder", |b| {
        b.iter(|| {
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
    });
    group.bench_function("sdk_rows_stream_http", |b| {
        b.iter(|| {
            rt.block_on(async {
                let n = client
                    .task("json")
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
                    .expect("rows");
                assert_eq!(n, ROWS);
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
        b.iter(|| {
            let reader = StreamReader::try_new(Cursor::new(arrow.clone()), None).expect("reader");
            let n: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
            assert_eq!(n, ROWS);
        })
    });
    group.bench_function("sdk_record_batches_http", |b| {
        b.iter(|| {
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
    });
    group.finish();
}

criterion_group!(benches, decode_rows);
criterion_main!(benches);

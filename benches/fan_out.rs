//! `fan_out`: 1,000 `TaskHandle`s in flight at once on one `Client`, against a minimal in-bench
//! server that finishes each task 2 s after its submission (`POST /v1/sql/{ns}` answers 204 with
//! the task id; `GET /v1/task/{id}/result` answers 202 until 2 s have passed, then 200 with a
//! one-row JSON result).
//!
//! ```sh
//! cargo bench --bench fan_out
//! ```
//!
//! Reported (as `FANOUT` lines, and criterion's wall time per 1,000 handles): every handle
//! resolves; the client's CPU time (the bench thread drives a current-thread runtime that holds
//! every handle, so `/proc/thread-self/schedstat` is the client's alone; the server runs on its
//! own thread); the peak number of open connections, counted by the server's listener (a gauge
//! incremented on accept and decremented when the connection is dropped); the wall time.

mod common;

use std::collections::HashMap;
use std::future::IntoFuture as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use tiledb_cloud_tasks::{Client, TASK_ID_HEADER};

const HANDLES: usize = 1_000;
const TASK_TIME: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Gauge {
    open: AtomicUsize,
    peak: AtomicUsize,
    accepted: AtomicUsize,
}

/// A connection that keeps the gauge honest: counted on accept, uncounted when dropped.
struct Counted {
    io: TcpStream,
    gauge: Arc<Gauge>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.gauge.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

struct CountingListener {
    inner: TcpListener,
    gauge: Arc<Gauge>,
}

impl axum::serve::Listener for CountingListener {
    type Io = Counted;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((io, addr)) => {
                    let _ = io.set_nodelay(true);
                    self.gauge.accepted.fetch_add(1, Ordering::SeqCst);
                    let now = self.gauge.open.fetch_add(1, Ordering::SeqCst) + 1;
                    self.gauge.peak.fetch_max(now, Ordering::SeqCst);
                    let gauge = Arc::clone(&self.gauge);
                    return (Counted { io, gauge }, addr);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

#[derive(Default)]
struct Tasks {
    next: AtomicU64,
    submitted: Mutex<HashMap<String, Instant>>,
}

async fn submit(State(s): State<Arc<Tasks>>, Path(_ns): Path<String>) -> impl IntoResponse {
    let id = format!("fan-{}", s.next.fetch_add(1, Ordering::SeqCst));
    s.submitted
        .lock()
        .expect("lock")
        .insert(id.clone(), Instant::now());
    (StatusCode::NO_CONTENT, [(TASK_ID_HEADER, id)])
}

async fn result(State(s): State<Arc<Tasks>>, Path(id): Path<String>) -> axum::response::Response {
    let at = s.submitted.lock().expect("lock").get(&id).copied();
    match at {
        Some(at) if at.elapsed() >= TASK_TIME => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"[{"a":1}]"#,
        )
            .into_response(),
        Some(_) => StatusCode::ACCEPTED.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn start(gauge: Arc<Gauge>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = common::client_runtime();
        rt.block_on(async move {
            let inner = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(inner.local_addr().expect("addr")).expect("addr");
            let app = axum::Router::new()
                .route("/v1/sql/{ns}", post(submit))
                .route("/v1/task/{id}/result", get(result))
                .with_state(Arc::new(Tasks::default()));
            axum::serve(CountingListener { inner, gauge }, app)
                .await
                .expect("serve");
        });
    });
    format!("http://{}", rx.recv().expect("server address"))
}

fn fan_out(c: &mut Criterion) {
    let gauge = Arc::new(Gauge::default());
    let uri = start(Arc::clone(&gauge));
    let rt = common::client_runtime();
    let client = Client::builder()
        .host(&uri)
        .api_key("bench")
        .build()
        .expect("client");

    let mut runs: Vec<(Duration, Duration)> = Vec::new();
    let mut group = c.benchmark_group("fan_out");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(25));
    group.bench_function("1000_handles_2s", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (w0, c0) = (Instant::now(), common::thread_cpu());
                let results = rt
                    .block_on(futures::future::join_all((0..HANDLES).map(|i| {
                        client.run_sql("bench", format!("SELECT {i}")).into_future()
                    })));
                let (wall, cpu) = (w0.elapsed(), common::thread_cpu() - c0);
                let ok = results.iter().filter(|r| r.is_ok()).count();
                assert_eq!(
                    ok,
                    HANDLES,
                    "every handle resolves: {:?}",
                    results.iter().find(|r| r.is_err())
                );
                runs.push((wall, cpu));
                total += wall;
            }
            total
        })
    });
    group.finish();

    let n = runs.len() as f64;
    let wall: f64 = runs.iter().map(|r| r.0.as_secs_f64()).sum::<f64>() / n;
    let cpu: f64 = runs.iter().map(|r| r.1.as_secs_f64()).sum::<f64>() / n;
    let max_wall = runs.iter().map(|r| r.0).max().unwrap_or_default();
    eprintln!(
        "FANOUT {} runs of {HANDLES} handles, all resolved: wall mean {:.3} s (max {:.3} s); client CPU mean {:.1} ms per run ({:.1} us per handle); peak open connections {}; connections accepted over all runs {}",
        runs.len(),
        wall,
        max_wall.as_secs_f64(),
        cpu * 1e3,
        cpu * 1e6 / HANDLES as f64,
        gauge.peak.load(Ordering::SeqCst),
        gauge.accepted.load(Ordering::SeqCst),
    );
}

criterion_group!(benches, fan_out);
criterion_main!(benches);

//! A large JSON result consumed as a stream keeps memory flat: measured with a counting allocator
//! (bytes, not time) at two sizes ten times apart.

//!
//! The binary's allocator counts per thread ([`crate::support::alloc`]), and the whole measure
//! runs on this test's current-thread runtime: the server feeding the rows, the client and its
//! connection all allocate on this thread, and no other test's allocations are counted.

use futures::StreamExt as _;
use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::prelude::ResultFormat;
use crate::support::{alloc, clients};

#[derive(Deserialize)]
struct Row {
    id: u64,
    name: String,
    value: Option<f64>,
}

/// Serves one stored result of `rows` rows, generated as it is written (never held whole).
async fn serve_rows(rows: u64) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut req = [0u8; 4096];
        let _ = sock.read(&mut req).await;
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n[";
        sock.write_all(head.as_bytes()).await.unwrap();
        let mut chunk = String::with_capacity(64 * 1024);
        for i in 0..rows {
            if i > 0 {
                chunk.push(',');
            }
            chunk.push_str(&format!(
                r#"{{"id":{i},"name":"row-{i}","value":{}}}"#,
                if i % 7 == 0 {
                    "null".to_string()
                } else {
                    format!("{}.5", i)
                }
            ));
            if chunk.len() > 60 * 1024 {
                sock.write_all(chunk.as_bytes()).await.unwrap();
                chunk.clear();
            }
        }
        chunk.push(']');
        sock.write_all(chunk.as_bytes()).await.unwrap();
        let _ = sock.shutdown().await;
    });
    format!("http://{addr}")
}

/// Streams `rows` rows and returns (rows seen, bytes of the body, peak heap growth).
async fn consume(rows: u64) -> (u64, u64, usize) {
    let base = serve_rows(rows).await;
    let (client, _) = clients::client(&base);
    let baseline = alloc::start_peak();
    let stream = client
        .task("big")
        .result_format(ResultFormat::Json)
        .result_stream()
        .await
        .unwrap();
    let mut rows_stream = stream.rows_stream::<Row>();
    let (mut n, mut checksum, mut body) = (0u64, 0u64, 0u64);
    while let Some(row) = rows_stream.next().await {
        let row = row.unwrap();
        assert_eq!(row.id, n);
        checksum += row.id + row.value.is_some() as u64;
        body += row.name.len() as u64;
        n += 1;
    }
    assert!(checksum > 0);
    (n, body, alloc::peak_growth(baseline))
}

#[tokio::test(flavor = "current_thread")]
async fn a_million_row_result_streams_in_the_memory_of_a_hundred_thousand() {
    let (n_small, _, peak_small) = consume(100_000).await;
    let (n_large, _, peak_large) = consume(1_000_000).await;
    assert_eq!((n_small, n_large), (100_000, 1_000_000));
    eprintln!("peak heap growth: {peak_small} B at 100k rows, {peak_large} B at 1M rows");
    // The 1M-row body is about 50 MB; streaming holds a few chunks and one row at a time.
    assert!(
        peak_large < 4 * 1024 * 1024,
        "peak {peak_large} B at 1M rows"
    );
    // Ten times the rows, not ten times the memory: within 25% (plus 64 KiB for buffer jitter).
    assert!(
        peak_large <= peak_small + peak_small / 4 + 64 * 1024,
        "peak grew with the row count: {peak_small} B -> {peak_large} B"
    );
}

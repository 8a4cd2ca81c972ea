//! Stalled readers: clients that ask for a large stored result and never read it. The server
//! sends results from its store a chunk at a time, so each of them holds a chunk of its memory,
//! not the result; the write timeout drops them in the end (default 30 s, past this test).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::binary::Binary;
use crate::support::poll_until;
use crate::support::prelude::{API_KEY_HEADER, TASK_ID_HEADER};

const KEY: &str = "hostile-readers-key";
const CAP: u64 = 4 << 30;
/// The JSON of one row holding a 60,000,000-character hex string.
const RESULT_BYTES: u64 = 60_000_000 + r#"[{"b":""}]"#.len() as u64;
const READERS: usize = 20;
const GROWTH: u64 = 100_000_000;

async fn status_of(http: &reqwest::Client, bin: &Binary, id: &str) -> Option<String> {
    let resp = http
        .get(format!("{}/v1/task/{id}", bin.base))
        .header(API_KEY_HEADER, KEY)
        .send()
        .await
        .ok()?;
    let task: Value = resp.json().await.ok()?;
    task["status"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn twenty_stalled_readers_of_a_60_mb_result_grow_memory_by_at_most_100_mb_and_others_are_answered()
 {
    let mut bin = Binary::spawn_capped(CAP, ["--api-key", KEY]).await;
    bin.drain_stdout();
    let http = reqwest::Client::new();

    // A stored result of 60 MB.
    let resp = http
        .post(format!("{}/v1/sql/local", bin.base))
        .header(API_KEY_HEADER, KEY)
        .json(&json!({
            "query": "SELECT hex(randomblob(30000000)) AS b",
            "store_results": true,
            "dont_download_results": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let id = resp.headers()[TASK_ID_HEADER].to_str().unwrap().to_owned();
    let done = poll_until(crate::support::POLL_STEPS, || async {
        (status_of(&http, &bin, &id).await.as_deref() == Some("COMPLETED")).then_some(())
    })
    .await;
    assert!(done.is_some(), "the 60 MB result is stored");
    let (before, _) = bin.memory();

    // Twenty clients ask for it and read nothing.
    let request = format!(
        "GET /v1/task/{id}/result HTTP/1.1\r\nhost: 127.0.0.1\r\n{API_KEY_HEADER}: {KEY}\r\n\r\n"
    );
    let mut stalled = Vec::new();
    for _ in 0..READERS {
        let mut stream = TcpStream::connect(bin.base.trim_start_matches("http://"))
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        stalled.push(stream);
    }

    // Meanwhile, for a while, other clients are answered and memory stays bounded.
    let mut most = before;
    for _ in 0..30 {
        let listing = tokio::time::timeout(
            Duration::from_secs(5),
            http.get(format!("{}/v1/tasks", bin.base))
                .header(API_KEY_HEADER, KEY)
                .send(),
        )
        .await
        .expect("another client is answered while 20 readers stall")
        .unwrap();
        assert_eq!(listing.status(), StatusCode::OK);
        most = most.max(bin.memory().0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "resident memory: {} MB before the stalled readers, at most {} MB with them",
        before / 1_000_000,
        most / 1_000_000
    );
    assert!(
        most < before + GROWTH,
        "resident memory grew from {before} to {most} bytes"
    );

    // The stalled readers were being served: each has the answer's head waiting.
    for stream in &mut stalled {
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
    }
    drop(stalled);

    // And a reader that reads gets all of it (uncompressed: gzip of 60 MB is slow in a debug
    // build).
    let plain = reqwest::Client::builder()
        .no_gzip()
        .no_deflate()
        .no_zstd()
        .build()
        .unwrap();
    let whole = plain
        .get(format!("{}/v1/task/{id}/result", bin.base))
        .header(API_KEY_HEADER, KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    let body = whole.bytes().await.unwrap();
    assert_eq!(body.len() as u64, RESULT_BYTES);
    assert!(body.starts_with(br#"[{"b":""#) && body.ends_with(br#""}]"#));
}

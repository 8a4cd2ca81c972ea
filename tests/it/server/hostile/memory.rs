//! Memory and planning limits, on the real binary under a capped address space (`prlimit
//! --as`, 4 GiB: a failure fails allocations, never the machine): the randomblob query, chains
//! of `NOT MATERIALIZED` CTEs that explode SQLite's planner, and the memory given back after.
//! Resident memory is read from `/proc/PID/status` (VmRSS, and VmHWM, the peak).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::binary::Binary;
use crate::support::prelude::API_KEY_HEADER;

const KEY: &str = "hostile-memory-key";
const CAP: u64 = 4 << 30;
const MEMORY_LIMIT: u64 = 256 << 20;
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// The query time limit of the tests that assert the memory limit: far above the seconds a heavy
/// query takes to reach it, even on a loaded machine.
const MEMORY_TESTS_QUERY_TIMEOUT: Duration = Duration::from_secs(120);
const SLACK: u64 = 100_000_000;

const QUERY_TIMED_OUT: i64 = 1015;
const MEMORY_LIMIT_HIT: i64 = 1025;
const TOO_EXPENSIVE: i64 = 1026;

const RANDOMBLOB: &str = "SELECT length(hex(randomblob(400000000)))";

async fn server() -> Binary {
    server_timing_out_after(QUERY_TIMEOUT).await
}

/// The server with its query time limit at `timeout`: the memory tests give it a long one, so that
/// on a loaded machine a heavy query meets the memory limit (what they assert) before the clock.
async fn server_timing_out_after(timeout: Duration) -> Binary {
    let mut bin = Binary::spawn_capped(
        CAP,
        [
            "--api-key".to_owned(),
            KEY.to_owned(),
            "--max-query-memory".to_owned(),
            MEMORY_LIMIT.to_string(),
            "--query-timeout-secs".to_owned(),
            timeout.as_secs().to_string(),
        ],
    )
    .await;
    bin.drain_stdout();
    bin
}

/// Runs `sql`; the status and the JSON body.
async fn sql(bin: &Binary, sql: &str) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/sql/local", bin.base))
        .header(API_KEY_HEADER, KEY)
        .json(&json!({ "query": sql }))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn assert_memory_limit((status, body): &(StatusCode, Value)) {
    assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], MEMORY_LIMIT_HIT, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("memory limit") && message.contains("max_query_memory"),
        "{message}"
    );
}

fn assert_peak_under_the_limit(bin: &Binary) {
    let (now, peak) = bin.memory();
    println!(
        "resident memory: {} MB now, {} MB at the peak",
        now / 1_000_000,
        peak / 1_000_000
    );
    assert!(
        peak < MEMORY_LIMIT + SLACK,
        "peak resident memory {peak} bytes, over the limit {MEMORY_LIMIT} + {SLACK}"
    );
}

#[tokio::test]
async fn the_randomblob_query_alone_and_four_at_once_fail_with_the_memory_limit_and_peak_memory_stays_under_it()
 {
    let bin = server_timing_out_after(MEMORY_TESTS_QUERY_TIMEOUT).await;
    assert_memory_limit(&sql(&bin, RANDOMBLOB).await);
    let four = join_all((0..4).map(|_| sql(&bin, RANDOMBLOB))).await;
    four.iter().for_each(assert_memory_limit);
    // The server is healthy: it runs the next query.
    let (status, body) = sql(&bin, "SELECT 1 AS one").await;
    assert_eq!((status, body), (StatusCode::OK, json!([{ "one": 1 }])));
    assert_peak_under_the_limit(&bin);
}

/// A chain of `n` CTEs, each referencing the previous one twice, by join or by `UNION ALL`.
fn chain(union: bool, n: usize) -> String {
    let mut ctes = vec!["c0(x) AS NOT MATERIALIZED (SELECT 1)".to_owned()];
    for i in 1..=n {
        let p = i - 1;
        let body = if union {
            format!("SELECT x FROM c{p} UNION ALL SELECT x FROM c{p}")
        } else {
            format!("SELECT a.x FROM c{p} a, c{p} b")
        };
        ctes.push(format!("c{i}(x) AS NOT MATERIALIZED ({body})"));
    }
    format!("WITH {} SELECT count(*) FROM c{n}", ctes.join(", "))
}

#[tokio::test]
async fn planner_chains_of_14_to_25_are_refused_or_stopped_in_time_while_the_server_answers_others()
{
    let bin = Arc::new(server().await);
    // Another client, all along: every listing must be answered, promptly.
    let answered = Arc::new(AtomicU64::new(0));
    let prober = {
        let (bin, answered) = (Arc::clone(&bin), Arc::clone(&answered));
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let probe = http
                    .get(format!("{}/v1/tasks", bin.base))
                    .header(API_KEY_HEADER, KEY)
                    .send();
                let resp = tokio::time::timeout(Duration::from_secs(5), probe)
                    .await
                    .expect("another client is answered while the chains are weighed")
                    .unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                answered.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    for union in [false, true] {
        for n in 14..=25 {
            let text = chain(union, n);
            assert!(text.len() < 2000, "a small statement: {} bytes", text.len());
            let started = Instant::now();
            let (status, body) = sql(&bin, &text).await;
            let took = started.elapsed();
            assert!(
                took < QUERY_TIMEOUT + Duration::from_secs(1),
                "{} chain of {n}: answered after {took:?}",
                if union { "union" } else { "join" }
            );
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            let code = body["code"].as_i64().unwrap();
            assert!(
                [TOO_EXPENSIVE, QUERY_TIMED_OUT, MEMORY_LIMIT_HIT].contains(&code),
                "{body}"
            );
            if code == TOO_EXPENSIVE {
                assert!(body["message"].as_str().unwrap().contains("limit is 10000"));
            }
        }
    }
    assert!(!prober.is_finished(), "the other client never failed");
    prober.abort();
    assert!(answered.load(Ordering::SeqCst) > 0);
    assert_peak_under_the_limit(&bin);
}

#[tokio::test]
async fn after_heavy_queries_the_idle_servers_memory_is_within_100_mb_of_a_fresh_one() {
    let bin = server_timing_out_after(MEMORY_TESTS_QUERY_TIMEOUT).await;
    let (status, _) = sql(&bin, "SELECT 1").await;
    assert_eq!(status, StatusCode::OK);
    let (fresh, _) = bin.memory();

    // Heavy queries that succeed (90 MB of SQLite heap each: a 30 MB blob and its hex), four at
    // once (so some may meet the memory limit), then the refused ones.
    let heavy = "SELECT length(hex(randomblob(30000000))) AS n";
    for (status, body) in join_all((0..4).map(|_| sql(&bin, heavy))).await {
        if status == StatusCode::OK {
            assert_eq!(body, json!([{ "n": 60000000 }]));
        } else {
            assert_memory_limit(&(status, body));
        }
    }
    // Many small allocations: four statements of 70,000 VALUES rows (840 KB each) at once.
    let rows: Vec<String> = (0..70_000).map(|i| format!("('{i:07}')")).collect();
    let values = format!("SELECT count(*) AS n FROM (VALUES {})", rows.join(","));
    for (status, body) in join_all((0..4).map(|_| sql(&bin, &values))).await {
        assert_eq!((status, body), (StatusCode::OK, json!([{ "n": 70000 }])));
    }
    assert_memory_limit(&sql(&bin, RANDOMBLOB).await);
    let (status, _) = sql(&bin, &chain(true, 20)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, peak) = bin.memory();
    assert!(
        peak > fresh + 60_000_000,
        "the queries were heavy: peak {peak}, fresh {fresh}"
    );

    let (idle, _) = bin.memory();
    println!(
        "resident memory: fresh {} MB, peak {} MB, idle after the heavy queries {} MB",
        fresh / 1_000_000,
        peak / 1_000_000,
        idle / 1_000_000
    );
    assert!(
        idle < fresh + SLACK,
        "idle resident memory {idle} bytes, fresh {fresh} bytes"
    );
}

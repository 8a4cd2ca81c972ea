//! The local server under load and under faults (issue 8): many SDK clients at once, a SIGKILL
//! of the real binary mid-load, malformed requests, and SQL sandbox escapes.
//!
//! Loopback only, bounded in time (the load runs for a fixed window and every wait has a
//! deadline), and nothing asserts on wall-clock durations. The counts of the load run are printed
//! (`--nocapture`) and recorded in TESTING.md.

use std::ffi::OsStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use reqwest::{RequestBuilder, Response, StatusCode};

use crate::support::binary::Binary;
use crate::support::local::{Harness, all_tasks, client_as, expect_error, fast_polls, with_client};
use crate::support::prelude::{
    API_KEY_HEADER, ArrayTaskStatus, Client, Error, LocalServer, PollPolicy, ResultResponse,
    RetryPolicy, ServerConfig, SqlParameters, TaskId, Update,
};
use crate::support::{cases, poll_until};

const NS: &str = "local";

/// The fast polls, but never closer than 100 ms under load, and for at most 30 s.
fn load_polls() -> PollPolicy {
    fast_polls()
        .max_interval(Duration::from_millis(100))
        .deadline(Duration::from_secs(30))
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

/// What the load run saw. `http_*` are attempts that got an error status (counted by the retry
/// classifier, which sees every failed attempt); `calls` are SDK calls.
#[derive(Default)]
struct Stats {
    calls: AtomicU64,
    http_503: AtomicU64,
    http_other_5xx: AtomicU64,
    http_4xx: AtomicU64,
    transport_failures: AtomicU64,
    /// Submissions still refused (503) once the retry budget was spent: never recorded.
    refused: AtomicU64,
    unexpected: Mutex<Vec<String>>,
}

/// An error and its causes, so that a failure here says what went wrong underneath.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl Stats {
    fn unexpected(&self, what: String) {
        self.unexpected.lock().unwrap().push(what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_get_only_deliberate_503s_and_no_task_is_lost() {
    const WORKERS: usize = 200;
    const CLIENTS: usize = 10;
    const WINDOW: Duration = Duration::from_secs(6);

    let server = LocalServer::start(
        ServerConfig::new()
            .max_concurrent_queries(4)
            .retry_after(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    let stats = Arc::new(Stats::default());
    let clients: Vec<Client> = (0..CLIENTS)
        .map(|_| {
            let s = Arc::clone(&stats);
            server
                .client_builder()
                .poll_policy(load_polls())
                .retry_policy(
                    RetryPolicy::default()
                        .max_attempts(8)
                        .initial_backoff(Duration::from_millis(20))
                        .max_backoff(Duration::from_millis(300))
                        // Retry-After says 1 s; under test, come back sooner to keep the pressure on.
                        .max_retry_after(Duration::from_millis(150))
                        .classifier(move |o| {
                            let counter = match o.status {
                                Some(503) => &s.http_503,
                                Some(s5) if s5 >= 500 => &s.http_other_5xx,
                                Some(_) => &s.http_4xx,
                                None => &s.transport_failures,
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                            None
                        }),
                )
                .build()
                .unwrap()
        })
        .collect();
    // Every task some client learned the id of, with the value its query returns.
    let submitted: Arc<Mutex<Vec<(TaskId, i64)>>> = Arc::default();
    let stop = tokio::time::Instant::now() + WINDOW;

    let mut workers = Vec::with_capacity(WORKERS);
    for w in 0..WORKERS {
        let client = clients[w % CLIENTS].clone();
        let stats = Arc::clone(&stats);
        let submitted = Arc::clone(&submitted);
        workers.push(tokio::spawn(async move {
            let mut round = 0u64;
            while tokio::time::Instant::now() < stop && round < 1000 {
                round += 1;
                stats.calls.fetch_add(1, Ordering::Relaxed);
                let known = {
                    let s = submitted.lock().unwrap();
                    (!s.is_empty()).then(|| s[fastrand::usize(..s.len())].clone())
                };
                match (round + w as u64) % 4 {
                    // Submit (stored, detached) and wait; every fourth worker's queries are slow
                    // enough to be polled and to hold their slot.
                    0 => {
                        let v = (w as i64) * 10_000 + round as i64;
                        let sql = if w.is_multiple_of(4) {
                            format!("SELECT {v} AS v, sleep(50) AS s")
                        } else {
                            format!("SELECT {v} AS v, 50 AS s")
                        };
                        match client.run_sql(NS, SqlParameters::query(sql)).await {
                            Ok(r) => {
                                let id = r.task_id().cloned().unwrap();
                                let rows = r.json().unwrap();
                                if rows != serde_json::json!([{"v": v, "s": 50}]) {
                                    stats.unexpected(format!("task {id}: rows {rows}"));
                                }
                                submitted.lock().unwrap().push((id, v));
                            }
                            Err(e) if e.status() == Some(503) && e.task_id().is_none() => {
                                stats.refused.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                if let Some(id) = e.task_id() {
                                    submitted.lock().unwrap().push((id.clone(), v));
                                }
                                stats.unexpected(format!("run_sql: {}", chain(&e)));
                            }
                        }
                    }
                    1 => {
                        if let Some((id, _)) = known
                            && let Err(e) = client.api().task_id_get(&id).await
                        {
                            stats.unexpected(format!("task_id_get: {}", chain(&e)));
                        }
                    }
                    2 => {
                        let page = client
                            .tasks()
                            .per_page(20)
                            .page(1 + round % 3)
                            .first_page()
                            .await;
                        if let Err(e) = page {
                            stats.unexpected(format!("tasks page: {}", chain(&e)));
                        }
                    }
                    _ => {
                        if let Some((id, v)) = known {
                            match client.api().task_id_result_get(&id, None).await {
                                Ok(ResultResponse::Ready { body, .. }) => {
                                    let rows: serde_json::Value =
                                        serde_json::from_slice(&body).unwrap();
                                    if rows != serde_json::json!([{"v": v, "s": 50}]) {
                                        stats.unexpected(format!("result {id}: {rows}"));
                                    }
                                }
                                other => stats.unexpected(format!("result {id}: {other:?}")),
                            }
                        }
                    }
                }
            }
        }));
    }
    let joined = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(workers))
        .await
        .expect("the load stops by itself");
    for j in joined {
        j.expect("no worker panicked");
    }

    // Nothing lost: every task some client was told about is COMPLETED with its rows stored, and
    // the server knows no task that no client was told about.
    let tasks = submitted.lock().unwrap().clone();
    let checker = clients[0].clone();
    let lost: Vec<String> = futures::stream::iter(tasks.iter().cloned())
        .map(|(id, v)| {
            let c = checker.clone();
            async move {
                let t = c.api().task_id_get(&id).await;
                let r = c.api().task_id_result_get(&id, None).await;
                match (t, r) {
                    (Ok(t), Ok(ResultResponse::Ready { body, .. }))
                        if t.status == Some(ArrayTaskStatus::Completed)
                            && serde_json::from_slice::<serde_json::Value>(&body).ok()
                                == Some(serde_json::json!([{"v": v, "s": 50}])) =>
                    {
                        None
                    }
                    (t, r) => Some(format!("{id}: {t:?} / {r:?}")),
                }
            }
        })
        .buffer_unordered(16)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    let listed = all_tasks(&checker).await;

    let unexpected = stats.unexpected.lock().unwrap().clone();
    let count = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "load: {WORKERS} workers on {CLIENTS} clients for {WINDOW:?}: {} SDK calls, {} tasks \
         submitted and completed, {} listed by the server, {} HTTP 503 answers (retried), \
         {} submissions still refused after retries, {} other 5xx, {} 4xx, {} transport failures, \
         {} tasks lost, {} unexpected outcomes",
        count(&stats.calls),
        tasks.len(),
        listed.len(),
        count(&stats.http_503),
        count(&stats.refused),
        count(&stats.http_other_5xx),
        count(&stats.http_4xx),
        count(&stats.transport_failures),
        lost.len(),
        unexpected.len(),
    );
    assert!(
        unexpected.is_empty(),
        "unexpected outcomes: {unexpected:#?}"
    );
    assert!(lost.is_empty(), "lost tasks: {lost:#?}");
    assert_eq!(
        count(&stats.http_other_5xx),
        0,
        "no 5xx but the deliberate 503s"
    );
    assert_eq!(count(&stats.http_4xx), 0);
    assert_eq!(count(&stats.transport_failures), 0);
    assert!(
        count(&stats.http_503) > 0,
        "the load saturated the query slots"
    );
    assert!(!tasks.is_empty());
    assert_eq!(
        listed.len(),
        tasks.len(),
        "no task the clients were not told about"
    );
    assert!(
        listed
            .iter()
            .all(|t| t.status == Some(ArrayTaskStatus::Completed))
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Crash: SIGKILL of the real binary mid-load
// ---------------------------------------------------------------------------------------------

async fn spawn_binary(dir: &std::path::Path, key: &str) -> Binary {
    let mut bin = Binary::spawn([
        OsStr::new("--api-key"),
        OsStr::new(key),
        OsStr::new("--data-dir"),
        dir.as_os_str(),
        OsStr::new("--max-concurrent-queries"),
        OsStr::new("4"),
    ])
    .await;
    bin.drain_stdout();
    bin
}

fn client_for(base: &str, key: &str) -> Client {
    Client::builder()
        .host(base)
        .api_key(key.to_owned())
        .poll_policy(load_polls())
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(40)
                .initial_backoff(Duration::from_millis(20))
                .max_backoff(Duration::from_millis(200))
                .max_retry_after(Duration::from_millis(100)),
        )
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_keeps_completed_results_and_fails_running_tasks() {
    const KEY: &str = "crash-test-key";
    let dir = tempfile::tempdir().unwrap();
    let mut bin = spawn_binary(dir.path(), KEY).await;
    let client = client_for(&bin.base, KEY);

    // Two long queries hold two of the four slots until the kill.
    let mut long = Vec::new();
    for _ in 0..2 {
        let r = client
            .api()
            .run_sql(
                NS,
                &SqlParameters::query("SELECT sleep(60000)")
                    .store_results(true)
                    .dont_download_results(true),
                None,
            )
            .await
            .unwrap();
        long.push(r.task_id().cloned().unwrap());
    }
    // Load on the other two slots: 40 queries from 8 concurrent callers, all completed.
    let completed: Vec<(TaskId, i64)> = futures::stream::iter(0..40i64)
        .map(|v| {
            let c = client.clone();
            async move {
                let r = c
                    .run_sql(NS, format!("SELECT {v} AS v, sleep(20) AS s"))
                    .await
                    .expect("completes");
                (r.task_id().cloned().unwrap(), v)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    // A second wave is in flight when the server dies.
    let ids_in_flight: Arc<Mutex<Vec<TaskId>>> = Arc::default();
    let wave: Vec<_> = (0..20)
        .map(|v| {
            let c = client.clone();
            let ids = Arc::clone(&ids_in_flight);
            tokio::spawn(async move {
                let mut updates = c
                    .run_sql(NS, format!("SELECT sleep(300) + {v} AS v"))
                    .updates();
                while let Some(u) = updates.next().await {
                    if let Update::Submitted { task_id } = u {
                        ids.lock().unwrap().push(task_id);
                    }
                }
            })
        })
        .collect();
    // Kill once the wave has at least one task recorded (bounded wait, checked below).
    poll_until(500, || async {
        (!ids_in_flight.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    bin.child.kill().await.expect("SIGKILL");
    // The callers would retry against a dead server until their budgets ran out: stop them.
    for w in &wave {
        w.abort();
    }
    for w in wave {
        let _ = w.await;
    }
    assert!(
        !ids_in_flight.lock().unwrap().is_empty(),
        "the kill came mid-load"
    );

    let mut bin = spawn_binary(dir.path(), KEY).await;
    let client = client_for(&bin.base, KEY);
    for (id, v) in &completed {
        let r = client
            .task(id.clone())
            .await
            .expect("completed result intact");
        assert_eq!(
            r.json().unwrap(),
            serde_json::json!([{"v": v, "s": 20}]),
            "{id}"
        );
    }
    for id in &long {
        match client.task(id.clone()).await {
            Err(Error::TaskFailed(f)) if *f.status() == ArrayTaskStatus::Failed => assert!(
                f.message().unwrap_or("").contains("stopped while"),
                "{:?}",
                f.message()
            ),
            other => panic!("the running task {id} should be FAILED: {other:?}"),
        }
    }
    // Whatever was in flight is terminal now: completed with its result, or failed.
    let in_flight = ids_in_flight.lock().unwrap().clone();
    for id in in_flight {
        match client.task(id.clone()).await {
            Ok(_) | Err(Error::TaskFailed { .. }) => {}
            Err(e) => panic!("task {id} in flight at the kill: {e}"),
        }
    }
    let tasks = all_tasks(&client).await;
    assert!(
        tasks
            .iter()
            .all(|t| t.status.as_ref().is_some_and(ArrayTaskStatus::is_terminal)),
        "no task left running after the restart"
    );
    bin.child.kill().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Malformed requests: each a 4xx with an `Error` JSON body
// ---------------------------------------------------------------------------------------------

/// Expects a 4xx `status` whose body is an `Error` JSON document with `code`, a message, and the
/// `X-Request-Id` header as its `request_id` (the last three checked by `expect_error`). Returns
/// the message.
async fn expect_4xx(resp: Response, status: StatusCode, code: i64) -> String {
    assert!(resp.status().is_client_error(), "{}", resp.status());
    expect_error(resp, status, code).await
}

async fn send(req: RequestBuilder) -> Response {
    req.send().await.expect("an answer")
}

#[tokio::test]
async fn malformed_json_body_is_400_with_serdes_message() {
    let h = Harness::start(ServerConfig::new()).await;
    for body in ["{not json", r#"{"query": 5}"#, r#"{"query": "SELECT 1""#] {
        expect_4xx(send(h.post_body(body)).await, StatusCode::BAD_REQUEST, 1007).await;
    }
    assert!(all_tasks(&h.server.client().unwrap()).await.is_empty());
}

#[tokio::test]
async fn oversized_body_is_413() {
    let h = Harness::start(ServerConfig::new().max_body_bytes(1024)).await;
    let big = format!(r#"{{"query": "SELECT '{}'"}}"#, "x".repeat(4096));
    let m = expect_4xx(
        send(h.post_body(big)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        1008,
    )
    .await;
    assert!(m.contains("1024"), "{m}");
}

#[tokio::test]
async fn bad_list_query_parameters_are_400_naming_the_parameter() {
    let h = Harness::start(ServerConfig::new()).await;
    for (query, names) in [
        ("page=abc", "page"),
        ("start=-1", "start"),
        ("end=yesterday", "end"),
        ("orderby=size", "orderby"),
        ("page=1&page=2", "page"),
    ] {
        let m = expect_4xx(
            h.get(&format!("/v1/tasks?{query}")).await,
            StatusCode::BAD_REQUEST,
            1009,
        )
        .await;
        assert!(m.contains(names), "{query}: {m}");
    }
}

#[tokio::test]
async fn unknown_result_format_is_400_naming_it() {
    let h = Harness::start(ServerConfig::new()).await;
    for format in ["no_such_format", "python_pickle"] {
        let body = format!(r#"{{"query": "SELECT 1", "result_format": "{format}"}}"#);
        let m = expect_4xx(send(h.post_body(body)).await, StatusCode::BAD_REQUEST, 1010).await;
        assert!(m.contains(format), "{m}");
    }
}

#[tokio::test]
async fn ids_and_namespaces_carrying_path_traversal_are_refused() {
    let h = Harness::start(ServerConfig::new()).await;
    for path in [
        "/v1/task/..%2Ftasks.sqlite",
        "/v1/task/..%2F..%2Fetc%2Fpasswd/result",
        "/v1/task/..%5Cserver.lock",
    ] {
        expect_4xx(h.get(path).await, StatusCode::NOT_FOUND, 1005).await;
    }
    // A namespace is a file name on disk: traversal there is not one of the caller's namespaces.
    for ns in ["..%2Flocal", "local%2F..%2F..%2Fx"] {
        let resp = h.sql(ns, serde_json::json!({"query": "SELECT 1"})).await;
        expect_4xx(resp, StatusCode::FORBIDDEN, 1002).await;
    }
}

#[tokio::test]
async fn missing_or_garbage_auth_is_401() {
    let h = Harness::start(ServerConfig::new()).await;
    let url = h.url("/v1/tasks");
    let requests = [
        h.http.get(&url),
        h.http.get(&url).header(API_KEY_HEADER, "garbage"),
        h.http.get(&url).header(
            API_KEY_HEADER,
            reqwest::header::HeaderValue::from_bytes(b"\xff\xfe\x80").unwrap(),
        ),
        h.http
            .get(&url)
            .header("authorization", "Basic !!!not-base64"),
        h.http
            .get(&url)
            .header("authorization", "Bearer some-token"),
        h.http
            .get(&url)
            .basic_auth("local", Some("no-password-set")),
    ];
    for req in requests {
        expect_4xx(send(req).await, StatusCode::UNAUTHORIZED, 1001).await;
    }
    let m = expect_4xx(
        send(
            h.http
                .post(h.url("/v1/sql/local"))
                .json(&serde_json::json!({"query": "SELECT 1"})),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        1001,
    )
    .await;
    assert!(m.contains("missing credentials"), "{m}");
}

// ---------------------------------------------------------------------------------------------
// SQL sandbox escapes, through the SDK
// ---------------------------------------------------------------------------------------------

/// Runs `sql` through the SDK and expects the task FAILED by the sandbox, with `why` in its message.
async fn refused(client: &Client, sql: &str, why: &str) {
    match client.run_sql(NS, sql).await {
        Err(Error::TaskFailed(f)) if *f.status() == ArrayTaskStatus::Failed => {
            let m = f.message().unwrap_or_default();
            assert!(m.contains(why), "{sql}: {m}");
        }
        other => panic!("{sql}: expected the sandbox to refuse it, got {other:?}"),
    }
}

async fn sandboxed() -> (LocalServer, Client) {
    with_client(ServerConfig::new(), load_polls()).await
}

#[tokio::test]
async fn sandbox_refuses_attach() {
    let (_server, client) = sandboxed().await;
    refused(
        &client,
        "ATTACH DATABASE ':memory:' AS other",
        "ATTACH is not allowed",
    )
    .await;
    refused(&client, "DETACH DATABASE main", "").await;
}

/// In a sandbox of its own, `sql` is refused, with `why` in the failed task's message.
async fn refused_in_a_fresh_sandbox(sql: &str, why: &str) {
    let (_server, client) = sandboxed().await;
    refused(&client, sql, why).await;
}

cases! {
    async refused_in_a_fresh_sandbox;
    sandbox_refuses_load_extension: "SELECT load_extension('/tmp/evil.so')" => "load_extension",
    sandbox_refuses_pragma_writable_schema:
        "PRAGMA writable_schema = ON" => "PRAGMA writable_schema is not allowed",
    sandbox_refuses_pragma_temp_store_directory:
        "PRAGMA temp_store_directory = '/tmp'" => "PRAGMA temp_store_directory is not allowed",
}

#[tokio::test]
async fn sandbox_refuses_vacuum_into_a_file() {
    let (server, client) = sandboxed().await;
    let target = server.data_dir().join("copy.sqlite");
    let sql = format!("VACUUM INTO '{}'", target.display());
    refused(&client, &sql, "ATTACH is not allowed").await;
    assert!(!target.exists(), "no file was written");
}

#[tokio::test]
async fn writes_into_another_namespaces_database_are_refused() {
    let (server, client) = with_client(
        ServerConfig::new().user("alice", "alice-key", None, &["alice"]),
        load_polls(),
    )
    .await;
    let alice = client_as(&server, "alice-key", load_polls());
    alice
        .run_sql(
            "alice",
            SqlParameters::query("INSERT INTO secrets VALUES ('mine')")
                .init_command("CREATE TABLE secrets (v TEXT)"),
        )
        .await
        .unwrap();

    // Directly: not one of the caller's namespaces.
    let e = client
        .run_sql("alice", "INSERT INTO secrets VALUES ('theirs')")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::FORBIDDEN.as_u16()), "{e}");
    // Through her database file: ATTACH is refused.
    let file = server.data_dir().join("namespaces").join("alice.sqlite");
    assert!(
        file.exists(),
        "alice's database is where the sandbox must keep others out"
    );
    refused(
        &client,
        &format!("ATTACH DATABASE '{}' AS a", file.display()),
        "ATTACH is not allowed",
    )
    .await;
    // And the name `alice.secrets` means nothing in our own database.
    refused(
        &client,
        "INSERT INTO alice.secrets VALUES ('theirs')",
        "alice",
    )
    .await;

    let rows = alice
        .run_sql("alice", "SELECT v FROM secrets")
        .await
        .unwrap();
    assert_eq!(rows.json().unwrap(), serde_json::json!([{"v": "mine"}]));
}

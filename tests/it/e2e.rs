//! End to end: the SDK against a real `LocalServer` over 127.0.0.1, every route and every branch
//! of the flows a user meets (issue 5, "Must show").
//!
//! Slow queries use the server's `sleep(ms)` with a 20 ms poll interval, so real time passes but
//! only a little; assertions are on outcomes and poll counts, never on wall time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::Deserialize;

use crate::support::local::{all_tasks, client_as, fast_polls, with_client};
use crate::support::prelude::{
    ApiError, ArrayTaskStatus, ArrayTaskType, Client, Error, FileType, LocalServer, ResultFormat,
    ResultResponse, RetryPolicy, ServerConfig, SqlParameters, SqlResponse, SqlResult, TaskId,
    TaskList, TaskOrder, Update,
};

const NS: &str = "local";

/// A server, and an SDK client of its default user polling every 20 ms.
async fn start(config: ServerConfig) -> (LocalServer, Client) {
    with_client(config, fast_polls()).await
}

fn id_of(result: &SqlResult) -> TaskId {
    result
        .task_id()
        .cloned()
        .expect("the result names its task")
}

fn api_error(e: &Error) -> &ApiError {
    match e {
        Error::Api(a) => a,
        Error::Listing(l) => api_error(l.error()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn run_sql_waits_out_a_slow_query_through_202s_and_submits_it_once() {
    let (server, client) = start(ServerConfig::new()).await;
    let mut updates = client
        .run_sql(NS, "SELECT sleep(400) AS slept, 7 AS n")
        .updates();
    let (mut submitted, mut polled, mut finished) = (0, 0, None);
    while let Some(u) = updates.next().await {
        match u {
            Update::Submitted { .. } => submitted += 1,
            Update::Polled { attempt, .. } => {
                polled += 1;
                assert_eq!(attempt, polled, "polls are numbered in order");
            }
            Update::Finished(r) => finished = Some(r),
            other => panic!("unexpected update {other:?}"),
        }
    }
    assert_eq!(submitted, 1);
    assert!(
        polled >= 1,
        "the 400 ms query was polled while running (202)"
    );
    let result = finished.expect("a last update").expect("the rows");
    assert_eq!(
        result.json().unwrap(),
        serde_json::json!([{"slept": 400, "n": 7}])
    );
    let tasks = all_tasks(&client).await;
    assert_eq!(tasks.len(), 1, "one query, one task");
    assert_eq!(tasks[0].status, Some(ArrayTaskStatus::Completed));
    server.shutdown().await;
}

#[tokio::test]
async fn inline_mode_returns_rows_in_the_post_answer_and_stores_no_result() {
    let (server, client) = start(ServerConfig::new()).await;
    let result = client
        .run_sql(NS, "SELECT 'x' AS s, 2 AS i")
        .inline()
        .await
        .expect("inline rows");
    assert_eq!(
        result.json().unwrap(),
        serde_json::json!([{"s": "x", "i": 2}])
    );
    let id = id_of(&result);
    // Nothing was stored: resuming the completed task says so, typed.
    match client.task(id.clone()).await {
        Err(Error::ResultNotAvailable(r)) => assert_eq!(r.task_id(), &id),
        other => panic!("expected ResultNotAvailable, got {other:?}"),
    }
    // A statement without columns, inline: an empty result.
    let empty = client
        .run_sql(NS, "CREATE TABLE t (a INTEGER)")
        .inline()
        .await
        .expect("204 inline");
    assert!(empty.is_empty());
    // A failing inline query is the POST's own 400, carrying the task id and SQLite's message.
    let e = client
        .run_sql(NS, "SELECT * FROM nowhere")
        .inline()
        .await
        .unwrap_err();
    let a = api_error(&e);
    assert_eq!((a.status(), a.code()), (400, Some(1013)));
    assert!(
        a.message().contains("no such table: nowhere"),
        "{}",
        a.message()
    );
    assert!(e.task_id().is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn stored_result_is_fetched_again_by_id_through_task_handle_and_raw_api() {
    let (server, client) = start(ServerConfig::new()).await;
    let first = client
        .run_sql(NS, "SELECT 1 AS a UNION ALL SELECT 2")
        .await
        .unwrap();
    let id = id_of(&first);

    let again = client.task(id.clone()).await.expect("resumed by id");
    assert_eq!(again.bytes(), first.bytes());
    assert_eq!(again.task_id(), Some(&id));

    let mut updates = client.task(id.clone()).updates();
    assert!(matches!(updates.next().await, Some(Update::Resumed { task_id }) if task_id == id));
    assert!(matches!(
        updates.next().await,
        Some(Update::Finished(Ok(_)))
    ));

    match client.api().task_id_result_get(&id, None).await.unwrap() {
        ResultResponse::Ready { content_type, body } => {
            assert_eq!(content_type.as_deref(), Some("application/json"));
            assert_eq!(body, *first.bytes());
        }
        other => panic!("expected the stored result, got {other:?}"),
    }

    // The raw API's 202 branch: a detached slow query, looked at while it runs.
    let submitted = client
        .api()
        .run_sql(
            NS,
            &SqlParameters::query("SELECT sleep(2000)")
                .store_results(true)
                .dont_download_results(true),
            None,
        )
        .await
        .unwrap();
    let SqlResponse::NoContent {
        task_id: Some(slow),
    } = submitted
    else {
        panic!("a detached submission answers 204 with its id: {submitted:?}");
    };
    assert!(matches!(
        client.api().task_id_result_get(&slow, None).await.unwrap(),
        ResultResponse::Running { .. }
    ));
    let status = client.task(slow.clone()).status().await.unwrap().status;
    assert!(
        matches!(
            status,
            Some(ArrayTaskStatus::Queued | ArrayTaskStatus::Running)
        ),
        "{status:?}"
    );
    let streamed = client.task(slow).result_stream().await.unwrap();
    assert_eq!(
        streamed.collect().await.unwrap().json().unwrap(),
        serde_json::json!([{"sleep(2000)": 2000}])
    );
    server.shutdown().await;
}

#[tokio::test]
async fn expired_result_gives_result_not_available() {
    let (server, client) = start(ServerConfig::new().result_ttl(Duration::from_secs(3600))).await;
    let id = id_of(&client.run_sql(NS, "SELECT 1 AS a").await.unwrap());
    server.advance_clock(Duration::from_secs(3601));
    match client.task(id.clone()).await {
        Err(e @ Error::ResultNotAvailable { .. }) => {
            assert_eq!(e.task_id(), Some(&id));
            assert_eq!(e.status(), Some(404));
            assert!(e.request_id().is_some(), "the 404's body is kept");
        }
        other => panic!("expected ResultNotAvailable, got {other:?}"),
    }
    assert!(matches!(
        client.api().task_id_result_get(&id, None).await.unwrap(),
        ResultResponse::NotAvailable { body: Some(b) } if b.code == Some(1006)
    ));
    // The task itself is still there, completed.
    let task = client.api().task_id_get(&id).await.unwrap();
    assert_eq!(task.status, Some(ArrayTaskStatus::Completed));
    server.shutdown().await;
}

#[tokio::test]
async fn failed_query_gives_task_failed_with_sqlites_message() {
    let (server, client) = start(ServerConfig::new()).await;
    let e = client
        .run_sql(NS, "SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    match &e {
        Error::TaskFailed(f) => {
            assert_eq!(*f.status(), ArrayTaskStatus::Failed);
            let m = f.message().unwrap_or("");
            assert!(m.contains("no such table: no_such_table"), "{m}");
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
    assert!(!e.is_retryable());
    // Resumed by id, the same typed failure.
    let id = e.task_id().cloned().unwrap();
    assert!(matches!(
        client.task(id).await,
        Err(Error::TaskFailed(f)) if *f.status() == ArrayTaskStatus::Failed
    ));
    server.shutdown().await;
}

#[derive(Debug, Deserialize, PartialEq)]
struct Row {
    id: i64,
    name: Option<String>,
    score: Option<f64>,
    flag: Option<i64>,
}

#[tokio::test]
async fn typed_rows_keep_types_and_nulls() {
    let (server, client) = start(ServerConfig::new()).await;
    client
        .run_sql(
            NS,
            SqlParameters::query(
                "INSERT INTO people VALUES (1, 'ann', 1.5, 1), (2, NULL, NULL, NULL), (3, ?, ?, ?)",
            )
            .init_command("CREATE TABLE people (id INTEGER, name TEXT, score REAL, flag INTEGER)")
            .parameter("cy")
            .parameter(serde_json::Value::Null)
            .parameter(false),
        )
        .await
        .unwrap();
    let rows: Vec<Row> = client
        .run_sql(NS, "SELECT id, name, score, flag FROM people ORDER BY id")
        .await
        .unwrap()
        .rows()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            Row {
                id: 1,
                name: Some("ann".into()),
                score: Some(1.5),
                flag: Some(1)
            },
            Row {
                id: 2,
                name: None,
                score: None,
                flag: None
            },
            Row {
                id: 3,
                name: Some("cy".into()),
                score: None,
                flag: Some(0)
            },
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn task_id_get_reports_the_tasks_fields_and_404s_an_unknown_id() {
    let (server, client) = start(ServerConfig::new()).await;
    let result = client
        .run_sql(
            NS,
            SqlParameters::query("SELECT ? AS v")
                .parameter(5)
                .init_command("CREATE TABLE IF NOT EXISTS z (a)")
                .name("fields"),
        )
        .await
        .unwrap();
    let id = id_of(&result);
    let t = client.api().task_id_get(&id).await.unwrap();
    assert_eq!(t.id.as_deref(), Some(id.as_str()));
    assert_eq!(t.name.as_deref(), Some("fields"));
    assert_eq!(t.username.as_deref(), Some("local"));
    assert_eq!(t.namespace.as_deref(), Some(NS));
    assert_eq!(t.status, Some(ArrayTaskStatus::Completed));
    assert_eq!(t.task_type, Some(ArrayTaskType::Sql));
    assert_eq!(t.sql_query.as_deref(), Some("SELECT ? AS v"));
    assert_eq!(
        t.sql_init_commands,
        vec!["CREATE TABLE IF NOT EXISTS z (a)"]
    );
    assert_eq!(t.sql_parameters, vec![serde_json::json!(5)]);
    assert_eq!(t.result_format, Some(ResultFormat::Json));
    let (start, finish) = (t.start_time.unwrap(), t.finish_time.unwrap());
    assert!(start <= finish);
    assert!(t.run_time().is_some());

    let e = client.api().task_id_get("no-such-task").await.unwrap_err();
    assert_eq!(
        (api_error(&e).status(), api_error(&e).code()),
        (404, Some(1005))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn tasks_stream_applies_every_list_filter() {
    let config = ServerConfig::new()
        .user("alice", "alice-key", None, &["alice", "shared"])
        .user("bob", "bob-key", None, &["shared"]);
    let server = LocalServer::start(config).await.unwrap();
    let as_user = |key: &str| client_as(&server, key, fast_polls());
    let (alice, bob) = (as_user("alice-key"), as_user("bob-key"));

    let early = id_of(
        &alice
            .run_sql("alice", SqlParameters::query("SELECT 1").name("zeta"))
            .await
            .unwrap(),
    );
    let early_time = alice
        .api()
        .task_id_get(&early)
        .await
        .unwrap()
        .start_time
        .unwrap();
    server.advance_clock(Duration::from_secs(3600));
    let shared_a = id_of(
        &alice
            .run_sql(
                "shared",
                SqlParameters::query("SELECT 'needle'").name("alpha"),
            )
            .await
            .unwrap(),
    );
    let shared_b = id_of(
        &bob.run_sql("shared", SqlParameters::query("SELECT 2").name("mid"))
            .await
            .unwrap(),
    );
    // Unnamed: submitted through the one-shot call, which does not tag its submission as a
    // handle does.
    let failed = match bob
        .api()
        .run_sql(
            "shared",
            &SqlParameters::query("SELECT * FROM missing"),
            None,
        )
        .await
    {
        Ok(answer) => answer.task_id().cloned(),
        Err(e) => e.task_id().cloned(),
    }
    .unwrap();
    let late_time = alice
        .api()
        .task_id_get(&shared_a)
        .await
        .unwrap()
        .start_time
        .unwrap();

    let far = Utc::now() + chrono::Duration::days(3650);
    let ids = |q: TaskList| async move {
        let tasks: Vec<_> = q.end(far).stream().try_collect().await.unwrap();
        tasks
            .into_iter()
            .map(|t| TaskId::from(t.id.unwrap()))
            .collect::<Vec<_>>()
    };
    let mut everything = ids(alice.tasks()).await;
    everything.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut expected = vec![
        early.clone(),
        shared_a.clone(),
        shared_b.clone(),
        failed.clone(),
    ];
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(
        everything, expected,
        "alice sees her namespaces, bob's tasks in shared included"
    );
    assert_eq!(
        ids(bob.tasks()).await.len(),
        3,
        "bob does not see alice's namespace"
    );

    assert_eq!(
        ids(alice.tasks().namespace("alice")).await,
        vec![early.clone()]
    );
    assert!(
        ids(alice.tasks().namespace("local")).await.is_empty(),
        "invisible namespace: empty"
    );
    let mut by_bob = ids(alice.tasks().created_by("bob")).await;
    by_bob.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut bobs = vec![shared_b.clone(), failed.clone()];
    bobs.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(by_bob, bobs);
    assert!(
        ids(alice.tasks().array("tiledb://alice/arr"))
            .await
            .is_empty(),
        "SQL tasks have no array"
    );
    assert_eq!(ids(alice.tasks().start(late_time)).await.len(), 3);
    let only_early: Vec<_> = alice
        .tasks()
        .start(early_time)
        .end(early_time)
        .stream()
        .map_ok(|t| t.id.unwrap())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(only_early, vec![early.to_string()]);
    assert_eq!(
        ids(alice.tasks().task_type(ArrayTaskType::Sql)).await.len(),
        4
    );
    assert!(
        ids(alice.tasks().task_type(ArrayTaskType::Udf))
            .await
            .is_empty()
    );
    assert!(
        ids(alice.tasks().exclude_type(ArrayTaskType::Sql))
            .await
            .is_empty()
    );
    assert_eq!(
        ids(alice
            .tasks()
            .exclude_type(ArrayTaskType::Udf)
            .exclude_type(ArrayTaskType::Query))
        .await
        .len(),
        4
    );
    assert!(
        ids(alice.tasks().file_type(FileType::Notebook))
            .await
            .is_empty()
    );
    assert_eq!(
        ids(alice.tasks().exclude_file_type(FileType::Notebook))
            .await
            .len(),
        4
    );
    assert_eq!(
        ids(alice.tasks().status(ArrayTaskStatus::Failed)).await,
        vec![failed.clone()]
    );
    assert_eq!(
        ids(alice.tasks().status(ArrayTaskStatus::Completed))
            .await
            .len(),
        3
    );
    assert_eq!(
        ids(alice.tasks().search("NEEDLE")).await,
        vec![shared_a.clone()]
    );
    assert_eq!(
        ids(alice.tasks().search("ALP")).await,
        vec![shared_a.clone()],
        "name search"
    );
    // By name ascending, unnamed last; by start time newest first.
    assert_eq!(
        ids(alice.tasks().order_by(TaskOrder::Name)).await,
        vec![
            shared_a.clone(),
            shared_b.clone(),
            early.clone(),
            failed.clone()
        ]
    );
    assert_eq!(
        ids(alice.tasks().order_by(TaskOrder::StartTime))
            .await
            .last(),
        Some(&early)
    );
    // page: start from a later page.
    assert_eq!(
        ids(alice.tasks().order_by(TaskOrder::Name).per_page(1).page(3)).await,
        vec![early.clone(), failed.clone()]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn tasks_pagination_totals_and_many_small_pages_list_every_task_once() {
    let (server, client) = start(ServerConfig::new()).await;
    const N: usize = 23;
    for i in 0..N {
        let r = client
            .api()
            .run_sql(NS, &SqlParameters::query(format!("SELECT {i} AS i")), None)
            .await
            .unwrap();
        assert!(matches!(r, SqlResponse::Rows { .. }));
    }
    let far = Utc::now() + chrono::Duration::days(1);
    let first = client
        .tasks()
        .per_page(5)
        .end(far)
        .first_page()
        .await
        .unwrap();
    let meta = first.pagination_metadata.unwrap();
    assert_eq!(
        (meta.page, meta.per_page, meta.total_items, meta.total_pages),
        (Some(1), Some(5), Some(N as u64), Some(5))
    );
    assert_eq!(first.array_tasks.len(), 5);

    let pages: Vec<_> = client
        .tasks()
        .per_page(2)
        .end(far)
        .pages()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), N.div_ceil(2));
    let mut ids: Vec<String> = client
        .tasks()
        .per_page(2)
        .prefetch(3)
        .end(far)
        .stream()
        .map_ok(|t| t.id.unwrap())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids.len(), N);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N, "no task listed twice");
    // max_pages caps a listing with a typed error that says where to resume.
    let e = client
        .tasks()
        .per_page(2)
        .max_pages(3)
        .end(far)
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(e.resume_page(), Some(4));
    server.shutdown().await;
}

#[tokio::test]
async fn wrong_api_key_is_a_typed_401_on_every_route() {
    let (server, _) = start(ServerConfig::new()).await;
    let client = Client::builder()
        .host(server.base_url())
        .api_key("not-the-key")
        .build()
        .unwrap();
    let errors = vec![
        client.run_sql(NS, "SELECT 1").await.unwrap_err(),
        client.api().task_id_get("x").await.unwrap_err(),
        client.task("x").await.unwrap_err(),
        client
            .tasks()
            .stream()
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err(),
    ];
    for e in &errors {
        let a = api_error(e);
        assert_eq!((a.status(), a.code()), (401, Some(1001)), "{e}");
        assert!(!e.is_retryable());
        assert!(
            !e.to_string().contains("not-the-key"),
            "the key never shows: {e}"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn another_users_namespace_is_a_typed_403_and_records_nothing() {
    let (server, client) =
        start(ServerConfig::new().user("alice", "alice-key", None, &["alice"])).await;
    let e = client.run_sql("alice", "SELECT 1").await.unwrap_err();
    let a = api_error(&e);
    assert_eq!((a.status(), a.code()), (403, Some(1002)));
    assert!(e.task_id().is_none());
    assert!(all_tasks(&client).await.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn saturated_server_503_is_retried_after_retry_after_and_the_query_runs_once() {
    let (server, client) = start(
        ServerConfig::new()
            .max_concurrent_queries(1)
            .retry_after(Duration::from_millis(100)),
    )
    .await;
    // The 204 comes after the slot is taken: the server is saturated from here until it ends.
    let busy = client
        .api()
        .run_sql(
            NS,
            &SqlParameters::query("SELECT sleep(1200)")
                .store_results(true)
                .dont_download_results(true),
            None,
        )
        .await
        .unwrap();
    let busy = busy.task_id().cloned().unwrap();

    // Without retries, the 503 is typed, retryable, and names no task.
    let refusing = server
        .client_builder()
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let e = refusing.run_sql(NS, "SELECT 0").await.unwrap_err();
    let a = api_error(&e);
    assert_eq!((a.status(), a.code()), (503, Some(1011)));
    assert_eq!(
        a.retry_after(),
        Some(Duration::from_secs(1)),
        "rounded up to whole seconds"
    );
    assert!(e.is_retryable() && e.task_id().is_none());

    let refusals = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&refusals);
    let patient = server
        .client_builder()
        .poll_policy(fast_polls())
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(10)
                .classifier(move |o| {
                    if o.is_submission && o.status == Some(503) {
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                    None
                }),
        )
        .build()
        .unwrap();
    let rows = patient
        .run_sql(NS, "SELECT 42 AS x")
        .await
        .expect("through after the slot frees");
    assert_eq!(rows.json().unwrap(), serde_json::json!([{"x": 42}]));
    assert!(refusals.load(Ordering::SeqCst) >= 1, "it was refused first");

    let tasks = all_tasks(&client).await;
    assert_eq!(
        tasks.len(),
        2,
        "the slow task and the retried query, once: {tasks:?}"
    );
    assert_eq!(
        client.api().task_id_get(&busy).await.unwrap().status,
        Some(ArrayTaskStatus::Completed)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn completed_tasks_and_their_results_survive_shutdown_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        ServerConfig::new()
            .data_dir(dir.path())
            .api_key("restart-key")
    };
    let (server, client) = start(config()).await;
    client
        .run_sql(NS, "CREATE TABLE kept (v TEXT)")
        .await
        .unwrap();
    client
        .run_sql(NS, "INSERT INTO kept VALUES ('hello')")
        .await
        .unwrap();
    let stored = client.run_sql(NS, "SELECT v FROM kept").await.unwrap();
    let failed = client
        .run_sql(NS, "SELECT nope FROM kept")
        .await
        .unwrap_err();
    let (stored_id, failed_id) = (id_of(&stored), failed.task_id().cloned().unwrap());
    server.shutdown().await;

    let (server, client) = start(config()).await;
    let again = client
        .task(stored_id.clone())
        .await
        .expect("the stored result survives");
    assert_eq!(again.bytes(), stored.bytes());
    assert!(matches!(
        client.task(failed_id).await,
        Err(Error::TaskFailed(f)) if *f.status() == ArrayTaskStatus::Failed
    ));
    assert_eq!(all_tasks(&client).await.len(), 4);
    let rows = client.run_sql(NS, "SELECT v FROM kept").await.unwrap();
    assert_eq!(rows.json().unwrap(), serde_json::json!([{"v": "hello"}]));
    server.shutdown().await;
}

#[tokio::test]
async fn a_task_running_at_kill_comes_back_failed_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || ServerConfig::new().data_dir(dir.path()).api_key("kill-key");
    let (server, client) = start(config()).await;
    let done = id_of(&client.run_sql(NS, "SELECT 'before' AS w").await.unwrap());
    let running = client
        .api()
        .run_sql(
            NS,
            &SqlParameters::query("SELECT sleep(60000)")
                .store_results(true)
                .dont_download_results(true),
            None,
        )
        .await
        .unwrap()
        .task_id()
        .cloned()
        .unwrap();
    // A wait with a short deadline shows it running (202s), then times out with its id.
    let e = client
        .task(running.clone())
        .deadline(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Timeout(t) if t.polls() >= 2), "{e:?}");
    assert_eq!(e.task_id(), Some(&running));
    server.kill().await;

    let (server, client) = start(config()).await;
    match client.task(running.clone()).await {
        Err(Error::TaskFailed(f)) if *f.status() == ArrayTaskStatus::Failed => {
            assert_eq!(f.task_id(), &running);
            let m = f.message().unwrap_or_default();
            assert!(m.contains("stopped while the task was running"), "{m}");
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
    let before = client
        .task(done)
        .await
        .expect("the completed result survives a kill");
    assert_eq!(before.json().unwrap(), serde_json::json!([{"w": "before"}]));
    server.shutdown().await;
}

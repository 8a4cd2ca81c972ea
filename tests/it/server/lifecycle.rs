//! Saturation (503), restart, graceful shutdown, kill (simulated crash) and startup errors.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::POLL_STEP;
use crate::support::local::{Harness, expect_error, has_task_id, task_id};
use crate::support::prelude::{
    API_KEY_HEADER, ArrayTask, ArrayTaskStatus, LocalServer, ServerConfig, ServerError, Timing,
};

const RESULT_UNAVAILABLE: i64 = 1006;
const BUSY: i64 = 1011;
const QUERY_INTERRUPTED: i64 = 1017;

const STOPPED: &str = "the server stopped while the task was running";
const SHUT_DOWN: &str = "server shut down before the query finished";

fn persistent(dir: &std::path::Path) -> ServerConfig {
    ServerConfig::new().data_dir(dir).api_key("persistent-key")
}

/// The status of task `id` as written in `tasks.sqlite`, read behind the server's back.
fn status_on_disk(dir: &std::path::Path, id: &str) -> String {
    let conn = rusqlite::Connection::open(dir.join("tasks.sqlite")).unwrap();
    conn.query_row("SELECT status FROM tasks WHERE id = ?1", [id], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn saturated_server_answers_503_with_retry_after_and_records_nothing() {
    let h = Harness::start(
        ServerConfig::new()
            .max_concurrent_queries(1)
            .retry_after(Duration::from_millis(1500)),
    )
    .await;
    // The 204 comes after the slot is taken, so the server is saturated from here on.
    let busy = h.submit_detached("local", "SELECT sleep(1500)").await;

    for body in [
        json!({"query": "SELECT 1"}),
        json!({"query": "SELECT 1", "dont_download_results": true}),
    ] {
        let resp = h.sql("local", body).await;
        assert!(!has_task_id(&resp), "a refused submission creates no task");
        assert_eq!(resp.headers()["retry-after"], "2", "rounded up to seconds");
        let message = expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, BUSY).await;
        assert!(message.contains("not run"), "{message}");
    }
    let listed = h.list("").await;
    assert_eq!(listed.pagination_metadata.unwrap().total_items, Some(1));
    assert_eq!(listed.array_tasks[0].id.as_deref(), Some(busy.as_str()));

    // Once the task is done its slot is free again.
    h.wait_terminal(&busy).await;
    let resp = h.sql("local", json!({"query": "SELECT 1 AS a"})).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn restart_on_the_same_data_dir_keeps_tasks_results_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(persistent(dir.path()).timing(Timing::Holding)).await;
    let resp = h
        .sql("local", json!({"query": "CREATE TABLE kept (v TEXT)"}))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = h
        .sql(
            "local",
            json!({"query": "INSERT INTO kept VALUES ('hello')", "name": "insert"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = h
        .sql(
            "local",
            json!({
                "query": "SELECT v, ? AS p FROM kept",
                "parameters": [1.5],
                "init_commands": ["SELECT 1"],
                "store_results": true,
                "name": "select",
            }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let id = task_id(&resp);
    let rows = resp.text().await.unwrap();
    let failed = task_id(&h.sql("local", json!({"query": "SELECT nope"})).await);
    let before: ArrayTask = h.task(&id).await;
    let failed_before = h.task(&failed).await;
    let Harness { server, .. } = h;
    server.shutdown().await;

    let h = Harness::start(persistent(dir.path())).await;
    assert_eq!(h.task(&id).await, before, "every field survives");
    assert_eq!(h.task(&failed).await, failed_before);
    let resp = h.get(&format!("/v1/task/{id}/result")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), rows);
    assert_eq!(
        h.list("").await.pagination_metadata.unwrap().total_items,
        Some(4)
    );
    let resp = h.sql("local", json!({"query": "SELECT v FROM kept"})).await;
    assert_eq!(resp.text().await.unwrap(), r#"[{"v":"hello"}]"#);
    // New tasks still list newest first after the old ones.
    let new = task_id(&h.sql("local", json!({"query": "SELECT 1"})).await);
    assert_eq!(
        h.list("per_page=1").await.array_tasks[0].id.as_deref(),
        Some(new.as_str())
    );
}

#[tokio::test]
async fn shutdown_finishes_in_flight_answers_and_records_interrupted_tasks_failed() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(persistent(dir.path())).await;
    let detached = h.submit_detached("local", "SELECT sleep(60000)").await;
    h.wait_running(&detached).await;

    // A synchronous query, waiting for its answer when the shutdown begins.
    let (http, url, key) = (h.http.clone(), h.url("/v1/sql/local"), h.key.clone());
    let inline = tokio::spawn(async move {
        http.post(url)
            .header(API_KEY_HEADER, key)
            .json(&json!({"query": "SELECT sleep(60000)"}))
            .send()
            .await
    });
    h.list_until("status=RUNNING", |d| d.array_tasks.len() == 2)
        .await
        .expect("both queries are running");

    let Harness { server, .. } = h;
    // Not a timing assertion: a guard shorter than the queries' own 60 s, so a shutdown that
    // waited for them (instead of interrupting them) fails here rather than passing slowly. The
    // interruption itself is shown below by the tasks' status and message.
    tokio::time::timeout(Duration::from_secs(45), server.shutdown())
        .await
        .expect("shutdown interrupted the running queries instead of waiting for them");

    // The in-flight answer completed: an error naming the shutdown, with the task id.
    let resp = inline.await.unwrap().expect("answer delivered");
    let inline_id = task_id(&resp);
    let message = expect_error(resp, StatusCode::INTERNAL_SERVER_ERROR, QUERY_INTERRUPTED).await;
    assert_eq!(message, SHUT_DOWN);

    // Both tasks were recorded FAILED before shutdown returned.
    assert_eq!(status_on_disk(dir.path(), &detached), "FAILED");
    assert_eq!(status_on_disk(dir.path(), &inline_id), "FAILED");
    let h = Harness::start(persistent(dir.path())).await;
    for id in [&detached, &inline_id] {
        let task = h.task(id).await;
        assert_eq!(task.status, Some(ArrayTaskStatus::Failed));
        assert_eq!(task.status_message.as_deref(), Some(SHUT_DOWN));
    }
}

#[tokio::test]
async fn kill_writes_nothing_more_and_restart_fails_the_running_task() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(persistent(dir.path())).await;
    let id = h.submit_detached("local", "SELECT sleep(60000)").await;
    h.wait_running(&id).await;
    let Harness { server, .. } = h;
    server.kill().await;

    // The interrupted query does not get to record anything: the task stays RUNNING on disk,
    // as after a crash. (Checked over a window, since the worker stops within milliseconds.)
    for _ in 0..30 {
        assert_eq!(status_on_disk(dir.path(), &id), "RUNNING");
        tokio::time::sleep(POLL_STEP).await;
    }

    let h = Harness::start(persistent(dir.path())).await;
    let task = h.task(&id).await;
    assert_eq!(task.status, Some(ArrayTaskStatus::Failed));
    assert_eq!(task.status_message.as_deref(), Some(STOPPED));
    let resp = h.get(&format!("/v1/task/{id}/result")).await;
    expect_error(resp, StatusCode::NOT_FOUND, RESULT_UNAVAILABLE).await;
}

#[tokio::test]
async fn kill_stops_serving_at_once() {
    let h = Harness::default().await;
    let (http, url, key) = (h.http.clone(), h.url("/v1/sql/local"), h.key.clone());
    let pending = tokio::spawn(async move {
        http.post(url)
            .header(API_KEY_HEADER, key)
            .json(&json!({"query": "SELECT sleep(60000)"}))
            .send()
            .await
    });
    h.list_until("status=RUNNING", |d| d.array_tasks.len() == 1)
        .await
        .expect("the query is running");
    let addr = h.server.addr();
    let Harness { server, http, .. } = h;
    server.kill().await;

    // The waiting request is cut off (no answer), quickly.
    let outcome = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("the open request ends at once")
        .unwrap();
    assert!(outcome.is_err(), "no answer after a kill: {outcome:?}");
    // Nobody listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert!(
        http.get(format!("http://{addr}/v1/tasks"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn start_fails_with_a_message_naming_the_problem() {
    let running = Harness::default().await;
    let addr = running.server.addr();
    let err = LocalServer::start(ServerConfig::new().listen(addr))
        .await
        .unwrap_err();
    assert!(matches!(err, ServerError::Bind { .. }), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");

    let file = tempfile::NamedTempFile::new().unwrap();
    let err = LocalServer::start(ServerConfig::new().data_dir(file.path()))
        .await
        .unwrap_err();
    assert!(matches!(err, ServerError::DataDir { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&file.path().display().to_string()),
        "{err}"
    );

    let err = LocalServer::start(ServerConfig::new().user("eve", "k", None, &["../escape"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("../escape"), "{err}");

    let err = LocalServer::start(ServerConfig::new().api_key("shared-secret").user(
        "eve",
        "shared-secret",
        None,
        &["eve"],
    ))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("same API key"), "{err}");
    assert!(!err.to_string().contains("shared-secret"), "{err}");

    let err = LocalServer::start(ServerConfig::new().user("eve", "k", None, &["LOCAL"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("differ only by case"), "{err}");

    let err = LocalServer::start(ServerConfig::new().max_concurrent_queries(0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_concurrent_queries"), "{err}");
}

#[tokio::test]
async fn a_client_that_hangs_up_does_not_orphan_its_task() {
    // Holding: the client hangs up while its POST is held.
    let h = Harness::start(ServerConfig::new().timing(Timing::Holding)).await;
    let (http, url, key) = (h.http.clone(), h.url("/v1/sql/local"), h.key.clone());
    let request = tokio::spawn(async move {
        http.post(url)
            .header(API_KEY_HEADER, key)
            .json(&json!({"query": "SELECT sleep(500) AS s", "store_results": true}))
            .send()
            .await
    });
    let id = h
        .list_until("status=RUNNING", |d| !d.array_tasks.is_empty())
        .await
        .and_then(|d| d.array_tasks[0].id.clone())
        .expect("the query runs");
    request.abort();

    let task = h.wait_terminal(&id).await;
    assert_eq!(task.status, Some(ArrayTaskStatus::Completed));
    let resp = h.get(&format!("/v1/task/{id}/result")).await;
    assert_eq!(resp.text().await.unwrap(), r#"[{"s":500}]"#);
}

#[tokio::test]
async fn a_data_dir_serves_one_server_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = Harness::start(persistent(dir.path())).await;
    let id = first.submit_detached("local", "SELECT sleep(60000)").await;
    first.wait_running(&id).await;

    let err = LocalServer::start(persistent(dir.path()))
        .await
        .unwrap_err();
    assert!(matches!(err, ServerError::DataDir { .. }), "{err:?}");
    assert!(err.to_string().contains("another running server"), "{err}");
    // The refused server did not touch the first one's running task.
    assert_eq!(status_on_disk(dir.path(), &id), "RUNNING");
    assert_eq!(first.task(&id).await.status, Some(ArrayTaskStatus::Running));

    let Harness { server, .. } = first;
    server.shutdown().await;
    let second = Harness::start(persistent(dir.path())).await;
    assert_eq!(second.task(&id).await.status, Some(ArrayTaskStatus::Failed));
}

#[test]
fn server_types_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<LocalServer>();
    shareable::<ServerConfig>();
    shareable::<ServerError>();
    fn error<E: std::error::Error>() {}
    error::<ServerError>();
}

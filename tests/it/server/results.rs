//! `GET /v1/task/{id}` and `GET /v1/task/{id}/result`: detached tasks, stored results, expiry.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::local::{Harness, expect_error, task_id};
use crate::support::prelude::{
    ArrayTaskStatus, ArrayTaskType, ResultFormat, ServerConfig, TASK_ID_HEADER, Timing,
};
use crate::support::{POLL_STEPS, poll_until};

const TASK_NOT_FOUND: i64 = 1005;
const RESULT_UNAVAILABLE: i64 = 1006;

#[tokio::test]
async fn detached_query_answers_204_then_202_while_running_then_200() {
    let h = Harness::default().await;
    let id = h
        .submit_detached("local", "SELECT sleep(1500) AS slept, 'done' AS state")
        .await;

    // The query sleeps 1.5 s: right after the 204 the result is not there yet.
    let resp = h.get(&format!("/v1/task/{id}/result")).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(resp.headers()[TASK_ID_HEADER], id.as_str());
    assert!(resp.bytes().await.unwrap().is_empty());
    let status = h.task(&id).await.status.unwrap();
    assert!(
        matches!(status, ArrayTaskStatus::Queued | ArrayTaskStatus::Running),
        "{status}"
    );

    let resp = poll_until(POLL_STEPS, || async {
        let resp = h.get(&format!("/v1/task/{id}/result")).await;
        match resp.status() {
            StatusCode::ACCEPTED => None,
            StatusCode::OK => Some(resp),
            other => panic!("unexpected status {other}"),
        }
    })
    .await
    .expect("the result arrives");
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(
        resp.text().await.unwrap(),
        r#"[{"slept":1500,"state":"done"}]"#
    );
    let task = h.task(&id).await;
    assert_eq!(task.status, Some(ArrayTaskStatus::Completed));
    assert!(task.run_time().unwrap() >= Duration::from_millis(1500));
}

#[tokio::test]
async fn detached_failure_is_recorded_on_the_task() {
    let h = Harness::default().await;
    let id = h.submit_detached("local", "SELECT * FROM missing").await;
    let task = h.wait_terminal(&id).await;
    assert_eq!(task.status, Some(ArrayTaskStatus::Failed));
    assert_eq!(
        task.status_message.as_deref(),
        Some("no such table: missing")
    );
    // A failed task has no result; the client then looks the task up.
    let resp = h.get(&format!("/v1/task/{id}/result")).await;
    let message = expect_error(resp, StatusCode::NOT_FOUND, RESULT_UNAVAILABLE).await;
    assert!(message.contains("failed"), "{message}");
}

#[tokio::test]
async fn stored_result_is_fetched_by_task_id() {
    // Holding: the rows come with the answer and are stored too.
    let h = Harness::start(ServerConfig::new().timing(Timing::Holding)).await;
    let resp = h
        .sql(
            "local",
            json!({"query": "SELECT 1 AS a, 'x' AS b", "store_results": true}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let id = task_id(&resp);
    let inline = resp.text().await.unwrap();

    let resp = h.get(&format!("/v1/task/{id}/result")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.text().await.unwrap(), inline);
}

#[tokio::test]
async fn statement_without_columns_stores_an_empty_result() {
    let h = Harness::default().await;
    let id = h.submit_detached("local", "CREATE TABLE t (a)").await;
    h.wait_terminal(&id).await;
    let resp = h.get(&format!("/v1/task/{id}/result")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "[]");
}

#[tokio::test]
async fn result_not_stored_is_404() {
    let h = Harness::default().await;
    let resp = h.sql("local", json!({"query": "SELECT 1"})).await;
    let id = task_id(&resp);
    let resp = h.get(&format!("/v1/task/{id}/result")).await;
    assert_eq!(resp.headers()[TASK_ID_HEADER], id.as_str());
    let message = expect_error(resp, StatusCode::NOT_FOUND, RESULT_UNAVAILABLE).await;
    assert!(message.contains("store_results"), "{message}");
}

#[tokio::test]
async fn stored_result_expires_after_the_ttl() {
    let h = Harness::start(
        ServerConfig::new()
            .result_ttl(Duration::from_secs(3600))
            .timing(Timing::Holding),
    )
    .await;
    let resp = h
        .sql(
            "local",
            json!({"query": "SELECT 1 AS a", "store_results": true}),
        )
        .await;
    let id = task_id(&resp);
    h.server.advance_clock(Duration::from_secs(3500));
    assert_eq!(
        h.get(&format!("/v1/task/{id}/result")).await.status(),
        StatusCode::OK
    );
    h.server.advance_clock(Duration::from_secs(200));
    let resp = h.get(&format!("/v1/task/{id}/result")).await;
    let message = expect_error(resp, StatusCode::NOT_FOUND, RESULT_UNAVAILABLE).await;
    assert!(message.contains("expired"), "{message}");
    // The task itself is still there.
    assert_eq!(h.task(&id).await.status, Some(ArrayTaskStatus::Completed));
}

#[tokio::test]
async fn unknown_and_path_like_ids_are_404() {
    let h = Harness::default().await;
    for id in [
        "00000000-0000-0000-0000-000000000000",
        "..%2F..%2Fetc%2Fpasswd",
        "..%2Ftasks.sqlite",
        "%00",
    ] {
        for path in [format!("/v1/task/{id}"), format!("/v1/task/{id}/result")] {
            let resp = h.get(&path).await;
            expect_error(resp, StatusCode::NOT_FOUND, TASK_NOT_FOUND).await;
        }
    }
}

#[tokio::test]
async fn task_lookup_reports_every_field_the_server_fills() {
    let h = Harness::default().await;
    let resp = h
        .sql(
            "local",
            json!({
                "name": "nightly report",
                "query": "SELECT ? + x AS y FROM (SELECT 1 AS x)",
                "init_commands": ["SELECT 1"],
                "parameters": [41],
                "result_format": "json",
                "task_graph_uuid": "graph-1",
                "client_node_uuid": "node-1",
            }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let id = task_id(&resp);

    let raw: Value = h.get(&format!("/v1/task/{id}")).await.json().await.unwrap();
    // `logs` is always present (x-omitempty: false), even empty.
    assert_eq!(raw["logs"], "");
    assert_eq!(raw["cost"], 0.0);
    assert_eq!(raw["type"], "SQL");

    let task = h.task(&id).await;
    assert_eq!(task.id.as_deref(), Some(id.as_str()));
    assert_eq!(task.name.as_deref(), Some("nightly report"));
    assert_eq!(task.username.as_deref(), Some("local"));
    assert_eq!(task.namespace.as_deref(), Some("local"));
    assert_eq!(task.status, Some(ArrayTaskStatus::Completed));
    assert_eq!(task.status_message, None);
    assert_eq!(task.task_type, Some(ArrayTaskType::Sql));
    assert_eq!(
        task.sql_query.as_deref(),
        Some("SELECT ? + x AS y FROM (SELECT 1 AS x)")
    );
    assert_eq!(task.sql_init_commands, vec!["SELECT 1".to_owned()]);
    assert_eq!(task.sql_parameters, vec![json!(41)]);
    assert_eq!(task.result_format, Some(ResultFormat::Json));
    assert_eq!(task.task_graph_uuid.as_deref(), Some("graph-1"));
    assert_eq!(task.client_node_uuid.as_deref(), Some("node-1"));
    assert_eq!(task.cost, Some(0.0));
    let start = task.start_time.unwrap();
    let finish = task.finish_time.unwrap();
    assert!(start <= finish);
    assert!(task.duration.unwrap() > 0);
}

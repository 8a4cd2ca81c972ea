//! `POST /v1/sql/{namespace}`: rows, statements, failures, parameters, init commands, the
//! sandbox and the limits.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::local::{Harness, content_type, expect_error, has_task_id, task_id};
use crate::support::prelude::{ArrayTaskStatus, ResultFormat, ServerConfig};

const INVALID_PARAMETER: i64 = 1009;
const UNSUPPORTED_FORMAT: i64 = 1010;
const QUERY_FAILED: i64 = 1013;
const NOT_AUTHORIZED: i64 = 1014;
const QUERY_TIMEOUT: i64 = 1015;
const RESULT_TOO_LARGE: i64 = 1016;

/// Runs `query` synchronously and expects it to be refused by the sandbox; returns the message
/// recorded on the task.
async fn expect_refused(h: &Harness, query: &str) -> String {
    let resp = h.sql("local", json!({ "query": query })).await;
    let id = task_id(&resp);
    let message = expect_error(resp, StatusCode::BAD_REQUEST, NOT_AUTHORIZED).await;
    assert!(message.starts_with("not authorized"), "{message}");
    let task = h.task(&id).await;
    assert_eq!(task.status, Some(ArrayTaskStatus::Failed));
    assert_eq!(task.status_message.as_deref(), Some(message.as_str()));
    message
}

#[tokio::test]
async fn select_returns_typed_rows_with_nulls_in_column_order() {
    let h = Harness::default().await;
    let resp = h
        .sql(
            "local",
            json!({
                "query": "SELECT 3 AS zeta, 1.25 AS alpha, 'it''s \"x\"' AS mid, NULL AS absent, \
                          x'DEADBEEF' AS bin, 9007199254740993 AS big \
                          UNION ALL SELECT -1, 0.5, '', NULL, NULL, 0",
                "result_format": "json",
            }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(content_type(&resp), "application/json");
    let id = task_id(&resp);
    // Column order is the query's, not alphabetical; integers stay exact.
    assert_eq!(
        resp.text().await.unwrap(),
        r#"[{"zeta":3,"alpha":1.25,"mid":"it's \"x\"","absent":null,"bin":"3q2+7w==","big":9007199254740993},{"zeta":-1,"alpha":0.5,"mid":"","absent":null,"bin":null,"big":0}]"#
    );
    let task = h.task(&id).await;
    assert_eq!(task.status, Some(ArrayTaskStatus::Completed));
}

#[tokio::test]
async fn select_without_rows_returns_an_empty_array() {
    let h = Harness::default().await;
    let resp = h
        .sql("local", json!({"query": "SELECT 1 AS a WHERE 0"}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "[]");
}

#[tokio::test]
async fn result_format_defaults_to_json() {
    let h = Harness::default().await;
    let resp = h.sql("local", json!({"query": "SELECT 1 AS a"})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(content_type(&resp), "application/json");
    let task = h.task(&task_id(&resp)).await;
    assert_eq!(task.result_format, Some(ResultFormat::Json));
}

#[tokio::test]
async fn statements_without_columns_answer_204_with_the_task_id() {
    let h = Harness::default().await;
    for query in [
        "CREATE TABLE t (a INTEGER, b TEXT)",
        "INSERT INTO t VALUES (1, 'one'), (2, 'two')",
        "UPDATE t SET b = 'uno' WHERE a = 1",
    ] {
        let resp = h.sql("local", json!({ "query": query })).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{query}");
        let id = task_id(&resp);
        assert!(resp.bytes().await.unwrap().is_empty());
        assert_eq!(h.task(&id).await.status, Some(ArrayTaskStatus::Completed));
    }
    let resp = h
        .sql("local", json!({"query": "SELECT b FROM t ORDER BY a"}))
        .await;
    assert_eq!(resp.text().await.unwrap(), r#"[{"b":"uno"},{"b":"two"}]"#);
    // DML with RETURNING has columns, so it answers rows.
    let resp = h
        .sql(
            "local",
            json!({"query": "DELETE FROM t WHERE a = 2 RETURNING a"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), r#"[{"a":2}]"#);
}

#[tokio::test]
async fn failed_sql_answers_400_with_task_id_and_records_sqlites_message() {
    let h = Harness::default().await;
    let resp = h
        .sql("local", json!({"query": "SELECT * FROM no_such_table"}))
        .await;
    let id = task_id(&resp);
    let message = expect_error(resp, StatusCode::BAD_REQUEST, QUERY_FAILED).await;
    assert_eq!(message, "no such table: no_such_table");
    let task = h.task(&id).await;
    assert_eq!(task.status, Some(ArrayTaskStatus::Failed));
    assert_eq!(task.status_message.as_deref(), Some(message.as_str()));
    assert!(task.finish_time.is_some());

    let resp = h.sql("local", json!({"query": "SELEC 1"})).await;
    let id = task_id(&resp);
    let message = expect_error(resp, StatusCode::BAD_REQUEST, QUERY_FAILED).await;
    assert_eq!(message, "near \"SELEC\": syntax error");
    assert_eq!(
        h.task(&id).await.status_message.as_deref(),
        Some(message.as_str())
    );
}

#[tokio::test]
async fn parameters_are_bound_to_placeholders_in_order() {
    let h = Harness::default().await;
    let parameters = json!([42, 2.5, "text", null, true, false]);
    let resp = h
        .sql(
            "local",
            json!({
                "query": "SELECT ? AS i, ? AS r, ? AS s, ? AS n, ? AS t, ? AS f",
                "parameters": parameters,
            }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let id = task_id(&resp);
    assert_eq!(
        resp.text().await.unwrap(),
        r#"[{"i":42,"r":2.5,"s":"text","n":null,"t":1,"f":0}]"#
    );
    let task = h.task(&id).await;
    assert_eq!(Value::from(task.sql_parameters), parameters);
}

#[tokio::test]
async fn unbindable_parameters_are_refused_before_a_task_exists() {
    let h = Harness::default().await;
    for bad in [json!([[1, 2]]), json!([{"a": 1}])] {
        let resp = h
            .sql("local", json!({"query": "SELECT ?", "parameters": bad}))
            .await;
        assert!(!has_task_id(&resp));
        let message = expect_error(resp, StatusCode::BAD_REQUEST, INVALID_PARAMETER).await;
        assert!(message.contains("parameters[0]"), "{message}");
    }
    assert_eq!(
        h.list("").await.pagination_metadata.unwrap().total_items,
        Some(0)
    );
}

#[tokio::test]
async fn wrong_parameter_count_fails_the_task() {
    let h = Harness::default().await;
    let resp = h
        .sql("local", json!({"query": "SELECT ?, ?", "parameters": [1]}))
        .await;
    let id = task_id(&resp);
    let message = expect_error(resp, StatusCode::BAD_REQUEST, QUERY_FAILED).await;
    assert!(
        message.contains("2 placeholder(s) but 1 parameter(s)"),
        "{message}"
    );
    assert_eq!(h.task(&id).await.status, Some(ArrayTaskStatus::Failed));
}

#[tokio::test]
async fn init_commands_run_first_on_the_same_connection() {
    let h = Harness::default().await;
    let init = json!([
        "CREATE TEMP TABLE scratch (x INTEGER)",
        "INSERT INTO scratch VALUES (1); INSERT INTO scratch VALUES (2)",
    ]);
    let resp = h
        .sql(
            "local",
            json!({
                "query": "SELECT sum(x) AS total FROM scratch",
                "init_commands": init,
            }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let id = task_id(&resp);
    assert_eq!(resp.text().await.unwrap(), r#"[{"total":3}]"#);
    assert_eq!(Value::from(h.task(&id).await.sql_init_commands), init);

    // The TEMP table belonged to that task's connection only.
    let resp = h
        .sql("local", json!({"query": "SELECT * FROM scratch"}))
        .await;
    let message = expect_error(resp, StatusCode::BAD_REQUEST, QUERY_FAILED).await;
    assert!(message.contains("no such table"), "{message}");
}

#[tokio::test]
async fn failing_init_command_is_named_in_the_message() {
    let h = Harness::default().await;
    let resp = h
        .sql(
            "local",
            json!({"query": "SELECT 1", "init_commands": ["SELECT 1", "BOGUS"]}),
        )
        .await;
    let message = expect_error(resp, StatusCode::BAD_REQUEST, QUERY_FAILED).await;
    assert!(message.starts_with("init_commands[1]: "), "{message}");
}

#[tokio::test]
async fn query_must_be_a_single_statement() {
    let h = Harness::default().await;
    let resp = h
        .sql("local", json!({"query": "CREATE TABLE a (x); SELECT 1"}))
        .await;
    let message = expect_error(resp, StatusCode::BAD_REQUEST, QUERY_FAILED).await;
    assert!(message.contains("init_commands"), "{message}");
    // A trailing semicolon is still one statement.
    let resp = h.sql("local", json!({"query": "SELECT 1 AS a;"})).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn missing_query_and_output_uri_are_refused_before_a_task_exists() {
    let h = Harness::default().await;
    for body in [
        json!({}),
        json!({"query": "   "}),
        json!({"query": "SELECT 1", "output_uri": "tiledb://local/out"}),
    ] {
        let resp = h.sql("local", body).await;
        assert!(!has_task_id(&resp));
        expect_error(resp, StatusCode::BAD_REQUEST, INVALID_PARAMETER).await;
    }
}

#[tokio::test]
async fn formats_the_server_cannot_produce_are_400_naming_the_format() {
    let h = Harness::default().await;
    // Arrow is produced only when the crate is built with the `arrow` feature.
    let formats: &[&str] = if cfg!(feature = "arrow") {
        &["python_pickle", "some_future_format"]
    } else {
        &["arrow", "python_pickle", "some_future_format"]
    };
    for &format in formats {
        let resp = h
            .sql(
                "local",
                json!({"query": "SELECT 1", "result_format": format}),
            )
            .await;
        assert!(!has_task_id(&resp));
        let message = expect_error(resp, StatusCode::BAD_REQUEST, UNSUPPORTED_FORMAT).await;
        assert!(message.contains(format), "{message}");
    }
}

#[tokio::test]
async fn namespaces_have_separate_databases() {
    let h = Harness::start(ServerConfig::new().user("multi", "multi-key", None, &["a", "b"])).await;
    let resp = h
        .sql_as(
            "multi-key",
            "a",
            json!({"query": "CREATE TABLE only_in_a (x)"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = h
        .sql_as(
            "multi-key",
            "b",
            json!({"query": "SELECT * FROM only_in_a"}),
        )
        .await;
    let message = expect_error(resp, StatusCode::BAD_REQUEST, QUERY_FAILED).await;
    assert!(message.contains("no such table"), "{message}");
    assert!(h.server.data_dir().join("namespaces/a.sqlite").exists());
}

#[tokio::test]
async fn attach_is_refused() {
    let h = Harness::default().await;
    let other = h.server.data_dir().join("namespaces/other.sqlite");
    let message = expect_refused(
        &h,
        &format!("ATTACH DATABASE '{}' AS other", other.display()),
    )
    .await;
    assert!(message.contains("ATTACH"), "{message}");
    assert!(!other.exists());
}

#[tokio::test]
async fn load_extension_is_refused() {
    let h = Harness::default().await;
    let message = expect_refused(&h, "SELECT load_extension('/tmp/libevil.so')").await;
    assert!(message.contains("load_extension"), "{message}");
}

#[tokio::test]
async fn unsafe_pragmas_are_refused_and_read_only_ones_allowed() {
    let h = Harness::default().await;
    for pragma in [
        "PRAGMA writable_schema = 1",
        "PRAGMA temp_store_directory = '/tmp'",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA user_version = 5",
        "PRAGMA database_list",
    ] {
        let message = expect_refused(&h, pragma).await;
        assert!(message.contains("PRAGMA"), "{message}");
    }
    let resp = h
        .sql("local", json!({"query": "CREATE TABLE t (a, b)"}))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    for pragma in ["PRAGMA table_info(t)", "PRAGMA user_version"] {
        let resp = h.sql("local", json!({ "query": pragma })).await;
        assert_eq!(resp.status(), StatusCode::OK, "{pragma}");
    }
}

#[tokio::test]
async fn vacuum_into_is_refused_and_writes_no_file() {
    let h = Harness::default().await;
    let target = tempfile::tempdir().unwrap();
    let copy = target.path().join("copy.sqlite");
    let message = expect_refused(&h, &format!("VACUUM INTO '{}'", copy.display())).await;
    assert!(message.contains("VACUUM"), "{message}");
    assert!(!copy.exists());
}

#[tokio::test]
async fn slow_query_fails_at_the_time_limit_with_a_clear_message() {
    let h = Harness::start(ServerConfig::new().query_timeout(Duration::from_millis(300))).await;
    let resp = h
        .sql(
            "local",
            // Longer than any clock can represent: sleeps until interrupted.
            json!({"query": "SELECT sleep(9223372036854775807) AS s"}),
        )
        .await;
    let id = task_id(&resp);
    let message = expect_error(resp, StatusCode::BAD_REQUEST, QUERY_TIMEOUT).await;
    assert_eq!(message, "query exceeded the time limit of 300 ms");
    let task = h.task(&id).await;
    assert_eq!(task.status, Some(ArrayTaskStatus::Failed));
    assert_eq!(task.status_message.as_deref(), Some(message.as_str()));
    // It stopped at the limit.
    assert!(task.run_time().unwrap() < Duration::from_secs(10));
}

#[tokio::test]
async fn cpu_bound_query_is_interrupted_at_the_time_limit() {
    let h = Harness::start(ServerConfig::new().query_timeout(Duration::from_millis(300))).await;
    let resp = h
        .sql(
            "local",
            json!({"query": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                             SELECT count(*) FROM c"}),
        )
        .await;
    let message = expect_error(resp, StatusCode::BAD_REQUEST, QUERY_TIMEOUT).await;
    assert!(message.contains("time limit"), "{message}");
}

#[tokio::test]
async fn oversized_result_fails_the_task_with_the_limit_in_the_message() {
    let h = Harness::start(ServerConfig::new().max_result_bytes(1000)).await;
    let resp = h
        .sql(
            "local",
            json!({"query": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                             WHERE x < 1000) SELECT x FROM c"}),
        )
        .await;
    let id = task_id(&resp);
    let message = expect_error(resp, StatusCode::BAD_REQUEST, RESULT_TOO_LARGE).await;
    assert!(message.contains("result exceeds 1000 bytes"), "{message}");
    let task = h.task(&id).await;
    assert_eq!(task.status, Some(ArrayTaskStatus::Failed));
    assert_eq!(task.status_message.as_deref(), Some(message.as_str()));

    // A result under the limit is fine.
    let resp = h.sql("local", json!({"query": "SELECT 1 AS a"})).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

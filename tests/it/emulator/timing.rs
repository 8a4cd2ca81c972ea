//! Timing modes: `Holding` answers the POST when the query has finished, as TileDB Cloud does;
//! `Detached` (the default) answers at once when the result can be had later; a request header
//! overrides the server's mode.

use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::local::{Harness, fast_polls, task_id, with_client};
use crate::support::prelude::{
    API_KEY_HEADER, ArrayTaskStatus, Error, ServerConfig, TIMING_HEADER, Timing, Update,
};

/// The requests the server's journal holds, as `METHOD PATH`.
fn requests(server: &crate::support::prelude::LocalServer) -> Vec<String> {
    server.journal().iter().map(|e| e.request()).collect()
}

#[tokio::test]
async fn holding_a_2_s_query_the_post_returns_after_it_finished_with_its_rows() {
    let h = Harness::start(ServerConfig::new().timing(Timing::Holding)).await;
    // The SDK's stored submission: the result kept, the rows asked for with the answer.
    let resp = h
        .sql(
            "local",
            json!({"query": "SELECT sleep(2000) AS slept", "store_results": true,
                   "dont_download_results": false}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let id = task_id(&resp);
    assert_eq!(resp.text().await.unwrap(), r#"[{"slept":2000}]"#);
    // When the answer came, the task had finished, after at least the 2 s it slept.
    let task = h.task(&id).await;
    assert_eq!(task.status, Some(ArrayTaskStatus::Completed));
    assert!(task.finish_time.is_some());
    assert!(
        task.duration.unwrap_or(0) >= 2_000_000_000,
        "{:?}",
        task.duration
    );

    // `dont_download_results` holds too, then answers 204 naming the finished task.
    let resp = h
        .sql(
            "local",
            json!({"query": "SELECT sleep(200) AS s", "store_results": true,
                   "dont_download_results": true}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let task = h.task(&task_id(&resp)).await;
    assert_eq!(task.status, Some(ArrayTaskStatus::Completed));
}

#[tokio::test]
async fn holding_run_sql_of_a_2_s_query_resolves_with_zero_polls() {
    let (server, client) =
        with_client(ServerConfig::new().timing(Timing::Holding), fast_polls()).await;
    let mut updates = client
        .run_sql("local", "SELECT sleep(2000) AS slept")
        .updates();
    let mut seen = Vec::new();
    while let Some(update) = updates.next().await {
        seen.push(update);
    }
    assert!(
        !seen.iter().any(|u| matches!(u, Update::Polled { .. })),
        "{seen:?}"
    );
    let Some(Update::Finished(Ok(result))) = seen.pop() else {
        panic!("the last update is the result: {seen:?}")
    };
    assert_eq!(result.json().unwrap(), json!([{"slept": 2000}]));
    assert!(
        matches!(seen.as_slice(), [Update::Submitted { .. }]),
        "{seen:?}"
    );
    // The server saw one request: the POST. No result was fetched.
    assert_eq!(requests(&server), vec!["POST /v1/sql/local"]);
}

/// Held, a failing query is the POST's own 400 carrying the task id (`Error::Api`: the service's
/// verdict, not followed); detached, the poll finds the failed task (`Error::TaskFailed`).
#[tokio::test]
async fn a_failed_query_is_the_posts_400_when_held_and_task_failed_when_polled() {
    for timing in [Timing::Holding, Timing::Detached] {
        let (server, client) = with_client(ServerConfig::new().timing(timing), fast_polls()).await;
        let err = client
            .run_sql("local", "SELECT * FROM nowhere")
            .await
            .unwrap_err();
        assert!(err.task_id().is_some(), "{timing}");
        let message = match (&err, timing) {
            (Error::Api(api), Timing::Holding) => {
                assert_eq!((api.status(), api.code()), (400, Some(1013)));
                api.message().to_owned()
            }
            (Error::TaskFailed(failed), Timing::Detached) => {
                assert_eq!(*failed.status(), ArrayTaskStatus::Failed);
                failed.message().unwrap_or_default().to_owned()
            }
            (other, _) => panic!("{timing}: unexpected {other:?}"),
        };
        assert!(
            message.contains("no such table: nowhere"),
            "{timing}: {message}"
        );
        if timing == Timing::Holding {
            assert_eq!(requests(&server), vec!["POST /v1/sql/local"]);
        }
    }
}

#[tokio::test]
async fn the_official_clients_request_gets_its_rows_and_task_id_when_held() {
    let h = Harness::start(ServerConfig::new().timing(Timing::Holding)).await;
    // What tiledb-cloud 0.14.4's `sql.exec` sends: the model object's format as `{}`, both flags
    // as booleans, `Accept-Encoding: deflate`.
    for store in [false, true] {
        let resp = h
            .http
            .post(h.url("/v1/sql/local"))
            .header(API_KEY_HEADER, &h.key)
            .header("user-agent", "OpenAPI-Generator/1.0.0/python")
            .header("accept-encoding", "deflate")
            .json(
                &json!({"query": "SELECT sleep(300) AS s, 'x' AS t", "result_format": {},
                          "store_results": store, "dont_download_results": false}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "store_results {store}");
        let id = task_id(&resp);
        assert!(uuid_like(&id), "{id}");
        assert_eq!(resp.text().await.unwrap(), r#"[{"s":300,"t":"x"}]"#);
        // The client's lazy `GET /task/{id}/result` (it has no 202 handling): ready at once.
        if store {
            let resp = h.get(&format!("/v1/task/{id}/result")).await;
            assert_eq!(resp.status(), StatusCode::OK);
        }
        assert_eq!(h.task(&id).await.status, Some(ArrayTaskStatus::Completed));
    }
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn a_request_header_overrides_the_servers_timing() {
    let h = Harness::default().await; // detached
    let body = json!({"query": "SELECT sleep(300) AS s", "store_results": true});
    let send = |timing: Option<&'static str>| {
        let mut req = h
            .http
            .post(h.url("/v1/sql/local"))
            .header(API_KEY_HEADER, &h.key)
            .json(&body);
        if let Some(t) = timing {
            req = req.header(TIMING_HEADER, t);
        }
        req.send()
    };
    let detached = send(None).await.unwrap();
    assert_eq!(detached.status(), StatusCode::NO_CONTENT);
    let queued = h.task(&task_id(&detached)).await;
    assert!(
        !queued.status.unwrap().is_terminal(),
        "answered before it ran"
    );

    let held = send(Some("holding")).await.unwrap();
    assert_eq!(held.status(), StatusCode::OK);
    assert_eq!(held.text().await.unwrap(), r#"[{"s":300}]"#);

    let bad = send(Some("sometimes")).await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let message = bad.text().await.unwrap();
    assert!(message.contains(TIMING_HEADER), "{message}");
}

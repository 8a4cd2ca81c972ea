//! Authentication (API key, Basic) and namespace isolation between users.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::local::{Harness, error_body, expect_error, has_task_id, task_id};
use crate::support::prelude::{API_KEY_HEADER, ServerConfig, Timing};

const UNAUTHENTICATED: i64 = 1001;
const FORBIDDEN: i64 = 1002;
const TASK_NOT_FOUND: i64 = 1005;

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Holding: the tests read the rows and task id from the POST's answer.
async fn two_users() -> Harness {
    Harness::start(
        ServerConfig::new()
            .api_key("local-key")
            .user("bob", "bob-key", Some("bob-password"), &["bobns"])
            .timing(Timing::Holding),
    )
    .await
}

#[tokio::test]
async fn every_route_refuses_requests_without_credentials() {
    let h = Harness::default().await;
    let routes = [
        h.http
            .post(h.url("/v1/sql/local"))
            .json(&json!({"query": "SELECT 1"})),
        h.http.get(h.url("/v1/task/some-id")),
        h.http.get(h.url("/v1/task/some-id/result")),
        h.http.get(h.url("/v1/tasks")),
    ];
    for request in routes {
        let resp = request.send().await.unwrap();
        assert!(!has_task_id(&resp));
        let message = expect_error(resp, StatusCode::UNAUTHORIZED, UNAUTHENTICATED).await;
        assert!(message.contains("missing credentials"), "{message}");
    }
}

#[tokio::test]
async fn wrong_api_key_is_refused_without_echoing_it() {
    let h = Harness::default().await;
    let resp = h
        .sql_as(
            "not-the-key-0123456789",
            "local",
            json!({"query": "SELECT 1"}),
        )
        .await;
    let message = expect_error(resp, StatusCode::UNAUTHORIZED, UNAUTHENTICATED).await;
    assert!(!message.contains("not-the-key"), "{message}");
    // Nothing ran, nothing was recorded.
    assert_eq!(
        h.list("").await.pagination_metadata.unwrap().total_items,
        Some(0)
    );
}

#[tokio::test]
async fn garbage_authorization_headers_are_refused() {
    let h = two_users().await;
    for value in [
        "Basic !!!not-base64!!!".to_owned(),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("no-colon")
        ),
        "Bearer bob-key".to_owned(),
        "bob-key".to_owned(),
        basic("bob", "wrong-password"),
        basic("nobody", "bob-password"),
        // The default user has no password, so Basic never works for it.
        basic("local", ""),
    ] {
        let resp = h
            .http
            .get(h.url("/v1/tasks"))
            .header(reqwest::header::AUTHORIZATION, value.as_str())
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::UNAUTHORIZED, UNAUTHENTICATED).await;
    }
}

#[tokio::test]
async fn basic_auth_with_the_configured_password_is_accepted() {
    let h = two_users().await;
    let resp = h
        .http
        .post(h.url("/v1/sql/bobns"))
        .header(reqwest::header::AUTHORIZATION, basic("bob", "bob-password"))
        .json(&json!({"query": "SELECT 7 AS n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let id = task_id(&resp);
    assert_eq!(resp.text().await.unwrap(), r#"[{"n":7}]"#);
    let task = h.get_as("bob-key", &format!("/v1/task/{id}")).await;
    let task: serde_json::Value = task.json().await.unwrap();
    assert_eq!(task["username"], "bob");
    assert_eq!(task["namespace"], "bobns");
}

#[tokio::test]
async fn running_sql_in_another_users_namespace_is_forbidden() {
    let h = two_users().await;
    let resp = h
        .sql_as("bob-key", "local", json!({"query": "SELECT 1"}))
        .await;
    assert!(!has_task_id(&resp), "a refused submission creates no task");
    let message = expect_error(resp, StatusCode::FORBIDDEN, FORBIDDEN).await;
    assert!(message.contains("local"), "{message}");

    let resp = h
        .sql_as("local-key", "bobns", json!({"query": "SELECT 1"}))
        .await;
    expect_error(resp, StatusCode::FORBIDDEN, FORBIDDEN).await;

    // A namespace that is not even a valid name is simply not one of the user's.
    let resp = h
        .http
        .post(h.url("/v1/sql/..%2F..%2Fetc"))
        .header(API_KEY_HEADER, "local-key")
        .json(&json!({"query": "SELECT 1"}))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, FORBIDDEN).await;
}

#[tokio::test]
async fn tasks_of_other_namespaces_are_invisible() {
    let h = two_users().await;
    let resp = h
        .sql_as(
            "local-key",
            "local",
            json!({"query": "SELECT 1 AS a", "store_results": true}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let id = task_id(&resp);

    // Same answer as for an id that does not exist: nothing to probe.
    for path in [format!("/v1/task/{id}"), format!("/v1/task/{id}/result")] {
        let resp = h.get_as("bob-key", &path).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(error_body(resp).await.code, Some(TASK_NOT_FOUND));
    }
    let bobs = h.list_as("bob-key", "").await;
    assert!(bobs.array_tasks.is_empty());
    assert_eq!(bobs.pagination_metadata.unwrap().total_items, Some(0));
    // Even when asking for the namespace by name.
    let bobs = h.list_as("bob-key", "namespace=local").await;
    assert!(bobs.array_tasks.is_empty());

    let mine = h.list_as("local-key", "").await;
    assert_eq!(mine.array_tasks.len(), 1);
}

#[tokio::test]
async fn debug_output_never_shows_keys() {
    let config = ServerConfig::new().api_key("secret-local-key").user(
        "bob",
        "secret-bob-key",
        Some("secret-password"),
        &["bobns"],
    );
    let text = format!("{config:?}");
    assert!(!text.contains("secret"), "{text}");
    let h = Harness::start(config).await;
    let text = format!("{:?}", h.server);
    assert!(!text.contains("secret"), "{text}");
    assert_eq!(h.server.api_key(), "secret-local-key");
}

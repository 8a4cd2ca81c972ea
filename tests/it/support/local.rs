//! The local server under test: a started `LocalServer` plus a plain reqwest client, for the
//! `server::*` tests. (Not the SDK client: these tests pin the wire behaviour on their own.)

use std::time::Duration;

use super::prelude::{
    API_KEY_HEADER, ArrayTask, ArrayTaskData, ArrayTaskStatus, ErrorBody, LocalServer,
    ServerConfig, TASK_ID_HEADER,
};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

/// How long a polling loop may wait in all before the test fails (never reached when the server
/// behaves; bounds the test when it does not).
pub const POLL_STEPS: usize = 2000;
pub const POLL_STEP: Duration = Duration::from_millis(10);

pub struct Harness {
    pub server: LocalServer,
    pub http: Client,
    pub base: String,
    pub key: String,
}

impl Harness {
    pub async fn start(config: ServerConfig) -> Harness {
        let server = LocalServer::start(config).await.expect("server starts");
        let base = server.base_url();
        let key = server.api_key().to_owned();
        Harness {
            server,
            http: Client::new(),
            base,
            key,
        }
    }

    pub async fn default() -> Harness {
        Harness::start(ServerConfig::new()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `POST /v1/sql/{ns}` with the default user's key.
    pub async fn sql(&self, namespace: &str, body: Value) -> Response {
        self.sql_as(&self.key, namespace, body).await
    }

    pub async fn sql_as(&self, key: &str, namespace: &str, body: Value) -> Response {
        self.http
            .post(self.url(&format!("/v1/sql/{namespace}")))
            .header(API_KEY_HEADER, key)
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET path` with the default user's key.
    pub async fn get(&self, path: &str) -> Response {
        self.get_as(&self.key, path).await
    }

    pub async fn get_as(&self, key: &str, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .header(API_KEY_HEADER, key)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn task(&self, id: &str) -> ArrayTask {
        let resp = self.get(&format!("/v1/task/{id}")).await;
        assert_eq!(resp.status(), StatusCode::OK, "GET task {id}");
        resp.json().await.expect("ArrayTask JSON")
    }

    pub async fn list(&self, query: &str) -> ArrayTaskData {
        self.list_as(&self.key, query).await
    }

    pub async fn list_as(&self, key: &str, query: &str) -> ArrayTaskData {
        let resp = self.get_as(key, &format!("/v1/tasks?{query}")).await;
        assert_eq!(resp.status(), StatusCode::OK, "GET /v1/tasks?{query}");
        resp.json().await.expect("ArrayTaskData JSON")
    }

    /// Polls `GET /v1/task/{id}` until its status satisfies `done`.
    pub async fn wait_for(&self, id: &str, done: impl Fn(&ArrayTaskStatus) -> bool) -> ArrayTask {
        for _ in 0..POLL_STEPS {
            let task = self.task(id).await;
            if task.status.as_ref().is_some_and(&done) {
                return task;
            }
            tokio::time::sleep(POLL_STEP).await;
        }
        panic!("task {id} never reached the expected status");
    }

    pub async fn wait_running(&self, id: &str) -> ArrayTask {
        self.wait_for(id, |s| *s == ArrayTaskStatus::Running).await
    }

    pub async fn wait_terminal(&self, id: &str) -> ArrayTask {
        self.wait_for(id, |s| s.is_terminal()).await
    }

    /// Submits a detached query (`dont_download_results`, `store_results`); returns its task id.
    pub async fn submit_detached(&self, namespace: &str, query: &str) -> String {
        let resp = self
            .sql(
                namespace,
                serde_json::json!({
                    "query": query,
                    "dont_download_results": true,
                    "store_results": true,
                }),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        task_id(&resp)
    }
}

/// The `X-TILEDB-CLOUD-TASK-ID` of an answer (fails the test when absent).
pub fn task_id(resp: &Response) -> String {
    resp.headers()
        .get(TASK_ID_HEADER)
        .expect("task id header")
        .to_str()
        .expect("ascii task id")
        .to_owned()
}

pub fn has_task_id(resp: &Response) -> bool {
    resp.headers().contains_key(TASK_ID_HEADER)
}

/// The `Error` body of an answer, checking it is JSON and echoes the `X-Request-Id` header.
pub async fn error_body(resp: Response) -> ErrorBody {
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "error content type {content_type:?}"
    );
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: ErrorBody = resp.json().await.expect("Error JSON");
    assert!(body.code.is_some(), "error has a code");
    assert!(body.message.is_some(), "error has a message");
    assert_eq!(body.request_id, request_id, "request id in body and header");
    body
}

/// Asserts `resp` is an error with `status` and `code`; returns its message.
pub async fn expect_error(resp: Response, status: StatusCode, code: i64) -> String {
    assert_eq!(resp.status(), status, "status");
    let body = error_body(resp).await;
    let message = body.message.unwrap_or_default();
    assert_eq!(body.code, Some(code), "code (message: {message})");
    message
}

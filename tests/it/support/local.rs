//! The local server under test.
//!
//! - Over raw HTTP: [`Harness`], a started `LocalServer` plus a plain reqwest client, and the
//!   checks of its answers ([`expect_error`], [`error_body`], [`task_id`]), for the `server::*`
//!   tests, which pin the wire behaviour without the SDK.
//! - Through the SDK: [`with_client`], [`client_as`], [`all_tasks`], polling on [`fast_polls`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use super::prelude::{
    self, API_KEY_HEADER, ArrayTask, ArrayTaskData, ArrayTaskStatus, ErrorBody, LocalServer,
    PollPolicy, ServerConfig, TASK_ID_HEADER,
};
use super::{POLL_STEPS, poll_until};

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

    /// `POST /v1/sql/local` of `body` as it is, declared JSON, with the default user's key: for
    /// bodies that are not (or not quite) JSON.
    pub fn post_body(&self, body: impl Into<reqwest::Body>) -> RequestBuilder {
        self.http
            .post(self.url("/v1/sql/local"))
            .header(API_KEY_HEADER, &self.key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
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
        let done = &done;
        poll_until(POLL_STEPS, || async move {
            let task = self.task(id).await;
            task.status.as_ref().is_some_and(done).then_some(task)
        })
        .await
        .unwrap_or_else(|| panic!("task {id} never reached the expected status"))
    }

    /// Polls `GET /v1/tasks?{query}` until the listing satisfies `enough`; `None` if it never did.
    pub async fn list_until(
        &self,
        query: &str,
        enough: impl Fn(&ArrayTaskData) -> bool,
    ) -> Option<ArrayTaskData> {
        let enough = &enough;
        poll_until(POLL_STEPS, || async move {
            let data = self.list(query).await;
            enough(&data).then_some(data)
        })
        .await
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

/// The `Content-Type` of an answer (empty when absent).
pub fn content_type(resp: &Response) -> String {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The `Error` body of an answer, checking it is JSON and echoes the `X-Request-Id` header.
pub async fn error_body(resp: Response) -> ErrorBody {
    let content_type = content_type(&resp);
    assert!(
        content_type.starts_with("application/json"),
        "error content type {content_type:?}"
    );
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert!(request_id.is_some(), "an X-Request-Id header");
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

// ---------------------------------------------------------------------------------------------
// Through the SDK
// ---------------------------------------------------------------------------------------------

/// Polls every 20 ms at first and never more than 50 ms apart, for up to 60 s: slow queries
/// (`sleep(ms)`) are waited out with little real time passing.
pub fn fast_polls() -> PollPolicy {
    PollPolicy::default()
        .initial_interval(Duration::from_millis(20))
        .max_interval(Duration::from_millis(50))
        .deadline(Duration::from_secs(60))
}

/// A started server, and an SDK client of its default user polling on `polls`.
pub async fn with_client(
    config: ServerConfig,
    polls: PollPolicy,
) -> (LocalServer, prelude::Client) {
    let server = LocalServer::start(config).await.expect("server starts");
    let client = server
        .client_builder()
        .poll_policy(polls)
        .build()
        .expect("client builds");
    (server, client)
}

/// An SDK client of `server` for the user whose key is `key`, polling on `polls`.
pub fn client_as(server: &LocalServer, key: &str, polls: PollPolicy) -> prelude::Client {
    prelude::Client::builder()
        .host(server.base_url())
        .api_key(key.to_owned())
        .poll_policy(polls)
        .build()
        .expect("client builds")
}

/// Every task the client can see, whatever its time (an explicit window, since the server's
/// clock may have been moved forward).
pub async fn all_tasks(client: &prelude::Client) -> Vec<ArrayTask> {
    client
        .tasks()
        .start(DateTime::<Utc>::UNIX_EPOCH)
        .end(Utc::now() + chrono::Duration::days(3650))
        .per_page(1000)
        .stream()
        .try_collect()
        .await
        .expect("listing")
}

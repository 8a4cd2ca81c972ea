//! The transport's retry policy: which answers are retried, how long it waits, and the POST rule.

use std::time::{Duration, SystemTime};

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::clients::{self, client_with};
use crate::support::prelude::{Error, RetryPolicy, SqlParameters, VirtualClock};
use crate::support::{cases, mock, refused_uri};

/// A server whose first answer to `GET /v1/task/t` is `status`, then 200.
async fn flaky_get(status: u16, headers: &[(&str, &str)]) -> MockServer {
    let server = MockServer::start().await;
    let mut first = ResponseTemplate::new(status);
    for (k, v) in headers {
        first = first.insert_header(*k, *v);
    }
    let then = ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "t"}));
    mock::first_then(&server, mock::get("/v1/task/t"), first, 1, then).await;
    server
}

#[tokio::test]
async fn gets_are_retried_on_each_transient_status() {
    for status in [408, 429, 500, 502, 503, 504] {
        let server = flaky_get(status, &[]).await;
        let clock = VirtualClock::new();
        let c = client_with(&server.uri(), RetryPolicy::default(), clock.clone());
        let t = c
            .api()
            .task_id_get("t")
            .await
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        assert_eq!(t.id.as_deref(), Some("t"));
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            2,
            "status {status}"
        );
        assert_eq!(clock.sleeps().len(), 1, "status {status}");
    }
}

#[tokio::test]
async fn gets_are_not_retried_on_client_errors() {
    for status in [400, 401, 403, 404] {
        let server = flaky_get(status, &[]).await;
        let (c, clock) = clients::client(&server.uri());
        let e = c.api().task_id_get("t").await.unwrap_err();
        assert_eq!(e.status(), Some(status));
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "status {status}"
        );
        assert!(clock.sleeps().is_empty());
    }
}

#[tokio::test]
async fn the_attempt_budget_is_spent_then_the_last_error_is_returned() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    let clock = VirtualClock::new();
    let c = client_with(
        &server.uri(),
        RetryPolicy::default().max_attempts(3),
        clock.clone(),
    );
    let e = c.api().task_id_get("t").await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert!(e.is_retryable());
    assert_eq!(clock.sleeps().len(), 2);
}

#[tokio::test]
async fn backoff_is_exponential_without_jitter_when_asked() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let clock = VirtualClock::new();
    let policy = RetryPolicy::default()
        .max_attempts(5)
        .jitter(false)
        .initial_backoff(Duration::from_millis(100))
        .max_backoff(Duration::from_millis(500));
    let c = client_with(&server.uri(), policy, clock.clone());
    c.api().task_id_get("t").await.unwrap_err();
    let ms: Vec<u128> = clock.sleeps().iter().map(|d| d.as_millis()).collect();
    assert_eq!(ms, [100, 200, 400, 500]);
}

/// The first answer is a 503 with `Retry-After: {header}`; the one wait is `expected`: the
/// header's, or the policy's cap.
async fn retry_after_is_waited((header, policy): (&str, RetryPolicy), expected: Duration) {
    let server = flaky_get(503, &[("retry-after", header)]).await;
    let clock = VirtualClock::new();
    let c = client_with(&server.uri(), policy, clock.clone());
    c.api().task_id_get("t").await.unwrap();
    assert_eq!(clock.sleeps(), vec![expected]);
}

cases! {
    async retry_after_is_waited;
    retry_after_in_seconds_is_obeyed: ("7", RetryPolicy::default()) => Duration::from_secs(7),
    an_absurd_retry_after_is_clamped:
        ("86400", RetryPolicy::default().max_retry_after(Duration::from_secs(20)))
            => Duration::from_secs(20),
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_obeyed() {
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
    let server = flaky_get(429, &[("retry-after", &when)]).await;
    let (c, clock) = clients::client(&server.uri());
    c.api().task_id_get("t").await.unwrap();
    let slept = clock.sleeps()[0];
    // HTTP dates have one-second resolution.
    assert!(
        slept > Duration::from_secs(27) && slept <= Duration::from_secs(30),
        "{slept:?}"
    );
}

/// A POST answered with each of `statuses` (which may come after the query ran) is sent `posts`
/// times, once: the error carries the status, and nothing waited for a retry.
async fn post_sql_is_sent_once(statuses: &[u16], posts: u64) {
    for &status in statuses {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status))
            .expect(posts)
            .mount(&server)
            .await;
        let (c, clock) = clients::client(&server.uri());
        let e = c
            .api()
            .run_sql("ns", &SqlParameters::query("SELECT 1"), None)
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(status));
        assert!(clock.sleeps().is_empty(), "{status}");
    }
}

cases! {
    async post_sql_is_sent_once;
    post_sql_is_not_retried_after_a_500: &[500] => 1,
    post_sql_is_not_retried_after_a_502_or_504: &[502, 504] => 1,
}

#[tokio::test]
async fn post_sql_is_retried_when_the_service_says_it_did_not_run_it() {
    for status in [429, 503] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).insert_header("retry-after", "2"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(204).insert_header("X-TILEDB-CLOUD-TASK-ID", "t1"))
            .with_priority(2)
            .mount(&server)
            .await;
        let (c, clock) = clients::client(&server.uri());
        let r = c
            .api()
            .run_sql("ns", &SqlParameters::query("SELECT 1"), None)
            .await
            .unwrap();
        assert_eq!(r.task_id().map(|t| t.as_str()), Some("t1"));
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(2)]);
    }
}

#[tokio::test]
async fn post_sql_is_retried_on_a_connect_error() {
    // Nothing listens there, so the connection is refused.
    let clock = VirtualClock::new();
    let c = client_with(
        &refused_uri(),
        RetryPolicy::default().max_attempts(3),
        clock.clone(),
    );
    let e = c
        .api()
        .run_sql("ns", &SqlParameters::query("SELECT 1"), None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    assert!(e.is_retryable());
    assert_eq!(clock.sleeps().len(), 2, "three attempts, two sleeps");
}

#[tokio::test]
async fn a_custom_classifier_overrides_the_policy() {
    let server = flaky_get(404, &[]).await;
    let (c, _) = clients::client(&server.uri());
    drop(c);
    let clock = VirtualClock::new();
    let policy = RetryPolicy::default().classifier(|o| (o.status == Some(404)).then_some(true));
    let c = client_with(&server.uri(), policy, clock);
    c.api().task_id_get("t").await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

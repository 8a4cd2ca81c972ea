//! The API key stays secret (Debug, errors, tracing), redirects never carry it to another host, and
//! every HTTP attempt is traced with the OpenTelemetry HTTP client fields. The same promise across
//! every flow, with a TRACE capture of everything: [`all_flows`].

use serde_json::json;
use tracing_subscriber::fmt::format::FmtSpan;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::clients::{KEY, client, client_with};
use crate::support::prelude::{Client, Error, RetryPolicy, SqlParameters, VirtualClock};
use crate::support::trace;

mod all_flows;

#[tokio::test(flavor = "current_thread")]
async fn the_key_never_appears_in_debug_errors_or_traces_and_spans_carry_otel_fields() {
    let (out, _guard) = trace::capture(FmtSpan::CLOSE);
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/task/t1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "t1"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/task/bad"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"message": "boom"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("X-TILEDB-CLOUD-TASK-ID", "t2")
                .set_body_json(json!({"message": "syntax error"})),
        )
        .mount(&server)
        .await;
    let (c, _) = client(&server.uri());
    let mut texts = vec![format!("{c:?}")];
    c.api().task_id_get("t1").await.unwrap();
    for e in [
        c.api().task_id_get("bad").await.unwrap_err(),
        c.api()
            .run_sql("ns", &SqlParameters::query("SELEC"), None)
            .await
            .unwrap_err(),
        c.run_sql("ns", "SELEC").await.unwrap_err(),
    ] {
        texts.push(format!("{e:?}"));
        texts.push(e.to_string());
    }
    let builder = Client::builder().api_key(KEY).basic_auth("user", KEY);
    texts.push(format!("{builder:?}"));
    let trace = out.text();
    texts.push(trace.clone());
    for t in &texts {
        assert!(!t.contains(KEY), "the key leaked into: {t}");
    }
    // One span per attempt, with the OpenTelemetry HTTP client fields.
    for field in [
        "http.request.method=GET",
        "url.full=http://127.0.0.1",
        "server.address=\"127.0.0.1\"",
        "http.response.status_code=200",
        "http.request.resend_count=1",
        "error.type=\"500\"",
        "tiledb.task.id=\"t2\"",
    ] {
        assert!(trace.contains(field), "no {field} in:\n{trace}");
    }
    assert!(
        trace.contains("retrying GET /v1/task/{id}"),
        "retries are logged:\n{trace}"
    );
}

#[tokio::test]
async fn a_same_host_redirect_is_followed_with_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/task/old"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", "/v1/task/new"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/task/new"))
        .and(wiremock::matchers::header("X-TILEDB-REST-API-KEY", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "new"})))
        .expect(1)
        .mount(&server)
        .await;
    let (c, _) = client(&server.uri());
    assert_eq!(
        c.api().task_id_get("old").await.unwrap().id.as_deref(),
        Some("new")
    );
}

#[tokio::test]
async fn a_cross_host_redirect_never_carries_the_key() {
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "moved"})))
        .expect(2)
        .mount(&other)
        .await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/v1/task/t", other.uri())),
        )
        .mount(&server)
        .await;
    // Basic auth too: neither credential goes to the other host.
    for c in [
        client(&server.uri()).0,
        Client::builder()
            .host(server.uri())
            .basic_auth("me", KEY)
            .build()
            .unwrap(),
    ] {
        let _ = c.api().task_id_get("t").await;
    }
    let seen = other.received_requests().await.unwrap();
    assert!(!seen.is_empty());
    for r in seen {
        assert!(
            r.headers.get("x-tiledb-rest-api-key").is_none(),
            "key sent to another host"
        );
        assert!(
            r.headers.get("authorization").is_none(),
            "basic auth sent to another host"
        );
    }
}

#[tokio::test]
async fn redirect_loops_are_bounded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/v1/task/again"))
        .mount(&server)
        .await;
    let c = client_with(&server.uri(), RetryPolicy::none(), VirtualClock::new());
    let e = c.api().task_id_get("t").await.unwrap_err();
    assert!(matches!(e, Error::Redirect(_)), "{e:?}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        11,
        "the first request and ten redirects"
    );
}

//! The spans, as an OpenTelemetry pipeline sees them: `tracing-opentelemetry` over the SDK's
//! in-memory exporter, on this thread only (`support::trace::set_default`; each test runs on a
//! current-thread runtime, so the tasks it spawns report here too). Each test asserts span names,
//! kinds, status and attributes by the semantic conventions (see `src/telemetry.rs`), and that a
//! request sent inside an OpenTelemetry span carries its `traceparent` to the server.

use std::collections::HashMap;

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceContextExt as _, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use tracing::Instrument as _;
use tracing::subscriber::DefaultGuard;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::clients::{builder, client};
use crate::support::fixtures::{ids_of_page, page_json, task_json};
use crate::support::mock::{first_then, get};
use crate::support::prelude::{ArrayTask, Error, TASK_ID_HEADER, VirtualClock};
use crate::support::trace;

/// An OpenTelemetry pipeline for this thread, until dropped.
struct Otel {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    _guard: DefaultGuard,
}

fn otel() -> Otel {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("tests"));
    let guard = trace::set_default(tracing_subscriber::registry().with(layer));
    Otel {
        exporter,
        provider,
        _guard: guard,
    }
}

impl Otel {
    /// Every span ended so far.
    fn spans(&self) -> Spans {
        self.provider.force_flush().unwrap();
        Spans(self.exporter.get_finished_spans().unwrap())
    }
}

struct Spans(Vec<SpanData>);

impl Spans {
    /// The spans named `name` (the OpenTelemetry name), in the order they ended.
    fn named(&self, name: &str) -> Vec<&SpanData> {
        self.0.iter().filter(|s| s.name == name).collect()
    }

    /// The one span named `name`.
    fn one(&self, name: &str) -> &SpanData {
        let found = self.named(name);
        assert_eq!(found.len(), 1, "one {name:?} span in {:#?}", self.names());
        found[0]
    }

    /// The children of `parent`, in the order they started.
    fn children(&self, parent: &SpanData) -> Vec<&SpanData> {
        let mut c: Vec<&SpanData> = self
            .0
            .iter()
            .filter(|s| s.parent_span_id == parent.span_context.span_id())
            .collect();
        c.sort_by_key(|s| s.start_time);
        c
    }

    fn names(&self) -> Vec<&str> {
        self.0.iter().map(|s| s.name.as_ref()).collect()
    }
}

fn attrs(span: &SpanData) -> HashMap<&str, &Value> {
    span.attributes
        .iter()
        .map(|KeyValue { key, value, .. }| (key.as_str(), value))
        .collect()
}

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    attrs(span).get(key).map(|v| (*v).clone())
}

fn s(v: &str) -> Option<Value> {
    Some(Value::from(v.to_owned()))
}

fn i(v: i64) -> Option<Value> {
    Some(Value::I64(v))
}

/// An HTTP attempt's span: CLIENT, the HTTP attributes, and `status_code` in the answer.
fn assert_client_span(span: &SpanData, server: &MockServer, method: &str, path: &str, code: i64) {
    assert_eq!(span.span_kind, SpanKind::Client, "{span:?}");
    let addr = server.address();
    assert_eq!(attr(span, "http.request.method"), s(method));
    assert_eq!(attr(span, "server.address"), s("127.0.0.1"));
    assert_eq!(attr(span, "server.port"), i(i64::from(addr.port())));
    let url = attr(span, "url.full").expect("url.full").to_string();
    assert!(url.starts_with(&format!("{}{path}", server.uri())), "{url}");
    assert_eq!(attr(span, "http.response.status_code"), i(code));
}

fn ok_json(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn a_run_sql_with_polls_is_one_internal_db_span_over_one_client_span_per_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sql/ns"))
        .respond_with(ResponseTemplate::new(204).insert_header(TASK_ID_HEADER, "t1"))
        .mount(&server)
        .await;
    first_then(
        &server,
        get("/v1/task/t1/result"),
        ResponseTemplate::new(202),
        2,
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/json")
            .set_body_string(r#"[{"n":1}]"#),
    )
    .await;
    let otel = otel();
    let (client, _clock) = client(&server.uri());

    let result = client.run_sql("ns", "SELECT count(*) AS n FROM t").await;
    assert!(result.is_ok(), "{result:?}");

    let spans = otel.spans();
    let op = spans.one("SELECT ns");
    assert_eq!(op.span_kind, SpanKind::Internal);
    assert_eq!(op.status, Status::Unset, "polls are not failures");
    assert_eq!(op.parent_span_id, SpanId::INVALID, "a root span");
    assert_eq!(attr(op, "db.system.name"), s("tiledb"));
    assert_eq!(attr(op, "db.namespace"), s("ns"));
    assert_eq!(attr(op, "db.operation.name"), s("SELECT"));
    assert_eq!(attr(op, "db.query.text"), None, "query text is opt-in");
    assert_eq!(attr(op, "tiledb.task.id"), s("t1"));
    assert_eq!(attr(op, "tiledb.polls"), i(3));
    assert_eq!(attr(op, "error.type"), None);
    for unprefixed in ["namespace", "polls", "outcome", "page", "deadline_ms"] {
        assert_eq!(attr(op, unprefixed), None, "{unprefixed}");
    }

    let attempts = spans.children(op);
    let names: Vec<&str> = attempts.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "POST /v1/sql/{namespace}",
            "GET /v1/task/{id}/result",
            "GET /v1/task/{id}/result",
            "GET /v1/task/{id}/result",
        ],
        "one CLIENT span per attempt, under the operation"
    );
    assert_client_span(attempts[0], &server, "POST", "/v1/sql/ns", 204);
    assert_eq!(attr(attempts[0], "url.template"), s("/v1/sql/{namespace}"));
    for (span, code) in attempts[1..].iter().zip([202, 202, 200]) {
        assert_client_span(span, &server, "GET", "/v1/task/t1/result", code);
        assert_eq!(
            span.status,
            Status::Unset,
            "an expected 202 is not an error"
        );
        assert_eq!(attr(span, "tiledb.task.id"), s("t1"));
    }
    for span in &attempts {
        assert_eq!(attr(span, "error.type"), None);
        assert_eq!(attr(span, "http.request.resend_count"), None, "no resend");
    }
}

#[tokio::test]
async fn the_query_text_is_recorded_only_when_the_client_opts_in() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sql/ns"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let otel = otel();
    let clock = VirtualClock::new();
    let client = builder(&server.uri(), &clock)
        .trace_query_text(true)
        .build()
        .unwrap();
    let sql = "insert into t values (42)";
    client.run_sql("ns", sql).inline().await.unwrap();
    client.api().run_sql("ns", &sql.into(), None).await.unwrap();

    let spans = otel.spans();
    let named = spans.named("insert ns");
    assert_eq!(named.len(), 2, "{:?}", spans.names());
    for op in named {
        assert_eq!(op.span_kind, SpanKind::Internal);
        assert_eq!(attr(op, "db.query.text"), s(sql));
        assert_eq!(attr(op, "db.operation.name"), s("insert"));
    }
}

#[tokio::test]
async fn a_failed_query_is_an_error_on_the_operation_but_its_expected_404_poll_is_not() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sql/ns"))
        .respond_with(ResponseTemplate::new(204).insert_header(TASK_ID_HEADER, "t2"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/task/t2/result"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let mut failed = task_json("t2");
    failed["status"] = json!("FAILED");
    failed["status_message"] = json!("no such table: t");
    Mock::given(method("GET"))
        .and(path("/v1/task/t2"))
        .respond_with(ok_json(failed))
        .mount(&server)
        .await;
    let otel = otel();
    let (client, _clock) = client(&server.uri());

    let err = client.run_sql("ns", "SELECT * FROM t").await.unwrap_err();
    assert!(matches!(err, Error::TaskFailed { .. }), "{err:?}");

    let spans = otel.spans();
    let op = spans.one("SELECT ns");
    assert_eq!(op.span_kind, SpanKind::Internal);
    assert!(matches!(op.status, Status::Error { .. }), "{:?}", op.status);
    assert_eq!(attr(op, "error.type"), s("task_failed"));
    let attempts = spans.children(op);
    assert_eq!(attempts.len(), 3, "{attempts:#?}");
    let poll = attempts[1];
    assert_client_span(poll, &server, "GET", "/v1/task/t2/result", 404);
    assert_eq!(poll.status, Status::Unset, "the route's 404 is an answer");
    assert_eq!(attr(poll, "error.type"), None);
    assert_client_span(attempts[2], &server, "GET", "/v1/task/t2", 200);
    assert_eq!(attempts[2].status, Status::Unset);
}

#[tokio::test]
async fn a_query_refused_with_400_is_an_error_on_the_operation_and_its_final_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sql/ns"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"code": 1, "message": "syntax error"})),
        )
        .mount(&server)
        .await;
    let otel = otel();
    let (client, _clock) = client(&server.uri());

    let err = client.run_sql("ns", "SELEC 1").await.unwrap_err();
    assert_eq!(err.status(), Some(400));

    let spans = otel.spans();
    let op = spans.one("SELEC ns");
    assert!(matches!(op.status, Status::Error { .. }));
    assert_eq!(attr(op, "error.type"), s("400"));
    let attempts = spans.children(op);
    assert_eq!(attempts.len(), 1);
    assert_client_span(attempts[0], &server, "POST", "/v1/sql/ns", 400);
    assert!(matches!(attempts[0].status, Status::Error { .. }));
    assert_eq!(attr(attempts[0], "error.type"), s("400"));
}

fn mount_page(page: u64, body: serde_json::Value) -> Mock {
    Mock::given(method("GET"))
        .and(path("/v1/tasks"))
        .and(query_param("page", page.to_string()))
        .respond_with(ok_json(body))
}

#[tokio::test]
async fn a_listing_is_one_internal_span_over_one_tasks_get_span_per_page() {
    let server = MockServer::start().await;
    mount_page(1, page_json(1, 2, 2, &ids_of_page(1, 2)))
        .mount(&server)
        .await;
    mount_page(2, page_json(2, 2, 2, &ids_of_page(2, 1)))
        .mount(&server)
        .await;
    let otel = otel();
    let (client, _clock) = client(&server.uri());

    let tasks: Vec<ArrayTask> =
        futures::TryStreamExt::try_collect(client.tasks().per_page(2).stream())
            .await
            .unwrap();
    assert_eq!(tasks.len(), 3);
    let first = client
        .tasks()
        .per_page(2)
        .page(1)
        .first_page()
        .instrument(tracing::info_span!("caller"))
        .await
        .unwrap();
    assert_eq!(first.array_tasks.len(), 2);

    let spans = otel.spans();
    let list = spans.one("list_tasks");
    assert_eq!(list.span_kind, SpanKind::Internal);
    assert_eq!(list.status, Status::Unset);
    assert_eq!(attr(list, "tiledb.pages"), i(2));
    let pages = spans.children(list);
    assert_eq!(pages.len(), 2, "{:?}", spans.names());
    for (page, n) in pages.iter().zip([1, 2]) {
        assert_eq!(page.name, "tasks_get");
        assert_eq!(page.span_kind, SpanKind::Internal);
        assert_eq!(attr(page, "tiledb.page"), i(n));
        assert_eq!(attr(page, "tiledb.per_page"), i(2));
        assert_eq!(attr(page, "tiledb.total_pages"), i(2));
        let attempts = spans.children(page);
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].name, "GET /v1/tasks");
        assert_client_span(attempts[0], &server, "GET", "/v1/tasks?", 200);
        assert!(
            attr(attempts[0], "url.full")
                .unwrap()
                .to_string()
                .contains(&format!("page={n}"))
        );
    }
    // `first_page()` is one `tasks_get` of its own, under the caller's span.
    let caller = spans.one("caller");
    let own = spans.children(caller);
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].name, "tasks_get");
    assert_eq!(attr(own[0], "tiledb.page"), i(1));
    assert_eq!(attr(own[0], "tiledb.tasks"), i(2));
}

#[tokio::test]
async fn a_listing_that_fails_is_an_error_on_the_listing_span() {
    let server = MockServer::start().await;
    mount_page(1, page_json(1, 2, 2, &ids_of_page(1, 2)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/tasks"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    let otel = otel();
    let (client, _clock) = client(&server.uri());

    let all: Vec<_> = futures::StreamExt::collect(client.tasks().per_page(2).stream()).await;
    assert!(all.last().unwrap().is_err());

    let spans = otel.spans();
    let list = spans.one("list_tasks");
    assert!(matches!(list.status, Status::Error { .. }));
    assert_eq!(attr(list, "error.type"), s("403"));
    let pages = spans.children(list);
    assert_eq!(pages[0].status, Status::Unset);
    assert!(matches!(pages[1].status, Status::Error { .. }));
    assert_eq!(attr(pages[1], "error.type"), s("403"));
}

#[tokio::test]
async fn a_retried_503_is_an_error_on_its_attempt_only_and_the_resend_is_counted() {
    let server = MockServer::start().await;
    first_then(
        &server,
        get("/v1/task/t9"),
        ResponseTemplate::new(503).insert_header("retry-after", "1"),
        1,
        ok_json(task_json("t9")),
    )
    .await;
    let otel = otel();
    let (client, clock) = client(&server.uri());

    let task = client.api().task_id_get("t9").await.unwrap();
    assert_eq!(task.id.as_deref(), Some("t9"));
    assert_eq!(clock.sleeps(), [std::time::Duration::from_secs(1)]);

    let spans = otel.spans();
    let op = spans.one("task_id_get");
    assert_eq!(op.span_kind, SpanKind::Internal);
    assert_eq!(
        op.status,
        Status::Unset,
        "a retried failure is not the operation's"
    );
    assert_eq!(attr(op, "error.type"), None);
    assert_eq!(attr(op, "tiledb.task.id"), s("t9"));
    let attempts = spans.children(op);
    assert_eq!(attempts.len(), 2);
    for a in &attempts {
        assert_eq!(a.name, "GET /v1/task/{id}");
        assert_eq!(attr(a, "url.template"), s("/v1/task/{id}"));
    }
    assert_client_span(attempts[0], &server, "GET", "/v1/task/t9", 503);
    assert!(matches!(attempts[0].status, Status::Error { .. }));
    assert_eq!(attr(attempts[0], "error.type"), s("503"));
    assert_eq!(attr(attempts[0], "http.request.resend_count"), None);
    assert_client_span(attempts[1], &server, "GET", "/v1/task/t9", 200);
    assert_eq!(attempts[1].status, Status::Unset);
    assert_eq!(attr(attempts[1], "error.type"), None);
    assert_eq!(attr(attempts[1], "http.request.resend_count"), i(1));
}

/// Feature `opentelemetry`: the server receives the W3C trace context of the attempt's span,
/// in the trace of the span the request was made in.
#[cfg(feature = "opentelemetry")]
#[tokio::test]
async fn a_request_inside_an_opentelemetry_span_carries_its_traceparent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/task/t3"))
        .respond_with(ok_json(task_json("t3")))
        .mount(&server)
        .await;
    let (client, _clock) = client(&server.uri());

    // Without an OpenTelemetry layer there is no context to send.
    client.api().task_id_get("t3").await.unwrap();

    let otel = otel();
    let job = tracing::info_span!("job");
    let trace_id = job.context().span().span_context().trace_id();
    client
        .api()
        .task_id_get("t3")
        .instrument(job)
        .await
        .unwrap();

    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    assert!(received[0].headers.get("traceparent").is_none());
    let parent = received[1]
        .headers
        .get("traceparent")
        .expect("a traceparent")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        received[1].headers.get("tracestate").is_none(),
        "an empty state is not sent"
    );

    let spans = otel.spans();
    let attempt = spans.one("GET /v1/task/{id}");
    assert_eq!(attempt.span_context.trace_id(), trace_id);
    assert_eq!(
        parent,
        format!("00-{trace_id}-{}-01", attempt.span_context.span_id()),
        "version 00, the job's trace, the attempt's span as parent, sampled"
    );
}

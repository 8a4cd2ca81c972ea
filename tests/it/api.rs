//! `TasksApi`: each call's exact request and every response branch, against wiremock.

use std::time::Duration;

use chrono::TimeZone as _;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::clients::{KEY, client, client_with};
use crate::support::prelude::{
    ArrayTaskStatus, ArrayTaskType, Client, Error, FileType, ResultFormat, ResultResponse,
    RetryPolicy, SqlParameters, SqlResponse, TaskOrder, TasksQuery, VirtualClock,
};

const TASK: &str = "0b0e6c9e-5c9e-4c3a-9a57-8c7b1b2f0001";

#[tokio::test]
async fn run_sql_posts_the_parameters_as_json_with_the_key_and_reads_rows() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sql/my-ns"))
        .and(header("X-TILEDB-REST-API-KEY", KEY))
        .and(header("content-type", "application/json"))
        .and(header("accept", "application/json"))
        .and(header("accept-encoding", "deflate"))
        .and(body_json(json!({
            "query": "SELECT a FROM t WHERE b = ?",
            "name": "nightly",
            "parameters": [3],
            "result_format": "json"
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-TILEDB-CLOUD-TASK-ID", TASK)
                .set_body_raw(r#"[{"a":1}]"#, "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (c, _) = client(&server.uri());
    let params = SqlParameters::query("SELECT a FROM t WHERE b = ?")
        .name("nightly")
        .parameter(3)
        .result_format(ResultFormat::Json);
    let r = c
        .api()
        .run_sql("my-ns", &params, Some("deflate"))
        .await
        .unwrap();
    match r {
        SqlResponse::Rows {
            task_id,
            content_type,
            body,
        } => {
            assert_eq!(task_id.unwrap().as_str(), TASK);
            assert_eq!(content_type.as_deref(), Some("application/json"));
            assert_eq!(&body[..], br#"[{"a":1}]"#);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn run_sql_204_is_no_content_with_the_task_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sql/ns"))
        .respond_with(ResponseTemplate::new(204).insert_header("X-TILEDB-CLOUD-TASK-ID", TASK))
        .expect(1)
        .mount(&server)
        .await;
    let (c, _) = client(&server.uri());
    let r = c
        .api()
        .run_sql("ns", &SqlParameters::query("CREATE TABLE t(a)"), None)
        .await
        .unwrap();
    assert_eq!(
        r,
        SqlResponse::NoContent {
            task_id: Some(TASK.into())
        }
    );
}

#[tokio::test]
async fn run_sql_error_carries_code_message_request_id_and_task_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("X-TILEDB-CLOUD-TASK-ID", TASK)
                .set_body_json(
                    json!({"code": 1003, "message": "no such table: t", "request_id": "req-9"}),
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (c, _) = client(&server.uri());
    let e = c
        .api()
        .run_sql("ns", &SqlParameters::query("SELECT * FROM t"), None)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert_eq!(e.request_id(), Some("req-9"));
    assert_eq!(e.task_id().map(|t| t.as_str()), Some(TASK));
    assert!(!e.is_retryable());
    let Error::Api(api) = &e else { panic!("{e:?}") };
    assert_eq!(api.code(), Some(1003));
    assert_eq!(api.message(), "no such table: t");
    assert!(e.to_string().contains("no such table: t"), "{e}");
}

#[tokio::test]
async fn namespace_and_task_id_are_percent_encoded_as_one_segment() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sql/my%20ns%2Fx"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/task/a%2F..%3Fb"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "a/..?b"})))
        .expect(1)
        .mount(&server)
        .await;
    let (c, _) = client(&server.uri());
    c.api()
        .run_sql("my ns/x", &SqlParameters::query("SELECT 1"), None)
        .await
        .unwrap();
    let t = c.api().task_id_get("a/..?b").await.unwrap();
    assert_eq!(t.id.as_deref(), Some("a/..?b"));
}

#[tokio::test]
async fn task_id_get_parses_the_task() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/task/{TASK}")))
        .and(header("X-TILEDB-REST-API-KEY", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": TASK, "status": "RUNNING", "type": "SQL", "duration": 1.5e9
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (c, _) = client(&server.uri());
    let t = c.api().task_id_get(TASK).await.unwrap();
    assert_eq!(t.status, Some(ArrayTaskStatus::Running));
    assert_eq!(t.run_time(), Some(Duration::from_millis(1500)));
}

#[tokio::test]
async fn task_id_get_404_is_an_api_error_with_the_body() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"code": 404, "message": "task not found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (c, _) = client(&server.uri());
    let e = c.api().task_id_get(TASK).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert!(e.to_string().contains("task not found"));
}

#[tokio::test]
async fn a_malformed_task_is_a_decode_error_naming_the_path_and_the_body() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"id":"x","cpu":"lots"}"#))
        .mount(&server)
        .await;
    let (c, _) = client(&server.uri());
    let e = c.api().task_id_get(TASK).await.unwrap_err();
    let Error::Decode(d) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(d.path(), "cpu");
    assert!(d.snippet().is_some_and(|s| s.contains("lots")));
    assert_eq!(e.task_id().map(|t| t.as_str()), Some(TASK));
}

#[tokio::test]
async fn an_html_502_from_a_gateway_still_reads_well() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_raw(
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
            "text/html",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let c = client_with(&server.uri(), RetryPolicy::none(), VirtualClock::new());
    let e = c.api().task_id_get(TASK).await.unwrap_err();
    assert_eq!(e.status(), Some(502));
    assert!(e.is_retryable());
    assert!(e.to_string().contains("502 Bad Gateway"), "{e}");
}

#[tokio::test]
async fn task_result_distinguishes_ready_running_and_not_available() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/task/done/result"))
        .and(header("accept-encoding", "gzip"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(vec![1u8, 2, 3], "application/vnd.apache.arrow.stream"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/task/busy/result"))
        .respond_with(ResponseTemplate::new(202).insert_header("retry-after", "3"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/task/gone/result"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"code": 2, "message": "results not stored or expired", "request_id": "r1"}),
        ))
        .mount(&server)
        .await;
    let (c, _) = client(&server.uri());
    let api = c.api();
    assert_eq!(
        api.task_id_result_get("done", Some("gzip")).await.unwrap(),
        ResultResponse::Ready {
            content_type: Some("application/vnd.apache.arrow.stream".into()),
            body: vec![1u8, 2, 3].into()
        }
    );
    assert_eq!(
        api.task_id_result_get("busy", None).await.unwrap(),
        ResultResponse::Running {
            retry_after: Some(Duration::from_secs(3))
        }
    );
    match api.task_id_result_get("gone", None).await.unwrap() {
        ResultResponse::NotAvailable { body: Some(b) } => {
            assert_eq!(b.request_id.as_deref(), Some("r1"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn tasks_get_sends_all_fourteen_parameters_as_the_spec_serializes_them() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/tasks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "array_tasks": [{"id": "t1"}],
            "pagination_metadata": {"page": 2, "per_page": 50, "total_pages": 2, "total_items": 51}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (c, _) = client(&server.uri());
    let q = TasksQuery::new()
        .namespace("ns")
        .created_by("alice")
        .array("tiledb://ns/arr")
        .start(chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap())
        .end(chrono::Utc.timestamp_opt(1_700_086_400, 0).unwrap())
        .page(2)
        .per_page(50)
        .task_type(ArrayTaskType::Sql)
        .exclude_type(ArrayTaskType::Udf)
        .exclude_type(ArrayTaskType::GenericUdf)
        .file_type(FileType::Notebook)
        .file_type(FileType::MlModel)
        .exclude_file_type(FileType::File)
        .status(ArrayTaskStatus::Failed)
        .search("nightly run")
        .order_by(TaskOrder::Name);
    let page = c.api().tasks_get(&q).await.unwrap();
    assert_eq!(page.array_tasks.len(), 1);
    let reqs: Vec<Request> = server.received_requests().await.unwrap();
    assert_eq!(
        reqs[0].url.query(),
        Some(
            "namespace=ns&created_by=alice&array=tiledb%3A%2F%2Fns%2Farr&start=1700000000&end=1700086400\
             &page=2&per_page=50&type=SQL&exclude_type=UDF%2CGENERIC_UDF&file_type=notebook\
             &file_type=ml_model&exclude_file_type=file&status=FAILED&search=nightly+run&orderby=name"
        )
    );
}

#[tokio::test]
async fn bad_arguments_fail_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let (c, _) = client(&server.uri());
    let api = c.api();
    let arg = |e: Error| match e {
        Error::InvalidArgument(a) => a.argument(),
        other => panic!("not an invalid argument: {other:?}"),
    };
    assert_eq!(
        arg(api
            .run_sql("", &SqlParameters::query("SELECT 1"), None)
            .await
            .unwrap_err()),
        "namespace"
    );
    assert_eq!(
        arg(api
            .run_sql("..", &SqlParameters::query("SELECT 1"), None)
            .await
            .unwrap_err()),
        "namespace"
    );
    assert_eq!(
        arg(api
            .run_sql("ns", &SqlParameters::query("  "), None)
            .await
            .unwrap_err()),
        "query"
    );
    assert_eq!(
        arg(api
            .run_sql("ns", &SqlParameters::default(), None)
            .await
            .unwrap_err()),
        "query"
    );
    assert_eq!(arg(api.task_id_get("").await.unwrap_err()), "task id");
    assert_eq!(arg(api.task_id_get("..").await.unwrap_err()), "task id");
    assert_eq!(arg(api.task_id_get("a\nb").await.unwrap_err()), "task id");
    assert_eq!(
        arg(api.task_id_result_get(" ", None).await.unwrap_err()),
        "task id"
    );
    assert_eq!(
        arg(api
            .tasks_get(&TasksQuery::new().per_page(0))
            .await
            .unwrap_err()),
        "per_page"
    );
    assert_eq!(
        arg(api.tasks_get(&TasksQuery::new().page(0)).await.unwrap_err()),
        "page"
    );
    assert_eq!(
        arg(api
            .tasks_get(&TasksQuery::new().array("myarray"))
            .await
            .unwrap_err()),
        "array"
    );
    // A bad host is a configuration error naming where it was set.
    for host in ["not a url at all", "ftp://x"] {
        let e = Client::builder().host(host).build().unwrap_err();
        assert!(
            matches!(&e, Error::Config(c) if c.origin() == Some("ClientBuilder::host")),
            "{e:?}"
        );
    }
    // Dropping the server checks `expect(0)`.
}

//! Results: formats, streaming decode, compression, over wiremock.

use std::io::Write as _;

use futures::TryStreamExt as _;
use serde::Deserialize;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::clients::{self, client};
use crate::support::prelude::{Client, Error, ResultFormat, ResultResponse, SqlParameters};

const ID: &str = "res-1";

#[derive(Debug, Deserialize, PartialEq)]
struct Row {
    a: i64,
}

async fn serve_result(server: &MockServer, template: ResponseTemplate) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204).insert_header("X-TILEDB-CLOUD-TASK-ID", ID))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/task/{ID}/result")))
        .respond_with(template)
        .mount(server)
        .await;
}

#[tokio::test]
async fn rows_stream_decodes_a_json_result_row_by_row() {
    let server = MockServer::start().await;
    let body: String = format!(
        "[{}]",
        (0..1000)
            .map(|i| format!("{{\"a\":{i}}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    serve_result(
        &server,
        ResponseTemplate::new(200).set_body_raw(body, "application/json"),
    )
    .await;
    let (c, _) = client(&server.uri());
    let stream = c
        .run_sql("ns", "SELECT a FROM t")
        .result_stream()
        .await
        .unwrap();
    assert_eq!(stream.task_id().unwrap().as_str(), ID);
    let rows: Vec<Row> = stream.rows_stream().try_collect().await.unwrap();
    assert_eq!(rows.len(), 1000);
    assert_eq!(rows[999], Row { a: 999 });
}

#[tokio::test]
async fn a_truncated_json_result_is_an_error_not_fewer_rows() {
    let server = MockServer::start().await;
    serve_result(
        &server,
        ResponseTemplate::new(200).set_body_raw(r#"[{"a":1},{"a":2},{"a""#, "application/json"),
    )
    .await;
    let (c, _) = client(&server.uri());
    let stream = c
        .run_sql("ns", "SELECT a FROM t")
        .result_stream()
        .await
        .unwrap();
    let got: Vec<Result<Row, Error>> =
        futures::StreamExt::collect(stream.rows_stream::<Row>()).await;
    assert_eq!(got.len(), 3);
    assert!(got[0].is_ok() && got[1].is_ok());
    let Err(Error::Decode(d)) = &got[2] else {
        panic!("{got:?}")
    };
    assert!(d.message().contains("cut short"), "{d}");
    // The buffered path refuses it too.
    let e = c
        .run_sql("ns", "SELECT a FROM t")
        .await
        .unwrap()
        .rows::<Row>()
        .unwrap_err();
    assert!(matches!(e, Error::Decode(_)));
}

#[tokio::test]
async fn other_formats_come_back_as_raw_bytes_with_their_content_type() {
    let server = MockServer::start().await;
    serve_result(
        &server,
        ResponseTemplate::new(200).set_body_raw(
            vec![0x80u8, 0x04, 0x95],
            "application/vnd.tiledb.python-pickle",
        ),
    )
    .await;
    let (c, _) = client(&server.uri());
    let r = c
        .run_sql(
            "ns",
            SqlParameters::query("SELECT 1").result_format(ResultFormat::PythonPickle),
        )
        .await
        .unwrap();
    assert_eq!(r.format(), &ResultFormat::PythonPickle);
    assert_eq!(
        r.content_type(),
        Some("application/vnd.tiledb.python-pickle")
    );
    assert_eq!(&r.bytes()[..], &[0x80, 0x04, 0x95]);
    assert!(
        matches!(r.rows::<Row>(), Err(Error::Protocol(_))),
        "never decoded as JSON"
    );
}

#[tokio::test]
async fn a_content_type_contradicting_the_requested_format_is_a_clear_error() {
    let server = MockServer::start().await;
    serve_result(
        &server,
        ResponseTemplate::new(200)
            .set_body_raw(vec![1u8, 2, 3], "application/vnd.apache.arrow.stream"),
    )
    .await;
    let (c, _) = client(&server.uri());
    let e = c.run_sql("ns", "SELECT 1").await.unwrap_err();
    let Error::Protocol(p) = &e else {
        panic!("{e:?}")
    };
    let m = p.message();
    assert!(m.contains("asked for json") && m.contains("arrow"), "{m}");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[tokio::test]
async fn gzip_deflate_and_zstd_bodies_are_decoded_and_accept_encoding_is_sent() {
    let body = br#"[{"a":1},{"a":2}]"#;
    for (encoding, encoded) in [
        ("gzip", gzip(body)),
        ("deflate", deflate(body)),
        ("zstd", zstd::encode_all(&body[..], 3).unwrap()),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/task/t/result"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-encoding", encoding)
                    .set_body_raw(encoded, "application/json"),
            )
            .mount(&server)
            .await;
        let (c, _) = client(&server.uri());
        let r = c.task("t").result_format(ResultFormat::Json).await.unwrap();
        assert_eq!(
            r.rows::<Row>().unwrap(),
            vec![Row { a: 1 }, Row { a: 2 }],
            "{encoding}"
        );
        let sent = &server.received_requests().await.unwrap()[0];
        let ae = sent
            .headers
            .get("accept-encoding")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ae.contains(encoding), "{ae}");
    }
}

#[tokio::test]
async fn a_configured_accept_encoding_is_sent_and_still_decoded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("accept-encoding", "gzip"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .set_body_raw(gzip(b"hello"), "application/octet-stream"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = Client::builder()
        .host(server.uri())
        .api_key(clients::KEY)
        .accept_encoding("gzip")
        .build()
        .unwrap();
    match c.api().task_id_result_get("t", None).await.unwrap() {
        ResultResponse::Ready { body, .. } => assert_eq!(&body[..], b"hello"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn numbers_sent_as_strings_read_into_numeric_fields_when_opted_in() {
    #[derive(Deserialize)]
    struct Agg {
        #[serde(deserialize_with = "crate::support::prelude::lenient::number")]
        count: u64,
    }
    let server = MockServer::start().await;
    serve_result(
        &server,
        ResponseTemplate::new(200).set_body_json(json!([{"count": "12"}, {"count": 3}])),
    )
    .await;
    let (c, _) = client(&server.uri());
    let r = c
        .run_sql("ns", "SELECT count(*) AS count FROM t")
        .await
        .unwrap();
    let counts: Vec<u64> = r
        .rows::<Agg>()
        .unwrap()
        .into_iter()
        .map(|a| a.count)
        .collect();
    assert_eq!(counts, [12, 3]);
}

#[cfg(feature = "arrow")]
#[tokio::test]
async fn an_empty_arrow_body_is_no_batches_whole_or_streamed() {
    let server = MockServer::start().await;
    serve_result(
        &server,
        ResponseTemplate::new(200)
            .set_body_raw(Vec::<u8>::new(), "application/vnd.apache.arrow.stream"),
    )
    .await;
    let (c, _) = client(&server.uri());
    let arrow = SqlParameters::query("SELECT 1").result_format(ResultFormat::Arrow);
    let (schema, batches) = c
        .run_sql("ns", arrow.clone())
        .await
        .unwrap()
        .arrow()
        .unwrap();
    assert!(schema.fields().is_empty() && batches.is_empty());
    let streamed: Vec<_> = c
        .run_sql("ns", arrow)
        .result_stream()
        .await
        .unwrap()
        .record_batches()
        .try_collect()
        .await
        .unwrap();
    assert!(streamed.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Issue 12: decode errors never carry a value; booleans are lenient
// ---------------------------------------------------------------------------------------------

/// A value that looks like a secret, in a result row.
const SECRET_CELL: &str = "AKIA-row-secret-4f9e2b7c";

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // decoded to fail: the fields are never read
struct Typed {
    id: i64,
    price: i64,
}

#[tokio::test(flavor = "current_thread")]
async fn a_row_that_does_not_fit_names_row_column_types_and_task_never_the_value() {
    use crate::support::trace;
    use tracing_subscriber::fmt::format::FmtSpan;

    let server = MockServer::start().await;
    let body = format!(r#"[{{"id":1,"price":5}},{{"id":2,"price":"{SECRET_CELL}"}}]"#);
    serve_result(
        &server,
        ResponseTemplate::new(200).set_body_raw(body, "application/json"),
    )
    .await;
    let (out, guard) = trace::capture(FmtSpan::FULL);
    let (c, _) = client(&server.uri());
    let whole = c.run_sql("ns", "SELECT id, price FROM t").await.unwrap();
    let streamed: Vec<Result<Typed, Error>> = futures::StreamExt::collect(
        c.run_sql("ns", "SELECT id, price FROM t")
            .result_stream()
            .await
            .unwrap()
            .rows_stream::<Typed>(),
    )
    .await;
    let errors = [
        whole.rows::<Typed>().unwrap_err(),
        streamed.into_iter().find_map(Result::err).unwrap(),
    ];
    for e in &errors {
        tracing::error!(error = %e, debug = ?e, report = %e.report(), "decode failed");
    }
    drop(guard);
    for e in &errors {
        let Error::Decode(d) = e else { panic!("{e:?}") };
        assert_eq!((d.row(), d.column()), (Some(1), Some("price")), "{e}");
        assert_eq!(d.task_id().map(|t| t.as_str()), Some(ID));
        let text = e.to_string();
        assert!(text.contains("row 1, column `price`"), "{text}");
        assert!(
            text.contains("invalid type: string, expected i64"),
            "{text}"
        );
        assert!(text.contains(&format!("task {ID}")), "{text}");
        assert!(!format!("{e}{e:?}").contains(SECRET_CELL), "{e:?}");
        assert!(!format!("{e}{e:?}").contains("AKIA"), "{e:?}");
    }
    let logged = out.text();
    assert!(
        logged.contains("decode failed"),
        "the capture works: {logged}"
    );
    assert!(!logged.contains(SECRET_CELL), "{logged}");
}

#[derive(Debug, Deserialize, PartialEq)]
struct Flags {
    id: i64,
    done: bool,
    seen: Option<bool>,
}

#[tokio::test]
async fn zero_and_one_decode_into_bool_in_rows() {
    let server = MockServer::start().await;
    let body = r#"[{"id":1,"done":1,"seen":0},{"id":2,"done":0,"seen":null},{"id":3,"done":true,"seen":"true"},{"id":4,"done":"false","seen":1}]"#;
    serve_result(
        &server,
        ResponseTemplate::new(200).set_body_raw(body, "application/json"),
    )
    .await;
    let (c, _) = client(&server.uri());
    let expected = vec![
        Flags {
            id: 1,
            done: true,
            seen: Some(false),
        },
        Flags {
            id: 2,
            done: false,
            seen: None,
        },
        Flags {
            id: 3,
            done: true,
            seen: Some(true),
        },
        Flags {
            id: 4,
            done: false,
            seen: Some(true),
        },
    ];
    let whole = c.run_sql("ns", "SELECT * FROM flags").await.unwrap();
    assert_eq!(whole.rows::<Flags>().unwrap(), expected);
    let streamed: Vec<Flags> = c
        .run_sql("ns", "SELECT * FROM flags")
        .result_stream()
        .await
        .unwrap()
        .rows_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed, expected);
    // Only 0 and 1: another number is not a bool, nor is a bool an integer.
    let bad = MockServer::start().await;
    serve_result(
        &bad,
        ResponseTemplate::new(200)
            .set_body_raw(r#"[{"id":1,"done":2,"seen":null}]"#, "application/json"),
    )
    .await;
    let (c, _) = client(&bad.uri());
    let e = c
        .run_sql("ns", "SELECT 1")
        .await
        .unwrap()
        .rows::<Flags>()
        .unwrap_err();
    assert!(e.to_string().contains("row 0, column `done`"), "{e}");
}

#[tokio::test]
async fn a_tuple_row_that_does_not_fit_names_the_same_path_whole_and_streamed() {
    let server = MockServer::start().await;
    serve_result(
        &server,
        ResponseTemplate::new(200).set_body_raw(r#"[[1,"a"],[2,"b"],[3,4]]"#, "application/json"),
    )
    .await;
    let (c, _) = client(&server.uri());
    let whole = c
        .run_sql("ns", "SELECT n, s FROM t")
        .await
        .unwrap()
        .rows::<(i64, String)>()
        .unwrap_err();
    let streamed: Vec<Result<(i64, String), Error>> = futures::StreamExt::collect(
        c.run_sql("ns", "SELECT n, s FROM t")
            .result_stream()
            .await
            .unwrap()
            .rows_stream::<(i64, String)>(),
    )
    .await;
    let streamed = streamed.into_iter().find_map(Result::err).unwrap();
    for e in [&whole, &streamed] {
        let Error::Decode(d) = e else { panic!("{e:?}") };
        assert_eq!((d.path(), d.row()), ("[2][1]", Some(2)), "{e}");
        assert!(e.to_string().contains("row 2 at `[2][1]`"), "{e}");
        assert!(
            e.to_string()
                .contains("invalid type: integer, expected a string"),
            "{e}"
        );
    }
}

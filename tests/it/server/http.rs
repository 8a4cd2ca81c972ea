//! HTTP behaviour: compression, unknown routes, wrong methods, body limits, malformed JSON,
//! request ids.

use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};

use crate::support::local::{Harness, error_body, expect_error, has_task_id};
use crate::support::prelude::{API_KEY_HEADER, ServerConfig};

const ROUTE_NOT_FOUND: i64 = 1003;
const METHOD_NOT_ALLOWED: i64 = 1004;
const MALFORMED_BODY: i64 = 1007;
const BODY_TOO_LARGE: i64 = 1008;

const MANY_ROWS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                         WHERE x < 200) SELECT x, 'row number ' || x AS label FROM c";

/// A client that decodes nothing, so the wire encoding can be inspected.
fn raw_client() -> Client {
    Client::builder()
        .no_gzip()
        .no_deflate()
        .no_zstd()
        .build()
        .unwrap()
}

async fn rows_with_encoding(h: &Harness, encoding: Option<&str>) -> reqwest::Response {
    let mut request = raw_client()
        .post(h.url("/v1/sql/local"))
        .header(API_KEY_HEADER, &h.key)
        .json(&json!({ "query": MANY_ROWS }));
    if let Some(encoding) = encoding {
        request = request.header(header::ACCEPT_ENCODING, encoding);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn responses_are_compressed_as_accept_encoding_asks() {
    let h = Harness::default().await;

    let resp = rows_with_encoding(&h, Some("gzip")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
    let gzip = resp.bytes().await.unwrap();
    assert_eq!(&gzip[..2], &[0x1f, 0x8b], "gzip magic");

    let resp = rows_with_encoding(&h, Some("deflate")).await;
    assert_eq!(resp.headers()[header::CONTENT_ENCODING], "deflate");
    let deflate = resp.bytes().await.unwrap();

    let resp = rows_with_encoding(&h, None).await;
    assert!(!resp.headers().contains_key(header::CONTENT_ENCODING));
    let plain = resp.bytes().await.unwrap();
    let rows: Vec<Value> = serde_json::from_slice(&plain).unwrap();
    assert_eq!(rows.len(), 200);
    assert!(gzip.len() < plain.len() / 2 && deflate.len() < plain.len() / 2);

    // A decoding client gets the same rows through compression.
    let resp = h.sql("local", json!({ "query": MANY_ROWS })).await;
    assert_eq!(resp.bytes().await.unwrap(), plain);
}

#[tokio::test]
async fn unknown_routes_are_404_error_json() {
    let h = Harness::default().await;
    for path in ["/", "/v1", "/v1/tasks/sidebar", "/v2/tasks", "/v1/task"] {
        let resp = h.get(path).await;
        let message = expect_error(resp, StatusCode::NOT_FOUND, ROUTE_NOT_FOUND).await;
        assert!(message.contains(path), "{message}");
    }
    // Without credentials too: there is nothing there to protect.
    let resp = h.http.get(h.url("/nothing/here")).send().await.unwrap();
    expect_error(resp, StatusCode::NOT_FOUND, ROUTE_NOT_FOUND).await;
}

#[tokio::test]
async fn wrong_methods_are_405_error_json() {
    let h = Harness::default().await;
    let cases = [
        h.http.get(h.url("/v1/sql/local")),
        h.http.delete(h.url("/v1/task/x")),
        h.http.post(h.url("/v1/tasks")),
        h.http.put(h.url("/v1/task/x/result")),
    ];
    for request in cases {
        let resp = request.header(API_KEY_HEADER, &h.key).send().await.unwrap();
        assert!(resp.headers().contains_key(header::ALLOW));
        let message = expect_error(resp, StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED).await;
        assert!(message.contains("not allowed"), "{message}");
    }
}

#[tokio::test]
async fn oversized_bodies_are_413_error_json() {
    let h = Harness::start(ServerConfig::new().max_body_bytes(1024)).await;
    let query = format!("SELECT '{}'", "x".repeat(2000));
    let resp = h.sql("local", json!({ "query": query })).await;
    assert!(!has_task_id(&resp));
    let message = expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, BODY_TOO_LARGE).await;
    assert!(message.contains("1024"), "{message}");

    // Also when the body is streamed without a declared length.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(br#"{"query": "SELECT '"#.to_vec()),
        Ok(vec![b'y'; 4096]),
        Ok(br#"'"}"#.to_vec()),
    ];
    let resp = h
        .http
        .post(h.url("/v1/sql/local"))
        .header(API_KEY_HEADER, &h.key)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, BODY_TOO_LARGE).await;

    // Under the limit is fine.
    let resp = h.sql("local", json!({"query": "SELECT 1"})).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_json_bodies_are_400_error_json_with_serdes_message() {
    let h = Harness::default().await;
    for (body, expected) in [
        ("not json", "expected"),
        ("", "EOF"),
        (r#"{"query": 1}"#, "query: invalid type: integer"),
        (
            r#"{"query": "SELECT 1", "init_commands": "x"}"#,
            "init_commands",
        ),
        (r#"{"query": "SELECT 1"} trailing"#, "trailing"),
        ("[1, 2]", "invalid type"),
    ] {
        let resp = h.post_body(body).send().await.unwrap();
        assert!(!has_task_id(&resp));
        let message = expect_error(resp, StatusCode::BAD_REQUEST, MALFORMED_BODY).await;
        assert!(message.contains(expected), "{body}: {message}");
    }
    // The body is read as JSON whatever its declared type (as clients that forget the header).
    let resp = h
        .http
        .post(h.url("/v1/sql/local"))
        .header(API_KEY_HEADER, &h.key)
        .body(r#"{"query": "SELECT 1 AS a"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_answer_carries_a_fresh_request_id() {
    let h = Harness::default().await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3 {
        for resp in [
            h.get("/v1/tasks").await,
            h.sql("local", json!({"query": "SELECT 1"})).await,
            h.get("/v1/task/unknown").await,
        ] {
            let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
            assert_eq!(id.len(), 36, "a UUID: {id}");
            assert!(seen.insert(id));
            if !resp.status().is_success() {
                // error_body checks the body's request_id equals the header.
                error_body(resp).await;
            }
        }
    }
}

//! Connection limits: the header and idle timeouts, the connection limit (closing idle
//! connections first, else 503), the write timeout, and the `Error` bodies of 408/414/431/503.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::support::local::{Harness, expect_error};
use crate::support::prelude::{API_KEY_HEADER, ServerConfig};

const HEADER_TIMEOUT: i64 = 1019;
const URI_TOO_LONG: i64 = 1020;
const HEADERS_TOO_LARGE: i64 = 1021;
const TOO_MANY_CONNECTIONS: i64 = 1022;

/// A bound on what should happen within a configured timeout: the timeout plus generous slack.
fn within(timeout: Duration) -> Duration {
    timeout + Duration::from_secs(3)
}

async fn connect(h: &Harness) -> TcpStream {
    TcpStream::connect(h.server.addr()).await.unwrap()
}

/// Reads until the server closes the connection (end of stream or reset), at most `bound`;
/// what was read. Fails the test if the connection is still open then.
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let closed = tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server closed the connection within {bound:?}"
    );
    got
}

/// The status and JSON body of a raw HTTP/1.1 answer.
fn parse_answer(raw: &[u8]) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
    let status = head[9..12].parse().expect("a status code");
    let body = serde_json::from_str(body).expect("an Error JSON body");
    (status, head.to_ascii_lowercase(), body)
}

fn config() -> ServerConfig {
    ServerConfig::new()
        .header_timeout(Duration::from_millis(500))
        .idle_timeout(Duration::from_millis(1500))
}

#[tokio::test]
async fn a_half_sent_head_gets_408_with_an_error_body_within_the_header_timeout() {
    let h = Harness::start(config()).await;
    let mut stream = connect(&h).await;
    let started = Instant::now();
    stream
        .write_all(b"GET /v1/tasks HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow")
        .await
        .unwrap();
    let raw = read_until_closed(&mut stream, within(Duration::from_millis(500))).await;
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "not before the timeout"
    );
    let (status, head, body) = parse_answer(&raw);
    assert_eq!(status, 408);
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(body["code"], HEADER_TIMEOUT);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("header timeout of 500 ms")
    );
    assert!(body["request_id"].is_string());
}

#[tokio::test]
async fn a_head_trickled_a_byte_at_a_time_is_cut_off_at_the_header_timeout() {
    let h = Harness::start(config()).await;
    let mut stream = connect(&h).await;
    let head = b"GET /v1/tasks HTTP/1.1\r\nhost: 127.0.0.1\r\n";
    let started = Instant::now();
    for byte in head.iter().cycle().take(200) {
        // Each byte arrives well within any per-read timeout; the head as a whole never does.
        if stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        if started.elapsed() > within(Duration::from_millis(500)) {
            panic!("the trickled head was still being read after the header timeout");
        }
    }
    let raw = read_until_closed(&mut stream, within(Duration::from_millis(500))).await;
    assert_eq!(parse_answer(&raw).0, 408);
}

#[tokio::test]
async fn a_silent_connection_is_closed_within_the_header_timeout() {
    let h = Harness::start(config()).await;
    let mut stream = connect(&h).await;
    let raw = read_until_closed(&mut stream, within(Duration::from_millis(500))).await;
    assert!(
        raw.is_empty(),
        "nothing is sent to a client that sent nothing"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_within_the_idle_timeout() {
    let h = Harness::start(config()).await;
    let mut stream = connect(&h).await;
    let request = format!(
        "GET /v1/tasks HTTP/1.1\r\nhost: 127.0.0.1\r\n{API_KEY_HEADER}: {}\r\n\r\n",
        h.key
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let started = Instant::now();
    let raw = read_until_closed(&mut stream, within(Duration::from_millis(1500))).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    // Kept alive past the header timeout: the idle timeout is what closed it.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn more_idle_connections_than_the_limit_a_legitimate_request_is_still_answered_within_a_second()
 {
    let h = Harness::start(
        ServerConfig::new()
            .max_connections(8)
            .header_timeout(Duration::from_secs(60)),
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(connect(&h).await);
    }
    // Half of them started a head and stopped.
    for stream in idle.iter_mut().step_by(2) {
        let _ = stream.write_all(b"GET /v1/tasks HTTP/1.1\r\n").await;
    }
    for _ in 0..3 {
        let answered = tokio::time::timeout(Duration::from_secs(1), h.get("/v1/tasks")).await;
        let resp = answered.expect("answered within a second despite 40 idle connections");
        assert_eq!(resp.status(), StatusCode::OK);
    }
    // The oldest idle connections were closed to make room.
    let mut first = idle.remove(0);
    read_until_closed(&mut first, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn past_the_limit_with_every_connection_busy_a_new_one_gets_503_with_retry_after() {
    let h = Harness::start(ServerConfig::new().max_connections(2)).await;
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let http = reqwest::Client::new();
            let url = h.url("/v1/sql/local");
            let key = h.key.clone();
            tokio::spawn(async move {
                http.post(url)
                    .header(API_KEY_HEADER, key)
                    .json(&json!({ "query": "SELECT sleep(3000)" }))
                    .send()
                    .await
            })
        })
        .collect();
    // Fresh connections are served until both queries run (both connections busy); then one
    // is refused.
    let resp = crate::support::poll_until(crate::support::POLL_STEPS, || async {
        let resp = reqwest::Client::new()
            .get(h.url("/v1/tasks"))
            .header(API_KEY_HEADER, &h.key)
            .send()
            .await
            .ok()?;
        (resp.status() != StatusCode::OK).then_some(resp)
    })
    .await
    .expect("a connection past the limit is refused");
    assert_eq!(resp.headers()["retry-after"], "1");
    let message = expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, TOO_MANY_CONNECTIONS).await;
    assert!(message.contains("max_connections"), "{message}");
    for b in busy {
        let resp = b.await.unwrap().unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
    }
}

#[tokio::test]
async fn a_100_kb_search_is_414_and_a_200_kb_header_431_both_with_error_bodies() {
    let h = Harness::default().await;
    // reqwest refuses to send such a URI: over a raw connection.
    let mut stream = connect(&h).await;
    let search = "x".repeat(100 * 1024);
    let request = format!(
        "GET /v1/tasks?search={search} HTTP/1.1\r\nhost: 127.0.0.1\r\n{API_KEY_HEADER}: {}\r\n\r\n",
        h.key
    );
    let _ = stream.write_all(request.as_bytes()).await;
    let raw = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let (status, head, body) = parse_answer(&raw);
    assert_eq!(status, 414);
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(body["code"], URI_TOO_LONG);
    assert!(
        body["message"].as_str().unwrap().contains("65534 bytes"),
        "{body}"
    );

    let mut answered = Vec::new();
    for size in [70 * 1024, 200 * 1024, 1024 * 1024] {
        let resp = h
            .http
            .get(h.url("/v1/tasks"))
            .header(API_KEY_HEADER, &h.key)
            .header("x-padding", "p".repeat(size))
            .send()
            .await;
        // A client may see the connection close while it is still sending the head.
        let Ok(resp) = resp else { continue };
        let message = expect_error(
            resp,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HEADERS_TOO_LARGE,
        )
        .await;
        assert!(message.contains("65536 bytes"), "{size}: {message}");
        answered.push(size);
    }
    // The 200 KB header (within hyper's read buffer) is always answered.
    assert!(answered.contains(&(200 * 1024)), "{answered:?}");
    // The server is fine afterwards.
    assert_eq!(h.get("/v1/tasks").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_client_that_reads_nothing_is_dropped_after_the_write_timeout() {
    let h = Harness::start(ServerConfig::new().write_timeout(Duration::from_millis(300))).await;
    // A 32 MB answer: far more than the loopback socket buffers hold.
    let id = h
        .submit_detached("local", "SELECT hex(zeroblob(16000000)) AS big")
        .await;
    h.wait_terminal(&id).await;
    let mut stream = connect(&h).await;
    let request = format!(
        "GET /v1/task/{id}/result HTTP/1.1\r\nhost: 127.0.0.1\r\n{API_KEY_HEADER}: {}\r\n\r\n",
        h.key
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Read nothing for well past the write timeout, then everything there is.
    tokio::time::sleep(Duration::from_millis(300) + Duration::from_secs(2)).await;
    let raw = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(
        raw.len() < 32_000_000,
        "the answer was cut off ({} bytes arrived)",
        raw.len()
    );
    // Other clients are served meanwhile and after.
    assert_eq!(h.get("/v1/tasks").await.status(), StatusCode::OK);
}

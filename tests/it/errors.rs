//! Errors as a caller prints and asks them (issue 12): each layer's `Display` names itself only,
//! the cause is reachable through `source()`, `Error::report()` prints the chain once, and the
//! predicates answer for connection refused, an unresolvable host, a TLS handshake failure and a
//! timeout. Everything talks to 127.0.0.1 only (the unresolvable host never reaches a resolver).

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;

use crate::support::clients::{KEY, builder};
use crate::support::fault_server::{FaultServer, Script};
use crate::support::prelude::{Error, RetryPolicy, TransportCause, VirtualClock, reqwest};

/// The texts of the error and of every cause under it.
fn chain(e: &Error) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        out.push(c.to_string());
        cur = c.source();
    }
    out
}

/// No layer repeats another's text, and the one-line report holds each layer exactly once.
fn assert_nothing_twice(e: &Error) {
    let texts = chain(e);
    for (i, a) in texts.iter().enumerate() {
        for (j, b) in texts.iter().enumerate() {
            assert!(
                i == j || !a.to_lowercase().contains(&b.to_lowercase()),
                "layer {i} repeats layer {j}: {texts:#?}"
            );
        }
    }
    let report = e.report().to_string();
    assert_eq!(report, texts.join(": "), "the report is the chain, once");
    let multi = format!("{:#}", e.report());
    assert_eq!(multi.lines().count(), texts.len(), "{multi}");
}

/// One attempt per request, so the error is the first failure.
fn once() -> RetryPolicy {
    RetryPolicy::default().max_attempts(1)
}

async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

#[tokio::test]
async fn connection_refused_is_named_in_the_chain_and_is_a_connect_error() {
    let addr = refused_addr().await;
    let clock = VirtualClock::new();
    let c = builder(&format!("http://{addr}"), &clock)
        .retry_policy(once())
        .build()
        .unwrap();
    let e = c.api().task_id_get("t-1").await.unwrap_err();
    let report = e.report().to_string();
    assert!(report.contains("could not connect"), "{report}");
    assert!(report.contains("Connection refused"), "{report}");
    let Error::Transport(t) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(t.kind(), TransportCause::Connect);
    assert!(e.is_connect() && !e.is_timeout() && e.is_retryable());
    assert_eq!(e.status(), None);
    assert_nothing_twice(&e);
}

/// A resolver that knows no name: the lookup fails without any network.
struct NoNames;

impl reqwest::dns::Resolve for NoNames {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move { Err(format!("no address is known for {name}").into()) })
    }
}

#[tokio::test]
async fn an_unresolvable_host_is_named_in_the_chain_and_is_a_connect_error() {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(NoNames))
        .build()
        .unwrap();
    let clock = VirtualClock::new();
    let c = builder("http://tasks.invalid:8080", &clock)
        .retry_policy(once())
        .http_client(http)
        .build()
        .unwrap();
    let e = c.api().task_id_get("t-1").await.unwrap_err();
    let report = e.report().to_string();
    assert!(
        report.contains("could not resolve the host name"),
        "{report}"
    );
    assert!(
        report.contains("no address is known for tasks.invalid"),
        "{report}"
    );
    let Error::Transport(t) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(t.kind(), TransportCause::Dns);
    assert!(e.is_connect() && !e.is_timeout());
    assert_nothing_twice(&e);
}

/// A server that answers a TLS hello in plain HTTP, as an `http://` service does when the client
/// was told `https://`.
async fn plain_http_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = sock
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
                let _ = sock.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_tls_handshake_failure_is_named_in_the_chain_and_is_a_connect_error() {
    let addr = plain_http_server().await;
    let clock = VirtualClock::new();
    let c = builder(&format!("https://{addr}"), &clock)
        .retry_policy(once())
        .build()
        .unwrap();
    let e = c.api().task_id_get("t-1").await.unwrap_err();
    let report = e.report().to_string();
    assert!(
        report.contains("the TLS handshake failed"),
        "{report} {e:?}"
    );
    let Error::Transport(t) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(t.kind(), TransportCause::Tls, "{report} {e:?}");
    assert!(e.is_connect() && !e.is_timeout());
    assert_nothing_twice(&e);
}

#[tokio::test]
async fn a_timeout_is_named_in_the_chain_and_answers_is_timeout() {
    let server = FaultServer::start(|_| Script::Silent).await;
    let clock = VirtualClock::new();
    let c = builder(&server.uri(), &clock)
        .retry_policy(once())
        .timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let e = c.api().task_id_get("t-1").await.unwrap_err();
    let report = e.report().to_string();
    assert!(
        report.contains("no answer within the time limit"),
        "{report}"
    );
    assert!(report.contains("timed out"), "{report}");
    let Error::Transport(t) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(t.kind(), TransportCause::Timeout);
    assert!(e.is_timeout() && !e.is_connect() && e.is_retryable());
    assert_nothing_twice(&e);
}

#[tokio::test]
async fn a_listing_error_names_its_page_and_leaves_the_cause_to_source() {
    let addr = refused_addr().await;
    let clock = VirtualClock::new();
    let c = builder(&format!("http://{addr}"), &clock)
        .retry_policy(once())
        .build()
        .unwrap();
    let e = c
        .tasks()
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(e.resume_page(), Some(1));
    assert_eq!(e.to_string(), "listing tasks stopped at page 1");
    assert!(
        e.source()
            .is_some_and(|s| s.to_string().contains("could not connect"))
    );
    assert!(e.is_connect() && e.is_retryable());
    assert_nothing_twice(&e);
    assert!(!format!("{e:?}{}", e.report()).contains(KEY));
}

#[tokio::test]
async fn a_key_or_password_the_server_echoes_is_scrubbed_from_the_error() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    // The server quotes the credentials it was sent, in its message and in a body that is not an
    // Error document.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(|req: &Request| {
            let key = req
                .headers
                .get("x-tiledb-rest-api-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let auth = req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            if key.is_empty() {
                ResponseTemplate::new(401).set_body_string(format!("<h1>bad {auth}</h1>"))
            } else {
                ResponseTemplate::new(401)
                    .set_body_json(serde_json::json!({"message": format!("invalid key {key}")}))
            }
        })
        .mount(&server)
        .await;
    let clock = VirtualClock::new();
    let c = builder(&server.uri(), &clock).build().unwrap();
    let e = c.api().task_id_get("t-1").await.unwrap_err();
    let text = format!("{e} | {e:?} | {}", e.report());
    assert!(text.contains("invalid key [redacted]"), "{text}");
    assert!(!text.contains(KEY), "{text}");
    assert_eq!(e.status(), Some(401));

    let password = "pw-0c9d8e7f-secret";
    let c = crate::support::prelude::Client::builder()
        .host(server.uri())
        .basic_auth("alice", password)
        .clock(clock.clone())
        .build()
        .unwrap();
    let e = c.api().task_id_get("t-1").await.unwrap_err();
    let text = format!("{e} | {e:?} | {}", e.report());
    assert!(text.contains("bad Basic [redacted]"), "{text}");
    assert!(!text.contains(password), "{text}");
    let basic = "YWxpY2U6cHctMGM5ZDhlN2Ytc2VjcmV0"; // base64("alice:" + password)
    assert!(!text.contains(basic), "{text}");
}

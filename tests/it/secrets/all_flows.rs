//! The API key never leaks, across every flow: the run_sql handle (polling, progress updates,
//! failure, timeout, streamed results), task_id_get, task_id_result_get, the tasks() stream (to
//! its error), redirects (same host, other host, loops, unusable, POST 307 and 303), transport
//! failures (refused, reset, silent), with an API key and with basic auth.
//!
//! Everything tracing emits on the test's thread is captured at TRACE level, `log` records
//! included (the HTTP stack's), together with the Debug and Display of every error (and its
//! sources), every update and result, and the client, its builder, credentials and policies. The
//! key, and the base64 of the basic-auth credentials, must appear in none of it, nor in anything
//! sent to another host. The tests run on a current-thread runtime, so the SDK's work (its
//! spawned tasks and connections included) and the scripted fault server all run on that thread,
//! under the capture; wiremock serves from threads of its own, whose records (the mock service's,
//! not the SDK's) stay out of it.
//!
//! Also here: redirects of the SQL POST (307 to another host repeats the POST without the key; 303,
//! and 301/302, turn into a GET without a body; loops are bounded and run nothing).

use std::fmt::{Debug, Display};
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::{Value, json};
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::fmt::format::FmtSpan;
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::clients::{self, KEY};
use crate::support::fault_server::{Answer, FaultServer, Script, Seen};
use crate::support::fixtures::TWO_ROWS;
use crate::support::prelude::{
    Client, Credentials, Error, PollPolicy, RetryPolicy, Secret, SqlParameters, TASK_ID_HEADER,
    VirtualClock,
};
use crate::support::refused_uri;
use crate::support::trace::{self, Captured};

const API_KEY_HEADER: &str = "x-tiledb-rest-api-key";
const USER: &str = "me";

const T_OK: &str = "00000000-0000-4000-8000-0000000000a1";
const T_FAIL: &str = "00000000-0000-4000-8000-0000000000a2";
const T_SLOW: &str = "00000000-0000-4000-8000-0000000000a3";
const T_CUT: &str = "00000000-0000-4000-8000-0000000000a4";
const T_BAD: &str = "00000000-0000-4000-8000-0000000000a5";

// ---------------------------------------------------------------------------------------------
// Capture
// ---------------------------------------------------------------------------------------------

/// Everything at TRACE on this thread, with every span event, and the `log` bridge, so that spans
/// and events from every crate (reqwest and hyper-util included) are captured; until the guard
/// drops.
fn capture() -> (Captured, DefaultGuard) {
    trace::capture(FmtSpan::FULL)
}

/// Base64 (standard, padded), for the `Authorization: Basic` form of the credentials.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The forms a leaked secret could take.
fn secret_forms() -> Vec<String> {
    vec![
        KEY.to_owned(),
        base64(format!("{USER}:{KEY}").as_bytes()),
        // The middle of the key alone, in case something truncates or quotes it.
        KEY[5..KEY.len() - 5].to_owned(),
    ]
}

fn assert_no_secret(what: &str, text: &str) {
    for form in secret_forms() {
        assert!(
            !text.contains(&form),
            "the secret ({form}) leaked into {what}:\n{text}"
        );
    }
}

/// Every text a value shows the world.
#[derive(Default)]
struct Texts(Vec<(String, String)>);

impl Texts {
    fn debug(&mut self, what: &str, v: &impl Debug) {
        self.0.push((format!("{what} (Debug)"), format!("{v:?}")));
        self.0
            .push((format!("{what} (Debug, pretty)"), format!("{v:#?}")));
    }

    fn display(&mut self, what: &str, v: &impl Display) {
        self.0.push((format!("{what} (Display)"), v.to_string()));
    }

    /// An error's Debug and Display, and the Display of each of its sources.
    fn error(&mut self, what: &str, e: &Error) {
        self.debug(what, e);
        self.display(what, e);
        let mut source = std::error::Error::source(e);
        let mut depth = 0;
        while let Some(s) = source {
            depth += 1;
            self.0
                .push((format!("{what} (source {depth})"), s.to_string()));
            source = s.source();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

fn rows() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header(TASK_ID_HEADER, T_OK)
        .set_body_raw(TWO_ROWS, "application/json")
}

fn task(id: &str, status: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": id, "status": status, "status_message": "no such table: t", "sql_query": "SELECT 1"
    }))
}

fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": 1003, "message": message, "request_id": "req-1"
    }))
}

fn page(n: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "array_tasks": [{"id": format!("p{n}-a"), "status": "COMPLETED"}, {"id": format!("p{n}-b")}],
        "pagination_metadata": {"page": n, "per_page": 2, "total_pages": 3, "total_items": 6}
    }))
}

async fn on(server: &MockServer, m: &str, p: impl Into<String>, r: ResponseTemplate) {
    Mock::given(method(m))
        .and(path(p.into()))
        .respond_with(r)
        .mount(server)
        .await;
}

async fn on_query(server: &MockServer, query: &str, r: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v1/sql/ns"))
        .and(body_partial_json(json!({ "query": query })))
        .respond_with(r)
        .mount(server)
        .await;
}

/// Every request gets an answer, so wiremock never logs an unmatched request (with its headers).
async fn catch_all(server: &MockServer) {
    Mock::given(wiremock::matchers::any())
        .respond_with(error(404, "no such route"))
        .with_priority(u8::MAX)
        .mount(server)
        .await;
}

/// The service: every route of every flow, answered well or badly as the flow needs.
async fn service(elsewhere: &MockServer) -> MockServer {
    let s = MockServer::start().await;
    let submitted = |id: &str| ResponseTemplate::new(204).insert_header(TASK_ID_HEADER, id);
    on_query(&s, "SELECT ok", submitted(T_OK)).await;
    on_query(&s, "SELECT fail", submitted(T_FAIL)).await;
    on_query(&s, "SELECT slow", submitted(T_SLOW)).await;
    on_query(&s, "SELECT cut", submitted(T_CUT)).await;
    on_query(
        &s,
        "SELEC",
        error(400, "syntax error near SELEC").insert_header(TASK_ID_HEADER, T_BAD),
    )
    .await;
    on(
        &s,
        "POST",
        "/v1/sql/moved",
        ResponseTemplate::new(307)
            .insert_header("location", format!("{}/v1/sql/ns", elsewhere.uri())),
    )
    .await;
    on(
        &s,
        "POST",
        "/v1/sql/see-other",
        ResponseTemplate::new(303).insert_header("location", format!("/v1/task/{T_OK}/result")),
    )
    .await;
    // T_OK: two 202s, then the rows.
    Mock::given(method("GET"))
        .and(path(format!("/v1/task/{T_OK}/result")))
        .respond_with(ResponseTemplate::new(202).insert_header("retry-after", "1"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&s)
        .await;
    on(&s, "GET", format!("/v1/task/{T_OK}/result"), rows()).await;
    on(
        &s,
        "GET",
        format!("/v1/task/{T_OK}"),
        task(T_OK, "COMPLETED"),
    )
    .await;
    // T_FAIL: no result; the task failed.
    on(
        &s,
        "GET",
        format!("/v1/task/{T_FAIL}/result"),
        error(404, "not stored"),
    )
    .await;
    on(
        &s,
        "GET",
        format!("/v1/task/{T_FAIL}"),
        task(T_FAIL, "FAILED"),
    )
    .await;
    // T_SLOW: running forever.
    on(
        &s,
        "GET",
        format!("/v1/task/{T_SLOW}/result"),
        ResponseTemplate::new(202),
    )
    .await;
    // T_CUT: a result whose JSON stops half-way.
    on(
        &s,
        "GET",
        format!("/v1/task/{T_CUT}/result"),
        ResponseTemplate::new(200).set_body_raw(r#"[{"a":1,"b":"x"},{"a":"#, "application/json"),
    )
    .await;
    on(&s, "GET", "/v1/task/missing", error(404, "no such task")).await;
    on(&s, "GET", "/v1/task/bad", error(500, "internal")).await;
    on(&s, "GET", "/v1/task/bad/result", error(500, "internal")).await;
    on(
        &s,
        "GET",
        "/v1/task/garbled",
        ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html"),
    )
    .await;
    on(
        &s,
        "GET",
        "/v1/task/old",
        ResponseTemplate::new(301).insert_header("location", format!("/v1/task/{T_OK}")),
    )
    .await;
    on(
        &s,
        "GET",
        "/v1/task/away",
        ResponseTemplate::new(307)
            .insert_header("location", format!("{}/v1/task/{T_OK}", elsewhere.uri())),
    )
    .await;
    on(
        &s,
        "GET",
        "/v1/task/loop",
        ResponseTemplate::new(302).insert_header("location", "/v1/task/loop"),
    )
    .await;
    on(
        &s,
        "GET",
        "/v1/task/nowhere",
        ResponseTemplate::new(302).insert_header("location", "ftp://127.0.0.1/x"),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/v1/tasks"))
        .and(query_param("page", "2"))
        .respond_with(page(2))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/tasks"))
        .and(query_param("page", "3"))
        .respond_with(error(503, "overloaded").insert_header("retry-after", "2"))
        .mount(&s)
        .await;
    // Page 1, asked for or not.
    Mock::given(method("GET"))
        .and(path("/v1/tasks"))
        .respond_with(page(1))
        .with_priority(6)
        .mount(&s)
        .await;
    catch_all(&s).await;
    s
}

/// Another host (another port is another origin): takes redirected requests.
async fn elsewhere() -> MockServer {
    let s = MockServer::start().await;
    on(
        &s,
        "POST",
        "/v1/sql/ns",
        ResponseTemplate::new(204).insert_header(TASK_ID_HEADER, T_OK),
    )
    .await;
    on(
        &s,
        "GET",
        format!("/v1/task/{T_OK}"),
        task(T_OK, "COMPLETED"),
    )
    .await;
    on(&s, "GET", format!("/v1/task/{T_OK}/result"), rows()).await;
    catch_all(&s).await;
    s
}

fn client(uri: &str, credentials: Credentials, timeout: Duration, attempts: u32) -> Client {
    clients::builder(uri, &VirtualClock::new())
        .credentials(Some(credentials))
        .retry_policy(RetryPolicy::default().max_attempts(attempts))
        .poll_policy(PollPolicy::default().deadline(Duration::from_secs(30)))
        .timeout(Some(timeout))
        .build()
        .expect("client")
}

// ---------------------------------------------------------------------------------------------
// Every flow, with the key
// ---------------------------------------------------------------------------------------------

/// Runs every flow with client `c` and records every text it produced.
async fn every_flow(c: &Client, texts: &mut Texts) {
    let api = c.api();

    // run_sql: submitted, polled twice (202 with Retry-After), rows; watched through updates.
    let updates: Vec<_> = c.run_sql("ns", "SELECT ok").updates().collect().await;
    assert!(updates.len() >= 2, "{updates:?}");
    for u in &updates {
        texts.debug("update", u);
    }
    let r = c.run_sql("ns", "SELECT ok").await.expect("rows");
    texts.debug("SqlResult", &r);
    // run_sql: the task failed.
    let e = c.run_sql("ns", "SELECT fail").await.unwrap_err();
    assert!(matches!(e, Error::TaskFailed { .. }), "{e:?}");
    texts.error("TaskFailed", &e);
    // run_sql: refused (400, with a task id and a request id).
    let e = c.run_sql("ns", "SELEC").await.unwrap_err();
    assert_eq!(e.status(), Some(400));
    texts.error("run_sql 400", &e);
    // run_sql: the deadline.
    let e = c
        .run_sql("ns", "SELECT slow")
        .deadline(Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    texts.error("Timeout", &e);
    // run_sql, streamed: a result cut short.
    let stream = c.run_sql("ns", "SELECT cut").result_stream().await.unwrap();
    texts.debug("ResultStream", &stream);
    let items: Vec<_> = stream.rows_stream::<Value>().collect().await;
    let e = items.into_iter().find_map(Result::err).expect("cut short");
    texts.error("rows_stream cut short", &e);
    // run_sql, resumed, and a handle's own Debug.
    let handle = c.task(T_OK);
    texts.debug("TaskHandle", &handle);
    texts.debug("resumed result", &handle.await.expect("rows"));
    // run_sql through the low-level API.
    let e = api
        .run_sql("ns", &SqlParameters::query("SELEC"), None)
        .await
        .unwrap_err();
    texts.error("api.run_sql 400", &e);

    // task_id_get: found, missing, failing (retried), garbled.
    texts.debug("ArrayTask", &api.task_id_get(T_OK).await.expect("task"));
    for id in ["missing", "bad", "garbled"] {
        let e = api.task_id_get(id).await.unwrap_err();
        texts.error(&format!("task_id_get {id}"), &e);
    }

    // task_id_result_get: ready, running, not available, failing.
    for id in [T_OK, T_SLOW, T_FAIL] {
        let r = api.task_id_result_get(id, None).await.expect("an answer");
        texts.debug("ResultResponse", &r);
    }
    let e = api
        .task_id_result_get("bad", Some("gzip"))
        .await
        .unwrap_err();
    texts.error("task_id_result_get bad", &e);

    // tasks(): two pages, then a page that keeps failing.
    let list = c.tasks().per_page(2);
    texts.debug("TaskList", &list);
    texts.debug("first page", &list.first_page().await.expect("page"));
    let items: Vec<_> = list.clone().stream().collect().await;
    assert_eq!(items.iter().filter(|i| i.is_ok()).count(), 4);
    let e = items
        .into_iter()
        .find_map(Result::err)
        .expect("the listing error");
    assert_eq!(e.resume_page(), Some(3));
    texts.error("Listing", &e);
    let pages: Vec<_> = list.pages().collect().await;
    texts.debug("pages", &pages);

    // Redirects: same host (followed, with the key), another host (without it), a loop, an
    // unusable Location; and the SQL POST moved to another host, and answered with See Other.
    texts.debug(
        "same-host redirect",
        &api.task_id_get("old").await.expect("followed"),
    );
    texts.debug(
        "cross-host redirect",
        &api.task_id_get("away").await.expect("followed"),
    );
    for id in ["loop", "nowhere"] {
        let e = api.task_id_get(id).await.unwrap_err();
        assert!(matches!(e, Error::Redirect(_)), "{e:?}");
        texts.error(&format!("redirect {id}"), &e);
    }
    texts.debug(
        "POST 307 to another host",
        &c.run_sql("moved", "SELECT ok").await.expect("rows"),
    );
    texts.debug(
        "POST 303",
        &c.run_sql("see-other", "SELECT ok").await.expect("rows"),
    );
}

/// Transport failures: refused, reset mid-body, never answered.
async fn transport_failures(credentials: Credentials, texts: &mut Texts) {
    // Refused: a port nobody listens on.
    let c = client(
        &refused_uri(),
        credentials.clone(),
        Duration::from_secs(5),
        2,
    );
    let e = c.run_sql("ns", "SELECT 1").await.unwrap_err();
    texts.error("connection refused (POST)", &e);
    let e = c.api().task_id_get("t").await.unwrap_err();
    texts.error("connection refused (GET)", &e);
    let e = c
        .tasks()
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    texts.error("connection refused (tasks)", &e);

    // Reset mid-body, and silence, from the scripted server.
    let faults = FaultServer::start(|req: &Seen| match req.path() {
        "/v1/sql/ns" => Script::Answer(Answer::status(204).header(TASK_ID_HEADER, T_CUT)),
        p if p.ends_with("/result") => Script::ResetAfter(
            Answer::json(200, TWO_ROWS).header(TASK_ID_HEADER, T_CUT),
            10,
        ),
        _ => Script::Silent,
    })
    .await;
    let c = client(&faults.uri(), credentials, Duration::from_millis(300), 2);
    let e = c.run_sql("ns", "SELECT 1").await.unwrap_err();
    texts.error("reset mid-body", &e);
    let e = c.api().task_id_get("t").await.unwrap_err();
    texts.error("never answered", &e);
    for seen in faults.seen() {
        assert!(
            seen.header(API_KEY_HEADER).is_some() || seen.header("authorization").is_some(),
            "the service itself gets the credentials"
        );
    }
}

/// Configuration: the builder, the client and the credentials show no secret, and neither do the
/// errors of a key that cannot be sent.
fn configuration(texts: &mut Texts) {
    let builder = Client::builder().host("http://127.0.0.1:9").api_key(KEY);
    texts.debug("ClientBuilder (key)", &builder);
    texts.debug("Client (key)", &builder.build().unwrap());
    let builder = Client::builder()
        .host("http://127.0.0.1:9")
        .basic_auth(USER, KEY);
    texts.debug("ClientBuilder (basic)", &builder);
    texts.debug("Client (basic)", &builder.build().unwrap());
    texts.debug("Credentials (key)", &Credentials::api_key(KEY));
    texts.debug("Credentials (basic)", &Credentials::basic(USER, KEY));
    texts.debug("Secret", &Secret::new(KEY));
    texts.display("Secret", &Secret::new(KEY));
    texts.debug("RetryPolicy", &RetryPolicy::default());
    texts.debug("PollPolicy", &PollPolicy::default());
    // A key a header cannot carry is refused without being quoted.
    for bad in [format!("{KEY}\n"), format!("{KEY}\u{7f}")] {
        let e = Client::builder().api_key(bad).build().unwrap_err();
        texts.error("Config (bad key)", &e);
    }
    let e = Client::builder()
        .host("not a host at all")
        .api_key(KEY)
        .build()
        .unwrap_err();
    texts.error("Config (bad host)", &e);
}

#[tokio::test(flavor = "current_thread")]
async fn the_key_appears_nowhere_across_every_flow_error_update_and_trace() {
    let (out, _guard) = capture();
    let other = elsewhere().await;
    let svc = service(&other).await;
    let mut texts = Texts::default();

    let with_key = client(
        &svc.uri(),
        Credentials::api_key(KEY),
        Duration::from_secs(10),
        3,
    );
    texts.debug("Client", &with_key);
    texts.debug("TasksApi", &with_key.api());
    every_flow(&with_key, &mut texts).await;
    let basic = client(
        &svc.uri(),
        Credentials::basic(USER, KEY),
        Duration::from_secs(10),
        3,
    );
    texts.debug("Client (basic)", &basic);
    every_flow(&basic, &mut texts).await;
    transport_failures(Credentials::api_key(KEY), &mut texts).await;
    transport_failures(Credentials::basic(USER, KEY), &mut texts).await;
    configuration(&mut texts);

    // The check is not vacuous: the service did get the credentials, and the trace holds the spans
    // of every flow and the HTTP stack's own records.
    let to_service = svc.received_requests().await.unwrap();
    assert!(
        to_service
            .iter()
            .any(|r| r.headers.get(API_KEY_HEADER).is_some_and(|v| v == KEY))
    );
    assert!(
        to_service
            .iter()
            .any(|r| r.headers.get("authorization").is_some())
    );
    let trace = out.text();
    for expected in [
        "http_request",
        "run_sql",
        "task_wait",
        "list_tasks",
        "tasks_get",
        "retrying GET",
        "following a redirect to another host without credentials",
        "http.response.status_code=503",
        "error.type=\"timeout\"",
        "hyper_util",
    ] {
        assert!(trace.contains(expected), "no {expected:?} in the trace");
    }

    // The assertion.
    assert_no_secret("the trace", &trace);
    for (what, text) in &texts.0 {
        assert_no_secret(what, text);
    }
    // Nothing that reached the other host carries a credential, in any header, the URL or the body.
    let to_other = other.received_requests().await.unwrap();
    assert!(to_other.len() >= 4, "the redirects reached the other host");
    for r in to_other {
        assert!(r.headers.get(API_KEY_HEADER).is_none());
        assert!(r.headers.get("authorization").is_none());
        for (name, value) in &r.headers {
            assert_no_secret(
                &format!("header {name} sent to another host"),
                value.to_str().unwrap_or(""),
            );
        }
        assert_no_secret("a URL sent to another host", r.url.as_str());
        assert_no_secret(
            "a body sent to another host",
            &String::from_utf8_lossy(&r.body),
        );
    }
    // Nor does anything sent to the service carry it outside its header.
    for r in to_service {
        assert_no_secret("a URL", r.url.as_str());
        assert_no_secret("a body", &String::from_utf8_lossy(&r.body));
    }
}

// ---------------------------------------------------------------------------------------------
// Redirects of the SQL POST
// ---------------------------------------------------------------------------------------------

fn key_client(uri: &str) -> Client {
    client(uri, Credentials::api_key(KEY), Duration::from_secs(10), 4)
}

#[tokio::test(flavor = "current_thread")]
async fn a_post_redirected_307_to_another_host_is_repeated_there_without_the_key_and_runs_once() {
    let (_trace, _guard) = capture();
    let other = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sql/ns"))
        .respond_with(ResponseTemplate::new(204).insert_header(TASK_ID_HEADER, T_OK))
        .expect(1)
        .mount(&other)
        .await;
    let svc = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/v1/sql/ns", other.uri())),
        )
        .expect(1)
        .mount(&svc)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/task/{T_OK}/result")))
        .and(wiremock::matchers::header(API_KEY_HEADER, KEY))
        .respond_with(rows())
        .expect(1)
        .mount(&svc)
        .await;
    let r = key_client(&svc.uri())
        .run_sql("ns", "SELECT a, b FROM t")
        .await
        .unwrap();
    assert_eq!(
        r.json().unwrap(),
        serde_json::from_str::<Value>(TWO_ROWS).unwrap()
    );

    let at_svc = svc.received_requests().await.unwrap();
    let at_other = other.received_requests().await.unwrap();
    assert_eq!(at_other.len(), 1);
    let moved = &at_other[0];
    assert_eq!(moved.method.as_str(), "POST", "307 repeats the method");
    assert_eq!(moved.body, at_svc[0].body, "and the body");
    assert!(
        moved.headers.get(API_KEY_HEADER).is_none(),
        "the key stayed home"
    );
    assert!(moved.headers.get("authorization").is_none());
    assert_eq!(at_svc[0].headers.get(API_KEY_HEADER).unwrap(), KEY);
}

#[tokio::test(flavor = "current_thread")]
async fn a_post_answered_303_301_or_302_turns_into_a_get_without_a_body() {
    let (_trace, _guard) = capture();
    for status in [303u16, 301, 302] {
        let svc = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/sql/ns"))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("location", format!("/v1/task/{T_OK}/result")),
            )
            .expect(1)
            .mount(&svc)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/v1/task/{T_OK}/result")))
            .respond_with(rows())
            .expect(1)
            .mount(&svc)
            .await;
        let r = key_client(&svc.uri())
            .run_sql("ns", "SELECT a, b FROM t")
            .await
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        assert_eq!(r.task_id().unwrap().as_str(), T_OK);
        let seen = svc.received_requests().await.unwrap();
        assert_eq!(seen.len(), 2, "{status}: one POST, then one GET");
        let get = &seen[1];
        assert_eq!(get.method.as_str(), "GET", "{status}");
        assert!(get.body.is_empty(), "{status}: the query is not sent again");
        assert!(get.headers.get("content-type").is_none(), "{status}");
        assert_eq!(
            get.headers.get(API_KEY_HEADER).unwrap(),
            KEY,
            "{status}: same host, so the key goes along"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_post_answered_303_to_another_host_gets_there_without_the_key() {
    let (_trace, _guard) = capture();
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/task/{T_OK}/result")))
        .respond_with(rows())
        .expect(1)
        .mount(&other)
        .await;
    let svc = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(303)
                .insert_header("location", format!("{}/v1/task/{T_OK}/result", other.uri())),
        )
        .expect(1)
        .mount(&svc)
        .await;
    key_client(&svc.uri())
        .run_sql("ns", "SELECT a, b FROM t")
        .await
        .unwrap();
    let at_other = other.received_requests().await.unwrap();
    assert_eq!(at_other[0].method.as_str(), "GET");
    assert!(at_other[0].body.is_empty());
    assert!(at_other[0].headers.get(API_KEY_HEADER).is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn a_post_redirect_loop_is_bounded_and_never_retried() {
    let (_trace, _guard) = capture();
    let svc = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", "/v1/sql/ns"))
        .mount(&svc)
        .await;
    let e = key_client(&svc.uri())
        .run_sql("ns", "SELECT a, b FROM t")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Redirect(_)), "{e:?}");
    assert_eq!(
        svc.received_requests().await.unwrap().len(),
        11,
        "the POST and ten redirects, each answered 307 (so never run), and no retry"
    );
}

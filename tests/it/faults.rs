//! Fault injection for the SDK's three flows: `run_sql` with its handle, `task_id_get`, and the
//! `tasks()` stream.
//!
//! Every fault must end in transparent recovery or a typed error: never a panic, a second run of
//! the query, a silently truncated result or list, or a wait without end.
//!
//! Faults below HTTP (a reset mid-body, a body cut short of its `Content-Length`, a trickle, a
//! connection accepted and never answered) come from the scripted server
//! (`support::fault_server`); faults wiremock can make (a 200 of invalid JSON, an HTML 502, a 503
//! with `Retry-After`, 202 forever) come from wiremock. All on 127.0.0.1. Retry and poll sleeps run on a `VirtualClock`;
//! the only real waits are the client timeouts (300–400 ms) of the hang and trickle cases, and
//! every flow runs under a generous guard so that a hang fails the test instead of stalling it.
//!
//! The table in TESTING.md maps each fault and flow to its outcome and test.

use std::future::IntoFuture as _;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::clients::client_timed;
use crate::support::fault_server::{Answer, FaultServer, Script, Seen};
use crate::support::fixtures::{ids_of_page, page_json};
use crate::support::prelude::{ArrayTask, Client, Error, Result, SqlResult, TASK_ID_HEADER};
use crate::support::{bounded, cases, mock};

const ID: &str = "fa017000-0000-4000-8000-000000000001";
const SQL_PATH: &str = "/v1/sql/ns";
const N_ROWS: usize = 40;
/// How far into a body the broken answers get before the fault (a few rows in).
const CUT: usize = 100;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    a: i64,
    b: String,
}

fn all_rows() -> Vec<Row> {
    (0..N_ROWS as i64)
        .map(|a| Row {
            a,
            b: format!("row number {a}"),
        })
        .collect()
}

fn rows_body() -> Vec<u8> {
    serde_json::to_vec(&all_rows()).unwrap()
}

/// The stored result, whole.
fn result_answer() -> Answer {
    Answer::json(200, rows_body())
}

fn result_path() -> String {
    format!("/v1/task/{ID}/result")
}

fn task_path() -> String {
    format!("/v1/task/{ID}")
}

fn task_body() -> Vec<u8> {
    serde_json::to_vec(&json!({"id": ID, "status": "COMPLETED", "sql_query": "SELECT a, b FROM t"}))
        .unwrap()
}

/// The POST's normal answer: 204 naming the task.
fn submitted() -> Script {
    Script::Answer(Answer::status(204).header(TASK_ID_HEADER, ID))
}

/// The timeout of the hang and trickle cases: short, so the suite stays fast, but far above what a
/// loopback exchange takes.
const SHORT: Option<Duration> = Some(Duration::from_millis(400));
/// The timeout of every other case: never reached.
const LONG: Option<Duration> = Some(Duration::from_secs(20));

/// The SQL flow on the scripted server: the POST and the result answer per attempt as given; the
/// task record says COMPLETED.
async fn sql_server(
    post: impl Fn(usize) -> Script + Send + Sync + 'static,
    result: impl Fn(usize) -> Script + Send + Sync + 'static,
) -> FaultServer {
    FaultServer::start(move |req: &Seen| match (req.method.as_str(), req.path()) {
        ("POST", SQL_PATH) => post(req.nth),
        ("GET", p) if p == result_path() => result(req.nth),
        ("GET", p) if p == task_path() => Script::Answer(Answer::json(200, task_body())),
        _ => Script::Answer(Answer::json(404, r#"{"message":"no route"}"#)),
    })
    .await
}

fn assert_whole(r: &SqlResult) {
    assert_eq!(r.rows::<Row>().unwrap(), all_rows(), "every row, intact");
    assert_eq!(r.task_id().map(|t| t.as_str()), Some(ID));
}

/// How a route answers, attempt by attempt.
#[derive(Clone)]
enum Fault {
    /// Broken the first time, whole after.
    Once(Script),
    /// Broken on every attempt.
    Always(Script),
}

use Fault::{Always, Once};

impl Fault {
    /// The answer to the attempt that `nth` attempts came before.
    fn answer(&self, nth: usize, whole: Answer) -> Script {
        match self {
            Once(broken) if nth == 0 => broken.clone(),
            Once(_) => Script::Answer(whole),
            Always(broken) => broken.clone(),
        }
    }
}

/// `answer`'s head at once, then its body `chunk` bytes at a time, `every_ms` apart.
fn trickle(answer: Answer, chunk: usize, every_ms: u64) -> Script {
    Script::Trickle {
        answer,
        chunk,
        every: Duration::from_millis(every_ms),
    }
}

fn is_transport(e: &Error) -> bool {
    matches!(e, Error::Transport(_))
}

fn is_timeout(e: &Error) -> bool {
    matches!(e, Error::Transport(t) if t.is_timeout())
}

fn names_the_task(e: &Error) -> bool {
    e.task_id().map(|t| t.as_str()) == Some(ID)
}

/// Every item of a row stream: the rows, then the error that ended it (if any).
async fn drain_rows(s: BoxStream<'static, Result<Row>>) -> (Vec<Row>, Option<Error>) {
    let mut rows = Vec::new();
    let mut error = None;
    for item in bounded(s.collect::<Vec<_>>()).await {
        assert!(error.is_none(), "an item after the error");
        match item {
            Ok(r) => rows.push(r),
            Err(e) => error = Some(e),
        }
    }
    (rows, error)
}

async fn wm_posts(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count()
}

/// A 20 KB gateway error page.
fn html_502_page() -> String {
    format!(
        "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>{}</body></html>",
        "<p>upstream connect error or disconnect/reset before headers</p>".repeat(300)
    )
}

fn html_502() -> ResponseTemplate {
    ResponseTemplate::new(502).set_body_raw(html_502_page(), "text/html")
}

/// An error's message stays a snippet, whatever the size of the page.
fn assert_bounded_502(e: &Error) {
    let Error::Api(api) = e else { panic!("{e:?}") };
    assert_eq!(api.status(), 502);
    assert!(api.message().starts_with("<html>"), "{}", api.message());
    assert!(
        api.message().len() <= 512 + '…'.len_utf8(),
        "{} bytes",
        api.message().len()
    );
    assert!(e.is_retryable());
}

// ---------------------------------------------------------------------------------------------
// run_sql: a result broken once, or slow, arrives whole
// ---------------------------------------------------------------------------------------------

/// The result's answers break as `fault` says; it is fetched (`gets` times) until it arrives
/// whole, and the query ran once.
async fn run_sql_result_arrives_whole(
    (fault, timeout, attempts): (Fault, Option<Duration>, u32),
    gets: usize,
) {
    let server = sql_server(
        |_| submitted(),
        move |nth| fault.answer(nth, result_answer()),
    )
    .await;
    let (c, _) = client_timed(&server.uri(), timeout, attempts);
    let r = bounded(c.run_sql("ns", "SELECT a, b FROM t").into_future())
        .await
        .unwrap();
    assert_whole(&r);
    assert_eq!(server.posts(), 1, "the query ran once");
    assert_eq!(server.count("GET", &result_path()), gets);
}

cases! {
    async run_sql_result_arrives_whole;
    run_sql_result_reset_mid_body_is_fetched_again_whole_and_the_query_runs_once:
        (Once(Script::ResetAfter(result_answer(), CUT)), LONG, 4) => 2,
    run_sql_result_cut_short_of_its_length_is_fetched_again_whole:
        (Once(Script::CloseAfter(result_answer(), CUT)), LONG, 4) => 2,
    run_sql_result_trickling_in_within_the_timeout_arrives_whole:
        (Always(trickle(result_answer(), 97, 3)), LONG, 4) => 1,
    poll_never_answered_is_retried_and_the_result_arrives:
        (Once(Script::Silent), SHORT, 2) => 2,
}

// ---------------------------------------------------------------------------------------------
// run_sql: reset mid-body and bodies cut short
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn run_sql_result_broken_on_every_attempt_is_a_transport_error_naming_the_task() {
    for broken in [
        Script::ResetAfter(result_answer(), CUT),
        Script::CloseAfter(result_answer(), CUT),
    ] {
        let server = sql_server(|_| submitted(), move |_| broken.clone()).await;
        let (c, _) = client_timed(&server.uri(), LONG, 3);
        let e = bounded(c.run_sql("ns", "SELECT a, b FROM t").into_future())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Transport(_)), "{e:?}");
        assert!(names_the_task(&e), "resumable: {e}");
        assert!(e.is_retryable());
        assert_eq!(server.posts(), 1, "the query ran once");
        assert_eq!(server.count("GET", &result_path()), 3, "the retry budget");
    }
}

#[tokio::test]
async fn streamed_result_broken_mid_body_ends_with_an_error_after_a_prefix_of_the_rows() {
    for broken in [
        Script::ResetAfter(result_answer(), CUT),
        Script::CloseAfter(result_answer(), CUT),
    ] {
        let server = sql_server(|_| submitted(), move |_| broken.clone()).await;
        let (c, _) = client_timed(&server.uri(), LONG, 4);
        let stream = bounded(c.run_sql("ns", "SELECT a, b FROM t").result_stream())
            .await
            .expect("the head arrived whole");
        let (rows, error) = drain_rows(stream.rows_stream::<Row>()).await;
        let e = error.expect("a body cut short ends with an error, never silently");
        assert!(matches!(e, Error::Transport(_)), "{e:?}");
        assert!(names_the_task(&e), "{e}");
        assert!(rows.len() < N_ROWS);
        assert_eq!(
            rows[..],
            all_rows()[..rows.len()],
            "the rows before are intact"
        );
        assert_eq!(server.posts(), 1, "the query ran once");
    }
}

/// A service that ignores `dont_download_results` and sends the rows with the POST's answer,
/// naming the task, broken on the way as each of `posts` does: the result is polled (`gets`
/// times), never submitted again.
async fn post_answer_is_polled_not_resubmitted(
    (posts, timeout, attempts): (Vec<Script>, Option<Duration>, u32),
    gets: usize,
) {
    for broken in posts {
        let server = sql_server(move |_| broken.clone(), |_| Script::Answer(result_answer())).await;
        let (c, _) = client_timed(&server.uri(), timeout, attempts);
        let r = bounded(c.run_sql("ns", "SELECT a, b FROM t").into_future())
            .await
            .unwrap();
        assert_whole(&r);
        assert_eq!(server.posts(), 1, "the query ran once");
        assert_eq!(server.count("GET", &result_path()), gets);
    }
}

cases! {
    async post_answer_is_polled_not_resubmitted;
    post_answer_broken_mid_body_after_naming_the_task_is_polled_not_resubmitted: (
        vec![
            Script::ResetAfter(result_answer().header(TASK_ID_HEADER, ID), CUT),
            Script::CloseAfter(result_answer().header(TASK_ID_HEADER, ID), CUT),
        ],
        LONG,
        4,
    ) => 1,
}

#[tokio::test]
async fn post_answer_trickling_past_the_deadline_is_polled_not_resubmitted() {
    // The POST has no time limit of its own (a held POST lasts as long as its query): the
    // handle's deadline cuts the trickle, and the named task's stored result is fetched.
    let server = sql_server(
        |_| trickle(result_answer().header(TASK_ID_HEADER, ID), 1, 100),
        |_| Script::Answer(result_answer()),
    )
    .await;
    let (c, _) = client_timed(&server.uri(), SHORT, 2);
    let r = bounded(
        c.run_sql("ns", "SELECT a, b FROM t")
            .deadline(Duration::from_millis(400))
            .into_future(),
    )
    .await
    .unwrap();
    assert_whole(&r);
    assert_eq!(server.posts(), 1, "the query ran once");
    assert_eq!(server.count("GET", &result_path()), 1);
}

#[tokio::test]
async fn inline_rows_cut_short_without_a_stored_result_are_an_error_naming_the_task() {
    let server = sql_server(
        |_| Script::CloseAfter(result_answer().header(TASK_ID_HEADER, ID), CUT),
        |_| Script::Answer(Answer::json(404, r#"{"message":"not stored"}"#)),
    )
    .await;
    let (c, _) = client_timed(&server.uri(), LONG, 4);
    let e = bounded(
        c.run_sql("ns", "SELECT a, b FROM t")
            .inline()
            .deadline(Duration::from_secs(10))
            .into_future(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    assert!(names_the_task(&e), "{e}");
    assert_eq!(server.posts(), 1, "the query ran once");
    assert_eq!(server.count("GET", "/"), 0, "nothing stored to poll");
}

#[tokio::test]
async fn post_reset_before_any_answer_is_outcome_unknown_and_never_resubmitted() {
    // The task list of this service never shows the task (its GETs all answer rows): the search
    // for the lost submission ends, and the lost answer is the cause.
    let server = sql_server(|_| Script::ResetNow, |_| Script::Answer(result_answer())).await;
    let (c, _) = client_timed(&server.uri(), LONG, 4);
    let e = bounded(c.run_sql("ns", "SELECT a, b FROM t").into_future())
        .await
        .unwrap_err();
    let Error::OutcomeUnknown(u) = &e else {
        panic!("{e:?}")
    };
    assert!(matches!(u.error(), Error::Transport(_)), "{e:?}");
    assert!(e.task_id().is_none(), "the service never named a task");
    assert!(!e.is_retryable());
    assert_eq!(
        server.posts(),
        1,
        "the query may have run: it is not sent again"
    );
    assert_eq!(server.count("GET", &result_path()), 0);
    assert!(
        server.count("GET", "/v1/tasks") >= 1,
        "the task was searched for"
    );
}

// ---------------------------------------------------------------------------------------------
// run_sql: trickles and silence
// ---------------------------------------------------------------------------------------------

/// Every answer of the result stalls as `stalled` does, past the client's timeout: a timeout
/// error naming the task, after the retry budget (`gets` fetches); the query ran once.
async fn run_sql_result_times_out_naming_the_task(stalled: Script, gets: usize) {
    let server = sql_server(|_| submitted(), move |_| stalled.clone()).await;
    let (c, _) = client_timed(&server.uri(), SHORT, 2);
    let e = bounded(c.run_sql("ns", "SELECT a, b FROM t").into_future())
        .await
        .unwrap_err();
    assert!(is_timeout(&e), "{e:?}");
    assert!(names_the_task(&e), "resumable: {e}");
    assert_eq!(server.posts(), 1, "the query ran once");
    assert_eq!(
        server.count("GET", &result_path()),
        gets,
        "the retry budget"
    );
}

cases! {
    async run_sql_result_times_out_naming_the_task;
    run_sql_result_trickling_past_the_timeout_is_a_timeout_error_naming_the_task:
        trickle(result_answer(), 1, 100) => 2,
    poll_never_answered_on_every_attempt_is_a_timeout_error_naming_the_task:
        Script::Silent => 2,
}

#[tokio::test]
async fn post_never_answered_ends_at_the_deadline_and_is_never_resubmitted() {
    // No time limit of its own on the POST: the deadline ends it; the task is not found (this
    // service's task list answers rows), so the outcome is unknown, the timeout its cause.
    let server = sql_server(|_| Script::Silent, |_| Script::Answer(result_answer())).await;
    let (c, _) = client_timed(&server.uri(), SHORT, 4);
    let e = bounded(
        c.run_sql("ns", "SELECT a, b FROM t")
            .deadline(Duration::from_millis(400))
            .into_future(),
    )
    .await
    .unwrap_err();
    let Error::OutcomeUnknown(u) = &e else {
        panic!("{e:?}")
    };
    assert!(is_timeout(u.error()), "{e:?}");
    assert!(e.task_id().is_none());
    assert_eq!(
        server.posts(),
        1,
        "the query may be running: it is not sent again"
    );
}

// ---------------------------------------------------------------------------------------------
// run_sql: HTTP-level faults (wiremock)
// ---------------------------------------------------------------------------------------------

/// POST answers 204 naming the task (expected exactly once); the result answers `result`.
async fn wm_sql(result: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SQL_PATH))
        .respond_with(ResponseTemplate::new(204).insert_header(TASK_ID_HEADER, ID))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(result_path()))
        .respond_with(result)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn run_sql_result_of_invalid_json_is_a_decode_error_naming_the_task_never_rows() {
    let cut = &rows_body()[..CUT];
    for (body, content_type) in [
        (cut.to_vec(), "application/json"),
        (b"<html>oops</html>".to_vec(), "text/html"),
        (
            b"[{\"a\":1,\"b\":\"x\"}] trailing".to_vec(),
            "application/json",
        ),
    ] {
        let server = wm_sql(ResponseTemplate::new(200).set_body_raw(body, content_type)).await;
        let (c, _) = client_timed(&server.uri(), LONG, 4);
        let r = bounded(c.run_sql("ns", "SELECT a, b FROM t").into_future())
            .await
            .expect("the bytes arrived whole");
        let e = r.rows::<Row>().unwrap_err();
        assert!(matches!(e, Error::Decode(_)), "{e:?}");
        assert!(names_the_task(&e), "{e}");
        // Streamed, the same body ends with the same kind of error.
        let stream = bounded(c.run_sql("ns", "SELECT a, b FROM t").result_stream())
            .await
            .unwrap();
        let (_, error) = drain_rows(stream.rows_stream::<Row>()).await;
        assert!(
            matches!(error, Some(Error::Decode(_))),
            "never a silently shorter result: {error:?}"
        );
        server.reset().await;
    }
}

#[tokio::test]
async fn html_502_on_the_post_is_outcome_unknown_with_a_bounded_message_and_never_resubmitted() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(html_502())
        .mount(&server)
        .await;
    let (c, _) = client_timed(&server.uri(), LONG, 4);
    let e = bounded(c.run_sql("ns", "SELECT a, b FROM t").into_future())
        .await
        .unwrap_err();
    // The gateway may have passed the query on: the task is searched for (this service has no
    // task list), and the 502 is the cause of the unknown outcome.
    let Error::OutcomeUnknown(u) = &e else {
        panic!("{e:?}")
    };
    assert_bounded_502(u.error());
    assert_eq!(
        wm_posts(&server).await,
        1,
        "a 502 may come after the query ran: it is not sent again"
    );
}

#[tokio::test]
async fn html_502_on_the_post_naming_its_task_is_polled_not_resubmitted() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(html_502().insert_header(TASK_ID_HEADER, ID))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(result_path()))
        .respond_with(ResponseTemplate::new(200).set_body_raw(rows_body(), "application/json"))
        .mount(&server)
        .await;
    let (c, _) = client_timed(&server.uri(), LONG, 4);
    let r = bounded(c.run_sql("ns", "SELECT a, b FROM t").into_future())
        .await
        .unwrap();
    assert_whole(&r);
    assert_eq!(wm_posts(&server).await, 1, "the query ran once");
}

#[tokio::test]
async fn html_502_on_a_poll_is_retried_transparently() {
    let server =
        wm_sql(ResponseTemplate::new(200).set_body_raw(rows_body(), "application/json")).await;
    Mock::given(method("GET"))
        .and(path(result_path()))
        .respond_with(html_502())
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    let (c, clock) = client_timed(&server.uri(), LONG, 4);
    let r = bounded(c.run_sql("ns", "SELECT a, b FROM t").into_future())
        .await
        .unwrap();
    assert_whole(&r);
    assert_eq!(clock.sleeps().len(), 2, "two retries");
    assert_eq!(wm_posts(&server).await, 1, "the query ran once");
}

#[tokio::test]
async fn post_refused_with_503_and_retry_after_is_sent_again_after_the_delay_and_runs_once() {
    let server =
        wm_sql(ResponseTemplate::new(200).set_body_raw(rows_body(), "application/json")).await;
    // A 503 says the service did not take the query (no resources): sending it again cannot run it
    // twice. Exactly one POST is accepted.
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("retry-after", "7")
                .set_body_json(json!({"message": "no resources, try again"})),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    let (c, clock) = client_timed(&server.uri(), LONG, 4);
    let r = bounded(c.run_sql("ns", "SELECT a, b FROM t").into_future())
        .await
        .unwrap();
    assert_whole(&r);
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(7); 2]);
    assert_eq!(wm_posts(&server).await, 3, "two refused, one accepted");
    // (the 204 mock's `expect(1)` is verified when the server drops)
}

#[tokio::test]
async fn post_refused_with_503_on_every_attempt_ends_in_an_api_error_that_never_ran() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("retry-after", "86400")
                .set_body_json(json!({"message": "no resources"})),
        )
        .mount(&server)
        .await;
    let (c, clock) = client_timed(&server.uri(), LONG, 3);
    let e = bounded(c.run_sql("ns", "SELECT a, b FROM t").into_future())
        .await
        .unwrap_err();
    let Error::Api(api) = &e else { panic!("{e:?}") };
    assert_eq!(api.status(), 503);
    assert_eq!(api.retry_after(), Some(Duration::from_secs(86400)));
    // A day's Retry-After is clamped to the policy's maximum (60 s): the wait is bounded.
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(60); 2]);
    assert_eq!(
        wm_posts(&server).await,
        3,
        "all refused; the query never ran"
    );
}

#[tokio::test]
async fn poll_503_with_retry_after_waits_as_told_then_recovers() {
    let server =
        wm_sql(ResponseTemplate::new(200).set_body_raw(rows_body(), "application/json")).await;
    Mock::given(method("GET"))
        .and(path(result_path()))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "5"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let (c, clock) = client_timed(&server.uri(), LONG, 4);
    let r = bounded(c.run_sql("ns", "SELECT a, b FROM t").into_future())
        .await
        .unwrap();
    assert_whole(&r);
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(5)]);
    assert_eq!(wm_posts(&server).await, 1);
}

#[tokio::test]
async fn run_sql_202_forever_ends_at_the_deadline_with_the_task_id_and_poll_count() {
    // Even when every 202 asks for a day's wait: Retry-After is clamped, and the deadline wins.
    for retry_after in [None, Some("86400")] {
        let mut running = ResponseTemplate::new(202);
        if let Some(ra) = retry_after {
            running = running.insert_header("retry-after", ra);
        }
        let server = wm_sql(running).await;
        let (c, clock) = client_timed(&server.uri(), LONG, 4);
        let e = bounded(
            c.run_sql("ns", "SELECT a, b FROM t")
                .deadline(Duration::from_secs(120))
                .into_future(),
        )
        .await
        .unwrap_err();
        match &e {
            Error::Timeout(t) => {
                assert_eq!(t.task_id().map(|t| t.as_str()), Some(ID));
                assert_eq!(t.waited(), Duration::from_secs(120));
                let gets = server.received_requests().await.unwrap().len() - 1;
                assert_eq!(t.polls() as usize, gets, "every poll counted");
                assert!(t.polls() > 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(clock.elapsed(), Duration::from_secs(120));
        assert_eq!(wm_posts(&server).await, 1, "the query ran once");
    }
}

#[tokio::test]
async fn post_answer_2xx_without_a_task_id_is_a_protocol_error_not_an_empty_result() {
    for status in [202, 204] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status))
            .expect(1)
            .mount(&server)
            .await;
        let (c, _) = client_timed(&server.uri(), LONG, 4);
        let e = bounded(c.run_sql("ns", "SELECT a, b FROM t").into_future())
            .await
            .expect_err("with nothing to poll, an empty result would be a lie");
        assert!(matches!(e, Error::Protocol(_)), "{status}: {e:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// task_id_get
// ---------------------------------------------------------------------------------------------

async fn task_server(script: impl Fn(usize) -> Script + Send + Sync + 'static) -> FaultServer {
    FaultServer::start(move |req: &Seen| {
        if req.method == "GET" && req.path() == task_path() {
            script(req.nth)
        } else {
            Script::Answer(Answer::json(404, r#"{"message":"no route"}"#))
        }
    })
    .await
}

fn task_answer() -> Answer {
    Answer::json(200, task_body())
}

async fn assert_task(c: &Client) {
    let t = bounded(c.api().task_id_get(ID)).await.unwrap();
    assert_eq!(t.id.as_deref(), Some(ID));
    assert_eq!(t.sql_query.as_deref(), Some("SELECT a, b FROM t"));
}

/// The task record's answers break as each of `faults` says; it arrives whole, after `gets`
/// requests.
async fn task_id_get_arrives_whole(
    (faults, timeout, attempts): (Vec<Fault>, Option<Duration>, u32),
    gets: usize,
) {
    for fault in faults {
        let server = task_server(move |nth| fault.answer(nth, task_answer())).await;
        let (c, _) = client_timed(&server.uri(), timeout, attempts);
        assert_task(&c).await;
        assert_eq!(server.count("GET", "/"), gets);
    }
}

cases! {
    async task_id_get_arrives_whole;
    task_id_get_recovers_from_a_body_reset_or_cut_short_once: (
        vec![
            Once(Script::ResetAfter(task_answer(), 20)),
            Once(Script::CloseAfter(task_answer(), 20)),
        ],
        LONG,
        4,
    ) => 2,
    task_id_get_trickling_in_within_the_timeout_arrives_whole:
        (vec![Always(trickle(task_answer(), 7, 2))], LONG, 4) => 1,
    task_id_get_never_answered_once_is_retried_and_recovers:
        (vec![Once(Script::Silent)], SHORT, 2) => 2,
}

/// Every answer of the task record breaks as each of `broken` does: an error of the `kind`
/// expected, naming the task, after the retry budget (`gets` requests).
async fn task_id_get_fails_naming_the_task(
    (broken, timeout, attempts): (Vec<Script>, Option<Duration>, u32),
    (kind, gets): (fn(&Error) -> bool, usize),
) {
    for broken in broken {
        let server = task_server(move |_| broken.clone()).await;
        let (c, _) = client_timed(&server.uri(), timeout, attempts);
        let e = bounded(c.api().task_id_get(ID)).await.unwrap_err();
        assert!(kind(&e), "{e:?}");
        assert!(names_the_task(&e), "{e}");
        assert_eq!(server.count("GET", "/"), gets, "the retry budget");
    }
}

cases! {
    async task_id_get_fails_naming_the_task;
    task_id_get_body_broken_on_every_attempt_is_a_transport_error_naming_the_task: (
        vec![
            Script::ResetAfter(task_answer(), 20),
            Script::CloseAfter(task_answer(), 20),
            Script::ResetNow,
        ],
        LONG,
        3,
    ) => (is_transport, 3),
    task_id_get_trickling_or_silent_past_the_timeout_is_a_timeout_error: (
        vec![trickle(task_answer(), 1, 100), Script::Silent],
        SHORT,
        2,
    ) => (is_timeout, 2),
}

/// The task record answers `first` `times` times, then whole.
async fn wm_task(first: ResponseTemplate, times: u64) -> MockServer {
    let server = MockServer::start().await;
    let whole = ResponseTemplate::new(200).set_body_raw(task_body(), "application/json");
    mock::first_then(&server, mock::get(task_path()), first, times, whole).await;
    server
}

#[tokio::test]
async fn task_id_get_of_invalid_json_is_a_decode_error_after_one_request() {
    for body in [
        &task_body()[..30],
        b"<html>maintenance</html>".as_slice(),
        br#"{"id": 7}"#.as_slice(),
    ] {
        let server = wm_task(
            ResponseTemplate::new(200).set_body_raw(body.to_vec(), "application/json"),
            u64::MAX,
        )
        .await;
        let (c, _) = client_timed(&server.uri(), LONG, 4);
        let e = bounded(c.api().task_id_get(ID)).await.unwrap_err();
        let Error::Decode(d) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(d.what(), "ArrayTask");
        assert!(names_the_task(&e), "{e}");
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn task_id_get_html_502_is_retried_then_bounded_if_it_persists() {
    let server = wm_task(html_502(), 1).await;
    let (c, _) = client_timed(&server.uri(), LONG, 4);
    assert_task(&c).await;

    let server = wm_task(html_502(), u64::MAX).await;
    let (c, clock) = client_timed(&server.uri(), LONG, 3);
    let e = bounded(c.api().task_id_get(ID)).await.unwrap_err();
    assert_bounded_502(&e);
    assert_eq!(clock.sleeps().len(), 2);
}

#[tokio::test]
async fn task_id_get_503_with_retry_after_waits_as_told_then_recovers() {
    let server = wm_task(
        ResponseTemplate::new(503).insert_header("retry-after", "4"),
        1,
    )
    .await;
    let (c, clock) = client_timed(&server.uri(), LONG, 4);
    assert_task(&c).await;
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(4)]);
}

#[tokio::test]
async fn task_id_get_answered_202_is_a_protocol_error_after_one_request() {
    // The route defines only 200: a 202 (with or without a task in its body) is not an answer.
    for body in [Vec::new(), task_body()] {
        let server = wm_task(
            ResponseTemplate::new(202).set_body_raw(body, "application/json"),
            u64::MAX,
        )
        .await;
        let (c, _) = client_timed(&server.uri(), LONG, 4);
        let e = bounded(c.api().task_id_get(ID)).await.unwrap_err();
        assert!(matches!(e, Error::Protocol(_)), "{e:?}");
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// tasks() stream: the fault is on page 2 of 3
// ---------------------------------------------------------------------------------------------

const PER_PAGE: u64 = 4;
const PAGES: u64 = 3;

fn page_ids(page: u64) -> Vec<String> {
    ids_of_page(page, PER_PAGE)
}

fn all_ids() -> Vec<String> {
    (1..=PAGES).flat_map(page_ids).collect()
}

/// Page `page`; past the last, an empty page (the stream asks for one after a full last page).
fn page_body(page: u64) -> Vec<u8> {
    let ids = if page <= PAGES {
        page_ids(page)
    } else {
        Vec::new()
    };
    serde_json::to_vec(&page_json(page, PER_PAGE, PAGES, &ids)).unwrap()
}

fn page_answer(page: u64) -> Answer {
    Answer::json(200, page_body(page))
}

/// Pages 1 and 3 are whole; page 2 answers per attempt as `page2` says.
async fn list_server(page2: impl Fn(usize) -> Script + Send + Sync + 'static) -> FaultServer {
    FaultServer::start(move |req: &Seen| match (req.method.as_str(), req.path()) {
        ("GET", "/v1/tasks") if req.page() == 2 => page2(req.nth),
        ("GET", "/v1/tasks") => Script::Answer(page_answer(req.page())),
        _ => Script::Answer(Answer::json(404, r#"{"message":"no route"}"#)),
    })
    .await
}

/// The tasks listed, then the error that ended the listing (if any).
async fn list(c: &Client, from_page: u64) -> (Vec<String>, Option<Error>) {
    let s: BoxStream<'static, Result<ArrayTask>> =
        c.tasks().per_page(PER_PAGE).page(from_page).stream();
    let mut ids = Vec::new();
    let mut error = None;
    for item in bounded(s.collect::<Vec<_>>()).await {
        assert!(error.is_none(), "an item after the error");
        match item {
            Ok(t) => ids.push(t.id.expect("id")),
            Err(e) => error = Some(e),
        }
    }
    (ids, error)
}

/// The listing stopped at page 2 with every task of page 1 and nothing else, and resuming from the
/// page it names (once the service is well again) lists exactly the rest.
async fn assert_stopped_at_page_2(
    ids: Vec<String>,
    error: Option<Error>,
    resumed: &Client,
) -> Error {
    let e = error.expect("a page that could not be read ends the listing with an error");
    let Error::Listing(listing) = e else {
        panic!("{e:?}")
    };
    let resume_page = listing.resume_page();
    assert_eq!(resume_page, 2);
    assert_eq!(ids, page_ids(1), "page 1 whole, nothing invented");
    let (rest, error) = list(resumed, resume_page).await;
    assert!(error.is_none(), "{error:?}");
    let mut all = ids;
    all.extend(rest);
    assert_eq!(all, all_ids(), "nothing lost across the resume");
    listing.into_error()
}

async fn healthy_client() -> (FaultServer, Client) {
    let server = list_server(|_| Script::Answer(page_answer(2))).await;
    let (c, _) = client_timed(&server.uri(), LONG, 4);
    (server, c)
}

/// Page 2's answers break as each of `faults` says; the list arrives whole.
async fn tasks_stream_lists_every_task(
    (faults, timeout, attempts): (Vec<Fault>, Option<Duration>, u32),
    expected: Vec<String>,
) {
    for fault in faults {
        let server = list_server(move |nth| fault.answer(nth, page_answer(2))).await;
        let (c, _) = client_timed(&server.uri(), timeout, attempts);
        let (ids, error) = list(&c, 1).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(ids, expected);
    }
}

cases! {
    async tasks_stream_lists_every_task;
    tasks_stream_recovers_from_a_page_reset_or_cut_short_once: (
        vec![
            Once(Script::ResetAfter(page_answer(2), CUT)),
            Once(Script::CloseAfter(page_answer(2), CUT)),
        ],
        LONG,
        4,
    ) => all_ids(),
    tasks_stream_page_trickling_in_within_the_timeout_arrives_whole:
        (vec![Always(trickle(page_answer(2), 31, 3))], LONG, 4) => all_ids(),
    tasks_stream_page_never_answered_once_is_retried_and_the_list_is_whole:
        (vec![Once(Script::Silent)], SHORT, 2) => all_ids(),
}

/// Every answer of page 2 breaks as each of `broken` does: the listing stops there with an
/// `Error::Listing` whose source is of the `kind` expected, after the retry budget (`gets`
/// requests for page 2), and resuming from it lists the rest.
async fn tasks_stream_stops_at_page_2(
    (broken, timeout, attempts): (Vec<Script>, Option<Duration>, u32),
    (kind, gets): (fn(&Error) -> bool, usize),
) {
    let (_healthy, resumed) = healthy_client().await;
    for broken in broken {
        let server = list_server(move |_| broken.clone()).await;
        let (c, _) = client_timed(&server.uri(), timeout, attempts);
        let (ids, error) = list(&c, 1).await;
        let source = assert_stopped_at_page_2(ids, error, &resumed).await;
        assert!(kind(&source), "{source:?}");
        assert_eq!(
            server
                .seen()
                .iter()
                .filter(|s| s.path() == "/v1/tasks" && s.page() == 2)
                .count(),
            gets,
            "the retry budget"
        );
    }
}

cases! {
    async tasks_stream_stops_at_page_2;
    tasks_stream_page_broken_on_every_attempt_ends_in_a_listing_error_to_resume_from: (
        vec![
            Script::ResetAfter(page_answer(2), CUT),
            Script::CloseAfter(page_answer(2), CUT),
            Script::ResetNow,
        ],
        LONG,
        3,
    ) => (is_transport, 3),
    tasks_stream_page_trickling_or_silent_past_the_timeout_ends_in_a_listing_error: (
        vec![trickle(page_answer(2), 1, 100), Script::Silent],
        SHORT,
        2,
    ) => (is_timeout, 2),
}

/// Pages 1 and 3 whole; page 2 answers `page2` `times` times, then whole.
async fn wm_list(page2: ResponseTemplate, times: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/tasks"))
        .and(query_param("page", "2"))
        .respond_with(page2)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(&server)
        .await;
    for page in 1..=PAGES + 1 {
        Mock::given(method("GET"))
            .and(path("/v1/tasks"))
            .and(query_param("page", page.to_string()))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(page_body(page), "application/json"),
            )
            .with_priority(2)
            .mount(&server)
            .await;
    }
    server
}

#[tokio::test]
async fn tasks_stream_page_of_invalid_json_ends_in_a_listing_error_never_a_shorter_list() {
    let (_healthy, resumed) = healthy_client().await;
    for body in [
        page_body(2)[..CUT].to_vec(),
        b"<html>oops</html>".to_vec(),
        br#"{"array_tasks": "none"}"#.to_vec(),
    ] {
        let server = wm_list(
            ResponseTemplate::new(200).set_body_raw(body, "application/json"),
            u64::MAX,
        )
        .await;
        let (c, _) = client_timed(&server.uri(), LONG, 4);
        let (ids, error) = list(&c, 1).await;
        let source = assert_stopped_at_page_2(ids, error, &resumed).await;
        assert!(matches!(source, Error::Decode(_)), "{source:?}");
    }
}

#[tokio::test]
async fn tasks_stream_html_502_on_a_page_is_retried_then_a_listing_error_if_it_persists() {
    let server = wm_list(html_502(), 2).await;
    let (c, _) = client_timed(&server.uri(), LONG, 4);
    let (ids, error) = list(&c, 1).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(ids, all_ids());

    let (_healthy, resumed) = healthy_client().await;
    let server = wm_list(html_502(), u64::MAX).await;
    let (c, _) = client_timed(&server.uri(), LONG, 3);
    let (ids, error) = list(&c, 1).await;
    let source = assert_stopped_at_page_2(ids, error, &resumed).await;
    assert_bounded_502(&source);
}

#[tokio::test]
async fn tasks_stream_503_with_retry_after_on_a_page_waits_as_told_and_the_list_is_whole() {
    let server = wm_list(
        ResponseTemplate::new(503).insert_header("retry-after", "3"),
        1,
    )
    .await;
    let (c, clock) = client_timed(&server.uri(), LONG, 4);
    let (ids, error) = list(&c, 1).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(ids, all_ids());
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(3)]);
}

#[tokio::test]
async fn tasks_stream_page_answered_202_ends_in_a_listing_error_never_a_shorter_list() {
    let (_healthy, resumed) = healthy_client().await;
    // An empty page would end the listing, so a 202 carrying one must not be read as the answer.
    for body in [Vec::new(), br#"{"array_tasks": []}"#.to_vec(), page_body(2)] {
        let server = wm_list(
            ResponseTemplate::new(202).set_body_raw(body, "application/json"),
            u64::MAX,
        )
        .await;
        let (c, _) = client_timed(&server.uri(), LONG, 4);
        let (ids, error) = list(&c, 1).await;
        let source = assert_stopped_at_page_2(ids, error, &resumed).await;
        assert!(matches!(source, Error::Protocol(_)), "{source:?}");
    }
}

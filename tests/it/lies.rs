//! Servers that lie (issue 19): answers that look fine and are not. An empty 200 where the
//! protocol requires content, a refusal that names a task, bodies that stall or trickle, bodies
//! that expand without end, pagination that never ends or repeats itself.
//!
//! Every case ends in a typed error or the right answer: never an empty result read as no rows, a
//! second submission, a wait without end, or a task yielded twice. The table in TESTING.md ("Servers
//! that lie") maps each case to its test. All servers bind 127.0.0.1.

use std::future::IntoFuture as _;
use std::time::Duration;

use futures::StreamExt as _;

use crate::support::clients::client_timed;
use crate::support::fault_server::{Answer, FaultServer, Framing, Script, Seen};
use crate::support::fixtures::{Row, TWO_ROWS, two_rows};
use crate::support::prelude::{Client, Error, ResultResponse, TASK_ID_HEADER};
use crate::support::{bounded, cases};

const ID: &str = "11e50000-0000-4000-8000-000000000019";
const SQL_PATH: &str = "/v1/sql/ns";
const LONG: Option<Duration> = Some(Duration::from_secs(20));

fn result_path() -> String {
    format!("/v1/task/{ID}/result")
}

fn task_path() -> String {
    format!("/v1/task/{ID}")
}

/// The POST's normal answer: 204 naming the task.
fn submitted() -> Script {
    Script::Answer(Answer::status(204).header(TASK_ID_HEADER, ID))
}

/// The SQL flow: the POST and the result answer per attempt as given; the task is COMPLETED.
async fn sql_server(
    post: impl Fn(usize) -> Script + Send + Sync + 'static,
    result: impl Fn(usize) -> Script + Send + Sync + 'static,
) -> FaultServer {
    FaultServer::start(move |req: &Seen| match (req.method.as_str(), req.path()) {
        ("POST", SQL_PATH) => post(req.nth),
        ("GET", p) if p == result_path() => result(req.nth),
        ("GET", p) if p == task_path() => Script::Answer(Answer::json(
            200,
            format!(r#"{{"id":"{ID}","status":"COMPLETED"}}"#),
        )),
        _ => Script::Answer(Answer::json(404, r#"{"message":"no route"}"#)),
    })
    .await
}

fn client(server: &FaultServer) -> Client {
    client_timed(&server.uri(), LONG, 3).0
}

/// A protocol error, saying so.
fn is_protocol(e: &Error, says: &str) -> bool {
    matches!(e, Error::Protocol(m) if m.contains(says))
}

// ---------------------------------------------------------------------------------------------
// Empty 200s, in every framing: Content-Length 0, chunked with no data, closed with no length
// ---------------------------------------------------------------------------------------------

const FRAMINGS: [Framing; 3] = [Framing::Length, Framing::Chunked, Framing::UntilClose];

fn empty_200(framing: Framing) -> Script {
    Script::Answer(
        Answer::status(200)
            .header("content-type", "application/json")
            .framing(framing),
    )
}

/// How the result is read: awaited whole, streamed row by row, streamed then collected, or by the
/// raw `task_id_result_get`.
#[derive(Debug, Clone, Copy)]
enum Read {
    Whole,
    Rows,
    Collect,
    Raw,
}

async fn an_empty_result_200_is_a_protocol_error(read: Read, _: ()) {
    for framing in FRAMINGS {
        let server = sql_server(|_| submitted(), move |_| empty_200(framing)).await;
        let c = client(&server);
        let handle = c.run_sql("ns", "SELECT a FROM t");
        let e = match read {
            Read::Whole => bounded(handle.into_future()).await.unwrap_err(),
            Read::Rows => {
                let s = bounded(handle.result_stream()).await.expect("the head");
                let items = bounded(s.rows_stream::<serde_json::Value>().collect::<Vec<_>>()).await;
                assert_eq!(
                    items.len(),
                    1,
                    "{framing:?}: no row, only the error: {items:?}"
                );
                items.into_iter().next().unwrap().unwrap_err()
            }
            Read::Collect => {
                let s = bounded(handle.result_stream()).await.expect("the head");
                bounded(s.collect()).await.unwrap_err()
            }
            Read::Raw => bounded(c.api().task_id_result_get(ID, None))
                .await
                .map(|r| match r {
                    ResultResponse::Ready { body, .. } => format!("{} bytes", body.len()),
                    other => format!("{other:?}"),
                })
                .unwrap_err(),
        };
        assert!(is_protocol(&e, "empty body"), "{framing:?} {read:?}: {e:?}");
        assert!(e.to_string().contains(ID), "names the task: {e}");
        assert_eq!(server.posts(), usize::from(!matches!(read, Read::Raw)));
        assert_eq!(server.count("GET", &result_path()), 1, "not retried");
    }
}

cases! {
    async an_empty_result_200_is_a_protocol_error;
    empty_result_200_awaited_is_a_protocol_error_naming_the_task: Read::Whole => (),
    empty_result_200_streamed_as_rows_is_a_protocol_error_not_zero_rows: Read::Rows => (),
    empty_result_200_streamed_then_collected_is_a_protocol_error: Read::Collect => (),
    empty_result_200_from_task_id_result_get_is_a_protocol_error: Read::Raw => (),
}

#[tokio::test]
async fn a_stored_empty_json_array_is_still_zero_rows() {
    let server = sql_server(
        |_| submitted(),
        |_| Script::Answer(Answer::json(200, "[]").framing(Framing::Chunked)),
    )
    .await;
    let r = bounded(
        client(&server)
            .run_sql("ns", "SELECT a FROM t")
            .into_future(),
    )
    .await
    .unwrap();
    assert_eq!(
        r.rows::<serde_json::Value>().unwrap(),
        Vec::<serde_json::Value>::new()
    );
}

#[tokio::test]
async fn empty_task_200_is_a_protocol_error_naming_the_task() {
    for framing in FRAMINGS {
        let server = FaultServer::start(move |_: &Seen| empty_200(framing)).await;
        let e = bounded(client(&server).api().task_id_get(ID))
            .await
            .unwrap_err();
        assert!(is_protocol(&e, "empty body"), "{framing:?}: {e:?}");
        assert!(e.to_string().contains(ID), "{e}");
        assert_eq!(server.count("GET", "/"), 1);
    }
}

#[tokio::test]
async fn empty_page_200_ends_the_listing_with_a_protocol_error_never_an_empty_list() {
    for framing in FRAMINGS {
        let server = FaultServer::start(move |_: &Seen| empty_200(framing)).await;
        let items = bounded(client(&server).tasks().stream().collect::<Vec<_>>()).await;
        assert_eq!(items.len(), 1, "{framing:?}: {items:?}");
        let e = items.into_iter().next().unwrap().unwrap_err();
        assert_eq!(e.resume_page(), Some(1), "{e:?}");
        let Error::Listing { source, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(is_protocol(source, "empty body"), "{framing:?}: {e:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// A refusal that names a task: the task exists; it is followed, never submitted again
// ---------------------------------------------------------------------------------------------

async fn a_refusal_naming_a_task_is_followed_not_resubmitted(status: u16, _: ()) {
    let server = sql_server(
        move |_| {
            Script::Answer(
                Answer::json(status, r#"{"code":9999,"message":"busy"}"#)
                    .header(TASK_ID_HEADER, ID)
                    .header("retry-after", "1"),
            )
        },
        |_| Script::Answer(Answer::json(200, TWO_ROWS)),
    )
    .await;
    let r = bounded(
        client(&server)
            .run_sql("ns", "SELECT a, b FROM t")
            .into_future(),
    )
    .await
    .unwrap();
    assert_eq!(server.posts(), 1, "exactly one POST");
    assert_eq!(
        r.task_id().map(|t| t.as_str()),
        Some(ID),
        "from the named task"
    );
    assert_eq!(r.rows::<Row>().unwrap(), two_rows());
    assert_eq!(server.count("GET", &result_path()), 1);
}

cases! {
    async a_refusal_naming_a_task_is_followed_not_resubmitted;
    a_503_naming_a_task_is_followed_with_one_post_and_resolves_from_it: 503 => (),
    a_429_naming_a_task_is_followed_with_one_post_and_resolves_from_it: 429 => (),
    a_500_naming_a_task_is_followed_with_one_post_and_resolves_from_it: 500 => (),
}

#[tokio::test]
async fn a_400_naming_a_task_is_an_api_error_carrying_it_and_never_resubmitted() {
    let server = sql_server(
        |_| {
            Script::Answer(
                Answer::json(
                    400,
                    r#"{"code":1013,"message":"near \"SELEC\": syntax error"}"#,
                )
                .header(TASK_ID_HEADER, ID),
            )
        },
        |_| Script::Answer(Answer::json(200, TWO_ROWS)),
    )
    .await;
    let e = bounded(client(&server).run_sql("ns", "SELEC").into_future())
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400), "{e:?}");
    assert_eq!(e.task_id().map(|t| t.as_str()), Some(ID));
    assert_eq!(server.posts(), 1);
    assert_eq!(
        server.count("GET", "/"),
        0,
        "the service's verdict, not followed"
    );
}

#[tokio::test]
async fn a_503_without_a_task_is_still_sent_again_and_runs_once() {
    let server = sql_server(
        |nth| match nth {
            0 => Script::Answer(
                Answer::json(503, r#"{"message":"busy"}"#).header("retry-after", "1"),
            ),
            _ => submitted(),
        },
        |_| Script::Answer(Answer::json(200, TWO_ROWS)),
    )
    .await;
    let r = bounded(
        client(&server)
            .run_sql("ns", "SELECT a, b FROM t")
            .into_future(),
    )
    .await
    .unwrap();
    assert_eq!(
        server.posts(),
        2,
        "one refused (no task named), one accepted"
    );
    assert_eq!(r.task_id().map(|t| t.as_str()), Some(ID));
}

//! Servers that lie (issue 19): answers that look fine and are not. An empty 200 where the
//! protocol requires content, a refusal that names a task, bodies that stall or trickle, bodies
//! that expand without end, pagination that never ends or repeats itself.
//!
//! Every case ends in a typed error or the right answer: never an empty result read as no rows, a
//! second submission, a wait without end, or a task yielded twice. The table in TESTING.md ("Servers
//! that lie") maps each case to its test. All servers bind 127.0.0.1.

use std::collections::HashSet;
use std::future::IntoFuture as _;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::support::clients::client_timed;
use crate::support::fault_server::{Answer, FaultServer, Framing, Script, Seen};
use crate::support::fixtures::{Row, TWO_ROWS, ids_of_page, page_json, task_json, two_rows};
use crate::support::prelude::{
    Client, DEDUP_WINDOW, Error, ResultResponse, STALE_PAGES_LIMIT, TASK_ID_HEADER, TaskList,
    total_pages_bound,
};
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
    matches!(e, Error::Protocol(m) if m.message().contains(says))
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
        let Error::Listing(listing) = &e else {
            panic!("{e:?}")
        };
        assert!(
            is_protocol(listing.error(), "empty body"),
            "{framing:?}: {e:?}"
        );
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

// ---------------------------------------------------------------------------------------------
// Lying pagination: each case ends as documented (the `list` module docs), never runs for ever,
// and never yields a task twice within the de-duplication window
// ---------------------------------------------------------------------------------------------

const PER_PAGE: u64 = 3;

/// A `/v1/tasks` server answering each page as `page` says.
async fn pages_server(page: impl Fn(u64) -> Value + Send + Sync + 'static) -> FaultServer {
    FaultServer::start(move |req: &Seen| {
        Script::Answer(Answer::json(
            200,
            serde_json::to_vec(&page(req.page())).unwrap(),
        ))
    })
    .await
}

/// A page of `ids` with no metadata at all.
fn bare_page(ids: &[String]) -> Value {
    json!({ "array_tasks": ids.iter().map(|i| task_json(i)).collect::<Vec<_>>() })
}

/// Tasks without an id, told apart by their name only.
fn anonymous_page(names: &[&str], total_pages: Option<u64>) -> Value {
    let tasks: Vec<Value> = names
        .iter()
        .map(|n| json!({ "name": n, "status": "RUNNING" }))
        .collect();
    match total_pages {
        Some(t) => json!({
            "array_tasks": tasks,
            "pagination_metadata": { "page": 1, "per_page": names.len(), "total_pages": t }
        }),
        None => json!({ "array_tasks": tasks }),
    }
}

/// What a listing yielded: the tasks' ids (or names, for tasks without one), and the error that
/// ended it. Asserts that nothing came after the error and that no task came twice.
async fn list_all(list: TaskList) -> (Vec<String>, Option<Error>) {
    let mut got = Vec::new();
    let mut error = None;
    for item in bounded(list.stream().collect::<Vec<_>>()).await {
        assert!(error.is_none(), "an item after the error");
        match item {
            Ok(t) => got.push(t.id.or(t.name).expect("an id or a name")),
            Err(e) => error = Some(e),
        }
    }
    let distinct: HashSet<&String> = got.iter().collect();
    assert_eq!(distinct.len(), got.len(), "a task yielded twice: {got:?}");
    (got, error)
}

/// The listing error's resume page and protocol message.
fn stopped(error: Option<Error>) -> (u64, String) {
    let e = error.expect("the lie ends the listing with an error, never silently");
    match e {
        Error::Listing(listing) => {
            let resume_page = listing.resume_page();
            match listing.into_error() {
                Error::Protocol(m) => (resume_page, m.message().to_owned()),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

fn pages_of(range: std::ops::RangeInclusive<u64>) -> Vec<String> {
    range.flat_map(|p| ids_of_page(p, PER_PAGE)).collect()
}

#[tokio::test]
async fn always_one_more_page_stops_past_the_first_total_plus_the_margin() {
    for depth in [0, 4] {
        // Every page is full of new tasks and says there is one more.
        let server =
            pages_server(|p| page_json(p, PER_PAGE, p + 1, &ids_of_page(p, PER_PAGE))).await;
        let c = client(&server);
        let (got, error) = list_all(c.tasks().per_page(PER_PAGE).prefetch(depth)).await;
        // The first answer said 2 pages; the bound is 2 + 2. Page 4 says 5.
        assert_eq!(total_pages_bound(2), 4);
        assert_eq!(got, pages_of(1..=3), "prefetch {depth}");
        let (resume, why) = stopped(error);
        assert_eq!(resume, 4, "{why}");
        assert!(
            why.contains("says there are 5 pages") && why.contains("first answer said 2"),
            "{why}"
        );
        assert!(server.count("GET", "/v1/tasks") <= 4, "stopped at once");
    }
}

#[tokio::test]
async fn pages_past_the_first_total_plus_the_margin_stop_even_without_metadata() {
    // Page 1 says it is the only page, and is full; then pages without metadata keep coming.
    let server = pages_server(|p| match p {
        1 => page_json(1, PER_PAGE, 1, &ids_of_page(1, PER_PAGE)),
        _ => bare_page(&ids_of_page(p, PER_PAGE)),
    })
    .await;
    let (got, error) = list_all(client(&server).tasks().per_page(PER_PAGE)).await;
    assert_eq!(
        got,
        pages_of(1..=3),
        "the check found more, and paging went on to the bound"
    );
    let (resume, why) = stopped(error);
    assert_eq!(resume, 4, "{why}");
    assert!(
        why.contains("past the 1 pages the first answer reported"),
        "{why}"
    );
    assert_eq!(server.count("GET", "/v1/tasks"), 4);
}

#[tokio::test]
async fn the_same_page_of_tasks_without_ids_again_stops_at_once() {
    for total in [None, Some(1_000_000)] {
        let server = pages_server(move |_| anonymous_page(&["x", "y", "z"], total)).await;
        let (got, error) = list_all(client(&server).tasks().per_page(3).prefetch(0)).await;
        assert_eq!(got, ["x", "y", "z"]);
        let (resume, why) = stopped(error);
        assert_eq!(resume, 2, "{why}");
        assert!(why.contains("identical to page 1"), "{why}");
        assert_eq!(server.count("GET", "/v1/tasks"), 2);
    }
}

#[tokio::test]
async fn pages_bringing_nothing_new_several_times_in_a_row_stop_where_they_began() {
    // Without ids, two pages taking turns; with ids, page 1's tasks again, in a new order each
    // time (never an identical page).
    let anonymous = pages_server(|p| {
        anonymous_page(
            if p % 2 == 1 {
                &["a", "b", "c"]
            } else {
                &["d", "e", "f"]
            },
            None,
        )
    })
    .await;
    let rotated = pages_server(|p| {
        let mut ids = ids_of_page(1, PER_PAGE);
        ids.rotate_left((p as usize - 1) % PER_PAGE as usize);
        if p > PER_PAGE {
            ids.swap(0, 1);
        }
        bare_page(&ids)
    })
    .await;
    for (server, yielded, first_stale) in [
        (anonymous, vec!["a", "b", "c", "d", "e", "f"], 3),
        (rotated, vec!["p1-0", "p1-1", "p1-2"], 2),
    ] {
        let (got, error) = list_all(client(&server).tasks().per_page(PER_PAGE).prefetch(0)).await;
        assert_eq!(got, yielded);
        let (resume, why) = stopped(error);
        assert_eq!(resume, first_stale, "{why}");
        assert!(
            why.contains(&format!("{STALE_PAGES_LIMIT} pages in a row")),
            "{why}"
        );
        assert_eq!(
            server.count("GET", "/v1/tasks") as u64,
            first_stale - 1 + u64::from(STALE_PAGES_LIMIT)
        );
    }
}

#[tokio::test]
async fn a_full_page_marked_last_is_checked_with_one_more_request() {
    // A service that cut its total short: page 1 says it is the last, and is full; page 2 has
    // more (its metadata still says 1 page: contradictory, so unknown) and is short.
    let truncating = pages_server(|p| match p {
        1 => page_json(1, PER_PAGE, 1, &ids_of_page(1, PER_PAGE)),
        2 => page_json(2, PER_PAGE, 1, &ids_of_page(2, 2)),
        _ => page_json(p, PER_PAGE, 1, &[]),
    })
    .await;
    let (got, error) = list_all(client(&truncating).tasks().per_page(PER_PAGE)).await;
    assert!(error.is_none(), "{error:?}");
    let mut expected = ids_of_page(1, PER_PAGE);
    expected.extend(ids_of_page(2, 2));
    assert_eq!(got, expected, "nothing truncated");
    assert_eq!(
        truncating.count("GET", "/v1/tasks"),
        2,
        "the short page ends it"
    );

    // An honest one: the check finds an empty page, and the listing ends there.
    let honest = pages_server(|p| match p {
        1 => page_json(1, PER_PAGE, 1, &ids_of_page(1, PER_PAGE)),
        _ => page_json(p, PER_PAGE, 1, &[]),
    })
    .await;
    let (got, error) = list_all(client(&honest).tasks().per_page(PER_PAGE)).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(got, ids_of_page(1, PER_PAGE));
    assert_eq!(
        honest.count("GET", "/v1/tasks"),
        2,
        "exactly one more request"
    );
}

#[tokio::test]
async fn contradictory_metadata_is_unknown_and_paging_goes_on_to_a_short_or_empty_page() {
    let meta =
        |total: u64, answered: u64, ids: &[String]| page_json(answered, PER_PAGE, total, ids);
    // `total_pages: 0` with tasks; an answer that names another page; a total below its page.
    for lie in [
        (|p: u64| (0, p)) as fn(u64) -> (u64, u64),
        |p| (3, p + 7),
        |p| (p.saturating_sub(1), p),
    ] {
        let server = pages_server(move |p| {
            let (total, answered) = lie(p);
            match p {
                1 | 2 => meta(total, answered, &ids_of_page(p, PER_PAGE)),
                3 => meta(total, answered, &ids_of_page(3, 1)),
                _ => meta(total, answered, &[]),
            }
        })
        .await;
        let (got, error) = list_all(client(&server).tasks().per_page(PER_PAGE)).await;
        assert!(error.is_none(), "{error:?}");
        let mut expected = pages_of(1..=2);
        expected.extend(ids_of_page(3, 1));
        assert_eq!(got, expected, "every page, to the short one");
        assert_eq!(server.count("GET", "/v1/tasks"), 3);
    }
}

#[tokio::test]
async fn the_dedup_window_is_configurable_and_an_id_back_after_it_is_yielded_again() {
    // Task "a" comes back on page 3, after 5 newer ids.
    let pages = |p: u64| {
        let ids: Vec<String> = match p {
            1 => ["a", "b", "c"].map(String::from).to_vec(),
            2 => ["d", "e", "f"].map(String::from).to_vec(),
            3 => ["a", "g"].map(String::from).to_vec(),
            _ => Vec::new(),
        };
        page_json(p, PER_PAGE, 3, &ids)
    };
    let server = pages_server(pages).await;
    let c = client(&server);
    let within: Vec<String> = bounded(
        c.tasks()
            .per_page(PER_PAGE)
            .dedup_window(6)
            .stream()
            .collect::<Vec<_>>(),
    )
    .await
    .into_iter()
    .map(|t| t.unwrap().id.unwrap())
    .collect();
    assert_eq!(
        within,
        ["a", "b", "c", "d", "e", "f", "g"],
        "within the window: once"
    );
    let after: Vec<String> = bounded(
        c.tasks()
            .per_page(PER_PAGE)
            .dedup_window(5)
            .stream()
            .collect::<Vec<_>>(),
    )
    .await
    .into_iter()
    .map(|t| t.unwrap().id.unwrap())
    .collect();
    assert_eq!(
        after,
        ["a", "b", "c", "d", "e", "f", "a", "g"],
        "past the window (5 newer ids): yielded again, as documented"
    );
    assert_eq!(DEDUP_WINDOW, 10_000, "the documented default");
}

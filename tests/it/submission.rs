//! The SQL submission runs a query once at most, whatever the caller does (issue 12): every way of
//! running a handle sends one `POST`, counted by the server; a lost answer is recovered by finding
//! the task again, never by sending the query twice; a held `POST` lasts as long as its query.

use std::future::IntoFuture as _;
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::json;

use crate::support::bounded;
use crate::support::clients::{self, KEY};
use crate::support::fault_server::{Answer, FaultServer, Script, Seen};
use crate::support::fixtures::{Row, TWO_ROWS, two_rows};
use crate::support::prelude::{
    Client, Error, PollPolicy, SqlParameters, TASK_ID_HEADER, Update, VirtualClock,
};

const ID: &str = "5b1e0c7a-0000-4000-8000-00000000c0de";

/// A service that answers the POST with 204 naming [`ID`], and the result with [`TWO_ROWS`].
async fn detached() -> FaultServer {
    FaultServer::start(|req: &Seen| match req.method.as_str() {
        "POST" => Script::Answer(Answer::status(204).header(TASK_ID_HEADER, ID)),
        _ => Script::Answer(Answer::json(200, TWO_ROWS)),
    })
    .await
}

fn client(server: &FaultServer) -> Client {
    clients::builder(&server.uri(), &VirtualClock::new())
        .build()
        .unwrap()
}

#[tokio::test]
async fn awaiting_a_handle_sends_one_post() {
    let server = detached().await;
    let rows: Vec<Row> = bounded(
        client(&server)
            .run_sql("ns", "INSERT INTO t VALUES (1)")
            .into_future(),
    )
    .await
    .unwrap()
    .rows()
    .unwrap();
    assert_eq!(rows, two_rows());
    assert_eq!(server.posts(), 1);
}

#[tokio::test]
async fn watching_a_handles_updates_to_the_end_sends_one_post() {
    let server = detached().await;
    let updates: Vec<Update> = bounded(
        client(&server)
            .run_sql("ns", "INSERT INTO t VALUES (1)")
            .updates()
            .collect(),
    )
    .await;
    assert!(
        matches!(updates.last(), Some(Update::Finished(Ok(_)))),
        "{updates:?}"
    );
    assert_eq!(server.posts(), 1);
}

#[tokio::test]
async fn streaming_a_handles_result_sends_one_post() {
    let server = detached().await;
    let rows: Vec<Row> = bounded(async {
        client(&server)
            .run_sql("ns", "INSERT INTO t VALUES (1)")
            .result_stream()
            .await
            .unwrap()
            .rows_stream()
            .try_collect()
            .await
    })
    .await
    .unwrap();
    assert_eq!(rows, two_rows());
    assert_eq!(server.posts(), 1);
}

#[tokio::test]
async fn a_handles_status_before_submission_and_a_resumed_wait_send_no_post() {
    let server = detached().await;
    let c = client(&server);
    let handle = c.run_sql("ns", "INSERT INTO t VALUES (1)");
    assert!(matches!(
        handle.status().await.unwrap_err(),
        Error::InvalidArgument(_)
    ));
    drop(handle);
    // Waiting on the same task from a second place is a resume by id, never a submission.
    bounded(c.task(ID).into_future()).await.unwrap();
    assert_eq!(server.posts(), 0);
    assert_eq!(server.seen().len(), 1, "only the result was fetched");
}

// ---------------------------------------------------------------------------------------------
// A lost answer: the request is sent, the connection breaks before the answer's head
// ---------------------------------------------------------------------------------------------

/// The `name` the POST body carried.
fn name_sent(server: &FaultServer) -> String {
    let post = server
        .seen()
        .into_iter()
        .find(|s| s.method == "POST")
        .expect("a POST");
    let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    body["name"]
        .as_str()
        .expect("the submission is named")
        .to_owned()
}

/// A service that runs the query and loses its answer (the connection is reset before a byte of
/// it); the task list finds the task by its name from the `found_after`-th search on; the result
/// is stored.
async fn losing_answers(found_after: usize) -> FaultServer {
    let names = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let searches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    FaultServer::start(move |req: &Seen| match (req.method.as_str(), req.path()) {
        ("POST", _) => {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
            *names.lock().unwrap() = body["name"].as_str().map(str::to_owned);
            Script::ResetNow
        }
        ("GET", "/v1/tasks") => {
            let name = names.lock().unwrap().clone().unwrap_or_default();
            let nth = searches.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let hit = nth >= found_after
                && req
                    .query("search")
                    .is_some_and(|s| name.to_lowercase().contains(&s.to_lowercase()));
            let tasks = if hit {
                json!([{
                    "id": ID, "name": name, "namespace": "ns", "status": "RUNNING",
                    "sql_query": "INSERT INTO t VALUES (1)",
                }])
            } else {
                json!([])
            };
            let page = json!({"array_tasks": tasks, "pagination_metadata": {"page": 1, "per_page": 100, "total_pages": 1, "total_items": tasks.as_array().map_or(0, Vec::len)}});
            Script::Answer(Answer::json(200, page.to_string()))
        }
        _ => Script::Answer(Answer::json(200, TWO_ROWS)),
    })
    .await
}

#[tokio::test]
async fn a_lost_answer_is_recovered_by_the_tasks_name_and_the_query_runs_once() {
    let server = losing_answers(2).await;
    let clock = VirtualClock::new();
    let c = clients::builder(&server.uri(), &clock).build().unwrap();
    let updates: Vec<Update> = bounded(
        c.run_sql("ns", "INSERT INTO t VALUES (1)")
            .updates()
            .collect(),
    )
    .await;
    match updates.last() {
        Some(Update::Finished(Ok(r))) => {
            assert_eq!(r.rows::<Row>().unwrap(), two_rows());
            assert_eq!(r.task_id().map(|t| t.as_str()), Some(ID));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&updates[0], Update::Submitted { task_id } if task_id.as_str() == ID),
        "{updates:?}"
    );
    assert_eq!(server.posts(), 1, "the query was sent once");
    let name = name_sent(&server);
    assert!(name.starts_with("tiledb-cloud-tasks:"), "{name}");
    let searches: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|s| s.path() == "/v1/tasks")
        .collect();
    assert_eq!(searches.len(), 2, "searched until found: {searches:?}");
    assert_eq!(searches[0].query("search").as_deref(), Some(name.as_str()));
    assert_eq!(searches[0].query("namespace").as_deref(), Some("ns"));
}

#[tokio::test]
async fn a_lost_answer_of_a_named_query_is_searched_by_its_own_name() {
    let server = losing_answers(1).await;
    let c = clients::builder(&server.uri(), &VirtualClock::new())
        .build()
        .unwrap();
    let params = SqlParameters::query("INSERT INTO t VALUES (1)").name("nightly load");
    let r = bounded(c.run_sql("ns", params).into_future())
        .await
        .unwrap();
    assert_eq!(r.rows::<Row>().unwrap(), two_rows());
    assert_eq!(
        name_sent(&server),
        "nightly load",
        "the caller's name is kept"
    );
    assert_eq!(server.posts(), 1);
}

#[tokio::test]
async fn a_lost_answer_whose_task_is_never_found_is_outcome_unknown_after_a_bounded_search() {
    let server = losing_answers(usize::MAX).await;
    let clock = VirtualClock::new();
    let c = clients::builder(&server.uri(), &clock).build().unwrap();
    let e = bounded(c.run_sql("ns", "INSERT INTO t VALUES (1)").into_future())
        .await
        .unwrap_err();
    let Error::OutcomeUnknown(u) = &e else {
        panic!("{e:?}")
    };
    let name = name_sent(&server);
    assert_eq!(u.name(), name);
    assert_eq!(u.namespace(), "ns");
    assert_eq!(u.candidates(), 0);
    assert!(
        u.searches() >= 2,
        "searched more than once: {}",
        u.searches()
    );
    assert_eq!(
        u.searched(),
        Duration::from_secs(60),
        "bounded by the search window"
    );
    assert!(matches!(u.error(), Error::Transport(_)), "{e:?}");
    assert!(!e.is_retryable(), "submitting again could run it twice");
    assert_eq!(e.task_id(), None);
    let report = e.report().to_string();
    assert!(
        report.contains(&format!("no task named {name:?} was found")),
        "{report}"
    );
    assert!(
        report.contains("POST"),
        "the lost answer is the cause: {report}"
    );
    assert!(!format!("{e:?}{report}").contains(KEY));
    assert_eq!(server.posts(), 1, "never resent");
}

#[tokio::test]
async fn a_lost_answer_near_the_deadline_searches_no_longer_than_the_deadline() {
    let server = losing_answers(usize::MAX).await;
    let clock = VirtualClock::new();
    let c = clients::builder(&server.uri(), &clock).build().unwrap();
    let e = bounded(
        c.run_sql("ns", "INSERT INTO t VALUES (1)")
            .deadline(Duration::from_secs(5))
            .into_future(),
    )
    .await
    .unwrap_err();
    let Error::OutcomeUnknown(u) = &e else {
        panic!("{e:?}")
    };
    assert!(u.searched() <= Duration::from_secs(5), "{:?}", u.searched());
    assert_eq!(server.posts(), 1);
}

// ---------------------------------------------------------------------------------------------
// A held POST lasts as long as its query
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_90_second_query_on_a_held_post_resolves_despite_the_clients_60_second_timeout() {
    // The service holds the POST until the query has finished (as TileDB Cloud does): 90 s of
    // (paused, auto-advancing) tokio time. The client keeps its default 60 s timeout, which
    // applies to every other request.
    let server = FaultServer::start(|req: &Seen| match req.method.as_str() {
        "POST" => Script::AnswerAfter(
            Duration::from_secs(90),
            Answer::json(200, TWO_ROWS).header(TASK_ID_HEADER, ID),
        ),
        _ => Script::Answer(Answer::status(500)),
    })
    .await;
    let c = Client::builder()
        .host(server.uri())
        .api_key(KEY)
        .poll_policy(PollPolicy::default())
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(600), c.run_sql("ns", "SELECT slow()"))
        .await
        .expect("the handle's deadline (15 min) is far")
        .unwrap();
    assert_eq!(r.rows::<Row>().unwrap(), two_rows());
    assert!(
        started.elapsed() >= Duration::from_secs(90),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.posts(), 1);
    assert_eq!(
        server.seen().len(),
        1,
        "answered by the POST, nothing polled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_held_post_is_bounded_by_the_handles_deadline() {
    let server = FaultServer::start(|_: &Seen| Script::Silent).await;
    let c = Client::builder()
        .host(server.uri())
        .api_key(KEY)
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let e = tokio::time::timeout(
        Duration::from_secs(3600),
        c.run_sql("ns", "SELECT 1")
            .deadline(Duration::from_secs(120)),
    )
    .await
    .expect("the deadline ends it")
    .unwrap_err();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(120) && waited < Duration::from_secs(300),
        "{waited:?}: {e:?}"
    );
    assert_eq!(server.posts(), 1);
}

//! `Client::tasks()`: the wire form of every filter, when the stream ends, drift, the safety nets,
//! errors and their resume page, tracing, and prefetch (requests in flight).
//!
//! Everything runs against wiremock on 127.0.0.1, except the requests-in-flight tests, which need a
//! server that can hold answers back until the test lets them go (a tiny axum server, behind the
//! default `server` feature). No assertion depends on wall-clock timing: retries sleep on a
//! `VirtualClock`, and concurrency is observed through gates, not delays.

use std::sync::{Arc, Mutex};

use chrono::{Duration as ChronoDuration, TimeZone as _, Utc};
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::cases;
use crate::support::clients::client_with;
use crate::support::fixtures::{ids_of_page, page_json, task_json};
use crate::support::prelude::{
    ArrayTask, ArrayTaskData, ArrayTaskStatus, ArrayTaskType, Client, Error, FileType, Result,
    RetryPolicy, TaskList, TaskOrder, TasksQuery, VirtualClock,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A client for `server` whose retries (2 attempts) sleep on a virtual clock.
fn client_for(uri: &str) -> Client {
    client_with(
        uri,
        RetryPolicy::default().max_attempts(2),
        VirtualClock::new(),
    )
}

fn client(server: &MockServer) -> Client {
    client_for(&server.uri())
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// The `page` a request asked for (1 when absent).
fn page_of(req: &Request) -> u64 {
    req.url
        .query_pairs()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1)
}

fn param(req: &Request, key: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Answers from a function of the page asked for.
struct ByPage<F>(F);

impl<F: Fn(u64) -> ResponseTemplate + Send + Sync> Respond for ByPage<F> {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        (self.0)(page_of(req))
    }
}

/// A well-behaved listing: `total_pages` pages of `per_page` tasks.
fn listing(per_page: u64, total_pages: u64) -> ByPage<impl Fn(u64) -> ResponseTemplate> {
    ByPage(move |page| {
        let ids = if page <= total_pages {
            ids_of_page(page, per_page)
        } else {
            Vec::new()
        };
        ok(page_json(page, per_page, total_pages, &ids))
    })
}

async fn mount(server: &MockServer, responder: impl Respond + 'static) {
    Mock::given(method("GET"))
        .and(path("/v1/tasks"))
        .respond_with(responder)
        .mount(server)
        .await;
}

/// Every item of a stream, errors included (the stream must end by itself).
async fn drain<T>(s: impl Stream<Item = Result<T>>) -> Vec<Result<T>> {
    s.collect().await
}

fn ids(tasks: &[ArrayTask]) -> Vec<String> {
    tasks.iter().filter_map(|t| t.id.clone()).collect()
}

/// Splits drained items into the tasks and the one error that must come last, if any.
fn tasks_then_error(items: Vec<Result<ArrayTask>>) -> (Vec<String>, Option<Error>) {
    let mut tasks = Vec::new();
    let mut error = None;
    for item in items {
        assert!(error.is_none(), "an item came after the error");
        match item {
            Ok(t) => tasks.push(t),
            Err(e) => error = Some(e),
        }
    }
    (ids(&tasks), error)
}

async fn pages_requested(server: &MockServer) -> Vec<u64> {
    server
        .received_requests()
        .await
        .expect("recording is on")
        .iter()
        .map(page_of)
        .collect()
}

fn expected_ids(pages: std::ops::RangeInclusive<u64>, per_page: u64) -> Vec<String> {
    pages.flat_map(|p| ids_of_page(p, per_page)).collect()
}

// ---------------------------------------------------------------------------------------------
// The wire form of every filter
// ---------------------------------------------------------------------------------------------

fn every_filter(list: TaskList) -> TaskList {
    let start = Utc
        .with_ymd_and_hms(2024, 1, 2, 3, 4, 5)
        .single()
        .expect("time");
    list.namespace("my ns")
        .created_by("alice")
        .array("tiledb://ns/my array")
        .start(start)
        .end(start + ChronoDuration::hours(1))
        .page(2)
        .per_page(50)
        .task_type(ArrayTaskType::Sql)
        .exclude_type(ArrayTaskType::Udf)
        .exclude_type(ArrayTaskType::GenericUdf)
        .file_type(FileType::Notebook)
        .file_type(FileType::MlModel)
        .exclude_file_type(FileType::File)
        .exclude_file_type(FileType::UserDefinedFunction)
        .status(ArrayTaskStatus::from("SOMETHING_NEW"))
        .search("nightly report")
        .order_by(TaskOrder::StartTime)
}

const EVERY_FILTER_QUERY: &str = "namespace=my+ns&created_by=alice\
    &array=tiledb%3A%2F%2Fns%2Fmy+array&start=1704164645&end=1704168245&page=2&per_page=50\
    &type=SQL&exclude_type=UDF%2CGENERIC_UDF&file_type=notebook&file_type=ml_model\
    &exclude_file_type=file&exclude_file_type=user_defined_function&status=SOMETHING_NEW\
    &search=nightly+report&orderby=start_time";

#[tokio::test]
async fn every_filter_is_sent_in_its_spec_wire_form() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/tasks"))
        .respond_with(ok(page_json(2, 50, 2, &ids_of_page(2, 1))))
        .expect(1)
        .mount(&server)
        .await;

    let page = every_filter(client(&server).tasks())
        .first_page()
        .await
        .expect("page");
    assert_eq!(page.array_tasks.len(), 1);

    let requests = server.received_requests().await.expect("recording");
    let url = &requests[0].url;
    assert_eq!(url.query(), Some(EVERY_FILTER_QUERY));

    // Decoded: exclude_type is ONE comma-joined parameter; the file types are repeated keys.
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let all = |k: &str| -> Vec<&str> {
        pairs
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(all("exclude_type"), ["UDF,GENERIC_UDF"]);
    assert_eq!(all("file_type"), ["notebook", "ml_model"]);
    assert_eq!(all("exclude_file_type"), ["file", "user_defined_function"]);
    assert_eq!(all("array"), ["tiledb://ns/my array"]);
    assert_eq!(all("start"), ["1704164645"]);
    assert_eq!(all("end"), ["1704168245"]);
    assert!(
        pairs.iter().all(|(k, _)| !k.ends_with("[]")),
        "no `[]` keys"
    );
}

#[tokio::test]
async fn the_stream_sends_every_filter_on_every_page_and_only_the_page_changes() {
    let server = MockServer::start().await;
    mount(&server, listing(50, 3)).await;

    let got: Vec<ArrayTask> = every_filter(client(&server).tasks())
        .stream()
        .try_collect()
        .await
        .expect("tasks");
    assert_eq!(ids(&got), expected_ids(2..=3, 50));

    let requests = server.received_requests().await.expect("recording");
    let queries: Vec<String> = requests
        .iter()
        .map(|r| r.url.query().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        queries,
        [
            EVERY_FILTER_QUERY.to_owned(),
            EVERY_FILTER_QUERY.replace("&page=2&", "&page=3&"),
            // Page 3, the last, is full: one more request checks that nothing follows.
            EVERY_FILTER_QUERY.replace("&page=2&", "&page=4&"),
        ]
    );
}

#[test]
fn orders_and_unknown_statuses_are_sent_verbatim_and_nothing_unset_is_sent() {
    assert!(TasksQuery::new().to_pairs().expect("pairs").is_empty());
    let pairs = |q: TasksQuery| q.to_pairs().expect("pairs");
    assert_eq!(
        pairs(TasksQuery::new().order_by(TaskOrder::Name)),
        [("orderby", "name".to_owned())]
    );
    assert_eq!(
        pairs(TasksQuery::new().order_by(TaskOrder::Other("cost".into()))),
        [("orderby", "cost".to_owned())]
    );
    assert_eq!(
        pairs(TasksQuery::new().status(ArrayTaskStatus::ResourcesUnavailable)),
        [("status", "RESOURCES_UNAVAILABLE".to_owned())]
    );
    assert_eq!(
        pairs(TasksQuery::new().exclude_type(ArrayTaskType::Other("NEW_KIND".into()))),
        [("exclude_type", "NEW_KIND".to_owned())]
    );
}

// ---------------------------------------------------------------------------------------------
// Drift: the pinned end, deduplication
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn without_end_the_stream_pins_end_to_its_creation_on_every_page() {
    let server = MockServer::start().await;
    mount(&server, listing(2, 3)).await;

    let before = Utc::now().timestamp();
    let stream = client(&server).tasks().per_page(2).prefetch(0).stream();
    let after = Utc::now().timestamp();
    let got: Vec<ArrayTask> = stream.try_collect().await.expect("tasks");
    assert_eq!(got.len(), 6);

    let requests = server.received_requests().await.expect("recording");
    let ends: Vec<i64> = requests
        .iter()
        .map(|r| {
            param(r, "end")
                .expect("end is sent")
                .parse()
                .expect("seconds")
        })
        .collect();
    assert_eq!(
        ends.len(),
        4,
        "3 pages, and the check after the full last one"
    );
    assert!(
        ends.iter().all(|e| *e == ends[0]),
        "one end for all pages: {ends:?}"
    );
    // Rounded up to the whole second.
    assert!(
        (before..=after + 1).contains(&ends[0]),
        "{before} <= {} <= {after} + 1",
        ends[0]
    );
    assert!(requests.iter().all(|r| param(r, "start").is_none()));
}

#[tokio::test]
async fn a_task_started_in_the_same_second_as_the_stream_is_listed() {
    // A service that compares `end` with the task's exact start time (not whole seconds): the
    // task started a fraction of a second before the stream, within the same second.
    let mut started = Utc::now();
    if started.timestamp_subsec_millis() > 900 {
        // Too close to the next second for the stream to be made within this one.
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        started = Utc::now();
    }
    let server = MockServer::start().await;
    let task =
        json!({"id": "same-second", "start_time": started.to_rfc3339(), "status": "COMPLETED"});
    Mock::given(method("GET"))
        .and(path("/v1/tasks"))
        .respond_with(move |r: &Request| {
            let end: i64 = param(r, "end").and_then(|e| e.parse().ok()).unwrap_or(i64::MAX);
            let end = Utc.timestamp_opt(end, 0).unwrap();
            let tasks = if started <= end { vec![task.clone()] } else { vec![] };
            ResponseTemplate::new(200).set_body_json(json!({
                "array_tasks": tasks,
                "pagination_metadata": {"page": 1, "per_page": 100, "total_pages": 1, "total_items": tasks.len()},
            }))
        })
        .mount(&server)
        .await;
    let stream = client(&server).tasks().stream();
    assert_eq!(
        Utc::now().timestamp(),
        started.timestamp(),
        "made within the same second"
    );
    let got: Vec<ArrayTask> = stream.try_collect().await.expect("tasks");
    assert_eq!(
        got.iter().map(|t| t.id.as_deref()).collect::<Vec<_>>(),
        [Some("same-second")]
    );
}

#[tokio::test]
async fn without_end_a_start_in_the_future_is_not_start_after_end() {
    let server = MockServer::start().await;
    mount(&server, listing(2, 0)).await;
    let start = Utc::now() + ChronoDuration::days(1);

    let items = drain(client(&server).tasks().start(start).stream()).await;
    assert!(items.is_empty(), "{items:?}");
    let requests = server.received_requests().await.expect("recording");
    assert_eq!(requests.len(), 1);
    assert_eq!(param(&requests[0], "end"), param(&requests[0], "start"));
}

#[tokio::test]
async fn a_task_that_drifts_onto_the_next_page_is_yielded_once() {
    let server = MockServer::start().await;
    // A task was added before the cursor between the two requests: "b" moves to page 2.
    mount(
        &server,
        ByPage(|page| {
            let ids: Vec<String> = match page {
                1 => vec!["a".into(), "b".into()],
                2 => vec!["b".into(), "c".into()],
                _ => Vec::new(),
            };
            ok(page_json(page, 2, 2, &ids))
        }),
    )
    .await;

    let got: Vec<ArrayTask> = client(&server)
        .tasks()
        .per_page(2)
        .stream()
        .try_collect()
        .await
        .expect("tasks");
    assert_eq!(ids(&got), ["a", "b", "c"]);

    // `.pages()` hands over the pages, without what was already yielded.
    let pages: Vec<ArrayTaskData> = client(&server)
        .tasks()
        .per_page(2)
        .pages()
        .try_collect()
        .await
        .expect("pages");
    assert_eq!(pages.len(), 2);
    assert_eq!(ids(&pages[1].array_tasks), ["c"]);
    assert_eq!(
        pages[1].pagination_metadata.and_then(|m| m.page),
        Some(2),
        "metadata as the service sent it"
    );
}

#[tokio::test]
async fn tasks_without_an_id_are_never_dropped_as_duplicates() {
    let server = MockServer::start().await;
    let body = json!({
        "array_tasks": [{ "status": "RUNNING" }, { "status": "RUNNING" }],
        "pagination_metadata": { "page": 1, "per_page": 2, "total_pages": 1, "total_items": 2 }
    });
    let past_the_end = json!({ "array_tasks": [] });
    mount(
        &server,
        ByPage(move |page| {
            ok(if page == 1 {
                body.clone()
            } else {
                past_the_end.clone()
            })
        }),
    )
    .await;
    let got: Vec<ArrayTask> = client(&server)
        .tasks()
        .stream()
        .try_collect()
        .await
        .expect("tasks");
    assert_eq!(got.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// When the stream ends
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn zero_tasks_end_the_stream_after_one_request() {
    for body in [
        // The spec's `x-omitempty`: no `array_tasks` key at all.
        json!({ "pagination_metadata": { "page": 1, "per_page": 10, "total_pages": 0, "total_items": 0 } }),
        json!({ "array_tasks": null, "pagination_metadata": { "page": 1.0, "total_pages": 0.0 } }),
        json!({ "array_tasks": [] }),
        json!({}),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/tasks"))
            .respond_with(ok(body.clone()))
            .expect(2) // one per listing below
            .mount(&server)
            .await;
        let items = drain(client(&server).tasks().prefetch(4).stream()).await;
        assert!(items.is_empty(), "{body}: {items:?}");
        let pages = drain(client(&server).tasks().prefetch(4).pages()).await;
        assert!(pages.is_empty(), "{body}: no page is yielded");
    }
}

#[tokio::test]
async fn exactly_one_page_is_exactly_one_request_whatever_the_prefetch() {
    for depth in [0, 1, 4] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/tasks"))
            // One short page (2 tasks of 3): the end, with nothing to check.
            .respond_with(ok(page_json(1, 3, 1, &ids_of_page(1, 2))))
            .expect(1)
            .mount(&server)
            .await;
        let got: Vec<ArrayTask> = client(&server)
            .tasks()
            .per_page(3)
            .prefetch(depth)
            .stream()
            .try_collect()
            .await
            .expect("tasks");
        assert_eq!(ids(&got), expected_ids(1..=1, 2), "prefetch {depth}");
    }
}

#[tokio::test]
async fn many_pages_are_yielded_whole_and_in_order() {
    let server = MockServer::start().await;
    mount(&server, listing(3, 7)).await;
    let pages: Vec<ArrayTaskData> = client(&server)
        .tasks()
        .per_page(3)
        .prefetch(3)
        .pages()
        .try_collect()
        .await
        .expect("pages");
    let numbers: Vec<Option<u64>> = pages
        .iter()
        .map(|p| p.pagination_metadata.and_then(|m| m.page))
        .collect();
    assert_eq!(numbers, (1..=7).map(Some).collect::<Vec<_>>());
    assert!(pages.iter().all(|p| p.array_tasks.len() == 3));
    let mut requested = pages_requested(&server).await;
    requested.sort_unstable();
    assert_eq!(
        requested,
        (1..=8).collect::<Vec<_>>(),
        "each page once, none past the end"
    );
}

#[tokio::test]
async fn an_empty_page_or_a_missing_array_tasks_ends_the_stream_even_if_total_pages_says_more() {
    for second in [
        json!({ "array_tasks": [], "pagination_metadata": { "page": 2, "total_pages": 5 } }),
        json!({ "pagination_metadata": { "page": 2, "total_pages": 5 } }),
    ] {
        let server = MockServer::start().await;
        mount(
            &server,
            ByPage(move |page| match page {
                1 => ok(page_json(1, 2, 5, &ids_of_page(1, 2))),
                _ => ok(second.clone()),
            }),
        )
        .await;
        let got: Vec<ArrayTask> = client(&server)
            .tasks()
            .per_page(2)
            .prefetch(0)
            .stream()
            .try_collect()
            .await
            .expect("tasks");
        assert_eq!(ids(&got), expected_ids(1..=1, 2));
        assert_eq!(pages_requested(&server).await, [1, 2]);
    }
}

#[tokio::test]
async fn total_pages_growing_mid_stream_is_followed() {
    for depth in [0, 2] {
        let server = MockServer::start().await;
        // The first answer says 2 pages; by the second, tasks were added and there are 4.
        mount(
            &server,
            ByPage(|page| {
                let total = if page == 1 { 2 } else { 4 };
                let ids = if page <= total {
                    ids_of_page(page, 2)
                } else {
                    Vec::new()
                };
                ok(page_json(page, 2, total, &ids))
            }),
        )
        .await;
        let got: Vec<ArrayTask> = client(&server)
            .tasks()
            .per_page(2)
            .prefetch(depth)
            .stream()
            .try_collect()
            .await
            .expect("tasks");
        assert_eq!(ids(&got), expected_ids(1..=4, 2), "prefetch {depth}");
    }
}

#[tokio::test]
async fn total_pages_shrinking_mid_stream_ends_at_the_new_total() {
    for depth in [0, 3] {
        let server = MockServer::start().await;
        // The first answer says 5 pages; by the second, tasks expired and there are 2.
        mount(
            &server,
            ByPage(|page| {
                let total = if page == 1 { 5 } else { 2 };
                let ids = if page <= total {
                    ids_of_page(page, 2)
                } else {
                    Vec::new()
                };
                ok(page_json(page, 2, total, &ids))
            }),
        )
        .await;
        let got: Vec<ArrayTask> = client(&server)
            .tasks()
            .per_page(2)
            .prefetch(depth)
            .stream()
            .try_collect()
            .await
            .expect("tasks");
        assert_eq!(ids(&got), expected_ids(1..=2, 2), "prefetch {depth}");
        if depth == 0 {
            // Page 2, now the last, is full: one more request checks that nothing follows.
            assert_eq!(pages_requested(&server).await, [1, 2, 3]);
        }
    }
}

#[tokio::test]
async fn termination_follows_the_newest_answer_not_an_older_total() {
    let server = MockServer::start().await;
    // Page 1 says there are 2 pages; page 2 carries no metadata, so it says nothing about the end;
    // page 3 has tasks and is the last.
    mount(
        &server,
        ByPage(|page| match page {
            1 => ok(page_json(1, 2, 2, &ids_of_page(1, 2))),
            2 => ok(json!({ "array_tasks": [task_json("p2-0"), task_json("p2-1")] })),
            3 => ok(page_json(page, 2, 3, &ids_of_page(page, 2))),
            _ => ok(page_json(page, 2, 3, &[])),
        }),
    )
    .await;
    let got: Vec<ArrayTask> = client(&server)
        .tasks()
        .per_page(2)
        .stream()
        .try_collect()
        .await
        .expect("tasks");
    assert_eq!(ids(&got), expected_ids(1..=3, 2));
}

// ---------------------------------------------------------------------------------------------
// The safety nets: a repeated page, the page cap
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_server_repeating_a_page_ends_the_stream_with_a_listing_error_not_a_loop() {
    for (total_pages, depth) in [(None, 0), (Some(1_000_000u64), 0), (Some(1_000_000), 3)] {
        let server = MockServer::start().await;
        // The service ignores `page` and answers page 1 for ever.
        let body = match total_pages {
            Some(t) => page_json(1, 2, t, &ids_of_page(1, 2)),
            None => json!({ "array_tasks": [task_json("p1-0"), task_json("p1-1")] }),
        };
        mount(&server, ByPage(move |_| ok(body.clone()))).await;

        let items = drain(client(&server).tasks().per_page(2).prefetch(depth).stream()).await;
        let (got, error) = tasks_then_error(items);
        assert_eq!(got, expected_ids(1..=1, 2));
        let error = error.expect("the repeat is reported");
        assert_eq!(error.resume_page(), Some(2), "{error}");
        assert!(
            matches!(&error, Error::Listing(l) if matches!(l.error(), Error::Protocol(_))),
            "{error:?}"
        );
        let requested = pages_requested(&server).await;
        assert!(
            requested.len() <= 2 + depth,
            "stopped at once: {requested:?}"
        );
    }
}

#[tokio::test]
async fn the_page_cap_stops_a_service_that_never_says_it_is_done() {
    for (total_pages, depth) in [(None, 0), (Some(u64::MAX), 0), (Some(u64::MAX), 4)] {
        let server = MockServer::start().await;
        mount(
            &server,
            ByPage(move |page| {
                let ids = ids_of_page(page, 2);
                ok(match total_pages {
                    Some(t) => page_json(page, 2, t, &ids),
                    None => {
                        json!({ "array_tasks": ids.iter().map(|i| task_json(i)).collect::<Vec<_>>() })
                    }
                })
            }),
        )
        .await;

        let items = drain(
            client(&server)
                .tasks()
                .per_page(2)
                .page(5)
                .max_pages(3)
                .prefetch(depth)
                .stream(),
        )
        .await;
        let (got, error) = tasks_then_error(items);
        assert_eq!(got, expected_ids(5..=7, 2));
        let error = error.expect("the cap is reported");
        assert_eq!(error.resume_page(), Some(8), "{error}");
        assert!(error.report().to_string().contains("page cap"), "{error}");
        let mut requested = pages_requested(&server).await;
        requested.sort_unstable();
        assert_eq!(
            requested,
            [5, 6, 7],
            "no request past the cap, even prefetched"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_error_mid_stream_ends_it_with_the_page_to_resume_from_and_resuming_there_lists_the_rest()
 {
    for depth in [0, 2] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/tasks"))
            .and(query_param("page", "3"))
            .respond_with(
                ResponseTemplate::new(500)
                    .set_body_json(json!({ "code": 1000, "message": "boom", "request_id": "r-3" })),
            )
            .expect(2) // the two attempts of the retry policy, then the error
            .named("page 3, failing")
            .mount(&server)
            .await;
        mount(&server, listing(2, 4)).await;

        let items = drain(client(&server).tasks().per_page(2).prefetch(depth).stream()).await;
        let (got, error) = tasks_then_error(items);
        assert_eq!(got, expected_ids(1..=2, 2), "prefetch {depth}");
        let error = error.expect("the failure is the last item");
        assert_eq!(error.resume_page(), Some(3));
        assert_eq!(error.status(), Some(500));
        assert_eq!(error.request_id(), Some("r-3"));
        assert!(error.is_retryable());
        assert!(error.to_string().contains("page 3"), "{error}");
        server.verify().await;

        // The service recovers; the caller resumes where the error said.
        server.reset().await;
        mount(&server, listing(2, 4)).await;
        let rest: Vec<ArrayTask> = client(&server)
            .tasks()
            .per_page(2)
            .page(error.resume_page().expect("resume page"))
            .stream()
            .try_collect()
            .await
            .expect("the rest");
        assert_eq!(ids(&rest), expected_ids(3..=4, 2));
    }
}

#[tokio::test]
async fn a_transient_error_is_retried_and_the_stream_goes_on() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/tasks"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    mount(&server, listing(2, 3)).await;

    let clock = VirtualClock::new();
    let client = client_with(
        &server.uri(),
        RetryPolicy::default().max_attempts(2),
        clock.clone(),
    );
    let got: Vec<ArrayTask> = client
        .tasks()
        .per_page(2)
        .stream()
        .try_collect()
        .await
        .expect("tasks");
    assert_eq!(ids(&got), expected_ids(1..=3, 2));
    assert_eq!(clock.sleeps().len(), 1, "one backoff, on the virtual clock");
}

#[tokio::test]
async fn a_page_that_does_not_decode_ends_the_stream_with_its_resume_page() {
    let server = MockServer::start().await;
    mount(
        &server,
        ByPage(|page| match page {
            2 => ResponseTemplate::new(200).set_body_raw("<html>gateway</html>", "text/html"),
            _ => ok(page_json(page, 2, 3, &ids_of_page(page, 2))),
        }),
    )
    .await;
    let (got, error) = tasks_then_error(drain(client(&server).tasks().per_page(2).stream()).await);
    assert_eq!(got, expected_ids(1..=1, 2));
    let error = error.expect("error");
    assert_eq!(error.resume_page(), Some(2));
    assert!(
        matches!(&error, Error::Listing(l) if matches!(l.error(), Error::Decode(_))),
        "{error:?}"
    );
}

/// Builds a listing with one bad argument, and checks that neither the stream nor `first_page`
/// sends anything and both name the argument.
async fn assert_rejected_before_any_request(
    build: impl Fn(TaskList) -> TaskList,
    argument: &'static str,
) {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ok(json!({})))
        .expect(0)
        .mount(&server)
        .await;
    let client = client(&server);

    let items = drain(build(client.tasks()).stream()).await;
    assert_eq!(items.len(), 1, "one error, then the end: {items:?}");
    match &items[0] {
        Err(Error::InvalidArgument(a)) => assert_eq!(a.argument(), argument),
        other => panic!("expected an invalid `{argument}`, got {other:?}"),
    }
    let pages = drain(build(client.tasks()).pages()).await;
    assert!(matches!(
        pages.as_slice(),
        [Err(Error::InvalidArgument { .. })]
    ));
    match build(client.tasks()).first_page().await {
        Err(Error::InvalidArgument(a)) => assert_eq!(a.argument(), argument),
        other => panic!("expected an invalid `{argument}`, got {other:?}"),
    }
    server.verify().await;
}

cases! {
    async assert_rejected_before_any_request;
    per_page_zero_fails_before_any_request: |l: TaskList| l.per_page(0) => "per_page",
    page_zero_fails_before_any_request: |l: TaskList| l.page(0) => "page",
    start_after_end_fails_before_any_request: |l: TaskList| {
        let end = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        l.start(end + ChronoDuration::seconds(1)).end(end)
    } => "start",
}

#[tokio::test]
async fn a_bad_array_uri_fails_before_any_request() {
    for uri in [
        "my-array",
        "s3://bucket/array",
        "tiledb://ns",
        "tiledb://ns/",
        "tiledb:///array",
        "",
    ] {
        assert_rejected_before_any_request(move |l| l.array(uri), "array").await;
    }
}

#[tokio::test]
async fn a_time_before_1970_or_an_empty_namespace_fails_before_any_request() {
    let old = Utc
        .with_ymd_and_hms(1969, 12, 31, 0, 0, 0)
        .single()
        .expect("time");
    assert_rejected_before_any_request(move |l| l.start(old), "start").await;
    assert_rejected_before_any_request(|l| l.namespace(" "), "namespace").await;
}

// ---------------------------------------------------------------------------------------------
// Send + 'static
// ---------------------------------------------------------------------------------------------

/// Compile-time: the streams are `Send + 'static` (and `Unpin`, so `try_next()` works directly).
fn assert_send_static_stream<T, S>(_: fn(TaskList) -> S)
where
    S: Stream<Item = Result<T>> + Send + Unpin + 'static,
{
}

const _: fn() = || {
    assert_send_static_stream::<ArrayTask, _>(TaskList::stream);
    assert_send_static_stream::<ArrayTaskData, _>(TaskList::pages);
};

#[tokio::test]
async fn the_stream_is_send_and_static_so_it_can_move_into_a_spawned_task() {
    let server = MockServer::start().await;
    mount(&server, listing(2, 2)).await;
    let stream = client(&server).tasks().per_page(2).stream();
    // The client and the builder are gone; the stream owns what it needs.
    let got = tokio::spawn(async move {
        let mut stream = stream;
        let mut n = 0;
        while let Some(t) = stream.try_next().await? {
            assert!(t.id.is_some());
            n += 1;
        }
        Ok::<_, Error>(n)
    })
    .await
    .expect("task")
    .expect("tasks");
    assert_eq!(got, 4);
}

// ---------------------------------------------------------------------------------------------
// Tracing: one span per page fetched
// ---------------------------------------------------------------------------------------------

mod spans {
    use super::*;
    use crate::support::trace;
    use tracing::Instrument as _;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
    use tracing_subscriber::registry::LookupSpan;

    #[derive(Debug, Clone, PartialEq)]
    pub(super) struct Seen {
        pub(super) name: &'static str,
        pub(super) page: Option<u64>,
        pub(super) parent: Option<&'static str>,
    }

    #[derive(Clone, Default)]
    pub(super) struct Recorder(pub(super) Arc<Mutex<Vec<Seen>>>);

    struct PageField(Option<u64>);
    impl Visit for PageField {
        fn record_i64(&mut self, field: &Field, value: i64) {
            if field.name() == "tiledb.page" {
                self.0 = u64::try_from(value).ok();
            }
        }
        fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
    }

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            let mut page = PageField(None);
            attrs.record(&mut page);
            let parent = ctx
                .span(id)
                .and_then(|s| s.parent())
                .map(|p| p.metadata().name());
            self.0.lock().expect("lock").push(Seen {
                name: attrs.metadata().name(),
                page: page.0,
                parent,
            });
        }
    }

    #[tokio::test]
    async fn each_page_fetched_has_one_tasks_get_span_under_the_listing_under_the_callers_span() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/tasks"))
            .and(query_param("page", "2"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        mount(&server, listing(2, 3)).await;

        let recorder = Recorder::default();
        // This thread's subscriber only. Other tests, on other threads with no subscriber, hit the
        // same callsites; `trace::set_default` keeps their "never" from sticking (see there).
        let _guard = trace::set_default(tracing_subscriber::registry().with(recorder.clone()));
        // Current-thread runtime: the prefetch tasks run on this thread, under this subscriber.
        let got: Vec<ArrayTask> = client(&server)
            .tasks()
            .per_page(2)
            .prefetch(2)
            .stream()
            .try_collect()
            .instrument(tracing::info_span!("report"))
            .await
            .expect("tasks");
        assert_eq!(got.len(), 6);

        let seen = recorder.0.lock().expect("lock").clone();
        let lists: Vec<&Seen> = seen.iter().filter(|s| s.name == "list_tasks").collect();
        assert_eq!(lists.len(), 1, "one listing span: {seen:?}");
        assert_eq!(lists[0].parent, Some("report"));
        let mut pages: Vec<&Seen> = seen.iter().filter(|s| s.name == "tasks_get").collect();
        pages.sort_by_key(|s| s.page);
        assert_eq!(
            pages.iter().map(|s| s.page).collect::<Vec<_>>(),
            [Some(1), Some(2), Some(3), Some(4)],
            "one span per page, the retried page and the check after the full last one included"
        );
        assert!(
            pages.iter().all(|s| s.parent == Some("list_tasks")),
            "prefetched pages too are children of the listing's span: {pages:?}"
        );
        let attempts: Vec<&Seen> = seen.iter().filter(|s| s.name == "http_request").collect();
        assert_eq!(attempts.len(), 5, "three pages, one retried, and the check");
        assert!(attempts.iter().all(|s| s.parent == Some("tasks_get")));
    }
}

// ---------------------------------------------------------------------------------------------
// Prefetch: requests in flight, observed through a gate
// ---------------------------------------------------------------------------------------------

/// A `/v1/tasks` server that counts the requests it is answering and holds each answer until the
/// test releases it, so that "in flight" is observed without any timing.
#[cfg(feature = "server")]
mod gated {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::Json;
    use axum::extract::{Query, State};
    use axum::routing::get;
    use serde_json::Value;
    use tokio::sync::{Semaphore, mpsc};

    use crate::support::fixtures::{ids_of_page, page_json};

    /// What the server saw when a request arrived.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Arrival {
        /// The page asked for.
        pub page: u64,
        /// How many tasks the consumer had taken from the stream at that moment.
        pub consumed: usize,
    }

    pub struct Gate {
        pub per_page: u64,
        pub total_pages: u64,
        pub in_flight: AtomicUsize,
        pub max_in_flight: AtomicUsize,
        /// The consumer's count of tasks taken, kept up to date by the test.
        pub consumed: AtomicUsize,
        pub release: Semaphore,
        arrivals: mpsc::UnboundedSender<Arrival>,
    }

    impl Gate {
        /// Lets `n` more answers go.
        pub fn open(&self, n: usize) {
            self.release.add_permits(n);
        }
    }

    async fn tasks(
        State(gate): State<Arc<Gate>>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Json<Value> {
        let page: u64 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let now = gate.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        gate.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let _ = gate.arrivals.send(Arrival {
            page,
            consumed: gate.consumed.load(Ordering::SeqCst),
        });
        if let Ok(permit) = gate.release.acquire().await {
            permit.forget();
        }
        gate.in_flight.fetch_sub(1, Ordering::SeqCst);
        let ids = if page <= gate.total_pages {
            ids_of_page(page, gate.per_page)
        } else {
            Vec::new()
        };
        Json(page_json(page, gate.per_page, gate.total_pages, &ids))
    }

    /// Starts the server on 127.0.0.1; returns its URI, the gate, and the arrivals as they come.
    pub async fn start(
        per_page: u64,
        total_pages: u64,
    ) -> (String, Arc<Gate>, mpsc::UnboundedReceiver<Arrival>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let gate = Arc::new(Gate {
            per_page,
            total_pages,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            consumed: AtomicUsize::new(0),
            release: Semaphore::new(0),
            arrivals: tx,
        });
        let app = axum::Router::new()
            .route("/v1/tasks", get(tasks))
            .with_state(gate.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (format!("http://{addr}"), gate, rx)
    }

    /// The next arrival. The timeout is only a safety net against a hung test, never a measure.
    pub async fn next_arrival(rx: &mut mpsc::UnboundedReceiver<Arrival>) -> Arrival {
        tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("a request arrives")
            .expect("the server is up")
    }
}

#[cfg(feature = "server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_prefetch_several_requests_are_in_flight_while_the_consumer_works() {
    pages_in_flight_while_the_consumer_works(Some(3)).await;
}

/// The default settings prefetch: `DEFAULT_PREFETCH` (4) pages are requested while the consumer
/// works on the first, so a slow link does not cost a round trip per page.
#[cfg(feature = "server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_four_pages_are_fetched_ahead_while_the_consumer_works() {
    assert_eq!(tiledb_cloud_tasks::list::DEFAULT_PREFETCH, 4);
    pages_in_flight_while_the_consumer_works(None).await;
}

/// With `prefetch(setting)` (`None`: the default), page 1 answered and its first task taken, the
/// next `depth` pages are requested at once; never more than `depth` are in flight.
#[cfg(feature = "server")]
async fn pages_in_flight_while_the_consumer_works(setting: Option<usize>) {
    use std::sync::atomic::Ordering;
    let depth = setting.unwrap_or(tiledb_cloud_tasks::list::DEFAULT_PREFETCH);
    const PER_PAGE: u64 = 2;
    // More pages than page 1 and the pages ahead.
    let total_pages = depth as u64 + 5;
    let (uri, gate, mut arrivals) = gated::start(PER_PAGE, total_pages).await;
    let mut list = client_for(&uri).tasks().per_page(PER_PAGE);
    if let Some(d) = setting {
        list = list.prefetch(d);
    }
    let mut stream = list.stream();

    // Page 1 is let through; the consumer takes its first task and then works on it (it does not
    // poll the stream again until the test says so).
    gate.open(1);
    let first = stream.try_next().await.expect("ok").expect("a task");
    gate.consumed.store(1, Ordering::SeqCst);
    assert_eq!(first.id.as_deref(), Some("p1-0"));
    assert_eq!(
        gated::next_arrival(&mut arrivals).await,
        gated::Arrival {
            page: 1,
            consumed: 0
        }
    );

    // Meanwhile the next depth pages are requested, all at once, none answered yet.
    let mut ahead = Vec::new();
    for _ in 0..depth {
        ahead.push(gated::next_arrival(&mut arrivals).await);
    }
    ahead.sort_by_key(|a| a.page);
    assert_eq!(
        ahead.iter().map(|a| a.page).collect::<Vec<_>>(),
        (2..=depth as u64 + 1).collect::<Vec<_>>(),
        "the next {depth} pages"
    );
    assert!(
        ahead.iter().all(|a| a.consumed <= 1),
        "requested before the consumer needed them: {ahead:?}"
    );
    assert_eq!(gate.in_flight.load(Ordering::SeqCst), depth);

    // The gate opens for good; the rest comes in order, and never more than depth at once.
    gate.open(1_000);
    let mut got = vec![first.id.clone().unwrap_or_default()];
    while let Some(t) = stream.try_next().await.expect("ok") {
        got.push(t.id.clone().unwrap_or_default());
        gate.consumed.fetch_add(1, Ordering::SeqCst);
    }
    assert_eq!(got, expected_ids(1..=total_pages, PER_PAGE));
    assert_eq!(gate.max_in_flight.load(Ordering::SeqCst), depth);
}

#[cfg(feature = "server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_prefetch_pages_are_fetched_one_at_a_time_and_only_when_needed() {
    use std::sync::atomic::Ordering;
    const PER_PAGE: u64 = 2;
    const TOTAL: u64 = 5;
    let (uri, gate, mut arrivals) = gated::start(PER_PAGE, TOTAL).await;
    gate.open(1_000);
    let mut stream = client_for(&uri)
        .tasks()
        .per_page(PER_PAGE)
        .prefetch(0)
        .stream();

    let mut got = Vec::new();
    while let Some(t) = stream.try_next().await.expect("ok") {
        got.push(t.id.clone().unwrap_or_default());
        gate.consumed.fetch_add(1, Ordering::SeqCst);
        // A slow consumer: give any eager fetch every chance to start.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }
    assert_eq!(got, expected_ids(1..=TOTAL, PER_PAGE));
    assert_eq!(gate.max_in_flight.load(Ordering::SeqCst), 1);

    let mut seen = Vec::new();
    while let Ok(a) = arrivals.try_recv() {
        seen.push(a);
    }
    // Page k is asked for only once the consumer has taken every task of pages 1..k (the last
    // page is full, so one more, empty, checks that nothing follows).
    let expected: Vec<gated::Arrival> = (1..=TOTAL + 1)
        .map(|page| gated::Arrival {
            page,
            consumed: ((page - 1) * PER_PAGE) as usize,
        })
        .collect();
    assert_eq!(seen, expected);
}

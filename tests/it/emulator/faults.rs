//! Each fault kind against the SDK: the SDK does what its documentation promises (retries,
//! recovery, typed errors), and the server's journal shows what the server did.

use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::json;

use crate::support::bounded;
use crate::support::local::fast_polls;
use crate::support::prelude::{
    ArrayTaskStatus, Client, Error, FaultAction, FaultRoute, FaultRule, JournalEntry, LocalServer,
    ServerConfig, Timing, Update, VirtualClock,
};

async fn server(timing: Timing, rules: Vec<FaultRule>) -> LocalServer {
    LocalServer::start(ServerConfig::new().timing(timing).fault_rules(rules))
        .await
        .expect("server starts")
}

/// A client whose retry sleeps run on a virtual clock (polls on the real one, fast).
fn client(server: &LocalServer, clock: &VirtualClock) -> Client {
    server
        .client_builder()
        .clock(clock.clone())
        .poll_policy(fast_polls())
        .build()
        .unwrap()
}

fn real_clock_client(server: &LocalServer) -> Client {
    server
        .client_builder()
        .poll_policy(fast_polls())
        .build()
        .unwrap()
}

/// `(request, status, fault)` of each journal entry.
fn journal(server: &LocalServer) -> Vec<(String, Option<u16>, Option<String>)> {
    server
        .journal()
        .into_iter()
        .map(|e: JournalEntry| (e.request(), e.status, e.fault))
        .collect()
}

fn posts(server: &LocalServer) -> usize {
    server
        .journal()
        .iter()
        .filter(|e| e.method == "POST")
        .count()
}

fn status(status: u16, retry_after_secs: Option<u64>) -> FaultAction {
    FaultAction::Status {
        status,
        retry_after_secs,
        message: None,
    }
}

const QUERY: &str = "SELECT 1 AS a, 'x' AS b";

fn rows() -> serde_json::Value {
    json!([{"a": 1, "b": "x"}])
}

#[tokio::test]
async fn status_503_with_retry_after_on_the_post_is_waited_out_and_the_query_runs_once() {
    let rule = FaultRule::new(status(503, Some(7)))
        .route(FaultRoute::Sql)
        .times(2);
    let server = server(Timing::Holding, vec![rule]).await;
    let clock = VirtualClock::new();
    let result = bounded(
        client(&server, &clock)
            .run_sql("local", QUERY)
            .into_future(),
    )
    .await
    .unwrap();
    assert_eq!(result.json().unwrap(), rows());
    assert_eq!(
        clock.sleeps(),
        vec![Duration::from_secs(7); 2],
        "Retry-After obeyed"
    );
    let id = result.task_id().unwrap().to_string();
    assert_eq!(
        journal(&server),
        vec![
            (
                "POST /v1/sql/local".into(),
                Some(503),
                Some("status 503".into())
            ),
            (
                "POST /v1/sql/local".into(),
                Some(503),
                Some("status 503".into())
            ),
            ("POST /v1/sql/local".into(), Some(200), None),
        ]
    );
    assert_eq!(server.journal()[2].task_id.as_deref(), Some(id.as_str()));
    // Refused submissions were never recorded.
    let tasks: Vec<_> = server
        .client()
        .unwrap()
        .tasks()
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1);
}

#[tokio::test]
async fn status_500_on_every_second_poll_is_retried_transparently() {
    let rules = vec![
        FaultRule::new(FaultAction::SlowTask { ms: 300 }).route(FaultRoute::Sql),
        FaultRule::new(status(500, None))
            .route(FaultRoute::Result)
            .every(2),
    ];
    let server = server(Timing::Detached, rules).await;
    let result = bounded(
        real_clock_client(&server)
            .run_sql("local", QUERY)
            .into_future(),
    )
    .await
    .unwrap();
    assert_eq!(result.json().unwrap(), rows());
    let polls: Vec<_> = journal(&server)
        .into_iter()
        .filter(|(r, _, _)| r.ends_with("/result"))
        .collect();
    // Every second poll was the fault's 500; the others the server's own 202s, then 200.
    for (i, (_, status, fault)) in polls.iter().enumerate() {
        if i % 2 == 1 {
            assert_eq!((*status, fault.as_deref()), (Some(500), Some("status 500")));
        } else {
            assert!(matches!(status, Some(200 | 202)), "{polls:?}");
        }
    }
    assert_eq!(polls.last().unwrap().1, Some(200));
    assert_eq!(posts(&server), 1);
}

#[tokio::test]
async fn status_400_on_the_post_is_an_api_error_and_never_resent() {
    let rule = FaultRule::new(FaultAction::Status {
        status: 400,
        retry_after_secs: None,
        message: Some("quota exceeded".into()),
    })
    .route(FaultRoute::Sql);
    let server = server(Timing::Holding, vec![rule]).await;
    let clock = VirtualClock::new();
    let err = bounded(
        client(&server, &clock)
            .run_sql("local", QUERY)
            .into_future(),
    )
    .await
    .unwrap_err();
    let Error::Api(api) = &err else {
        panic!("expected Error::Api, got {err:?}")
    };
    assert_eq!((api.status(), api.code()), (400, Some(1024)));
    assert_eq!(api.message(), "quota exceeded");
    assert!(!err.is_retryable());
    assert_eq!(
        journal(&server),
        vec![(
            "POST /v1/sql/local".into(),
            Some(400),
            Some("status 400".into())
        )]
    );
}

#[tokio::test]
async fn latency_past_the_clients_timeout_is_a_timeout_then_a_retry_that_recovers() {
    let rule = FaultRule::new(FaultAction::Latency { ms: 1500 })
        .route(FaultRoute::Task)
        .times(1);
    let server = server(Timing::Holding, vec![rule]).await;
    let id = real_clock_client(&server)
        .run_sql("local", QUERY)
        .await
        .unwrap()
        .task_id()
        .unwrap()
        .clone();
    let clock = VirtualClock::new();
    let c = server
        .client_builder()
        .clock(clock.clone())
        .timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let task = bounded(c.api().task_id_get(id.clone())).await.unwrap();
    assert_eq!(task.status, Some(ArrayTaskStatus::Completed));
    assert_eq!(
        clock.sleeps().len(),
        1,
        "one retry after the timed-out attempt"
    );
    // The journal has both answers once the slow one is written; the first carries the fault.
    let entries = crate::support::poll_until(crate::support::POLL_STEPS, || async {
        let e = journal(&server);
        (e.len() == 3).then_some(e)
    })
    .await
    .expect("both lookups journaled");
    let lookups: Vec<_> = entries
        .iter()
        .filter(|(r, _, _)| r.starts_with("GET /v1/task/"))
        .collect();
    // The delayed one was never answered: the client had gone.
    assert!(
        lookups
            .iter()
            .any(|(_, s, f)| s.is_none() && f.as_deref() == Some("latency 1500ms")),
        "{lookups:?}"
    );
    assert!(
        lookups
            .iter()
            .any(|(_, s, f)| *s == Some(200) && f.is_none())
    );
}

#[tokio::test]
async fn cut_before_head_on_the_post_is_recovered_by_the_tasks_name_never_resent() {
    // The query ran and its answer was lost: the SDK finds the task by the name it gave the
    // submission and collects the stored result. (Holding: a detached 204 has no body, and the
    // emulator's cut lets its head through.)
    {
        let timing = Timing::Holding;
        let rule = FaultRule::new(FaultAction::CutBeforeHead).route(FaultRoute::Sql);
        let server = server(timing, vec![rule]).await;
        let clock = VirtualClock::new();
        let result = bounded(
            client(&server, &clock)
                .run_sql("local", QUERY)
                .into_future(),
        )
        .await
        .unwrap();
        assert_eq!(result.json().unwrap(), rows(), "{timing}");
        let entries = server.journal();
        assert_eq!(posts(&server), 1, "never resent: {entries:?}");
        assert_eq!(entries[0].status, None, "nothing was answered");
        assert_eq!(entries[0].fault.as_deref(), Some("cut before head"));
        let id = entries[0].task_id.clone().expect("the task was recorded");
        assert_eq!(result.task_id().map(|t| t.as_str()), Some(id.as_str()));
        assert!(
            entries
                .iter()
                .any(|e| e.request().starts_with("GET /v1/tasks")),
            "{entries:?}"
        );
        let tasks = server
            .client()
            .unwrap()
            .tasks()
            .stream()
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
        assert_eq!(tasks.len(), 1, "one task on the server: {tasks:?}");
        let name = tasks[0].name.as_deref().unwrap_or_default();
        assert!(name.starts_with("tiledb-cloud-tasks:"), "{name}");
    }
}

#[tokio::test]
async fn cut_before_head_on_a_poll_is_retried_and_the_rows_arrive() {
    let rule = FaultRule::new(FaultAction::CutBeforeHead)
        .route(FaultRoute::Result)
        .times(1);
    let server = server(Timing::Detached, vec![rule]).await;
    let clock = VirtualClock::new();
    let result = bounded(
        client(&server, &clock)
            .run_sql("local", QUERY)
            .into_future(),
    )
    .await
    .unwrap();
    assert_eq!(result.json().unwrap(), rows());
    let entries = journal(&server);
    assert_eq!(entries[0].1, Some(204));
    assert_eq!(
        entries[1],
        (entries[1].0.clone(), None, Some("cut before head".into()))
    );
    assert!(entries[1].0.ends_with("/result"));
    assert_eq!(entries.last().unwrap().1, Some(200));
    assert_eq!(posts(&server), 1);
}

#[tokio::test]
async fn cut_after_head_of_the_rows_is_followed_by_polling_the_named_task_never_resent() {
    let rule = FaultRule::new(FaultAction::CutAfterHead)
        .route(FaultRoute::Sql)
        .times(1);
    let server = server(Timing::Holding, vec![rule]).await;
    let clock = VirtualClock::new();
    let result = bounded(
        client(&server, &clock)
            .run_sql("local", QUERY)
            .into_future(),
    )
    .await
    .unwrap();
    assert_eq!(result.json().unwrap(), rows());
    let entries = journal(&server);
    assert_eq!(
        entries[0],
        (
            "POST /v1/sql/local".into(),
            Some(200),
            Some("cut after head".into())
        )
    );
    assert!(
        entries[1].0.ends_with("/result") && entries[1].1 == Some(200),
        "{entries:?}"
    );
    assert_eq!(posts(&server), 1);
}

#[tokio::test]
async fn a_truncated_result_body_is_fetched_again_whole() {
    let server = server(Timing::Holding, vec![]).await;
    let id = real_clock_client(&server)
        .run_sql("local", QUERY)
        .await
        .unwrap()
        .task_id()
        .unwrap()
        .clone();
    server
        .set_fault_rules(vec![
            FaultRule::new(FaultAction::TruncateBody { bytes: 5 })
                .route(FaultRoute::Result)
                .times(1),
        ])
        .unwrap();
    server.clear_journal();
    // Resumed by id: the wait for its stored result, whose first answer is cut short.
    let clock = VirtualClock::new();
    let result = bounded(client(&server, &clock).task(id).into_future())
        .await
        .unwrap();
    assert_eq!(result.json().unwrap(), rows());
    let results: Vec<_> = journal(&server)
        .into_iter()
        .filter(|(r, _, _)| r.ends_with("/result"))
        .collect();
    assert_eq!(results[0].2.as_deref(), Some("truncate body at 5 bytes"));
    assert_eq!(results.len(), 2, "{results:?}");
}

#[tokio::test]
async fn a_truncated_listing_page_is_fetched_again_and_the_list_is_whole() {
    let server = server(Timing::Holding, vec![]).await;
    let c = real_clock_client(&server);
    for i in 0..5 {
        c.run_sql("local", format!("SELECT {i}"))
            .inline()
            .await
            .unwrap();
    }
    server
        .set_fault_rules(vec![
            FaultRule::new(FaultAction::TruncateBody { bytes: 40 })
                .route(FaultRoute::Tasks)
                .every(2)
                .times(1),
        ])
        .unwrap();
    server.clear_journal();
    let clock = VirtualClock::new();
    let listed: Vec<_> = bounded(
        client(&server, &clock)
            .tasks()
            .per_page(2)
            .prefetch(0)
            .stream()
            .try_collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    assert_eq!(listed.len(), 5);
    let pages = journal(&server);
    // Page 1, page 2 cut short, page 2 again, page 3.
    assert_eq!(pages.len(), 4, "{pages:?}");
    assert_eq!(pages[1].2.as_deref(), Some("truncate body at 40 bytes"));
    assert!(
        pages
            .iter()
            .all(|(r, s, _)| r == "GET /v1/tasks" && *s == Some(200))
    );
}

#[tokio::test]
async fn a_slow_task_is_polled_until_it_finishes() {
    let rule = FaultRule::new(FaultAction::SlowTask { ms: 1000 }).namespace("local");
    let server = server(Timing::Detached, vec![rule]).await;
    let mut updates = real_clock_client(&server).run_sql("local", QUERY).updates();
    let mut polled = 0;
    let mut last = None;
    while let Some(u) = updates.next().await {
        match u {
            Update::Polled { .. } => polled += 1,
            Update::Finished(r) => last = Some(r),
            _ => {}
        }
    }
    let result = last.unwrap().unwrap();
    assert_eq!(result.json().unwrap(), rows());
    assert!(polled >= 1, "the handle waited for the slow task");
    let entries = journal(&server);
    assert_eq!(entries[0].2.as_deref(), Some("slow task 1000ms"));
    assert!(
        entries
            .iter()
            .any(|(r, s, _)| r.ends_with("/result") && *s == Some(202))
    );
    let id = result.task_id().unwrap().clone();
    let task = server
        .client()
        .unwrap()
        .api()
        .task_id_get(id)
        .await
        .unwrap();
    assert!(
        task.duration.unwrap_or(0) >= 1_000_000_000,
        "{:?}",
        task.duration
    );
}

#[tokio::test]
async fn a_failed_task_is_task_failed_with_the_rules_message() {
    let rule = FaultRule::new(FaultAction::FailTask {
        message: Some("disk on fire".into()),
    })
    .route(FaultRoute::Sql);
    let server = server(Timing::Detached, vec![rule]).await;
    let err = bounded(
        real_clock_client(&server)
            .run_sql("local", QUERY)
            .into_future(),
    )
    .await
    .unwrap_err();
    match &err {
        Error::TaskFailed(failed) => {
            assert_eq!(*failed.status(), ArrayTaskStatus::Failed);
            assert_eq!(failed.message(), Some("disk on fire"));
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
    let entries = journal(&server);
    assert_eq!(
        entries[0],
        (
            "POST /v1/sql/local".into(),
            Some(204),
            Some("fail task".into())
        )
    );
    assert!(
        entries
            .iter()
            .any(|(r, s, _)| r.ends_with("/result") && *s == Some(404))
    );
}

#[tokio::test]
async fn rules_apply_in_order_by_namespace_chance_and_count() {
    let rules = vec![
        // Never fires: a share of 0.
        FaultRule::new(status(500, None)).probability(0.0),
        // Only namespace `other` (none here).
        FaultRule::new(status(502, None)).namespace("other"),
        // Always fires, three times, then never.
        FaultRule::new(status(429, Some(0)))
            .route(FaultRoute::Tasks)
            .probability(1.0)
            .times(3),
        FaultRule::new(status(418, None))
            .route(FaultRoute::Tasks)
            .every(2),
    ];
    let server = server(Timing::Holding, rules).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let resp = http
            .get(format!("{}/v1/tasks", server.base_url()))
            .header("x-tiledb-rest-api-key", server.api_key())
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    // 3 × 429; then the 418 rule counts from its first match: 200, 418, 200, 418.
    assert_eq!(statuses, vec![429, 429, 429, 200, 418, 200, 418]);
    let journaled: Vec<Option<u16>> = server.journal().iter().map(|e| e.status).collect();
    assert_eq!(
        journaled,
        statuses.iter().map(|s| Some(*s)).collect::<Vec<_>>()
    );
    // Bad rules are refused, naming the rule, and the rules in force stay.
    let err = server
        .set_fault_rules(vec![FaultRule::new(status(200, None))])
        .unwrap_err();
    assert!(err.to_string().contains("fault rule 1"), "{err}");
    assert_eq!(server.fault_rules().len(), 4);
}

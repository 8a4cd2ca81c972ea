//! `GET /v1/tasks`: pagination, every filter, ordering, and bad parameters.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::local::{Harness, expect_error, task_id};
use crate::support::prelude::{ArrayTaskData, PaginationMetadata, ServerConfig};

const INVALID_PARAMETER: i64 = 1009;

fn meta(data: &ArrayTaskData) -> PaginationMetadata {
    data.pagination_metadata.expect("pagination metadata")
}

fn names(data: &ArrayTaskData) -> Vec<String> {
    data.array_tasks
        .iter()
        .map(|t| t.name.clone().unwrap_or_default())
        .collect()
}

fn ids(data: &ArrayTaskData) -> BTreeSet<String> {
    data.array_tasks
        .iter()
        .map(|t| t.id.clone().unwrap_or_default())
        .collect()
}

async fn run_named(h: &Harness, key: &str, namespace: &str, name: &str, query: &str) -> String {
    let resp = h
        .sql_as(key, namespace, json!({"name": name, "query": query}))
        .await;
    task_id(&resp)
}

#[tokio::test]
async fn pagination_reports_pages_and_totals() {
    let h = Harness::default().await;
    for i in 0..25 {
        run_named(&h, &h.key, "local", &format!("task-{i:02}"), "SELECT 1").await;
    }
    let first = h.list("per_page=10").await;
    assert_eq!(meta(&first), PaginationMetadata::new(1, 10, 25));
    assert_eq!(meta(&first).total_pages, Some(3));
    assert_eq!(first.array_tasks.len(), 10);

    let last = h.list("per_page=10&page=3").await;
    assert_eq!(meta(&last).page, Some(3));
    assert_eq!(meta(&last).total_items, Some(25));
    assert_eq!(last.array_tasks.len(), 5);

    // Pages do not overlap and together hold every task once.
    let second = h.list("per_page=10&page=2").await;
    let mut all = ids(&first);
    all.extend(ids(&second));
    all.extend(ids(&last));
    assert_eq!(all.len(), 25);

    let beyond = h.list("per_page=10&page=4").await;
    assert!(beyond.array_tasks.is_empty());
    assert_eq!(meta(&beyond).total_pages, Some(3));

    // Defaults: page 1, 10 per page.
    let default = h.list("").await;
    assert_eq!(meta(&default), PaginationMetadata::new(1, 10, 25));
}

#[tokio::test]
async fn default_order_is_newest_first_and_name_order_is_ascending() {
    let h = Harness::default().await;
    for name in ["bravo", "alpha", "charlie"] {
        run_named(&h, &h.key, "local", name, "SELECT 1").await;
        // Date them apart without sleeping.
        h.server.advance_clock(Duration::from_secs(10));
    }
    let resp = h.sql("local", json!({"query": "SELECT 1"})).await; // unnamed, newest
    assert_eq!(resp.status(), StatusCode::OK);

    assert_eq!(names(&h.list("").await), ["", "charlie", "alpha", "bravo"]);
    assert_eq!(
        names(&h.list("orderby=start_time").await),
        ["", "charlie", "alpha", "bravo"]
    );
    assert_eq!(
        names(&h.list("orderby=name").await),
        ["alpha", "bravo", "charlie", ""]
    );
}

/// Users `local` (namespace `local`) and `alice` (namespaces `local` and `team`), with tasks:
/// local/alpha (ok), local/beta (fails), alice's local/gamma (ok), alice's team/delta (ok).
async fn shared_namespaces() -> (Harness, [String; 4]) {
    let h = Harness::start(ServerConfig::new().api_key("local-key").user(
        "alice",
        "alice-key",
        None,
        &["local", "team"],
    ))
    .await;
    let alpha = run_named(&h, "local-key", "local", "alpha", "SELECT 'Needle' AS x").await;
    let beta = run_named(&h, "local-key", "local", "beta", "SELECT * FROM missing").await;
    let gamma = run_named(&h, "alice-key", "local", "gamma", "SELECT 2").await;
    let delta = run_named(&h, "alice-key", "team", "delta", "SELECT 3").await;
    (h, [alpha, beta, gamma, delta])
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).clone()).collect()
}

#[tokio::test]
async fn listing_shows_only_namespaces_the_user_may_use() {
    let (h, [alpha, beta, gamma, delta]) = shared_namespaces().await;
    assert_eq!(
        ids(&h.list_as("local-key", "").await),
        set(&[&alpha, &beta, &gamma])
    );
    assert_eq!(
        ids(&h.list_as("alice-key", "").await),
        set(&[&alpha, &beta, &gamma, &delta])
    );
    assert!(
        h.list_as("local-key", "namespace=team")
            .await
            .array_tasks
            .is_empty()
    );
}

#[tokio::test]
async fn namespace_created_by_status_and_search_filters() {
    let (h, [alpha, beta, gamma, delta]) = shared_namespaces().await;
    let list = |q: &'static str| h.list_as("alice-key", q);
    assert_eq!(ids(&list("namespace=team").await), set(&[&delta]));
    assert_eq!(
        ids(&list("namespace=local").await),
        set(&[&alpha, &beta, &gamma])
    );
    assert_eq!(ids(&list("created_by=alice").await), set(&[&gamma, &delta]));
    assert_eq!(
        ids(&list("created_by=local&namespace=local").await),
        set(&[&alpha, &beta])
    );
    assert_eq!(ids(&list("status=FAILED").await), set(&[&beta]));
    assert_eq!(
        ids(&list("status=COMPLETED").await),
        set(&[&alpha, &gamma, &delta])
    );
    assert!(list("status=RUNNING").await.array_tasks.is_empty());
    // search: case-insensitive, over name, namespace and SQL text.
    assert_eq!(ids(&list("search=GAMM").await), set(&[&gamma]));
    assert_eq!(ids(&list("search=needle").await), set(&[&alpha]));
    assert_eq!(ids(&list("search=tea").await), set(&[&delta]));
    assert!(list("search=nowhere").await.array_tasks.is_empty());
    // Filters combine, and the totals count what matched.
    let page = list("namespace=local&status=COMPLETED&per_page=1").await;
    assert_eq!(meta(&page), PaginationMetadata::new(1, 1, 2));
}

#[tokio::test]
async fn type_array_and_file_type_filters() {
    let (h, [alpha, beta, gamma, delta]) = shared_namespaces().await;
    let all = set(&[&alpha, &beta, &gamma, &delta]);
    let list = |q: &'static str| h.list_as("alice-key", q);
    assert_eq!(ids(&list("type=SQL").await), all);
    assert!(list("type=UDF").await.array_tasks.is_empty());
    // exclude_type is one comma-joined parameter.
    assert!(list("exclude_type=UDF,SQL").await.array_tasks.is_empty());
    assert_eq!(ids(&list("exclude_type=UDF,GENERIC_UDF").await), all);
    // SQL tasks touch no array: an array or file-type filter matches none of them, and
    // excluding file types removes none. The file-type lists are repeated keys.
    assert!(
        list("array=tiledb%3A%2F%2Flocal%2Farr")
            .await
            .array_tasks
            .is_empty()
    );
    assert!(
        list("file_type=notebook&file_type=file")
            .await
            .array_tasks
            .is_empty()
    );
    assert_eq!(
        ids(&list("exclude_file_type=notebook&exclude_file_type=ml_model").await),
        all
    );
}

#[tokio::test]
async fn start_and_end_bound_start_time_inclusively_in_unix_seconds() {
    let h = Harness::default().await;
    let early = run_named(&h, &h.key, "local", "early", "SELECT 1").await;
    h.server.advance_clock(Duration::from_secs(24 * 3600));
    let late = run_named(&h, &h.key, "local", "late", "SELECT 1").await;

    let early_s = h.task(&early).await.start_time.unwrap().timestamp();
    let late_s = h.task(&late).await.start_time.unwrap().timestamp();
    let middle = early_s + 12 * 3600;

    let q = |s: String| {
        let h = &h;
        async move { ids(&h.list(&s).await) }
    };
    assert_eq!(q(format!("start={middle}")).await, set(&[&late]));
    assert_eq!(q(format!("end={middle}")).await, set(&[&early]));
    // Inclusive at both ends.
    assert_eq!(
        q(format!("start={early_s}&end={late_s}")).await,
        set(&[&early, &late])
    );
    assert_eq!(
        q(format!("start={late_s}&end={late_s}")).await,
        set(&[&late])
    );
    assert!(q(format!("start={}", late_s + 1)).await.is_empty());
}

#[tokio::test]
async fn bad_list_parameters_are_400_naming_the_parameter() {
    let h = Harness::default().await;
    for (query, name) in [
        ("page=first", "page"),
        ("start=yesterday", "start"),
        ("start=1.5", "start"),
        ("end=-1", "end"),
        ("orderby=size", "orderby"),
        ("status=FAILED&status=RUNNING", "status"),
    ] {
        let resp = h.get(&format!("/v1/tasks?{query}")).await;
        let message = expect_error(resp, StatusCode::BAD_REQUEST, INVALID_PARAMETER).await;
        assert!(message.contains(name), "{query}: {message}");
    }
}

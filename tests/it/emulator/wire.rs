//! Where the official client or the spec sends something the server used to refuse: the
//! `result_format` of the Python client's model object, and out-of-range list paging.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::local::{Harness, content_type, task_id};
use crate::support::prelude::{ArrayTask, ResultFormat};

#[tokio::test]
async fn result_format_empty_object_or_null_reads_as_absent_the_default_json() {
    let h = Harness::default().await;
    // `{}` is what the Python client 0.14.4 sends for `models.ResultFormat("json")`.
    for format in [json!({}), json!(null)] {
        let resp = h
            .sql(
                "local",
                json!({"query": "SELECT 1 AS a", "result_format": format}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "result_format {format}");
        assert_eq!(content_type(&resp), "application/json");
        let id = task_id(&resp);
        assert_eq!(resp.text().await.unwrap(), r#"[{"a":1}]"#);
        let task: ArrayTask = h.task(&id).await;
        assert_eq!(task.result_format, Some(ResultFormat::Json));
    }
    // A non-empty object is still not a format.
    let resp = h
        .sql(
            "local",
            json!({"query": "SELECT 1", "result_format": {"value": "json"}}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn list_paging_out_of_range_is_served_and_pagination_reports_what_was_applied() {
    let h = Harness::default().await;
    for i in 0..12 {
        let resp = h
            .sql("local", json!({"query": format!("SELECT {i}")}))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    // (query, page applied, per_page applied, tasks on the page)
    for (query, page, per_page, count) in [
        ("page=0", 1, 10, 10),
        ("page=-2", 1, 10, 10),
        ("per_page=0", 1, 10, 10),
        ("per_page=-5", 1, 10, 10),
        ("per_page=100000", 1, 1000, 12),
        ("page=0&per_page=5", 1, 5, 5),
        ("page=3&per_page=5", 3, 5, 2),
    ] {
        let data = h.list(query).await;
        let meta = data.pagination_metadata.expect("pagination");
        assert_eq!(meta.page, Some(page), "{query}");
        assert_eq!(meta.per_page, Some(per_page), "{query}");
        assert_eq!(meta.total_items, Some(12), "{query}");
        assert_eq!(data.array_tasks.len(), count, "{query}");
    }
    // Not a number at all is still a 400 naming the parameter.
    let resp = h.get("/v1/tasks?page=first").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

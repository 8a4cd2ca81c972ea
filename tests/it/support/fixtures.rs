//! What the service sends, as more than one module needs it: tasks, pages of tasks, and a small
//! stored result.

use serde::Deserialize;
use serde_json::{Value, json};

/// A completed SQL task, as a page lists it.
pub fn task_json(id: &str) -> Value {
    json!({ "id": id, "status": "COMPLETED", "cost": 0.25, "type": "SQL" })
}

/// The ids of page `page` of a listing with `per_page` tasks a page: `p{page}-{i}`.
pub fn ids_of_page(page: u64, per_page: u64) -> Vec<String> {
    (0..per_page).map(|i| format!("p{page}-{i}")).collect()
}

/// A page of `GET /v1/tasks`: the tasks `ids`, and metadata for `total_pages` pages of `per_page`.
pub fn page_json(page: u64, per_page: u64, total_pages: u64, ids: &[String]) -> Value {
    json!({
        "array_tasks": ids.iter().map(|i| task_json(i)).collect::<Vec<_>>(),
        "pagination_metadata": {
            "page": page,
            "per_page": per_page,
            "total_pages": total_pages,
            "total_items": total_pages.saturating_mul(per_page),
        }
    })
}

/// A stored result of two rows, the second with a NULL.
pub const TWO_ROWS: &str = r#"[{"a":1,"b":"x"},{"a":2,"b":null}]"#;

/// A row of [`TWO_ROWS`].
#[derive(Debug, Deserialize, PartialEq)]
pub struct Row {
    pub a: i64,
    pub b: Option<String>,
}

/// [`TWO_ROWS`], decoded.
pub fn two_rows() -> Vec<Row> {
    vec![
        Row {
            a: 1,
            b: Some("x".into()),
        },
        Row { a: 2, b: None },
    ]
}

//! The wire models against the spec's examples and the shapes real servers send.

use std::time::Duration;

use serde_json::json;

use crate::support::prelude::{
    ActivityEventType, ArrayActions, ArrayTask, ArrayTaskData, ArrayTaskStatus, ArrayTaskType,
    ArrayType, FileType, PaginationMetadata, PricingCurrency, QueryType, ResultFormat,
    SqlParameters,
};

/// Every `ArrayTask` field, filled from the spec's examples.
fn spec_task() -> serde_json::Value {
    json!({
        "id": "00000000-0000-0000-0000-000000000001",
        "name": "subarray-multiplier",
        "username": "demo",
        "description": "Return attr a1 in the subarray bounded by coordinates and multiply attr1 by 2",
        "array_metadata": {
            "id": "00000000-0000-0000-0000-000000000000",
            "file_type": "notebook",
            "file_properties": {"image": "x", "size": "12"},
            "uri": "s3://bucket/array",
            "namespace": "user1",
            "size": 1024,
            "last_accessed": "2021-01-01T00:00:00Z",
            "description": null,
            "name": "myarray1",
            "allowed_actions": ["read", "write", "read_array_schema"],
            "pricing": [{
                "id": "planID", "array_uuid": "00000000-0000-0000-0000-000000000000",
                "pricing_name": "p", "pricing_type": "egress", "product_name": "prod",
                "product_statement_descriptor": "desc", "product_unit_label": "byte",
                "currency": "USD", "aggregate_usage": "sum", "interval": "month",
                "divided_by": 1024, "charge": 0.12, "activated": true
            }],
            "subscriptions": [{
                "id": "subscriptionID", "owner_namespace_uuid": "a", "customer_namespace_uuid": "b",
                "pricing": []
            }],
            "logo": "aGVsbG8=",
            "access_credentials_name": "creds",
            "type": "sparse",
            "share_count": 10.0,
            "public_share": true,
            "namespace_subscribed": false,
            "tiledb_uri": "tiledb://user1/myarray1",
            "tags": ["a", "b"],
            "license_id": "MIT",
            "license_text": "text",
            "read_only": false,
            "is_favorite": true,
            "created_at": "2020-06-01T12:00:00.123Z",
            "created_by": "user1",
            "metadata": [{"key": "k", "value": "v", "type": "string"}]
        },
        "subarray": {"int64": [0, 10, 20, 22], "float64": [1.5, 2.5]},
        "memory": 1073741824,
        "cpu": 4000,
        "namespace": "organization1",
        "status": "COMPLETED",
        "status_message": "done",
        "start_time": "2021-01-01T10:00:00Z",
        "finish_time": "2021-01-01T10:05:41+00:00",
        "cost": 0.12,
        "egress_cost": 0.12,
        "access_cost": 0.12,
        "query_type": "READ",
        "udf_code": "def f(): pass",
        "udf_language": "python",
        "sql_query": "SELECT 1",
        "type": "SQL",
        "activity": [{
            "event_at": "2021-01-01T10:00:01Z", "action": "query_read", "username": "user1",
            "bytes_sent": 1073741824, "bytes_received": 1073741824,
            "array_task_id": "00000000-0000-0000-0000-000000000001",
            "id": "00000000-0000-0000-0000-000000000002",
            "query_ranges": "{\"rows\":[{\"start\": 1, \"end\": 1}]}",
            "query_stats": "{\"timers\": {}}"
        }],
        "logs": "",
        "duration": 341000000000.0,
        "sql_init_commands": ["CREATE TEMP TABLE t(a)"],
        "sql_parameters": [1, "two", null],
        "result_format": "arrow",
        "task_graph_uuid": "g",
        "client_node_uuid": "n",
        "cloud_provider": "AWS",
        "cloud_region": "us-east-1"
    })
}

#[test]
fn a_full_task_from_the_spec_examples_parses_every_field() {
    let t: ArrayTask = serde_json::from_value(spec_task()).unwrap();
    assert_eq!(
        t.id.as_deref(),
        Some("00000000-0000-0000-0000-000000000001")
    );
    assert_eq!(t.status, Some(ArrayTaskStatus::Completed));
    assert_eq!(t.task_type, Some(ArrayTaskType::Sql));
    assert_eq!(t.query_type, Some(QueryType::Read));
    assert_eq!(t.result_format, Some(ResultFormat::Arrow));
    assert_eq!(t.run_time(), Some(Duration::from_secs(341)));
    assert_eq!(
        t.finish_time.unwrap() - t.start_time.unwrap(),
        chrono::Duration::seconds(341)
    );
    assert_eq!(t.memory, Some(1_073_741_824));
    assert_eq!(t.sql_parameters, vec![json!(1), json!("two"), json!(null)]);
    assert_eq!(t.activity[0].action, Some(ActivityEventType::QueryRead));
    let a = t.array_metadata.as_ref().unwrap();
    assert_eq!(a.share_count, Some(10));
    assert_eq!(a.array_type, Some(ArrayType::Sparse));
    assert_eq!(a.file_type, Some(FileType::Notebook));
    assert_eq!(a.allowed_actions[2], ArrayActions::ReadArraySchema);
    assert_eq!(a.pricing[0].currency, Some(PricingCurrency::Usd));
    assert_eq!(a.metadata[0].value_type.as_deref(), Some("string"));
    assert_eq!(t.subarray.as_ref().unwrap().int64, vec![0, 10, 20, 22]);

    // It serializes back to the same document.
    let again = serde_json::to_value(&t).unwrap();
    let reparsed: ArrayTask = serde_json::from_value(again).unwrap();
    assert_eq!(reparsed, t);
}

#[test]
fn a_page_with_an_unknown_status_and_float_totals_parses() {
    let page = json!({
        "array_tasks": [{"id": "a", "status": "PAUSED_FOR_LUNCH", "type": "NEW_KIND"}],
        "pagination_metadata": {"page": 1.0, "per_page": 10.0, "total_pages": 14.0, "total_items": 138.0}
    });
    let data: ArrayTaskData = serde_json::from_value(page).unwrap();
    let t = &data.array_tasks[0];
    assert_eq!(
        t.status,
        Some(ArrayTaskStatus::Other("PAUSED_FOR_LUNCH".into()))
    );
    assert_eq!(t.task_type, Some(ArrayTaskType::Other("NEW_KIND".into())));
    // Unknown values round-trip exactly.
    assert_eq!(
        serde_json::to_value(&t.status).unwrap(),
        json!("PAUSED_FOR_LUNCH")
    );
    let m = data.pagination_metadata.unwrap();
    assert_eq!(
        (m.page, m.per_page, m.total_pages, m.total_items),
        (Some(1), Some(10), Some(14), Some(138))
    );
}

#[test]
fn a_page_without_array_tasks_or_with_null_is_empty() {
    let data: ArrayTaskData = serde_json::from_value(json!({"pagination_metadata": {}})).unwrap();
    assert!(data.array_tasks.is_empty());
    let data: ArrayTaskData = serde_json::from_value(json!({"array_tasks": null})).unwrap();
    assert!(data.array_tasks.is_empty());
    assert!(data.pagination_metadata.is_none());
}

#[test]
fn null_nullable_fields_are_none() {
    let t: ArrayTask = serde_json::from_value(json!({
        "status_message": null, "start_time": null, "finish_time": null, "duration": null,
        "activity": null, "sql_parameters": null,
        "array_metadata": {"size": null, "description": null, "type": null, "read_only": null,
                           "last_accessed": null, "tags": null}
    }))
    .unwrap();
    assert!(t.status_message.is_none() && t.start_time.is_none() && t.finish_time.is_none());
    assert!(t.activity.is_empty() && t.sql_parameters.is_empty());
    let a = t.array_metadata.unwrap();
    assert!(
        a.size.is_none()
            && a.description.is_none()
            && a.array_type.is_none()
            && a.read_only.is_none()
    );
}

#[test]
fn an_empty_object_is_a_task_with_nothing_known() {
    let t: ArrayTask = serde_json::from_str("{}").unwrap();
    assert_eq!(t, ArrayTask::default());
}

#[test]
fn bad_numbers_are_refused_with_a_message() {
    let e = serde_json::from_value::<PaginationMetadata>(json!({"page": -1})).unwrap_err();
    assert!(e.to_string().contains("non-negative"), "{e}");
    let e = serde_json::from_value::<ArrayTask>(json!({"start_time": "yesterday"})).unwrap_err();
    assert!(e.to_string().contains("input"), "{e}");
}

#[test]
fn requests_leave_absent_fields_out() {
    let p = SqlParameters::query("SELECT 1");
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        json!({"query": "SELECT 1"})
    );
    let p = SqlParameters::query("SELECT ?")
        .name("n")
        .store_results(true)
        .dont_download_results(false)
        .result_format(ResultFormat::Json)
        .init_command("PRAGMA x")
        .parameter(1)
        .resource_class("standard");
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        json!({"name": "n", "query": "SELECT ?", "store_results": true, "dont_download_results": false,
               "result_format": "json", "init_commands": ["PRAGMA x"], "parameters": [1],
               "resource_class": "standard"})
    );
}

#[test]
fn every_known_enum_value_round_trips_with_its_spec_spelling() {
    let spelled: Vec<String> = ArrayTaskStatus::KNOWN
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        spelled,
        [
            "QUEUED",
            "FAILED",
            "COMPLETED",
            "RUNNING",
            "RESOURCES_UNAVAILABLE",
            "UNKNOWN",
            "CANCELLED",
            "DENIED"
        ]
    );
    for f in ResultFormat::KNOWN {
        let v = serde_json::to_value(f).unwrap();
        assert_eq!(&serde_json::from_value::<ResultFormat>(v).unwrap(), f);
        if let Some(ct) = f.content_type() {
            assert_eq!(ResultFormat::from_content_type(ct).as_ref(), Some(f));
        }
    }
    assert_eq!(
        ResultFormat::from_content_type("Application/JSON; charset=utf-8"),
        Some(ResultFormat::Json)
    );
}

//! The `/tasks` query contract: what the SDK sends (`TasksQuery::to_pairs`, through real URL
//! encoding, as the transport writes it) is exactly what the server reads back
//! (`TasksQuery::from_pairs`), for every one of the 14 filters, paging and ordering.

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use tiledb_cloud_tasks::model::{ArrayTaskStatus, ArrayTaskType, FileType};
use tiledb_cloud_tasks::{TaskOrder, TasksQuery};

/// Known spellings, and unknown ones that cannot be mistaken for a known one.
fn spelling(known: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(known).prop_map(str::to_owned),
        "X_[A-Z0-9_]{1,10}",
    ]
}

fn task_type() -> impl Strategy<Value = ArrayTaskType> {
    spelling(&[
        "SQL",
        "UDF",
        "QUERY",
        "GENERIC_UDF",
        "BATCH_UDF",
        "CLIENT_COMPUTATION",
    ])
    .prop_map(|s| ArrayTaskType::from(s.as_str()))
}

fn file_type() -> impl Strategy<Value = FileType> {
    spelling(&[
        "notebook",
        "user_defined_function",
        "ml_model",
        "file",
        "registered_task_graph",
    ])
    .prop_map(|s| FileType::from(s.as_str()))
}

fn status() -> impl Strategy<Value = ArrayTaskStatus> {
    spelling(&[
        "FAILED",
        "QUEUED",
        "COMPLETED",
        "RUNNING",
        "RESOURCES_UNAVAILABLE",
        "UNKNOWN",
        "CANCELLED",
        "DENIED",
    ])
    .prop_map(|s| ArrayTaskStatus::from(s.as_str()))
}

fn order() -> impl Strategy<Value = TaskOrder> {
    spelling(&["start_time", "name"]).prop_map(|s| TaskOrder::from(s.as_str()))
}

/// Any text that is not blank: URL metacharacters, spaces, non-ASCII, control characters.
fn text() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,12}[a-zA-Z0-9&=%+#?/\u{e9}\u{1F600}][^\u{0}]{0,12}"
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..=4_102_444_800).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default())
}

/// Applies `f` when `value` is there.
fn maybe<T>(
    q: TasksQuery,
    value: Option<T>,
    f: impl FnOnce(TasksQuery, T) -> TasksQuery,
) -> TasksQuery {
    match value {
        Some(v) => f(q, v),
        None => q,
    }
}

prop_compose! {
    fn query()(
        namespace in proptest::option::of(text()),
        created_by in proptest::option::of(text()),
        array in proptest::option::of(("[a-z0-9_-]{1,8}", "[^\u{0}/]{1,10}")),
        times in (proptest::option::of(time()), proptest::option::of(time())),
        page in proptest::option::of(1u64..),
        per_page in proptest::option::of(1u64..),
        task_type in proptest::option::of(task_type()),
        exclude_types in proptest::collection::vec(task_type(), 0..4),
        file_types in proptest::collection::vec(file_type(), 0..4),
        exclude_file_types in proptest::collection::vec(file_type(), 0..4),
        status in proptest::option::of(status()),
        search in proptest::option::of(text()),
        order_by in proptest::option::of(order()),
    ) -> TasksQuery {
        let (start, end) = match times {
            (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
            other => other,
        };
        let mut q = TasksQuery::new();
        q = maybe(q, namespace, TasksQuery::namespace);
        q = maybe(q, created_by, TasksQuery::created_by);
        q = maybe(q, array.map(|(ns, name)| format!("tiledb://{ns}/{name}")), TasksQuery::array);
        q = maybe(q, start, TasksQuery::start);
        q = maybe(q, end, TasksQuery::end);
        q = maybe(q, page, TasksQuery::page);
        q = maybe(q, per_page, TasksQuery::per_page);
        q = maybe(q, task_type, TasksQuery::task_type);
        q = exclude_types.into_iter().fold(q, TasksQuery::exclude_type);
        q = file_types.into_iter().fold(q, TasksQuery::file_type);
        q = exclude_file_types.into_iter().fold(q, TasksQuery::exclude_file_type);
        q = maybe(q, status, TasksQuery::status);
        q = maybe(q, search, TasksQuery::search);
        maybe(q, order_by, TasksQuery::order_by)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_query_the_sdk_sends_is_read_back_by_the_server_unchanged(q in query()) {
        let pairs = q.to_pairs().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut url = url::Url::parse("http://127.0.0.1/v1/tasks")
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        url.query_pairs_mut().extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
        let raw = url.query().unwrap_or("").to_owned();
        let back = TasksQuery::from_pairs(url::form_urlencoded::parse(raw.as_bytes()))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, q);
    }
}

/// The server reads what the spec allows beyond what the SDK sends: a list parameter also
/// comma-joined or repeated, an empty value as absent, unknown parameters ignored; and refuses a
/// repeated single value or a number that is not one, naming the parameter.
#[test]
fn the_server_reads_lists_both_ways_and_names_a_bad_parameter() {
    let q = TasksQuery::from_pairs([
        ("exclude_type", "SQL,UDF"),
        ("exclude_type", "QUERY"),
        ("namespace", ""),
        ("unknown", "x"),
    ])
    .expect("a valid query");
    let expected = TasksQuery::new()
        .exclude_type(ArrayTaskType::Sql)
        .exclude_type(ArrayTaskType::Udf)
        .exclude_type(ArrayTaskType::Query);
    assert_eq!(q, expected);
    let e = TasksQuery::from_pairs([("orderby", "a"), ("orderby", "b")]).expect_err("repeated");
    assert_eq!((e.parameter, e.wire_name()), ("order_by", "orderby"));
}

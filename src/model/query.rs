//! The query of `GET /v1/tasks`, typed: one value that the SDK serializes ([`TasksQuery::to_pairs`])
//! and the local server parses ([`TasksQuery::from_pairs`]), so the two can never disagree about
//! a parameter's name, spelling or encoding.
//!
//! The wire form follows the spec: `exclude_type` is one comma-joined parameter (Swagger 2's
//! default `csv`), `file_type` and `exclude_file_type` are repeated keys (`multi`), `start` and
//! `end` are Unix seconds, `page` is 1-based.

use std::fmt;

use chrono::{DateTime, Utc};

use super::enums::{ArrayTaskStatus, ArrayTaskType, FileType};

/// How `GET /v1/tasks` orders its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskOrder {
    /// By start time (`start_time`).
    StartTime,
    /// By name (`name`).
    Name,
    /// Another value the service understands, sent verbatim.
    Other(String),
}

impl TaskOrder {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            TaskOrder::StartTime => "start_time",
            TaskOrder::Name => "name",
            TaskOrder::Other(s) => s,
        }
    }
}

impl From<&str> for TaskOrder {
    fn from(s: &str) -> Self {
        match s {
            "start_time" => TaskOrder::StartTime,
            "name" => TaskOrder::Name,
            other => TaskOrder::Other(other.to_owned()),
        }
    }
}

/// The filters of `GET /v1/tasks`, typed. Every one is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TasksQuery {
    pub(crate) namespace: Option<String>,
    pub(crate) created_by: Option<String>,
    pub(crate) array: Option<String>,
    pub(crate) start: Option<DateTime<Utc>>,
    pub(crate) end: Option<DateTime<Utc>>,
    pub(crate) page: Option<u64>,
    pub(crate) per_page: Option<u64>,
    pub(crate) task_type: Option<ArrayTaskType>,
    pub(crate) exclude_types: Vec<ArrayTaskType>,
    pub(crate) file_types: Vec<FileType>,
    pub(crate) exclude_file_types: Vec<FileType>,
    pub(crate) status: Option<ArrayTaskStatus>,
    pub(crate) search: Option<String>,
    pub(crate) order_by: Option<TaskOrder>,
}

/// A `/tasks` parameter that cannot be sent (SDK side) or was not understood (server side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidQuery {
    /// The parameter, as the SDK's setter names it (`order_by`, `per_page`, ...).
    pub parameter: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl InvalidQuery {
    /// The parameter's name on the wire (`orderby`, `type`, ...).
    pub fn wire_name(&self) -> &'static str {
        match self.parameter {
            "task_type" => "type",
            "order_by" => "orderby",
            other => other,
        }
    }
}

impl fmt::Display for InvalidQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "parameter {}: {}", self.parameter, self.reason)
    }
}

impl std::error::Error for InvalidQuery {}

fn invalid(parameter: &'static str, reason: impl Into<String>) -> InvalidQuery {
    InvalidQuery {
        parameter,
        reason: reason.into(),
    }
}

/// Calls `$m!` with every filter setter of [`TasksQuery`], so that `TaskList` (in `list.rs`) can
/// offer the very same setters without listing them a second time.
macro_rules! for_each_filter {
    ($m:ident) => {
        $m! {
            /// Only tasks in this namespace.
            namespace(namespace: impl Into<String>) |q| q.namespace = Some(namespace.into());
            /// Only tasks run by this user.
            created_by(user: impl Into<String>) |q| q.created_by = Some(user.into());
            /// Only tasks on this array, as a `tiledb://namespace/name` URI (checked before sending).
            array(uri: impl Into<String>) |q| q.array = Some(uri.into());
            /// Only tasks started at or after this time (sent as Unix seconds).
            start(time: DateTime<Utc>) |q| q.start = Some(time);
            /// Only tasks started at or before this time (sent as Unix seconds).
            end(time: DateTime<Utc>) |q| q.end = Some(time);
            /// The page to start from (1-based).
            page(page: u64) |q| q.page = Some(page);
            /// Tasks per page (at least 1).
            per_page(n: u64) |q| q.per_page = Some(n);
            /// Only tasks of this type.
            task_type(t: ArrayTaskType) |q| q.task_type = Some(t);
            /// Leaves out tasks of this type (may be given several times).
            exclude_type(t: ArrayTaskType) |q| q.exclude_types.push(t);
            /// Only tasks whose array has this file type (may be given several times).
            file_type(t: FileType) |q| q.file_types.push(t);
            /// Leaves out tasks whose array has this file type (may be given several times).
            exclude_file_type(t: FileType) |q| q.exclude_file_types.push(t);
            /// Only tasks in this status (any value, including ones this crate does not know).
            status(status: ArrayTaskStatus) |q| q.status = Some(status);
            /// Free-text search over name, namespace and description.
            search(text: impl Into<String>) |q| q.search = Some(text.into());
            /// The order of the answer.
            order_by(order: TaskOrder) |q| q.order_by = Some(order);
        }
    };
}
pub(crate) use for_each_filter;

macro_rules! query_setters {
    ($($(#[$m:meta])* $name:ident ( $arg:ident : $ty:ty ) |$q:ident| $body:expr;)+) => {
        impl TasksQuery {
            $($(#[$m])* pub fn $name(mut self, $arg: $ty) -> Self { let $q = &mut self; $body; self })+
        }
    };
}
for_each_filter!(query_setters);

/// The single-valued parameters, by wire name.
const SINGLE_VALUED: &[&str] = &[
    "namespace",
    "created_by",
    "array",
    "start",
    "end",
    "page",
    "per_page",
    "type",
    "status",
    "search",
    "orderby",
];

impl TasksQuery {
    /// A query with no filter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The page asked for, if any.
    pub fn get_page(&self) -> Option<u64> {
        self.page
    }

    /// The page size asked for, if any.
    pub fn get_per_page(&self) -> Option<u64> {
        self.per_page
    }

    /// The order asked for, if any.
    pub fn get_order_by(&self) -> Option<&TaskOrder> {
        self.order_by.as_ref()
    }

    /// The query string, exactly as the spec serializes it: `exclude_type` comma-joined, `file_type`
    /// and `exclude_file_type` as repeated keys, times as Unix seconds. Checks every argument first.
    #[doc(hidden)]
    pub fn to_pairs(&self) -> Result<Vec<(&'static str, String)>, InvalidQuery> {
        let mut q: Vec<(&'static str, String)> = Vec::new();
        if let Some(ns) = &self.namespace {
            non_empty("namespace", ns)?;
            q.push(("namespace", ns.clone()));
        }
        if let Some(u) = &self.created_by {
            non_empty("created_by", u)?;
            q.push(("created_by", u.clone()));
        }
        if let Some(a) = &self.array {
            check_array_uri(a)?;
            q.push(("array", a.clone()));
        }
        if let Some(t) = self.start {
            q.push(("start", unix_seconds("start", t)?.to_string()));
        }
        if let Some(t) = self.end {
            q.push(("end", unix_seconds("end", t)?.to_string()));
        }
        if let (Some(s), Some(e)) = (self.start, self.end)
            && s > e
        {
            return Err(invalid("start", "is after end"));
        }
        if let Some(p) = self.page {
            if p == 0 {
                return Err(invalid("page", "pages are numbered from 1"));
            }
            q.push(("page", p.to_string()));
        }
        if let Some(n) = self.per_page {
            if n == 0 {
                return Err(invalid("per_page", "must be at least 1"));
            }
            q.push(("per_page", n.to_string()));
        }
        if let Some(t) = &self.task_type {
            non_empty("task_type", t.as_str())?;
            q.push(("type", t.to_string()));
        }
        if !self.exclude_types.is_empty() {
            for t in &self.exclude_types {
                if t.as_str().trim().is_empty() || t.as_str().contains(',') {
                    return Err(invalid(
                        "exclude_type",
                        "a type is empty or has a comma (the list is comma-joined)",
                    ));
                }
            }
            let joined: Vec<&str> = self.exclude_types.iter().map(|t| t.as_str()).collect();
            q.push(("exclude_type", joined.join(",")));
        }
        for t in &self.file_types {
            non_empty("file_type", t.as_str())?;
            q.push(("file_type", t.to_string()));
        }
        for t in &self.exclude_file_types {
            non_empty("exclude_file_type", t.as_str())?;
            q.push(("exclude_file_type", t.to_string()));
        }
        if let Some(s) = &self.status {
            non_empty("status", s.as_str())?;
            q.push(("status", s.to_string()));
        }
        if let Some(s) = &self.search {
            non_empty("search", s)?;
            q.push(("search", s.clone()));
        }
        if let Some(o) = &self.order_by {
            non_empty("order_by", o.as_str())?;
            q.push(("orderby", o.as_str().to_owned()));
        }
        Ok(q)
    }

    /// The query a `/tasks` request carries, read back from its (decoded) pairs: the inverse of
    /// [`to_pairs`](Self::to_pairs). As the service reads it: an empty value counts as absent,
    /// `exclude_type` may also be repeated and list types may also be comma-joined, unknown
    /// parameters are ignored, values are taken verbatim (numbers may be padded); a single-valued parameter given twice, or a number that is not
    /// one, is an error naming the parameter. No value is range-checked here (`page=0` reads as
    /// page 0): what to make of one is the reader's choice.
    #[doc(hidden)]
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, InvalidQuery>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut q = TasksQuery::default();
        let mut seen: Vec<&'static str> = Vec::new();
        for (key, value) in pairs {
            let value = value.as_ref();
            match key.as_ref() {
                "exclude_type" => q
                    .exclude_types
                    .extend(split_list(value).map(ArrayTaskType::from)),
                "file_type" => q.file_types.extend(split_list(value).map(FileType::from)),
                "exclude_file_type" => q
                    .exclude_file_types
                    .extend(split_list(value).map(FileType::from)),
                other => {
                    let Some(name) = SINGLE_VALUED.iter().copied().find(|n| *n == other) else {
                        continue;
                    };
                    if value.trim().is_empty() {
                        continue;
                    }
                    if seen.contains(&name) {
                        return Err(invalid(setter_name(name), "is given more than once"));
                    }
                    seen.push(name);
                    q.set_wire(name, value)?;
                }
            }
        }
        Ok(q)
    }

    fn set_wire(&mut self, name: &'static str, value: &str) -> Result<(), InvalidQuery> {
        let number = |n: &'static str| {
            value.trim().parse::<u64>().map_err(|_| {
                invalid(
                    setter_name(n),
                    format!("must be a non-negative integer, got {:?}", shorten(value)),
                )
            })
        };
        match name {
            "namespace" => self.namespace = Some(value.to_owned()),
            "created_by" => self.created_by = Some(value.to_owned()),
            "array" => self.array = Some(value.to_owned()),
            "start" => self.start = Some(from_unix_seconds(number(name)?)),
            "end" => self.end = Some(from_unix_seconds(number(name)?)),
            "page" => self.page = Some(number(name)?),
            "per_page" => self.per_page = Some(number(name)?),
            "type" => self.task_type = Some(ArrayTaskType::from(value)),
            "status" => self.status = Some(ArrayTaskStatus::from(value)),
            "search" => self.search = Some(value.to_owned()),
            "orderby" => self.order_by = Some(TaskOrder::from(value)),
            _ => {}
        }
        Ok(())
    }
}

/// The SDK's name for a wire parameter (they differ for `type` and `orderby`).
fn setter_name(wire: &'static str) -> &'static str {
    match wire {
        "type" => "task_type",
        "orderby" => "order_by",
        other => other,
    }
}

fn split_list(value: &str) -> impl Iterator<Item = &str> + '_ {
    value.split(',').map(str::trim).filter(|v| !v.is_empty())
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(40).collect();
        out.push('…');
        out
    }
}

fn non_empty(parameter: &'static str, v: &str) -> Result<(), InvalidQuery> {
    if v.trim().is_empty() {
        Err(invalid(parameter, "is empty"))
    } else {
        Ok(())
    }
}

fn unix_seconds(parameter: &'static str, t: DateTime<Utc>) -> Result<u64, InvalidQuery> {
    u64::try_from(t.timestamp())
        .map_err(|_| invalid(parameter, format!("{t} is before the Unix epoch")))
}

/// Seconds past the epoch; a value past chrono's range reads as its last instant.
fn from_unix_seconds(secs: u64) -> DateTime<Utc> {
    i64::try_from(secs)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `tiledb://namespace/name`, both parts non-empty (the service answers error 24 otherwise).
fn check_array_uri(uri: &str) -> Result<(), InvalidQuery> {
    let bad = || {
        invalid(
            "array",
            format!("{uri:?} is not a tiledb://namespace/name URI"),
        )
    };
    let rest = uri.strip_prefix("tiledb://").ok_or_else(bad)?;
    match rest.split_once('/') {
        Some((ns, name))
            if !ns.is_empty() && !name.is_empty() && !ns.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_uris_must_be_tiledb_namespace_name() {
        assert!(check_array_uri("tiledb://ns/arr").is_ok());
        for bad in [
            "arr",
            "s3://b/a",
            "tiledb://ns",
            "tiledb:///arr",
            "tiledb://ns/",
        ] {
            assert!(check_array_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn from_pairs_reads_lists_both_ways_and_refuses_repeats_and_bad_numbers() {
        let q = TasksQuery::from_pairs([
            ("exclude_type", "SQL,UDF"),
            ("exclude_type", "QUERY"),
            ("file_type", "notebook"),
            ("file_type", "ml_model"),
            ("exclude_file_type", "file"),
            ("namespace", ""),
            ("unknown", "x"),
        ])
        .unwrap();
        assert_eq!(
            q.exclude_types,
            vec![ArrayTaskType::Sql, ArrayTaskType::Udf, ArrayTaskType::Query]
        );
        assert_eq!(q.file_types, vec![FileType::Notebook, FileType::MlModel]);
        assert_eq!(q.exclude_file_types, vec![FileType::File]);
        assert_eq!(q.namespace, None);
        for (pairs, name) in [
            (vec![("page", "1"), ("page", "2")], "page"),
            (vec![("start", "yesterday")], "start"),
            (vec![("end", "-1")], "end"),
            (vec![("orderby", "a"), ("orderby", "b")], "order_by"),
        ] {
            let e = TasksQuery::from_pairs(pairs).unwrap_err();
            assert_eq!(e.parameter, name);
        }
        let q = TasksQuery::from_pairs([("page", "0"), ("per_page", "100000")]).unwrap();
        assert_eq!((q.page, q.per_page), (Some(0), Some(100_000)));
    }
}

//! What a listing selects and how it is sorted: the typed `/tasks` query (`model::TasksQuery`,
//! the very value the SDK serializes) matched against the tasks in memory.

use std::cmp::Ordering as CmpOrdering;

use super::TaskEntry;
use crate::model::TasksQuery;

/// How a listing is sorted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Order {
    /// Newest `start_time` first.
    #[default]
    StartTimeDesc,
    /// By name, ascending; unnamed tasks last; then newest first.
    Name,
}

/// What a listing selects: the typed `/tasks` query, within the namespaces the caller may see.
#[derive(Debug)]
pub(crate) struct ListFilter<'a> {
    /// The namespaces the caller may see; nothing else is ever listed.
    visible: &'a [String],
    query: &'a TasksQuery,
    /// The search text, lower-cased once.
    search: Option<String>,
    order: Order,
}

impl<'a> ListFilter<'a> {
    pub(crate) fn new(visible: &'a [String], query: &'a TasksQuery, order: Order) -> Self {
        ListFilter {
            visible,
            query,
            search: query.search.as_ref().map(|s| s.to_lowercase()),
            order,
        }
    }

    pub(super) fn order(&self) -> Order {
        self.order
    }

    pub(super) fn matches(&self, e: &TaskEntry) -> bool {
        let (t, q) = (&e.task, self.query);
        let namespace = t.namespace.as_deref().unwrap_or("");
        if !self.visible.iter().any(|v| v == namespace) {
            return false;
        }
        if q.namespace.as_deref().is_some_and(|n| n != namespace) {
            return false;
        }
        if q.created_by.is_some() && t.username != q.created_by {
            return false;
        }
        let array = t.array_metadata.as_ref();
        if let Some(wanted) = &q.array {
            // SQL tasks touch no array, so they never match an array filter.
            let uri = array.and_then(|a| a.tiledb_uri.as_deref());
            if uri != Some(wanted.as_str()) {
                return false;
            }
        }
        let file_type = array.and_then(|a| a.file_type.as_ref());
        if !q.file_types.is_empty() && !file_type.is_some_and(|f| q.file_types.contains(f)) {
            return false;
        }
        if file_type.is_some_and(|f| q.exclude_file_types.contains(f)) {
            return false;
        }
        // Inclusive bounds, in whole seconds (what the wire carries).
        let started = t.start_time.unwrap_or(e.created_at).timestamp();
        if q.start.is_some_and(|s| started < s.timestamp())
            || q.end.is_some_and(|end| started > end.timestamp())
        {
            return false;
        }
        if q.task_type.is_some() && t.task_type != q.task_type {
            return false;
        }
        if t.task_type
            .as_ref()
            .is_some_and(|k| q.exclude_types.contains(k))
        {
            return false;
        }
        if q.status.is_some() && t.status != q.status {
            return false;
        }
        if let Some(needle) = &self.search {
            let hit = [
                t.name.as_deref(),
                t.namespace.as_deref(),
                t.sql_query.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|field| field.to_lowercase().contains(needle.as_str()));
            if !hit {
                return false;
            }
        }
        true
    }
}

pub(super) fn compare(order: Order, a: &TaskEntry, b: &TaskEntry) -> CmpOrdering {
    let newest_first = || {
        let ta = a.task.start_time.unwrap_or(a.created_at);
        let tb = b.task.start_time.unwrap_or(b.created_at);
        tb.cmp(&ta).then(b.seq.cmp(&a.seq))
    };
    match order {
        Order::StartTimeDesc => newest_first(),
        Order::Name => match (a.task.name.as_deref(), b.task.name.as_deref()) {
            (Some(x), Some(y)) => x.cmp(y).then_with(newest_first),
            (Some(_), None) => CmpOrdering::Less,
            (None, Some(_)) => CmpOrdering::Greater,
            (None, None) => newest_first(),
        },
    }
}

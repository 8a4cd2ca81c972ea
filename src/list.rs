//! Listing tasks: the [`TasksQuery`] filters of `GET /v1/tasks`, and [`TaskList`], which turns the
//! pages into one `futures::Stream` of tasks.
//!
//! # What a stream sees while tasks change
//!
//! Pages are fetched one after another (and ahead, with [prefetch](TaskList::prefetch)), while
//! the service keeps creating and expiring tasks. So that the listing stays consistent:
//!
//! - When no `end` is given, `end` is pinned to the moment the stream is created: tasks started
//!   after that are not listed, and cannot push earlier ones onto later pages.
//! - Task ids are deduplicated within one stream (over a window of the most recent 10,000 ids, so
//!   memory stays bounded): a task that drifts onto the next page is not yielded twice.
//! - A task removed mid-stream shifts later ones back by one: a task near a page boundary can then
//!   be missed. Re-run the listing with `end` pinned to catch it.
//! - Termination follows the newest answer: the stream ends after the page at or past
//!   `total_pages`, or at an empty page (or a missing `array_tasks`).
//! - A page that brings only tasks already seen (a server repeating itself), or reaching the page
//!   cap, ends the stream with [`Error::Listing`], never silently: the error names the page to
//!   resume from.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use tracing::Instrument as _;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::model::{ArrayTask, ArrayTaskData, ArrayTaskStatus, ArrayTaskType, FileType};

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
    fn as_str(&self) -> &str {
        match self {
            TaskOrder::StartTime => "start_time",
            TaskOrder::Name => "name",
            TaskOrder::Other(s) => s,
        }
    }
}

/// The filters of `GET /v1/tasks`, typed. Every one is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TasksQuery {
    namespace: Option<String>,
    created_by: Option<String>,
    array: Option<String>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    page: Option<u64>,
    per_page: Option<u64>,
    task_type: Option<ArrayTaskType>,
    exclude_types: Vec<ArrayTaskType>,
    file_types: Vec<FileType>,
    exclude_file_types: Vec<FileType>,
    status: Option<ArrayTaskStatus>,
    search: Option<String>,
    order_by: Option<TaskOrder>,
}

macro_rules! query_setters {
    ($($(#[$m:meta])* $name:ident ( $arg:ident : $ty:ty ) |$q:ident| $body:expr;)+) => {
        impl TasksQuery {
            $($(#[$m])* pub fn $name(mut self, $arg: $ty) -> Self { let $q = &mut self; $body; self })+
        }
        impl TaskList {
            $($(#[$m])* pub fn $name(mut self, $arg: $ty) -> Self { self.query = self.query.$name($arg); self })+
        }
    };
}

query_setters! {
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

impl TasksQuery {
    /// A query with no filter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The query string, exactly as the spec serializes it: `exclude_type` comma-joined, `file_type`
    /// and `exclude_file_type` as repeated keys, times as Unix seconds. Checks every argument first.
    pub fn to_pairs(&self) -> Result<Vec<(&'static str, String)>> {
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
            return Err(Error::invalid("start", "is after end"));
        }
        if let Some(p) = self.page {
            if p == 0 {
                return Err(Error::invalid("page", "pages are numbered from 1"));
            }
            q.push(("page", p.to_string()));
        }
        if let Some(n) = self.per_page {
            if n == 0 {
                return Err(Error::invalid("per_page", "must be at least 1"));
            }
            q.push(("per_page", n.to_string()));
        }
        if let Some(t) = &self.task_type {
            q.push(("type", t.to_string()));
        }
        if !self.exclude_types.is_empty() {
            let joined: Vec<&str> = self.exclude_types.iter().map(|t| t.as_str()).collect();
            q.push(("exclude_type", joined.join(",")));
        }
        for t in &self.file_types {
            q.push(("file_type", t.to_string()));
        }
        for t in &self.exclude_file_types {
            q.push(("exclude_file_type", t.to_string()));
        }
        if let Some(s) = &self.status {
            non_empty("status", s.as_str())?;
            q.push(("status", s.to_string()));
        }
        if let Some(s) = &self.search {
            q.push(("search", s.clone()));
        }
        if let Some(o) = &self.order_by {
            non_empty("order_by", o.as_str())?;
            q.push(("orderby", o.as_str().to_owned()));
        }
        Ok(q)
    }
}

fn non_empty(argument: &'static str, v: &str) -> Result<()> {
    if v.trim().is_empty() {
        Err(Error::invalid(argument, "is empty"))
    } else {
        Ok(())
    }
}

fn unix_seconds(argument: &'static str, t: DateTime<Utc>) -> Result<u64> {
    u64::try_from(t.timestamp())
        .map_err(|_| Error::invalid(argument, format!("{t} is before the Unix epoch")))
}

/// `tiledb://namespace/name`, both parts non-empty (the service answers error 24 otherwise).
fn check_array_uri(uri: &str) -> Result<()> {
    let rest = uri.strip_prefix("tiledb://").ok_or_else(|| {
        Error::invalid(
            "array",
            format!("{uri:?} is not a tiledb://namespace/name URI"),
        )
    })?;
    match rest.split_once('/') {
        Some((ns, name))
            if !ns.is_empty() && !name.is_empty() && !ns.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(Error::invalid(
            "array",
            format!("{uri:?} is not a tiledb://namespace/name URI"),
        )),
    }
}

/// The default number of pages fetched ahead.
pub const DEFAULT_PREFETCH: usize = 1;
/// The default page cap: a safety net against a service that never says it is done.
pub const DEFAULT_MAX_PAGES: u64 = 100_000;
/// How many recent task ids a stream remembers to drop duplicates.
pub const DEDUP_WINDOW: usize = 10_000;

/// Every task matching a query, as a stream. Get one from [`Client::tasks`], refine it with the
/// filter methods (the same as [`TasksQuery`]'s), then call [`stream`](TaskList::stream),
/// [`pages`](TaskList::pages) or [`first_page`](TaskList::first_page).
///
/// ```no_run
/// # async fn demo(client: tiledb_cloud_tasks::Client) -> tiledb_cloud_tasks::Result<()> {
/// use futures::TryStreamExt as _;
/// use tiledb_cloud_tasks::model::ArrayTaskStatus;
///
/// let mut tasks = client.tasks().namespace("ns").status(ArrayTaskStatus::Failed).per_page(100).stream();
/// while let Some(task) = tasks.try_next().await? {
///     println!("{:?} {:?}", task.id, task.status_message);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a TaskList does nothing until streamed"]
pub struct TaskList {
    client: Client,
    query: TasksQuery,
    prefetch: usize,
    max_pages: u64,
}

impl TaskList {
    pub(crate) fn new(client: Client) -> Self {
        TaskList {
            client,
            query: TasksQuery::default(),
            prefetch: DEFAULT_PREFETCH,
            max_pages: DEFAULT_MAX_PAGES,
        }
    }

    /// Replaces the filters with `query`.
    pub fn query(mut self, query: TasksQuery) -> Self {
        self.query = query;
        self
    }

    /// How many pages to fetch ahead while the consumer works on the current one: 0 fetches each
    /// page only when it is needed. Default 1. Memory holds at most this many pages beyond the
    /// current one.
    pub fn prefetch(mut self, depth: usize) -> Self {
        self.prefetch = depth;
        self
    }

    /// The most pages one stream fetches; reaching it ends the stream with [`Error::Listing`].
    pub fn max_pages(mut self, pages: u64) -> Self {
        self.max_pages = pages.max(1);
        self
    }

    /// The first page only (one request).
    pub async fn first_page(&self) -> Result<ArrayTaskData> {
        self.client.api().tasks_get(&self.query).await
    }

    /// Every task, page after page. Each item is a task or, last, the error that ended the listing.
    pub fn stream(self) -> BoxStream<'static, Result<ArrayTask>> {
        self.pages()
            .map_ok(|page| futures::stream::iter(page.array_tasks.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    /// Every page, with its pagination metadata; tasks already yielded by this stream are removed
    /// from later pages.
    pub fn pages(self) -> BoxStream<'static, Result<ArrayTaskData>> {
        let TaskList {
            client,
            mut query,
            prefetch,
            max_pages,
        } = self;
        if query.end.is_none() {
            query.end = Some(Utc::now());
        }
        async_stream::stream! {
            // Check the arguments once, before any request.
            if let Err(e) = query.to_pairs() {
                yield Err(e);
                return;
            }
            let first = query.page.unwrap_or(1);
            let last_allowed = first.saturating_add(max_pages - 1);
            let mut seen = SeenIds::default();
            let mut fetcher = Fetcher::new(client, query, prefetch);
            let mut total_pages: Option<u64> = None;
            let mut page_no = first;
            loop {
                if page_no > last_allowed {
                    yield Err(listing_error(page_no, Error::Protocol(format!(
                        "stopped after {max_pages} pages (the page cap); the service may not be paginating"
                    ))));
                    return;
                }
                let data = match fetcher.next(page_no).await {
                    Ok(d) => d,
                    Err(e) => {
                        yield Err(listing_error(page_no, e));
                        return;
                    }
                };
                let meta = data.pagination_metadata;
                if let Some(t) = meta.and_then(|m| m.total_pages) {
                    total_pages = Some(t);
                }
                // Start on the following pages before handing this one over.
                fetcher.request_up_to(page_no, total_pages.map(|t| t.min(last_allowed)));
                if data.array_tasks.is_empty() {
                    return;
                }
                let got = data.array_tasks.len();
                let fresh: Vec<ArrayTask> =
                    data.array_tasks.into_iter().filter(|t| seen.insert(t.id.as_deref())).collect();
                if fresh.is_empty() {
                    yield Err(listing_error(page_no, Error::Protocol(format!(
                        "page {page_no} repeated {got} tasks already listed; the service is not paginating"
                    ))));
                    return;
                }
                // Without metadata, go on until an empty page.
                let done = total_pages.is_some_and(|t| page_no >= t);
                yield Ok(ArrayTaskData { array_tasks: fresh, pagination_metadata: meta });
                if done {
                    return;
                }
                page_no += 1;
            }
        }
        .boxed()
    }
}

fn listing_error(resume_page: u64, source: Error) -> Error {
    match source {
        e @ Error::InvalidArgument { .. } => e,
        source => Error::Listing {
            resume_page,
            source: Box::new(source),
        },
    }
}

/// Recent task ids, bounded.
#[derive(Default)]
struct SeenIds {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl SeenIds {
    /// Whether the id is new (tasks without an id always are).
    fn insert(&mut self, id: Option<&str>) -> bool {
        let Some(id) = id else { return true };
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() >= DEDUP_WINDOW
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.set.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }
}

/// Fetches pages, up to `depth` ahead, each in its own task so they progress while the consumer
/// works. Outstanding fetches are aborted when the stream is dropped.
struct Fetcher {
    client: Client,
    query: TasksQuery,
    depth: usize,
    next_to_request: u64,
    in_flight: VecDeque<(u64, tokio::task::JoinHandle<Result<ArrayTaskData>>)>,
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        for (_, h) in &self.in_flight {
            h.abort();
        }
    }
}

impl Fetcher {
    fn new(client: Client, query: TasksQuery, depth: usize) -> Self {
        let first = query.page.unwrap_or(1);
        Fetcher {
            client,
            query,
            depth,
            next_to_request: first,
            in_flight: VecDeque::new(),
        }
    }

    /// Starts fetches for pages after `current`, up to the depth and the last known page.
    fn request_up_to(&mut self, current: u64, last_known: Option<u64>) {
        let Some(last) = last_known else { return };
        while self.depth > 0
            && self.next_to_request <= last
            && self.next_to_request <= current + self.depth as u64
        {
            if self.next_to_request > current {
                let page = self.next_to_request;
                let handle = tokio::spawn(fetch(self.client.clone(), self.query.clone(), page));
                self.in_flight.push_back((page, handle));
            }
            self.next_to_request += 1;
        }
    }

    /// Page `page`: from a prefetch in flight, or fetched now.
    async fn next(&mut self, page: u64) -> Result<ArrayTaskData> {
        // Fetches for pages before `page` cannot be outstanding; drop any stale ones defensively.
        while self.in_flight.front().is_some_and(|(p, _)| *p < page) {
            if let Some((_, h)) = self.in_flight.pop_front() {
                h.abort();
            }
        }
        if self.in_flight.front().is_some_and(|(p, _)| *p == page)
            && let Some((_, handle)) = self.in_flight.pop_front()
        {
            return match handle.await {
                Ok(r) => r,
                Err(e) => Err(Error::Protocol(format!("page fetch task failed: {e}"))),
            };
        }
        self.next_to_request = self.next_to_request.max(page + 1);
        fetch(self.client.clone(), self.query.clone(), page).await
    }
}

async fn fetch(client: Client, mut query: TasksQuery, page: u64) -> Result<ArrayTaskData> {
    query.page = Some(page);
    let span = tracing::info_span!(
        "tasks_page",
        page,
        per_page = query.per_page,
        items = tracing::field::Empty,
        total_pages = tracing::field::Empty,
    );
    async move {
        let data = client.api().tasks_get(&query).await?;
        let span = tracing::Span::current();
        span.record("items", data.array_tasks.len());
        if let Some(t) = data.pagination_metadata.and_then(|m| m.total_pages) {
            span.record("total_pages", t);
        }
        Ok(data)
    }
    .instrument(span)
    .await
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
    fn dedup_window_is_bounded() {
        let mut s = SeenIds::default();
        for i in 0..(DEDUP_WINDOW + 50) {
            assert!(s.insert(Some(&i.to_string())));
        }
        assert_eq!(s.set.len(), DEDUP_WINDOW);
        assert!(!s.insert(Some(&(DEDUP_WINDOW + 49).to_string())));
        assert!(s.insert(Some("0")), "the oldest ids leave the window");
        assert!(s.insert(None) && s.insert(None));
    }
}

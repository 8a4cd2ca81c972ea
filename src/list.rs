//! Listing tasks: the [`TasksQuery`] filters of `GET /v1/tasks`, and [`TaskList`], which turns the
//! pages into one `futures::Stream` of tasks.
//!
//! # When the stream ends
//!
//! Termination follows the newest answer only: the stream ends after a page whose number is at or
//! past the `total_pages` that same answer gives, or at an empty page (an `array_tasks` key that is
//! missing, `null` or `[]`). An answer without `total_pages` says nothing about the end, so the
//! stream goes on to the next page. A `total_pages` that grows or shrinks mid-stream is followed.
//! Two safety nets stop a service that never says it is done, each with [`Error::Listing`] (never
//! silently): a page that brings only tasks this stream has already yielded (a service repeating
//! itself), and the page cap ([`TaskList::max_pages`]).
//!
//! # What a stream sees while tasks change
//!
//! Pages are fetched one after another (and ahead, with [prefetch](TaskList::prefetch)), while
//! the service keeps creating and expiring tasks. So that the listing stays consistent:
//!
//! - When no `end` is given, `end` is pinned to the moment the stream is created (to the second, as
//!   the wire carries it): tasks started after that are not listed, and cannot push earlier ones
//!   onto later pages. A stream made now and polled in an hour still lists as of now.
//! - Task ids are deduplicated within one stream (over a window of the most recent
//!   [`DEDUP_WINDOW`] ids, so memory stays bounded): a task that drifts onto the next page, because
//!   one was added before it, is not yielded twice. Tasks without an id are never deduplicated.
//! - A task removed (or expired) mid-stream shifts later ones back by one: a task near a page
//!   boundary can then be missed, and the stream cannot tell. Re-run the listing with the same
//!   pinned `end` to catch it.
//! - When no `start` is given the service applies its own default window, which moves with its
//!   clock: on a long stream the oldest tasks can age out of the window as it runs, with the same
//!   effect as a removal. Give `start` to pin both ends.
//! - The filters (status included) are evaluated by the service per page: a task whose status
//!   changes mid-stream may be listed under its old status, or missed.
//!
//! # Errors
//!
//! An argument that cannot be sent (`page` or `per_page` 0, an array that is not a
//! `tiledb://namespace/name` URI, `start` after `end`, a time before 1970) is the stream's first
//! and only item, as [`Error::InvalidArgument`], and nothing is sent. Anything else that stops the
//! listing, once the client's retry policy is spent, is the stream's last item, as
//! [`Error::Listing`]: its `resume_page` is the first page whose tasks were not all yielded, so
//! `.page(resume_page)` on the same query lists the rest.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use tracing::Instrument as _;

use crate::api::TasksApi;
use crate::error::{Error, Result};
use crate::model::{
    ArrayTask, ArrayTaskData, ArrayTaskStatus, ArrayTaskType, FileType, TaskOrder, TasksQuery,
    for_each_filter,
};

macro_rules! list_setters {
    ($($(#[$m:meta])* $name:ident ( $arg:ident : $ty:ty ) |$q:ident| $body:expr;)+) => {
        impl TaskList {
            $($(#[$m])* pub fn $name(mut self, $arg: $ty) -> Self { self.query = self.query.$name($arg); self })+
        }
    };
}
for_each_filter!(list_setters);

/// The default number of pages fetched ahead.
pub const DEFAULT_PREFETCH: usize = 1;
/// The deepest prefetch allowed; [`TaskList::prefetch`] clamps to it, so that a careless depth
/// cannot open thousands of requests or hold thousands of pages.
pub const MAX_PREFETCH: usize = 64;
/// The default page cap: a safety net against a service that never says it is done.
pub const DEFAULT_MAX_PAGES: u64 = 100_000;
/// How many recent task ids a stream remembers to drop duplicates.
pub const DEDUP_WINDOW: usize = 10_000;

/// Every task matching a query, as a stream. Get one from [`Client::tasks`], refine it with the
/// filter methods (the same as [`TasksQuery`]'s), then call [`stream`](TaskList::stream),
/// [`pages`](TaskList::pages) or [`first_page`](TaskList::first_page).
///
/// The streams are `Send + 'static` and must be polled inside a Tokio runtime (prefetched pages
/// are fetched on spawned tasks). Dropping a stream aborts the fetches it still has in flight.
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
    api: TasksApi,
    query: TasksQuery,
    prefetch: usize,
    max_pages: u64,
}

impl TaskList {
    pub(crate) fn new(api: TasksApi) -> Self {
        TaskList {
            api,
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
    /// page only when it is needed, one request at a time. Default [`DEFAULT_PREFETCH`], at most
    /// [`MAX_PREFETCH`]. At most this many requests are in flight at once, and memory holds at
    /// most this many pages beyond the current one. Pages are yielded in order whatever the depth.
    ///
    /// Pages are fetched ahead only once an answer has given `total_pages` (never past it).
    pub fn prefetch(mut self, depth: usize) -> Self {
        self.prefetch = depth.min(MAX_PREFETCH);
        self
    }

    /// The most pages one stream fetches (at least 1). Default [`DEFAULT_MAX_PAGES`]. A stream
    /// that would go past it ends with [`Error::Listing`], resuming at the first page not fetched.
    pub fn max_pages(mut self, pages: u64) -> Self {
        self.max_pages = pages.max(1);
        self
    }

    /// The first page only (one request), with its pagination metadata, exactly as the service
    /// answered it: no `end` is pinned and nothing is deduplicated.
    pub async fn first_page(&self) -> Result<ArrayTaskData> {
        self.api.tasks_get(&self.query).await
    }

    /// Every task, page after page. Each item is a task or, last, the error that ended the
    /// listing (see the [module docs](self) for when it ends and what drift does).
    pub fn stream(self) -> BoxStream<'static, Result<ArrayTask>> {
        self.pages()
            .map_ok(|page| futures::stream::iter(page.array_tasks.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    /// Every page, with its pagination metadata as the service sent it; tasks already yielded by
    /// this stream are removed from later pages, and empty pages are not yielded (so a listing
    /// with no task yields no page: use [`first_page`](TaskList::first_page) for the totals).
    pub fn pages(self) -> BoxStream<'static, Result<ArrayTaskData>> {
        let TaskList {
            api,
            mut query,
            prefetch,
            max_pages,
        } = self;
        if query.end.is_none() {
            // Pinned now, when the stream is created, not when it is first polled. A start in the
            // future keeps the query valid (and empty) rather than "start after end".
            let now = Utc::now();
            query.end = Some(query.start.map_or(now, |s| s.max(now)));
        }
        async_stream::stream! {
            // Check the arguments once, before any request.
            if let Err(e) = query.to_pairs() {
                yield Err(e.into());
                return;
            }
            let first = query.page.unwrap_or(1);
            let last_allowed = first.saturating_add(max_pages - 1);
            let mut seen = SeenIds::default();
            let mut fetcher = Fetcher::new(api, query, prefetch);
            let mut page_no = first;
            loop {
                let data = match fetcher.next(page_no).await {
                    Ok(d) => d,
                    Err(e) => {
                        yield Err(listing_error(page_no, e));
                        return;
                    }
                };
                let meta = data.pagination_metadata;
                // Only the newest answer says where the end is.
                let total_pages = meta.and_then(|m| m.total_pages);
                let answered_page = meta.and_then(|m| m.page).unwrap_or(page_no).max(page_no);
                let done = total_pages.is_some_and(|t| answered_page >= t);
                if data.array_tasks.is_empty() {
                    return;
                }
                if !done {
                    // Start on the following pages before handing this one over.
                    fetcher.request_up_to(page_no, total_pages.map(|t| t.min(last_allowed)));
                }
                let got = data.array_tasks.len();
                let fresh: Vec<ArrayTask> =
                    data.array_tasks.into_iter().filter(|t| seen.insert(t.id.as_deref())).collect();
                if fresh.is_empty() {
                    yield Err(listing_error(page_no, Error::protocol(format!(
                        "page {page_no} repeated {got} tasks already listed; the service is not paginating"
                    ))));
                    return;
                }
                yield Ok(ArrayTaskData { array_tasks: fresh, pagination_metadata: meta });
                if done {
                    return;
                }
                match page_no.checked_add(1) {
                    Some(next) if next <= last_allowed => page_no = next,
                    _ => {
                        let next = page_no.saturating_add(1);
                        yield Err(listing_error(next, Error::protocol(format!(
                            "stopped after {max_pages} pages (the page cap) with no end in sight; \
                             the service may not be paginating"
                        ))));
                        return;
                    }
                }
            }
        }
        .boxed()
    }
}

fn listing_error(resume_page: u64, source: Error) -> Error {
    match source {
        e @ Error::InvalidArgument(_) => e,
        source => Error::listing(resume_page, source),
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
    api: TasksApi,
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
    fn new(api: TasksApi, query: TasksQuery, depth: usize) -> Self {
        let first = query.page.unwrap_or(1);
        Fetcher {
            api,
            query,
            depth,
            next_to_request: first,
            in_flight: VecDeque::new(),
        }
    }

    /// Starts fetches for pages after `current`, up to the depth and the last known page.
    fn request_up_to(&mut self, current: u64, last_known: Option<u64>) {
        let Some(last) = last_known else { return };
        let ahead = current.saturating_add(self.depth as u64);
        self.next_to_request = self.next_to_request.max(current.saturating_add(1));
        while self.depth > 0 && self.next_to_request <= last.min(ahead) {
            let page = self.next_to_request;
            // The span is made here, so that it is a child of the consumer's span, not of nothing.
            let fut = fetch(self.api.clone(), self.query.clone(), page);
            self.in_flight.push_back((page, tokio::spawn(fut)));
            match self.next_to_request.checked_add(1) {
                Some(n) => self.next_to_request = n,
                None => break,
            }
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
                Err(e) => Err(Error::protocol(format!("page fetch task failed: {e}"))),
            };
        }
        self.next_to_request = self.next_to_request.max(page.saturating_add(1));
        fetch(self.api.clone(), self.query.clone(), page).await
    }
}

/// Fetches one page, in a `tasks_page` span (one per page fetched; the transport's `http_request`
/// spans, one per attempt, are its children). The span is created when this is called.
fn fetch(
    api: TasksApi,
    mut query: TasksQuery,
    page: u64,
) -> impl Future<Output = Result<ArrayTaskData>> + Send + 'static {
    query.page = Some(page);
    let span = tracing::info_span!(
        "tasks_page",
        page,
        per_page = query.per_page,
        items = tracing::field::Empty,
        total_pages = tracing::field::Empty,
    );
    let record = span.clone();
    async move {
        let data = api.tasks_get(&query).await?;
        record.record("items", data.array_tasks.len());
        if let Some(t) = data.pagination_metadata.and_then(|m| m.total_pages) {
            record.record("total_pages", t);
        }
        Ok(data)
    }
    .instrument(span)
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! Listing tasks: the [`TasksQuery`] filters of `GET /v1/tasks`, and [`TaskList`], which turns the
//! pages into one `futures::Stream` of tasks.
//!
//! # When the stream ends
//!
//! The stream ends, with no error, at:
//!
//! - an empty page (an `array_tasks` key that is missing, `null` or `[]`);
//! - the last page by the newest answer's `total_pages`, when that page is short (fewer tasks than
//!   `per_page`: the one the answer gives, else the one asked). A **full page marked last is
//!   checked with one more request**: a service that cut its total short would otherwise truncate
//!   the listing silently. The extra page is normally empty, and ends the stream;
//! - when the answer gives no credible `total_pages`, a short page. Metadata that contradicts
//!   itself (tasks on a page past its own `total_pages`, `total_pages: 0` with tasks, an answer
//!   for another page than the one asked) is treated as unknown: paging goes on until a short or
//!   empty page.
//!
//! A `total_pages` that grows or shrinks mid-stream is followed, within bounds.
//!
//! # A service that leads the stream on
//!
//! The pinned `end` (below) fixes which tasks can exist, so a listing cannot grow much once it
//! has started. These stop the stream with [`Error::Listing`] (a [`Error::Protocol`] source that
//! says why, and the page to resume from), never a loop and never silently:
//!
//! - a page count past what the first answer reported plus a margin ([`total_pages_bound`]: 2
//!   pages, or a tenth of that total when larger), whether an answer reports it or a page past it
//!   still brings tasks;
//! - a page identical to the previous one (the same tasks in the same order, with or without ids:
//!   a service ignoring `page`);
//! - [`STALE_PAGES_LIMIT`] pages in a row that bring no task not already listed (resume at the
//!   first of them);
//! - the page cap ([`TaskList::max_pages`]).

//! # What a stream sees while tasks change
//!
//! Pages are fetched one after another (and ahead, with [prefetch](TaskList::prefetch)), while
//! the service keeps creating and expiring tasks. So that the listing stays consistent:
//!
//! - When no `end` is given, `end` is pinned to the moment the stream is created, rounded up to
//!   the next whole second (the wire carries seconds), so every task that existed when the stream
//!   began is listed, even one started in the same second; tasks started after that second are
//!   not listed, and cannot push earlier ones onto later pages. A stream made now and polled in
//!   an hour still lists as of now.
//! - Task ids are deduplicated within one stream, over a window of the most recent ids
//!   ([`DEDUP_WINDOW`] by default, [`TaskList::dedup_window`] to change it; memory grows with it,
//!   some 100 bytes an id): a task that drifts onto the next page, because one was added before
//!   it, is not yielded twice. An id that comes back after more than a window of newer ids is
//!   yielded again. Tasks without an id are never dropped (two may look alike), but a page that
//!   brings nothing new, not even an id-less task unseen before, yields nothing (and counts
//!   towards [`STALE_PAGES_LIMIT`]).
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

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};

use crate::api::TasksApi;
use crate::error::{Error, Result};
use crate::model::{
    ArrayTask, ArrayTaskData, ArrayTaskStatus, ArrayTaskType, FileType, TaskOrder, TasksQuery,
    for_each_filter,
};
use crate::telemetry::{self, InSpan as _};

mod fetch;
mod pager;

use fetch::Fetcher;
use pager::{Pager, Step};
pub use pager::{STALE_PAGES_LIMIT, total_pages_bound};

macro_rules! list_setters {
    ($($(#[$m:meta])* $name:ident ( $arg:ident : $ty:ty ) |$q:ident| $body:expr;)+) => {
        impl TaskList {
            $($(#[$m])* pub fn $name(mut self, $arg: $ty) -> Self { self.query = self.query.$name($arg); self })+
        }
    };
}
for_each_filter!(list_setters);

/// The default number of pages fetched ahead: 4, a fixed depth.
///
/// On a slow link (20 ms before each page) depth 4 lists in about a third of the time of one page
/// after another, where depth 1 gains nothing (the next page is asked for only as the current one
/// is handed over); on loopback it costs no client CPU over depth 1, and it bounds memory to four
/// pages beyond the current one (about 1 MB of 100 tasks a page). An adaptive depth was weighed
/// and measured against it: see `BENCHMARKS.md` (`list_tasks`).
pub const DEFAULT_PREFETCH: usize = 4;
/// The deepest prefetch allowed; [`TaskList::prefetch`] clamps to it, so that a careless depth
/// cannot open thousands of requests or hold thousands of pages.
pub const MAX_PREFETCH: usize = 64;
/// The default page cap: a safety net against a service that never says it is done.
pub const DEFAULT_MAX_PAGES: u64 = 100_000;
/// How many recent task ids a stream remembers to drop duplicates, by default
/// ([`TaskList::dedup_window`]).
pub const DEDUP_WINDOW: usize = 10_000;

/// Every task matching a query, as a stream. Get one from [`Client::tasks`](crate::Client::tasks), refine it with the
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
    dedup_window: usize,
}

impl TaskList {
    pub(crate) fn new(api: TasksApi) -> Self {
        TaskList {
            api,
            query: TasksQuery::default(),
            prefetch: DEFAULT_PREFETCH,
            max_pages: DEFAULT_MAX_PAGES,
            dedup_window: DEDUP_WINDOW,
        }
    }

    /// How many of the most recent task ids the stream remembers, to yield each task once (at
    /// least 1). Default [`DEDUP_WINDOW`]. Within the window no task is yielded twice; an id seen
    /// longer ago than that is yielded again. Memory grows with the window (some 100 bytes an id).
    pub fn dedup_window(mut self, ids: usize) -> Self {
        self.dedup_window = ids.max(1);
        self
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
            dedup_window,
        } = self;
        if query.end.is_none() {
            // Pinned now, when the stream is created, not when it is first polled. A start in the
            // future keeps the query valid (and empty) rather than "start after end".
            // Rounded up to the whole second (the wire carries seconds): rounded down, a task
            // started earlier in the same second would fall after `end` and not be listed.
            let now = ceil_to_second(Utc::now());
            query.end = Some(query.start.map_or(now, |s| s.max(now)));
        }
        async_stream::stream! {
            // Polled inside the listing's span (`list_span`).
            let failed = |e: Error| -> Result<ArrayTaskData> {
                telemetry::record_failure(&tracing::Span::current(), &telemetry::error_type(&e));
                Err(e)
            };
            // Check the arguments once, before any request.
            if let Err(e) = query.to_pairs() {
                yield failed(e.into());
                return;
            }
            let first = query.page.unwrap_or(1);
            let last_allowed = first.saturating_add(max_pages - 1);
            let mut pager = Pager::new(query.per_page, dedup_window);
            let mut fetcher = Fetcher::new(api, query, prefetch);
            let mut page_no = first;
            let mut fetched: u64 = 0;
            loop {
                let data = match fetcher.next(page_no).await {
                    Ok(d) => d,
                    Err(e) => {
                        yield failed(listing_error(page_no, e));
                        return;
                    }
                };
                fetched += 1;
                tracing::Span::current().record("tiledb.pages", telemetry::int(fetched));
                let meta = data.pagination_metadata;
                let (tasks, next) = match pager.page(page_no, data) {
                    Step::End(tasks) => (tasks, None),
                    Step::Continue { tasks, next, known_last } => {
                        // Start on the following pages before handing this one over: never past
                        // the cap, nor past the bound the first total set.
                        let last = known_last.map(|l| {
                            l.min(last_allowed).min(pager.bound().unwrap_or(u64::MAX))
                        });
                        fetcher.request_up_to(page_no, last);
                        (tasks, Some(next))
                    }
                    Step::Stop { resume_page, error } => {
                        yield failed(listing_error(resume_page, error));
                        return;
                    }
                };
                if !tasks.is_empty() {
                    yield Ok(ArrayTaskData { array_tasks: tasks, pagination_metadata: meta });
                }
                let Some(next) = next else { return };
                if next > last_allowed || next == page_no {
                    yield failed(listing_error(next, Error::protocol(format!(
                        "stopped after {max_pages} pages (the page cap) with no end in sight; \
                         the service may not be paginating"
                    ))));
                    return;
                }
                page_no = next;
            }
        }
        .in_span(list_span)
    }
}

/// The listing's INTERNAL span (see `telemetry`), made at the stream's first poll so that it is
/// a child of the consumer's span; each page is a `tasks_get` span under it.
fn list_span() -> tracing::Span {
    tracing::info_span!(
        "list_tasks",
        otel.kind = "internal",
        otel.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
        tiledb.pages = tracing::field::Empty,
    )
}

/// `t`, or the next whole second when `t` has a fraction.
fn ceil_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    if t.timestamp_subsec_nanos() == 0 {
        return t;
    }
    DateTime::from_timestamp(t.timestamp().saturating_add(1), 0).unwrap_or(t)
}

fn listing_error(resume_page: u64, source: Error) -> Error {
    match source {
        e @ Error::InvalidArgument(_) => e,
        source => Error::listing(resume_page, source),
    }
}

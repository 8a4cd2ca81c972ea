//! Fetching pages: one request per page, up to a depth ahead on spawned tasks.

use std::collections::VecDeque;

use crate::api::TasksApi;
use crate::error::{Error, Result};
use crate::model::{ArrayTaskData, TasksQuery};

/// Fetches pages, up to `depth` ahead, each in its own task so they progress while the consumer
/// works. Outstanding fetches are aborted when the stream is dropped.
pub(super) struct Fetcher {
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
    pub(super) fn new(api: TasksApi, query: TasksQuery, depth: usize) -> Self {
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
    pub(super) fn request_up_to(&mut self, current: u64, last_known: Option<u64>) {
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
    pub(super) async fn next(&mut self, page: u64) -> Result<ArrayTaskData> {
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

/// Fetches one page: a `TasksApi::tasks_get`, whose span (one per page fetched, a child of the
/// listing's; the transport's `http_request` spans, one per attempt, are its children) is created
/// when this is called.
fn fetch(
    api: TasksApi,
    mut query: TasksQuery,
    page: u64,
) -> impl Future<Output = Result<ArrayTaskData>> + Send + 'static {
    query.page = Some(page);
    api.page(query)
}

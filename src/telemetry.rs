//! The spans this crate emits, by the OpenTelemetry semantic conventions (`http-spans`,
//! `database-spans`, `recording-errors`), in the field names `tracing-opentelemetry` reads
//! (`otel.name`, `otel.kind`, `otel.status_code`):
//!
//! - one INTERNAL span per public operation: `run_sql` (a query, from submission to its result),
//!   `task_wait` (a resumed handle), `list_tasks` (a listing stream), and one per [`TasksApi`]
//!   call (`task_id_get`, `task_id_result_get`, `tasks_get`, `sql_submit`): a page of a listing,
//!   [`TaskList::first_page`] included, is one `tasks_get`. It covers the retries and polls of
//!   the operation, and gets status Error and `error.type` only when the operation as a whole
//!   fails: a retried attempt or an expected `202`/`404` poll is not a failure;
//! - one CLIENT span per HTTP attempt, `http_request` (made in `transport`), with
//!   `http.request.method`, `server.address`, `server.port`, `url.full`, `url.template`,
//!   `http.response.status_code`, `http.request.resend_count` (on resends): status Error on a
//!   5xx, on a final 4xx and on a transport failure, unset on an expected 202 or 404;
//! - the SQL operations carry `db.system.name`, `db.namespace` (the TileDB namespace),
//!   `db.operation.name` (the statement's first keyword) and, only when the client was built with
//!   [`ClientBuilder::trace_query_text`], `db.query.text`;
//! - what is this crate's own is under `tiledb.`: `tiledb.task.id`, `tiledb.polls`, `tiledb.page`,
//!   `tiledb.pages`, `tiledb.deadline_ms`.
//!
//! No span carries a secret or result data: URLs never hold credentials (the host refuses them,
//! and `url.full` redacts any a redirect brings), and query text is opt-in.
//!
//! [`TasksApi`]: crate::TasksApi
//! [`TaskList::first_page`]: crate::TaskList::first_page
//! [`ClientBuilder::trace_query_text`]: crate::ClientBuilder::trace_query_text

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{BoxStream, Stream, StreamExt as _};
use tracing::Span;

use crate::error::Error;

/// `db.system.name`: not one of the registered values, so the product's own name, as the
/// conventions ask.
pub(crate) const DB_SYSTEM: &str = "tiledb";

/// An integer attribute: `tracing-opentelemetry` exports `i64` as an integer but `u64` as text.
pub(crate) fn int(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// Marks `span` failed: status Error and `error.type` (the span must declare both fields).
pub(crate) fn record_failure(span: &Span, error_type: &str) {
    span.record("otel.status_code", "error");
    span.record("error.type", error_type);
}

/// Marks `span` failed if `result` is an error.
pub(crate) fn record_result<T>(span: &Span, result: &Result<T, Error>) {
    if let Err(e) = result {
        record_failure(span, &error_type(e));
    }
}

/// The `error.type` of an operation that failed: low-cardinality, never a message. An answer's
/// status code, as the HTTP conventions name it, or the kind of failure.
pub(crate) fn error_type(e: &Error) -> String {
    match e {
        Error::Api(api) => api.status.to_string(),
        Error::Transport(t) if t.is_timeout() => "timeout".into(),
        Error::Transport(t) if t.is_connect() => "connect".into(),
        Error::Transport(_) => "transport".into(),
        Error::Timeout(_) => "deadline_exceeded".into(),
        Error::Decode(_) => "decode".into(),
        Error::InvalidArgument(_) => "invalid_argument".into(),
        Error::Config(_) => "config".into(),
        Error::TaskFailed(_) => "task_failed".into(),
        Error::ResultNotAvailable(_) => "result_not_available".into(),
        Error::Protocol(_) => "protocol".into(),
        Error::Listing(l) => error_type(&l.source),
        Error::Redirect(_) => "redirect".into(),
        Error::OutcomeUnknown(_) => "outcome_unknown".into(),
    }
}

/// `db.operation.name`: the statement's first keyword as written (`SELECT`, `insert`, `WITH`), or
/// nothing when the text does not start with one. Never more of the text than that word.
pub(crate) fn sql_operation(query: &str) -> Option<&str> {
    let query = query.trim_start();
    let end = query
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(query.len());
    (2..=16).contains(&end).then(|| &query[..end])
}

/// The span name of an SQL operation, `{db.operation.name} {db.namespace}` (or the system name
/// without an operation), as the database conventions name them.
pub(crate) fn sql_span_name(operation: Option<&str>, namespace: &str) -> String {
    match operation {
        Some(op) => format!("{op} {namespace}"),
        None => DB_SYSTEM.to_owned(),
    }
}

/// `url.full` without credentials: a user name and password in the URL become `REDACTED`.
pub(crate) fn url_full(url: &url::Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut url = url.clone();
    let _ = url.set_username("REDACTED");
    let _ = url.set_password(Some("REDACTED"));
    url.to_string()
}

/// A stream polled inside a span: what `Instrument` is for a future. The span is made when the
/// stream is first polled (so it is a child of the span that consumes the stream, not of the one
/// that built it), and stays open until the stream is dropped. Spans created while it is polled
/// (a prefetch's) are its children, and `Span::current()` in the stream's body is this span.
pub(crate) struct Traced<T> {
    inner: BoxStream<'static, T>,
    make: fn() -> Span,
    span: Option<Span>,
}

impl<T> Stream for Traced<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        let make = this.make;
        let span = this.span.get_or_insert_with(make);
        let _entered = span.enter();
        this.inner.poll_next_unpin(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// [`Traced`], as a method of any boxable stream.
pub(crate) trait InSpan: Stream + Send + Sized + 'static {
    /// This stream, polled inside the span `make` makes at the first poll.
    fn in_span(self, make: fn() -> Span) -> BoxStream<'static, Self::Item> {
        Traced {
            inner: self.boxed(),
            make,
            span: None,
        }
        .boxed()
    }
}

impl<S: Stream + Send + 'static> InSpan for S {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operation_is_the_first_keyword_only() {
        assert_eq!(sql_operation("  SELECT a FROM t"), Some("SELECT"));
        assert_eq!(sql_operation("insert into t values (1)"), Some("insert"));
        assert_eq!(
            sql_operation("WITH x AS (SELECT 1) SELECT * FROM x"),
            Some("WITH")
        );
        assert_eq!(sql_operation("-- secret\nSELECT 1"), None);
        assert_eq!(sql_operation("x"), None);
        assert_eq!(sql_operation("SELECT"), Some("SELECT"));
    }

    #[test]
    fn url_full_redacts_credentials() {
        let url = url::Url::parse("https://user:pw@example.com/v1/tasks?page=2").unwrap();
        assert_eq!(
            url_full(&url),
            "https://REDACTED:REDACTED@example.com/v1/tasks?page=2"
        );
        let plain = url::Url::parse("http://127.0.0.1:8080/v1/task/x").unwrap();
        assert_eq!(url_full(&plain), "http://127.0.0.1:8080/v1/task/x");
    }
}

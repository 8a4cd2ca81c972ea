//! [`TaskHandle`]: one await from SQL to its result, through submission, polling, retries and the
//! result transfer, bounded by a deadline; resumable from a task id; observable as a stream of
//! [`Update`]s.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use crate::api::TasksApi;
use crate::error::{Error, Result};
use crate::model::{ArrayTask, ResultFormat, SqlParameters};
use crate::policy::PollPolicy;
use crate::result::{ResultStream, SqlResult};
use crate::task_id::TaskId;

mod flow;
mod recover;

use flow::Fetched;

/// Progress of a [`TaskHandle`], from [`TaskHandle::updates`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Update {
    /// The query was submitted and the service named its task.
    Submitted {
        /// The task, to resume it later with [`Client::task`](crate::Client::task).
        task_id: TaskId,
    },
    /// The handle resumed an existing task (no submission).
    Resumed {
        /// The task.
        task_id: TaskId,
    },
    /// The result was polled and the task is still running.
    Polled {
        /// The poll's number, from 1.
        attempt: u32,
        /// Time since the wait began.
        elapsed: Duration,
        /// The sleep before the next poll (already clamped to the deadline).
        next_delay: Duration,
    },
    /// The wait is over: the result, or the error that ended it. Always the last update.
    Finished(Result<SqlResult>),
}

/// Where a handle starts.
#[derive(Debug, Clone)]
enum Start {
    Submit {
        namespace: String,
        params: Box<SqlParameters>,
    },
    Resume(TaskId),
}

/// How the result comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Stored on the service and fetched with `GET /task/{id}/result` (the default).
    Stored,
    /// In the answer to the POST.
    Inline,
}

/// An SQL task and the wait for its result.
///
/// `TaskHandle` is lazy: nothing is sent until it is awaited, or its [`updates`](Self::updates)
/// are polled. Awaiting it (it is `IntoFuture`) runs the whole flow and resolves to the
/// [`SqlResult`]:
///
/// 1. **Submit** `POST /v1/sql/{namespace}` with `store_results: true` (unless
///    [`inline`](Self::inline)). A service that holds the POST until the query has finished (as
///    TileDB Cloud does) answers with the rows: that is the result, nothing is polled. A service
///    that answers at once (204) names the task, and its stored result is polled. A query that
///    fails while the POST is held is the answer's own [`Error::Api`] (a 400 carrying the task
///    id); found by a poll, it is [`Error::TaskFailed`]. The POST is retried only where the query certainly did not run (a connect error,
///    429, 503); if it fails after it was sent but a task id came back (a 502, 504, a body cut
///    short), the handle polls that task instead of submitting again. A query is never run twice.
///
///    **A lost answer** (the connection breaks after the request was sent and before the answer's
///    head, a gateway answers 502 or 504 without naming a task, the attempt times out) is
///    recovered too. Every stored submission has a name: yours ([`SqlParameters::name`]), or else
///    a tag the SDK gives it, `tiledb-cloud-tasks:` and 16 hex digits. That is how the task shows
///    in the task list and on the console (the trade-off: an unnamed query is not listed
///    nameless). After a lost answer the handle searches the task list for that name
///    (`GET /v1/tasks?search=`, in the namespace, around the time it was sent) on the poll
///    schedule, for up to 60 seconds and never past the deadline, and waits for the one task it
///    finds by id. Not found, or several tasks of that name (give unique names, or none), is
///    [`Error::OutcomeUnknown`]: the query may or may not have run, and the error carries the name
///    to look for. An [`inline`](Self::inline) query stores nothing, so its lost answer is the
///    transport's error.
///
///    The POST has **no time limit of its own** (the client's
///    [`timeout`](crate::ClientBuilder::timeout) does not apply to it): a held POST lasts as long
///    as the query, and the handle's deadline is what bounds the wait.
/// 2. **Poll** `GET /v1/task/{id}/result`, first at once, then on the [`PollPolicy`] schedule:
///    202 waits (honouring `Retry-After`), 200 is the result. A 404 looks the task up: a failed,
///    cancelled or resource-starved task gives [`Error::TaskFailed`] with its `status_message`; a
///    completed one [`Error::ResultNotAvailable`].
/// 3. **Deadline**: when the deadline (15 minutes by default) comes, one last poll is made, the
///    sleep before it clamped to the time left; then [`Error::Timeout`] carries the task id, the time
///    waited and the number of polls, so the caller can resume with [`Client::task`](crate::Client::task).
///
/// Transient failures of each request are retried by the client's
/// [`RetryPolicy`](crate::policy::RetryPolicy); once they are spent the wait ends with the error,
/// which carries the task id.
///
/// **One handle, one submission.** A handle is not `Clone`: everything that runs it
/// (`.await`, [`updates`](Self::updates), [`result_stream`](Self::result_stream)) takes it by value,
/// so a query can be submitted once at most, whatever the caller does. To wait for the same task
/// from two places, resume it by id with [`Client::task`](crate::Client::task): that never
/// submits.
///
/// ```compile_fail
/// # fn demo(client: tiledb_cloud_tasks::Client) {
/// let handle = client.run_sql("ns", "INSERT INTO t VALUES (1)");
/// let again = handle.clone(); // a TaskHandle cannot be cloned
/// # }
/// ```
///
/// **Dropping** a handle (or the future, or the updates stream) stops all polling at once. The task
/// itself goes on running on the service: resume it by id to collect its result.
///
/// ```no_run
/// # async fn demo(client: tiledb_cloud_tasks::Client) -> tiledb_cloud_tasks::Result<()> {
/// use std::time::Duration;
///
/// #[derive(serde::Deserialize)]
/// struct Row { a: i64, b: String }
///
/// let rows: Vec<Row> = client
///     .run_sql("my-namespace", "SELECT a, b FROM t")
///     .deadline(Duration::from_secs(600))
///     .await?
///     .rows()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a TaskHandle does nothing until it is awaited or its updates are polled"]
pub struct TaskHandle {
    api: TasksApi,
    start: Start,
    mode: Mode,
    poll: PollPolicy,
    accept_encoding: Option<String>,
    expected_format: Option<ResultFormat>,
}

impl TaskHandle {
    fn new(api: TasksApi, poll: PollPolicy, start: Start) -> Self {
        TaskHandle {
            api,
            start,
            mode: Mode::Stored,
            poll,
            accept_encoding: None,
            expected_format: None,
        }
    }

    pub(crate) fn submit(
        api: TasksApi,
        poll: PollPolicy,
        namespace: String,
        params: SqlParameters,
    ) -> Self {
        let params = Box::new(params);
        TaskHandle::new(api, poll, Start::Submit { namespace, params })
    }

    pub(crate) fn resume(api: TasksApi, poll: PollPolicy, id: TaskId) -> Self {
        TaskHandle::new(api, poll, Start::Resume(id))
    }

    /// The task's id: known from the start for a resumed handle; for a new query, only once it is
    /// submitted (see [`Update::Submitted`]), so `None` here.
    pub fn task_id(&self) -> Option<&TaskId> {
        match &self.start {
            Start::Resume(id) => Some(id),
            Start::Submit { .. } => None,
        }
    }

    /// The task's current record (`GET /v1/task/{id}`). Fails with an invalid-argument error for a
    /// query that has not been submitted yet.
    pub async fn status(&self) -> Result<ArrayTask> {
        match self.task_id() {
            Some(id) => self.api.task_id_get(id).await,
            None => Err(Error::invalid(
                "task id",
                "the query has not been submitted yet; await the handle or watch its updates",
            )),
        }
    }

    /// The overall deadline of this wait (overrides the client's poll policy).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.poll = self.poll.deadline(d);
        self
    }

    /// Waits without a deadline. Only ask for this when something else bounds the wait.
    pub fn no_deadline(mut self) -> Self {
        self.poll = self.poll.no_deadline();
        self
    }

    /// The poll policy of this wait (overrides the client's).
    pub fn poll_policy(mut self, policy: PollPolicy) -> Self {
        self.poll = policy;
        self
    }

    /// Takes the rows from the answer to the POST instead of storing and polling: no stored result,
    /// one request, but the connection stays open for the whole query, bounded by the deadline.
    pub fn inline(mut self) -> Self {
        self.mode = Mode::Inline;
        self
    }

    /// The `Accept-Encoding` of this handle's requests.
    pub fn accept_encoding(mut self, value: impl Into<String>) -> Self {
        self.accept_encoding = Some(value.into());
        self
    }

    /// For a resumed handle: the format the result was asked in, checked against the answer's
    /// `Content-Type`. (A new query knows its own.)
    pub fn result_format(mut self, format: ResultFormat) -> Self {
        self.expected_format = Some(format);
        self
    }

    /// The progress of the wait, as a stream: [`Update::Submitted`] (or [`Update::Resumed`]), an
    /// [`Update::Polled`] for each 202, and last [`Update::Finished`] with the result or the error.
    ///
    /// This runs the very state machine that `.await` runs, so the two cannot disagree. Dropping the
    /// stream stops the wait.
    pub fn updates(self) -> BoxStream<'static, Update> {
        async_stream::stream! {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let run = self.run_buffered(Some(tx));
            tokio::pin!(run);
            let result = loop {
                tokio::select! {
                    biased;
                    Some(u) = rx.recv() => yield u,
                    result = &mut run => break result,
                }
            };
            while let Ok(u) = rx.try_recv() {
                yield u;
            }
            yield Update::Finished(result);
        }
        .boxed()
    }

    /// Waits like `.await`, but hands the result over before its body is read: decode it as it
    /// arrives with [`ResultStream::rows_stream`] (or `record_batches`, with the `arrow` feature),
    /// so memory does not grow with the size of the result.
    pub async fn result_stream(self) -> Result<ResultStream> {
        match self.run(None, true).await? {
            Fetched::Live(s) => Ok(s),
            Fetched::Whole(r) => Ok(ResultStream::from_result(r)),
        }
    }

    async fn run_buffered(self, tx: Option<mpsc::UnboundedSender<Update>>) -> Result<SqlResult> {
        match self.run(tx, false).await? {
            Fetched::Whole(r) => Ok(r),
            Fetched::Live(s) => s.collect().await,
        }
    }
}

impl IntoFuture for TaskHandle {
    type Output = Result<SqlResult>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<SqlResult>> + Send + 'static>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run_buffered(None))
    }
}

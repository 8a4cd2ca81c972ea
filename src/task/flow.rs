//! The flow behind a [`TaskHandle`]: submit, then wait. It drives the typed outcomes of `api`
//! (a submission, a result poll) and never sees a status code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{Instrument as _, field};

use super::recover::{self, LOST_ANSWER_SEARCH};
use super::{Mode, Start, TaskHandle, Update};
use crate::api::{Payload, ResultOutcome, Submission, TasksApi};
use crate::error::{Error, Result, ResultNotAvailableError, TaskFailedError};
use crate::model::{ResultFormat, SqlParameters, TASK_ID_HEADER};
use crate::policy::{Clock, PollPolicy};
use crate::result::{ResultStream, SqlResult};
use crate::task_id::TaskId;
use crate::telemetry;

impl TaskHandle {
    /// The whole flow; `tx` receives progress when watched.
    pub(super) async fn run(
        self,
        tx: Option<mpsc::UnboundedSender<Update>>,
        stream: bool,
    ) -> Result<Fetched> {
        let policy = self.poll.clone();
        // The operation's INTERNAL span (see `telemetry`): a query's `run_sql`, with the database
        // attributes, or a resumed task's `task_wait`.
        let span = match &self.start {
            Start::Submit { namespace, params } => self.api.sql_span(true, namespace, params),
            Start::Resume(id) => tracing::info_span!(
                "task_wait",
                otel.kind = "internal",
                otel.status_code = field::Empty,
                error.type = field::Empty,
                tiledb.task.id = id.as_str(),
                tiledb.polls = field::Empty,
                tiledb.deadline_ms = field::Empty,
            ),
        };
        if let Some(d) = policy.get_deadline() {
            span.record("tiledb.deadline_ms", telemetry::int(d.as_millis()));
        }
        let clock = Arc::clone(self.api.clock());
        let mut waiter = Waiter {
            started: clock.now(),
            clock,
            policy,
            tx,
            polls: 0,
            span: span.clone(),
            stream,
        };
        let result = self.flow(&mut waiter).instrument(span.clone()).await;
        span.record("tiledb.polls", i64::from(waiter.polls));
        telemetry::record_result(&span, &result);
        result
    }

    async fn flow(self, w: &mut Waiter) -> Result<Fetched> {
        let api = self.api.with_deadline(w.deadline());
        let ae = self.accept_encoding.as_deref();
        match self.start {
            Start::Resume(id) => {
                w.emit(Update::Resumed {
                    task_id: id.clone(),
                });
                w.wait(&api, id, ae, self.expected_format).await
            }
            Start::Submit { namespace, params } => {
                let mut params = *params;
                let expected = params
                    .result_format
                    .get_or_insert(ResultFormat::Json)
                    .clone();
                match submit(&api, w, self.mode, &namespace, &mut params, ae).await? {
                    Submitted::Answered(fetched) => Ok(fetched),
                    Submitted::Wait(id) => w.wait(&api, id, ae, Some(expected)).await,
                }
            }
        }
    }
}

/// What the submission left to do.
enum Submitted {
    /// The answer carried the result (inline rows, or nothing to return).
    Answered(Fetched),
    /// The task was created: wait for its stored result.
    Wait(TaskId),
}

/// `POST /sql`, and what to do next. The query is sent once: whatever goes wrong after it was
/// sent, a task that the service named is followed (when its result is stored), never submitted
/// again.
async fn submit(
    api: &TasksApi,
    w: &mut Waiter,
    mode: Mode,
    namespace: &str,
    params: &mut SqlParameters,
    ae: Option<&str>,
) -> Result<Submitted> {
    let expected = params.result_format.clone();
    let timeout = match mode {
        // Stored, and the rows asked for with the answer too: a service that holds the POST
        // until the query ends (TileDB Cloud does) answers with them, and nothing is polled; one
        // that answers at once (204, the task id) has the result polled.
        Mode::Stored => {
            params.store_results.get_or_insert(true);
            params.dont_download_results = Some(false);
            None
        }
        Mode::Inline => {
            params.dont_download_results = Some(false);
            w.remaining()
        }
    };
    let stored = params.store_results == Some(true);
    // A stored result can be found again if the answer is lost: by the submission's name.
    let sent = stored.then(|| recover::Sent::tag(namespace, params));
    match api.submit(namespace, params, ae, timeout, w.stream).await? {
        Submission::Rows {
            task_id,
            content_type,
            body,
        } => {
            if let Some(id) = &task_id {
                w.submitted(id);
            }
            w.fetched(task_id, expected.as_ref(), content_type, body)
                .await
                .map(Submitted::Answered)
        }
        // Answered before the rows were ready (or without them): they are stored, so fetch them.
        Submission::Accepted { task_id: Some(id) } if mode == Mode::Stored || stored => {
            w.submitted(&id);
            Ok(Submitted::Wait(id))
        }
        // The rows are stored under a task nobody named: an empty result here would be a
        // silently lost one.
        Submission::Accepted { task_id: None } if mode == Mode::Stored => {
            Err(Error::protocol(format!(
                "the submission succeeded without a task id ({TASK_ID_HEADER}), so its stored \
                 result cannot be fetched"
            )))
        }
        // Inline, and nothing to return (a statement without rows).
        Submission::Accepted { task_id } => {
            if let Some(id) = &task_id {
                w.submitted(id);
            }
            SqlResult::new(task_id, expected.as_ref(), None, Default::default())
                .map(|r| Submitted::Answered(Fetched::Whole(r)))
        }
        // The task exists, and its answer was lost (or a gateway failed after it was made): wait
        // for its stored result instead of submitting again.
        Submission::Orphaned { task_id, error } if stored => {
            tracing::warn!(task_id = %task_id, error = %error, "the submission's answer was lost; polling its task instead of submitting again");
            w.submitted(&task_id);
            Ok(Submitted::Wait(task_id))
        }
        Submission::Orphaned { task_id, error } => Err(error.with_task_id(&task_id)),
        // The answer was lost before it named a task: find the task by its name and wait for it.
        Submission::Lost { error } => match sent {
            Some(sent) => {
                let window = w
                    .remaining()
                    .map_or(LOST_ANSWER_SEARCH, |left| left.min(LOST_ANSWER_SEARCH));
                let id = recover::find(api, &w.clock, &w.policy, window, sent, error).await?;
                w.submitted(&id);
                Ok(Submitted::Wait(id))
            }
            None => Err(error),
        },
    }
}

/// The waiting half of the flow, with its clock, schedule and progress channel.
struct Waiter {
    clock: Arc<dyn Clock>,
    started: Instant,
    policy: PollPolicy,
    tx: Option<mpsc::UnboundedSender<Update>>,
    polls: u32,
    span: tracing::Span,
    /// Hand the result over unread.
    stream: bool,
}

/// A result, read whole or left to stream.
pub(super) enum Fetched {
    Whole(SqlResult),
    Live(ResultStream),
}

impl Waiter {
    fn emit(&self, u: Update) {
        if let Some(tx) = &self.tx {
            // A closed channel means nobody watches any more; the wait goes on for `.await`.
            let _ = tx.send(u);
        }
    }

    fn submitted(&self, id: &TaskId) {
        self.span.record("tiledb.task.id", id.as_str());
        self.emit(Update::Submitted {
            task_id: id.clone(),
        });
    }

    fn elapsed(&self) -> Duration {
        self.clock.now().saturating_duration_since(self.started)
    }

    fn deadline(&self) -> Option<Instant> {
        self.policy.get_deadline().map(|d| self.started + d)
    }

    fn remaining(&self) -> Option<Duration> {
        self.policy
            .get_deadline()
            .map(|d| d.saturating_sub(self.elapsed()))
    }

    async fn wait(
        &mut self,
        api: &TasksApi,
        id: TaskId,
        ae: Option<&str>,
        expected: Option<ResultFormat>,
    ) -> Result<Fetched> {
        let mut schedule = self.policy.schedule();
        loop {
            self.polls += 1;
            let outcome = api
                .result(&id, ae, self.stream)
                .await
                .map_err(|e| e.with_task_id(&id))?;
            match outcome {
                ResultOutcome::Ready { content_type, body } => {
                    tracing::info!(task_id = %id, polls = self.polls, "result ready");
                    return self
                        .fetched(Some(id), expected.as_ref(), content_type, body)
                        .await;
                }
                ResultOutcome::Pending { retry_after } => {
                    self.pause(&id, schedule.next(retry_after)).await?;
                }
                ResultOutcome::NotAvailable { body } => {
                    let task = api.task(&id).await.map_err(|e| e.with_task_id(&id))?;
                    match task.status {
                        Some(status) if status.is_unsuccessful() => {
                            return Err(Error::TaskFailed(Box::new(TaskFailedError::new(
                                id,
                                status,
                                task.status_message.map(|m| api.scrub(&m)),
                            ))));
                        }
                        Some(status) if status.is_terminal() => {
                            return Err(Error::ResultNotAvailable(Box::new(
                                ResultNotAvailableError::new(id, body),
                            )));
                        }
                        // Not finished yet (or unknown): its result may still come.
                        _ => self.pause(&id, schedule.next(None)).await?,
                    }
                }
            }
        }
    }

    /// A ready body as a result: read whole, or handed over to stream.
    async fn fetched(
        &self,
        task_id: Option<TaskId>,
        expected: Option<&ResultFormat>,
        content_type: Option<String>,
        body: Payload,
    ) -> Result<Fetched> {
        let body = body.with_task_id(task_id.as_ref());
        if self.stream {
            return ResultStream::new(task_id, expected, content_type, body).map(Fetched::Live);
        }
        let bytes = body.bytes().await?;
        SqlResult::new(task_id, expected, content_type, bytes).map(Fetched::Whole)
    }

    /// Sleeps before the next poll, clamped to the deadline; at the deadline, the timeout.
    async fn pause(&mut self, id: &TaskId, interval: Duration) -> Result<()> {
        let delay = match self.remaining() {
            Some(left) if left.is_zero() => {
                return Err(Error::timeout(Some(id.clone()), self.elapsed(), self.polls));
            }
            Some(left) => interval.min(left),
            None => interval,
        };
        tracing::debug!(task_id = %id, poll = self.polls, delay_ms = delay.as_millis() as u64, "task still running");
        self.emit(Update::Polled {
            attempt: self.polls,
            elapsed: self.elapsed(),
            next_delay: delay,
        });
        self.clock.sleep(delay).await;
        Ok(())
    }
}

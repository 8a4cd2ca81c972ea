//! Query jobs: a submission checked, admitted (a free query slot, a server not shutting down),
//! recorded, and run on a blocking thread to its outcome, which is written through to the store.
//!
//! A recorded task always reaches an outcome: recording and running happen in one blocking job
//! that runs to its end even if the request that made it is dropped (the client went away).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Bytes;
use axum::http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use super::auth::User;
use super::emulator::Timing;
use super::engine::{self, Encoder, Output, Query, QueryError};
use super::error::{ApiFailure, ErrorCode};
use super::faults::TaskFault;
use super::state::{AppState, InFlightGuard};
use super::store::NewResult;
use crate::model::{ArrayTask, ArrayTaskStatus, ArrayTaskType, ResultFormat, SqlParameters};

/// Where a submission ended up.
pub(crate) enum Submitted {
    /// Recorded, and running in the background (see [`Timing::Detached`]).
    Detached { id: String },
    /// Recorded and run to its end.
    Finished {
        id: String,
        encoder: Encoder,
        outcome: Result<Output<Bytes>, QueryError>,
        /// The caller asked for the rows with the answer (no `dont_download_results`).
        download: bool,
    },
}

/// Checks `params`, admits, records and runs them as a task of `user` in `namespace` (which
/// the caller has checked the user may use), answering when `timing` says.
pub(crate) async fn submit(
    app: &Arc<AppState>,
    user: &User,
    namespace: String,
    params: SqlParameters,
    timing: Timing,
    fault: Option<TaskFault>,
) -> Result<Submitted, ApiFailure> {
    let download = !params.dont_download_results.unwrap_or(false);
    let (query, mut task, store_results) = prepare(user, namespace, params, timing)?;
    let in_flight = admit(app)?;
    let permit = admit_slot(app)?;
    // A task starts when it is admitted: it runs at once, or was refused above.
    let now = app.clock.now();
    task.start_time = Some(now);
    let detached = task.status == Some(ArrayTaskStatus::Queued);
    let id = task.id.clone().unwrap_or_default();
    let job = Job {
        app: Arc::clone(app),
        permit: Some(permit),
        in_flight,
        id: id.clone(),
        queued: detached,
        store_results,
        query,
        fault,
    };
    let encoder = job.query.encoder;
    let (recorded_tx, recorded_rx) = oneshot::channel::<Result<(), String>>();
    let worker = tokio::task::spawn_blocking(move || {
        let recorded = job.app.store.insert(task, store_results, now).map(|_| ());
        let ok = recorded.is_ok();
        let _ = recorded_tx.send(recorded);
        ok.then(|| job.run())
    });
    match recorded_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(ApiFailure::internal(format!(
                "recording the task failed: {e}"
            )));
        }
        Err(_) => return Err(ApiFailure::internal("the task recorder stopped")),
    }
    tracing::info!(task = %id, user = %user.name, detached, "task recorded");
    if detached {
        return Ok(Submitted::Detached { id });
    }
    let outcome = worker
        .await
        .ok()
        .flatten()
        .ok_or_else(|| ApiFailure::internal("the query worker failed").with_task_id(&id))?;
    Ok(Submitted::Finished {
        id,
        encoder,
        outcome,
        download,
    })
}

/// Everything that can be checked without running, checked before a task exists: the query,
/// the task record to insert, and whether its result is kept.
fn prepare(
    user: &User,
    namespace: String,
    params: SqlParameters,
    timing: Timing,
) -> Result<(Query, ArrayTask, bool), ApiFailure> {
    let sql = match params.query.as_deref() {
        Some(q) if !q.trim().is_empty() => q.to_owned(),
        _ => return Err(ApiFailure::invalid("query is required")),
    };
    if params.output_uri.is_some() {
        return Err(ApiFailure::invalid(
            "output_uri is not supported by the local server (it has no arrays)",
        ));
    }
    let format = params.result_format.clone().unwrap_or(ResultFormat::Json);
    let encoder = engine::encoder_for(&format).map_err(|message| {
        ApiFailure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedFormat,
            message,
        )
    })?;
    let parameters = engine::sql_parameters(&params.parameters).map_err(ApiFailure::invalid)?;
    let store_results = params.store_results.unwrap_or(false);
    let detached = timing.detaches(store_results, params.dont_download_results.unwrap_or(false));
    let task = ArrayTask {
        id: Some(uuid::Uuid::new_v4().to_string()),
        name: params.name,
        username: Some(user.name.clone()),
        namespace: Some(namespace.clone()),
        status: Some(if detached {
            ArrayTaskStatus::Queued
        } else {
            ArrayTaskStatus::Running
        }),
        cost: Some(0.0),
        sql_query: Some(sql.clone()),
        task_type: Some(ArrayTaskType::Sql),
        logs: Some(String::new()),
        sql_init_commands: params.init_commands.clone(),
        sql_parameters: params.parameters,
        result_format: Some(format),
        task_graph_uuid: params.task_graph_uuid,
        client_node_uuid: params.client_node_uuid,
        ..ArrayTask::default()
    };
    let query = Query {
        namespace,
        sql,
        init_commands: params.init_commands,
        parameters,
        encoder,
    };
    Ok((query, task, store_results))
}

/// Counts the submission in flight, then checks the server still takes work. Counted first: a
/// shutdown that starts after this point waits for the task, one that started before is seen by
/// the check.
fn admit(app: &Arc<AppState>) -> Result<InFlightGuard, ApiFailure> {
    let in_flight = app.in_flight.enter();
    if !app.accepting.load(Ordering::SeqCst) {
        return Err(ApiFailure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ShuttingDown,
            "the server is shutting down; the query was not run",
        ));
    }
    Ok(in_flight)
}

/// A free query slot, or a 503 with `Retry-After` (nothing recorded: the query did not run).
fn admit_slot(app: &Arc<AppState>) -> Result<OwnedSemaphorePermit, ApiFailure> {
    Arc::clone(&app.permits).try_acquire_owned().map_err(|_| {
        let mut busy = ApiFailure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Busy,
            format!(
                "all {} query slots are busy; the query was not run, retry later",
                app.limits.max_concurrent_queries
            ),
        );
        busy.retry_after_secs = Some(app.limits.retry_after_secs());
        busy
    })
}

/// One recorded task on its way to an outcome. Runs on a blocking thread.
struct Job {
    app: Arc<AppState>,
    /// The query slot, released as soon as the query ends: a client that sees the task done
    /// can submit again at once.
    permit: Option<OwnedSemaphorePermit>,
    /// Released after the last store write.
    in_flight: InFlightGuard,
    id: String,
    /// Recorded QUEUED (detached) rather than RUNNING.
    queued: bool,
    store_results: bool,
    query: Query,
    /// What a fault rule does to this task.
    fault: Option<TaskFault>,
}

impl Job {
    /// Runs the query and records the outcome (write-through), returning it for a synchronous
    /// answer. The rows come back as [`Bytes`], shared with the stored copy.
    fn run(mut self) -> Result<Output<Bytes>, QueryError> {
        let result = self.execute();
        drop(self.in_flight);
        result
    }

    fn execute(&mut self) -> Result<Output<Bytes>, QueryError> {
        let store = &self.app.store;
        if self.queued {
            self.record(store.update(
                &self.id,
                |t| t.status = Some(ArrayTaskStatus::Running),
                None,
            ));
        }
        let started = Instant::now();
        let mut result = match &self.fault {
            Some(TaskFault::Fail(message)) => Err(QueryError::Sql(message.clone())),
            _ => self.app.engine.run(&self.query),
        };
        if let Some(TaskFault::Slow(least)) = self.fault
            && !self.take_at_least(started, least)
        {
            result = Err(QueryError::Stopped);
        }
        drop(self.permit.take());
        let duration = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let finished = self.app.clock.now();
        let encoder = self.query.encoder;
        match result {
            Ok(output) => {
                let output = match output {
                    Output::Rows(rows) => Output::Rows(Bytes::from(rows)),
                    Output::NoColumns => Output::NoColumns,
                };
                let kept = self.store_results.then(|| NewResult {
                    content_type: encoder.content_type().to_owned(),
                    body: match &output {
                        Output::Rows(rows) => rows.clone(),
                        Output::NoColumns => Bytes::from(encoder.empty()),
                    },
                    expires_at: self.app.expiry(finished),
                });
                self.record(store.update(
                    &self.id,
                    |t| {
                        t.status = Some(ArrayTaskStatus::Completed);
                        t.finish_time = Some(finished);
                        t.duration = Some(duration);
                    },
                    kept,
                ));
                tracing::info!(task = %self.id, "task completed");
                Ok(output)
            }
            Err(error) => {
                let message = error.message();
                tracing::info!(task = %self.id, error = %message, "task failed");
                self.record(store.update(
                    &self.id,
                    |t| {
                        t.status = Some(ArrayTaskStatus::Failed);
                        t.status_message = Some(message);
                        t.finish_time = Some(finished);
                        t.duration = Some(duration);
                    },
                    None,
                ));
                Err(error)
            }
        }
    }

    /// Waits until `least` has passed since `started` (a slow-task fault); `false` when the
    /// server began to stop meanwhile.
    fn take_at_least(&self, started: Instant, least: std::time::Duration) -> bool {
        let step = std::time::Duration::from_millis(10);
        loop {
            if self.app.stop.load(Ordering::SeqCst) != engine::RUNNING {
                return false;
            }
            let left = least.saturating_sub(started.elapsed());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(step));
        }
    }

    fn record(&self, written: rusqlite::Result<()>) {
        if let Err(e) = written {
            tracing::error!(task = %self.id, error = %e, "could not record the task's state");
        }
    }
}

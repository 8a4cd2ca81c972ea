//! [`TasksApi`]: the four routes, one-to-one with the spec and named as the official clients name
//! them. Each call is one logical request (retried by the transport's policy); the higher-level
//! [`TaskHandle`](crate::TaskHandle) and [`TaskList`](crate::TaskList) are built on these.
//!
//! This is the only module that turns an HTTP answer (status, headers, body) into meaning. Each
//! route has one function here that returns a typed outcome (`Submission`, `ResultOutcome`,
//! a task, a page); the public calls and the handle and stream all go through it, so a new status
//! or header is handled once, for everyone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use tracing::{Instrument as _, field};

use crate::error::{DecodeError, Error, Result};
use crate::model::{ArrayTask, ArrayTaskData, ErrorBody, ResultFormat, SqlParameters, TasksQuery};
use crate::policy::Clock;
use crate::task_id::TaskId;
use crate::telemetry;
pub(crate) use crate::transport::Payload;
use crate::transport::{Kind, Reply, Req, Transport, empty_body_error};

/// The low-level Tasks API. Get one from [`Client::api`](crate::Client::api); it is a cheap clone
/// of the client.
#[derive(Debug, Clone)]
pub struct TasksApi {
    transport: Arc<Transport>,
    /// When set, no request outlives it and no retry starts after it.
    deadline: Option<Instant>,
}

/// The answer to `POST /v1/sql/{namespace}`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SqlResponse {
    /// 200: the rows, in the requested format.
    Rows {
        /// The task's id, from `X-TILEDB-CLOUD-TASK-ID`.
        task_id: Option<TaskId>,
        /// The body's `Content-Type`.
        content_type: Option<String>,
        /// The body.
        body: Bytes,
    },
    /// 204: the statement ran (or was accepted to run, with `dont_download_results`); no body.
    NoContent {
        /// The task's id, from `X-TILEDB-CLOUD-TASK-ID`.
        task_id: Option<TaskId>,
    },
}

impl SqlResponse {
    /// The task's id, whichever the branch.
    pub fn task_id(&self) -> Option<&TaskId> {
        match self {
            SqlResponse::Rows { task_id, .. } | SqlResponse::NoContent { task_id } => {
                task_id.as_ref()
            }
        }
    }
}

/// The answer to `GET /v1/task/{id}/result`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ResultResponse {
    /// 200: the stored result.
    Ready {
        /// The body's `Content-Type`, which names the format.
        content_type: Option<String>,
        /// The body.
        body: Bytes,
    },
    /// 202: the task is still running.
    Running {
        /// How long the service asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// 404: the result was never stored, has expired, or the task failed.
    NotAvailable {
        /// The service's error body, if it sent one.
        body: Option<ErrorBody>,
    },
}

/// What the answer to the SQL submission means.
#[derive(Debug)]
pub(crate) enum Submission {
    /// 200: the rows (read whole, or left to stream).
    Rows {
        task_id: Option<TaskId>,
        content_type: Option<String>,
        body: Payload,
    },
    /// A success without rows: 204, or another 2xx with an empty body.
    Accepted { task_id: Option<TaskId> },
    /// The service named a task, then the answer failed: any error status naming it (a gateway
    /// timing out after the task was created, a 503 or 429 that names one all the same), or the
    /// transfer broke after the head. The task exists and may be running; `error` says what went
    /// wrong.
    Orphaned { task_id: TaskId, error: Error },
    /// The request was sent (or may have been) and no answer named a task: the connection broke
    /// before the answer's head, the attempt timed out, or a gateway answered 502 or 504. The
    /// query may have run, or be running: it must not be sent again blindly.
    Lost { error: Error },
}

/// Whether a failed submission may have reached the service: anything but a failure to connect.
fn may_have_run(error: &Error) -> bool {
    matches!(error, Error::Transport(t) if !t.is_connect())
}

/// What the answer to a result poll means.
#[derive(Debug)]
pub(crate) enum ResultOutcome {
    /// 200: the stored result.
    Ready {
        content_type: Option<String>,
        body: Payload,
    },
    /// 202: still running.
    Pending { retry_after: Option<Duration> },
    /// 404: not stored, expired, or the task failed (look the task up to tell which).
    NotAvailable { body: Option<ErrorBody> },
}

/// Refuses what cannot be a path segment before anything is sent.
pub(crate) fn check_segment(argument: &'static str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(argument, "is empty"));
    }
    if value == "." || value == ".." {
        return Err(Error::invalid(
            argument,
            format!("{value:?} is not a valid {argument}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(argument, "contains control characters"));
    }
    if value.len() > 1024 {
        return Err(Error::invalid(argument, "is longer than 1024 bytes"));
    }
    Ok(())
}

/// The reply of a route whose only success is 200: an error status becomes its
/// [`ApiError`](crate::ApiError), and another 2xx (a 202 "still working", a 204 without a body) is
/// a protocol error, never read as the answer (an empty page would end a listing early).
async fn only_200(reply: Reply, route: &str) -> Result<Reply> {
    match reply.status {
        StatusCode::OK => Ok(reply),
        s if s.is_success() => Err(Error::protocol(format!(
            "{route} answered {s}, which the route does not define; only 200 carries its answer"
        ))),
        _ => Err(reply.into_api_error().await),
    }
}

impl TasksApi {
    pub(crate) fn new(transport: Arc<Transport>) -> Self {
        TasksApi {
            transport,
            deadline: None,
        }
    }

    /// The same calls, bounded by `deadline` (on the client's clock).
    pub(crate) fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The clock the client sleeps on.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.transport.clock
    }

    fn request(&self, route: &'static str, segments: Vec<String>) -> Req {
        let mut req = Req::get(route, segments);
        req.deadline = self.deadline;
        req
    }

    /// `POST /v1/sql/{namespace}` (`runSQL`): runs `params` in `namespace`.
    ///
    /// The task id is read from `X-TILEDB-CLOUD-TASK-ID` on every answer: in the result here, and in
    /// [`Error::task_id`] on an error. The submission is retried only where the query certainly did
    /// not run (a connect error, 429, 503): it is never sent twice otherwise.
    pub async fn run_sql(
        &self,
        namespace: &str,
        params: &SqlParameters,
        accept_encoding: Option<&str>,
    ) -> Result<SqlResponse> {
        let span = self.sql_span(false, namespace, params);
        let result = self
            .run_sql_untraced(namespace, params, accept_encoding)
            .instrument(span.clone())
            .await;
        if let Ok(answer) = &result
            && let Some(id) = answer.task_id()
        {
            span.record("tiledb.task.id", id.as_str());
        }
        telemetry::record_result(&span, &result);
        result
    }

    async fn run_sql_untraced(
        &self,
        namespace: &str,
        params: &SqlParameters,
        accept_encoding: Option<&str>,
    ) -> Result<SqlResponse> {
        // The client's own time limit: this call has no deadline to bound it otherwise.
        let timeout = self.transport.timeout();
        match self
            .submit(namespace, params, accept_encoding, timeout, false)
            .await?
        {
            Submission::Rows {
                task_id,
                content_type,
                body,
            } => Ok(SqlResponse::Rows {
                body: body.bytes().await?,
                task_id,
                content_type,
            }),
            Submission::Accepted { task_id } => Ok(SqlResponse::NoContent { task_id }),
            Submission::Orphaned { error, .. } | Submission::Lost { error } => Err(error),
        }
    }

    /// The INTERNAL span of an SQL operation (see `telemetry`): `run_sql` for a handle's whole
    /// run (`handle`), else `sql_submit`; the database attributes, and the query's text only when
    /// the client opted in.
    pub(crate) fn sql_span(
        &self,
        handle: bool,
        namespace: &str,
        params: &SqlParameters,
    ) -> tracing::Span {
        let query = params.query.as_deref().unwrap_or("");
        let operation = telemetry::sql_operation(query);
        let span = if handle {
            tracing::info_span!(
                "run_sql",
                otel.name = %telemetry::sql_span_name(operation, namespace),
                otel.kind = "internal",
                otel.status_code = field::Empty,
                error.type = field::Empty,
                db.system.name = telemetry::DB_SYSTEM,
                db.namespace = namespace,
                db.operation.name = operation,
                db.query.text = field::Empty,
                tiledb.task.id = field::Empty,
                tiledb.polls = field::Empty,
                tiledb.deadline_ms = field::Empty,
            )
        } else {
            tracing::info_span!(
                "sql_submit",
                otel.name = %telemetry::sql_span_name(operation, namespace),
                otel.kind = "internal",
                otel.status_code = field::Empty,
                error.type = field::Empty,
                db.system.name = telemetry::DB_SYSTEM,
                db.namespace = namespace,
                db.operation.name = operation,
                db.query.text = field::Empty,
                tiledb.task.id = field::Empty,
            )
        };
        if self.transport.trace_query_text {
            span.record("db.query.text", query);
        }
        span
    }

    /// The SQL submission and what its answer means; with `stream`, rows are left unread.
    /// `timeout` is the attempt's only time limit (the client's default does not apply: a held
    /// POST lasts as long as the query); the deadline, when set, bounds it too.
    pub(crate) async fn submit(
        &self,
        namespace: &str,
        params: &SqlParameters,
        accept_encoding: Option<&str>,
        timeout: Option<Duration>,
        stream: bool,
    ) -> Result<Submission> {
        check_segment("namespace", namespace)?;
        if params.query.as_deref().is_none_or(|q| q.trim().is_empty()) {
            return Err(Error::invalid("query", "is empty"));
        }
        let body = serde_json::to_vec(params)
            .map_err(|e| Error::invalid("params", format!("cannot be serialized: {e}")))?;
        let mut req = self.request("/v1/sql/{namespace}", vec!["sql".into(), namespace.into()]);
        req.method = Method::POST;
        req.kind = Kind::Submit;
        req.body = Some(Bytes::from(body));
        req.accept_encoding = accept_encoding.map(str::to_owned);
        req.timeout = timeout;
        let reply = match self.transport.send_streaming(&req).await {
            Ok(reply) => reply,
            // Sent, and the service named the task before the answer was lost.
            Err(error) => {
                return match error.task_id().cloned() {
                    Some(task_id) => Ok(Submission::Orphaned { task_id, error }),
                    None if may_have_run(&error) => Ok(Submission::Lost { error }),
                    None => Err(error),
                };
            }
        };
        let task_id = reply.task_id.clone();
        match reply.status {
            StatusCode::OK if stream => Ok(Submission::Rows {
                task_id,
                content_type: reply.content_type(),
                body: reply.body,
            }),
            StatusCode::NO_CONTENT => Ok(Submission::Accepted { task_id }),
            s if s.is_success() => {
                // A 2xx the spec does not define is rows if it brought any: never dropped.
                let undefined = s != StatusCode::OK;
                let content_type = reply.content_type();
                match reply.bytes().await {
                    Ok(bytes) if undefined && bytes.is_empty() => {
                        Ok(Submission::Accepted { task_id })
                    }
                    Ok(bytes) => Ok(Submission::Rows {
                        task_id,
                        content_type,
                        body: Payload::full(bytes),
                    }),
                    Err(error) => match task_id {
                        Some(task_id) => Ok(Submission::Orphaned { task_id, error }),
                        None => Ok(Submission::Lost { error }),
                    },
                }
            }
            // A server error or a 429 that names a task (a gateway error after the task was made,
            // a 503 or 429 naming one anyway): the task exists, so it is followed, never submitted
            // again (the transport does not resend it either). Another 4xx is the service's
            // verdict on the request: an `ApiError`, carrying the task it names.
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                let gateway = matches!(s, StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT);
                let error = reply.into_api_error().await;
                match task_id {
                    Some(task_id) => Ok(Submission::Orphaned { task_id, error }),
                    // A gateway that gave up on the service: the query may be running behind it.
                    None if gateway => Ok(Submission::Lost { error }),
                    None => Err(error),
                }
            }
            _ => Err(reply.into_api_error().await),
        }
    }

    /// `GET /v1/task/{id}`: one task.
    pub async fn task_id_get(&self, id: impl Into<TaskId>) -> Result<ArrayTask> {
        let id = id.into();
        let span = tracing::info_span!(
            "task_id_get",
            otel.kind = "internal",
            otel.status_code = field::Empty,
            error.type = field::Empty,
            tiledb.task.id = id.as_str(),
        );
        let result = self.task(&id).instrument(span.clone()).await;
        telemetry::record_result(&span, &result);
        result
    }

    /// `GET /v1/task/{id}`, inside the caller's span.
    pub(crate) async fn task(&self, id: &TaskId) -> Result<ArrayTask> {
        check_segment("task id", id.as_str())?;
        let mut req = self.request("/v1/task/{id}", vec!["task".into(), id.as_str().into()]);
        req.task_id = Some(id.clone());
        let route = "GET /v1/task/{id}";
        let reply = only_200(self.transport.send(&req).await?, route).await?;
        let body = reply.bytes().await?;
        if body.is_empty() {
            return Err(empty_body_error(route, "a task (an ArrayTask)", Some(id)));
        }
        DecodeError::json("ArrayTask", &body, Some(id)).map_err(|e| self.scrubbed(e))
    }

    /// `GET /v1/task/{id}/result`: the stored result, or word that it is still running (202) or not
    /// available (404).
    pub async fn task_id_result_get(
        &self,
        id: impl Into<TaskId>,
        accept_encoding: Option<&str>,
    ) -> Result<ResultResponse> {
        let id = id.into();
        let span = tracing::info_span!(
            "task_id_result_get",
            otel.kind = "internal",
            otel.status_code = field::Empty,
            error.type = field::Empty,
            tiledb.task.id = id.as_str(),
        );
        let result = async {
            Ok(match self.result(&id, accept_encoding, false).await? {
                ResultOutcome::Ready { content_type, body } => ResultResponse::Ready {
                    content_type,
                    body: body.bytes().await?,
                },
                ResultOutcome::Pending { retry_after } => ResultResponse::Running { retry_after },
                ResultOutcome::NotAvailable { body } => ResultResponse::NotAvailable { body },
            })
        }
        .instrument(span.clone())
        .await;
        telemetry::record_result(&span, &result);
        result
    }

    /// A result poll and what its answer means; with `stream`, a ready body is left unread.
    pub(crate) async fn result(
        &self,
        id: &TaskId,
        accept_encoding: Option<&str>,
        stream: bool,
    ) -> Result<ResultOutcome> {
        check_segment("task id", id.as_str())?;
        let mut req = self.request(
            "/v1/task/{id}/result",
            vec!["task".into(), id.as_str().into(), "result".into()],
        );
        req.task_id = Some(id.clone());
        req.accept_encoding = accept_encoding.map(str::to_owned);
        // "Not stored, expired, or failed": an answer, not a failed request.
        req.expected = Some(StatusCode::NOT_FOUND);
        let reply = if stream {
            self.transport.send_streaming(&req).await?
        } else {
            self.transport.send(&req).await?
        };
        match reply.status {
            // A stored JSON result is never zero bytes (no rows is `[]`): an empty 200 is a
            // broken or truncated answer, never no rows. (Other formats keep their own rules.)
            StatusCode::OK => {
                let content_type = reply.content_type();
                let body = reply.body.with_task_id(Some(id));
                let json = content_type
                    .as_deref()
                    .and_then(ResultFormat::from_content_type)
                    .is_none_or(|f| f == ResultFormat::Json);
                Ok(ResultOutcome::Ready {
                    content_type,
                    body: if json {
                        body.require_content(
                            "GET /v1/task/{id}/result",
                            "a stored JSON result (no rows is `[]`)",
                        )
                    } else {
                        body
                    },
                })
            }
            StatusCode::ACCEPTED => Ok(ResultOutcome::Pending {
                retry_after: reply.retry_after(),
            }),
            StatusCode::NOT_FOUND => {
                // A 404 body is explanation only: a failure reading it loses nothing.
                let body = reply.bytes().await.unwrap_or_default();
                Ok(ResultOutcome::NotAvailable {
                    body: serde_json::from_slice(&body).ok(),
                })
            }
            _ => Err(reply.into_api_error().await),
        }
    }

    /// `GET /v1/tasks`: one page of tasks matching `query`. For every page as a stream, see
    /// [`Client::tasks`](crate::Client::tasks).
    pub async fn tasks_get(&self, query: &TasksQuery) -> Result<ArrayTaskData> {
        self.clone().page(query.clone()).await
    }

    /// `tasks_get` as a `'static` future whose span is made now, as a child of the current span
    /// (a prefetch spawns it, and its span must still be the listing's child).
    pub(crate) fn page(
        self,
        query: TasksQuery,
    ) -> impl Future<Output = Result<ArrayTaskData>> + Send + 'static {
        let span = tracing::info_span!(
            "tasks_get",
            otel.kind = "internal",
            otel.status_code = field::Empty,
            error.type = field::Empty,
            tiledb.page = telemetry::int(query.page.unwrap_or(1)),
            tiledb.per_page = query.per_page.map(telemetry::int),
            tiledb.tasks = field::Empty,
            tiledb.total_pages = field::Empty,
        );
        let record = span.clone();
        async move {
            let result = self.page_untraced(&query).await;
            match &result {
                Ok(data) => {
                    record.record("tiledb.tasks", telemetry::int(data.array_tasks.len()));
                    if let Some(t) = data.pagination_metadata.and_then(|m| m.total_pages) {
                        record.record("tiledb.total_pages", telemetry::int(t));
                    }
                }
                Err(e) => telemetry::record_failure(&record, &telemetry::error_type(e)),
            }
            result
        }
        .instrument(span)
    }

    async fn page_untraced(&self, query: &TasksQuery) -> Result<ArrayTaskData> {
        let mut req = self.request("/v1/tasks", vec!["tasks".into()]);
        req.query = query.to_pairs()?;
        let route = "GET /v1/tasks";
        let reply = only_200(self.transport.send(&req).await?, route).await?;
        let body = reply.bytes().await?;
        if body.is_empty() {
            return Err(empty_body_error(
                route,
                "a page of tasks (an ArrayTaskData)",
                None,
            ));
        }
        DecodeError::json("ArrayTaskData", &body, None).map_err(|e| self.scrubbed(e))
    }

    /// A decoding error without the client's own secrets in the body it quotes.
    fn scrubbed(&self, e: Error) -> Error {
        match e {
            Error::Decode(mut d) => {
                d.snippet = d.snippet.map(|s| self.transport.scrub(&s));
                Error::Decode(d)
            }
            other => other,
        }
    }

    /// Text a server sent (a task's status message) without the client's own secrets.
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.transport.scrub(text)
    }
}

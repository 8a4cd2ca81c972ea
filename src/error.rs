//! One error type for the crate, with accessors that answer the questions callers ask of a failure:
//! may I retry it, what did the server say, and which task was it about.

use std::fmt;
use std::time::Duration;

use crate::model::{ArrayTaskStatus, ErrorBody, InvalidQuery};
use crate::policy::TRANSIENT_STATUSES;
use crate::task_id::TaskId;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How many bytes of an unexpected body an error keeps, so that a huge HTML page does not end up
/// in a log line.
pub(crate) const SNIPPET_LIMIT: usize = 512;

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with an error status.
    #[error(transparent)]
    Api(Box<ApiError>),

    /// The request did not get an answer: connect, reset, timeout or body transfer.
    #[error(transparent)]
    Transport(Box<TransportError>),

    /// A wait ran past its deadline. The task may still be running: resume it with
    /// [`Client::task`](crate::Client::task).
    #[error(
        "timed out after {waited:?} and {polls} polls{}",
        task_suffix(task_id.as_ref())
    )]
    Timeout {
        /// The task waited for, if the service had named it.
        task_id: Option<TaskId>,
        /// How long the wait lasted.
        waited: Duration,
        /// How many times the result was polled.
        polls: u32,
    },

    /// A body could not be read as what it should be.
    #[error(transparent)]
    Decode(Box<DecodeError>),

    /// An argument was rejected before any request was sent.
    #[error("invalid argument `{argument}`: {reason}")]
    InvalidArgument {
        /// Which argument.
        argument: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The client's configuration is unusable.
    #[error("configuration error: {0}")]
    Config(String),

    /// The task ended without a result: failed, cancelled, or no resources.
    #[error("task {task_id} ended {status}{}", message_suffix(message.as_deref()))]
    TaskFailed {
        /// The task.
        task_id: TaskId,
        /// Its final status.
        status: ArrayTaskStatus,
        /// Its `status_message`, the reason the service gives.
        message: Option<String>,
    },

    /// The task's result was not stored, or has expired (a 404 on its result).
    #[error("the result of task {task_id} was not stored or has expired")]
    ResultNotAvailable {
        /// The task.
        task_id: TaskId,
        /// The error body the service sent with its 404.
        body: Option<ErrorBody>,
    },

    /// The service broke the protocol: a page repeated, a content type contradicting the format
    /// asked for, a status the route does not define.
    #[error("protocol error: {0}")]
    Protocol(String),

    /// A task listing stopped; the remaining tasks can be listed from `resume_page` on.
    #[error("listing tasks stopped at page {resume_page}: {source}")]
    Listing {
        /// The page to start from to list the rest.
        resume_page: u64,
        /// Why it stopped.
        #[source]
        source: Box<Error>,
    },

    /// Redirects went wrong: too many, or one without a usable `Location`.
    #[error("redirect error: {0}")]
    Redirect(String),

    /// A body read into memory grew past its [`TransferPolicy`](crate::policy::TransferPolicy)
    /// limit; the error names the limit.
    #[error(transparent)]
    TooLarge(Box<TooLargeError>),
}

fn task_suffix(id: Option<&TaskId>) -> String {
    id.map(|id| format!(" waiting for task {id}"))
        .unwrap_or_default()
}

fn message_suffix(message: Option<&str>) -> String {
    message.map(|m| format!(": {m}")).unwrap_or_default()
}

/// An error status from the service, with what its body said.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The TileDB error code, when the body was an `Error` document.
    pub code: Option<i64>,
    /// The service's message, or a snippet of a body that was not an `Error` document.
    pub message: String,
    /// The service's request id.
    pub request_id: Option<String>,
    /// The task the request created or was about (`X-TILEDB-CLOUD-TASK-ID`).
    pub task_id: Option<TaskId>,
    /// How long the service asked us to wait, from `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the service answered {}", self.status)?;
        if let Some(code) = self.code {
            write!(f, " (code {code})")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " [request {id}]")?;
        }
        if let Some(id) = &self.task_id {
            write!(f, " [task {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Up to [`SNIPPET_LIMIT`] bytes of `body`, as text, cut at a character boundary.
pub(crate) fn snippet(body: &[u8]) -> String {
    let cut = &body[..body.len().min(SNIPPET_LIMIT)];
    let text = String::from_utf8_lossy(cut);
    let mut text = text.trim().to_owned();
    if body.len() > SNIPPET_LIMIT {
        text.push('…');
    }
    text
}

/// A request that got no complete answer.
#[derive(Debug, thiserror::Error)]
#[error("{method} {url} failed{}: {source}", task_suffix(task_id.as_ref()))]
pub struct TransportError {
    /// The request's method.
    pub method: String,
    /// The request's URL (never carries credentials).
    pub url: String,
    /// The task, if the service had named it before the failure.
    pub task_id: Option<TaskId>,
    /// What failed: the HTTP client's error, or the
    /// [`TransferPolicy`](crate::policy::TransferPolicy)'s verdict on a body that stalled or
    /// trickled.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync + 'static>,
    cause: TransportCause,
    transient: bool,
    connect: bool,
}

/// Why a request got no complete answer (the part of it the predicates answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportCause {
    /// No answer, or no more of the body, in time.
    Timeout,
    /// Anything else.
    Other,
}

impl TransportError {
    /// A failure reqwest reported, classified.
    pub(crate) fn from_reqwest(
        method: &str,
        url: &str,
        task_id: Option<TaskId>,
        e: reqwest::Error,
    ) -> TransportError {
        let connect = e.is_connect();
        let cause = if e.is_timeout() {
            TransportCause::Timeout
        } else {
            TransportCause::Other
        };
        // A body that failed while being read whole (reset, cut short) is reported by reqwest as a
        // decode error, not a body error; the transport retries it like any other.
        let transient = connect || e.is_timeout() || e.is_request() || e.is_body() || e.is_decode();
        TransportError {
            method: method.to_owned(),
            url: url.to_owned(),
            task_id,
            source: Box::new(e),
            cause,
            transient,
            connect,
        }
    }

    /// A failure found by this crate itself (a body that stalled), with its cause.
    pub(crate) fn new(
        method: &str,
        url: &str,
        task_id: Option<TaskId>,
        cause: TransportCause,
        inner: Box<dyn std::error::Error + Send + Sync + 'static>,
    ) -> TransportError {
        TransportError {
            method: method.to_owned(),
            url: url.to_owned(),
            task_id,
            source: inner,
            cause,
            transient: true,
            connect: false,
        }
    }

    /// Whether it ran out of time: waiting for the answer, a body that stopped sending, or one
    /// below the minimum rate.
    pub fn is_timeout(&self) -> bool {
        self.cause == TransportCause::Timeout
    }

    /// Whether no connection could be made: the request did not reach the service.
    pub fn is_connect(&self) -> bool {
        self.connect
    }

    fn is_transient(&self) -> bool {
        self.transient
    }
}

/// A body read into memory that grew past its limit (counted after decompression), so it was not
/// read further.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} is larger than {limit} bytes (the limit {setting}){}",
    task_suffix(task_id.as_ref())
)]
#[non_exhaustive]
pub struct TooLargeError {
    what: String,
    setting: &'static str,
    limit: u64,
    task_id: Option<TaskId>,
}

impl TooLargeError {
    /// What was being read (`GET <url>`, one row of a result).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The setting whose limit was hit (`TransferPolicy::max_response_bytes`, …).
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// The limit, in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The task it was about, if any.
    pub fn task_id(&self) -> Option<&TaskId> {
        self.task_id.as_ref()
    }
}

/// A body that was not what it should be.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode {what}{}: {message} at `{path}`; body starts: {snippet:?}", task_suffix(task_id.as_ref()))]
pub struct DecodeError {
    /// What was being decoded (`ArrayTask`, `JSON rows`, …).
    pub what: String,
    /// The JSON path that failed (`array_tasks[3].status`), or `.` for the whole body.
    pub path: String,
    /// The decoder's message.
    pub message: String,
    /// The start of the body, at most 512 bytes.
    pub snippet: String,
    /// The task it was about, if any.
    pub task_id: Option<TaskId>,
}

impl DecodeError {
    /// Decodes `body` as JSON of type `T`, or says where and why it failed.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(
        what: &str,
        body: &[u8],
        task_id: Option<&TaskId>,
    ) -> Result<T> {
        let decode_error = |path: String, message: String| {
            Error::Decode(Box::new(DecodeError {
                what: what.to_owned(),
                path,
                message,
                snippet: snippet(body),
                task_id: task_id.cloned(),
            }))
        };
        // The fast path: plain serde_json (which also refuses trailing data after the value).
        // Tracking the path costs about as much again, so it is paid only to explain a failure.
        let plain = match serde_json::from_slice(body) {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        // The second pass only finds where it failed; a body that fails only for trailing data
        // after its value is wrong as a whole (`[1][2]` is not the rows `[1]`).
        let path = match serde_path_to_error::deserialize::<_, T>(
            &mut serde_json::Deserializer::from_slice(body),
        ) {
            Err(e) => e.path().to_string(),
            Ok(_) => ".".to_owned(),
        };
        Err(decode_error(path, plain.to_string()))
    }
}

impl Error {
    /// Whether trying the same call again may succeed: a transient status (408, 429, 500, 502, 503,
    /// 504) or a connect, reset or timeout failure. A [`Error::Timeout`] is not retryable as such:
    /// resume the task instead.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(e) => TRANSIENT_STATUSES.contains(&e.status),
            Error::Transport(e) => e.is_transient(),
            Error::Listing { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// Whether it ran out of time: a wait past its deadline ([`Error::Timeout`]), or a request
    /// whose answer did not come, stopped sending or trickled
    /// ([`TransportError::is_timeout`]).
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout { .. } => true,
            Error::Transport(e) => e.is_timeout(),
            Error::Listing { source, .. } => source.is_timeout(),
            _ => false,
        }
    }

    /// Whether no connection could be made: the request did not reach the service.
    pub fn is_connect(&self) -> bool {
        match self {
            Error::Transport(e) => e.is_connect(),
            Error::Listing { source, .. } => source.is_connect(),
            _ => false,
        }
    }

    /// The HTTP status the service answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::ResultNotAvailable { .. } => Some(404),
            Error::Listing { source, .. } => source.status(),
            _ => None,
        }
    }

    /// The service's request id, to quote to support.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(e) => e.request_id.as_deref(),
            Error::ResultNotAvailable { body, .. } => {
                body.as_ref().and_then(|b| b.request_id.as_deref())
            }
            Error::Listing { source, .. } => source.request_id(),
            _ => None,
        }
    }

    /// The task the failure is about, when the service had named one: resume it with
    /// [`Client::task`](crate::Client::task) rather than submitting the query again.
    pub fn task_id(&self) -> Option<&TaskId> {
        match self {
            Error::Api(e) => e.task_id.as_ref(),
            Error::Transport(e) => e.task_id.as_ref(),
            Error::Decode(e) => e.task_id.as_ref(),
            Error::TooLarge(e) => e.task_id.as_ref(),
            Error::Timeout { task_id, .. } => task_id.as_ref(),
            Error::TaskFailed { task_id, .. } | Error::ResultNotAvailable { task_id, .. } => {
                Some(task_id)
            }
            Error::Listing { source, .. } => source.task_id(),
            _ => None,
        }
    }

    /// For a listing error, the page to resume from.
    pub fn resume_page(&self) -> Option<u64> {
        match self {
            Error::Listing { resume_page, .. } => Some(*resume_page),
            _ => None,
        }
    }

    /// A body past its size limit: `what` was being read, `setting` names the limit.
    pub(crate) fn too_large(
        what: String,
        setting: &'static str,
        limit: u64,
        task_id: Option<TaskId>,
    ) -> Error {
        Error::TooLarge(Box::new(TooLargeError {
            what,
            setting,
            limit,
            task_id,
        }))
    }

    pub(crate) fn invalid(argument: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            argument,
            reason: reason.into(),
        }
    }

    /// The same error, now known to be about `task_id` (set where it was unknown).
    pub(crate) fn with_task_id(mut self, id: &TaskId) -> Error {
        let slot = match &mut self {
            Error::Api(e) => &mut e.task_id,
            Error::Transport(e) => &mut e.task_id,
            Error::Decode(e) => &mut e.task_id,
            Error::TooLarge(e) => &mut e.task_id,
            Error::Timeout { task_id, .. } => task_id,
            _ => return self,
        };
        if slot.is_none() {
            *slot = Some(id.clone());
        }
        self
    }
}

impl From<InvalidQuery> for Error {
    fn from(e: InvalidQuery) -> Self {
        Error::InvalidArgument {
            argument: e.parameter,
            reason: e.reason,
        }
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}

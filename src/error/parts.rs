//! The parts of [`Error`]: one type per kind of failure, each `#[non_exhaustive]` with accessors
//! (so a field can be added without breaking anyone), each `Display` naming its own layer only.
//! A part's cause, if it has one, is its `source()`, never repeated in its text.

use std::fmt;
use std::time::Duration;

use super::Error;
use crate::model::{ArrayTaskStatus, ErrorBody};
use crate::task_id::TaskId;

/// ` (task X)` when the task is known.
pub(super) fn task_suffix(id: Option<&TaskId>) -> String {
    id.map(|id| format!(" (task {id})")).unwrap_or_default()
}

/// An error status from the service, with what its body said.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: Option<i64>,
    pub(crate) message: String,
    pub(crate) request_id: Option<String>,
    pub(crate) task_id: Option<TaskId>,
    pub(crate) retry_after: Option<Duration>,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The TileDB error code, when the body was an `Error` document.
    pub fn code(&self) -> Option<i64> {
        self.code
    }

    /// The service's message, or a bounded snippet of a body that was not an `Error` document
    /// (the client's own credentials scrubbed from it).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The service's request id, to quote to support.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The task the request created or was about (`X-TILEDB-CLOUD-TASK-ID`).
    pub fn task_id(&self) -> Option<&TaskId> {
        self.task_id.as_ref()
    }

    /// How long the service asked us to wait, from `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
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

/// A wait that ran past its deadline. The task may still be running: resume it with
/// [`Client::task`](crate::Client::task).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TimeoutError {
    pub(crate) task_id: Option<TaskId>,
    pub(crate) waited: Duration,
    pub(crate) polls: u32,
}

impl TimeoutError {
    pub(crate) fn new(task_id: Option<TaskId>, waited: Duration, polls: u32) -> TimeoutError {
        TimeoutError {
            task_id,
            waited,
            polls,
        }
    }

    /// The task waited for, if the service had named it.
    pub fn task_id(&self) -> Option<&TaskId> {
        self.task_id.as_ref()
    }

    /// How long the wait lasted.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// How many times the result was polled.
    pub fn polls(&self) -> u32 {
        self.polls
    }
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:?} and {} polls",
            self.waited, self.polls
        )?;
        if let Some(id) = &self.task_id {
            write!(f, " waiting for task {id}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TimeoutError {}

/// An argument rejected before any request was sent.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InvalidArgumentError {
    pub(crate) argument: &'static str,
    pub(crate) reason: String,
}

impl InvalidArgumentError {
    /// Which argument (`per_page`, `namespace`, …).
    pub fn argument(&self) -> &'static str {
        self.argument
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for InvalidArgumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid argument `{}`: {}", self.argument, self.reason)
    }
}

impl std::error::Error for InvalidArgumentError {}

/// An unusable configuration, naming where the setting came from (a builder method, an
/// environment variable, or a file and key); never the value of a secret.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConfigError {
    pub(crate) origin: Option<String>,
    pub(crate) message: String,
}

impl ConfigError {
    pub(crate) fn new(origin: Option<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            origin,
            message: message.into(),
        }
    }

    /// Where the setting came from: `TILEDB_REST_HOST`, `/home/me/.tiledb/cloud.json, key
    /// "host"`, `ClientBuilder::host`…; `None` when it has no single source.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// What is wrong, and the expected form.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(origin) => write!(f, "configuration error in {origin}: {}", self.message),
            None => write!(f, "configuration error: {}", self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A task that ended without a result: failed, cancelled, or no resources.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TaskFailedError {
    pub(crate) task_id: TaskId,
    pub(crate) status: ArrayTaskStatus,
    pub(crate) message: Option<String>,
}

impl TaskFailedError {
    pub(crate) fn new(
        task_id: TaskId,
        status: ArrayTaskStatus,
        message: Option<String>,
    ) -> TaskFailedError {
        TaskFailedError {
            task_id,
            status,
            message,
        }
    }

    /// The task.
    pub fn task_id(&self) -> &TaskId {
        &self.task_id
    }

    /// Its final status.
    pub fn status(&self) -> &ArrayTaskStatus {
        &self.status
    }

    /// Its `status_message`, the reason the service gives.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

impl fmt::Display for TaskFailedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {} ended {}", self.task_id, self.status)?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TaskFailedError {}

/// A task's result that was not stored, or has expired (a 404 on its result).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResultNotAvailableError {
    pub(crate) task_id: TaskId,
    pub(crate) body: Option<ErrorBody>,
}

impl ResultNotAvailableError {
    pub(crate) fn new(task_id: TaskId, body: Option<ErrorBody>) -> ResultNotAvailableError {
        ResultNotAvailableError { task_id, body }
    }

    /// The task.
    pub fn task_id(&self) -> &TaskId {
        &self.task_id
    }

    /// The error body the service sent with its 404.
    pub fn body(&self) -> Option<&ErrorBody> {
        self.body.as_ref()
    }
}

impl fmt::Display for ResultNotAvailableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the result of task {} was not stored or has expired",
            self.task_id
        )
    }
}

impl std::error::Error for ResultNotAvailableError {}

/// The service broke the protocol: a page repeated, a content type contradicting the format asked
/// for, a status the route does not define. Also a redirect that went wrong (too many, or one
/// without a usable `Location`): see [`Error::Redirect`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProtocolError {
    pub(crate) message: String,
}

impl ProtocolError {
    pub(crate) fn new(message: impl Into<String>) -> ProtocolError {
        ProtocolError {
            message: message.into(),
        }
    }

    /// What the service did wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "protocol error: {}", self.message)
    }
}

impl std::error::Error for ProtocolError {}

/// Redirects that went wrong: too many, or one without a usable `Location`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedirectError {
    pub(crate) message: String,
}

impl RedirectError {
    pub(crate) fn new(message: impl Into<String>) -> RedirectError {
        RedirectError {
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redirect error: {}", self.message)
    }
}

impl std::error::Error for RedirectError {}

/// A task listing that stopped: the remaining tasks can be listed from
/// [`resume_page`](Self::resume_page) on. Why it stopped is its `source()` (and
/// [`error`](Self::error)).
#[derive(Debug)]
#[non_exhaustive]
pub struct ListingError {
    pub(crate) resume_page: u64,
    pub(crate) source: Error,
}

impl ListingError {
    /// The first page whose tasks were not all yielded.
    pub fn resume_page(&self) -> u64 {
        self.resume_page
    }

    /// Why the listing stopped (also its `source()`).
    pub fn error(&self) -> &Error {
        &self.source
    }

    /// Why the listing stopped, owned.
    pub fn into_error(self) -> Error {
        self.source
    }
}

impl fmt::Display for ListingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "listing tasks stopped at page {}", self.resume_page)
    }
}

impl std::error::Error for ListingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

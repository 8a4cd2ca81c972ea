//! One error type for the crate, with accessors that answer the questions callers ask of a failure:
//! may I retry it, did it time out, what did the server say, and which task was it about.
//!
//! Each kind of failure is its own type (`parts.rs`, `transport.rs`, `decode.rs`), all
//! `#[non_exhaustive]` with accessors, so that adding a detail is never a breaking change. Each
//! `Display` names its own layer only; the cause is its `source()`. Print the whole chain with
//! [`Error::report`] (`report.rs`).

use std::time::Duration;

use crate::model::InvalidQuery;
use crate::policy::TRANSIENT_STATUSES;
use crate::task_id::TaskId;

mod decode;
mod lost;
mod parts;
mod report;
mod transport;

pub use decode::DecodeError;
pub(crate) use decode::{scrub_values, snippet};
pub use lost::OutcomeUnknownError;
pub use parts::{
    ApiError, ConfigError, InvalidArgumentError, ListingError, ProtocolError, RedirectError,
    ResultNotAvailableError, TaskFailedError, TimeoutError,
};
pub use report::Report;
pub use transport::{TransportCause, TransportError};

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong. Match on the kind, then ask the part (or [`Error`]'s own
/// predicates) for details.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with an error status.
    #[error(transparent)]
    Api(Box<ApiError>),

    /// The request did not get a complete answer: connect, DNS, TLS, reset, timeout, body transfer.
    #[error(transparent)]
    Transport(Box<TransportError>),

    /// A wait ran past its deadline. The task may still be running: resume it with
    /// [`Client::task`](crate::Client::task).
    #[error(transparent)]
    Timeout(Box<TimeoutError>),

    /// A body could not be read as what it should be.
    #[error(transparent)]
    Decode(Box<DecodeError>),

    /// An argument was rejected before any request was sent.
    #[error(transparent)]
    InvalidArgument(Box<InvalidArgumentError>),

    /// The client's configuration is unusable; the error names where the setting came from.
    #[error(transparent)]
    Config(Box<ConfigError>),

    /// The task ended without a result: failed, cancelled, or no resources.
    #[error(transparent)]
    TaskFailed(Box<TaskFailedError>),

    /// The task's result was not stored, or has expired (a 404 on its result).
    #[error(transparent)]
    ResultNotAvailable(Box<ResultNotAvailableError>),

    /// The service broke the protocol: a page repeated, a content type contradicting the format
    /// asked for, a status the route does not define.
    #[error(transparent)]
    Protocol(Box<ProtocolError>),

    /// A task listing stopped; the remaining tasks can be listed from its `resume_page` on.
    #[error(transparent)]
    Listing(Box<ListingError>),

    /// Redirects went wrong: too many, or one without a usable `Location`.
    #[error(transparent)]
    Redirect(Box<RedirectError>),

    /// The answer to an SQL submission was lost and its task was not found afterwards: the query
    /// may or may not have run. Never retryable.
    #[error(transparent)]
    OutcomeUnknown(Box<OutcomeUnknownError>),
}

impl Error {
    /// The error and every cause under it, for printing: `{}` on one line, `{:#}` one cause a
    /// line. See [`Report`].
    ///
    /// ```
    /// # fn demo(e: tiledb_cloud_tasks::Error) {
    /// eprintln!("error: {}", e.report());
    /// # }
    /// ```
    pub fn report(&self) -> Report<'_> {
        Report::new(self)
    }

    /// Whether trying the same call again may succeed: a transient status (408, 429, 500, 502, 503,
    /// 504) or a connect, reset or timeout failure. A [`Error::Timeout`] is not retryable as such:
    /// resume the task instead.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(e) => TRANSIENT_STATUSES.contains(&e.status),
            Error::Transport(e) => e.is_transient(),
            Error::Listing(e) => e.source.is_retryable(),
            _ => false,
        }
    }

    /// Whether time ran out: a wait past its deadline ([`Error::Timeout`]), or a request that got
    /// no answer within its time limit.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout(_) => true,
            Error::Transport(e) => e.is_timeout(),
            Error::Listing(e) => e.source.is_timeout(),
            _ => false,
        }
    }

    /// Whether no connection could be made (refused, DNS, TLS handshake, connect timeout).
    pub fn is_connect(&self) -> bool {
        match self {
            Error::Transport(e) => e.is_connect(),
            Error::Listing(e) => e.source.is_connect(),
            _ => false,
        }
    }

    /// The HTTP status the service answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::ResultNotAvailable(_) => Some(404),
            Error::Listing(e) => e.source.status(),
            _ => None,
        }
    }

    /// The service's request id, to quote to support.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(e) => e.request_id(),
            Error::ResultNotAvailable(e) => e.body().and_then(|b| b.request_id.as_deref()),
            Error::Listing(e) => e.source.request_id(),
            _ => None,
        }
    }

    /// How long the service asked to wait before trying again (`Retry-After`), if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api(e) => e.retry_after,
            Error::Listing(e) => e.source.retry_after(),
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
            Error::Timeout(e) => e.task_id.as_ref(),
            Error::TaskFailed(e) => Some(&e.task_id),
            Error::ResultNotAvailable(e) => Some(&e.task_id),
            Error::Listing(e) => e.source.task_id(),
            _ => None,
        }
    }

    /// For a listing error, the page to resume from.
    pub fn resume_page(&self) -> Option<u64> {
        match self {
            Error::Listing(e) => Some(e.resume_page),
            _ => None,
        }
    }

    pub(crate) fn invalid(argument: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidArgument(Box::new(InvalidArgumentError {
            argument,
            reason: reason.into(),
        }))
    }

    /// A configuration error; `origin` names where the setting came from.
    pub(crate) fn config(origin: Option<String>, message: impl Into<String>) -> Error {
        Error::Config(Box::new(ConfigError::new(origin, message)))
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Error {
        Error::Protocol(Box::new(ProtocolError::new(message)))
    }

    pub(crate) fn redirect(message: impl Into<String>) -> Error {
        Error::Redirect(Box::new(RedirectError::new(message)))
    }

    pub(crate) fn timeout(task_id: Option<TaskId>, waited: Duration, polls: u32) -> Error {
        Error::Timeout(Box::new(TimeoutError::new(task_id, waited, polls)))
    }

    pub(crate) fn listing(resume_page: u64, source: Error) -> Error {
        Error::Listing(Box::new(ListingError {
            resume_page,
            source,
        }))
    }

    /// The same error, now known to be about `task_id` (set where it was unknown).
    pub(crate) fn with_task_id(mut self, id: &TaskId) -> Error {
        let slot = match &mut self {
            Error::Api(e) => &mut e.task_id,
            Error::Transport(e) => &mut e.task_id,
            Error::Decode(e) => &mut e.task_id,
            Error::Timeout(e) => &mut e.task_id,
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
        Error::invalid(e.parameter, e.reason)
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}

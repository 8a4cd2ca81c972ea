//! Errors of the local server: [`ServerError`] when it cannot start, and the HTTP error answers it
//! sends (an [`ErrorCode`] plus a message, turned into an `Error` JSON body by the routes' last
//! middleware, which is the one place that knows the request id).

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::model::TASK_ID_HEADER;

/// Why a [`LocalServer`](super::LocalServer) could not start.
///
/// Each variant names the thing that was wrong (the address, the directory, the setting), so the
/// message alone is enough to fix the configuration. Secrets never appear in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The listening socket could not be bound (port taken, address not local, no permission).
    #[error("could not listen on {addr}: {cause}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// The data directory could not be created, written or used.
    #[error("data directory {path} is unusable: {reason}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What went wrong with it.
        reason: String,
    },
    /// The durable task store (`tasks.sqlite`) could not be opened or recovered.
    #[error("task store {path} could not be opened: {reason}")]
    Store {
        /// The store's file.
        path: PathBuf,
        /// What SQLite said.
        reason: String,
    },
    /// A setting of the [`ServerConfig`](super::ServerConfig) is invalid.
    #[error("invalid server configuration: {0}")]
    Config(String),
}

/// The `code` of every `Error` body the server sends; stable, listed in the module docs.
///
/// The numbers are this server's own (the real service's codes are not documented); they let a
/// client tell apart, say, "result expired" from "task unknown" without parsing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub(crate) enum ErrorCode {
    /// An HTTP-level error the server did not anticipate (kept generic).
    Http = 1000,
    /// No credentials, wrong credentials, or unreadable credentials.
    Unauthenticated = 1001,
    /// The namespace exists for someone else, or not at all.
    NamespaceForbidden = 1002,
    /// No such route.
    RouteNotFound = 1003,
    /// The route exists, not with this method.
    MethodNotAllowed = 1004,
    /// No task with that id is visible to the caller.
    TaskNotFound = 1005,
    /// The task has no result to give: not stored, expired, or the task failed.
    ResultUnavailable = 1006,
    /// The request body is not valid `SQLParameters` JSON.
    MalformedBody = 1007,
    /// The request body is larger than the configured limit.
    BodyTooLarge = 1008,
    /// A query-string or body parameter has an invalid value.
    InvalidParameter = 1009,
    /// The server cannot produce the requested `result_format`.
    UnsupportedFormat = 1010,
    /// Every query slot is taken; nothing was recorded, retry after `Retry-After`.
    Busy = 1011,
    /// The server is shutting down; nothing was recorded.
    ShuttingDown = 1012,
    /// SQLite rejected or failed the query.
    QueryFailed = 1013,
    /// The sandbox refused a statement (ATTACH, PRAGMA, extension loading, VACUUM).
    QueryNotAuthorized = 1014,
    /// The query ran past the time limit.
    QueryTimeout = 1015,
    /// The result exceeded the size limit.
    ResultTooLarge = 1016,
    /// The query was interrupted because the server shut down.
    QueryInterrupted = 1017,
    /// A fault of the server itself (its store failed, a worker panicked).
    Internal = 1018,
    /// The request head did not arrive within the header timeout (408).
    HeaderTimeout = 1019,
    /// The request URI is longer than the server reads (414).
    UriTooLong = 1020,
    /// The request head is larger than the server's limit (431).
    HeadersTooLarge = 1021,
    /// Every connection is busy; nothing was read; retry after `Retry-After` (503).
    TooManyConnections = 1022,
    /// The request head is not valid HTTP/1.1 (400).
    MalformedHead = 1023,
    /// A fault rule answered instead of the route (see `faults.rs`).
    FaultInjected = 1024,
    /// The query ran out of the server's memory limit for queries (400).
    MemoryLimit = 1025,
    /// A statement would expand past what the planner may copy (400).
    TooExpensive = 1026,
    /// The admin surface refused credentials that are not the admin key (a user's), or is off.
    NotAdmin = 1027,
}

impl ErrorCode {
    /// The number sent on the wire.
    pub(crate) fn as_i64(self) -> i64 {
        self as i64
    }

    /// The code for an error answer produced outside our handlers (axum's own 404/405/413...).
    pub(crate) fn for_status(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::NOT_FOUND => ErrorCode::RouteNotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
            _ => ErrorCode::Http,
        }
    }
}

/// What the finishing middleware needs to write an `Error` body: travels in the response's
/// extensions because only that middleware knows the request id.
#[derive(Debug, Clone)]
pub(crate) struct ErrorInfo {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

/// An error answer of a route: status, code, message, and the headers a client needs to act on
/// it (the task id once a task exists, `Retry-After` when busy).
#[derive(Debug)]
pub(crate) struct ApiFailure {
    pub(crate) status: StatusCode,
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    pub(crate) task_id: Option<String>,
    pub(crate) retry_after_secs: Option<u64>,
}

impl ApiFailure {
    /// An error answer without task id or retry hint.
    pub(crate) fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiFailure {
            status,
            code,
            message: message.into(),
            task_id: None,
            retry_after_secs: None,
        }
    }

    /// 400 with [`ErrorCode::InvalidParameter`].
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ApiFailure::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidParameter,
            message,
        )
    }

    /// 404 with [`ErrorCode::TaskNotFound`]; says nothing about whether the id exists elsewhere.
    pub(crate) fn task_not_found(id: &str) -> Self {
        ApiFailure::new(
            StatusCode::NOT_FOUND,
            ErrorCode::TaskNotFound,
            format!("no task with id {}", shorten(id, 80)),
        )
    }

    /// 500 with [`ErrorCode::Internal`].
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        ApiFailure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            message,
        )
    }

    /// The same error, carrying the id of the task it concerns.
    pub(crate) fn with_task_id(mut self, id: &str) -> Self {
        self.task_id = Some(id.to_owned());
        self
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(id) = self.task_id.as_deref()
            && let Ok(value) = HeaderValue::from_str(id)
        {
            response.headers_mut().insert(TASK_ID_HEADER, value);
        }
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(ErrorInfo {
            code: self.code,
            message: self.message,
        });
        response
    }
}

/// `s` cut to at most `max` characters, so that echoing client input into a message stays small.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}

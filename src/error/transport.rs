//! [`TransportError`]: a request that got no complete answer, with its cause named
//! ([`TransportCause`]) and the underlying error as its `source()`.

use std::error::Error as StdError;
use std::fmt;

use super::parts::task_suffix;
use crate::task_id::TaskId;

/// Why a request got no complete answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportCause {
    /// No connection could be made (refused, unreachable).
    Connect,
    /// The host name could not be resolved.
    Dns,
    /// The TLS handshake failed (a certificate, or a peer that does not speak TLS).
    Tls,
    /// No answer (or no more of the body) within the time limit.
    Timeout,
    /// The connection broke after the request was sent: reset, or closed before the answer was
    /// complete.
    Interrupted,
    /// Anything else the HTTP client reported.
    Other,
}

impl TransportCause {
    fn describe(self, connect: bool) -> &'static str {
        match self {
            TransportCause::Connect => "could not connect",
            TransportCause::Dns => "could not resolve the host name",
            TransportCause::Tls => "the TLS handshake failed",
            TransportCause::Timeout if connect => "could not connect within the time limit",
            TransportCause::Timeout => "no answer within the time limit",
            TransportCause::Interrupted => "the connection broke before the answer was complete",
            TransportCause::Other => "the request failed",
        }
    }
}

/// A request that got no complete answer. Its `Display` names the request and the cause
/// ([`kind`](Self::kind)); the underlying error (`Connection refused (os error 111)`, `operation
/// timed out`, the TLS alert) is its `source()`.
#[non_exhaustive]
pub struct TransportError {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) task_id: Option<TaskId>,
    pub(crate) cause: TransportCause,
    /// No connection was made: the request was certainly not processed.
    pub(crate) connect: bool,
    pub(crate) transient: bool,
    pub(crate) inner: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("task_id", &self.task_id)
            .field("cause", &self.cause)
            .field("connect", &self.connect)
            .field("source", &self.inner)
            .finish()
    }
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
        let cause = classify(&e);
        // A body that failed while being read whole (reset, cut short) is reported by reqwest as
        // a decode error, not a body error; the transport retries it like any other.
        let transient = connect || e.is_timeout() || e.is_request() || e.is_body() || e.is_decode();
        TransportError {
            method: method.to_owned(),
            url: url.to_owned(),
            task_id,
            cause,
            connect,
            transient,
            inner: Some(Box::new(e)),
        }
    }

    /// A failure found by this crate itself (a body that stalled, for instance), with its cause.
    #[allow(dead_code)] // the constructor for failures reqwest does not report (issue 19)
    pub(crate) fn new(
        method: &str,
        url: &str,
        task_id: Option<TaskId>,
        cause: TransportCause,
        inner: Option<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> TransportError {
        TransportError {
            method: method.to_owned(),
            url: url.to_owned(),
            task_id,
            cause,
            connect: false,
            transient: true,
            inner,
        }
    }

    /// The request's method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request's URL (never carries credentials).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The task, if the service had named it before the failure.
    pub fn task_id(&self) -> Option<&TaskId> {
        self.task_id.as_ref()
    }

    /// Why the request failed.
    pub fn kind(&self) -> TransportCause {
        self.cause
    }

    /// Whether it ran out of time (connecting, waiting for the answer, or reading the body).
    pub fn is_timeout(&self) -> bool {
        self.cause == TransportCause::Timeout
    }

    /// Whether no connection was made (refused, DNS, TLS handshake, connect timeout): the request
    /// certainly did not reach the service.
    pub fn is_connect(&self) -> bool {
        self.connect
    }

    pub(crate) fn is_transient(&self) -> bool {
        self.transient
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}{}: {}",
            self.method,
            self.url,
            task_suffix(self.task_id.as_ref()),
            self.cause.describe(self.connect)
        )
    }
}

impl StdError for TransportError {
    /// The innermost error the HTTP client reported (`Connection refused (os error 111)`): the
    /// layers between it and this error only repeat the URL or say "error sending request".
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        let inner: &(dyn StdError + 'static) = self.inner.as_deref()?;
        Some(innermost(inner))
    }
}

fn innermost<'a>(e: &'a (dyn StdError + 'static)) -> &'a (dyn StdError + 'static) {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur
}

/// Every error in the chain from `e` on.
fn chain<'a>(
    e: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(e), |c: &&'a (dyn StdError + 'static)| (*c).source())
}

/// A rustls error, or an I/O error wrapping one (tokio-rustls nests them, and an I/O error's
/// `source()` skips what it wraps).
fn is_tls(e: &(dyn StdError + 'static)) -> bool {
    if e.is::<rustls::Error>() {
        return true;
    }
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => is_tls(inner),
        None => false,
    }
}

fn classify(e: &reqwest::Error) -> TransportCause {
    if e.is_timeout() {
        return TransportCause::Timeout;
    }
    // hyper-util names its connector's failures: "dns error", "tcp connect error".
    if chain(e).any(|c| c.to_string() == "dns error") {
        return TransportCause::Dns;
    }
    if chain(e).any(is_tls) {
        return TransportCause::Tls;
    }
    if e.is_connect() {
        return TransportCause::Connect;
    }
    if e.is_request() || e.is_body() || e.is_decode() {
        return TransportCause::Interrupted;
    }
    TransportCause::Other
}

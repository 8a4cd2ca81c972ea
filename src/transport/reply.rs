//! What comes back: [`Reply`] (a status, headers and a [`Payload`]), the body read whole or left
//! to stream, and the header values the transport reads itself (`Retry-After`, the task id).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::error::{ApiError, Error, Result, TransportError, snippet};
use crate::model::{ErrorBody, TASK_ID_HEADER};
use crate::task_id::TaskId;

/// How much of an error body is read; the rest is not needed to explain the error.
pub(super) const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A body: read whole, or left to stream. Whoever consumes it never sees reqwest: a failure while
/// reading becomes an [`Error::Transport`] naming the request (and its task, when known).
pub(crate) struct Payload {
    body: Body,
    task_id: Option<TaskId>,
    /// When set, the body must not be empty: it names the answer (`GET /v1/task/{id}/result`), for
    /// the protocol error an empty one becomes.
    required: Option<(&'static str, &'static str)>,
}

pub(super) enum Body {
    Full(Bytes),
    Streaming {
        /// Boxed: a response is large, and payloads travel inside results and outcomes.
        response: Box<reqwest::Response>,
        /// The method of the request that got this response (after redirects).
        method: Method,
    },
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the bytes: they are result data.
        match &self.body {
            Body::Full(b) => write!(f, "Payload({} bytes read)", b.len()),
            Body::Streaming { response, .. } => write!(f, "Payload(streaming {})", response.url()),
        }
    }
}

impl Payload {
    pub(super) fn new(body: Body, task_id: Option<TaskId>) -> Payload {
        Payload {
            body,
            task_id,
            required: None,
        }
    }

    /// A body already in memory.
    pub(crate) fn full(bytes: Bytes) -> Payload {
        Payload::new(Body::Full(bytes), None)
    }

    /// The same body, which must not be empty: read whole or streamed, an empty one (announced
    /// with `Content-Length: 0`, or ending before its first byte) is an [`Error::Protocol`] naming
    /// `answer`, what was `expected` and the task, never an empty result.
    pub(crate) fn require_content(
        mut self,
        answer: &'static str,
        expected: &'static str,
    ) -> Payload {
        self.required = Some((answer, expected));
        self
    }

    /// The task the body belongs to, for errors while reading it.
    pub(crate) fn with_task_id(mut self, id: Option<&TaskId>) -> Payload {
        if self.task_id.is_none() {
            self.task_id = id.cloned();
        }
        self
    }

    /// The whole body (read now, if it was left to stream).
    pub(crate) async fn bytes(self) -> Result<Bytes> {
        let bytes = match self.body {
            Body::Full(b) => b,
            Body::Streaming { response, method } => {
                let url = response.url().clone();
                response
                    .bytes()
                    .await
                    .map_err(|e| transport_error(&method, &url, self.task_id.clone(), e))?
            }
        };
        match self.required {
            Some((answer, expected)) if bytes.is_empty() => {
                Err(empty_body_error(answer, expected, self.task_id.as_ref()))
            }
            _ => Ok(bytes),
        }
    }

    /// The body, chunk by chunk (already decompressed).
    pub(crate) fn into_stream(self) -> BoxStream<'static, Result<Bytes>> {
        let task_id = self.task_id;
        let chunks = match self.body {
            Body::Full(b) => futures::stream::once(async move { Ok(b) }).boxed(),
            Body::Streaming { response, method } => {
                let url = response.url().clone();
                let task_id = task_id.clone();
                response
                    .bytes_stream()
                    .map(move |r| r.map_err(|e| transport_error(&method, &url, task_id.clone(), e)))
                    .boxed()
            }
        };
        let Some((answer, expected)) = self.required else {
            return chunks;
        };
        // Empty chunks are dropped, so "no chunk" and "no byte" are the same: the error.
        async_stream::stream! {
            let mut chunks = chunks;
            let mut any = false;
            while let Some(chunk) = chunks.next().await {
                match chunk {
                    Ok(c) if c.is_empty() => continue,
                    Ok(c) => {
                        any = true;
                        yield Ok(c);
                    }
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                }
            }
            if !any {
                yield Err(empty_body_error(answer, expected, task_id.as_ref()));
            }
        }
        .boxed()
    }

    /// At most `limit` bytes of the body; a failure mid-way keeps what came.
    pub(super) async fn read_limited(self, limit: usize) -> Bytes {
        match self.body {
            Body::Full(b) => b.slice(..b.len().min(limit)),
            Body::Streaming { response, .. } => read_limited(*response, limit).await,
        }
    }
}

/// A response that ended the retry loop: a success, or a status not worth (or out of) retrying.
/// Only `api.rs` reads it: the status and headers mean something only there.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) task_id: Option<TaskId>,
    pub(crate) body: Payload,
}

impl Reply {
    pub(crate) fn content_type(&self) -> Option<String> {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub(crate) fn retry_after(&self) -> Option<Duration> {
        retry_after_of(&self.headers)
    }

    /// The whole body (read now, if it was left to stream).
    pub(crate) async fn bytes(self) -> Result<Bytes> {
        self.body.bytes().await
    }

    /// The reply as an [`ApiError`] (for a status the caller does not expect).
    pub(crate) async fn into_api_error(self) -> Error {
        let status = self.status.as_u16();
        let task_id = self.task_id.clone();
        let retry_after = self.retry_after();
        let body = self.body.read_limited(ERROR_BODY_LIMIT).await;
        let mut e = api_error(status, &body, task_id);
        e.retry_after = retry_after;
        e.into()
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (relative to `now`). `None` for
/// anything else; a date in the past is zero.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate rather than fail.
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

pub(super) fn retry_after_of(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

pub(super) fn task_id_of(headers: &HeaderMap) -> Option<TaskId> {
    headers
        .get(TASK_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(TaskId::from)
}

/// Reads at most `limit` bytes of a body; an error mid-way keeps what came.
pub(super) async fn read_limited(r: reqwest::Response, limit: usize) -> Bytes {
    let mut out = Vec::new();
    let mut stream = r.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = limit - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    Bytes::from(out)
}

/// The protocol error of an answer whose body may not be empty and was.
pub(crate) fn empty_body_error(answer: &str, expected: &str, task_id: Option<&TaskId>) -> Error {
    Error::protocol(format!(
        "{answer} answered 200 with an empty body{}, where {expected} must be: the answer is \
         broken or was cut short",
        task_id
            .map(|t| format!(" for task {t}"))
            .unwrap_or_default()
    ))
}

pub(super) fn transport_error(
    method: &Method,
    url: &Url,
    task_id: Option<TaskId>,
    source: reqwest::Error,
) -> Error {
    Error::Transport(Box::new(TransportError::from_reqwest(
        method.as_str(),
        url.as_str(),
        task_id,
        source,
    )))
}

/// The error a status and its body stand for; the body may or may not be an `Error` document.
fn api_error(status: u16, body: &[u8], task_id: Option<TaskId>) -> ApiError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) if parsed.message.is_some() || parsed.code.is_some() => ApiError {
            status,
            code: parsed.code,
            message: parsed.message.unwrap_or_default(),
            request_id: parsed.request_id,
            task_id,
            retry_after: None,
        },
        _ => ApiError {
            status,
            code: None,
            message: if body.iter().all(u8::is_ascii_whitespace) {
                StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("no reason given")
                    .to_owned()
            } else {
                snippet(body)
            },
            request_id: None,
            task_id,
            retry_after: None,
        },
    }
}

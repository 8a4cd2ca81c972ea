//! The one place that sends: retries, `Retry-After`, redirects without leaking credentials, and one
//! tracing span per HTTP attempt. What an answer *means* is decided in `api.rs` alone; this module
//! only decides whether to try again (by the rules of [`RetryPolicy`]).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use tracing::{Instrument as _, field};
use url::Url;

use crate::auth::Credentials;
use crate::error::{ApiError, Error, Result, TransportError};
use crate::model::{API_KEY_HEADER, TASK_ID_HEADER};
use crate::policy::{AttemptOutcome, Clock, RetryPolicy};
use crate::task_id::TaskId;

/// How much of an error body is read; the rest is not needed to explain the error.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The most redirects one attempt follows.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// The least time an attempt is given, even at its deadline: enough for one round trip, so the
/// final poll a deadline allows can still be answered.
const MIN_ATTEMPT_TIME: Duration = Duration::from_secs(1);

/// Whether a request may be repeated freely (a GET) or creates a task (the SQL POST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Read,
    Submit,
}

/// One logical request, before retries and redirects.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: Method,
    /// The route's template, for the span name (`/v1/task/{id}`).
    pub(crate) route: &'static str,
    /// Path segments after `/v1`, each percent-encoded on the way out.
    pub(crate) segments: Vec<String>,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) body: Option<Bytes>,
    pub(crate) accept_encoding: Option<String>,
    pub(crate) kind: Kind,
    pub(crate) task_id: Option<TaskId>,
    pub(crate) timeout: Option<Duration>,
    /// When the caller stops waiting (on the client's clock): no attempt outlives it, and no retry
    /// starts after it.
    pub(crate) deadline: Option<Instant>,
}

impl Req {
    pub(crate) fn get(route: &'static str, segments: Vec<String>) -> Req {
        Req {
            method: Method::GET,
            route,
            segments,
            query: Vec::new(),
            body: None,
            accept_encoding: None,
            kind: Kind::Read,
            task_id: None,
            timeout: None,
            deadline: None,
        }
    }
}

/// A body: read whole, or left to stream. Whoever consumes it never sees reqwest: a failure while
/// reading becomes an [`Error::Transport`] naming the request (and its task, when known).
pub(crate) struct Payload {
    body: Body,
    task_id: Option<TaskId>,
}

enum Body {
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
    /// A body already in memory.
    pub(crate) fn full(bytes: Bytes) -> Payload {
        Payload {
            body: Body::Full(bytes),
            task_id: None,
        }
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
        match self.body {
            Body::Full(b) => Ok(b),
            Body::Streaming { response, method } => {
                let url = response.url().clone();
                response
                    .bytes()
                    .await
                    .map_err(|e| transport_error(&method, &url, self.task_id, e))
            }
        }
    }

    /// The body, chunk by chunk (already decompressed).
    pub(crate) fn into_stream(self) -> BoxStream<'static, Result<Bytes>> {
        let (response, method) = match self.body {
            Body::Full(b) => return futures::stream::once(async move { Ok(b) }).boxed(),
            Body::Streaming { response, method } => (response, method),
        };
        let url = response.url().clone();
        let task_id = self.task_id;
        response
            .bytes_stream()
            .map(move |r| r.map_err(|e| transport_error(&method, &url, task_id.clone(), e)))
            .boxed()
    }

    /// At most `limit` bytes of the body; a failure mid-way keeps what came.
    async fn read_limited(self, limit: usize) -> Bytes {
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
        retry_after(&self.headers)
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
        let mut e = ApiError::from_body(status, &body, task_id);
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

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

fn task_id_of(headers: &HeaderMap) -> Option<TaskId> {
    headers
        .get(TASK_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(TaskId::from)
}

/// Reads at most `limit` bytes of a body; an error mid-way keeps what came.
async fn read_limited(r: reqwest::Response, limit: usize) -> Bytes {
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

fn transport_error(
    method: &Method,
    url: &Url,
    task_id: Option<TaskId>,
    source: reqwest::Error,
) -> Error {
    Error::Transport(Box::new(TransportError {
        method: method.to_string(),
        url: url.to_string(),
        task_id,
        source,
    }))
}

/// The sender shared by every clone of a client.
#[derive(Debug)]
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    /// The API root, ending in `/v1`.
    pub(crate) base: Url,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) retry: RetryPolicy,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) user_agent: HeaderValue,
    pub(crate) accept_encoding: Option<HeaderValue>,
    /// The client's per-attempt time limit, when this crate built the HTTP client (a caller's own
    /// client keeps its own, unknown here).
    pub(crate) timeout: Option<Duration>,
}

/// Why one attempt got no usable reply, before the retry decision.
struct Failure {
    error: Error,
    /// No connection was made: the request was certainly not processed.
    connect: bool,
    timeout: bool,
    /// Retrying cannot help (a redirect loop, an unusable `Location`).
    fatal: bool,
}

impl Failure {
    fn new(error: Error, connect: bool, timeout: bool) -> Self {
        Failure {
            error,
            connect,
            timeout,
            fatal: false,
        }
    }

    fn fatal(error: Error) -> Self {
        Failure {
            error,
            connect: false,
            timeout: false,
            fatal: true,
        }
    }

    fn kind(&self) -> &'static str {
        if self.timeout {
            "timeout"
        } else if self.connect {
            "connect"
        } else if self.fatal {
            "redirect"
        } else {
            "transport"
        }
    }
}

impl Transport {
    /// The URL of `segments` under the API root, each segment percent-encoded (so `/`, `?`, `#`
    /// and `%` in a namespace or id stay inside their segment).
    pub(crate) fn url(&self, segments: &[String], query: &[(&'static str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// Sends `req`, retrying per policy, and reads the whole body.
    pub(crate) async fn send(&self, req: &Req) -> Result<Reply> {
        self.run(req, false).await
    }

    /// Sends `req`, retrying per policy; a 2xx body is left to stream.
    pub(crate) async fn send_streaming(&self, req: &Req) -> Result<Reply> {
        self.run(req, true).await
    }

    async fn run(&self, req: &Req, stream_success: bool) -> Result<Reply> {
        let mut schedule = self.retry.schedule();
        let max = self.retry.get_max_attempts();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let url = self.url(&req.segments, &req.query);
            let span = tracing::info_span!(
                "http_request",
                otel.name = %format_args!("{} {}", req.method, req.route),
                otel.kind = "client",
                http.request.method = %req.method,
                url.full = %url,
                server.address = url.host_str().unwrap_or(""),
                server.port = url.port_or_known_default(),
                http.request.resend_count = attempt - 1,
                http.response.status_code = field::Empty,
                error.type = field::Empty,
                tiledb.task_id = field::Empty,
            );
            let result = self
                .attempt(req, url, stream_success)
                .instrument(span.clone())
                .await;
            let (status, retry_after, connect, timeout) = match &result {
                Ok(reply) => {
                    if let Some(id) = &reply.task_id {
                        span.record("tiledb.task_id", id.as_str());
                    }
                    span.record("http.response.status_code", reply.status.as_u16());
                    if reply.status.is_client_error() || reply.status.is_server_error() {
                        span.record("error.type", reply.status.as_str());
                    }
                    if reply.status.is_success() || reply.status.is_redirection() {
                        return result.map_err(|f| f.error);
                    }
                    (
                        Some(reply.status.as_u16()),
                        reply.retry_after(),
                        false,
                        false,
                    )
                }
                Err(f) => {
                    if let Some(id) = &req.task_id {
                        span.record("tiledb.task_id", id.as_str());
                    }
                    span.record("error.type", f.kind());
                    if f.fatal {
                        return result.map_err(|f| f.error);
                    }
                    (None, None, f.connect, f.timeout)
                }
            };
            let outcome = AttemptOutcome {
                method: req.method.to_string(),
                is_submission: req.kind == Kind::Submit,
                status,
                connect_error: connect,
                timeout,
                attempt,
            };
            if attempt >= max || !self.retry.should_retry(&outcome) {
                return result.map_err(|f| f.error);
            }
            let mut delay = schedule.next(retry_after);
            if let Some(deadline) = req.deadline {
                // A retry that could only start after the caller's deadline is not made.
                let left = deadline.saturating_duration_since(self.clock.now());
                if left <= delay {
                    tracing::warn!(parent: &span, attempt, "not retrying: the deadline comes first");
                    return result.map_err(|f| f.error);
                }
                delay = delay.min(left);
            }
            tracing::warn!(
                parent: &span,
                attempt,
                max_attempts = max,
                status,
                delay_ms = delay.as_millis() as u64,
                retry_after = retry_after.is_some(),
                "retrying {} {}",
                req.method,
                req.route
            );
            self.clock.sleep(delay).await;
        }
    }

    /// One attempt: the request, the redirects it meets, and the body.
    async fn attempt(
        &self,
        req: &Req,
        first_url: Url,
        stream_success: bool,
    ) -> std::result::Result<Reply, Failure> {
        let mut url = first_url;
        let mut method = req.method.clone();
        let mut body = req.body.clone();
        let mut hops = 0usize;
        // A task id named on the way (a 303 after the POST created the task) is kept.
        let mut task_id = req.task_id.clone();
        loop {
            let trusted = same_origin(&url, &self.base);
            let mut rb = self.http.request(method.clone(), url.clone());
            rb = rb
                .header(header::USER_AGENT, self.user_agent.clone())
                .header(header::ACCEPT, HeaderValue::from_static("application/json"));
            if let Some(ae) = &req.accept_encoding {
                if let Ok(v) = HeaderValue::from_str(ae) {
                    rb = rb.header(header::ACCEPT_ENCODING, v);
                }
            } else if let Some(ae) = &self.accept_encoding {
                rb = rb.header(header::ACCEPT_ENCODING, ae.clone());
            }
            if trusted {
                rb = self.authenticate(rb);
            }
            if let Some(b) = &body {
                rb = rb
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(b.clone());
            }
            if let Some(t) = self.attempt_timeout(req) {
                rb = rb.timeout(t);
            }
            let response = match rb.send().await {
                Ok(r) => r,
                Err(e) => {
                    let (connect, timeout) = (e.is_connect(), e.is_timeout());
                    let error = transport_error(&method, &url, task_id, e);
                    return Err(Failure::new(error, connect, timeout));
                }
            };
            let status = response.status();
            if let Some(id) = task_id_of(response.headers()) {
                task_id = Some(id);
            }
            if status.is_redirection()
                && let Some(location) = response.headers().get(header::LOCATION)
            {
                hops += 1;
                if hops > MAX_REDIRECTS {
                    return Err(Failure::fatal(Error::Redirect(format!(
                        "more than {MAX_REDIRECTS} redirects, last to {url}"
                    ))));
                }
                let next = location
                    .to_str()
                    .ok()
                    .and_then(|l| url.join(l).ok())
                    .filter(|u| matches!(u.scheme(), "http" | "https"));
                let Some(next) = next else {
                    return Err(Failure::fatal(Error::Redirect(format!(
                        "{status} from {url} with an unusable Location"
                    ))));
                };
                if !same_origin(&next, &self.base) {
                    tracing::warn!(
                        from = %url,
                        to = %next,
                        "following a redirect to another host without credentials"
                    );
                }
                // 303, and 301/302 after a POST, turn into a GET without a body (as browsers and
                // reqwest do); 307 and 308 repeat the request as it was.
                if status == StatusCode::SEE_OTHER
                    || (method == Method::POST
                        && matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND))
                {
                    method = Method::GET;
                    body = None;
                }
                url = next;
                continue;
            }
            let headers = response.headers().clone();
            let body = if status.is_success() && stream_success {
                Body::Streaming {
                    response: Box::new(response),
                    method,
                }
            } else if status.is_success() {
                match response.bytes().await {
                    Ok(b) => Body::Full(b),
                    Err(e) => {
                        let timeout = e.is_timeout();
                        let error = transport_error(&method, &url, task_id, e);
                        return Err(Failure::new(error, false, timeout));
                    }
                }
            } else {
                Body::Full(read_limited(response, ERROR_BODY_LIMIT).await)
            };
            return Ok(Reply {
                status,
                headers,
                task_id: task_id.clone(),
                body: Payload { body, task_id },
            });
        }
    }

    /// The time limit of one attempt: the request's own, clamped to what is left of its deadline.
    fn attempt_timeout(&self, req: &Req) -> Option<Duration> {
        let left = req
            .deadline
            .map(|d| d.saturating_duration_since(self.clock.now()));
        match (req.timeout.or(self.timeout), left) {
            (Some(t), Some(l)) => Some(t.min(l).max(MIN_ATTEMPT_TIME)),
            (Some(t), None) => Some(t),
            (None, Some(l)) => Some(l.max(MIN_ATTEMPT_TIME)),
            (None, None) => None,
        }
    }

    fn authenticate(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credentials {
            Some(Credentials::ApiKey(key)) => match HeaderValue::from_str(key.expose()) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    rb.header(API_KEY_HEADER, v)
                }
                // Checked when the client was built; unreachable in practice.
                Err(_) => rb,
            },
            Some(Credentials::Basic { username, password }) => {
                rb.basic_auth(username, Some(password.expose()))
            }
            None => rb,
        }
    }
}

/// Same scheme, host and port: the only place credentials may go.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

//! The one place that sends: retries, `Retry-After`, redirects without leaking credentials, and one
//! tracing span per HTTP attempt. What an answer *means* is decided in `api.rs` alone; this module
//! only decides whether to try again (by the rules of [`RetryPolicy`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode};
use tracing::{Instrument as _, field};
use url::Url;

use crate::auth::{Credentials, Scrubber};
use crate::error::{Error, Result};
use crate::model::API_KEY_HEADER;
use crate::policy::{AttemptOutcome, Clock, RetryPolicy};
use crate::telemetry;

#[cfg(feature = "opentelemetry")]
mod propagation;
mod reply;

use crate::task_id::TaskId;
pub use reply::parse_retry_after;
use reply::{Body, ERROR_BODY_LIMIT, read_limited, task_id_of, transport_error};
pub(crate) use reply::{Payload, Reply, empty_body_error};

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
    /// An error status this route answers in the normal course (the 404 of a result not stored):
    /// not a failure of the attempt.
    pub(crate) expected: Option<StatusCode>,
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
            expected: None,
            timeout: None,
            deadline: None,
        }
    }
}

/// The sender shared by every clone of a client.
#[derive(Debug)]
pub(crate) struct Transport {
    http: reqwest::Client,
    /// The API root, ending in `/v1`.
    pub(crate) base: Url,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) retry: RetryPolicy,
    pub(crate) clock: Arc<dyn Clock>,
    user_agent: HeaderValue,
    accept_encoding: Option<HeaderValue>,
    /// The client's per-attempt time limit, when this crate built the HTTP client (a caller's own
    /// client keeps its own, unknown here).
    timeout: Option<Duration>,
    /// Takes the client's own secrets out of error bodies, should a server echo them.
    scrubber: Scrubber,
    /// Whether the SQL spans carry `db.query.text` (opt-in: a query may hold data).
    pub(crate) trace_query_text: bool,
}

/// Everything a [`Transport`] is built from (the client builder's settings, unchecked).
pub(crate) struct Settings {
    pub(crate) base: Url,
    pub(crate) credentials: Option<Credentials>,
    /// Where the credentials came from (a variable, a file and key), for errors.
    pub(crate) credentials_origin: Option<String>,
    pub(crate) user_agent: String,
    pub(crate) accept_encoding: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Option<Duration>,
    pub(crate) verify_tls: bool,
    /// A caller's own HTTP client (its timeouts are then its own).
    pub(crate) http: Option<reqwest::Client>,
    pub(crate) retry: RetryPolicy,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) trace_query_text: bool,
}

impl Transport {
    /// Checks what must become a header, and builds the HTTP client (unless one was given).
    pub(crate) fn new(s: Settings) -> Result<Transport> {
        let header = |origin: &str, value: &str| {
            HeaderValue::from_str(value)
                .map_err(|_| Error::config(Some(origin.to_owned()), "is not a valid header value"))
        };
        let user_agent = header("ClientBuilder::user_agent", &s.user_agent)?;
        let accept_encoding = s
            .accept_encoding
            .as_deref()
            .map(|v| header("ClientBuilder::accept_encoding", v))
            .transpose()?;
        if let Some(Credentials::ApiKey(key)) = &s.credentials
            && (key.expose().is_empty() || HeaderValue::from_str(key.expose()).is_err())
        {
            return Err(Error::config(
                Some(
                    s.credentials_origin
                        .unwrap_or_else(|| "ClientBuilder::api_key".to_owned()),
                ),
                "the API key is empty or has characters a header cannot carry (a newline?)",
            ));
        }
        let (http, timeout) = match s.http {
            Some(h) => (h, None),
            None => {
                let b = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .connect_timeout(s.connect_timeout)
                    .tcp_nodelay(true)
                    .danger_accept_invalid_certs(!s.verify_tls);
                // No client-wide timeout: it could not be lifted for one request, and the SQL
                // POST has none (see `attempt_timeout`). Every other request gets `s.timeout`.
                let http = b.build().map_err(|e| {
                    Error::config(None, format!("cannot build the HTTP client: {e}"))
                })?;
                (http, s.timeout)
            }
        };
        Ok(Transport {
            http,
            base: s.base,
            scrubber: Scrubber::new(s.credentials.as_ref()),
            credentials: s.credentials,
            retry: s.retry,
            clock: s.clock,
            user_agent,
            accept_encoding,
            timeout,
            trace_query_text: s.trace_query_text,
        })
    }
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
            // The CLIENT span of this attempt (see `telemetry`). Its status is set below: Error on
            // a 5xx, a transport failure, or a 4xx that ends the request and was not expected.
            let span = tracing::info_span!(
                "http_request",
                otel.name = %format_args!("{} {}", req.method, req.route),
                otel.kind = "client",
                otel.status_code = field::Empty,
                http.request.method = %req.method,
                url.full = %telemetry::url_full(&url),
                url.template = req.route,
                server.address = url.host_str().unwrap_or(""),
                server.port = url.port_or_known_default().map(i64::from),
                http.request.resend_count = field::Empty,
                http.response.status_code = field::Empty,
                error.type = field::Empty,
                tiledb.task.id = field::Empty,
            );
            if attempt > 1 {
                span.record("http.request.resend_count", i64::from(attempt - 1));
            }
            let result = self
                .attempt(req, url, stream_success)
                .instrument(span.clone())
                .await;
            let (status, retry_after, connect, timeout) = match &result {
                Ok(reply) => {
                    if let Some(id) = &reply.task_id {
                        span.record("tiledb.task.id", id.as_str());
                    }
                    span.record(
                        "http.response.status_code",
                        i64::from(reply.status.as_u16()),
                    );
                    if reply.status.is_server_error() {
                        telemetry::record_failure(&span, reply.status.as_str());
                    }
                    if reply.status.is_success() || reply.status.is_redirection() {
                        return result.map_err(|f| f.error);
                    }
                    // A submission whose answer names a task is never sent again, whatever the
                    // status (a 503 or 429 included): the task exists, and `api` follows it.
                    if req.kind == Kind::Submit && reply.task_id.is_some() {
                        return final_answer(&span, req, result);
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
                        span.record("tiledb.task.id", id.as_str());
                    }
                    telemetry::record_failure(&span, f.kind());
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
                return final_answer(&span, req, result);
            }
            let mut delay = schedule.next(retry_after);
            if let Some(deadline) = req.deadline {
                // A retry that could only start after the caller's deadline is not made.
                let left = deadline.saturating_duration_since(self.clock.now());
                if left <= delay {
                    tracing::warn!(parent: &span, attempt, "not retrying: the deadline comes first");
                    return final_answer(&span, req, result);
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
            #[cfg(feature = "opentelemetry")]
            {
                rb = propagation::inject(rb);
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
                    return Err(Failure::fatal(Error::redirect(format!(
                        "more than {MAX_REDIRECTS} redirects, last to {url}"
                    ))));
                }
                let next = location
                    .to_str()
                    .ok()
                    .and_then(|l| url.join(l).ok())
                    .filter(|u| matches!(u.scheme(), "http" | "https"));
                let Some(next) = next else {
                    return Err(Failure::fatal(Error::redirect(format!(
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
                // What an error quotes: never the client's own key or password, echoed.
                let body = read_limited(response, ERROR_BODY_LIMIT).await;
                Body::Full(self.scrubber.bytes(&body).map_or(body, Bytes::from))
            };
            return Ok(Reply {
                status,
                headers,
                task_id: task_id.clone(),
                body: Payload::new(body, task_id),
            });
        }
    }

    /// `text` from a server (a task's status message, a body quoted in an error) without the
    /// client's own secrets.
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.scrubber.text(text)
    }

    /// The client's time limit of one attempt (`ClientBuilder::timeout`), if it has one.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The time limit of one attempt: the request's own (or the client's, except for the SQL
    /// POST, which lasts as long as its query), clamped to what is left of its deadline.
    fn attempt_timeout(&self, req: &Req) -> Option<Duration> {
        let left = req
            .deadline
            .map(|d| d.saturating_duration_since(self.clock.now()));
        let own = match req.kind {
            Kind::Submit => req.timeout,
            Kind::Read => req.timeout.or(self.timeout),
        };
        match (own, left) {
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

/// The attempt that ends a request: a 4xx it got is the request's failure (status Error on the
/// attempt's span), unless the route expects it (the 404 of a result not stored).
fn final_answer(
    span: &tracing::Span,
    req: &Req,
    result: std::result::Result<Reply, Failure>,
) -> Result<Reply> {
    if let Ok(reply) = &result
        && reply.status.is_client_error()
        && req.expected != Some(reply.status)
    {
        telemetry::record_failure(span, reply.status.as_str());
    }
    result.map_err(|f| f.error)
}

/// Same scheme, host and port: the only place credentials may go.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

//! Fault injection, in the spirit of LocalStack's chaos API and toxiproxy: ordered rules, each
//! matching a route (and a namespace), firing on a share of the requests or on every n-th, that
//! answer a status, add latency, cut the connection, truncate the body, or make a task slow or
//! fail. Set with [`ServerConfig::fault_rules`](super::ServerConfig::fault_rules) or `--faults
//! FILE` (a JSON array of rules) and changed at run time with
//! [`LocalServer::set_fault_rules`](super::LocalServer::set_fault_rules) or
//! `PUT /_emulator/faults`. The journal says, per request, which fault was applied.
//!
//! Rules are tried in order; the first that matches the request and fires is applied, and no
//! other. A rule's counters (for `every` and `times`) count the requests it matched while it was
//! tried. The admin surface is never faulted.
//!
//! ```json
//! [{"route": "result", "every": 2, "action": {"kind": "status", "status": 503, "retry_after_secs": 1}},
//!  {"route": "sql", "namespace": "slow", "action": {"kind": "slow_task", "ms": 1500}}]
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::error::{ApiFailure, ErrorCode};
use super::state::AppState;

/// The routes a [`FaultRule`] can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultRoute {
    /// Every v1 route (and unknown paths), never the admin surface.
    #[default]
    Any,
    /// `POST /v1/sql/{namespace}`.
    Sql,
    /// `GET /v1/task/{id}`.
    Task,
    /// `GET /v1/task/{id}/result`.
    Result,
    /// `GET /v1/tasks`.
    Tasks,
}

impl FaultRoute {
    /// The route of a request path (`Any` for a path that is none of the four).
    fn of(path: &str) -> FaultRoute {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["v1", "sql", _] => FaultRoute::Sql,
            ["v1", "task", _] => FaultRoute::Task,
            ["v1", "task", _, "result"] => FaultRoute::Result,
            ["v1", "tasks"] => FaultRoute::Tasks,
            _ => FaultRoute::Any,
        }
    }
}

/// What a fired [`FaultRule`] does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultAction {
    /// Answers `status` with an `Error` body (code 1024), and `Retry-After` when given, without
    /// handling the request: a submission is not run, nothing is recorded.
    Status {
        /// The HTTP status, 400 to 599.
        status: u16,
        /// `Retry-After`, in seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
        /// The error body's message [default: "fault injected: status N"].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Waits `ms` milliseconds, then handles the request normally.
    Latency {
        /// The delay, in milliseconds.
        ms: u64,
    },
    /// Handles the request (a submission runs and is recorded), then closes the connection
    /// without sending a byte of the answer.
    CutBeforeHead,
    /// Handles the request, sends the answer's head (status and headers), then closes the
    /// connection before the body.
    CutAfterHead,
    /// Handles the request, sends the head announcing the whole body and only its first `bytes`
    /// bytes, then closes the connection.
    TruncateBody {
        /// How many bytes of the body are sent.
        bytes: usize,
    },
    /// Makes a submitted task take at least `ms` milliseconds (it stays RUNNING meanwhile and
    /// holds its query slot). Matches only submissions.
    SlowTask {
        /// The least time the task takes, in milliseconds.
        ms: u64,
    },
    /// Fails a submitted task without running its query: it is recorded FAILED with `message`
    /// (code 1013, as a query SQLite failed). Matches only submissions.
    FailTask {
        /// The task's `status_message` [default: "the task failed (fault injected)"].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

impl FaultAction {
    /// An answer of `status`, with no `Retry-After`.
    pub fn status(status: u16) -> Self {
        FaultAction::Status {
            status,
            retry_after_secs: None,
            message: None,
        }
    }

    /// Whether the action is done to a task rather than to an answer.
    fn is_task_fault(&self) -> bool {
        matches!(
            self,
            FaultAction::SlowTask { .. } | FaultAction::FailTask { .. }
        )
    }
}

impl fmt::Display for FaultAction {
    /// How the journal names it: `status 503`, `latency 200ms`, `cut before head`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultAction::Status { status, .. } => write!(f, "status {status}"),
            FaultAction::Latency { ms } => write!(f, "latency {ms}ms"),
            FaultAction::CutBeforeHead => f.write_str("cut before head"),
            FaultAction::CutAfterHead => f.write_str("cut after head"),
            FaultAction::TruncateBody { bytes } => write!(f, "truncate body at {bytes} bytes"),
            FaultAction::SlowTask { ms } => write!(f, "slow task {ms}ms"),
            FaultAction::FailTask { .. } => f.write_str("fail task"),
        }
    }
}

/// One fault rule: where it applies, when it fires, and what it does.
///
/// ```
/// use tiledb_cloud_tasks::server::{FaultAction, FaultRoute, FaultRule};
///
/// // Every second result poll answers 503 with Retry-After: 1, three times in all.
/// let rule = FaultRule::new(FaultAction::Status { status: 503, retry_after_secs: Some(1), message: None })
///     .route(FaultRoute::Result)
///     .every(2)
///     .times(3);
/// # let _ = rule;
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FaultRule {
    /// The route it applies to [default: any].
    #[serde(default)]
    pub route: FaultRoute,
    /// Only requests in this namespace: the SQL route's path, a task's own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Fires on every n-th matching request (the n-th, the 2n-th, ...); with neither this nor
    /// `probability`, on every one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Fires on this share of matching requests (0 to 1), at random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Fires at most this many times, then never again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// What it does.
    pub action: FaultAction,
}

impl FaultRule {
    /// A rule doing `action` to every request.
    pub fn new(action: FaultAction) -> Self {
        FaultRule {
            route: FaultRoute::Any,
            namespace: None,
            every: None,
            probability: None,
            times: None,
            action,
        }
    }

    /// Only on `route`.
    pub fn route(mut self, route: FaultRoute) -> Self {
        self.route = route;
        self
    }

    /// Only in `namespace`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// On every `n`-th matching request.
    pub fn every(mut self, n: u64) -> Self {
        self.every = Some(n);
        self
    }

    /// On a share `p` (0 to 1) of matching requests.
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = Some(p);
        self
    }

    /// At most `n` times.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// What is wrong with the rule, if anything.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.every == Some(0) {
            return Err("every must be at least 1".into());
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!("probability must be between 0 and 1, got {p}"));
        }
        if let FaultAction::Status { status, .. } = self.action
            && !(400..=599).contains(&status)
        {
            return Err(format!("status must be between 400 and 599, got {status}"));
        }
        if self.action.is_task_fault() && !matches!(self.route, FaultRoute::Any | FaultRoute::Sql) {
            return Err(format!("{} applies to the sql route only", self.action));
        }
        Ok(())
    }
}

/// Checks every rule, naming the first bad one by its position (from 1).
pub(crate) fn check_rules(rules: &[FaultRule]) -> Result<(), String> {
    for (i, rule) in rules.iter().enumerate() {
        rule.check()
            .map_err(|e| format!("fault rule {}: {e}", i + 1))?;
    }
    Ok(())
}

/// A rule in a running server, with its counters.
#[derive(Debug)]
struct Armed {
    rule: FaultRule,
    matched: AtomicU64,
    fired: AtomicU64,
}

/// The rules of a running server.
#[derive(Debug)]
pub(crate) struct Faults {
    rules: RwLock<Vec<Armed>>,
    rng: Mutex<fastrand::Rng>,
}

impl Faults {
    pub(crate) fn new(rules: Vec<FaultRule>) -> Self {
        let faults = Faults {
            rules: RwLock::new(Vec::new()),
            rng: Mutex::new(fastrand::Rng::new()),
        };
        faults.set(rules);
        faults
    }

    /// Replaces every rule (counters start again from zero).
    pub(crate) fn set(&self, rules: Vec<FaultRule>) {
        let armed = rules
            .into_iter()
            .map(|rule| Armed {
                rule,
                matched: AtomicU64::new(0),
                fired: AtomicU64::new(0),
            })
            .collect();
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = armed;
    }

    /// The rules, in order.
    pub(crate) fn rules(&self) -> Vec<FaultRule> {
        let rules = self.rules.read().unwrap_or_else(|p| p.into_inner());
        rules.iter().map(|a| a.rule.clone()).collect()
    }

    /// The action of the first rule matching the request that fires, if any.
    fn pick(&self, route: FaultRoute, namespace: Option<&str>) -> Option<FaultAction> {
        let rules = self.rules.read().unwrap_or_else(|p| p.into_inner());
        for armed in rules.iter() {
            let rule = &armed.rule;
            let route_ok = (rule.route == FaultRoute::Any || rule.route == route)
                && (!rule.action.is_task_fault() || route == FaultRoute::Sql);
            let namespace_ok = rule
                .namespace
                .as_deref()
                .is_none_or(|n| namespace == Some(n));
            if !route_ok || !namespace_ok {
                continue;
            }
            let nth = armed.matched.fetch_add(1, Ordering::SeqCst) + 1;
            let by_count = rule.every.is_none_or(|n| nth % n == 0);
            let by_chance = rule.probability.is_none_or(|p| {
                let draw = self.rng.lock().unwrap_or_else(|p| p.into_inner()).f64();
                draw < p
            });
            if !(by_count && by_chance) {
                continue;
            }
            let fired = armed.fired.fetch_add(1, Ordering::SeqCst);
            if rule.times.is_some_and(|max| fired >= max) {
                continue;
            }
            return Some(rule.action.clone());
        }
        None
    }
}

/// What a fault did to a request, for its journal entry: a request extension the journal leaves
/// and the fault rules fill in.
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultNote(Arc<Mutex<Option<(String, bool)>>>);

impl FaultNote {
    /// Notes `what` was done; `unanswered`: the connection is cut before any byte of the answer.
    fn set(&self, what: String, unanswered: bool) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((what, unanswered));
    }

    /// What was noted, and whether the answer is never sent.
    pub(crate) fn get(&self) -> (Option<String>, bool) {
        match &*self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((what, unanswered)) => (Some(what.clone()), *unanswered),
            None => (None, false),
        }
    }
}

/// What a submission's task must suffer (a request extension read by the SQL route).
#[derive(Debug, Clone)]
pub(crate) enum TaskFault {
    /// Take at least this long.
    Slow(Duration),
    /// Fail with this message, without running.
    Fail(String),
}

/// The middleware applying the fault rules to every v1 request.
pub(crate) async fn apply(
    State(app): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    if !super::emulator::is_api(&path) {
        return next.run(req).await;
    }
    let route = FaultRoute::of(&path);
    let namespace = namespace_of(&app, route, &path);
    let Some(action) = app.emulator.faults.pick(route, namespace.as_deref()) else {
        return next.run(req).await;
    };
    let note = action.to_string();
    tracing::info!(fault = %note, path = %path, "fault injected");
    if let Some(slot) = req.extensions().get::<FaultNote>() {
        slot.set(note, matches!(action, FaultAction::CutBeforeHead));
    }
    match action {
        FaultAction::Status {
            status,
            retry_after_secs,
            message,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let message =
                message.unwrap_or_else(|| format!("fault injected: status {}", status.as_u16()));
            let mut failure = ApiFailure::new(status, ErrorCode::FaultInjected, message);
            failure.retry_after_secs = retry_after_secs;
            failure.into_response()
        }
        FaultAction::Latency { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(req).await
        }
        FaultAction::SlowTask { ms } => {
            req.extensions_mut()
                .insert(TaskFault::Slow(Duration::from_millis(ms)));
            next.run(req).await
        }
        FaultAction::FailTask { message } => {
            let message = message.unwrap_or_else(|| "the task failed (fault injected)".to_owned());
            req.extensions_mut().insert(TaskFault::Fail(message));
            next.run(req).await
        }
        FaultAction::CutBeforeHead => cut(next.run(req).await, None).await,
        FaultAction::CutAfterHead => cut(next.run(req).await, Some(0)).await,
        FaultAction::TruncateBody { bytes } => cut(next.run(req).await, Some(bytes)).await,
    }
}

/// The namespace a request is in, for rules that name one: the SQL route's path segment, or the
/// task's own namespace.
fn namespace_of(app: &AppState, route: FaultRoute, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match route {
        FaultRoute::Sql => segments.get(2).map(|s| (*s).to_owned()),
        FaultRoute::Task | FaultRoute::Result => segments
            .get(2)
            .and_then(|id| app.store.get(id))
            .and_then(|e| e.task.namespace.clone()),
        _ => None,
    }
}

/// The answer with its body replaced by its first `keep` bytes and then a broken connection;
/// `None`: broken before the head. The head keeps announcing the whole length.
async fn cut(response: Response, keep: Option<usize>) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let Some(keep) = keep else {
        // An error before the first byte: hyper aborts the connection with nothing written.
        let broken = futures::stream::once(async { Err::<Bytes, _>(cut_error()) });
        return Response::from_parts(parts, Body::from_stream(broken));
    };
    if let Ok(length) = HeaderValue::from_str(&bytes.len().to_string()) {
        parts.headers.insert(header::CONTENT_LENGTH, length);
    }
    let prefix = bytes.slice(..keep.min(bytes.len()));
    let stream = futures::stream::unfold(Cut::Prefix(prefix), |state| async move {
        match state {
            Cut::Prefix(prefix) if !prefix.is_empty() => Some((Ok(prefix), Cut::Break)),
            Cut::Prefix(_) | Cut::Break => {
                // Let the head and the prefix go out before the connection breaks.
                tokio::time::sleep(CUT_PAUSE).await;
                Some((Err(cut_error()), Cut::Done))
            }
            Cut::Done => None,
        }
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// How long a cut body waits, after what it sends, before it breaks the connection.
const CUT_PAUSE: Duration = Duration::from_millis(50);

/// Where a cut body is.
enum Cut {
    Prefix(Bytes),
    Break,
    Done,
}

fn cut_error() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "fault injected: connection cut",
    )
}

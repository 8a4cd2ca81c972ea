//! A local Tasks server: the four v1 routes of the TileDB Cloud Tasks API, really running SQL (on
//! SQLite), so the SDK, its examples and their users' tests run with no account and no network.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tiledb_cloud_tasks::server::ServerError> {
//! use tiledb_cloud_tasks::server::{LocalServer, ServerConfig};
//!
//! let server = LocalServer::start(ServerConfig::new()).await?;
//! // Point a client at server.base_url() with server.api_key(), namespace server.namespace().
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Routes
//!
//! | Route | Answers |
//! | --- | --- |
//! | `POST /v1/sql/{namespace}` | 200 rows, 204 no columns or `dont_download_results`, 400/403/413/503 `Error` |
//! | `GET /v1/task/{id}` | 200 `ArrayTask`, 404 when unknown or not visible to the caller |
//! | `GET /v1/task/{id}/result` | 200 stored bytes, 202 while a storing task is queued or running, 404 otherwise |
//! | `GET /v1/tasks` | 200 `ArrayTaskData` with `pagination_metadata` |
//!
//! Every answer carries `X-Request-Id`; every SQL answer given after the task was recorded carries
//! `X-TILEDB-CLOUD-TASK-ID`, errors included. Every error (including unknown routes, 405 and 413)
//! is an `Error { code, message, request_id }` JSON body whose `request_id` is the header's value.
//! Answers over 1 KiB are compressed (gzip or deflate) when `Accept-Encoding` asks for it;
//! smaller ones are not worth it.
//!
//! # Error codes
//!
//! | `code` | HTTP | Meaning |
//! | --- | --- | --- |
//! | 1000 | any | an HTTP error not listed below (message from the framework) |
//! | 1001 | 401 | missing, wrong or unreadable credentials |
//! | 1002 | 403 | the namespace is not one of the caller's |
//! | 1003 | 404 | no such route |
//! | 1004 | 405 | the route does not take this method |
//! | 1005 | 404 | no task with this id is visible to the caller |
//! | 1006 | 404 | the task has no result: not stored, expired, or the task failed |
//! | 1007 | 400 | the body is not valid `SQLParameters` JSON (serde's message) |
//! | 1008 | 413 | the body exceeds [`ServerConfig::max_body_bytes`] |
//! | 1009 | 400 | a parameter has an invalid value; the message names it |
//! | 1010 | 400 | the `result_format` cannot be produced; the message names it |
//! | 1011 | 503 | every query slot is busy; nothing recorded; see `Retry-After` |
//! | 1012 | 503 | the server is shutting down; nothing recorded |
//! | 1013 | 400 | SQLite failed the query; message is SQLite's; task recorded FAILED |
//! | 1014 | 400 | the sandbox refused a statement; task recorded FAILED |
//! | 1015 | 400 | the query exceeded [`ServerConfig::query_timeout`]; task FAILED |
//! | 1016 | 400 | the result exceeded [`ServerConfig::max_result_bytes`]; task FAILED |
//! | 1017 | 500 | the server shut down while the query ran; task FAILED |
//! | 1018 | 500 | a fault of the server itself (its store or a result encoder failed) |
//!
//! # Choices where the spec is silent (or the real service differs)
//!
//! - `result_format` defaults to `json` when absent (the Python client sends `arrow`; the real
//!   service's own default is not documented). `json` is always produced, `arrow` when the crate
//!   is built with the `arrow` feature (see [Arrow results](#arrow-results)); any other format is
//!   a 400 naming it (and naming the supported ones). JSON rows are objects keyed by column name in column order: INTEGER and
//!   REAL are numbers (non-finite REAL becomes `null`), TEXT a string, BLOB a base64 (standard,
//!   padded) string, NULL `null`. Duplicate column names give duplicate keys.
//! - `query` must be one statement; earlier statements go in `init_commands` (each may hold
//!   several). Parameters bind to `?` placeholders: null, booleans (0/1), numbers, strings.
//!   `output_uri` is refused (there are no arrays here).
//! - With `store_results`, a statement without columns stores an empty result (`[]`; in Arrow a
//!   stream with no columns), so a completed task that asked to store always has a result to
//!   fetch. The result of a task that did not ask to store is 404 at once, even while it runs
//!   (waiting would only end in a 404).
//! - `start_time` is when the server accepted the task (queries start at once or are refused
//!   with 503). Tasks found QUEUED or RUNNING when the server starts (after a crash or kill) are
//!   recorded FAILED with "the server stopped while the task was running", with no finish time.
//! - `GET /v1/tasks`: `page` is 1-based (default 1); `per_page` defaults to 10, at most 1000;
//!   `start`/`end` are inclusive Unix seconds on `start_time`; `exclude_type` is comma-joined (a
//!   repeated key also works); `file_type`/`exclude_file_type` are repeated keys (SQL tasks have no
//!   array: any `file_type` or `array` filter matches none of them, `exclude_file_type` removes
//!   none); `search` is a case-insensitive substring of the name, namespace or SQL text;
//!   `orderby` is `start_time` (newest first, the default) or `name` (ascending, unnamed last).
//!   A `namespace` filter naming a namespace the caller cannot see gives an empty page. An empty
//!   value counts as absent; a repeated single-valued parameter is a 400; unknown parameters are
//!   ignored.
//!
//! # Arrow results
//!
//! With the `arrow` feature, `result_format: arrow` answers (and stores) an Arrow IPC *stream*,
//! `Content-Type: application/vnd.apache.arrow.stream`: a schema message, record batches of up
//! to 8192 rows, the end-of-stream marker. Zero rows is the schema alone; a statement without
//! columns stores a stream with an empty schema. Every field is nullable and keeps its NULLs.
//!
//! SQLite types values, not columns, so the rows are collected first (the byte limit is checked
//! while collecting, on a lower bound of the encoded size, and again on the stream itself) and
//! each column's type is decided before anything is written:
//!
//! 1. From the column's declared type (only a direct reference to a table column has one), by
//!    SQLite's affinity rules, matched as substrings in this order: `INT` → `Int64`; `CHAR`,
//!    `CLOB`, `TEXT` → `Utf8`; `BLOB` → `Binary`; `REAL`, `FLOA`, `DOUB` → `Float64`. This type is
//!    kept when every value fits it (NULL fits any type; INTEGER values fit `Float64`), so an
//!    empty or all-NULL column keeps its declared type.
//! 2. Otherwise (an expression, a `NUMERIC`/`DECIMAL`/`BOOLEAN`/`DATE`... declaration, or a value
//!    that does not fit, such as TEXT in an `INTEGER` column), from the values: any BLOB →
//!    `Binary`; else any TEXT → `Utf8`; else any REAL → `Float64`; else any INTEGER → `Int64`;
//!    else (no rows, or only NULLs) → `Null`.
//!
//! Values converted by rule 2 read as SQLite's `CAST`: a number in a `Utf8` column is its decimal
//! text (a REAL in Rust's shortest round-trip form, such as `1.0` or `1e300`), in a `Binary`
//! column the bytes of that text; TEXT in a `Binary` column is its UTF-8 bytes. INTEGERs in a
//! `Float64` column are exact up to 2^53 and rounded beyond. Invalid UTF-8 in TEXT is replaced
//! (U+FFFD), as in JSON.
//!
//! # Data directory
//!
//! `tasks.sqlite` (tasks and stored results, WAL), `namespaces/NAME.sqlite` (one database per
//! namespace) and `server.lock`, which one running server holds locked: a second server on the
//! same directory is refused at start.
//!
//! # Safety
//!
//! Binds 127.0.0.1 by default (a warning is logged for other addresses), requires credentials on
//! every v1 route (unknown routes answer 404 to anyone), isolates namespaces (one SQLite file each, `ATTACH` refused), refuses extension
//! loading, `VACUUM` and PRAGMAs outside a read-only allowlist, and bounds query time, result
//! size, body size and concurrency. API keys and passwords never appear in logs, `Debug` output or
//! error messages.

#[cfg(feature = "arrow")]
mod arrow_encoder;
mod auth;
mod engine;
mod error;
mod routes;
mod store;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, futures::OwnedNotified, oneshot};
use tokio::task::JoinHandle;

pub use error::ServerError;

use auth::{User, Users};
use engine::Engine;
use store::Store;

/// The name of the default user, and of the namespace it owns.
const DEFAULT_USER: &str = "local";
/// Upper bound on [`ServerConfig::max_concurrent_queries`]: each query holds a blocking thread.
const MAX_CONCURRENT_QUERIES: usize = 512;
/// How often expired results are deleted from the store.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a graceful shutdown waits for interrupted queries to record their outcome.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct UserConfig {
    name: String,
    api_key: String,
    password: Option<String>,
    namespaces: Vec<String>,
}

/// How a [`LocalServer`] runs: address, storage, users and limits.
///
/// `ServerConfig::new()` (or `default()`) is ready to use: it listens on a free loopback port,
/// keeps its data in a temporary directory deleted with the server, and has one user `local`
/// owning namespace `local` with a random API key ([`LocalServer::api_key`]). Each method
/// changes one setting; nothing is checked until [`LocalServer::start`].
#[derive(Clone)]
pub struct ServerConfig {
    listen: SocketAddr,
    data_dir: Option<PathBuf>,
    api_key: String,
    users: Vec<UserConfig>,
    max_concurrent_queries: usize,
    query_timeout: Duration,
    max_result_bytes: usize,
    result_ttl: Duration,
    max_body_bytes: usize,
    retry_after: Duration,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<(&str, &[String])> = self
            .users
            .iter()
            .map(|u| (u.name.as_str(), u.namespaces.as_slice()))
            .collect();
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("api_key", &"<redacted>")
            .field("extra_users", &users)
            .field("max_concurrent_queries", &self.max_concurrent_queries)
            .field("query_timeout", &self.query_timeout)
            .field("max_result_bytes", &self.max_result_bytes)
            .field("result_ttl", &self.result_ttl)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new()
    }
}

/// A fresh random API key: 244 random bits, hex, with a recognizable prefix.
fn random_key() -> String {
    format!(
        "tdb-local-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl ServerConfig {
    /// Loopback on a free port, a temporary data directory, user `local` with a random key, and
    /// the default limits (4 concurrent queries, 30 s per query, 64 MiB results kept 24 h,
    /// 1 MiB bodies, `Retry-After: 1`).
    pub fn new() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            api_key: random_key(),
            users: Vec::new(),
            max_concurrent_queries: 4,
            query_timeout: Duration::from_secs(30),
            max_result_bytes: 64 * 1024 * 1024,
            result_ttl: Duration::from_secs(24 * 60 * 60),
            max_body_bytes: 1024 * 1024,
            retry_after: Duration::from_secs(1),
        }
    }

    /// Listens on `addr` (port 0 picks a free port). Binding beyond loopback logs a warning:
    /// anyone who can reach the port and holds a key can run SQL.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Keeps tasks, results and namespace databases in `dir` (created if missing), so they
    /// survive a restart. Without it, a temporary directory is used and deleted with the server.
    /// One running server at a time may use a directory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Sets the API key of the default user `local`, e.g. to match a client's configuration.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// Adds a user with its own key, an optional password for HTTP Basic, and the namespaces it
    /// may run tasks in and see tasks of; for multi-user tests (isolation, 403s).
    pub fn user(
        mut self,
        name: &str,
        api_key: &str,
        password: Option<&str>,
        namespaces: &[&str],
    ) -> Self {
        self.users.push(UserConfig {
            name: name.to_owned(),
            api_key: api_key.to_owned(),
            password: password.map(str::to_owned),
            namespaces: namespaces.iter().map(|n| (*n).to_owned()).collect(),
        });
        self
    }

    /// How many queries may run at once (default 4). Past it, a submission is answered 503 with
    /// `Retry-After` and not recorded, as the real service does when it has no resources.
    pub fn max_concurrent_queries(mut self, n: usize) -> Self {
        self.max_concurrent_queries = n;
        self
    }

    /// How long one task (init commands and query) may run (default 30 s); past it the task
    /// fails with a message naming the limit.
    pub fn query_timeout(mut self, d: Duration) -> Self {
        self.query_timeout = d;
        self
    }

    /// The largest encoded result, in bytes (default 64 MiB); a bigger one fails the task rather
    /// than exhausting memory.
    pub fn max_result_bytes(mut self, n: usize) -> Self {
        self.max_result_bytes = n;
        self
    }

    /// How long stored results are kept (default 24 h, the real service's retention).
    pub fn result_ttl(mut self, d: Duration) -> Self {
        self.result_ttl = d;
        self
    }

    /// The largest request body, in bytes (default 1 MiB); bigger bodies get 413.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// The `Retry-After` sent with a 503 (default 1 s; rounded up to whole seconds).
    pub fn retry_after(mut self, d: Duration) -> Self {
        self.retry_after = d;
        self
    }

    fn users(&self) -> Result<Vec<User>, ServerError> {
        let mut all = vec![UserConfig {
            name: DEFAULT_USER.to_owned(),
            api_key: self.api_key.clone(),
            password: None,
            namespaces: vec![DEFAULT_USER.to_owned()],
        }];
        all.extend(self.users.iter().cloned());
        for (i, u) in all.iter().enumerate() {
            if u.name.is_empty() {
                return Err(ServerError::Config("a user has an empty name".into()));
            }
            if u.api_key.is_empty() {
                return Err(ServerError::Config(format!(
                    "user {} has an empty API key",
                    u.name
                )));
            }
            if let Some(ns) = u.namespaces.iter().find(|n| !engine::valid_namespace(n)) {
                return Err(ServerError::Config(format!(
                    "user {} has an invalid namespace {ns:?} (expected [A-Za-z0-9_.-]{{1,64}}, \
                     not starting with '.')",
                    u.name
                )));
            }
            for other in &all[..i] {
                if other.name == u.name {
                    return Err(ServerError::Config(format!(
                        "user {} is configured twice (\"local\" is the default user)",
                        u.name
                    )));
                }
                if other.api_key == u.api_key {
                    return Err(ServerError::Config(format!(
                        "users {} and {} have the same API key",
                        other.name, u.name
                    )));
                }
            }
        }
        // Namespaces become file names: two that differ only by case would share one database
        // on a case-insensitive file system (macOS, Windows).
        let names: Vec<&String> = all.iter().flat_map(|u| &u.namespaces).collect();
        for (i, a) in names.iter().enumerate() {
            if let Some(b) = names[..i]
                .iter()
                .find(|b| *b != a && b.eq_ignore_ascii_case(a))
            {
                return Err(ServerError::Config(format!(
                    "namespaces {b} and {a} differ only by case; they would share a database file"
                )));
            }
        }
        Ok(all
            .into_iter()
            .map(|u| User::new(u.name, u.api_key, u.password, u.namespaces))
            .collect())
    }

    fn check_limits(&self) -> Result<(), ServerError> {
        let bad = |what: &str| Err(ServerError::Config(what.to_owned()));
        if !(1..=MAX_CONCURRENT_QUERIES).contains(&self.max_concurrent_queries) {
            return bad(&format!(
                "max_concurrent_queries must be between 1 and {MAX_CONCURRENT_QUERIES}"
            ));
        }
        if self.query_timeout.is_zero() {
            return bad("query_timeout must be positive");
        }
        if self.max_result_bytes == 0 {
            return bad("max_result_bytes must be positive");
        }
        if self.max_body_bytes == 0 {
            return bad("max_body_bytes must be positive");
        }
        Ok(())
    }
}

/// The server's notion of "now": the wall clock plus a test-controlled offset
/// ([`LocalServer::advance_clock`]), at microsecond precision (what the store keeps).
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_micros: AtomicI64,
}

impl Clock {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let offset = chrono::Duration::microseconds(self.offset_micros.load(Ordering::Relaxed));
        let now = Utc::now()
            .checked_add_signed(offset)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }

    fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        let _ = self
            .offset_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(micros))
            });
    }
}

/// Everything the routes share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) users: Users,
    pub(crate) store: Arc<Store>,
    pub(crate) engine: Engine,
    pub(crate) clock: Clock,
    /// One permit per query slot, held while the task's query runs.
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) max_permits: usize,
    /// Submissions between admission and their last store write; shutdown waits for none.
    pub(crate) in_flight: Arc<InFlight>,
    /// Whether new submissions are taken (false once shutdown or kill began).
    pub(crate) accepting: AtomicBool,
    /// [`engine::RUNNING`], [`engine::SHUTTING_DOWN`] or [`engine::KILLED`].
    pub(crate) stop: Arc<AtomicU8>,
    pub(crate) retry_after_secs: u64,
    pub(crate) result_ttl: Duration,
    pub(crate) max_body_bytes: usize,
}

impl AppState {
    /// When a result stored now expires.
    pub(crate) fn expiry(&self, from: DateTime<Utc>) -> DateTime<Utc> {
        chrono::Duration::from_std(self.result_ttl)
            .ok()
            .and_then(|ttl| from.checked_add_signed(ttl))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// Counts submissions from admission until their outcome is recorded, so that a graceful
/// shutdown can wait for every interrupted task to record its failure before it returns.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    idle: Notify,
}

impl InFlight {
    /// Counts one submission until the guard drops.
    pub(crate) fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(Arc::clone(self))
    }

    /// Resolves once nothing is in flight.
    async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Register before checking, so a release between the check and the wait is seen.
            notified.as_mut().enable();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One submission in flight; see [`InFlight`].
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Breaks every connection at once when the server is killed (what a crash does), where a
/// graceful shutdown lets in-flight answers complete.
#[derive(Debug, Default)]
struct KillSwitch {
    killed: AtomicBool,
    notify: Arc<Notify>,
}

impl KillSwitch {
    fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

/// The TCP listener, handing out connections that obey the [`KillSwitch`].
struct KillableListener {
    inner: TcpListener,
    switch: Arc<KillSwitch>,
}

impl axum::serve::Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let killed = Box::pin(Arc::clone(&self.switch.notify).notified_owned());
                    let io = KillableStream {
                        inner: stream,
                        switch: Arc::clone(&self.switch),
                        killed,
                    };
                    return (io, addr);
                }
                Err(e) => {
                    // Per-connection failures (reset before accept) are routine; anything else
                    // (out of file descriptors) deserves a pause rather than a busy loop.
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::ConnectionRefused
                    ) {
                        tracing::error!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that fails every read and write once the server is killed.
struct KillableStream {
    inner: TcpStream,
    switch: Arc<KillSwitch>,
    killed: Pin<Box<OwnedNotified>>,
}

impl KillableStream {
    fn is_killed(&mut self, cx: &mut Context<'_>) -> bool {
        // The flag is set before the notification, and checked first, so the notification
        // future is never polled again after it completed.
        self.switch.killed.load(Ordering::SeqCst) || self.killed.as_mut().poll(cx).is_ready()
    }
}

fn killed_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "the server was killed")
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The background pieces of a running server, taken by `shutdown`, `kill` or drop.
struct Running {
    signal: oneshot::Sender<()>,
    serve: JoinHandle<()>,
    purge: JoinHandle<()>,
}

/// A running local Tasks server (see the [module docs](self)).
///
/// Stop it with [`shutdown`](LocalServer::shutdown) (graceful) or [`kill`](LocalServer::kill)
/// (a simulated crash). Dropping it stops serving too, without waiting, and interrupts running
/// queries; a temporary data directory is deleted then.
pub struct LocalServer {
    addr: SocketAddr,
    api_key: String,
    data_dir: PathBuf,
    state: Arc<AppState>,
    switch: Arc<KillSwitch>,
    running: Option<Running>,
    /// Held (open) for the server's lifetime; see [`lock_data_dir`].
    lock: Option<std::sync::Mutex<rusqlite::Connection>>,
    tempdir: Option<tempfile::TempDir>,
}

impl fmt::Debug for LocalServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalServer")
            .field("addr", &self.addr)
            .field("data_dir", &self.data_dir)
            .field("username", &DEFAULT_USER)
            .field("api_key", &"<redacted>")
            .field("running", &self.running.is_some())
            .finish()
    }
}

fn data_dir_error(path: &Path, e: impl fmt::Display) -> ServerError {
    ServerError::DataDir {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The data directory, ready for a server: created (or a fresh temporary one), with its
/// `namespaces/` directory, and locked for this server alone. Blocking.
struct DataDir {
    path: PathBuf,
    tempdir: Option<tempfile::TempDir>,
    lock: rusqlite::Connection,
}

fn prepare_data_dir(configured: Option<PathBuf>) -> Result<DataDir, ServerError> {
    let (path, tempdir) = match configured {
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| data_dir_error(&dir, e))?;
            (dir, None)
        }
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("tiledb-tasks-server-")
                .tempdir()
                .map_err(|e| data_dir_error(&std::env::temp_dir(), e))?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    std::fs::create_dir_all(path.join("namespaces")).map_err(|e| data_dir_error(&path, e))?;
    let lock = lock_data_dir(&path)?;
    Ok(DataDir {
        path,
        tempdir,
        lock,
    })
}

/// Takes an exclusive SQLite lock on `server.lock`, held until the returned connection closes.
///
/// Two servers on one directory would corrupt each other's view: the second one's start-up
/// recovery would mark the first one's running tasks FAILED. SQLite's locks work across
/// processes and between connections of one process alike, with no extra dependency.
fn lock_data_dir(dir: &Path) -> Result<rusqlite::Connection, ServerError> {
    let take = || -> rusqlite::Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open(dir.join("server.lock"))?;
        conn.busy_timeout(Duration::ZERO)?;
        // In exclusive locking mode, the lock a write transaction takes is kept until close.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")?;
        Ok(conn)
    };
    take().map_err(|e| {
        let reason = if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
            "another running server uses it".to_owned()
        } else {
            format!("cannot lock it: {e}")
        };
        data_dir_error(dir, reason)
    })
}

impl LocalServer {
    /// Checks the configuration, prepares the data directory (failing tasks a previous run left
    /// unfinished), binds the address and starts serving in the background.
    pub async fn start(config: ServerConfig) -> Result<LocalServer, ServerError> {
        config.check_limits()?;
        let users = Users::new(config.users()?);
        let clock = Clock::default();
        let now = clock.now();
        let configured = config.data_dir.clone();
        let dir = tokio::task::spawn_blocking(move || prepare_data_dir(configured))
            .await
            .map_err(|e| ServerError::Config(format!("setup task failed: {e}")))??;

        // Bind before touching the store: a server that cannot listen must not recover (fail)
        // tasks either.
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|cause| ServerError::Bind {
                    addr: config.listen,
                    cause,
                })?;
        let addr = listener.local_addr().map_err(|cause| ServerError::Bind {
            addr: config.listen,
            cause,
        })?;
        if !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "listening on a non-loopback address: anyone who can reach it and holds an API \
                 key can run SQL on this machine"
            );
        }

        let store_path = dir.path.join("tasks.sqlite");
        let store = tokio::task::spawn_blocking(move || Store::open(&store_path, now))
            .await
            .map_err(|e| ServerError::Config(format!("setup task failed: {e}")))??;
        let DataDir {
            path: data_dir,
            tempdir,
            lock,
        } = dir;

        let stop = Arc::new(AtomicU8::new(engine::RUNNING));
        let state = Arc::new(AppState {
            users,
            store: Arc::new(store),
            engine: Engine::new(
                data_dir.join("namespaces"),
                config.query_timeout,
                config.max_result_bytes,
                Arc::clone(&stop),
            ),
            clock,
            permits: Arc::new(Semaphore::new(config.max_concurrent_queries)),
            max_permits: config.max_concurrent_queries,
            in_flight: Arc::new(InFlight::default()),
            accepting: AtomicBool::new(true),
            stop,
            retry_after_secs: config
                .retry_after
                .as_secs()
                .saturating_add(u64::from(config.retry_after.subsec_nanos() > 0)),
            result_ttl: config.result_ttl,
            max_body_bytes: config.max_body_bytes,
        });

        let switch = Arc::new(KillSwitch::default());
        let app = routes::router(Arc::clone(&state));
        let (signal, signal_rx) = oneshot::channel::<()>();
        let listener = KillableListener {
            inner: listener,
            switch: Arc::clone(&switch),
        };
        let serve = tokio::spawn(async move {
            let shutdown = async move {
                // Either an explicit signal or the sender's drop means "stop".
                let _ = signal_rx.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "server stopped with an error");
            }
        });
        let purge = tokio::spawn(purge_loop(Arc::clone(&state)));
        tracing::info!(%addr, data_dir = %data_dir.display(), "local Tasks server started");

        Ok(LocalServer {
            addr,
            api_key: config.api_key,
            data_dir,
            state,
            switch,
            running: Some(Running {
                signal,
                serve,
                purge,
            }),
            lock: Some(std::sync::Mutex::new(lock)),
            tempdir,
        })
    }

    /// `http://ADDRESS:PORT`, without `/v1`: what clients take as their host.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address actually bound (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API key of the default user `local`.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The default user's name: `local`.
    pub fn username(&self) -> &str {
        DEFAULT_USER
    }

    /// The default user's namespace: `local`.
    pub fn namespace(&self) -> &str {
        DEFAULT_USER
    }

    /// Where tasks, results and namespace databases live.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Moves the server's clock forward by `by`, so that tests can expire stored results (and
    /// date tasks apart) without sleeping. Affects timestamps of tasks recorded afterwards too.
    pub fn advance_clock(&self, by: Duration) {
        self.state.clock.advance(by);
    }

    /// Stops gracefully: refuses new submissions (503), interrupts running queries and records
    /// them FAILED ("server shut down"), lets in-flight answers complete, then closes the store.
    pub async fn shutdown(mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        let state = Arc::clone(&self.state);
        state.accepting.store(false, Ordering::SeqCst);
        state.stop.store(engine::SHUTTING_DOWN, Ordering::SeqCst);
        let _ = running.signal.send(());
        if tokio::time::timeout(SHUTDOWN_GRACE, state.in_flight.idle())
            .await
            .is_err()
        {
            tracing::warn!("some queries did not stop in time; their tasks stay RUNNING");
        }
        let mut serve = running.serve;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut serve)
            .await
            .is_err()
        {
            serve.abort();
        }
        running.purge.abort();
        let store = Arc::clone(&state.store);
        let _ = tokio::task::spawn_blocking(move || store.checkpoint()).await;
        tracing::info!(addr = %self.addr, "local Tasks server shut down");
    }

    /// Simulates a crash: stops serving at once (open connections break), interrupts queries,
    /// and writes nothing more to the store, so tasks that were running stay RUNNING on disk
    /// until the next start marks them FAILED.
    pub async fn kill(mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        let state = Arc::clone(&self.state);
        state.accepting.store(false, Ordering::SeqCst);
        // Freeze first: a query interrupted below must not get to record its failure.
        let store = Arc::clone(&state.store);
        let _ = tokio::task::spawn_blocking(move || store.freeze()).await;
        state.stop.store(engine::KILLED, Ordering::SeqCst);
        self.switch.kill();
        let _ = running.signal.send(());
        running.serve.abort();
        running.purge.abort();
        tracing::info!(addr = %self.addr, "local Tasks server killed");
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.state.accepting.store(false, Ordering::SeqCst);
            self.state
                .stop
                .store(engine::SHUTTING_DOWN, Ordering::SeqCst);
            let _ = running.signal.send(());
            running.purge.abort();
        }
        // Release the directory, then delete it if temporary, after serving stopped.
        drop(self.lock.take());
        drop(self.tempdir.take());
    }
}

async fn purge_loop(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(PURGE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let state = Arc::clone(&state);
        let purged = tokio::task::spawn_blocking(move || {
            let now = state.clock.now();
            state.store.purge_expired(now)
        })
        .await;
        match purged {
            Ok(Ok(n)) if n > 0 => tracing::debug!(results = n, "deleted expired results"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not delete expired results"),
            _ => {}
        }
    }
}

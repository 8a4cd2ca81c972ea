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
//! | `POST /v1/sql/{namespace}` | 200 rows, 204 no columns or `dont_download_results` (at once or when finished: see [`Timing`]), 400/403/413/503 `Error` |
//! | `GET /v1/task/{id}` | 200 `ArrayTask`, 404 when unknown or not visible to the caller |
//! | `GET /v1/task/{id}/result` | 200 stored bytes, 202 while a storing task is queued or running, 404 otherwise |
//! | `GET /v1/tasks` | 200 `ArrayTaskData` with `pagination_metadata` |
//! | `GET /_emulator/console` | the task console's page (and its files under it), to anyone: it holds no data and calls the routes above with the user's credentials |
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
//! | 1019 | 408 | the request head did not arrive within [`ServerConfig::header_timeout`] |
//! | 1020 | 414 | the request URI is longer than 65,534 bytes (or than `max_header_bytes`) |
//! | 1021 | 431 | the request head exceeds [`ServerConfig::max_header_bytes`] (or has over 100 headers) |
//! | 1022 | 503 | every connection is busy ([`ServerConfig::max_connections`]); see `Retry-After` |
//! | 1023 | 400 | the request head is not valid HTTP/1.1 |
//! | 1024 | any | a fault rule answered instead of the route ([`FaultRule`]) |
//! | 1025 | 400 | the query ran out of [`ServerConfig::max_query_memory`] (or made a string or blob over a quarter of it); task FAILED |
//! | 1026 | 400 | a statement's CTEs or views would make the planner copy them over 10,000 times; task FAILED |
//! | 1027 | 403 | the admin surface (`/_emulator/`) refused a user's credentials, or is off |
//!
//! # Limits
//!
//! Every resource a client controls is bounded. Each limit is a [`ServerConfig`] method and a
//! flag of the `tiledb-tasks-server` binary.
//!
//! | Limit | Default | Builder method | Flag | What a client sees when it is hit |
//! | --- | --- | --- | --- | --- |
//! | request head time | 5 s from the connection's start (a first request) or the head's first byte | [`header_timeout`](ServerConfig::header_timeout) | `--header-timeout-secs` | `408`, code 1019, then the connection closes (a connection that sent nothing is just closed) |
//! | idle keep-alive connection | 60 s | [`idle_timeout`](ServerConfig::idle_timeout) | `--idle-timeout-secs` | the connection closes (clients open a new one) |
//! | client not reading an answer | 30 s blocked; meanwhile a stored result is read from the store 256 KiB at a time as the client takes it, so a stalled reader holds about a chunk | [`write_timeout`](ServerConfig::write_timeout) | `--write-timeout-secs` | the connection is dropped mid-answer |
//! | open connections | 1024, lowered to fit under the file descriptor limit (less 96) | [`max_connections`](ServerConfig::max_connections) | `--max-connections` | a connection that never sent a request, else one idle 1 s or more, is closed to make room; with none, `503` code 1022 with `Retry-After`, then close |
//! | request head size | 64 KiB (URI: 65,534 bytes) | [`max_header_bytes`](ServerConfig::max_header_bytes) | `--max-header-bytes` | `431` code 1021 (`414` code 1020 for the URI) |
//! | request body | 1 MiB | [`max_body_bytes`](ServerConfig::max_body_bytes) | – | `413`, code 1008 |
//! | concurrent queries | the number of CPUs, at least 4 | [`max_concurrent_queries`](ServerConfig::max_concurrent_queries) | `--max-concurrent-queries` | `503` code 1011 with `Retry-After`; nothing recorded |
//! | query time | 30 s, checked while running and by a watchdog that interrupts the connection | [`query_timeout`](ServerConfig::query_timeout) | `--query-timeout-secs` | `400` code 1015; task FAILED |
//! | query memory | 256 MiB of SQLite heap for all queries together (process-wide); one string or blob at most a quarter of it | [`max_query_memory`](ServerConfig::max_query_memory) | `--max-query-memory` | `400` code 1025 naming the limit; task FAILED; the server carries on |
//! | query planning | 10,000 copies of CTE and view bodies per statement (weighed before SQLite prepares it) | – | – | `400` code 1026; task FAILED |
//! | result size | 64 MiB | [`max_result_bytes`](ServerConfig::max_result_bytes) | `--max-result-bytes` | `400` code 1016; task FAILED |
//! | result retention | 24 h | [`result_ttl`](ServerConfig::result_ttl) | `--result-ttl-secs` | `404` code 1006 once expired |
//!
//! A refusal below the routes (`408`, `414`, `431`, the connection `503`, a `400` for a head that
//! is not HTTP) is written on the connection itself with `Connection: close`; it carries an
//! `Error` body and an `X-Request-Id` like every other answer. One case does not: a head larger
//! than hyper's read buffer (`max(max_header_bytes, 64 KiB)`) gets the `431`, but hyper may stop
//! reading it first, so a client still sending can see the connection reset instead.
//!
//! # Choices where the spec is silent (or the real service differs)
//!
//! - `result_format` defaults to `json` when absent, `null` or `{}` (`{}` is what the official
//!   Python client sends for its `ResultFormat` model object; its own default is `arrow`, the real
//!   service's default is not documented). `json` is always produced, `arrow` when the crate
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
//! - `GET /v1/tasks`: `page` is 1-based (default 1; below 1 reads as 1); `per_page` defaults to
//!   10 (also for 0 or less) and is clamped to 1000; `pagination_metadata` reports the page and
//!   size applied, so a listing is never refused for its paging (our choice: the service's own
//!   handling of these values is not documented);
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
//! size, body size, concurrency and connections (see [Limits](#limits)). API keys and passwords never appear in logs, `Debug` output or
//! error messages.

#[cfg(feature = "arrow")]
mod arrow_encoder;
mod auth;
#[doc(hidden)]
pub mod cli;
mod config;
mod console;
mod data_dir;
mod emulator;
mod encode;
mod engine;
mod error;
mod expansion;
mod faults;
mod jobs;
mod journal;
mod limits;
mod listener;
mod routes;
mod sandbox;
mod seed;
// The one module allowed `unsafe` (see lib.rs): SQLite's heap limit, malloc_trim, mallopt.
#[allow(unsafe_code)]
mod sqlite_limits;
mod state;
mod store;
mod users;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

pub use config::ServerConfig;
pub use emulator::{TIMING_HEADER, Timing};
pub use error::ServerError;
pub use faults::{FaultAction, FaultRoute, FaultRule};
pub use journal::JournalEntry;

use auth::Users;
use config::DEFAULT_USER;
use data_dir::{DataDir, prepare_data_dir};
use emulator::Emulator;
use engine::Engine;
use listener::KillSwitch;
use state::{AppState, Clock, InFlight};
use store::Store;

/// How often expired results are deleted from the store.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a graceful shutdown waits for interrupted queries to record their outcome.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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
    /// Held (open) for the server's lifetime; see `data_dir.rs`.
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

impl LocalServer {
    /// Checks the configuration, prepares the data directory (failing tasks a previous run left
    /// unfinished), binds the address and starts serving in the background.
    pub async fn start(config: ServerConfig) -> Result<LocalServer, ServerError> {
        config.limits.check()?;
        let users = Users::new(config.users()?);
        let emulator = Emulator::new(&config.emulator, &users)?;
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
                &config.limits,
                Arc::clone(&stop),
            ),
            clock,
            permits: Arc::new(Semaphore::new(config.limits.max_concurrent_queries)),
            in_flight: Arc::new(InFlight::default()),
            accepting: AtomicBool::new(true),
            stop,
            limits: config.limits.clone(),
            emulator,
        });

        Emulator::seed(&state, &data_dir).await?;

        let switch = Arc::new(KillSwitch::default());
        let app = routes::router(Arc::clone(&state));
        let (signal, signal_rx) = oneshot::channel::<()>();
        let limits = config.limits.clone();
        let serve_switch = Arc::clone(&switch);
        let serve = tokio::spawn(async move {
            // Either an explicit signal or the sender's drop means "stop".
            listener::serve(listener, app, &limits, serve_switch, signal_rx).await;
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

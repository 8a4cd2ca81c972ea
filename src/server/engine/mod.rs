//! SQL execution: one SQLite database per namespace, the sandbox (`sandbox.rs`), limits, and the
//! result encoders (`encode.rs`).
//!
//! Every task gets a fresh connection to its namespace's file, so that a `TEMP` table or a setting
//! made by one task's `init_commands` can never leak into another task. Opening a SQLite file is a
//! few hundred microseconds; queries are not that cheap anyway.
//!
//! Each connection gets the sandbox's authorizer and runs in SQLite's defensive mode with
//! `trusted_schema` off.
//!
//! Limits (see the server's limits table):
//!
//! - time: a deadline checked by a progress handler (every 1000 VM steps, and at the points of
//!   parsing and planning where SQLite calls it), by the `sleep(ms)` test function, and by a
//!   watchdog thread that interrupts the connection when the deadline passes;
//! - planning: statements whose common table expressions (or views) would expand to more than
//!   [`MAX_EXPANSION`](super::expansion::MAX_EXPANSION) copies are refused before SQLite sees
//!   them (`expansion.rs`): SQLite's planner copies every `NOT MATERIALIZED` reference, and
//!   neither interrupts nor the progress handler reach the copying;
//! - memory: SQLite's hard heap limit (process-wide, `sqlite_limits.rs`) and, per connection,
//!   `SQLITE_LIMIT_LENGTH` (the largest string or blob: a quarter of the memory limit); after a
//!   query whose SQLite heap rose past [`HEAVY_QUERY_BYTES`], SQLite's caches are released and
//!   the allocator is trimmed, and large blocks are mapped on their own, so the memory goes back
//!   to the system;
//! - size: a byte budget counted while encoding;
//! - shutdown: a server-wide stop flag that interrupts every running query.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::functions::FunctionFlags;
use rusqlite::hooks::{AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::{Connection, ErrorCode as SqliteCode, OpenFlags};

use super::expansion;
use super::limits::Limits;
use super::sqlite_limits;

mod query;
mod watchdog;

pub(crate) use super::encode::{Encoder, encoder_for};
use super::sandbox::authorize;
pub(crate) use query::{Output, Query, QueryError, sql_parameters, valid_namespace};

/// The server is running normally.
pub(crate) const RUNNING: u8 = 0;
/// The server is shutting down gracefully: interrupt queries, record them FAILED.
pub(crate) const SHUTTING_DOWN: u8 = 1;
/// The server was killed: interrupt queries, record nothing.
pub(crate) const KILLED: u8 = 2;

/// A query whose SQLite heap rose past this is followed by a release of SQLite's caches and an
/// allocator trim.
pub(crate) const HEAVY_QUERY_BYTES: u64 = 8 * 1024 * 1024;

/// Runs queries. Cheap to share: plain settings plus the server's stop flag.
#[derive(Debug)]
pub(crate) struct Engine {
    namespaces_dir: PathBuf,
    query_timeout: Duration,
    max_result_bytes: usize,
    /// SQLite's heap limit for the whole server, in bytes.
    max_query_memory: u64,
    stop: Arc<AtomicU8>,
}

/// The per-query state the progress handler, `sleep` and the authorizer share.
#[derive(Debug)]
pub(crate) struct Control {
    /// `None` when the limit is too far away to represent: no deadline, in effect.
    deadline: Option<Instant>,
    stop: Arc<AtomicU8>,
    timed_out: AtomicBool,
    /// What the authorizer last refused, to explain SQLite's bare "not authorized".
    denied: Mutex<Option<String>>,
}

impl Control {
    fn should_interrupt(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) != RUNNING {
            return true;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.timed_out.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    pub(crate) fn deny(&self, why: String) -> Authorization {
        *self.denied.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        Authorization::Deny
    }
}

/// An execution failure before it is classified (timeout and shutdown look like SQL errors).
#[derive(Debug)]
pub(crate) enum Exec {
    Sqlite(rusqlite::Error),
    InitCommand(usize, rusqlite::Error),
    /// A statement would expand past the planner's limit (`expansion.rs`); the message says how.
    TooExpensive(String),
    ParameterCount {
        expected: usize,
        given: usize,
    },
    TooLarge,
    /// The encoder failed (not SQLite): never a timeout or a shutdown in disguise.
    #[cfg_attr(not(feature = "arrow"), allow(dead_code))]
    Encode(String),
}

impl From<rusqlite::Error> for Exec {
    fn from(e: rusqlite::Error) -> Self {
        Exec::Sqlite(e)
    }
}

impl Engine {
    /// An engine for the databases in `namespaces_dir`, under `limits`. Sets SQLite's heap
    /// limit, which is process-wide: with several servers in one process, the last one started
    /// sets it for all.
    pub(crate) fn new(namespaces_dir: PathBuf, limits: &Limits, stop: Arc<AtomicU8>) -> Self {
        sqlite_limits::set_hard_heap_limit(limits.max_query_memory);
        sqlite_limits::limit_allocator_retention();
        Engine {
            namespaces_dir,
            query_timeout: limits.query_timeout,
            max_result_bytes: limits.max_result_bytes,
            max_query_memory: limits.max_query_memory,
            stop,
        }
    }

    /// The largest string or blob a query may make (`SQLITE_LIMIT_LENGTH`).
    fn max_value_bytes(&self) -> i32 {
        i32::try_from(self.max_query_memory / 4).unwrap_or(i32::MAX)
    }

    /// Whether the server asked running queries to stop.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) != RUNNING
    }

    /// Runs `query` to completion on a fresh connection. Blocking: call from a blocking thread.
    pub(crate) fn run(&self, query: &Query) -> Result<Output, QueryError> {
        if self.stopping() {
            return Err(QueryError::Stopped);
        }
        let control = Arc::new(Control {
            deadline: Instant::now().checked_add(self.query_timeout),
            stop: Arc::clone(&self.stop),
            timed_out: AtomicBool::new(false),
            denied: Mutex::new(None),
        });
        let conn = self
            .open(&query.namespace, &control)
            .map_err(|e| QueryError::Setup(e.to_string()))?;
        let watchdog = watchdog::Watchdog::start(&conn, &control);
        let result = self.execute(&conn, query);
        drop(watchdog);
        drop(conn);
        if sqlite_limits::take_memory_highwater() > HEAVY_QUERY_BYTES {
            let trimmed = sqlite_limits::release_memory();
            tracing::debug!(
                sqlite_heap = sqlite_limits::memory_used(),
                trimmed,
                "released memory after a heavy query"
            );
        }
        result.map_err(|e| self.classify(e, &control))
    }

    fn classify(&self, error: Exec, control: &Control) -> QueryError {
        if self.stopping() {
            return QueryError::Stopped;
        }
        if control.timed_out.load(Ordering::Relaxed) {
            return QueryError::Timeout(self.query_timeout);
        }
        let (prefix, error) = match error {
            Exec::TooLarge => return QueryError::TooLarge(self.max_result_bytes),
            Exec::TooExpensive(why) => return QueryError::TooExpensive(why),
            Exec::Encode(m) => return QueryError::Encode(m),
            Exec::ParameterCount { expected, given } => {
                return QueryError::Sql(format!(
                    "the query has {expected} placeholder(s) but {given} parameter(s) were given"
                ));
            }
            Exec::InitCommand(i, e) => (format!("init_commands[{i}]: "), e),
            Exec::Sqlite(e) => (String::new(), e),
        };
        // The authorizer records why it refused; SQLite then fails the statement with either
        // SQLITE_AUTH or a generic error ("not authorized to use function: ...").
        let denied = control
            .denied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(why) = denied {
            return QueryError::NotAuthorized(format!("{prefix}not authorized: {why}"));
        }
        match error.sqlite_error_code() {
            Some(SqliteCode::AuthorizationForStatementDenied) => {
                return QueryError::NotAuthorized(format!("{prefix}{error}"));
            }
            Some(SqliteCode::OutOfMemory) => {
                return QueryError::MemoryLimit {
                    limit: self.max_query_memory,
                    value: None,
                };
            }
            Some(SqliteCode::TooBig) => {
                return QueryError::MemoryLimit {
                    limit: self.max_query_memory,
                    value: u64::try_from(self.max_value_bytes()).ok(),
                };
            }
            _ => {}
        }
        let message = match error {
            rusqlite::Error::MultipleStatement => {
                "the query must be a single statement; run earlier statements as init_commands"
                    .to_owned()
            }
            // SQLite's own message, without rusqlite's echo of the whole statement.
            rusqlite::Error::SqlInputError { msg, .. } => msg,
            rusqlite::Error::SqliteFailure(_, Some(msg)) => msg,
            other => other.to_string(),
        };
        QueryError::Sql(format!("{prefix}{message}"))
    }

    fn execute(&self, conn: &Connection, query: &Query) -> Result<Output, Exec> {
        for (i, command) in query.init_commands.iter().enumerate() {
            self.weigh(conn, command, &format!("init_commands[{i}]: "))?;
            conn.execute_batch(command)
                .map_err(|e| Exec::InitCommand(i, e))?;
        }
        self.weigh(conn, &query.sql, "")?;
        let mut stmt = conn.prepare(&query.sql)?;
        let expected = stmt.parameter_count();
        if expected != query.parameters.len() {
            return Err(Exec::ParameterCount {
                expected,
                given: query.parameters.len(),
            });
        }
        for (i, value) in query.parameters.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, value)?;
        }
        if stmt.column_count() == 0 {
            stmt.raw_execute()?;
            return Ok(Output::NoColumns);
        }
        query
            .encoder
            .encode(&mut stmt, self.max_result_bytes)
            .map(Output::Rows)
    }

    /// Refuses `sql` if its common table expressions, with the views of the database, would
    /// expand past the planner's limit.
    fn weigh(&self, conn: &Connection, sql: &str, prefix: &str) -> Result<(), Exec> {
        let views = expansion::views(conn)?;
        expansion::check(sql, &views).map_err(|why| Exec::TooExpensive(format!("{prefix}{why}")))
    }

    fn open(&self, namespace: &str, control: &Arc<Control>) -> rusqlite::Result<Connection> {
        let path = self.namespaces_dir.join(format!("{namespace}.sqlite"));
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(self.query_timeout.min(Duration::from_secs(5)))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "trusted_schema", "OFF")?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, self.max_value_bytes())?;

        let ctl = Arc::clone(control);
        conn.create_scalar_function(
            "sleep",
            1,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            move |ctx| {
                let ms: i64 = ctx.get(0)?;
                // An end too far to represent means "until interrupted".
                let end =
                    Instant::now().checked_add(Duration::from_millis(ms.max(0).unsigned_abs()));
                loop {
                    if ctl.should_interrupt() {
                        return Err(rusqlite::Error::UserFunctionError("interrupted".into()));
                    }
                    let left = match end {
                        Some(end) => end.saturating_duration_since(Instant::now()),
                        None => Duration::MAX,
                    };
                    if left.is_zero() {
                        return Ok(ms);
                    }
                    std::thread::sleep(left.min(Duration::from_millis(10)));
                }
            },
        )?;

        let ctl = Arc::clone(control);
        conn.progress_handler(1000, Some(move || ctl.should_interrupt()));

        let ctl = Arc::clone(control);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| authorize(&ctl, ctx)));
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(dir: &std::path::Path) -> Engine {
        let limits = Limits {
            query_timeout: Duration::from_secs(5),
            max_result_bytes: 1 << 20,
            ..Limits::default()
        };
        Engine::new(dir.to_path_buf(), &limits, Arc::new(AtomicU8::new(RUNNING)))
    }

    fn query(sql: &str) -> Query {
        Query {
            namespace: "ns".into(),
            sql: sql.into(),
            init_commands: vec![],
            parameters: vec![],
            encoder: Encoder::Json,
        }
    }

    #[test]
    fn json_rows_keep_column_order_and_types() {
        let dir = tempfile::tempdir().unwrap();
        let out = engine(dir.path())
            .run(&query(
                "SELECT 2 AS z, 1.5 AS a, 'x\"y' AS m, NULL AS n, x'0001' AS b",
            ))
            .unwrap();
        let Output::Rows(bytes) = out else {
            panic!("expected rows")
        };
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"[{"z":2,"a":1.5,"m":"x\"y","n":null,"b":"AAE="}]"#
        );
    }
}

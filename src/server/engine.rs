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
//! Limits: a deadline checked by a progress handler (every 1000 VM steps) and by the `sleep(ms)`
//! test function, a byte budget counted while encoding, and a server-wide stop flag that interrupts
//! every running query at shutdown.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::functions::FunctionFlags;
use rusqlite::hooks::{AuthContext, Authorization};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ErrorCode as SqliteCode, OpenFlags};

pub(crate) use super::encode::{Encoder, encoder_for};
use super::error::ErrorCode;
use super::sandbox::authorize;

/// The server is running normally.
pub(crate) const RUNNING: u8 = 0;
/// The server is shutting down gracefully: interrupt queries, record them FAILED.
pub(crate) const SHUTTING_DOWN: u8 = 1;
/// The server was killed: interrupt queries, record nothing.
pub(crate) const KILLED: u8 = 2;

/// Whether `name` is a valid namespace: `[A-Za-z0-9_.-]{1,64}`, not starting with `.`.
///
/// Namespaces become file names, so this is also what keeps them inside the data directory.
pub(crate) fn valid_namespace(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The SQL values for the JSON `parameters`, or a message naming the first one that cannot be
/// bound (arrays and objects have no SQL counterpart).
pub(crate) fn sql_parameters(values: &[serde_json::Value]) -> Result<Vec<SqlValue>, String> {
    use serde_json::Value as J;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            J::Null => Ok(SqlValue::Null),
            J::Bool(b) => Ok(SqlValue::Integer(i64::from(*b))),
            J::Number(n) => match n.as_i64() {
                Some(i) => Ok(SqlValue::Integer(i)),
                None => n
                    .as_f64()
                    .map(SqlValue::Real)
                    .ok_or_else(|| format!("parameters[{i}]: number {n} cannot be bound")),
            },
            J::String(s) => Ok(SqlValue::Text(s.clone())),
            J::Array(_) | J::Object(_) => Err(format!(
                "parameters[{i}]: arrays and objects cannot be bound to a placeholder \
                 (use null, a boolean, a number or a string)"
            )),
        })
        .collect()
}

/// One query to run.
#[derive(Debug)]
pub(crate) struct Query {
    pub(crate) namespace: String,
    pub(crate) sql: String,
    pub(crate) init_commands: Vec<String>,
    pub(crate) parameters: Vec<SqlValue>,
    pub(crate) encoder: Encoder,
}

/// What a successful query produced.
#[derive(Debug)]
pub(crate) enum Output<B = Vec<u8>> {
    /// The statement has result columns: the encoded rows (possibly zero of them).
    Rows(B),
    /// The statement has no result columns (DDL, DML without `RETURNING`).
    NoColumns,
}

/// Why a query failed. Each maps to an error code and a message for `status_message`.
#[derive(Debug)]
pub(crate) enum QueryError {
    /// SQLite failed the statement (syntax, constraint, missing table...); SQLite's message.
    Sql(String),
    /// The sandbox refused a statement.
    NotAuthorized(String),
    /// The query ran past the time limit.
    Timeout(Duration),
    /// The result grew past the byte limit.
    TooLarge(usize),
    /// The server shut down (or was killed) while the query ran.
    Stopped,
    /// The namespace database could not be opened or set up.
    Setup(String),
    /// The rows could not be encoded (a fault of the encoder, not of the query).
    Encode(String),
}

impl QueryError {
    /// The message recorded as the task's `status_message` and sent in the error body.
    pub(crate) fn message(&self) -> String {
        match self {
            QueryError::Sql(m) | QueryError::NotAuthorized(m) => m.clone(),
            QueryError::Timeout(d) => {
                format!("query exceeded the time limit of {}", human(*d))
            }
            QueryError::TooLarge(n) => format!("result exceeds {n} bytes (the server's limit)"),
            QueryError::Stopped => "server shut down before the query finished".to_owned(),
            QueryError::Setup(m) => format!("could not open the namespace database: {m}"),
            QueryError::Encode(m) => format!("could not encode the result: {m}"),
        }
    }

    /// The `code` of the error body.
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            QueryError::Sql(_) => ErrorCode::QueryFailed,
            QueryError::NotAuthorized(_) => ErrorCode::QueryNotAuthorized,
            QueryError::Timeout(_) => ErrorCode::QueryTimeout,
            QueryError::TooLarge(_) => ErrorCode::ResultTooLarge,
            QueryError::Stopped => ErrorCode::QueryInterrupted,
            QueryError::Setup(_) | QueryError::Encode(_) => ErrorCode::Internal,
        }
    }
}

/// `30 s`, `1.5 s`, `250 ms`: a limit as a person would write it.
fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else if d.as_secs() > 0 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Runs queries. Cheap to share: plain settings plus the server's stop flag.
#[derive(Debug)]
pub(crate) struct Engine {
    namespaces_dir: PathBuf,
    query_timeout: Duration,
    max_result_bytes: usize,
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
    pub(crate) fn new(
        namespaces_dir: PathBuf,
        query_timeout: Duration,
        max_result_bytes: usize,
        stop: Arc<AtomicU8>,
    ) -> Self {
        Engine {
            namespaces_dir,
            query_timeout,
            max_result_bytes,
            stop,
        }
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
        let result = self.execute(&conn, query);
        drop(conn);
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
        if error.sqlite_error_code() == Some(SqliteCode::AuthorizationForStatementDenied) {
            return QueryError::NotAuthorized(format!("{prefix}{error}"));
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
            conn.execute_batch(command)
                .map_err(|e| Exec::InitCommand(i, e))?;
        }
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
        Engine::new(
            dir.to_path_buf(),
            Duration::from_secs(5),
            1 << 20,
            Arc::new(AtomicU8::new(RUNNING)),
        )
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
    fn namespaces_are_safe_file_names() {
        assert!(valid_namespace("local"));
        assert!(valid_namespace("a.b-c_D9"));
        assert!(!valid_namespace(""));
        assert!(!valid_namespace(".hidden"));
        assert!(!valid_namespace("../etc"));
        assert!(!valid_namespace("a/b"));
        assert!(!valid_namespace(&"a".repeat(65)));
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

    #[test]
    fn bool_parameters_bind_as_integers() {
        let p = sql_parameters(&[serde_json::json!(true), serde_json::json!(1.5)]).unwrap();
        assert_eq!(p, vec![SqlValue::Integer(1), SqlValue::Real(1.5)]);
        assert!(sql_parameters(&[serde_json::json!([1])]).is_err());
    }

    #[test]
    fn timeouts_are_reported_in_readable_units() {
        assert_eq!(human(Duration::from_secs(30)), "30 s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
    }
}

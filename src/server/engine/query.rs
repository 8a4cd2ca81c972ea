//! What a query is and what it gives: the query to run (its namespace, SQL, parameters and
//! encoder), its output, and why it failed ([`QueryError`], each with its code and message).

use std::time::Duration;

use rusqlite::types::Value as SqlValue;

use super::Encoder;
use crate::server::error::ErrorCode;

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
    /// SQLite ran out of its heap limit (`value`: a string or blob grew past the value limit).
    MemoryLimit { limit: u64, value: Option<u64> },
    /// A statement would expand past what the planner may copy; the message says how.
    TooExpensive(String),
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
            QueryError::MemoryLimit { limit, value: None } => format!(
                "query exceeded the memory limit of {limit} bytes (the server's max_query_memory)"
            ),
            QueryError::MemoryLimit {
                limit,
                value: Some(value),
            } => format!(
                "query exceeded the memory limit: a string or blob over {value} bytes (a quarter \
                 of the server's max_query_memory of {limit} bytes)"
            ),
            QueryError::TooExpensive(why) => why.clone(),
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
            QueryError::MemoryLimit { .. } => ErrorCode::MemoryLimit,
            QueryError::TooExpensive(_) => ErrorCode::TooExpensive,
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

#[cfg(test)]
mod tests {
    use super::*;

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

//! [`DecodeError`]: a body that was not what it should be. It says where (the row, the column,
//! the JSON path), what was expected and what kind of value was found, never the value itself: a
//! result's data must not end up in logs.

use std::fmt;

use super::parts::task_suffix;
use super::{Error, Result};
use crate::lenient::Bools;
use crate::task_id::TaskId;

/// How many bytes of an unexpected (non-result) body an error keeps, so that a huge HTML page
/// does not end up in a log line.
pub(crate) const SNIPPET_LIMIT: usize = 512;

/// A body that could not be read as what it should be.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DecodeError {
    pub(crate) what: String,
    pub(crate) path: String,
    pub(crate) message: String,
    /// The start of a body that is not result data (a task, a page), for diagnosis.
    pub(crate) snippet: Option<String>,
    pub(crate) task_id: Option<TaskId>,
}

impl DecodeError {
    pub(crate) fn new(
        what: &str,
        path: String,
        message: String,
        task_id: Option<&TaskId>,
    ) -> DecodeError {
        DecodeError {
            what: what.to_owned(),
            path,
            message: scrub_values(&message),
            snippet: None,
            task_id: task_id.cloned(),
        }
    }

    /// What was being decoded (`ArrayTask`, `JSON rows`, …).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The JSON path that failed (`[3].price` for the column `price` of row 3,
    /// `array_tasks[3].status`), or `.` for the whole body.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The row that failed, for rows.
    pub fn row(&self) -> Option<u64> {
        let rest = self.path.strip_prefix('[')?;
        rest[..rest.find(']')?].parse().ok()
    }

    /// The column that failed, for rows of objects.
    pub fn column(&self) -> Option<&str> {
        let rest = self.path.strip_prefix('[')?;
        let column = rest[rest.find(']')? + 1..].strip_prefix('.')?;
        Some(column.split(['.', '[']).next().unwrap_or(column))
    }

    /// What the decoder said, with any value it quoted left out (`invalid type: string, expected
    /// i64`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The start of the body (at most 512 bytes), for bodies that are not result data (a task, a
    /// page of tasks); `None` for rows and results, whose bytes are never quoted.
    pub fn snippet(&self) -> Option<&str> {
        self.snippet.as_deref()
    }

    /// The task it was about, if any.
    pub fn task_id(&self) -> Option<&TaskId> {
        self.task_id.as_ref()
    }

    /// Decodes `body` (a model: a task, a page) as JSON of type `T`, or says where and why it
    /// failed, quoting the start of the body.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(
        what: &str,
        body: &[u8],
        task_id: Option<&TaskId>,
    ) -> Result<T> {
        decode_json(what, body, task_id, false).map_err(|mut d| {
            d.snippet = Some(snippet(body));
            Error::Decode(Box::new(d))
        })
    }

    /// Decodes result data as JSON of type `T`, its `bool`s lenient (`0`, `1`, `"true"`,
    /// `"false"`: see [`SqlResult::rows`](crate::SqlResult::rows)); an error never quotes the body.
    pub(crate) fn result_json<T: serde::de::DeserializeOwned>(
        what: &str,
        body: &[u8],
        task_id: Option<&TaskId>,
    ) -> Result<T> {
        decode_json(what, body, task_id, true).map_err(|d| Error::Decode(Box::new(d)))
    }
}

/// `body` as a `T`, `bool`s lenient: a `0`/`1` or a `"true"`/`"false"` where a `bool` is asked for.
fn lenient_from_slice<T: serde::de::DeserializeOwned>(body: &[u8]) -> serde_json::Result<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = T::deserialize(Bools(&mut de))?;
    de.end()?;
    Ok(value)
}

fn decode_json<T: serde::de::DeserializeOwned>(
    what: &str,
    body: &[u8],
    task_id: Option<&TaskId>,
    lenient: bool,
) -> std::result::Result<T, DecodeError> {
    // The fast path: plain serde_json (which also refuses trailing data after the value).
    // Tracking the path costs about as much again, so it is paid only to explain a failure; the
    // lenient pass (bools as 0/1) likewise only when the plain one failed.
    let plain = match serde_json::from_slice(body) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let failed = if lenient {
        match lenient_from_slice(body) {
            Ok(value) => return Ok(value),
            Err(e) => e,
        }
    } else {
        plain
    };
    // The last pass only finds where it failed; a body that fails only for trailing data
    // after its value is wrong as a whole (`[1][2]` is not the rows `[1]`).
    let mut de = serde_json::Deserializer::from_slice(body);
    let path = if lenient {
        serde_path_to_error::deserialize::<_, T>(Bools(&mut de)).err()
    } else {
        serde_path_to_error::deserialize::<_, T>(&mut de).err()
    }
    .map_or_else(|| ".".to_owned(), |e| e.path().to_string());
    Err(DecodeError::new(what, path, failed.to_string(), task_id))
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot decode {}", self.what)?;
        match (self.row(), self.column()) {
            (Some(row), Some(column)) => write!(f, ", row {row}, column `{column}`")?,
            (Some(row), None) if self.path == format!("[{row}]") => write!(f, ", row {row}")?,
            (Some(row), None) => write!(f, ", row {row} at `{}`", self.path)?,
            _ if self.path != "." => write!(f, " at `{}`", self.path)?,
            _ => {}
        }
        write!(
            f,
            "{}: {}",
            task_suffix(self.task_id.as_ref()),
            self.message
        )?;
        if let Some(s) = &self.snippet {
            write!(f, "; body starts: {s:?}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

/// Up to [`SNIPPET_LIMIT`] bytes of `body`, as text, cut at a character boundary.
pub(crate) fn snippet(body: &[u8]) -> String {
    let cut = &body[..body.len().min(SNIPPET_LIMIT)];
    let text = String::from_utf8_lossy(cut);
    let mut text = text.trim().to_owned();
    if body.len() > SNIPPET_LIMIT {
        text.push('…');
    }
    text
}

/// A decoder's message without the values it quotes: serde writes a string found as
/// `string "the value"`, other values between backticks (``integer `5` ``, ``unknown variant
/// `x` ``). Both are dropped, so `invalid type: string "s3cr3t", expected i64` becomes `invalid
/// type: string, expected i64`. Names written in the message by code (``missing field `a` ``)
/// are kept: they are not data.
pub(crate) fn scrub_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[i];
        let before = &rest[..i];
        let keep = quote == b'`' && !quotes_a_value(before);
        let Some(len) = quoted_len(&rest[i..], quote) else {
            // An unterminated quote: drop everything after it.
            out.push_str(before.trim_end());
            return out;
        };
        if keep {
            out.push_str(&rest[..i + len]);
        } else {
            out.push_str(before.trim_end());
        }
        rest = &rest[i + len..];
    }
    out.push_str(rest);
    out
}

/// Whether the backticked text after `before` is a value serde quotes (``integer `5` ``), not a
/// name from code (``missing field `a` ``, ``expected one of `x`, `y` ``).
fn quotes_a_value(before: &str) -> bool {
    let before = before.trim_end();
    [
        "integer",
        "floating point",
        "boolean",
        "character",
        "unknown variant",
    ]
    .iter()
    .any(|kind| before.ends_with(kind))
}

/// The length of the quoted text at the start of `s` (quotes included), `"` with Rust's escapes.
fn quoted_len(s: &str, quote: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_dropped_and_field_names_kept() {
        assert_eq!(
            scrub_values(r#"invalid type: string "s3cr\"et", expected i64 at line 1 column 9"#),
            "invalid type: string, expected i64 at line 1 column 9"
        );
        assert_eq!(
            scrub_values("invalid value: integer `-3`, expected u8"),
            "invalid value: integer, expected u8"
        );
        assert_eq!(
            scrub_values("unknown variant `hush`, expected `a` or `b`"),
            "unknown variant, expected `a` or `b`"
        );
        assert_eq!(
            scrub_values("missing field `price`"),
            "missing field `price`"
        );
        assert_eq!(scrub_values(r#"cut "short"#), "cut");
    }

    #[test]
    fn rows_and_columns_are_read_from_the_path() {
        let d = DecodeError::new("JSON rows", "[12].price".into(), "m".into(), None);
        assert_eq!((d.row(), d.column()), (Some(12), Some("price")));
        let d = DecodeError::new("JSON rows", "[3]".into(), "m".into(), None);
        assert_eq!((d.row(), d.column()), (Some(3), None));
        let d = DecodeError::new("ArrayTask", "status".into(), "m".into(), None);
        assert_eq!((d.row(), d.column()), (None, None));
        let d = DecodeError::new("JSON rows", "[3][1]".into(), "m".into(), None);
        assert_eq!((d.row(), d.column()), (Some(3), None));
        assert_eq!(
            d.to_string(),
            "cannot decode JSON rows, row 3 at `[3][1]`: m"
        );
        let d = DecodeError::new("JSON rows", "[3]".into(), "m".into(), None);
        assert_eq!(d.to_string(), "cannot decode JSON rows, row 3: m");
    }
}

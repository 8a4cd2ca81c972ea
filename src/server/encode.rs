//! Result encoders: how a statement's rows become the bytes of a result, one variant per format
//! the server can produce ([`encoder_for`] is the one place that maps a requested `result_format`
//! to one). The byte budget is counted while encoding.

use std::io::Write as _;

use base64::Engine as _;
use rusqlite::Statement;
use rusqlite::types::ValueRef;

use super::engine::Exec;
use crate::model::ResultFormat;

/// How a result is serialized. One variant per format the server can produce; [`encoder_for`] is
/// the one place that maps a requested `result_format` to it (an Arrow encoder goes there too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoder {
    /// `[{"col": value, ...}, ...]`, keys in column order.
    Json,
    /// An Arrow IPC stream (feature `arrow`); see the server docs for the column types.
    #[cfg(feature = "arrow")]
    Arrow,
}

/// The formats this build can produce, for the message refusing any other.
const SUPPORTED: &str = if cfg!(feature = "arrow") {
    "json, arrow"
} else {
    "json"
};

/// The encoder for `format`, or a message naming the format the server cannot produce.
pub(crate) fn encoder_for(format: &ResultFormat) -> Result<Encoder, String> {
    match format {
        ResultFormat::Json => Ok(Encoder::Json),
        #[cfg(feature = "arrow")]
        ResultFormat::Arrow => Ok(Encoder::Arrow),
        other => Err(format!(
            "result_format \"{}\" is not supported by this server (supported: {SUPPORTED})",
            super::error::shorten(other.as_str(), 40)
        )),
    }
}

impl Encoder {
    /// The `Content-Type` of results in this encoding.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Encoder::Json => ResultFormat::Json
                .content_type()
                .unwrap_or("application/json"),
            #[cfg(feature = "arrow")]
            Encoder::Arrow => ResultFormat::Arrow
                .content_type()
                .unwrap_or("application/vnd.apache.arrow.stream"),
        }
    }

    /// The stored form of "no rows, no columns" (a DDL or DML statement), so that a stored result
    /// always exists for a completed task that asked for one.
    pub(crate) fn empty(self) -> Vec<u8> {
        match self {
            Encoder::Json => b"[]".to_vec(),
            #[cfg(feature = "arrow")]
            Encoder::Arrow => super::arrow_encoder::empty_stream(),
        }
    }

    pub(crate) fn encode(self, stmt: &mut Statement<'_>, limit: usize) -> Result<Vec<u8>, Exec> {
        match self {
            Encoder::Json => encode_json(stmt, limit),
            #[cfg(feature = "arrow")]
            Encoder::Arrow => super::arrow_encoder::encode_arrow(stmt, limit),
        }
    }
}

pub(crate) fn encode_json(stmt: &mut Statement<'_>, limit: usize) -> Result<Vec<u8>, Exec> {
    let keys: Vec<Vec<u8>> = stmt
        .column_names()
        .iter()
        .map(|name| json_string(name))
        .collect();
    let mut out = Vec::with_capacity(256);
    out.push(b'[');
    let mut rows = stmt.raw_query();
    let mut first = true;
    while let Some(row) = rows.next()? {
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'{');
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            out.push(b':');
            write_json_value(&mut out, row.get_ref(i)?);
            if out.len() > limit {
                return Err(Exec::TooLarge);
            }
        }
        out.push(b'}');
    }
    out.push(b']');
    if out.len() > limit {
        return Err(Exec::TooLarge);
    }
    Ok(out)
}

fn json_string(s: &str) -> Vec<u8> {
    // Serializing a &str cannot fail; fall back to an empty key rather than panic.
    serde_json::to_vec(s).unwrap_or_else(|_| b"\"\"".to_vec())
}

/// One SQLite value as JSON: INTEGER a number, REAL a number (`null` when not finite: JSON has no
/// infinity), TEXT a string (invalid UTF-8 replaced), BLOB a base64 (standard, padded) string.
fn write_json_value(out: &mut Vec<u8>, value: ValueRef<'_>) {
    match value {
        ValueRef::Null => out.extend_from_slice(b"null"),
        ValueRef::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        ValueRef::Real(f) if f.is_finite() => {
            if serde_json::to_writer(&mut *out, &f).is_err() {
                out.extend_from_slice(b"null");
            }
        }
        ValueRef::Real(_) => out.extend_from_slice(b"null"),
        ValueRef::Text(bytes) => {
            out.extend_from_slice(&json_string(&String::from_utf8_lossy(bytes)));
        }
        ValueRef::Blob(bytes) => {
            out.push(b'"');
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .as_bytes(),
            );
            out.push(b'"');
        }
    }
}

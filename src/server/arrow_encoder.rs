//! The Arrow IPC stream encoder (features `server` + `arrow`): SQLite rows as an Arrow IPC
//! *stream* (a schema message, record batches of up to [`BATCH_ROWS`] rows, the end-of-stream
//! marker).
//!
//! A stream needs its schema first, but SQLite types values, not columns: the rows are collected
//! (within the result byte limit), each column's type is decided from its declared type and its
//! values, and then the batches are written. The rules are in the server module docs
//! ("Arrow results").

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, Float64Array, Int64Array, NullArray, RecordBatch, StringArray,
};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, DataType, Field, Schema};
use rusqlite::Statement;
use rusqlite::types::ValueRef;

use super::engine::Exec;

/// Rows per record batch.
pub(crate) const BATCH_ROWS: usize = 8192;

/// One SQLite value, owned (rusqlite's own `Value` panics on invalid UTF-8 text).
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    /// Invalid UTF-8 replaced, as in JSON results.
    Text(String),
    Blob(Vec<u8>),
}

impl Cell {
    fn from_ref(value: ValueRef<'_>) -> Cell {
        match value {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(i) => Cell::Integer(i),
            ValueRef::Real(f) => Cell::Real(f),
            ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
        }
    }

    /// A lower bound on what the value costs in the encoded stream, so that collecting the rows
    /// can stop early without ever refusing a result that would have fit.
    fn min_encoded_len(&self) -> usize {
        match self {
            Cell::Null => 0,
            // Eight bytes as Int64/Float64; at least one character plus a 4-byte offset as text.
            Cell::Integer(_) | Cell::Real(_) => 5,
            Cell::Text(s) => s.len(),
            Cell::Blob(b) => b.len(),
        }
    }

    /// The value as text, as SQLite's `CAST(x AS TEXT)` would give it (reals in Rust's shortest
    /// round-trip form, always with a `.` or an exponent).
    fn to_text(&self) -> Option<String> {
        match self {
            Cell::Null => None,
            Cell::Integer(i) => Some(i.to_string()),
            Cell::Real(f) => Some(format!("{f:?}")),
            Cell::Text(s) => Some(s.clone()),
            Cell::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        }
    }

    /// The value as bytes, as SQLite's `CAST(x AS BLOB)` would give it (numbers as their text).
    fn to_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Cell::Blob(b) => Some(b.clone()),
            other => other.to_text().map(String::into_bytes),
        }
    }
}

/// The Arrow type a declared SQLite column type asks for, by SQLite's own affinity rules
/// (substring matches, in this order); `None` when the values decide.
pub(crate) fn declared_type(decl: Option<&str>) -> Option<DataType> {
    let decl = decl?.to_ascii_uppercase();
    if decl.contains("INT") {
        Some(DataType::Int64)
    } else if decl.contains("CHAR") || decl.contains("CLOB") || decl.contains("TEXT") {
        Some(DataType::Utf8)
    } else if decl.contains("BLOB") {
        Some(DataType::Binary)
    } else if decl.contains("REAL") || decl.contains("FLOA") || decl.contains("DOUB") {
        Some(DataType::Float64)
    } else {
        // NUMERIC, DECIMAL, BOOLEAN, DATE, an empty declaration...: the values decide.
        None
    }
}

/// Whether every value of a column fits `ty` as is (integers fit Float64).
fn fits(ty: &DataType, values: &[Cell]) -> bool {
    values.iter().all(|v| {
        matches!(
            (ty, v),
            (_, Cell::Null)
                | (DataType::Int64, Cell::Integer(_))
                | (DataType::Float64, Cell::Integer(_) | Cell::Real(_))
                | (DataType::Utf8, Cell::Text(_))
                | (DataType::Binary, Cell::Blob(_))
        )
    })
}

/// The type the values of a column call for: any BLOB → Binary, else any TEXT → Utf8, else any
/// REAL → Float64, else any INTEGER → Int64, else (no values, or all NULL) → Null.
fn inferred_type(values: &[Cell]) -> DataType {
    let (mut int, mut real, mut text, mut blob) = (false, false, false, false);
    for v in values {
        match v {
            Cell::Null => {}
            Cell::Integer(_) => int = true,
            Cell::Real(_) => real = true,
            Cell::Text(_) => text = true,
            Cell::Blob(_) => blob = true,
        }
    }
    if blob {
        DataType::Binary
    } else if text {
        DataType::Utf8
    } else if real {
        DataType::Float64
    } else if int {
        DataType::Int64
    } else {
        DataType::Null
    }
}

/// The column's type: the declared one when every value fits it, else the values' own.
fn column_type(decl: Option<&str>, values: &[Cell]) -> DataType {
    match declared_type(decl) {
        Some(ty) if fits(&ty, values) => ty,
        _ => inferred_type(values),
    }
}

/// `values` (already known to fit) as an array of `ty`.
fn array(ty: &DataType, values: &[Cell]) -> ArrayRef {
    match ty {
        DataType::Int64 => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Cell::Integer(i) => Some(*i),
                    _ => None,
                })
                .collect::<Int64Array>(),
        ),
        DataType::Float64 => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Cell::Real(f) => Some(*f),
                    // Exact up to 2^53; larger integers round to the nearest f64.
                    #[allow(clippy::cast_precision_loss)]
                    Cell::Integer(i) => Some(*i as f64),
                    _ => None,
                })
                .collect::<Float64Array>(),
        ),
        DataType::Utf8 => Arc::new(values.iter().map(Cell::to_text).collect::<StringArray>()),
        DataType::Binary => Arc::new(values.iter().map(Cell::to_bytes).collect::<BinaryArray>()),
        _ => Arc::new(NullArray::new(values.len())),
    }
}

/// The declared types of the statement's columns. rusqlite panics on a declaration that is not
/// UTF-8 (SQL text always is, so this is belt and braces): that counts as no declaration.
fn declarations(stmt: &Statement<'_>) -> Vec<Option<String>> {
    let n = stmt.column_count();
    catch_unwind(AssertUnwindSafe(|| {
        stmt.columns()
            .iter()
            .map(|c| c.decl_type().map(str::to_owned))
            .collect()
    }))
    .unwrap_or_else(|_| vec![None; n])
}

fn encode_error(e: ArrowError) -> Exec {
    Exec::Encode(e.to_string())
}

/// The statement's rows as an Arrow IPC stream of at most `limit` bytes.
pub(crate) fn encode_arrow(stmt: &mut Statement<'_>, limit: usize) -> Result<Vec<u8>, Exec> {
    let names: Vec<String> = stmt
        .column_names()
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    let decls = declarations(stmt);
    let width = names.len();

    // Column-major, so that each column's values are one slice.
    let mut columns: Vec<Vec<Cell>> = vec![Vec::new(); width];
    let mut budget = 0usize;
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        for (i, column) in columns.iter_mut().enumerate() {
            let cell = Cell::from_ref(row.get_ref(i)?);
            budget = budget.saturating_add(cell.min_encoded_len());
            column.push(cell);
        }
        if budget > limit {
            return Err(Exec::TooLarge);
        }
    }
    drop(rows);

    let types: Vec<DataType> = columns
        .iter()
        .zip(&decls)
        .map(|(values, decl)| column_type(decl.as_deref(), values))
        .collect();
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .zip(&types)
            .map(|(name, ty)| Field::new(name, ty.clone(), true))
            .collect::<Vec<_>>(),
    ));

    let mut writer = StreamWriter::try_new(Vec::new(), &schema).map_err(encode_error)?;
    let len = columns.first().map_or(0, Vec::len);
    let mut start = 0;
    while start < len {
        let end = start.saturating_add(BATCH_ROWS).min(len);
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .zip(&types)
            .map(|(values, ty)| array(ty, values.get(start..end).unwrap_or_default()))
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).map_err(encode_error)?;
        writer.write(&batch).map_err(encode_error)?;
        if writer.get_ref().len() > limit {
            return Err(Exec::TooLarge);
        }
        start = end;
    }
    writer.finish().map_err(encode_error)?;
    let out = writer.into_inner().map_err(encode_error)?;
    if out.len() > limit {
        return Err(Exec::TooLarge);
    }
    Ok(out)
}

/// An Arrow stream with no columns and no rows: the stored form of a statement without columns.
pub(crate) fn empty_stream() -> Vec<u8> {
    let write = || -> Result<Vec<u8>, ArrowError> {
        let mut writer = StreamWriter::try_new(Vec::new(), &Schema::empty())?;
        writer.finish()?;
        writer.into_inner()
    };
    // Writing to a Vec cannot fail; an empty body also reads as "no batches".
    write().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_follow_sqlite_affinity_rules() {
        assert_eq!(declared_type(Some("INTEGER")), Some(DataType::Int64));
        assert_eq!(declared_type(Some("bigint")), Some(DataType::Int64));
        assert_eq!(declared_type(Some("VARCHAR(10)")), Some(DataType::Utf8));
        assert_eq!(declared_type(Some("CLOB")), Some(DataType::Utf8));
        assert_eq!(declared_type(Some("BLOB")), Some(DataType::Binary));
        assert_eq!(
            declared_type(Some("DOUBLE PRECISION")),
            Some(DataType::Float64)
        );
        assert_eq!(declared_type(Some("FLOAT")), Some(DataType::Float64));
        assert_eq!(declared_type(Some("NUMERIC")), None);
        assert_eq!(declared_type(Some("")), None);
        assert_eq!(declared_type(None), None);
    }

    #[test]
    fn values_that_do_not_fit_the_declaration_decide_the_type() {
        let ints = [Cell::Integer(1), Cell::Null];
        assert_eq!(column_type(Some("INTEGER"), &ints), DataType::Int64);
        let mixed = [Cell::Integer(1), Cell::Text("x".into())];
        assert_eq!(column_type(Some("INTEGER"), &mixed), DataType::Utf8);
        let reals = [Cell::Integer(1), Cell::Real(0.5)];
        assert_eq!(column_type(None, &reals), DataType::Float64);
        assert_eq!(column_type(Some("REAL"), &ints), DataType::Float64);
        let blob = [Cell::Text("x".into()), Cell::Blob(vec![1])];
        assert_eq!(column_type(None, &blob), DataType::Binary);
        assert_eq!(column_type(None, &[Cell::Null]), DataType::Null);
        assert_eq!(column_type(None, &[]), DataType::Null);
        assert_eq!(column_type(Some("TEXT"), &[]), DataType::Utf8);
    }

    #[test]
    fn numbers_in_text_columns_read_as_sqlite_would_cast_them() {
        assert_eq!(Cell::Integer(-7).to_text().as_deref(), Some("-7"));
        assert_eq!(Cell::Real(1.0).to_text().as_deref(), Some("1.0"));
        assert_eq!(Cell::Real(0.25).to_bytes(), Some(b"0.25".to_vec()));
        assert_eq!(Cell::Null.to_text(), None);
    }
}

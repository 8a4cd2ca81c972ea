//! Opt-in leniency for SQL results: the real service sometimes sends numbers as strings (computed
//! and aggregate columns, notably). Mark such a field, and both `42` and `"42"` read as a number:
//!
//! ```
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Row {
//!     #[serde(deserialize_with = "tiledb_cloud_tasks::lenient::number")]
//!     total: i64,
//!     #[serde(default, deserialize_with = "tiledb_cloud_tasks::lenient::option_number")]
//!     mean: Option<f64>,
//! }
//!
//! let rows: Vec<Row> = serde_json::from_str(r#"[{"total":"42","mean":"1.5"},{"total":7,"mean":null}]"#).unwrap();
//! assert_eq!((rows[0].total, rows[0].mean), (42, Some(1.5)));
//! assert_eq!((rows[1].total, rows[1].mean), (7, None));
//! ```
//!
//! A string that is not a number is still an error (a [`DecodeError`](crate::DecodeError) names
//! the row, the column and the types, never the string).
//!
//! # Booleans, always lenient
//!
//! SQLite has no boolean type: a `BOOLEAN` column holds `0` or `1`. So without any attribute, a
//! `bool` field of the rows read by [`SqlResult::rows`](crate::SqlResult::rows) and
//! [`ResultStream::rows_stream`](crate::ResultStream::rows_stream) also accepts `0` and `1` and the
//! strings `"true"` and `"false"` (other numbers and strings are still errors). Only what decodes
//! into a `bool` is affected.
//!
//! ```
//! # use tiledb_cloud_tasks::__private::JsonRowDecoder;
//! #[derive(serde::Deserialize)]
//! struct Row { id: i64, done: bool }
//!
//! let mut decoder = JsonRowDecoder::<Row>::new(None);
//! let rows: Vec<Row> = decoder
//!     .push(br#"[{"id":1,"done":1},{"id":2,"done":0},{"id":3,"done":"true"}]"#)
//!     .into_iter()
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! assert_eq!(rows.iter().map(|r| r.done).collect::<Vec<_>>(), [true, false, true]);
//! ```

mod bools;

pub(crate) use bools::Bools;

use std::fmt::Display;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, de};

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrString<T> {
    Num(T),
    Str(String),
}

fn parse<T, E>(v: NumOrString<T>) -> Result<T, E>
where
    T: FromStr,
    T::Err: Display,
    E: de::Error,
{
    match v {
        NumOrString::Num(n) => Ok(n),
        NumOrString::Str(s) => s
            .trim()
            .parse()
            .map_err(|e| E::custom(format!("{s:?} is not a number: {e}"))),
    }
}

/// A number written as a JSON number or as a string.
pub fn number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + Deserialize<'de>,
    T::Err: Display,
{
    parse(NumOrString::<T>::deserialize(d)?)
}

/// An optional number written as a JSON number, a string, or `null`.
pub fn option_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + Deserialize<'de>,
    T::Err: Display,
{
    Option::<NumOrString<T>>::deserialize(d)?
        .map(parse)
        .transpose()
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    struct Row {
        #[serde(deserialize_with = "super::number")]
        n: u64,
    }

    #[test]
    fn a_non_numeric_string_is_an_error_naming_it() {
        let e = serde_json::from_str::<Row>(r#"{"n":"many"}"#).unwrap_err();
        assert!(e.to_string().contains("\"many\" is not a number"), "{e}");
        assert_eq!(
            serde_json::from_str::<Row>(r#"{"n":" 12 "}"#).unwrap().n,
            12
        );
    }
}

//! [`SqlResult`]: a task's result, with its format, and typed access to its rows.

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{DecodeError, Error, Result};
use crate::model::ResultFormat;
use crate::task_id::TaskId;

/// The result of an SQL task: the raw body, its format and content type, and decoders.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlResult {
    task_id: Option<TaskId>,
    format: ResultFormat,
    content_type: Option<String>,
    body: Bytes,
}

impl SqlResult {
    /// A result from its parts. `format` is the one asked for; when `content_type` names a
    /// different format, that is a [protocol error](Error::Protocol): the body is never decoded as
    /// something it is not.
    pub(crate) fn new(
        task_id: Option<TaskId>,
        asked: Option<&ResultFormat>,
        content_type: Option<String>,
        body: Bytes,
    ) -> Result<SqlResult> {
        let format = resolve_format(task_id.as_ref(), asked, content_type.as_deref())?;
        Ok(SqlResult {
            task_id,
            format,
            content_type,
            body,
        })
    }

    /// The task that produced the result (absent only for an inline answer without the header).
    pub fn task_id(&self) -> Option<&TaskId> {
        self.task_id.as_ref()
    }

    /// The result's format.
    pub fn format(&self) -> &ResultFormat {
        &self.format
    }

    /// The `Content-Type` the service sent.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The raw body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The raw body, owned.
    pub fn into_bytes(self) -> Bytes {
        self.body
    }

    /// Whether the body is empty (a statement that returned nothing).
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    fn require_json(&self) -> Result<()> {
        if self.format == ResultFormat::Json {
            Ok(())
        } else {
            Err(Error::Protocol(format!(
                "the result is in format {}, not json; read it with bytes(){}",
                self.format,
                if self.format == ResultFormat::Arrow {
                    " or, with the `arrow` feature, record_batches()"
                } else {
                    ""
                }
            )))
        }
    }

    /// The rows of a JSON result as `T`s (an empty body is no rows). A row that does not fit `T`
    /// fails with the JSON path of the offending value (`[3].price`).
    pub fn rows<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.require_json()?;
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        DecodeError::json("JSON rows", &self.body, self.task_id.as_ref())
    }

    /// The whole JSON result as a `serde_json::Value` (`null` for an empty body).
    pub fn json(&self) -> Result<serde_json::Value> {
        self.require_json()?;
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        DecodeError::json("JSON result", &self.body, self.task_id.as_ref())
    }
}

/// The format of a result: the one asked for, checked against the `Content-Type`.
pub(crate) fn resolve_format(
    task_id: Option<&TaskId>,
    asked: Option<&ResultFormat>,
    content_type: Option<&str>,
) -> Result<ResultFormat> {
    let named = content_type.and_then(ResultFormat::from_content_type);
    match (asked, named) {
        (Some(a), Some(n)) if *a != n && !equivalent(a, &n) => Err(Error::Protocol(format!(
            "asked for {a} but the service sent Content-Type {:?} ({n}){}",
            content_type.unwrap_or_default(),
            task_id
                .map(|t| format!(" for task {t}"))
                .unwrap_or_default()
        ))),
        (Some(a), _) => Ok(a.clone()),
        (None, Some(n)) => Ok(n),
        // Nothing asked and nothing (known) said: keep the bytes, never guess a decoder.
        (None, None) => Ok(ResultFormat::Bytes),
    }
}

/// `native` was served as Python pickle.
fn equivalent(a: &ResultFormat, b: &ResultFormat) -> bool {
    matches!(
        (a, b),
        (ResultFormat::Native, ResultFormat::PythonPickle)
            | (ResultFormat::PythonPickle, ResultFormat::Native)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_content_type_that_contradicts_the_format_is_a_protocol_error() {
        let e = resolve_format(
            None,
            Some(&ResultFormat::Json),
            Some("application/vnd.apache.arrow.stream"),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Protocol(_)), "{e}");
        assert_eq!(
            resolve_format(
                None,
                Some(&ResultFormat::Json),
                Some("application/json; charset=utf-8")
            )
            .unwrap(),
            ResultFormat::Json
        );
        assert_eq!(
            resolve_format(None, None, Some("application/vnd.apache.arrow.stream")).unwrap(),
            ResultFormat::Arrow
        );
        assert_eq!(
            resolve_format(None, None, Some("text/html")).unwrap(),
            ResultFormat::Bytes
        );
        assert_eq!(
            resolve_format(None, Some(&ResultFormat::Json), Some("text/plain")).unwrap(),
            ResultFormat::Json
        );
    }

    #[test]
    fn rows_of_a_non_json_result_are_refused() {
        let r = SqlResult::new(
            None,
            Some(&ResultFormat::Bytes),
            None,
            Bytes::from_static(b"[1]"),
        )
        .unwrap();
        assert!(matches!(r.rows::<i32>(), Err(Error::Protocol(_))));
    }

    #[test]
    fn a_row_that_does_not_fit_names_its_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Row {
            a: i64,
        }
        let r = SqlResult::new(
            None,
            Some(&ResultFormat::Json),
            None,
            Bytes::from_static(br#"[{"a":1},{"a":"x"}]"#),
        )
        .unwrap();
        match r.rows::<Row>() {
            Err(Error::Decode(d)) => assert_eq!(d.path, "[1].a"),
            other => panic!("{other:?}"),
        }
    }
}

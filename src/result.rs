//! [`SqlResult`]: a task's result, with its format, and typed access to its rows.

use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use serde::de::DeserializeOwned;

use crate::rows::JsonRowDecoder;

use crate::api::Payload;
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
            Err(not_json(&self.format))
        }
    }

    /// The rows of a JSON result as `T`s (an empty body is no rows). A row that does not fit `T`
    /// fails with a [`DecodeError`] naming the row, the column (`[3].price`), the expected and the
    /// found type and the task, never the value.
    ///
    /// A `bool` field also reads `0`/`1` and `"true"`/`"false"` (SQLite has no boolean type:
    /// see [`lenient`](crate::lenient)).
    pub fn rows<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        self.require_json()?;
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        DecodeError::result_json("JSON rows", &self.body, self.task_id.as_ref())
    }

    /// The whole JSON result as a `serde_json::Value` (`null` for an empty body).
    pub fn json(&self) -> Result<serde_json::Value> {
        self.require_json()?;
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        DecodeError::result_json("JSON result", &self.body, self.task_id.as_ref())
    }
}

fn not_json(format: &ResultFormat) -> Error {
    Error::protocol(format!(
        "the result is in format {format}, not json; read its bytes{}",
        if *format == ResultFormat::Arrow {
            " or, with the `arrow` feature, its record batches"
        } else {
            ""
        }
    ))
}

/// The format of a result: the one asked for, checked against the `Content-Type`.
pub(crate) fn resolve_format(
    task_id: Option<&TaskId>,
    asked: Option<&ResultFormat>,
    content_type: Option<&str>,
) -> Result<ResultFormat> {
    let named = content_type.and_then(ResultFormat::from_content_type);
    match (asked, named) {
        (Some(a), Some(n)) if *a != n && !equivalent(a, &n) => Err(Error::protocol(format!(
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

/// A result whose body has not been read yet: decode it as it arrives, with memory bounded by the
/// largest row (or record batch), however large the result. Get one from
/// [`TaskHandle::result_stream`](crate::TaskHandle::result_stream).
#[derive(Debug)]
pub struct ResultStream {
    task_id: Option<TaskId>,
    format: ResultFormat,
    content_type: Option<String>,
    body: Payload,
}

impl ResultStream {
    pub(crate) fn new(
        task_id: Option<TaskId>,
        asked: Option<&ResultFormat>,
        content_type: Option<String>,
        body: Payload,
    ) -> Result<ResultStream> {
        let format = resolve_format(task_id.as_ref(), asked, content_type.as_deref())?;
        Ok(ResultStream {
            task_id,
            format,
            content_type,
            body,
        })
    }

    pub(crate) fn from_result(r: SqlResult) -> ResultStream {
        ResultStream {
            task_id: r.task_id,
            format: r.format,
            content_type: r.content_type,
            body: Payload::full(r.body),
        }
    }

    /// The task that produced the result.
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

    /// The raw body, chunk by chunk (already decompressed).
    pub fn bytes_stream(self) -> BoxStream<'static, Result<Bytes>> {
        self.body.into_stream()
    }

    /// Reads the whole body into an [`SqlResult`].
    pub async fn collect(self) -> Result<SqlResult> {
        let task_id = self.task_id.clone();
        let format = self.format.clone();
        let content_type = self.content_type.clone();
        let mut body = Vec::new();
        let mut chunks = self.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            body.extend_from_slice(&chunk?);
        }
        Ok(SqlResult {
            task_id,
            format,
            content_type,
            body: Bytes::from(body),
        })
    }

    /// The rows of a JSON result, decoded one by one as the body arrives. A body cut short ends the
    /// stream with an error, never silently. Rows decode as with [`SqlResult::rows`] (lenient
    /// `bool`s; errors name the row and column, never a value).
    pub fn rows_stream<T: DeserializeOwned + Send + 'static>(
        self,
    ) -> BoxStream<'static, Result<T>> {
        if let Err(e) = self.require_json() {
            return futures::stream::once(async move { Err(e) }).boxed();
        }
        let mut decoder = JsonRowDecoder::<T>::new(self.task_id.clone());
        let mut chunks = self.bytes_stream();
        async_stream::stream! {
            while let Some(chunk) = chunks.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                };
                for row in decoder.push(&chunk) {
                    let failed = row.is_err();
                    yield row;
                    if failed {
                        return;
                    }
                }
            }
            if let Some(end) = decoder.finish() {
                yield end;
            }
        }
        .boxed()
    }

    fn require_json(&self) -> Result<()> {
        if self.format == ResultFormat::Json {
            Ok(())
        } else {
            Err(not_json(&self.format))
        }
    }
}

//! Arrow IPC results (feature `arrow`): the format the real service uses by default for SQL.
//!
//! A result in `arrow` format is an Arrow IPC *stream* (not the file format): a schema message,
//! then record batches. Read it whole with [`SqlResult::record_batches`], or batch by batch as it
//! arrives with [`ResultStream::record_batches`].

use std::io::Cursor;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::{StreamDecoder, StreamReader};
use arrow_schema::SchemaRef;
use futures::StreamExt as _;
use futures::stream::BoxStream;

use crate::error::{DecodeError, Error, Result};
use crate::model::ResultFormat;
use crate::result::{ResultStream, SqlResult};
use crate::task_id::TaskId;

/// An Arrow decoding error. The bytes are result data: never quoted.
fn arrow_error(task_id: Option<&TaskId>, message: String) -> Error {
    Error::Decode(Box::new(DecodeError::new(
        "Arrow IPC stream",
        ".".into(),
        message,
        task_id,
    )))
}

fn require_arrow(format: &ResultFormat) -> Result<()> {
    if *format == ResultFormat::Arrow {
        Ok(())
    } else {
        Err(Error::protocol(format!(
            "the result is in format {format}, not arrow"
        )))
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "arrow")))]
impl SqlResult {
    /// The schema and every record batch of an Arrow result. Zero rows still have a schema; an
    /// empty body (which some services send for "nothing") is an empty schema and no batches.
    pub fn arrow(&self) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        require_arrow(self.format())?;
        if self.bytes().is_empty() {
            return Ok((
                std::sync::Arc::new(arrow_schema::Schema::empty()),
                Vec::new(),
            ));
        }
        let reader = StreamReader::try_new(Cursor::new(self.bytes().clone()), None)
            .map_err(|e| arrow_error(self.task_id(), e.to_string()))?;
        let schema = reader.schema();
        let batches = reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| arrow_error(self.task_id(), e.to_string()))?;
        Ok((schema, batches))
    }

    /// Every record batch of an Arrow result.
    pub fn record_batches(&self) -> Result<Vec<RecordBatch>> {
        self.arrow().map(|(_, b)| b)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "arrow")))]
impl ResultStream {
    /// The record batches of an Arrow result, decoded as the body arrives: memory holds one batch
    /// at a time. A stream cut short ends with an error, never silently.
    pub fn record_batches(self) -> BoxStream<'static, Result<RecordBatch>> {
        if let Err(e) = require_arrow(self.format()) {
            return futures::stream::once(async move { Err(e) }).boxed();
        }
        let task_id = self.task_id().cloned();
        let mut chunks = self.bytes_stream();
        async_stream::stream! {
            let mut decoder = StreamDecoder::new();
            let mut seen_any = false;
            while let Some(chunk) = chunks.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                };
                seen_any |= !chunk.is_empty();
                let mut buffer = Buffer::from(chunk);
                while !buffer.is_empty() {
                    match decoder.decode(&mut buffer) {
                        Ok(Some(batch)) => yield Ok(batch),
                        Ok(None) => {}
                        Err(e) => {
                            yield Err(arrow_error(task_id.as_ref(), e.to_string()));
                            return;
                        }
                    }
                }
            }
            // An empty body is no batches; anything else must end where a message ends.
            if seen_any && let Err(e) = decoder.finish() {
                yield Err(arrow_error(task_id.as_ref(), format!("the stream was cut short: {e}")));
            }
        }
        .boxed()
    }
}

//! Stored results, kept and served in chunks: a result's bytes are rows of `result_chunks`
//! ([`CHUNK_BYTES`] each), so an answer is read from SQLite a chunk at a time, as the client
//! takes it. A client that reads slowly, or not at all, holds one chunk of the server's memory,
//! not the whole result.
//!
//! A result written by an older version has its bytes in `results.body` (and no chunks); it is
//! served as one piece.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt as _};
use rusqlite::{OptionalExtension, Transaction, params};

use super::{NewResult, Store, micros};

/// The size of one stored chunk (the last one may be smaller).
pub(crate) const CHUNK_BYTES: usize = 256 * 1024;

/// Where a stored result is, and how big.
#[derive(Debug, Clone)]
pub(crate) struct StoredResult {
    pub(crate) content_type: String,
    /// The whole result, in bytes.
    pub(crate) len: u64,
    /// How many chunks; 0 for a result of an older version, held whole in `results.body`.
    chunks: i64,
}

/// Keeps `result` for task `id` within `tx`: its row in `results`, then its chunks.
pub(super) fn write(tx: &Transaction<'_>, id: &str, result: &NewResult) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM result_chunks WHERE task_id = ?1", params![id])?;
    tx.execute(
        "INSERT OR REPLACE INTO results (task_id, content_type, body, expires_at) \
         VALUES (?1, ?2, X'', ?3)",
        params![id, result.content_type, micros(result.expires_at)],
    )?;
    let mut insert =
        tx.prepare_cached("INSERT INTO result_chunks (task_id, seq, bytes) VALUES (?1, ?2, ?3)")?;
    for (seq, chunk) in result.body.chunks(CHUNK_BYTES).enumerate() {
        insert.execute(params![id, i64::try_from(seq).unwrap_or(i64::MAX), chunk])?;
    }
    Ok(())
}

impl Store {
    /// The stored result of `id` (its type, size and chunks), unless absent or expired at `now`.
    pub(crate) fn find_result(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> rusqlite::Result<Option<StoredResult>> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row(
            "SELECT content_type, length(body), \
                    (SELECT count(*) FROM result_chunks c WHERE c.task_id = r.task_id), \
                    (SELECT coalesce(sum(length(bytes)), 0) FROM result_chunks c \
                      WHERE c.task_id = r.task_id) \
             FROM results r WHERE task_id = ?1 AND expires_at > ?2",
            params![id, micros(now)],
            |row| {
                let whole: i64 = row.get(1)?;
                let chunks: i64 = row.get(2)?;
                let chunked: i64 = row.get(3)?;
                let len = if chunks == 0 { whole } else { chunked };
                Ok(StoredResult {
                    content_type: row.get(0)?,
                    len: u64::try_from(len).unwrap_or(0),
                    chunks,
                })
            },
        )
        .optional()
    }

    /// Chunk `seq` of the result of `id` (for an older result, `seq` 0 is the whole of it);
    /// `None` if it is gone (purged since it was found).
    fn read_chunk(&self, id: &str, seq: i64, chunked: bool) -> rusqlite::Result<Option<Vec<u8>>> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        if chunked {
            conn.query_row(
                "SELECT bytes FROM result_chunks WHERE task_id = ?1 AND seq = ?2",
                params![id, seq],
                |row| row.get(0),
            )
            .optional()
        } else {
            conn.query_row(
                "SELECT body FROM results WHERE task_id = ?1",
                params![id],
                |row| row.get(0),
            )
            .optional()
        }
    }
}

/// The bytes of `result` (found for task `id`), read a chunk at a time as they are taken. A
/// chunk that is gone, or a read that fails, ends the stream with an error (the client sees the
/// answer cut short of its `Content-Length`).
pub(crate) fn stream(
    store: Arc<Store>,
    id: String,
    result: &StoredResult,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let (chunked, count) = if result.chunks == 0 {
        (false, 1)
    } else {
        (true, result.chunks)
    };
    futures::stream::unfold(0i64, move |seq| {
        let (store, id) = (Arc::clone(&store), id.clone());
        async move {
            if seq >= count {
                return None;
            }
            let read = tokio::task::spawn_blocking(move || store.read_chunk(&id, seq, chunked))
                .await
                .map_err(|e| std::io::Error::other(format!("reading the result failed: {e}")))
                .and_then(|read| {
                    read.map_err(|e| {
                        std::io::Error::other(format!("reading the result failed: {e}"))
                    })
                })
                .and_then(|chunk| {
                    chunk.map(Bytes::from).ok_or_else(|| {
                        std::io::Error::other("the result was deleted while it was being sent")
                    })
                });
            Some((read, seq + 1))
        }
    })
    // Fused: a layer that polls once more after the end gets the end again, not a panic.
    .fuse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ArrayTask;
    use futures::TryStreamExt as _;

    fn store(dir: &std::path::Path) -> Arc<Store> {
        let now = Utc::now();
        let store = Store::open(&dir.join("tasks.sqlite"), now).unwrap();
        let task = ArrayTask {
            id: Some("t1".into()),
            ..ArrayTask::default()
        };
        store.insert(task, true, now).unwrap();
        Arc::new(store)
    }

    async fn read_all(store: &Arc<Store>) -> Vec<u8> {
        let found = store.find_result("t1", Utc::now()).unwrap().expect("found");
        let chunks: Vec<Bytes> = stream(Arc::clone(store), "t1".into(), &found)
            .try_collect()
            .await
            .unwrap();
        let all = chunks.concat();
        assert_eq!(all.len() as u64, found.len);
        all
    }

    #[tokio::test]
    async fn a_result_is_kept_and_read_back_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let body: Vec<u8> = (0..CHUNK_BYTES * 2 + 17).map(|i| (i % 251) as u8).collect();
        let result = NewResult {
            content_type: "application/json".into(),
            body: Bytes::from(body.clone()),
            expires_at: Utc::now() + chrono::Duration::hours(1),
        };
        store.update("t1", |_| {}, Some(result)).unwrap();
        let found = store.find_result("t1", Utc::now()).unwrap().unwrap();
        assert_eq!((found.chunks, found.len), (3, body.len() as u64));
        assert_eq!(read_all(&store).await, body);
    }

    #[tokio::test]
    async fn a_result_of_an_older_version_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let expires = micros(Utc::now() + chrono::Duration::hours(1));
        store
            .writer
            .lock()
            .unwrap()
            .execute(
                "INSERT INTO results (task_id, content_type, body, expires_at) \
                 VALUES ('t1', 'application/json', X'5B5D', ?1)",
                params![expires],
            )
            .unwrap();
        assert_eq!(read_all(&store).await, b"[]");
    }
}

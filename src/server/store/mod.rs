//! The durable task store: `tasks.sqlite` (WAL) in the data directory, mirrored in memory.
//!
//! Every state change is written through to SQLite before the in-memory copy changes, so what a
//! client saw is on disk. Reads (`GET /v1/task/{id}`, listings, the status part of
//! `GET /v1/task/{id}/result`) are served from the in-memory mirror, which also keeps each task's
//! JSON ready-made: a task lookup is a hash-map read and a byte copy, with no SQLite round trip.
//! Only result bodies are read from SQLite, since they can be large, and a chunk at a time
//! (`results.rs`).
//!
//! All methods block (SQLite I/O): call them from blocking threads, except the cache readers
//! ([`Store::get`], [`Store::list`]) which only take a read lock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, params};

use super::error::ServerError;

mod listing;
mod results;
mod rows;

use crate::model::ArrayTask;
use listing::compare;
pub(crate) use listing::{ListFilter, Order};
pub(crate) use results::stream as result_stream;
use rows::{SCHEMA, load, upsert};

/// The message of a task found QUEUED or RUNNING when the store is opened.
pub(crate) const STOPPED_MESSAGE: &str = "the server stopped while the task was running";

/// One task as the server keeps it: the wire form plus what only the server needs.
#[derive(Debug, Clone)]
pub(crate) struct TaskEntry {
    /// Insertion order, the tie-breaker of every listing order.
    pub(crate) seq: i64,
    /// When the server recorded the task.
    pub(crate) created_at: DateTime<Utc>,
    /// Whether the submission asked for the result to be kept.
    pub(crate) store_results: bool,
    /// When the stored result expires, if one was stored.
    pub(crate) result_expires_at: Option<DateTime<Utc>>,
    /// The wire form.
    pub(crate) task: ArrayTask,
    /// `task` serialized, ready to send.
    pub(crate) json: Bytes,
}

impl TaskEntry {
    fn new(
        seq: i64,
        created_at: DateTime<Utc>,
        store_results: bool,
        result_expires_at: Option<DateTime<Utc>>,
        task: ArrayTask,
    ) -> Self {
        let json = serialize(&task);
        TaskEntry {
            seq,
            created_at,
            store_results,
            result_expires_at,
            task,
            json,
        }
    }

    fn id(&self) -> &str {
        self.task.id.as_deref().unwrap_or("")
    }
}

fn serialize(task: &ArrayTask) -> Bytes {
    // An ArrayTask always serializes (string keys, finite numbers); never panic on it anyway.
    serde_json::to_vec(task)
        .map(Bytes::from)
        .unwrap_or_else(|_| Bytes::from_static(b"{}"))
}

/// A result to keep for `GET /v1/task/{id}/result`.
#[derive(Debug)]
pub(crate) struct NewResult {
    pub(crate) content_type: String,
    pub(crate) body: Bytes,
    pub(crate) expires_at: DateTime<Utc>,
}

struct Cache {
    by_id: HashMap<String, Arc<TaskEntry>>,
    next_seq: i64,
}

/// The task store. See the module docs.
pub(crate) struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// Set by [`Store::freeze`]: from then on every write is silently dropped.
    frozen: AtomicBool,
    cache: RwLock<Cache>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL in WAL mode: a process crash loses nothing committed; only a power cut could.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) the store at `path`, fails the tasks a previous run left
    /// unfinished, drops expired results, and loads everything into memory.
    pub(crate) fn open(path: &Path, now: DateTime<Utc>) -> Result<Store, ServerError> {
        let fail = |e: rusqlite::Error| ServerError::Store {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let writer = open_connection(path).map_err(fail)?;
        writer.execute_batch(SCHEMA).map_err(fail)?;
        let recovered = writer
            .execute(
                "UPDATE tasks SET status = 'FAILED', status_message = ?1 \
                 WHERE status IN ('QUEUED', 'RUNNING')",
                params![STOPPED_MESSAGE],
            )
            .map_err(fail)?;
        if recovered > 0 {
            tracing::warn!(
                tasks = recovered,
                "marked tasks left unfinished by a previous run as FAILED"
            );
        }
        writer
            .execute(
                "DELETE FROM results WHERE expires_at <= ?1",
                params![micros(now)],
            )
            .map_err(fail)?;
        let reader = open_connection(path).map_err(fail)?;
        let cache = load(&writer).map_err(fail)?;
        Ok(Store {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            frozen: AtomicBool::new(false),
            cache: RwLock::new(cache),
        })
    }

    /// Records a new task. Fails only when SQLite does (or the store is frozen), in which case
    /// the task does not exist.
    pub(crate) fn insert(
        &self,
        task: ArrayTask,
        store_results: bool,
        created_at: DateTime<Utc>,
    ) -> Result<Arc<TaskEntry>, String> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if self.frozen.load(Ordering::SeqCst) {
            return Err("the server is stopping".to_owned());
        }
        let seq = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .next_seq;
        let entry = TaskEntry::new(seq, created_at, store_results, None, task);
        upsert(&conn, &entry).map_err(|e| e.to_string())?;
        let entry = Arc::new(entry);
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        cache.next_seq = seq + 1;
        cache
            .by_id
            .insert(entry.id().to_owned(), Arc::clone(&entry));
        Ok(entry)
    }

    /// Records `task` (a seed) unless a task with its id exists, so that seeding twice changes
    /// nothing; whether it was recorded.
    pub(crate) fn insert_if_absent(
        &self,
        task: ArrayTask,
        created_at: DateTime<Utc>,
    ) -> Result<bool, String> {
        if self.get(task.id.as_deref().unwrap_or("")).is_some() {
            return Ok(false);
        }
        self.insert(task, false, created_at).map(|_| true)
    }

    /// Forgets every finished task and its result (a reset); tasks still QUEUED or RUNNING are
    /// kept, to reach their outcome. How many went.
    pub(crate) fn clear_finished(&self) -> rusqlite::Result<usize> {
        use crate::model::ArrayTaskStatus::{Queued, Running};
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if self.frozen.load(Ordering::SeqCst) {
            return Ok(0);
        }
        let finished: Vec<String> = {
            let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
            cache
                .by_id
                .values()
                .filter(|e| !matches!(e.task.status, Some(Queued | Running)))
                .map(|e| e.id().to_owned())
                .collect()
        };
        let tx = conn.transaction()?;
        for id in &finished {
            // Its result goes with it (ON DELETE CASCADE).
            tx.execute("DELETE FROM tasks WHERE id = ?1", params![id])?;
        }
        tx.commit()?;
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        for id in &finished {
            cache.by_id.remove(id);
        }
        Ok(finished.len())
    }

    /// Applies `change` to task `id` and, with it in the same transaction, keeps `result`.
    /// A frozen store, or an unknown id, changes nothing.
    pub(crate) fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut ArrayTask),
        result: Option<NewResult>,
    ) -> rusqlite::Result<()> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if self.frozen.load(Ordering::SeqCst) {
            return Ok(());
        }
        let Some(current) = self.get(id) else {
            return Ok(());
        };
        let mut task = current.task.clone();
        change(&mut task);
        let expires = result.as_ref().map(|r| r.expires_at);
        let entry = TaskEntry::new(
            current.seq,
            current.created_at,
            current.store_results,
            expires.or(current.result_expires_at),
            task,
        );
        let tx = conn.transaction()?;
        upsert(&tx, &entry)?;
        if let Some(r) = &result {
            results::write(&tx, id, r)?;
        }
        tx.commit()?;
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .by_id
            .insert(id.to_owned(), Arc::new(entry));
        Ok(())
    }

    /// The task `id`, from memory.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<TaskEntry>> {
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_id
            .get(id)
            .cloned()
    }

    /// One page of the tasks `filter` selects, and how many it selects in all.
    pub(crate) fn list(
        &self,
        filter: &ListFilter<'_>,
        page: u64,
        per_page: u64,
    ) -> (Vec<Arc<TaskEntry>>, u64) {
        let mut selected: Vec<Arc<TaskEntry>> = {
            let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
            cache
                .by_id
                .values()
                .filter(|e| filter.matches(e))
                .cloned()
                .collect()
        };
        let total = selected.len() as u64;
        selected.sort_unstable_by(|a, b| compare(filter.order(), a, b));
        let skip = page
            .saturating_sub(1)
            .checked_mul(per_page)
            .and_then(|s| usize::try_from(s).ok())
            .unwrap_or(usize::MAX);
        let take = usize::try_from(per_page).unwrap_or(usize::MAX);
        let page = selected.into_iter().skip(skip).take(take).collect();
        (page, total)
    }

    /// Deletes the results expired at `now`; how many went.
    pub(crate) fn purge_expired(&self, now: DateTime<Utc>) -> rusqlite::Result<usize> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if self.frozen.load(Ordering::SeqCst) {
            return Ok(0);
        }
        conn.execute(
            "DELETE FROM results WHERE expires_at <= ?1",
            params![micros(now)],
        )
    }

    /// Stops all writes, waiting for one in progress: after this returns, the files on disk do
    /// not change any more (what a crash would leave).
    pub(crate) fn freeze(&self) {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// Folds the WAL into the main file, for a tidy data directory after a clean shutdown.
    pub(crate) fn checkpoint(&self) {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if self.frozen.load(Ordering::SeqCst) {
            return;
        }
        if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
            tracing::warn!(error = %e, "could not checkpoint the task store");
        }
    }
}

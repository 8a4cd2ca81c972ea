//! The durable task store: `tasks.sqlite` (WAL) in the data directory, mirrored in memory.
//!
//! Every state change is written through to SQLite before the in-memory copy changes, so what a
//! client saw is on disk. Reads (`GET /v1/task/{id}`, listings, the status part of
//! `GET /v1/task/{id}/result`) are served from the in-memory mirror, which also keeps each task's
//! JSON ready-made: a task lookup is a hash-map read and a byte copy, with no SQLite round trip.
//! Only result bodies are read from SQLite, since they can be large.
//!
//! All methods block (SQLite I/O): call them from blocking threads, except the cache readers
//! ([`Store::get`], [`Store::list`]) which only take a read lock.

use std::cmp::Ordering as CmpOrdering;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::error::ServerError;
use crate::model::{ArrayTask, ArrayTaskStatus, ArrayTaskType, ResultFormat, TasksQuery};

/// The message of a task found QUEUED or RUNNING when the store is opened.
pub(crate) const STOPPED_MESSAGE: &str = "the server stopped while the task was running";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tasks (
    id                TEXT PRIMARY KEY,
    seq               INTEGER NOT NULL UNIQUE,
    namespace         TEXT NOT NULL,
    username          TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    name              TEXT,
    status            TEXT NOT NULL,
    status_message    TEXT,
    start_time        TEXT,
    finish_time       TEXT,
    duration_ns       INTEGER,
    task_type         TEXT NOT NULL,
    sql_query         TEXT,
    sql_init_commands TEXT NOT NULL,
    sql_parameters    TEXT NOT NULL,
    result_format     TEXT,
    task_graph_uuid   TEXT,
    client_node_uuid  TEXT,
    logs              TEXT NOT NULL,
    store_results     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_namespace ON tasks(namespace);
CREATE TABLE IF NOT EXISTS results (
    task_id      TEXT PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    body         BLOB NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS results_expires_at ON results(expires_at);
";

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

/// How a listing is sorted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Order {
    /// Newest `start_time` first.
    #[default]
    StartTimeDesc,
    /// By name, ascending; unnamed tasks last; then newest first.
    Name,
}

/// What a listing selects: the typed `/tasks` query, within the namespaces the caller may see.
#[derive(Debug)]
pub(crate) struct ListFilter<'a> {
    /// The namespaces the caller may see; nothing else is ever listed.
    visible: &'a [String],
    query: &'a TasksQuery,
    /// The search text, lower-cased once.
    search: Option<String>,
    order: Order,
}

impl<'a> ListFilter<'a> {
    pub(crate) fn new(visible: &'a [String], query: &'a TasksQuery, order: Order) -> Self {
        ListFilter {
            visible,
            query,
            search: query.search.as_ref().map(|s| s.to_lowercase()),
            order,
        }
    }

    fn matches(&self, e: &TaskEntry) -> bool {
        let (t, q) = (&e.task, self.query);
        let namespace = t.namespace.as_deref().unwrap_or("");
        if !self.visible.iter().any(|v| v == namespace) {
            return false;
        }
        if q.namespace.as_deref().is_some_and(|n| n != namespace) {
            return false;
        }
        if q.created_by.is_some() && t.username != q.created_by {
            return false;
        }
        let array = t.array_metadata.as_ref();
        if let Some(wanted) = &q.array {
            // SQL tasks touch no array, so they never match an array filter.
            let uri = array.and_then(|a| a.tiledb_uri.as_deref());
            if uri != Some(wanted.as_str()) {
                return false;
            }
        }
        let file_type = array.and_then(|a| a.file_type.as_ref());
        if !q.file_types.is_empty() && !file_type.is_some_and(|f| q.file_types.contains(f)) {
            return false;
        }
        if file_type.is_some_and(|f| q.exclude_file_types.contains(f)) {
            return false;
        }
        // Inclusive bounds, in whole seconds (what the wire carries).
        let started = t.start_time.unwrap_or(e.created_at).timestamp();
        if q.start.is_some_and(|s| started < s.timestamp())
            || q.end.is_some_and(|end| started > end.timestamp())
        {
            return false;
        }
        if q.task_type.is_some() && t.task_type != q.task_type {
            return false;
        }
        if t.task_type
            .as_ref()
            .is_some_and(|k| q.exclude_types.contains(k))
        {
            return false;
        }
        if q.status.is_some() && t.status != q.status {
            return false;
        }
        if let Some(needle) = &self.search {
            let hit = [
                t.name.as_deref(),
                t.namespace.as_deref(),
                t.sql_query.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|field| field.to_lowercase().contains(needle.as_str()));
            if !hit {
                return false;
            }
        }
        true
    }
}

fn compare(order: Order, a: &TaskEntry, b: &TaskEntry) -> CmpOrdering {
    let newest_first = || {
        let ta = a.task.start_time.unwrap_or(a.created_at);
        let tb = b.task.start_time.unwrap_or(b.created_at);
        tb.cmp(&ta).then(b.seq.cmp(&a.seq))
    };
    match order {
        Order::StartTimeDesc => newest_first(),
        Order::Name => match (a.task.name.as_deref(), b.task.name.as_deref()) {
            (Some(x), Some(y)) => x.cmp(y).then_with(newest_first),
            (Some(_), None) => CmpOrdering::Less,
            (None, Some(_)) => CmpOrdering::Greater,
            (None, None) => newest_first(),
        },
    }
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
            tx.execute(
                "INSERT OR REPLACE INTO results (task_id, content_type, body, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![id, r.content_type, &r.body[..], micros(r.expires_at)],
            )?;
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
        selected.sort_unstable_by(|a, b| compare(filter.order, a, b));
        let skip = page
            .saturating_sub(1)
            .checked_mul(per_page)
            .and_then(|s| usize::try_from(s).ok())
            .unwrap_or(usize::MAX);
        let take = usize::try_from(per_page).unwrap_or(usize::MAX);
        let page = selected.into_iter().skip(skip).take(take).collect();
        (page, total)
    }

    /// The stored result of `id` (content type and bytes), unless absent or expired at `now`.
    pub(crate) fn read_result(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> rusqlite::Result<Option<(String, Vec<u8>)>> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row(
            "SELECT content_type, body FROM results WHERE task_id = ?1 AND expires_at > ?2",
            params![id, micros(now)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
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

fn upsert(conn: &Connection, e: &TaskEntry) -> rusqlite::Result<()> {
    let t = &e.task;
    let init = serde_json::to_string(&t.sql_init_commands).unwrap_or_else(|_| "[]".into());
    let parameters = serde_json::to_string(&t.sql_parameters).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT OR REPLACE INTO tasks (id, seq, namespace, username, created_at, name, status, \
         status_message, start_time, finish_time, duration_ns, task_type, sql_query, \
         sql_init_commands, sql_parameters, result_format, task_graph_uuid, client_node_uuid, \
         logs, store_results) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20)",
        params![
            e.id(),
            e.seq,
            t.namespace.as_deref().unwrap_or(""),
            t.username.as_deref().unwrap_or(""),
            rfc3339(e.created_at),
            t.name,
            t.status.as_ref().map(|s| s.as_str()).unwrap_or("UNKNOWN"),
            t.status_message,
            t.start_time.map(rfc3339),
            t.finish_time.map(rfc3339),
            t.duration.and_then(|d| i64::try_from(d).ok()),
            t.task_type.as_ref().map(|k| k.as_str()).unwrap_or("SQL"),
            t.sql_query,
            init,
            parameters,
            t.result_format.as_ref().map(|f| f.as_str()),
            t.task_graph_uuid,
            t.client_node_uuid,
            t.logs.as_deref().unwrap_or(""),
            e.store_results,
        ],
    )?;
    Ok(())
}

fn load(conn: &Connection) -> rusqlite::Result<Cache> {
    let mut expiries: HashMap<String, i64> = HashMap::new();
    {
        let mut stmt = conn.prepare("SELECT task_id, expires_at FROM results")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (id, at) = row?;
            expiries.insert(id, at);
        }
    }
    let mut stmt = conn.prepare(
        "SELECT id, seq, namespace, username, created_at, name, status, status_message, \
         start_time, finish_time, duration_ns, task_type, sql_query, sql_init_commands, \
         sql_parameters, result_format, task_graph_uuid, client_node_uuid, logs, store_results \
         FROM tasks",
    )?;
    let mut by_id = HashMap::new();
    let mut next_seq = 1;
    let rows = stmt.query_map([], |row| entry_from_row(row, &expiries))?;
    for entry in rows {
        let entry = entry?;
        next_seq = next_seq.max(entry.seq + 1);
        by_id.insert(entry.id().to_owned(), Arc::new(entry));
    }
    Ok(Cache { by_id, next_seq })
}

fn entry_from_row(row: &Row<'_>, expiries: &HashMap<String, i64>) -> rusqlite::Result<TaskEntry> {
    let id: String = row.get("id")?;
    let init: String = row.get("sql_init_commands")?;
    let parameters: String = row.get("sql_parameters")?;
    let created_at = parse_time(row.get("created_at")?).unwrap_or_default();
    let task = ArrayTask {
        id: Some(id.clone()),
        namespace: Some(row.get("namespace")?),
        username: Some(row.get("username")?),
        name: row.get("name")?,
        status: Some(ArrayTaskStatus::from(
            row.get::<_, String>("status")?.as_str(),
        )),
        status_message: row.get("status_message")?,
        start_time: parse_time(row.get("start_time")?),
        finish_time: parse_time(row.get("finish_time")?),
        duration: row
            .get::<_, Option<i64>>("duration_ns")?
            .and_then(|d| u64::try_from(d).ok()),
        task_type: Some(ArrayTaskType::from(
            row.get::<_, String>("task_type")?.as_str(),
        )),
        sql_query: row.get("sql_query")?,
        sql_init_commands: serde_json::from_str(&init).unwrap_or_default(),
        sql_parameters: serde_json::from_str(&parameters).unwrap_or_default(),
        result_format: row
            .get::<_, Option<String>>("result_format")?
            .map(|f| ResultFormat::from(f.as_str())),
        task_graph_uuid: row.get("task_graph_uuid")?,
        client_node_uuid: row.get("client_node_uuid")?,
        logs: Some(row.get("logs")?),
        cost: Some(0.0),
        ..ArrayTask::default()
    };
    let expires = expiries
        .get(&id)
        .and_then(|m| DateTime::from_timestamp_micros(*m));
    Ok(TaskEntry::new(
        row.get("seq")?,
        created_at,
        row.get("store_results")?,
        expires,
        task,
    ))
}

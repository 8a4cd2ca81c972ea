//! The store's SQLite side: the schema, and a task written to and read from its row (columns
//! read by name).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::DateTime;
use rusqlite::{Connection, Row, params};

use super::{Cache, TaskEntry, parse_time, rfc3339};
use crate::model::{ArrayTask, ArrayTaskStatus, ArrayTaskType, ResultFormat};

pub(super) const SCHEMA: &str = "
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
CREATE TABLE IF NOT EXISTS result_chunks (
    task_id TEXT NOT NULL REFERENCES results(task_id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    bytes   BLOB NOT NULL,
    PRIMARY KEY (task_id, seq)
);
";

pub(super) fn upsert(conn: &Connection, e: &TaskEntry) -> rusqlite::Result<()> {
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

pub(super) fn load(conn: &Connection) -> rusqlite::Result<Cache> {
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

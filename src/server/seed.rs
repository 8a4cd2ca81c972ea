//! Seeding a server at start: a task history (JSON lines of `ArrayTask`s, as `GET /v1/task/{id}`
//! answers them) and SQL files (tables and data) run in a namespace's database. Both are
//! idempotent, so a server restarted on the same data directory with the same seeds is unchanged:
//! a seeded task whose id is already known is skipped, and an SQL file runs once per namespace
//! and content (a marker under `seeded/` in the data directory remembers it; a file whose content
//! changed runs again).
//!
//! Seeded tasks keep every field given; they need an `id` and a `namespace` (who may see them),
//! and have no stored result. After a [reset](super::LocalServer::reset) the task seeds are loaded
//! again.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::encode::Encoder;
use super::engine::{self, Engine, Query};
use super::error::ServerError;
use super::store::Store;
use crate::model::ArrayTask;

/// An SQL file to run in a namespace at start.
#[derive(Debug, Clone)]
pub(crate) struct SqlSeed {
    pub(crate) namespace: String,
    pub(crate) path: PathBuf,
}

/// The tasks of a JSON-lines file; an error names the file and the line.
pub(crate) fn read_tasks(path: &Path) -> Result<Vec<ArrayTask>, ServerError> {
    let bad = |what: String| ServerError::Config(format!("seed tasks {}: {what}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let mut tasks = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let n = i + 1;
        let task: ArrayTask = serde_json::from_str(line)
            .map_err(|e| bad(format!("line {n}: not an ArrayTask: {e}")))?;
        if task.id.as_deref().is_none_or(str::is_empty) {
            return Err(bad(format!("line {n}: the task has no id")));
        }
        match task.namespace.as_deref() {
            Some(ns) if engine::valid_namespace(ns) => {}
            _ => return Err(bad(format!("line {n}: the task has no valid namespace"))),
        }
        tasks.push(task);
    }
    Ok(tasks)
}

/// Records the seed tasks not yet known; how many were new. Blocks (SQLite).
pub(crate) fn load_tasks(
    store: &Store,
    tasks: &[ArrayTask],
    now: DateTime<Utc>,
) -> Result<usize, ServerError> {
    let mut added = 0;
    for task in tasks {
        let created = task.start_time.unwrap_or(now);
        let new = store
            .insert_if_absent(task.clone(), created)
            .map_err(|e| ServerError::Config(format!("recording a seed task failed: {e}")))?;
        added += usize::from(new);
    }
    Ok(added)
}

/// Runs each SQL file in its namespace unless it already ran there with this content. Blocks.
pub(crate) fn run_sql(
    engine: &Engine,
    data_dir: &Path,
    seeds: &[SqlSeed],
) -> Result<(), ServerError> {
    let markers = data_dir.join("seeded");
    for seed in seeds {
        let bad = |what: String| {
            ServerError::Config(format!(
                "seed SQL {} (namespace {}): {what}",
                seed.path.display(),
                seed.namespace
            ))
        };
        if !engine::valid_namespace(&seed.namespace) {
            return Err(bad("invalid namespace".into()));
        }
        let text =
            std::fs::read_to_string(&seed.path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let marker = markers.join(format!(
            "{}.{:016x}",
            seed.namespace,
            fnv1a(text.as_bytes())
        ));
        if marker.exists() {
            continue;
        }
        let query = Query {
            namespace: seed.namespace.clone(),
            sql: "SELECT 1".to_owned(),
            init_commands: vec![text],
            parameters: Vec::new(),
            encoder: Encoder::Json,
        };
        engine.run(&query).map_err(|e| bad(e.message()))?;
        std::fs::create_dir_all(&markers)
            .and_then(|()| std::fs::write(&marker, b""))
            .map_err(|e| bad(format!("cannot remember it ran: {e}")))?;
        tracing::info!(namespace = %seed.namespace, file = %seed.path.display(), "seed SQL ran");
    }
    Ok(())
}

/// FNV-1a, 64 bits: a stable digest of a seed file's content, to name its marker (not a
/// security boundary; the std hasher's output may change between Rust releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_task_lines_need_an_id_and_a_namespace_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.jsonl");
        std::fs::write(
            &path,
            "{\"id\":\"a\",\"namespace\":\"ns\"}\n\n{\"id\":\"b\"}\n",
        )
        .unwrap();
        let err = read_tasks(&path).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("namespace"), "{err}");
        std::fs::write(&path, "{\"id\":\"a\",\"namespace\":\"ns\"}\nnot json\n").unwrap();
        let err = read_tasks(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        std::fs::write(
            &path,
            "{\"id\":\"a\",\"namespace\":\"ns\",\"status\":\"FAILED\"}\n",
        )
        .unwrap();
        assert_eq!(read_tasks(&path).unwrap().len(), 1);
    }

    #[test]
    fn the_digest_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}

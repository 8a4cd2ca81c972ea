//! The data directory: created (or a fresh temporary one), with its `namespaces/` directory, and
//! locked for one server alone. The task store inside it lives in `store.rs`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::ServerError;

fn data_dir_error(path: &Path, e: impl fmt::Display) -> ServerError {
    ServerError::DataDir {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The data directory, ready for a server: created (or a fresh temporary one), with its
/// `namespaces/` directory, and locked for this server alone. Blocking.
pub(crate) struct DataDir {
    pub(crate) path: PathBuf,
    pub(crate) tempdir: Option<tempfile::TempDir>,
    pub(crate) lock: rusqlite::Connection,
}

pub(crate) fn prepare_data_dir(configured: Option<PathBuf>) -> Result<DataDir, ServerError> {
    let (path, tempdir) = match configured {
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| data_dir_error(&dir, e))?;
            (dir, None)
        }
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("tiledb-tasks-server-")
                .tempdir()
                .map_err(|e| data_dir_error(&std::env::temp_dir(), e))?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    std::fs::create_dir_all(path.join("namespaces")).map_err(|e| data_dir_error(&path, e))?;
    let lock = lock_data_dir(&path)?;
    Ok(DataDir {
        path,
        tempdir,
        lock,
    })
}

/// Takes an exclusive SQLite lock on `server.lock`, held until the returned connection closes.
///
/// Two servers on one directory would corrupt each other's view: the second one's start-up
/// recovery would mark the first one's running tasks FAILED. SQLite's locks work across
/// processes and between connections of one process alike, with no extra dependency.
fn lock_data_dir(dir: &Path) -> Result<rusqlite::Connection, ServerError> {
    let take = || -> rusqlite::Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open(dir.join("server.lock"))?;
        conn.busy_timeout(Duration::ZERO)?;
        // In exclusive locking mode, the lock a write transaction takes is kept until close.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")?;
        Ok(conn)
    };
    take().map_err(|e| {
        let reason = if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
            "another running server uses it".to_owned()
        } else {
            format!("cannot lock it: {e}")
        };
        data_dir_error(dir, reason)
    })
}

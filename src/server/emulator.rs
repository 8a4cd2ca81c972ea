//! The emulator's knobs, for tests built on the local server: the timing of `POST /v1/sql`
//! ([`Timing`]), and (in `faults.rs`, `journal.rs`) fault rules and the journal of what the server
//! did. Set on [`ServerConfig`] here; changed at run time through
//! [`LocalServer`](super::LocalServer).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;

use super::auth::Users;
use super::console::CONSOLE_PATH;
use super::error::ServerError;
use super::faults::{FaultNote, FaultRule, Faults, check_rules};
use super::journal::{Answered, Journal, JournalEntry};
use super::seed::{self, SqlSeed};
use super::state::AppState;
use super::{LocalServer, ServerConfig};
use crate::model::ArrayTask;
use crate::model::TASK_ID_HEADER;

/// The prefix of the admin surface (health, readiness, journal, faults, reset).
pub(crate) const ADMIN_PREFIX: &str = "/_emulator/";

/// Whether a request is API traffic, which is journaled and may be faulted: anything but the
/// admin surface and the console's own files.
pub(crate) fn is_api(path: &str) -> bool {
    !path.starts_with(ADMIN_PREFIX) && !path.starts_with(CONSOLE_PATH)
}

/// The request header that overrides the server's [`Timing`] for one submission:
/// `X-TileDB-Emulator-Timing: holding` or `detached`. TileDB Cloud ignores it.
pub const TIMING_HEADER: &str = "x-tiledb-emulator-timing";

/// When `POST /v1/sql/{namespace}` answers.
///
/// TileDB Cloud holds the POST until the query has finished ([`Holding`](Timing::Holding)):
/// `store_results` only decides whether the result is also kept, `dont_download_results` only
/// whether the rows come with the answer. [`Detached`](Timing::Detached) (the default, because the
/// crate's own tests watch tasks while they run) answers at once when the result can be had later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Timing {
    /// A submission with `store_results` or `dont_download_results` is answered 204 at once, with
    /// its task id, and runs in the background (QUEUED, then RUNNING): its result is polled with
    /// `GET /v1/task/{id}/result`. Any other submission is held, as in `Holding`.
    #[default]
    Detached,
    /// Every submission is answered when its query has finished, as TileDB Cloud does: 200 with
    /// the rows (204 when it has no columns, or with `dont_download_results`), or the error.
    Holding,
}

impl Timing {
    /// `detached` or `holding`, as the flag and the header spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Timing::Detached => "detached",
            Timing::Holding => "holding",
        }
    }

    /// Whether a submission with these flags is answered before its query runs.
    pub(crate) fn detaches(self, store_results: bool, dont_download_results: bool) -> bool {
        self == Timing::Detached && (store_results || dont_download_results)
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Timing {
    type Err = String;

    /// `holding` or `detached`, in any case.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "holding" => Ok(Timing::Holding),
            "detached" => Ok(Timing::Detached),
            _ => Err("expected holding or detached".to_owned()),
        }
    }
}

/// The emulator's part of a [`ServerConfig`].
#[derive(Clone, Default)]
pub(crate) struct EmulatorConfig {
    pub(crate) timing: Timing,
    pub(crate) faults: Vec<FaultRule>,
    pub(crate) admin_key: Option<String>,
    pub(crate) seed_tasks: Vec<PathBuf>,
    pub(crate) seed_sql: Vec<SqlSeed>,
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("timing", &self.timing)
            .field("faults", &self.faults)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<redacted>"))
            .field("seed_tasks", &self.seed_tasks)
            .field("seed_sql", &self.seed_sql)
            .finish()
    }
}

/// The emulator's state in a running server.
pub(crate) struct Emulator {
    pub(crate) timing: Timing,
    pub(crate) journal: Journal,
    pub(crate) faults: Faults,
    /// The key of the admin surface; `None`: the surface answers only health and readiness.
    pub(crate) admin_key: Option<String>,
    /// The seed tasks, loaded again by a reset.
    seed_tasks: Vec<ArrayTask>,
    seed_sql: Vec<SqlSeed>,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("timing", &self.timing)
            .field("faults", &self.faults)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<redacted>"))
            .field("seed_tasks", &self.seed_tasks.len())
            .finish()
    }
}

impl Emulator {
    /// The emulator of a server starting with `config` and `users`: bad fault rules, unreadable
    /// seed files and an admin key that is also a user's key are refused.
    pub(crate) fn new(config: &EmulatorConfig, users: &Users) -> Result<Self, ServerError> {
        check_rules(&config.faults).map_err(ServerError::Config)?;
        if let Some(key) = &config.admin_key {
            if key.is_empty() {
                return Err(ServerError::Config("the admin key is empty".into()));
            }
            if users.knows_key(key) {
                return Err(ServerError::Config(
                    "the admin key is also a user's API key; it must be its own".into(),
                ));
            }
        }
        let mut seed_tasks = Vec::new();
        for path in &config.seed_tasks {
            seed_tasks.extend(seed::read_tasks(path)?);
        }
        Ok(Emulator {
            timing: config.timing,
            journal: Journal::default(),
            faults: Faults::new(config.faults.clone()),
            admin_key: config.admin_key.clone(),
            seed_tasks,
            seed_sql: config.seed_sql.clone(),
        })
    }

    /// Runs the SQL seeds and records the seed tasks, before the server takes requests.
    pub(crate) async fn seed(app: &Arc<AppState>, data_dir: &Path) -> Result<(), ServerError> {
        let app = Arc::clone(app);
        let dir = data_dir.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let emulator = &app.emulator;
            seed::run_sql(&app.engine, &dir, &emulator.seed_sql)?;
            let added = seed::load_tasks(&app.store, &emulator.seed_tasks, app.clock.now())?;
            if added > 0 {
                tracing::info!(tasks = added, "seed tasks recorded");
            }
            Ok(())
        })
        .await
        .map_err(|e| ServerError::Config(format!("seeding failed: {e}")))?
    }

    /// Forgets every finished task and its result, the journal and the fault rules, and loads
    /// the seed tasks again: `(tasks removed, seed tasks recorded)`.
    pub(crate) async fn reset(app: &Arc<AppState>) -> Result<(usize, usize), String> {
        let app = Arc::clone(app);
        tokio::task::spawn_blocking(move || {
            let removed = app.store.clear_finished().map_err(|e| e.to_string())?;
            let seeded = seed::load_tasks(&app.store, &app.emulator.seed_tasks, app.clock.now())
                .map_err(|e| e.to_string())?;
            app.emulator.faults.set(Vec::new());
            app.emulator.journal.clear();
            Ok((removed, seeded))
        })
        .await
        .map_err(|e| format!("the reset failed: {e}"))?
    }

    /// Starts the journal entry of a request (none for the admin surface's own), and leaves a
    /// [`FaultNote`] in its extensions for the fault rules to fill in. The entry is written when
    /// the answer is made, or, if the request is dropped first (the client went away, or a fault
    /// cut the connection), then, without a status.
    pub(crate) fn begin(
        app: &Arc<AppState>,
        method: &Method,
        path: &str,
        query: Option<String>,
        req: &mut Request,
    ) -> Option<Pending> {
        if !is_api(path) {
            return None;
        }
        let note = FaultNote::default();
        req.extensions_mut().insert(note.clone());
        Some(Pending {
            app: Arc::clone(app),
            entry: Some(Answered {
                method: method.to_string(),
                path: path.to_owned(),
                query,
                status: None,
                task_id: None,
                fault: None,
            }),
            note,
        })
    }
}

/// A request on its way to the journal; see [`Emulator::begin`].
pub(crate) struct Pending {
    app: Arc<AppState>,
    entry: Option<Answered>,
    note: FaultNote,
}

impl Pending {
    /// Writes the entry of `response`.
    pub(crate) fn answered(mut self, response: &Response) {
        let Some(mut entry) = self.entry.take() else {
            return;
        };
        entry.task_id = response
            .headers()
            .get(TASK_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (fault, unanswered) = self.note.get();
        entry.status = (!unanswered).then(|| response.status().as_u16());
        entry.fault = fault;
        self.app
            .emulator
            .journal
            .record(self.app.clock.now(), entry);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut entry) = self.entry.take() {
            entry.fault = self.note.get().0;
            self.app
                .emulator
                .journal
                .record(self.app.clock.now(), entry);
        }
    }
}

impl LocalServer {
    /// The most recent requests the server answered (up to 1000), oldest first: method, path,
    /// status, task id and the fault applied, never a credential. See [`JournalEntry`].
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.state.emulator.journal.entries()
    }

    /// Empties the journal, e.g. between the arrange and the act of a test.
    pub fn clear_journal(&self) {
        self.state.emulator.journal.clear();
    }

    /// Replaces the fault rules (their counters start again); an empty list turns faults off.
    /// A bad rule is refused, naming it, and the rules in force stay.
    pub fn set_fault_rules(&self, rules: Vec<FaultRule>) -> Result<(), ServerError> {
        check_rules(&rules).map_err(ServerError::Config)?;
        self.state.emulator.faults.set(rules);
        Ok(())
    }

    /// The fault rules in force, in order.
    pub fn fault_rules(&self) -> Vec<FaultRule> {
        self.state.emulator.faults.rules()
    }

    /// Returns the server to its state at start, as `POST /_emulator/reset` does: forgets every
    /// finished task and its result (running ones go on to their outcome), empties the journal,
    /// removes the fault rules, and records the seed tasks again. Tables are left as they are.
    pub async fn reset(&self) -> Result<(), ServerError> {
        Emulator::reset(&self.state)
            .await
            .map(|_| ())
            .map_err(ServerError::Config)
    }
}

impl ServerConfig {
    /// When `POST /v1/sql` answers (default [`Timing::Detached`]); one request can ask otherwise
    /// with the [`TIMING_HEADER`].
    pub fn timing(mut self, timing: Timing) -> Self {
        self.emulator.timing = timing;
        self
    }

    /// The fault rules the server starts with (see [`FaultRule`]); checked at start.
    pub fn fault_rules(mut self, rules: Vec<FaultRule>) -> Self {
        self.emulator.faults = rules;
        self
    }

    /// Turns on the admin surface under `/_emulator/` (journal, fault rules, reset) for requests
    /// carrying `key` in `X-TILEDB-REST-API-KEY`. It must not be any user's key: a user's key
    /// is refused there (403). Health and readiness need no key.
    pub fn admin_key(mut self, key: impl Into<String>) -> Self {
        self.emulator.admin_key = Some(key.into());
        self
    }

    /// Records the tasks of a JSON-lines file (one `ArrayTask` per line, each with an `id` and a
    /// `namespace`) at start, skipping ids already known; again after a reset.
    pub fn seed_tasks(mut self, path: impl Into<PathBuf>) -> Self {
        self.emulator.seed_tasks.push(path.into());
        self
    }

    /// Runs an SQL file (statements separated by `;`, through the same sandbox as queries) in
    /// `namespace`'s database at start, once per data directory and file content.
    pub fn seed_sql(mut self, namespace: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.emulator.seed_sql.push(SqlSeed {
            namespace: namespace.into(),
            path: path.into(),
        });
        self
    }
}

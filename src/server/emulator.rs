//! The emulator's knobs, for tests built on the local server: the timing of `POST /v1/sql`
//! ([`Timing`]), and (in `faults.rs`, `journal.rs`) fault rules and the journal of what the server
//! did. Set on [`ServerConfig`] here; changed at run time through
//! [`LocalServer`](super::LocalServer).

use std::fmt;
use std::str::FromStr;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;

use super::console::CONSOLE_PATH;
use super::error::ServerError;
use super::faults::{FaultNote, FaultRule, Faults, check_rules};
use super::journal::{Answered, Journal, JournalEntry};
use super::state::AppState;
use super::{LocalServer, ServerConfig};
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
#[derive(Debug, Clone, Default)]
pub(crate) struct EmulatorConfig {
    pub(crate) timing: Timing,
    pub(crate) faults: Vec<FaultRule>,
}

/// The emulator's state in a running server.
#[derive(Debug)]
pub(crate) struct Emulator {
    pub(crate) timing: Timing,
    pub(crate) journal: Journal,
    pub(crate) faults: Faults,
}

impl Emulator {
    /// The emulator of a server starting with `config`; bad fault rules are refused.
    pub(crate) fn new(config: &EmulatorConfig) -> Result<Self, ServerError> {
        check_rules(&config.faults).map_err(ServerError::Config)?;
        Ok(Emulator {
            timing: config.timing,
            journal: Journal::default(),
            faults: Faults::new(config.faults.clone()),
        })
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
}

//! [`OutcomeUnknownError`]: the answer to an SQL submission was lost, and its task could not be
//! found afterwards. The query may or may not have run.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Error;

/// The answer to an SQL submission was lost (the connection broke after the request was sent, or a
/// gateway gave up on the service), and the task it may have created was not found by its name
/// within the search window. The query may have run, may be running, or may never have reached the
/// service: look for the task by [`name`](Self::name) before submitting it again. What went wrong
/// with the answer is the `source()` (and [`error`](Self::error)).
///
/// Never [retryable](Error::is_retryable): submitting again could run the query twice.
#[derive(Debug)]
#[non_exhaustive]
pub struct OutcomeUnknownError {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) submitted_at: DateTime<Utc>,
    pub(crate) searched: Duration,
    pub(crate) searches: u32,
    pub(crate) candidates: usize,
    pub(crate) source: Error,
}

impl OutcomeUnknownError {
    /// The namespace the query was submitted in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The task's name as submitted (the SDK's tag `tiledb-cloud-tasks:…`, or the name the caller
    /// gave): search the task list for it (`TasksQuery::search`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When the submission was sent (the client's clock).
    pub fn submitted_at(&self) -> DateTime<Utc> {
        self.submitted_at
    }

    /// How long the task was searched for.
    pub fn searched(&self) -> Duration {
        self.searched
    }

    /// How many times the task list was searched.
    pub fn searches(&self) -> u32 {
        self.searches
    }

    /// How many tasks matched on the last search: 0 (not found) or more than 1 (several tasks
    /// have that name; the SDK does not guess which one is this submission's).
    pub fn candidates(&self) -> usize {
        self.candidates
    }

    /// What happened to the answer (also the `source()`).
    pub fn error(&self) -> &Error {
        &self.source
    }
}

impl fmt::Display for OutcomeUnknownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the answer to the SQL submission in namespace {} was lost and ",
            self.namespace
        )?;
        if self.candidates > 1 {
            write!(f, "{} tasks are named {:?}", self.candidates, self.name)?;
        } else {
            write!(
                f,
                "no task named {:?} was found within {:?}",
                self.name, self.searched
            )?;
        }
        f.write_str(
            ": the query may or may not have run; look for the task before submitting it again",
        )
    }
}

impl std::error::Error for OutcomeUnknownError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

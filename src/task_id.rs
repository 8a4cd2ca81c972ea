//! The id of a task.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The id of a task, as the service sends it in `X-TILEDB-CLOUD-TASK-ID` (a UUID).
///
/// Keep it to resume a wait later, even from another process:
/// `client.task(id)` (see [`Client::task`](crate::Client::task)).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(String);

impl TaskId {
    /// Wraps an id; no check is made here (an empty id is refused where it is used).
    pub fn new(id: impl Into<String>) -> Self {
        TaskId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TaskId {
    fn from(s: &str) -> Self {
        TaskId(s.to_owned())
    }
}

impl From<String> for TaskId {
    fn from(s: String) -> Self {
        TaskId(s)
    }
}

impl From<&TaskId> for TaskId {
    fn from(id: &TaskId) -> Self {
        id.clone()
    }
}

impl AsRef<str> for TaskId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

//! The journal: the most recent requests the server answered, for tests to assert on what it did
//! (how many polls, which answer a fault rule gave). It keeps the method, path, query string,
//! status, task id and the fault applied; never a header, a body or a credential. The admin
//! surface (`/_emulator/...`) is not journaled.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many entries the journal keeps; older ones are dropped first.
pub(crate) const JOURNAL_CAPACITY: usize = 1000;

/// One request the server answered (or cut off), as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JournalEntry {
    /// Its number, from 1, in the order the answers were made; never reused, also after a reset.
    pub seq: u64,
    /// When it was answered, on the server's clock.
    pub at: DateTime<Utc>,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The query string, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The status answered; `None` when no answer was sent: a fault cut the connection first,
    /// or the client went away before the answer was ready.
    pub status: Option<u16>,
    /// The task the answer named (`X-TILEDB-CLOUD-TASK-ID`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// What a fault rule did to this request, e.g. `status 503`, `latency 200ms`,
    /// `cut before head`; `None` when it was answered normally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

impl JournalEntry {
    /// `METHOD PATH`, for short assertions: `"GET /v1/task/ID/result"`.
    pub fn request(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// What a finished request leaves in the journal (its number and time are added on the way in).
pub(crate) struct Answered {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) status: Option<u16>,
    pub(crate) task_id: Option<String>,
    pub(crate) fault: Option<String>,
}

/// A bounded, shared log of [`JournalEntry`]s.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<JournalEntry>,
    last_seq: u64,
}

impl Journal {
    pub(crate) fn record(&self, at: DateTime<Utc>, answered: Answered) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.last_seq += 1;
        let entry = JournalEntry {
            seq: inner.last_seq,
            at,
            method: answered.method,
            path: answered.path,
            query: answered.query,
            status: answered.status,
            task_id: answered.task_id,
            fault: answered.fault,
        };
        if inner.entries.len() == JOURNAL_CAPACITY {
            inner.entries.pop_front();
        }
        inner.entries.push_back(entry);
    }

    /// Every entry kept, oldest first.
    pub(crate) fn entries(&self) -> Vec<JournalEntry> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.entries.iter().cloned().collect()
    }

    /// Forgets every entry (numbering goes on).
    pub(crate) fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(path: &str) -> Answered {
        Answered {
            method: "GET".into(),
            path: path.into(),
            query: None,
            status: Some(200),
            task_id: None,
            fault: None,
        }
    }

    #[test]
    fn the_journal_keeps_the_most_recent_entries_numbered_in_order() {
        let journal = Journal::default();
        for i in 0..JOURNAL_CAPACITY + 5 {
            journal.record(Utc::now(), answered(&format!("/{i}")));
        }
        let entries = journal.entries();
        assert_eq!(entries.len(), JOURNAL_CAPACITY);
        assert_eq!(entries[0].path, "/5");
        assert_eq!(entries[0].seq, 6);
        journal.clear();
        assert!(journal.entries().is_empty());
        journal.record(Utc::now(), answered("/again"));
        assert_eq!(journal.entries()[0].seq, JOURNAL_CAPACITY as u64 + 6);
    }
}

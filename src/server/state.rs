//! What every route shares: the users, the store, the engine, the query slots, the server's
//! clock, and the count of submissions in flight that a graceful shutdown waits for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore};

use super::auth::Users;
use super::emulator::Emulator;
use super::engine::Engine;
use super::limits::Limits;
use super::store::Store;

/// The server's notion of "now": the wall clock plus a test-controlled offset
/// ([`LocalServer::advance_clock`]), at microsecond precision (what the store keeps).
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_micros: AtomicI64,
}

impl Clock {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let offset = chrono::Duration::microseconds(self.offset_micros.load(Ordering::Relaxed));
        let now = Utc::now()
            .checked_add_signed(offset)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }

    pub(crate) fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        let _ = self
            .offset_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(micros))
            });
    }
}

/// Everything the routes share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) users: Users,
    pub(crate) store: Arc<Store>,
    pub(crate) engine: Engine,
    pub(crate) clock: Clock,
    /// One permit per query slot, held while the task's query runs.
    pub(crate) permits: Arc<Semaphore>,
    /// Submissions between admission and their last store write; shutdown waits for none.
    pub(crate) in_flight: Arc<InFlight>,
    /// Whether new submissions are taken (false once shutdown or kill began).
    pub(crate) accepting: AtomicBool,
    /// [`RUNNING`](super::engine::RUNNING), [`SHUTTING_DOWN`](super::engine::SHUTTING_DOWN) or
    /// [`KILLED`](super::engine::KILLED).
    pub(crate) stop: Arc<AtomicU8>,
    pub(crate) limits: Limits,
    /// Timing, fault rules and the journal.
    pub(crate) emulator: Emulator,
}

impl AppState {
    /// When a result stored now expires.
    pub(crate) fn expiry(&self, from: DateTime<Utc>) -> DateTime<Utc> {
        chrono::Duration::from_std(self.limits.result_ttl)
            .ok()
            .and_then(|ttl| from.checked_add_signed(ttl))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// Counts submissions from admission until their outcome is recorded, so that a graceful
/// shutdown can wait for every interrupted task to record its failure before it returns.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    idle: Notify,
}

impl InFlight {
    /// Counts one submission until the guard drops.
    pub(crate) fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(Arc::clone(self))
    }

    /// Resolves once nothing is in flight.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Register before checking, so a release between the check and the wait is seen.
            notified.as_mut().enable();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One submission in flight; see [`InFlight`].
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

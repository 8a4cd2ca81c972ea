//! The open connections: what each is doing (idle, sending a head, busy with a request), so that
//! the timers know when to close it and a new connection past the limit knows which one to
//! close (the one idle the longest).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a connection that served a request must have been idle before it may be closed to
/// make room for a new one.
pub(crate) const EVICTION_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No request in progress and no byte of the next one: since when.
    Idle(Instant),
    /// The first bytes of a request head arrived at this instant; the rest has not.
    Head(Instant),
    /// A request is being served (its head was read; its answer is not yet sent).
    Busy,
}

/// Why a connection's task must close it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The head did not arrive in time: a 408, then close.
    HeadTimeout,
    /// Idle too long: close.
    IdleTimeout,
    /// Closed to make room for a new connection.
    Evicted,
}

/// One open connection, shared by its task, its stream and its service.
#[derive(Debug)]
pub(crate) struct Conn {
    id: u64,
    phase: Mutex<Phase>,
    /// Requests being served (HTTP/1: at most one; counted anyway).
    busy: Mutex<usize>,
    /// A write to the client is blocked (it is not reading): not idle, whatever the phase says.
    pub(crate) write_blocked: AtomicBool,
    evicted: AtomicBool,
    /// Whether a request was ever served on it.
    served: AtomicBool,
    /// Wakes the connection's task when the phase changes or it is evicted.
    pub(crate) changed: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Conn {
    fn new(id: u64) -> Self {
        Conn {
            id,
            phase: Mutex::new(Phase::Idle(Instant::now())),
            busy: Mutex::new(0),
            write_blocked: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            served: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        *lock(&self.phase)
    }

    fn set(&self, phase: Phase) {
        *lock(&self.phase) = phase;
        self.changed.notify_one();
    }

    /// Bytes arrived from the client: the start of a head, if nothing was in progress. A
    /// connection's first head is timed from the connection's start, later ones from their first
    /// byte.
    pub(crate) fn bytes_read(&self) {
        let mut phase = lock(&self.phase);
        if let Phase::Idle(since) = *phase {
            let start = if self.served.load(Ordering::SeqCst) {
                Instant::now()
            } else {
                since
            };
            *phase = Phase::Head(start);
            drop(phase);
            self.changed.notify_one();
        }
    }

    /// A request's head was read and handed to the service.
    pub(crate) fn request_started(&self) {
        self.served.store(true, Ordering::SeqCst);
        *lock(&self.busy) += 1;
        self.set(Phase::Busy);
    }

    /// A request's answer was sent (or abandoned).
    pub(crate) fn request_ended(&self) {
        let mut busy = lock(&self.busy);
        *busy = busy.saturating_sub(1);
        if *busy == 0 {
            drop(busy);
            self.set(Phase::Idle(Instant::now()));
        }
    }

    /// When the connection must be closed if nothing changes, and why.
    pub(crate) fn deadline(
        &self,
        header_timeout: std::time::Duration,
        idle_timeout: std::time::Duration,
    ) -> Option<(Instant, Verdict)> {
        if self.evicted.load(Ordering::SeqCst) {
            return Some((Instant::now(), Verdict::Evicted));
        }
        match self.phase() {
            // A new connection must send its first request promptly.
            Phase::Idle(since) if !self.served.load(Ordering::SeqCst) => {
                Some((since + header_timeout, Verdict::IdleTimeout))
            }
            Phase::Idle(since) => Some((since + idle_timeout, Verdict::IdleTimeout)),
            Phase::Head(since) => Some((since + header_timeout, Verdict::HeadTimeout)),
            Phase::Busy => None,
        }
    }

    /// Whether (and how readily) it may be closed to make room: connections that never carried
    /// a request first (silent or still sending their first head: what an attacker holds), then
    /// keep-alive connections idle for [`EVICTION_GRACE`] at least, each the longest idle first.
    /// A keep-alive connection idle a moment is never taken: its client may be sending on it
    /// right now, and a request lost that way could not safely be sent again.
    fn eviction_rank(&self, now: Instant) -> Option<(u8, Instant)> {
        if self.write_blocked.load(Ordering::SeqCst) || self.evicted.load(Ordering::SeqCst) {
            return None;
        }
        let served = self.served.load(Ordering::SeqCst);
        match self.phase() {
            Phase::Idle(since) | Phase::Head(since) if !served => Some((0, since)),
            Phase::Idle(since) if now.duration_since(since) >= EVICTION_GRACE => Some((1, since)),
            _ => None,
        }
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::SeqCst);
        self.changed.notify_one();
    }
}

/// Where a new connection goes.
pub(crate) enum Admission {
    /// Served (possibly after evicting the longest-idle connection).
    Serve(Slot),
    /// Over the limit with none idle: answer 503 and close.
    Refuse(OverflowSlot),
    /// Over the limit and the overflow: close at once.
    Drop,
}

#[derive(Debug, Default)]
struct Inner {
    conns: HashMap<u64, Arc<Conn>>,
    next_id: u64,
    overflow: usize,
}

/// Every open connection. Cheap to share.
#[derive(Debug)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
    max: usize,
    max_overflow: usize,
    /// Notified whenever the last connection closes.
    empty: Notify,
}

impl Registry {
    pub(crate) fn new(max: usize, max_overflow: usize) -> Arc<Self> {
        Arc::new(Registry {
            inner: Mutex::new(Inner::default()),
            max,
            max_overflow,
            empty: Notify::new(),
        })
    }

    /// Admits a new connection: a free place, else the place of the connection idle the
    /// longest (which is told to close), else a 503, else nothing.
    pub(crate) fn admit(self: &Arc<Self>) -> Admission {
        let mut inner = lock(&self.inner);
        if inner.conns.len() >= self.max {
            let now = Instant::now();
            let oldest = inner
                .conns
                .values()
                .filter_map(|c| c.eviction_rank(now).map(|rank| (rank, c.id)))
                .min();
            match oldest {
                Some((_, id)) => {
                    if let Some(victim) = inner.conns.remove(&id) {
                        tracing::debug!(connection = id, "closing the longest-idle connection");
                        victim.evict();
                    }
                }
                None if inner.overflow < self.max_overflow => {
                    inner.overflow += 1;
                    return Admission::Refuse(OverflowSlot(Arc::clone(self)));
                }
                None => return Admission::Drop,
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let conn = Arc::new(Conn::new(id));
        inner.conns.insert(id, Arc::clone(&conn));
        Admission::Serve(Slot {
            registry: Arc::clone(self),
            conn,
        })
    }

    /// How many connections are open (served ones; not the 503s).
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        lock(&self.inner).conns.len()
    }

    /// Resolves once no connection is open (503s included).
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.empty.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let inner = lock(&self.inner);
                if inner.conns.is_empty() && inner.overflow == 0 {
                    return;
                }
            }
            notified.await;
        }
    }

    fn release(&self, id: Option<u64>) {
        let mut inner = lock(&self.inner);
        match id {
            Some(id) => {
                inner.conns.remove(&id);
            }
            None => inner.overflow = inner.overflow.saturating_sub(1),
        }
        if inner.conns.is_empty() && inner.overflow == 0 {
            self.empty.notify_waiters();
        }
    }
}

/// A served connection's place; given back on drop.
pub(crate) struct Slot {
    registry: Arc<Registry>,
    pub(crate) conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.release(Some(self.conn.id));
    }
}

/// A refused connection's place in the overflow; given back on drop.
pub(crate) struct OverflowSlot(Arc<Registry>);

impl Drop for OverflowSlot {
    fn drop(&mut self) {
        self.0.release(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(a: Admission) -> Slot {
        match a {
            Admission::Serve(s) => s,
            _ => panic!("expected to be served"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_limit_the_longest_idle_connection_makes_room() {
        let registry = Registry::new(2, 1);
        let first = served(registry.admit());
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let second = served(registry.admit());
        let third = served(registry.admit());
        assert_eq!(registry.open(), 2);
        assert_eq!(
            first.conn.deadline(
                std::time::Duration::from_secs(5),
                std::time::Duration::from_secs(60)
            ),
            Some((Instant::now(), Verdict::Evicted))
        );
        // Both left are busy: the next one is refused, and the one after that dropped.
        second.conn.request_started();
        third.conn.request_started();
        let refused = registry.admit();
        assert!(matches!(refused, Admission::Refuse(_)));
        assert!(matches!(registry.admit(), Admission::Drop));
        drop(refused);
        assert!(matches!(registry.admit(), Admission::Refuse(_)));
        // A write blocked on a client that reads nothing is not idle either.
        third.conn.request_ended();
        third.conn.write_blocked.store(true, Ordering::SeqCst);
        assert!(matches!(registry.admit(), Admission::Refuse(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_follows_the_phase() {
        let registry = Registry::new(4, 0);
        let slot = served(registry.admit());
        let (head, idle) = (
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(60),
        );
        // A new connection: its first head is due a header timeout after it opened, whether
        // it is silent or has sent part of it.
        let start = Instant::now();
        assert_eq!(
            slot.conn.deadline(head, idle),
            Some((start + head, Verdict::IdleTimeout))
        );
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        slot.conn.bytes_read();
        assert_eq!(
            slot.conn.deadline(head, idle),
            Some((start + head, Verdict::HeadTimeout))
        );
        slot.conn.request_started();
        slot.conn.request_ended();
        // Kept alive: idle for the idle timeout; a later head from its own first byte, which
        // more bytes of the same head do not move.
        let idle_start = Instant::now();
        assert_eq!(
            slot.conn.deadline(head, idle),
            Some((idle_start + idle, Verdict::IdleTimeout))
        );
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        slot.conn.bytes_read();
        let head_start = Instant::now();
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        slot.conn.bytes_read();
        assert_eq!(
            slot.conn.deadline(head, idle),
            Some((head_start + head, Verdict::HeadTimeout))
        );
        slot.conn.request_started();
        assert_eq!(slot.conn.deadline(head, idle), None);
        slot.conn.request_ended();
        assert_eq!(
            slot.conn.deadline(head, idle),
            Some((Instant::now() + idle, Verdict::IdleTimeout))
        );
        drop(slot);
        assert_eq!(registry.open(), 0);
    }
}

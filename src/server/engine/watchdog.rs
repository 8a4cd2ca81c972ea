//! The watchdog: a thread per running query that interrupts its connection once the deadline
//! passes or the server stops, wherever SQLite is (the progress handler only runs where SQLite
//! calls it). It ends with the query.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::Control;

/// How often the watchdog looks at the server's stop flag between deadlines.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// Stops (and is joined) on drop.
pub(super) struct Watchdog {
    done: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Watches `conn` under `control`; `None` if no thread could be started (the progress
    /// handler still bounds the query's steps).
    pub(super) fn start(conn: &Connection, control: &Arc<Control>) -> Option<Watchdog> {
        let handle = conn.get_interrupt_handle();
        let control = Arc::clone(control);
        let (done, finished) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("query-watchdog".to_owned())
            .spawn(move || {
                loop {
                    let wait = control
                        .deadline
                        .map(|d| d.saturating_duration_since(Instant::now()))
                        .unwrap_or(STOP_CHECK)
                        .min(STOP_CHECK);
                    match finished.recv_timeout(wait) {
                        Err(RecvTimeoutError::Timeout) if control.should_interrupt() => {
                            handle.interrupt();
                            return;
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        // The query ended.
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .map_err(|e| tracing::warn!(error = %e, "could not start a query watchdog"))
            .ok()?;
        Some(Watchdog {
            done: Some(done),
            thread: Some(thread),
        })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

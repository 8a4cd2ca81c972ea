//! Tracing capture, per test.
//!
//! All the tests share one process, so a capture must never be process-wide: another test's
//! records would mix into it, and every test would pay for TRACE formatting. A capture is a
//! subscriber for the current thread only ([`set_default`]); a test that captures runs on a
//! current-thread runtime, so the tasks it spawns (prefetched pages, connections, the scripted
//! fault server) run on its thread, under its subscriber.
//!
//! Installed once per process, on the first capture:
//!
//! - the `log` bridge, so that `log` records (reqwest's among them) reach the subscriber of the
//!   thread that emits them;
//! - a global subscriber that takes nothing ([`Inert`]), so a thread without a capture drops every
//!   record as before. It also keeps tracing's callsite interest right: while a single dispatcher
//!   is alive, tracing caches a callsite's interest from the default of whichever thread hits it
//!   first, and a "never" from a test thread without a capture would stick for a test that
//!   captures. With two or more alive (this one and the capture), every callsite asks all of them.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::subscriber::{DefaultGuard, Interest};
use tracing::{Dispatch, Event, Metadata, span};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Collects everything a tracing subscriber writes, to search it for what must (not) be there.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// All that was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Every record at TRACE (events, and the span events asked for), from this thread, written into
/// the returned buffer until the guard drops.
pub fn capture(span_events: FmtSpan) -> (Captured, DefaultGuard) {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(span_events)
        .with_ansi(false)
        .with_target(true)
        .with_writer(move || writer.clone())
        .finish();
    (out, set_default(subscriber))
}

/// `dispatch` as this thread's subscriber until the guard drops.
pub fn set_default(dispatch: impl Into<Dispatch>) -> DefaultGuard {
    process_wide_once();
    let guard = tracing::dispatcher::set_default(&dispatch.into());
    // Callsites registered before this dispatcher existed learn of it.
    tracing::callsite::rebuild_interest_cache();
    guard
}

/// The global subscriber and the `log` bridge, installed once (see the module docs).
fn process_wide_once() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // `try_init` installs the `log` bridge too, at the most verbose level any subscriber may
        // want (this one's hint: TRACE): each record is then offered to the emitting thread's
        // subscriber, which decides.
        Inert
            .try_init()
            .expect("no other global subscriber in the test binary");
    });
}

/// Takes nothing; claims no level, so that per-thread captures may ask for every one.
struct Inert;

impl tracing::Subscriber for Inert {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::never()
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        false
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

//! The clock every sleep and deadline of the SDK runs on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A future the clock returns from [`Clock::sleep`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Time, as the SDK sees it: what time it is and how to wait.
///
/// The default, [`TokioClock`], is the real thing (and obeys tokio's paused test clock). Inject
/// another with [`ClientBuilder::clock`](crate::ClientBuilder::clock).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The real clock: `tokio::time::Instant::now()` and `tokio::time::sleep`, so that tokio's
/// paused test clock (`#[tokio::test(start_paused = true)]`) applies.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock for the crate's own tests: sleeping returns at once and moves virtual time forward by
/// the amount slept, and every sleep is recorded.
///
/// ```
/// use std::time::Duration;
/// use tiledb_cloud_tasks::__private::VirtualClock;
/// use tiledb_cloud_tasks::policy::Clock;
///
/// # tokio_test_block_on(async {
/// let clock = VirtualClock::new();
/// let start = clock.now();
/// clock.sleep(Duration::from_secs(90)).await;
/// assert_eq!(clock.now() - start, Duration::from_secs(90));
/// assert_eq!(clock.sleeps(), vec![Duration::from_secs(90)]);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct VirtualClock {
    inner: Arc<Mutex<VirtualState>>,
}

#[derive(Debug)]
struct VirtualState {
    origin: Instant,
    elapsed: Duration,
    sleeps: Vec<Duration>,
}

impl VirtualClock {
    /// A clock at virtual time zero.
    pub fn new() -> Self {
        VirtualClock {
            inner: Arc::new(Mutex::new(VirtualState {
                origin: Instant::now(),
                elapsed: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, VirtualState> {
        // A poisoned lock only means a test panicked mid-sleep; the state is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every sleep so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state().sleeps.clone()
    }

    /// Virtual time elapsed since the clock was made.
    pub fn elapsed(&self) -> Duration {
        self.state().elapsed
    }

    /// Moves virtual time forward without a sleep.
    pub fn advance(&self, by: Duration) {
        self.state().elapsed += by;
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        let s = self.state();
        s.origin + s.elapsed
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        {
            let mut s = self.state();
            s.elapsed += duration;
            s.sleeps.push(duration);
        }
        // Yield once so that other tasks get to run, as they would during a real sleep.
        Box::pin(tokio::task::yield_now())
    }
}

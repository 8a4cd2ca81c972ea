//! How long to wait: the retry policy for transient failures, the poll policy for running tasks,
//! and the clock both sleep on.
//!
//! The two policies are deliberately different. A retry is a failure: its delays are jittered
//! (full jitter) so that many clients do not retry in step, and its budget is small. A poll is
//! not a failure: its schedule is deterministic (no jitter by default), grows gently, and is bounded
//! by a deadline instead of an attempt count.
//!
//! The exponential schedules come from the `backoff` crate. It is flagged unmaintained
//! (RUSTSEC-2025-0012), so it stays inside this file: no `backoff` type is public, and swapping it
//! for another crate is a change to this file alone.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use backoff::backoff::Backoff as _;

/// A future the clock returns from [`Clock::sleep`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Time, as the SDK sees it: what time it is and how to wait.
///
/// The default, [`TokioClock`], is the real thing. Tests inject a [`VirtualClock`] so that a
/// ten-minute backoff schedule runs in microseconds and can be asserted exactly.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The real clock: `Instant::now()` and `tokio::time::sleep` (so tokio's paused test clock applies).
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

/// A clock for tests: sleeping returns at once and moves virtual time forward by the amount slept,
/// and every sleep is recorded.
///
/// ```
/// use std::time::Duration;
/// use tiledb_cloud_tasks::policy::{Clock, VirtualClock};
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

/// An exponential schedule (`initial × multiplier^n`, capped), without jitter.
fn exponential(initial: Duration, multiplier: f64, max: Duration) -> backoff::ExponentialBackoff {
    backoff::ExponentialBackoffBuilder::new()
        .with_initial_interval(initial)
        .with_multiplier(multiplier)
        .with_max_interval(max)
        .with_randomization_factor(0.0)
        .with_max_elapsed_time(None)
        .build()
}

/// The `backoff` crate adds up to a nanosecond of noise even without randomization; whole
/// microseconds keep schedules exact and comparable.
fn whole_micros(d: Duration) -> Duration {
    Duration::from_micros(d.as_micros().min(u64::MAX as u128) as u64)
}

/// What the transport knows about a failed attempt, for a custom retry classifier.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AttemptOutcome {
    /// The request's method (`GET`, `POST`).
    pub method: String,
    /// Whether the request is the SQL submission, which must not run twice.
    pub is_submission: bool,
    /// The status, if a response came.
    pub status: Option<u16>,
    /// Whether the connection could not be made (so the request was certainly not processed).
    pub connect_error: bool,
    /// Whether the attempt timed out.
    pub timeout: bool,
    /// How many attempts have been made, from 1.
    pub attempt: u32,
}

/// A function that decides whether an attempt is retried: `Some(true)` or `Some(false)` overrides
/// the policy, `None` leaves it to the policy.
pub type RetryClassifier = Arc<dyn Fn(&AttemptOutcome) -> Option<bool> + Send + Sync>;

/// When and how a failed HTTP attempt is retried.
///
/// GETs retry on 408, 429, 500, 502, 503, 504 and on connect, reset and timeout failures. The SQL
/// submission (`POST /sql`) retries only where the query certainly did not run: a connect error,
/// 429 or 503. Delays grow exponentially with full jitter; `Retry-After` replaces the computed delay,
/// clamped to [`max_retry_after`](RetryPolicy::max_retry_after).
///
/// ```
/// use std::time::Duration;
/// use tiledb_cloud_tasks::policy::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(6)
///     .initial_backoff(Duration::from_millis(50))
///     .retry_on(vec![503]);
/// assert_eq!(policy.get_max_attempts(), 6);
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    multiplier: f64,
    statuses: Vec<u16>,
    max_retry_after: Duration,
    jitter: bool,
    classifier: Option<RetryClassifier>,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("multiplier", &self.multiplier)
            .field("statuses", &self.statuses)
            .field("max_retry_after", &self.max_retry_after)
            .field("jitter", &self.jitter)
            .field("classifier", &self.classifier.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
            statuses: vec![408, 429, 500, 502, 503, 504],
            max_retry_after: Duration::from_secs(60),
            jitter: true,
            classifier: None,
        }
    }
}

impl RetryPolicy {
    /// No retries at all: every attempt is the last.
    pub fn none() -> Self {
        RetryPolicy::default().max_attempts(1)
    }

    /// Total attempts, the first included (at least 1). Default 4.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first backoff, before jitter. Default 200 ms.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// The largest backoff, before jitter. Default 10 s.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Growth factor between backoffs (at least 1). Default 2.
    pub fn multiplier(mut self, m: f64) -> Self {
        self.multiplier = if m.is_finite() { m.max(1.0) } else { 2.0 };
        self
    }

    /// The statuses a GET retries on. Default 408, 429, 500, 502, 503, 504. The SQL submission
    /// retries only on those of 429 and 503 that are listed here.
    pub fn retry_on(mut self, statuses: Vec<u16>) -> Self {
        self.statuses = statuses;
        self
    }

    /// The longest `Retry-After` obeyed; longer ones are clamped to it. Default 60 s.
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Full jitter on computed backoffs (on by default). Off gives the bare exponential schedule.
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// A custom classifier, consulted before the policy's own rules.
    pub fn classifier(
        mut self,
        f: impl Fn(&AttemptOutcome) -> Option<bool> + Send + Sync + 'static,
    ) -> Self {
        self.classifier = Some(Arc::new(f));
        self
    }

    /// The attempt budget.
    pub fn get_max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The clamp on `Retry-After`.
    pub fn get_max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// Whether this outcome is retried, budget aside.
    pub fn should_retry(&self, outcome: &AttemptOutcome) -> bool {
        if let Some(f) = &self.classifier
            && let Some(decision) = f(outcome)
        {
            return decision;
        }
        if outcome.is_submission {
            // The query may have run unless the service said it did not (429, 503) or no
            // connection was made.
            return outcome.connect_error
                || outcome
                    .status
                    .is_some_and(|s| matches!(s, 429 | 503) && self.statuses.contains(&s));
        }
        match outcome.status {
            Some(s) => self.statuses.contains(&s),
            None => true,
        }
    }

    /// A fresh schedule of delays for one request.
    pub(crate) fn schedule(&self) -> RetrySchedule {
        RetrySchedule {
            inner: exponential(self.initial_backoff, self.multiplier, self.max_backoff),
            jitter: self.jitter,
            max_retry_after: self.max_retry_after,
        }
    }
}

/// The delays of one request's retries.
pub(crate) struct RetrySchedule {
    inner: backoff::ExponentialBackoff,
    jitter: bool,
    max_retry_after: Duration,
}

impl RetrySchedule {
    /// The delay before the next attempt: the server's `Retry-After` when given (clamped), else the
    /// next exponential step with full jitter.
    pub(crate) fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let computed = whole_micros(self.inner.next_backoff().unwrap_or(self.inner.max_interval));
        match retry_after {
            Some(d) => d.min(self.max_retry_after),
            None if self.jitter => whole_micros(computed.mul_f64(fastrand::f64())),
            None => computed,
        }
    }
}

/// How a running task's result is polled.
///
/// Polls wait `initial_interval`, then `× multiplier` each time up to `max_interval`; no jitter by
/// default (the server is not failing, and a deterministic schedule is easy to reason about). A
/// `Retry-After` on a 202 replaces the next interval. The wait ends at the
/// [`deadline`](PollPolicy::deadline) with one last poll, the final sleep clamped to the time left.
///
/// The defaults (0.5 s, ×1.25, at most 30 s, deadline 15 min) keep the lag between a task finishing
/// and the handle seeing it under a quarter of the task's run time plus half a second, and poll a
/// 20-second task 12 times: once at submission, then 11 intervals (`cargo bench --bench
/// poll_latency` measures both; see BENCHMARKS.md).
///
/// ```
/// use std::time::Duration;
/// use tiledb_cloud_tasks::policy::PollPolicy;
///
/// let p = PollPolicy::default()
///     .initial_interval(Duration::from_millis(100))
///     .multiplier(2.0)
///     .max_interval(Duration::from_secs(1));
/// let ms: Vec<u128> = p.intervals().take(6).map(|d| d.as_millis()).collect();
/// assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
/// ```
#[derive(Debug, Clone)]
pub struct PollPolicy {
    initial: Duration,
    multiplier: f64,
    max: Duration,
    jitter: bool,
    deadline: Option<Duration>,
    max_retry_after: Duration,
}

/// The default overall deadline of a wait.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(15 * 60);

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            initial: Duration::from_millis(500),
            multiplier: 1.25,
            max: Duration::from_secs(30),
            jitter: false,
            deadline: Some(DEFAULT_DEADLINE),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl PollPolicy {
    /// The first interval. Default 0.5 s.
    pub fn initial_interval(mut self, d: Duration) -> Self {
        self.initial = d;
        self
    }

    /// Growth factor between intervals (at least 1). Default 1.25.
    pub fn multiplier(mut self, m: f64) -> Self {
        self.multiplier = if m.is_finite() { m.max(1.0) } else { 1.25 };
        self
    }

    /// The longest interval. Default 30 s.
    pub fn max_interval(mut self, d: Duration) -> Self {
        self.max = d;
        self
    }

    /// Full jitter on intervals (off by default).
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// The overall deadline of a wait. Default 15 minutes.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    /// Waits without a deadline. Only ask for this when something else bounds the wait.
    pub fn no_deadline(mut self) -> Self {
        self.deadline = None;
        self
    }

    /// The longest `Retry-After` on a 202 that is obeyed. Default 60 s.
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// The deadline, if any.
    pub fn get_deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The first interval.
    pub fn get_initial_interval(&self) -> Duration {
        self.initial
    }

    /// The intervals between polls, without jitter or `Retry-After`: the schedule the policy follows.
    pub fn intervals(&self) -> impl Iterator<Item = Duration> + use<> {
        let mut b = exponential(self.initial, self.multiplier, self.max);
        std::iter::from_fn(move || Some(whole_micros(b.next_backoff().unwrap_or(b.max_interval))))
    }

    pub(crate) fn schedule(&self) -> PollSchedule {
        PollSchedule {
            inner: exponential(self.initial, self.multiplier, self.max),
            jitter: self.jitter,
            max_retry_after: self.max_retry_after,
        }
    }
}

/// The intervals of one wait.
pub(crate) struct PollSchedule {
    inner: backoff::ExponentialBackoff,
    jitter: bool,
    max_retry_after: Duration,
}

impl PollSchedule {
    /// The next interval; a `Retry-After` replaces it (clamped), without advancing the schedule.
    pub(crate) fn next_interval(&mut self, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.max_retry_after);
        }
        let d = whole_micros(self.inner.next_backoff().unwrap_or(self.inner.max_interval));
        if self.jitter {
            whole_micros(d.mul_f64(fastrand::f64()))
        } else {
            d
        }
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (relative to `now`). `None` for
/// anything else; a date in the past is zero.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate rather than fail.
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert!(parse_retry_after("99999999999999999999999", now).is_some());
    }

    #[test]
    fn retry_delays_are_full_jitter_below_the_exponential_step() {
        let p = RetryPolicy::default().initial_backoff(Duration::from_millis(100));
        let mut s = p.schedule();
        for step in [100u64, 200, 400, 800] {
            let d = s.next_delay(None);
            assert!(d <= Duration::from_millis(step), "{d:?} > {step} ms");
        }
    }

    #[test]
    fn retry_after_is_clamped() {
        let p = RetryPolicy::default().max_retry_after(Duration::from_secs(5));
        let mut s = p.schedule();
        assert_eq!(
            s.next_delay(Some(Duration::from_secs(3600))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn submissions_retry_only_when_the_query_did_not_run() {
        let p = RetryPolicy::default();
        let o = |status, connect| AttemptOutcome {
            method: "POST".into(),
            is_submission: true,
            status,
            connect_error: connect,
            timeout: false,
            attempt: 1,
        };
        assert!(p.should_retry(&o(Some(503), false)));
        assert!(p.should_retry(&o(Some(429), false)));
        assert!(p.should_retry(&o(None, true)));
        assert!(!p.should_retry(&o(Some(500), false)));
        assert!(!p.should_retry(&o(Some(502), false)));
        assert!(!p.should_retry(&o(None, false)));
    }

    #[test]
    fn default_poll_schedule_meets_the_latency_and_poll_count_targets() {
        let p = PollPolicy::default();
        // A 20 s task is seen within 12 polls.
        let mut t = Duration::ZERO;
        let mut polls = 0;
        let mut iv = p.intervals();
        while t < Duration::from_secs(20) {
            t += iv.next().unwrap();
            polls += 1;
        }
        assert!(polls <= 12, "{polls} polls");
        // Worst-case lag (the interval after any poll time T) is at most T/4 + initial.
        let mut t = Duration::ZERO;
        for d in p.intervals().take(40) {
            // (1 ms of slack for the schedule's rounding to whole microseconds)
            let bound = t / 4 + p.get_initial_interval() + Duration::from_millis(1);
            assert!(d <= bound, "{d:?} after {t:?}");
            t += d;
        }
    }
}

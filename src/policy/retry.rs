//! [`RetryPolicy`]: when a failed HTTP attempt is tried again. The rules (which statuses, which
//! failures, what a submission may resend) are written here once; the transport asks, and
//! [`Error::is_retryable`](crate::Error::is_retryable) answers from the same lists.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::schedule::{Backoff, Schedule};

/// The statuses a request is retried on by default: timeouts, throttling and server faults.
pub(crate) const TRANSIENT_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// The statuses by which the service says it did not take the request (throttled, or no
/// resources), so that even the SQL submission may be sent again.
pub(crate) const NOT_PROCESSED_STATUSES: [u16; 2] = [429, 503];

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
    backoff: Backoff,
    statuses: Vec<u16>,
    classifier: Option<RetryClassifier>,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.backoff.initial)
            .field("max_backoff", &self.backoff.max)
            .field("multiplier", &self.backoff.multiplier)
            .field("statuses", &self.statuses)
            .field("max_retry_after", &self.backoff.max_retry_after)
            .field("jitter", &self.backoff.jitter)
            .field("classifier", &self.classifier.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            backoff: Backoff {
                initial: Duration::from_millis(200),
                steady: 1,
                multiplier: 2.0,
                max: Duration::from_secs(10),
                jitter: true,
                max_retry_after: Duration::from_secs(60),
            },
            statuses: TRANSIENT_STATUSES.to_vec(),
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
        self.backoff.initial = d;
        self
    }

    /// The largest backoff, before jitter. Default 10 s.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.backoff.max = d;
        self
    }

    /// Growth factor between backoffs (at least 1). Default 2.
    pub fn multiplier(mut self, m: f64) -> Self {
        self.backoff.multiplier = Backoff::sane_multiplier(m, 2.0);
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
        self.backoff.max_retry_after = d;
        self
    }

    /// Full jitter on computed backoffs (on by default). Off gives the bare exponential schedule.
    pub fn jitter(mut self, on: bool) -> Self {
        self.backoff.jitter = on;
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
        self.backoff.max_retry_after
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
                || outcome.status.is_some_and(|s| {
                    NOT_PROCESSED_STATUSES.contains(&s) && self.statuses.contains(&s)
                });
        }
        match outcome.status {
            Some(s) => self.statuses.contains(&s),
            // No answer (connect, reset, timeout, a body cut short): a read may be repeated.
            None => true,
        }
    }

    /// A fresh schedule of delays for one request.
    pub(crate) fn schedule(&self) -> Schedule {
        self.backoff.start()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_clamped() {
        let p = RetryPolicy::default().max_retry_after(Duration::from_secs(5));
        let mut s = p.schedule();
        assert_eq!(
            s.next(Some(Duration::from_secs(3600))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn retry_delays_are_full_jitter_below_the_exponential_step() {
        let p = RetryPolicy::default().initial_backoff(Duration::from_millis(100));
        let mut s = p.schedule();
        for step in [100u64, 200, 400, 800] {
            let d = s.next(None);
            assert!(d <= Duration::from_millis(step), "{d:?} > {step} ms");
        }
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
}

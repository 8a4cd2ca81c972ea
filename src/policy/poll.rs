//! [`PollPolicy`]: how a running task's result is polled, and how long a wait may last.

use std::time::Duration;

use super::schedule::{Backoff, Schedule};

/// The default overall deadline of a wait.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(15 * 60);

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
    backoff: Backoff,
    deadline: Option<Duration>,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            backoff: Backoff {
                initial: Duration::from_millis(500),
                multiplier: 1.25,
                max: Duration::from_secs(30),
                jitter: false,
                max_retry_after: Duration::from_secs(60),
            },
            deadline: Some(DEFAULT_DEADLINE),
        }
    }
}

impl PollPolicy {
    /// The first interval. Default 0.5 s.
    pub fn initial_interval(mut self, d: Duration) -> Self {
        self.backoff.initial = d;
        self
    }

    /// Growth factor between intervals (at least 1). Default 1.25.
    pub fn multiplier(mut self, m: f64) -> Self {
        self.backoff.multiplier = Backoff::sane_multiplier(m, 1.25);
        self
    }

    /// The longest interval. Default 30 s.
    pub fn max_interval(mut self, d: Duration) -> Self {
        self.backoff.max = d;
        self
    }

    /// Full jitter on intervals (off by default).
    pub fn jitter(mut self, on: bool) -> Self {
        self.backoff.jitter = on;
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
        self.backoff.max_retry_after = d;
        self
    }

    /// The deadline, if any.
    pub fn get_deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The first interval.
    pub fn get_initial_interval(&self) -> Duration {
        self.backoff.initial
    }

    /// The intervals between polls, without jitter or `Retry-After`: the schedule the policy follows.
    pub fn intervals(&self) -> impl Iterator<Item = Duration> + use<> {
        self.backoff.intervals()
    }

    pub(crate) fn schedule(&self) -> Schedule {
        self.backoff.start()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

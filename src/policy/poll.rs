//! [`PollPolicy`]: how a running task's result is polled, and how long a wait may last.

use std::time::Duration;

use super::schedule::{Backoff, Schedule};

/// The default overall deadline of a wait.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// How a running task's result is polled.
///
/// Polls wait `initial_interval` for the first [`steady_polls`](PollPolicy::steady_polls)
/// intervals, then `× multiplier` each time up to `max_interval`; no jitter by default (the server
/// is not failing, and a deterministic schedule is easy to reason about). A `Retry-After` on a 202
/// replaces the next interval: the server knows its tasks better than any schedule. The wait ends
/// at the [`deadline`](PollPolicy::deadline) with one last poll, the final sleep clamped to the
/// time left.
///
/// # The default schedule, and why
///
/// The result is polled immediately (after a detached submission), then every **100 ms five
/// times** (until 0.5 s), then each interval is **a quarter of the time waited so far** (×1.25 per
/// poll: 125 ms, 156 ms, 195 ms, …), at most **30 s**; the deadline is 15 minutes:
///
/// | polls after submission | 1 | 2–6 | 7 | 8 | 9 | … | 23 | … |
/// | --- | --- | --- | --- | --- | --- | --- | --- | --- |
/// | at (s) | 0 | 0.1 … 0.5 | 0.625 | 0.781 | 0.977 | … | 22.2 | then every 30 s past 2 min |
///
/// Why: a short task should not wait long (most SQL tasks take well under a second), and a long
/// one should not be polled often. With every interval at most `max(100 ms, elapsed / 4)`, a task
/// that finishes at `t` is seen at most `max(100 ms, t / 4)` later (plus one round trip), so the
/// lag stays a fixed fraction of the run time; and the poll count grows with the logarithm of the
/// duration: 23 polls for a 20 s task, 28 for a minute, 31 for two; past two minutes one every 30 s
/// (57 for 15 minutes). The test
/// `handle::the_default_poll_schedule_is_exactly_the_documented_one` pins it (on a virtual clock);
/// `cargo bench --bench poll_latency` measures it against the local server (BENCHMARKS.md).
///
/// ```
/// use std::time::Duration;
/// use tiledb_cloud_tasks::policy::PollPolicy;
///
/// let ms: Vec<u128> = PollPolicy::default().intervals().take(8).map(|d| d.as_millis()).collect();
/// assert_eq!(ms, [100, 100, 100, 100, 100, 125, 156, 195]);
///
/// let p = PollPolicy::default()
///     .initial_interval(Duration::from_millis(100))
///     .steady_polls(1)
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
                initial: Duration::from_millis(100),
                steady: 5,
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
    /// The first interval. Default 100 ms.
    pub fn initial_interval(mut self, d: Duration) -> Self {
        self.backoff.initial = d;
        self
    }

    /// How many intervals are `initial_interval` before they start to grow (0 counts as 1).
    /// Default 5: with the default 100 ms and ×1.25, growth starts at 0.5 s, where a quarter of
    /// the time waited is 125 ms.
    pub fn steady_polls(mut self, n: u32) -> Self {
        self.backoff.steady = n;
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
    fn every_default_interval_is_at_most_a_quarter_of_the_time_waited_or_100_ms() {
        let p = PollPolicy::default();
        let mut t = Duration::ZERO;
        for d in p.intervals().take(60) {
            let bound = (t / 4).max(Duration::from_millis(100));
            // (20 µs of slack in all for the schedule's rounding to whole microseconds)
            assert!(d <= bound + Duration::from_micros(20), "{d:?} after {t:?}");
            t += d;
        }
    }
}

//! [`Backoff`]: the one schedule type behind both the retry and the poll policy.
//!
//! The exponential steps come from the `backoff` crate. It is flagged unmaintained
//! (RUSTSEC-2025-0012), so it stays inside this file: no `backoff` type is public, and swapping it
//! for another crate (`backon`, say) is a change to this file alone.

use std::time::Duration;

use backoff::backoff::Backoff as _;

/// Exponentially growing delays: `steady` delays of `initial`, then `initial × multiplier^n`, at
/// most `max`, optionally with full jitter (each delay uniform in zero to its step). A server's
/// `Retry-After` replaces the next delay, clamped to `max_retry_after`, without advancing the steps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    /// How many delays are `initial` before growth starts (0 and 1 both mean growth after the
    /// first).
    pub(crate) steady: u32,
    pub(crate) multiplier: f64,
    pub(crate) max: Duration,
    pub(crate) jitter: bool,
    pub(crate) max_retry_after: Duration,
}

impl Backoff {
    /// A growth factor as given by a caller: at least 1, and `fallback` when not a number.
    pub(crate) fn sane_multiplier(m: f64, fallback: f64) -> f64 {
        if m.is_finite() { m.max(1.0) } else { fallback }
    }

    fn steps(&self) -> backoff::ExponentialBackoff {
        backoff::ExponentialBackoffBuilder::new()
            .with_initial_interval(self.initial)
            .with_multiplier(self.multiplier)
            .with_max_interval(self.max)
            .with_randomization_factor(0.0)
            .with_max_elapsed_time(None)
            .build()
    }

    /// A fresh schedule, for one request's retries or one wait's polls.
    pub(crate) fn start(&self) -> Schedule {
        Schedule {
            steps: Steps::new(self),
            jitter: self.jitter,
            max_retry_after: self.max_retry_after,
        }
    }

    /// The steps, without jitter or `Retry-After`.
    pub(crate) fn intervals(&self) -> impl Iterator<Item = Duration> + use<> {
        let mut steps = Steps::new(self);
        std::iter::from_fn(move || Some(steps.next()))
    }
}

/// The steps of one schedule: the steady delays, then the `backoff` crate's exponential ones.
struct Steps {
    /// Steady delays still to give before the exponential steps (whose first is `initial` too).
    steady_left: u32,
    initial: Duration,
    exp: backoff::ExponentialBackoff,
}

impl Steps {
    fn new(b: &Backoff) -> Self {
        Steps {
            steady_left: b.steady.saturating_sub(1),
            initial: whole_micros(b.initial.min(b.max)),
            exp: b.steps(),
        }
    }

    fn next(&mut self) -> Duration {
        if self.steady_left > 0 {
            self.steady_left -= 1;
            return self.initial;
        }
        whole_micros(self.exp.next_backoff().unwrap_or(self.exp.max_interval))
    }
}

/// The `backoff` crate adds up to a nanosecond of noise even without randomization; whole
/// microseconds keep schedules exact and comparable.
fn whole_micros(d: Duration) -> Duration {
    Duration::from_micros(d.as_micros().min(u64::MAX as u128) as u64)
}

/// The delays of one schedule, in order.
pub(crate) struct Schedule {
    steps: Steps,
    jitter: bool,
    max_retry_after: Duration,
}

impl Schedule {
    /// The next delay: the server's `Retry-After` when given (clamped), else the next step.
    pub(crate) fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.max_retry_after);
        }
        let step = self.steps.next();
        if self.jitter {
            whole_micros(step.mul_f64(fastrand::f64()))
        } else {
            step
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(jitter: bool) -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            steady: 1,
            multiplier: 2.0,
            max: Duration::from_secs(1),
            jitter,
            max_retry_after: Duration::from_secs(5),
        }
    }

    #[test]
    fn steps_grow_to_the_cap_and_retry_after_replaces_one_without_advancing() {
        let mut s = b(false).start();
        assert_eq!(s.next(None), Duration::from_millis(100));
        assert_eq!(
            s.next(Some(Duration::from_secs(3600))),
            Duration::from_secs(5)
        );
        let rest: Vec<u128> = (0..5).map(|_| s.next(None).as_millis()).collect();
        assert_eq!(rest, [200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn steady_delays_come_before_growth() {
        let b = Backoff {
            steady: 3,
            ..b(false)
        };
        let ms: Vec<u128> = b.intervals().take(6).map(|d| d.as_millis()).collect();
        assert_eq!(ms, [100, 100, 100, 200, 400, 800]);
    }

    #[test]
    fn jittered_delays_stay_below_their_step() {
        let mut s = b(true).start();
        for step in [100u64, 200, 400, 800, 1000] {
            let d = s.next(None);
            assert!(d <= Duration::from_millis(step), "{d:?} > {step} ms");
        }
    }
}

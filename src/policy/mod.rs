//! How long to wait: the retry policy for transient failures, the poll policy for running tasks,
//! the transfer policy for answers that arrive slowly (or grow large), and the clock both sleep on.
//!
//! The two policies are deliberately different, though both are one backoff schedule type
//! (`schedule.rs`) underneath. A retry is a failure: its delays are jittered (full jitter) so that
//! many clients do not retry in step, and its budget is small. A poll is not a failure: its
//! schedule is deterministic (no jitter by default), grows gently, and is bounded by a deadline
//! instead of an attempt count.
//!
//! Where to change what: the poll schedule's defaults in `poll.rs`, the retry rules (statuses, what
//! a submission may resend) in `retry.rs`, the backoff arithmetic (and the `backoff` crate) in
//! `schedule.rs`, the clock in `clock.rs`, read timeouts, minimum rate and body size limits in
//! `transfer.rs`.

pub(crate) mod clock;
mod poll;
mod retry;
mod schedule;
mod transfer;

pub use clock::{Clock, Sleep, TokioClock};
pub use poll::{DEFAULT_DEADLINE, PollPolicy};
pub(crate) use retry::TRANSIENT_STATUSES;
pub use retry::{AttemptOutcome, RetryClassifier, RetryPolicy};
pub use transfer::{
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_RESULT_BYTES, DEFAULT_MIN_RATE, DEFAULT_RATE_WINDOW,
    DEFAULT_READ_TIMEOUT, TransferPolicy,
};

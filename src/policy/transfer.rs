//! [`TransferPolicy`]: how long an answer may take to arrive, judged by progress rather than by
//! its total size, and how large a body read into memory may grow.

use std::time::Duration;

/// The default [read timeout](TransferPolicy::read_timeout): 30 s without a byte.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The default [minimum rate](TransferPolicy::min_rate): 1 KiB/s, averaged over
/// [`DEFAULT_RATE_WINDOW`].
pub const DEFAULT_MIN_RATE: u64 = 1024;
/// The default window over which the minimum rate is averaged: 30 s.
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(30);
/// The default [largest answer](TransferPolicy::max_response_bytes): 64 MiB, for a task, a page
/// of tasks (some 30 times the largest page the service serves) or an inline error.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 << 20;
/// The default [largest result read whole](TransferPolicy::max_result_bytes): 1 GiB.
pub const DEFAULT_MAX_RESULT_BYTES: u64 = 1 << 30;

/// How answers are read: timeouts by progress, never by total size, and bounds on what is held in
/// memory.
///
/// - **Read timeout**: an answer that sends no byte for this long fails (the wait for a GET's
///   status line and headers, and every body, streamed or read whole). The SQL `POST` waits for
///   its answer as long as the query runs: only the handle's deadline (and
///   [`ClientBuilder::timeout`](crate::ClientBuilder::timeout), when set) bounds that.
/// - **Minimum rate** (in the spirit of curl's `--speed-limit` / `--speed-time`): a body that
///   averages less than `bytes_per_second` over a window of `window` fails at the end of that
///   window, so a trickle of a byte a second cannot hold a wait. Time the caller spends between
///   reads of a stream does not count.
/// - **Size**: every body read into memory (a task, a page, an error, a whole result) is counted
///   after decompression and fails at its limit, so a small compressed body cannot expand without
///   bound. A streamed result ([`ResultStream`](crate::ResultStream)) has no total limit (it is
///   never held whole), but each row is held to `max_response_bytes`.
///
/// A slow transfer that keeps progressing finishes, whatever its size: 30 MB at 300 KB/s takes
/// 100 s, and passes the defaults. A stalled or trickling one fails with
/// [`Error::Transport`](crate::Error::Transport), a timeout ([`Error::is_timeout`](crate::Error::is_timeout)) naming the
/// task; a body over its size, with the limit that was hit.
///
/// These timers run on tokio's clock (so tokio's paused test clock applies), not on the client's
/// [`Clock`](super::Clock).
///
/// ```
/// use std::time::Duration;
/// use tiledb_cloud_tasks::policy::TransferPolicy;
///
/// let p = TransferPolicy::default()
///     .read_timeout(Duration::from_secs(10))
///     .min_rate(10 * 1024, Duration::from_secs(20))
///     .max_result_bytes(256 << 20);
/// assert_eq!(p.get_read_timeout(), Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferPolicy {
    read_timeout: Duration,
    min_rate: Option<(u64, Duration)>,
    max_response_bytes: u64,
    max_result_bytes: u64,
}

impl Default for TransferPolicy {
    fn default() -> Self {
        TransferPolicy {
            read_timeout: DEFAULT_READ_TIMEOUT,
            min_rate: Some((DEFAULT_MIN_RATE, DEFAULT_RATE_WINDOW)),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
        }
    }
}

impl TransferPolicy {
    /// The longest silence: no byte for this long fails the answer. Default 30 s (at least 1 ms).
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = d.max(Duration::from_millis(1));
        self
    }

    /// The slowest a body may be: at least `bytes_per_second` on average over each `window` of
    /// waiting (at least 1 ms). Default 1 KiB/s over 30 s.
    pub fn min_rate(mut self, bytes_per_second: u64, window: Duration) -> Self {
        self.min_rate = Some((bytes_per_second, window.max(Duration::from_millis(1))));
        self
    }

    /// No minimum rate: only the read timeout (and the deadline) bound a slow body.
    pub fn no_min_rate(mut self) -> Self {
        self.min_rate = None;
        self
    }

    /// The largest answer read into memory, decompressed: a task, a page of tasks, an error body
    /// (of which only the first 64 KiB are kept), one row of a streamed result. Default 64 MiB.
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The largest result read into memory whole (awaiting a handle, `ResultStream::collect`,
    /// `task_id_result_get`, inline rows), decompressed. Default 1 GiB. A streamed result has no
    /// such limit.
    pub fn max_result_bytes(mut self, bytes: u64) -> Self {
        self.max_result_bytes = bytes;
        self
    }

    /// The read timeout.
    pub fn get_read_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// The minimum rate, in bytes per second, and its window; `None` when off.
    pub fn get_min_rate(&self) -> Option<(u64, Duration)> {
        self.min_rate
    }

    /// The largest answer read into memory.
    pub fn get_max_response_bytes(&self) -> u64 {
        self.max_response_bytes
    }

    /// The largest result read into memory whole.
    pub fn get_max_result_bytes(&self) -> u64 {
        self.max_result_bytes
    }
}

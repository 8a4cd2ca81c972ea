//! The server's limits: every resource a client controls is bounded here, and each bound is one
//! field with its default. A limit is changed through [`ServerConfig`](super::ServerConfig) (and
//! the binary's flags); this file is where a new one goes.

use std::time::Duration;

use super::error::ServerError;

/// Upper bound on the concurrent queries: each query holds a blocking thread.
pub(crate) const MAX_CONCURRENT_QUERIES: usize = 512;

/// The default number of query slots: one per CPU, and at least 4, so that a one- or two-core CI
/// runner still runs a few queries at once (a query slot is also held by a task made slow on
/// purpose, or waiting on a lock).
pub(crate) fn default_query_slots() -> usize {
    std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .clamp(4, MAX_CONCURRENT_QUERIES)
}

/// Connections answered `503` beyond [`Limits::max_connections`] when none is idle (each for
/// as long as it takes to read its head); past these, a new connection is closed at once.
pub(crate) const OVERFLOW_CONNECTIONS: usize = 32;
/// The smallest `max_query_memory`: the task store's own SQLite connections live under it too.
pub(crate) const MIN_QUERY_MEMORY: u64 = 16 * 1024 * 1024;
/// The smallest `max_header_bytes`: hyper's read buffer cannot be smaller.
pub(crate) const MIN_HEADER_BYTES: usize = 8192;
/// The longest request URI: hyper's own limit (not configurable); past it, 414.
pub(crate) const MAX_URI_BYTES: usize = u16::MAX as usize - 1;

/// The limits of one server. See the [module docs](self).
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Queries that may run at once; past it, a submission is answered 503 with `Retry-After`.
    pub(crate) max_concurrent_queries: usize,
    /// How long one task (init commands and query) may run.
    pub(crate) query_timeout: Duration,
    /// The largest encoded result, in bytes.
    pub(crate) max_result_bytes: usize,
    /// How long stored results are kept.
    pub(crate) result_ttl: Duration,
    /// The largest request body, in bytes.
    pub(crate) max_body_bytes: usize,
    /// The `Retry-After` sent with a 503.
    pub(crate) retry_after: Duration,
    /// How long a client may take to send a request head, from its first byte; past it the
    /// connection gets a 408 and is closed.
    pub(crate) header_timeout: Duration,
    /// How long a connection may sit with no request in progress (before its first request, or
    /// between keep-alive requests) before it is closed.
    pub(crate) idle_timeout: Duration,
    /// How long a write to a client may stay blocked (the client reads nothing) before the
    /// connection is dropped.
    pub(crate) write_timeout: Duration,
    /// Open connections at most; a new one past it closes the oldest idle one, or gets a 503.
    pub(crate) max_connections: usize,
    /// The largest request head (request line and headers), in bytes; past it, 431.
    pub(crate) max_header_bytes: usize,
    /// SQLite's heap limit for every query of the server together, in bytes.
    pub(crate) max_query_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent_queries: default_query_slots(),
            query_timeout: Duration::from_secs(30),
            max_result_bytes: 64 * 1024 * 1024,
            result_ttl: Duration::from_secs(24 * 60 * 60),
            max_body_bytes: 1024 * 1024,
            retry_after: Duration::from_secs(1),
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_header_bytes: 64 * 1024,
            max_query_memory: 256 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Refuses limits the server cannot work with, naming the setting.
    pub(crate) fn check(&self) -> Result<(), ServerError> {
        let bad = |what: &str| Err(ServerError::Config(what.to_owned()));
        if !(1..=MAX_CONCURRENT_QUERIES).contains(&self.max_concurrent_queries) {
            return bad(&format!(
                "max_concurrent_queries must be between 1 and {MAX_CONCURRENT_QUERIES}"
            ));
        }
        if self.query_timeout.is_zero() {
            return bad("query_timeout must be positive");
        }
        if self.max_result_bytes == 0 {
            return bad("max_result_bytes must be positive");
        }
        if self.max_body_bytes == 0 {
            return bad("max_body_bytes must be positive");
        }
        for (name, d) in [
            ("header_timeout", self.header_timeout),
            ("idle_timeout", self.idle_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if d.is_zero() {
                return bad(&format!("{name} must be positive"));
            }
        }
        if self.max_query_memory < MIN_QUERY_MEMORY {
            return bad(&format!(
                "max_query_memory must be at least {MIN_QUERY_MEMORY} bytes"
            ));
        }
        if self.max_connections == 0 {
            return bad("max_connections must be positive");
        }
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return bad(&format!(
                "max_header_bytes must be at least {MIN_HEADER_BYTES}"
            ));
        }
        Ok(())
    }

    /// `Retry-After` in whole seconds, rounded up.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        self.retry_after
            .as_secs()
            .saturating_add(u64::from(self.retry_after.subsec_nanos() > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_slots_default_to_the_cpus_and_at_least_four() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(Limits::default().max_concurrent_queries, cpus.max(4));
    }
}

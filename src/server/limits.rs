//! The server's limits: every resource a client controls is bounded here, and each bound is one
//! field with its default. A limit is changed through [`ServerConfig`](super::ServerConfig) (and
//! the binary's flags); this file is where a new one goes.

use std::time::Duration;

use super::error::ServerError;

/// Upper bound on the concurrent queries: each query holds a blocking thread.
pub(crate) const MAX_CONCURRENT_QUERIES: usize = 512;

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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent_queries: 4,
            query_timeout: Duration::from_secs(30),
            max_result_bytes: 64 * 1024 * 1024,
            result_ttl: Duration::from_secs(24 * 60 * 60),
            max_body_bytes: 1024 * 1024,
            retry_after: Duration::from_secs(1),
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
        Ok(())
    }

    /// `Retry-After` in whole seconds, rounded up.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        self.retry_after
            .as_secs()
            .saturating_add(u64::from(self.retry_after.subsec_nanos() > 0))
    }
}

//! Shared test fixtures: a client pointed at a mock server, with a virtual clock.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use tiledb_cloud_tasks::__private::VirtualClock;

use tiledb_cloud_tasks::Client;
use tiledb_cloud_tasks::policy::{PollPolicy, RetryPolicy};

/// The API key every test client sends; tests assert it never leaks.
pub const KEY: &str = "sk-test-5e3a9c1f-never-print-me";

/// A client for `base` with the test key, a virtual clock and the given retry policy.
pub fn client_with(base: &str, retry: RetryPolicy, clock: VirtualClock) -> Client {
    Client::builder()
        .host(base)
        .api_key(KEY)
        .retry_policy(retry)
        .poll_policy(PollPolicy::default())
        .clock(clock)
        .build()
        .expect("test client builds")
}

/// A client for `base` with default retries on a virtual clock.
pub fn client(base: &str) -> (Client, VirtualClock) {
    let clock = VirtualClock::new();
    (
        client_with(base, RetryPolicy::default(), clock.clone()),
        clock,
    )
}

/// Collects everything a tracing subscriber writes, to search it for what must (not) be there.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// All that was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

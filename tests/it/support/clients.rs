//! SDK clients for the tests: the test key, and retries and polls that sleep on a virtual clock.

use std::time::Duration;

use super::prelude::{Client, ClientBuilder, PollPolicy, RetryPolicy, VirtualClock};

/// The API key every test client sends; tests assert it never leaks.
pub const KEY: &str = "sk-test-5e3a9c1f-never-print-me";

/// The one recipe for a test client: `base`, the test key, the default poll policy, and `clock`
/// for every retry and poll sleep. Callers add what their case needs and build.
pub fn builder(base: &str, clock: &VirtualClock) -> ClientBuilder {
    Client::builder()
        .host(base)
        .api_key(KEY)
        .poll_policy(PollPolicy::default())
        .clock(clock.clone())
}

/// A client for `base` with the test key, a virtual clock and the given retry policy.
pub fn client_with(base: &str, retry: RetryPolicy, clock: VirtualClock) -> Client {
    builder(base, &clock)
        .retry_policy(retry)
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

/// A client on a virtual clock with `attempts` attempts per request and the given timeout.
pub fn client_timed(
    base: &str,
    timeout: Option<Duration>,
    attempts: u32,
) -> (Client, VirtualClock) {
    let clock = VirtualClock::new();
    let c = builder(base, &clock)
        .retry_policy(RetryPolicy::default().max_attempts(attempts))
        .timeout(timeout)
        .build()
        .expect("test client builds");
    (c, clock)
}

//! SDK clients for the tests: the test key, and retries and polls that sleep on a virtual clock.

use super::prelude::{Client, PollPolicy, RetryPolicy, VirtualClock};

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

//! What the tests share, one home for each:
//!
//! - [`prelude`]: every item of the crate the tests use (the one place to fix when `src/` moves);
//! - [`clients`]: SDK clients with the test key, on a virtual clock;
//! - [`fault_server`]: the scripted HTTP/1.1 server for faults below HTTP;
//! - [`mock`]: wiremock mounts more than one module needs;
//! - [`fixtures`]: tasks, pages and rows as the service sends them;
//! - [`local`]: the local server under test, over raw HTTP or through the SDK;
//! - [`binary`]: the `tiledb-tasks-server` binary, spawned;
//! - [`gate`]: a proxy that holds chosen requests until the test lets them through;
//! - [`pager`]: a `/v1/tasks` server of any number of made-up tasks;
//! - [`trace`]: tracing capture, per test;
//! - [`alloc`]: the binary's counting allocator;
//! - [`cases!`]: one named test per row of a table;
//! - here: guards and waits ([`bounded`], [`poll_until`], [`refused_uri`]).

use std::future::Future;
use std::time::Duration;

pub mod alloc;
#[cfg(feature = "server")]
pub mod binary;
pub mod clients;
pub mod fault_server;
pub mod fixtures;
#[cfg(feature = "server")]
pub mod gate;
#[cfg(feature = "server")]
pub mod local;
pub mod mock;
#[cfg(feature = "server")]
pub mod pager;
pub mod prelude;
pub mod trace;

/// One test per row of a table, each its own named test (so a failure names its row, and a filter
/// can pick one): every row `name: input => expected` becomes `fn name()` calling
/// `check(input, expected)`, a `#[tokio::test]` when the check is `async`.
///
/// ```ignore
/// cases! {
///     async check_sleeps;
///     retry_after_in_seconds_is_obeyed: ("7", RetryPolicy::default()) => secs(7),
///     an_absurd_retry_after_is_clamped: ("86400", clamped_to_20s) => secs(20),
/// }
/// ```
macro_rules! cases {
    (async $check:path; $($(#[$attr:meta])* $name:ident: $input:expr => $expected:expr),+ $(,)?) => {
        $(
            $(#[$attr])*
            #[tokio::test]
            async fn $name() {
                $check($input, $expected).await
            }
        )+
    };
    ($check:path; $($(#[$attr:meta])* $name:ident: $input:expr => $expected:expr),+ $(,)?) => {
        $(
            $(#[$attr])*
            #[test]
            fn $name() {
                $check($input, $expected)
            }
        )+
    };
}
pub(crate) use cases;

/// Runs a flow under a guard: a flow that does not end by itself fails the test (it must never
/// wait without end). The guard is a bound on the test, never a measure.
pub async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the flow must end by itself, with a result or a typed error")
}

/// How many times a polling loop probes before it gives up, and how long it waits between probes:
/// 20 s in all, never reached when the server behaves; it bounds the test when it does not.
pub const POLL_STEPS: usize = 2000;
pub const POLL_STEP: Duration = Duration::from_millis(10);

/// Probes until `probe` gives something, [`POLL_STEP`] apart, at most `steps` times; `None` if it
/// never did (the caller says what that means).
pub async fn poll_until<T, Fut>(steps: usize, mut probe: impl FnMut() -> Fut) -> Option<T>
where
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..steps {
        if let Some(found) = probe().await {
            return Some(found);
        }
        tokio::time::sleep(POLL_STEP).await;
    }
    None
}

/// `http://127.0.0.1:port` for a port that was just free: nothing listens, so a connection to it
/// is refused.
pub fn refused_uri() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

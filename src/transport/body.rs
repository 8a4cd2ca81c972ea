//! Reading a body under the [`TransferPolicy`]: the read timeout and the minimum rate watch every
//! chunk's arrival, and a body read into memory stops at its size limit. Only time spent waiting
//! for the service counts: a consumer that takes its time between chunks is not the service being
//! slow.

use std::fmt;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use tokio::time::Instant;

use crate::policy::TransferPolicy;

/// Which size limit a buffered body is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// A task, a page, an error: [`TransferPolicy::max_response_bytes`].
    Response,
    /// A whole result: [`TransferPolicy::max_result_bytes`].
    Result,
}

impl Limit {
    pub(crate) fn bytes(self, policy: &TransferPolicy) -> u64 {
        match self {
            Limit::Response => policy.get_max_response_bytes(),
            Limit::Result => policy.get_max_result_bytes(),
        }
    }

    /// The setting's name, for the error that says which limit was hit.
    pub(crate) fn setting(self) -> &'static str {
        match self {
            Limit::Response => "TransferPolicy::max_response_bytes",
            Limit::Result => "TransferPolicy::max_result_bytes",
        }
    }
}

/// Why a body stopped.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The HTTP client failed (reset, cut short, a bad encoding).
    Http(reqwest::Error),
    /// A body that stopped sending, or progressed too slowly.
    Slow(Slow),
    /// More than the limit, decompressed.
    TooLarge { limit: Limit, bytes: u64 },
}

/// A body that stopped sending, or progressed too slowly: the cause under a transport timeout.
#[derive(Debug, Clone)]
pub(crate) struct Slow {
    kind: SlowKind,
    received: u64,
}

#[derive(Debug, Clone, Copy)]
enum SlowKind {
    NoAnswer {
        after: Duration,
    },
    Stalled {
        after: Duration,
    },
    BelowRate {
        got: u64,
        window: Duration,
        min: u64,
    },
}

impl fmt::Display for Slow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SlowKind::NoAnswer { after } => {
                write!(f, "no answer for {after:?} (the read timeout)")
            }
            SlowKind::Stalled { after } => write!(
                f,
                "no byte for {after:?} (the read timeout), after {} bytes",
                self.received
            ),
            SlowKind::BelowRate { got, window, min } => write!(
                f,
                "{got} bytes in {window:?}, below the minimum rate of {min} bytes/s, after {} bytes",
                self.received
            ),
        }
    }
}

impl std::error::Error for Slow {}

impl Slow {
    /// No status line and headers within the read timeout.
    pub(crate) fn no_answer(after: Duration) -> Slow {
        Slow {
            kind: SlowKind::NoAnswer { after },
            received: 0,
        }
    }
}

/// The chunks of `chunks`, each awaited under the policy's read timeout and minimum rate.
pub(crate) fn watched(
    mut chunks: BoxStream<'static, reqwest::Result<Bytes>>,
    policy: TransferPolicy,
) -> BoxStream<'static, Result<Bytes, Fault>> {
    let read_timeout = policy.get_read_timeout();
    let rate = policy.get_min_rate();
    async_stream::stream! {
        let mut received = 0u64;
        // Waiting time since the last byte, and in the current rate window.
        let mut idle = Duration::ZERO;
        let mut window_waited = Duration::ZERO;
        let mut window_bytes = 0u64;
        loop {
            let to_stall = read_timeout.saturating_sub(idle);
            let to_window = rate.map_or(Duration::MAX, |(_, w)| w.saturating_sub(window_waited));
            let started = Instant::now();
            let next = tokio::time::timeout(to_stall.min(to_window), chunks.next()).await;
            let waited = started.elapsed();
            idle += waited;
            window_waited += waited;
            match next {
                Ok(None) => return,
                Ok(Some(Err(e))) => {
                    yield Err(Fault::Http(e));
                    return;
                }
                Ok(Some(Ok(chunk))) => {
                    if !chunk.is_empty() {
                        idle = Duration::ZERO;
                        received += chunk.len() as u64;
                        window_bytes += chunk.len() as u64;
                    }
                    yield Ok(chunk);
                }
                Err(_) if idle >= read_timeout => {
                    let kind = SlowKind::Stalled { after: read_timeout };
                    yield Err(Fault::Slow(Slow { kind, received }));
                    return;
                }
                Err(_) => {}
            }
            if let Some((min, window)) = rate
                && window_waited >= window
            {
                let needed = (min as f64 * window_waited.as_secs_f64()) as u64;
                if window_bytes < needed {
                    let kind = SlowKind::BelowRate { got: window_bytes, window: window_waited, min };
                    yield Err(Fault::Slow(Slow { kind, received }));
                    return;
                }
                window_waited = Duration::ZERO;
                window_bytes = 0;
            }
        }
    }
    .boxed()
}

/// The whole body, at most `limit` bytes (decompressed): a body over it stops at once, with no
/// more than the limit held.
pub(crate) async fn collect(
    mut chunks: BoxStream<'static, Result<Bytes, Fault>>,
    limit: Limit,
    policy: &TransferPolicy,
) -> Result<Bytes, Fault> {
    let max = limit.bytes(policy);
    let mut parts: Vec<Bytes> = Vec::new();
    let mut total = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        total += chunk.len() as u64;
        if total > max {
            return Err(Fault::TooLarge { limit, bytes: max });
        }
        if !chunk.is_empty() {
            parts.push(chunk);
        }
    }
    Ok(match parts.len() {
        0 => Bytes::new(),
        1 => parts.pop().unwrap_or_default(),
        _ => {
            let mut all = BytesMut::with_capacity(total as usize);
            for p in parts {
                all.extend_from_slice(&p);
            }
            all.freeze()
        }
    })
}

/// At most `limit` bytes of a body (an error's explanation); a failure or a stall mid-way keeps
/// what came.
pub(crate) async fn prefix(
    mut chunks: BoxStream<'static, Result<Bytes, Fault>>,
    limit: usize,
) -> Bytes {
    let mut out = Vec::new();
    while let Some(Ok(chunk)) = chunks.next().await {
        let room = limit - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    Bytes::from(out)
}

//! The TCP listener and its connections, bounded so that no client can exhaust them:
//!
//! - each connection is one of at most `max_connections` (kept below the process's file
//!   descriptor limit, with room for the server's own files); a new connection past it closes
//!   the connection idle the longest, or, when every one is busy, is answered `503` with
//!   `Retry-After` and closed (`registry.rs`);
//! - a request head must arrive within the header timeout of its first byte (else `408`), and a
//!   connection with no request in progress is closed after the idle timeout (`connection.rs`);
//! - a write blocked longer than the write timeout drops the connection, and the kill switch
//!   breaks every connection at once (`stream.rs`);
//! - hyper's own refusals of heads it cannot parse (`400`, `414`, `431`) get an `Error` body
//!   like every other answer (`refusal.rs`).
//!
//! hyper's HTTP/1 connections are driven here rather than by `axum::serve`, which has none of
//! these limits.

mod connection;
mod refusal;
mod registry;
mod stream;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use super::limits::{Limits, OVERFLOW_CONNECTIONS};
use connection::Shared;
use registry::{Admission, Registry};
pub(crate) use stream::KillSwitch;

/// File descriptors kept free of connections: the server's own (stores, namespace databases of
/// running queries, their WAL files, the lock, stdio) and the 503 overflow.
const FD_RESERVE: usize = 64 + OVERFLOW_CONNECTIONS;

/// The soft limit on open files, where the platform tells it cheaply (Linux: `/proc`).
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `configured`, lowered (with a warning) to fit under the file descriptor limit.
fn effective_max_connections(configured: usize) -> usize {
    match open_files_limit() {
        Some(soft) if configured.saturating_add(FD_RESERVE) > soft => {
            let fitted = soft.saturating_sub(FD_RESERVE).max(1);
            tracing::warn!(
                configured,
                fitted,
                open_files_limit = soft,
                "max_connections lowered to fit the file descriptor limit"
            );
            fitted
        }
        _ => configured,
    }
}

/// Serves `router` on `listener` until `signal` fires (or its sender is dropped), then shuts
/// down gracefully: no new connections, idle ones closed, in-flight answers completed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    switch: Arc<KillSwitch>,
    signal: oneshot::Receiver<()>,
) {
    let mut http = http1::Builder::new();
    http.keep_alive(true)
        .header_read_timeout(None)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(64 * 1024));
    let shared = Arc::new(Shared {
        http,
        router,
        limits: Arc::new(limits.clone()),
        switch,
    });
    let registry = Registry::new(
        effective_max_connections(limits.max_connections),
        OVERFLOW_CONNECTIONS,
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(signal);
    loop {
        let accepted = tokio::select! {
            _ = &mut signal => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, _peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Per-connection failures (reset before accept) are routine; anything else
                // (out of file descriptors) deserves a pause rather than a busy loop.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionRefused
                ) {
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        match registry.admit() {
            Admission::Serve(slot) => {
                tokio::spawn(connection::serve(
                    tcp,
                    slot,
                    Arc::clone(&shared),
                    stop_rx.clone(),
                ));
            }
            Admission::Refuse(slot) => {
                tracing::warn!("every connection is busy; answering 503");
                tokio::spawn(connection::refuse_busy(tcp, slot, Arc::clone(&shared)));
            }
            Admission::Drop => drop(tcp),
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    registry.idle().await;
}

//! The network listener: TCP connections that all break at once when the server is killed (a
//! simulated crash), where a graceful shutdown lets in-flight answers complete.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, futures::OwnedNotified};

/// Breaks every connection at once when the server is killed (what a crash does), where a
/// graceful shutdown lets in-flight answers complete.
#[derive(Debug, Default)]
pub(crate) struct KillSwitch {
    killed: AtomicBool,
    notify: Arc<Notify>,
}

impl KillSwitch {
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

/// The TCP listener, handing out connections that obey the [`KillSwitch`].
pub(crate) struct KillableListener {
    inner: TcpListener,
    switch: Arc<KillSwitch>,
}

impl KillableListener {
    pub(crate) fn new(inner: TcpListener, switch: Arc<KillSwitch>) -> Self {
        KillableListener { inner, switch }
    }
}

impl axum::serve::Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let killed = Box::pin(Arc::clone(&self.switch.notify).notified_owned());
                    let io = KillableStream {
                        inner: stream,
                        switch: Arc::clone(&self.switch),
                        killed,
                    };
                    return (io, addr);
                }
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
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that fails every read and write once the server is killed.
pub(crate) struct KillableStream {
    inner: TcpStream,
    switch: Arc<KillSwitch>,
    killed: Pin<Box<OwnedNotified>>,
}

impl KillableStream {
    fn is_killed(&mut self, cx: &mut Context<'_>) -> bool {
        // The flag is set before the notification, and checked first, so the notification
        // future is never polled again after it completed.
        self.switch.killed.load(Ordering::SeqCst) || self.killed.as_mut().poll(cx).is_ready()
    }
}

fn killed_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "the server was killed")
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

//! A connection's byte stream: broken at once when the server is killed (what a crash does,
//! where a graceful shutdown lets in-flight answers complete); a write blocked longer than the
//! write timeout fails (a client that reads nothing is dropped); the first byte of a request head
//! is reported to the connection's [`Conn`]; and hyper's bodiless refusals of heads it cannot
//! parse get their `Error` body (see `refusal.rs`).

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, futures::OwnedNotified};
use tokio::time::Sleep;

use super::refusal;
use super::registry::{Conn, Phase};
use crate::server::limits::Limits;

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

/// One connection's stream. See the module docs.
pub(crate) struct Stream {
    inner: TcpStream,
    switch: Arc<KillSwitch>,
    killed: Pin<Box<OwnedNotified>>,
    conn: Option<Arc<Conn>>,
    limits: Arc<Limits>,
    /// Armed while a write is blocked; fires after the write timeout.
    stall: Option<Pin<Box<Sleep>>>,
    /// An `Error` answer being written in place of hyper's bodiless one, and how much is sent.
    replacement: Option<(Vec<u8>, usize)>,
    /// The length of the request line of the head being read, and whether it ended: a 431 for
    /// a head whose request line alone is too long is a 414.
    request_line: (usize, bool),
}

impl Stream {
    pub(crate) fn new(
        inner: TcpStream,
        switch: &Arc<KillSwitch>,
        conn: Option<Arc<Conn>>,
        limits: Arc<Limits>,
    ) -> Self {
        Stream {
            inner,
            killed: Box::pin(Arc::clone(&switch.notify).notified_owned()),
            switch: Arc::clone(switch),
            conn,
            limits,
            stall: None,
            replacement: None,
            request_line: (0, false),
        }
    }

    fn is_killed(&mut self, cx: &mut Context<'_>) -> bool {
        // The flag is set before the notification, and checked first, so the notification
        // future is never polled again after it completed.
        self.switch.killed.load(Ordering::SeqCst) || self.killed.as_mut().poll(cx).is_ready()
    }
}

fn killed_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "the server was killed")
}

fn stalled_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the client read nothing within the write timeout",
    )
}

impl Stream {
    /// Tracks a write's progress: a write pending longer than the write timeout fails.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let blocked = result.is_pending();
        if let Some(conn) = &self.conn {
            conn.write_blocked.store(blocked, Ordering::SeqCst);
        }
        if !blocked {
            self.stall = None;
            return result;
        }
        let timeout = self.limits.write_timeout;
        let stall = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if stall.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(stalled_error()));
        }
        Poll::Pending
    }

    /// Writes what is left of the replacement answer; ready once it is all sent.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let written = match self.replacement.as_ref() {
                Some((bytes, sent)) if *sent < bytes.len() => {
                    Pin::new(&mut self.inner).poll_write(cx, &bytes[*sent..])
                }
                _ => return Poll::Ready(Ok(())),
            };
            match self.watch(cx, written) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    if let Some((_, sent)) = self.replacement.as_mut() {
                        *sent += n;
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        let this = &mut *self;
        if buf.filled().len() > before
            && let Some(conn) = &this.conn
        {
            if let Phase::Idle(_) = conn.phase() {
                this.request_line = (0, false);
            }
            if conn.phase() != Phase::Busy && !this.request_line.1 {
                let new = &buf.filled()[before..];
                match new.iter().position(|b| *b == b'\n') {
                    Some(end) => this.request_line = (this.request_line.0 + end, true),
                    None => this.request_line.0 += new.len(),
                }
            }
            conn.bytes_read();
        }
        read
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        let this = &mut *self;
        // No request is being served, yet hyper writes: its answer to a head it refused.
        if this.replacement.is_none()
            && let Some(conn) = &this.conn
            && conn.phase() != Phase::Busy
            && let Some(answer) = refusal::replace_automatic(buf, &this.limits, this.request_line.0)
        {
            this.replacement = Some((answer, 0));
        }
        if this.replacement.is_some() {
            return this.poll_replacement(cx).map_ok(|()| buf.len());
        }
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_killed(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        let this = &mut *self;
        if this.poll_replacement(cx)?.is_pending() {
            return Poll::Pending;
        }
        let flushed = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, flushed)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_replacement(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

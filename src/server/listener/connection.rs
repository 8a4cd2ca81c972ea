//! One connection's task: hyper's HTTP/1 connection driven under the connection's timers (the
//! header timeout from a head's first byte, the idle timeout otherwise), closed when evicted, and
//! shut down gracefully with the server. Also the short task that refuses a connection past the
//! limit with a 503.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::refusal;
use super::registry::{Conn, OverflowSlot, Slot, Verdict};
use super::stream::{KillSwitch, Stream};
use crate::server::limits::Limits;

/// What every connection's task needs.
pub(crate) struct Shared {
    pub(crate) http: http1::Builder,
    pub(crate) router: Router,
    pub(crate) limits: Arc<Limits>,
    pub(crate) switch: Arc<KillSwitch>,
}

/// The router, counting each request as busy from its head until its answer's body is done.
struct Tracked {
    inner: TowerToHyperService<Router>,
    conn: Arc<Conn>,
}

/// One request in progress; its end (the body sent, or the request abandoned) on drop.
struct InProgress(Arc<Conn>);

impl InProgress {
    fn new(conn: &Arc<Conn>) -> Self {
        conn.request_started();
        InProgress(Arc::clone(conn))
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// An answer's body, holding its request in progress until it is dropped.
pub(crate) struct TrackedBody {
    inner: axum::body::Body,
    _request: InProgress,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<TrackedBody>, Infallible>> + Send>>;

impl Service<Request<Incoming>> for Tracked {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: Request<Incoming>) -> Answer {
        let request = InProgress::new(&self.conn);
        let answer = self.inner.call(req);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|inner| TrackedBody {
                inner,
                _request: request,
            }))
        })
    }
}

/// Serves one admitted connection until it ends, times out, is evicted or the server stops.
pub(crate) async fn serve(
    tcp: TcpStream,
    slot: Slot,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let conn = Arc::clone(&slot.conn);
    let limits = Arc::clone(&shared.limits);
    let stream = Stream::new(
        tcp,
        &shared.switch,
        Some(Arc::clone(&conn)),
        Arc::clone(&limits),
    );
    let service = Tracked {
        inner: TowerToHyperService::new(shared.router.clone()),
        conn: Arc::clone(&conn),
    };
    let mut http = shared.http.serve_connection(TokioIo::new(stream), service);
    let mut draining = *stop.borrow();
    if draining {
        Pin::new(&mut http).graceful_shutdown();
    }
    loop {
        let changed = conn.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let deadline = conn.deadline(limits.header_timeout, limits.idle_timeout);
        let timer = async move {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            done = &mut http => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            () = timer => {
                let due = conn.deadline(limits.header_timeout, limits.idle_timeout);
                let Some((at, verdict)) = due.filter(|(at, _)| *at <= Instant::now()) else {
                    continue;
                };
                let _ = at;
                tracing::debug!(?verdict, "closing a connection");
                if verdict == Verdict::HeadTimeout {
                    // No request is in progress, so hyper has nothing left to write.
                    let stream = http.into_parts().io.into_inner();
                    refuse(stream, &refusal::head_timeout(&limits), false).await;
                }
                break;
            }
            () = &mut changed => {}
            _ = stop.changed(), if !draining => {
                draining = true;
                Pin::new(&mut http).graceful_shutdown();
            }
        }
    }
    drop(slot);
}

/// Answers a connection past the limit with a 503 (after reading its head briefly, so the
/// answer is not lost to a reset) and closes it.
pub(crate) async fn refuse_busy(tcp: TcpStream, slot: OverflowSlot, shared: Arc<Shared>) {
    let stream = Stream::new(tcp, &shared.switch, None, Arc::clone(&shared.limits));
    refuse(stream, &refusal::too_many_connections(&shared.limits), true).await;
    drop(slot);
}

/// How long a refused connection is read from, at most, before and after its answer.
const LINGER: Duration = Duration::from_secs(1);
/// How much of a refused connection's request is read and thrown away, at most.
const LINGER_BYTES: usize = 64 * 1024;

/// Writes `answer` and closes, reading (and discarding) what the client sends for a moment
/// before (`read_first`: until its head ends) and after, so that closing with unread bytes does
/// not reset the connection before the client read the answer.
async fn refuse(mut stream: Stream, answer: &[u8], read_first: bool) {
    let mut buf = vec![0u8; 8192];
    let mut seen = Vec::new();
    if read_first {
        let head = async {
            while seen.len() < LINGER_BYTES {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        seen.extend_from_slice(&buf[..n]);
                        if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, head).await;
    }
    if stream.write_all(answer).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut read = 0;
        while read < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

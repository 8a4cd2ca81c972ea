//! A scripted HTTP/1.1 server for fault injection, for the faults wiremock cannot make: a reset in
//! the middle of a body, a body cut short under a longer `Content-Length`, a body that trickles in
//! or stalls, a connection that is accepted and never answered.
//!
//! Every connection carries exactly one request (each answer says `connection: close`, so the
//! client never reuses a connection the script has broken). The script, a function of the request,
//! says how it is answered, down to the byte. Every request is recorded, so tests can count them
//! (how many POSTs reached the server, how many times a page was fetched).
//!
//! Binds 127.0.0.1 only.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target: path and query, as sent.
    pub target: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// How many earlier requests had the same method and target (0 for the first).
    pub nth: usize,
}

impl Seen {
    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// A query parameter's value.
    pub fn query(&self, key: &str) -> Option<String> {
        let (_, q) = self.target.split_once('?')?;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    /// The page a `GET /v1/tasks` asked for (1 when absent).
    pub fn page(&self) -> u64 {
        self.query("page").and_then(|p| p.parse().ok()).unwrap_or(1)
    }

    /// A header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How an answer's body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` (the default; an answer that sets its own length header keeps it).
    Length,
    /// `Transfer-Encoding: chunked`: the body as one chunk (none when empty), then the last chunk.
    Chunked,
    /// Neither: the body runs until the connection closes (HTTP/1.1 allows it for responses).
    UntilClose,
}

/// A whole HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub framing: Framing,
}

impl Answer {
    /// An answer with no header and no body.
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            framing: Framing::Length,
        }
    }

    /// A JSON answer.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Answer {
        Answer::status(status)
            .header("content-type", "application/json")
            .body(body)
    }

    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Answer {
        self.body = body.into();
        self
    }

    /// The same answer, its body delimited as `framing` says.
    pub fn framing(mut self, framing: Framing) -> Answer {
        self.framing = framing;
        self
    }

    /// The body as it goes on the wire (chunk-encoded when chunked).
    fn wire_body(&self) -> Vec<u8> {
        if self.framing != Framing::Chunked {
            return self.body.clone();
        }
        let mut out = Vec::new();
        if !self.body.is_empty() {
            out.extend_from_slice(format!("{:x}\r\n", self.body.len()).as_bytes());
            out.extend_from_slice(&self.body);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    /// Status line and headers, with the whole body's `Content-Length` (unless the answer sets its
    /// own) and `connection: close`.
    fn head(&self) -> Vec<u8> {
        let reason = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Whatever");
        let mut head = format!("HTTP/1.1 {} {reason}\r\n", self.status);
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let sets_length = self.headers.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
        });
        match self.framing {
            _ if sets_length || self.status == 204 || self.status == 304 => {}
            Framing::Length => head.push_str(&format!("content-length: {}\r\n", self.body.len())),
            Framing::Chunked => head.push_str("transfer-encoding: chunked\r\n"),
            Framing::UntilClose => {}
        }
        head.push_str("connection: close\r\n\r\n");
        head.into_bytes()
    }
}

/// How one request is answered.
#[derive(Debug, Clone)]
pub enum Script {
    /// The whole answer.
    Answer(Answer),
    /// The head (announcing the whole body) and the first `n` body bytes, in one write; then a TCP
    /// reset (`SO_LINGER` 0), as a crashing proxy or a load balancer killing the connection would.
    ResetAfter(Answer, usize),
    /// The head (announcing the whole body) and the first `n` body bytes; then a clean close (FIN):
    /// the body is cut short of its `Content-Length`.
    CloseAfter(Answer, usize),
    /// The head at once, then the body `chunk` bytes at a time, `every` apart (real time).
    Trickle {
        answer: Answer,
        chunk: usize,
        every: Duration,
    },
    /// The head (announcing the whole body) and the first `n` body bytes; then nothing more: the
    /// connection stays open until the client leaves.
    StallAfter(Answer, usize),
    /// Reads the request, waits (tokio time: paused in a test with `start_paused`), then sends the
    /// whole answer, as a service holding a request until its work is done.
    AnswerAfter(Duration, Answer),
    /// Reads the request and never answers; the connection stays open until the client leaves.
    Silent,
    /// Reads the request and resets the connection without sending a byte.
    ResetNow,
}

type ScriptFn = dyn Fn(&Seen) -> Script + Send + Sync;

/// The server. Dropping it stops accepting connections.
pub struct FaultServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    accept: JoinHandle<()>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl FaultServer {
    /// Starts a server on 127.0.0.1 answering each request as `script` says.
    pub async fn start(script: impl Fn(&Seen) -> Script + Send + Sync + 'static) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let script: Arc<ScriptFn> = Arc::new(script);
        let log = seen.clone();
        let accept = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let log = log.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, log, script).await;
                });
            }
        });
        FaultServer { addr, seen, accept }
    }

    /// `http://127.0.0.1:port`.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in order of arrival.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests had this method and a path starting with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == method && s.path().starts_with(path_prefix))
            .count()
    }

    /// How many POSTs arrived (each is a submission of the query).
    pub fn posts(&self) -> usize {
        self.count("POST", "/")
    }
}

async fn serve(
    mut sock: TcpStream,
    log: Arc<Mutex<Vec<Seen>>>,
    script: Arc<ScriptFn>,
) -> std::io::Result<()> {
    sock.set_nodelay(true)?;
    let Some(mut seen) = read_request(&mut sock).await? else {
        return Ok(());
    };
    {
        let mut log = log.lock().unwrap();
        seen.nth = log
            .iter()
            .filter(|s| s.method == seen.method && s.target == seen.target)
            .count();
        log.push(seen.clone());
    }
    match script(&seen) {
        Script::Answer(a) => {
            let mut bytes = a.head();
            bytes.extend_from_slice(&a.wire_body());
            sock.write_all(&bytes).await?;
            close_cleanly(sock).await
        }
        Script::ResetAfter(a, n) => {
            let (mut bytes, body) = (a.head(), a.wire_body());
            bytes.extend_from_slice(&body[..n.min(body.len())]);
            sock.write_all(&bytes).await?;
            sock.flush().await?;
            reset(sock)
        }
        Script::CloseAfter(a, n) => {
            let (mut bytes, body) = (a.head(), a.wire_body());
            bytes.extend_from_slice(&body[..n.min(body.len())]);
            sock.write_all(&bytes).await?;
            close_cleanly(sock).await
        }
        Script::Trickle {
            answer,
            chunk,
            every,
        } => {
            sock.write_all(&answer.head()).await?;
            for part in answer.wire_body().chunks(chunk.max(1)) {
                tokio::time::sleep(every).await;
                sock.write_all(part).await?;
            }
            close_cleanly(sock).await
        }
        Script::StallAfter(a, n) => {
            let (mut bytes, body) = (a.head(), a.wire_body());
            bytes.extend_from_slice(&body[..n.min(body.len())]);
            sock.write_all(&bytes).await?;
            sock.flush().await?;
            hold(sock).await
        }
        Script::AnswerAfter(wait, a) => {
            tokio::time::sleep(wait).await;
            let mut bytes = a.head();
            bytes.extend_from_slice(&a.wire_body());
            sock.write_all(&bytes).await?;
            close_cleanly(sock).await
        }
        Script::Silent => hold(sock).await,
        Script::ResetNow => reset(sock),
    }
}

/// Holds the connection until the client gives up (it closes: read returns 0 or fails).
async fn hold(mut sock: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    while sock.read(&mut buf).await.unwrap_or(0) > 0 {}
    Ok(())
}

/// Drops the connection with a RST instead of a FIN.
fn reset(sock: TcpStream) -> std::io::Result<()> {
    sock.set_zero_linger()?;
    drop(sock);
    Ok(())
}

/// Sends FIN, then reads until the client closes, so that nothing unread makes the kernel send a RST.
async fn close_cleanly(mut sock: TcpStream) -> std::io::Result<()> {
    sock.shutdown().await?;
    let mut buf = [0u8; 1024];
    while sock.read(&mut buf).await.unwrap_or(0) > 0 {}
    Ok(())
}

/// Reads one request: head, then a `Content-Length` body. `None` if the client left first.
async fn read_request(sock: &mut TcpStream) -> std::io::Result<Option<Seen>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let target = first.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Seen {
        method,
        target,
        headers,
        body,
        nth: 0,
    }))
}

//! A reverse proxy on 127.0.0.1 in front of a server (the local server, usually), which holds the
//! requests a rule picks until the test opens the gate. A test then knows for certain that
//! something happened *before* a given request was answered (a row printed before the last page
//! of a listing was served), without timing anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

type Rule = dyn Fn(&str) -> bool + Send + Sync;

struct Shared {
    upstream: String,
    http: reqwest::Client,
    hold: Box<Rule>,
    /// `true` once the gate is open.
    open: watch::Sender<bool>,
    /// How many requests the rule picked (held, or let through once open).
    picked: watch::Sender<usize>,
    requests: AtomicUsize,
}

pub struct Gate {
    base: String,
    shared: Arc<Shared>,
    serve: JoinHandle<()>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.serve.abort();
    }
}

impl Gate {
    /// A proxy to `upstream` (`http://127.0.0.1:PORT`) holding every request whose path and query
    /// (`/v1/tasks?page=3&...`) satisfy `hold` until [`open`](Gate::open) is called.
    pub async fn start(
        upstream: impl Into<String>,
        hold: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let shared = Arc::new(Shared {
            upstream: upstream.into(),
            http: reqwest::Client::builder()
                .no_gzip()
                .no_deflate()
                .no_zstd()
                .build()
                .expect("client"),
            hold: Box::new(hold),
            open: watch::Sender::new(false),
            picked: watch::Sender::new(0),
            requests: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        let serve = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Gate {
            base,
            shared,
            serve,
        }
    }

    /// `http://127.0.0.1:PORT`: the host to give the client.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Waits until the rule has picked a request (which is now held, unless the gate is open).
    pub async fn picked(&self) {
        let mut rx = self.shared.picked.subscribe();
        rx.wait_for(|n| *n > 0).await.expect("the gate is alive");
    }

    /// Lets the held requests (and every later one) through.
    pub fn open(&self) {
        self.shared.open.send_replace(true);
    }

    /// How many requests reached the proxy.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let target = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    if (shared.hold)(&target) {
        shared.picked.send_modify(|n| *n += 1);
        let mut open = shared.open.subscribe();
        if open.wait_for(|o| *o).await.is_err() {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    let mut req = shared
        .http
        .request(method, format!("{}{target}", shared.upstream))
        .body(body);
    for (name, value) in &headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "accept-encoding" | "transfer-encoding"
        ) {
            req = req.header(name, value);
        }
    }
    let answer = match req.send().await {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let mut out = HeaderMap::new();
    for (name, value) in answer.headers() {
        if !matches!(
            name.as_str(),
            "content-length" | "connection" | "transfer-encoding"
        ) {
            out.append(name, value.clone());
        }
    }
    match answer.bytes().await {
        Ok(bytes) => (status, out, bytes).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

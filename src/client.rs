//! [`Client`]: configuration, and the entry points to everything else.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::api::TasksApi;
use crate::auth::{self, Credentials, Secret};
use crate::error::{Error, Result};
use crate::list::TaskList;
use crate::model::SqlParameters;
use crate::policy::{Clock, PollPolicy, RetryPolicy, TokioClock};
use crate::task::TaskHandle;
use crate::task_id::TaskId;
use crate::transport::{Settings, Transport};

/// The host used when none is configured.
pub const DEFAULT_HOST: &str = "https://api.tiledb.com";

/// The default `User-Agent`.
pub const DEFAULT_USER_AGENT: &str = concat!("tiledb-cloud-tasks-rust/", env!("CARGO_PKG_VERSION"));

/// A TileDB Cloud Tasks client.
///
/// Cheap to clone (an `Arc` inside): every clone shares one connection pool and one configuration,
/// so make one and pass clones around. `Send + Sync`.
///
/// ```no_run
/// # async fn demo() -> tiledb_cloud_tasks::Result<()> {
/// use tiledb_cloud_tasks::Client;
///
/// let client = Client::from_env()?;                      // TILEDB_REST_TOKEN, ~/.tiledb/cloud.json, …
/// let task = client.api().task_id_get("a-task-id").await?;
/// println!("{:?}", task.status);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Arc<Transport>,
    poll: PollPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.inner.transport;
        f.debug_struct("Client")
            .field("base", &t.base.as_str())
            .field("credentials", &t.credentials)
            .field("retry", &t.retry)
            .field("poll", &self.inner.poll)
            .finish()
    }
}

impl Client {
    /// A builder with every setting at its default.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured as the official Python client would be: `TILEDB_REST_TOKEN`, or
    /// `TILEDB_REST_USERNAME` and `TILEDB_REST_PASSWORD`; `TILEDB_REST_HOST`; then
    /// `~/.tiledb/cloud.json` (`api_key`, `username`, `password`, `host`, `verify_ssl`).
    pub fn from_env() -> Result<Client> {
        ClientBuilder::from_env()?.build()
    }

    /// The API root every request goes under (ends in `/v1`).
    pub fn base_url(&self) -> &Url {
        &self.inner.transport.base
    }

    /// The low-level calls, one-to-one with the spec.
    pub fn api(&self) -> TasksApi {
        TasksApi::new(Arc::clone(&self.inner.transport))
    }

    /// Runs SQL in `namespace` and waits for its result: see [`TaskHandle`].
    ///
    /// `params` is a query string or a full [`SqlParameters`]. Nothing is sent until the handle is
    /// awaited (or its [`updates`](TaskHandle::updates) are polled).
    pub fn run_sql(
        &self,
        namespace: impl Into<String>,
        params: impl Into<SqlParameters>,
    ) -> TaskHandle {
        TaskHandle::submit(
            self.api(),
            self.inner.poll.clone(),
            namespace.into(),
            params.into(),
        )
    }

    /// A handle on a task submitted earlier (perhaps by another process): no POST, just the wait for
    /// its stored result.
    pub fn task(&self, id: impl Into<TaskId>) -> TaskHandle {
        TaskHandle::resume(self.api(), self.inner.poll.clone(), id.into())
    }

    /// Every task the caller can see, filtered: see [`TaskList`].
    pub fn tasks(&self) -> TaskList {
        TaskList::new(self.api())
    }
}

/// Configures a [`Client`]. Every setting has a sensible default; `build` checks them all.
#[derive(Debug)]
pub struct ClientBuilder {
    host: Option<String>,
    credentials: Option<Credentials>,
    user_agent: String,
    connect_timeout: Duration,
    timeout: Option<Duration>,
    retry: RetryPolicy,
    poll: PollPolicy,
    http: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
    accept_encoding: Option<String>,
    verify_tls: bool,
    trace_query_text: bool,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            host: None,
            credentials: None,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            connect_timeout: Duration::from_secs(10),
            timeout: Some(Duration::from_secs(60)),
            retry: RetryPolicy::default(),
            poll: PollPolicy::default(),
            http: None,
            clock: Arc::new(TokioClock),
            accept_encoding: None,
            verify_tls: true,
            trace_query_text: false,
        }
    }
}

impl ClientBuilder {
    /// A builder preset from the environment and `~/.tiledb/cloud.json`, as [`Client::from_env`].
    pub fn from_env() -> Result<ClientBuilder> {
        let path = auth::default_config_path();
        let s = auth::settings_from(&|k| std::env::var(k).ok(), path.as_deref())?;
        Ok(ClientBuilder {
            host: s.host,
            credentials: s.credentials,
            verify_tls: s.verify_tls,
            ..ClientBuilder::default()
        })
    }

    /// The service's address: `https://api.tiledb.com` by default. A bare host name gets
    /// `https://`; `/v1` is appended unless the path already ends in it.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Authenticates with an API key (`X-TILEDB-REST-API-KEY`).
    pub fn api_key(mut self, key: impl Into<Secret>) -> Self {
        self.credentials = Some(Credentials::ApiKey(key.into()));
        self
    }

    /// Authenticates with HTTP basic auth.
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<Secret>) -> Self {
        self.credentials = Some(Credentials::basic(username, password));
        self
    }

    /// Sets (or clears) the credentials.
    pub fn credentials(mut self, credentials: Option<Credentials>) -> Self {
        self.credentials = credentials;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// How long to wait for a connection. Default 10 s. Ignored with [`http_client`](Self::http_client).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// How long one HTTP attempt may take in all. Default 60 s; `None` for no limit. Ignored with
    /// [`http_client`](Self::http_client).
    pub fn timeout(mut self, d: Option<Duration>) -> Self {
        self.timeout = d;
        self
    }

    /// How failed attempts are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How running tasks are polled, and the default deadline of a wait.
    pub fn poll_policy(mut self, policy: PollPolicy) -> Self {
        self.poll = policy;
        self
    }

    /// The `Accept-Encoding` header sent with every request, overriding reqwest's
    /// (`gzip, deflate, zstd`). Compressed bodies are decoded either way.
    pub fn accept_encoding(mut self, value: impl Into<String>) -> Self {
        self.accept_encoding = Some(value.into());
        self
    }

    /// Turns TLS certificate checks off (as `verify_ssl: false` does in Python). Dangerous.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.verify_tls = !accept;
        self
    }

    /// Uses your own `reqwest::Client` (its pool, proxy and TLS settings; timeouts are then its own).
    ///
    /// Build it with `redirect(reqwest::redirect::Policy::none())`: this crate follows redirects
    /// itself so that the API key never reaches another host, and reqwest's own redirect handling
    /// would forward it.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The clock sleeps and deadlines use (default [`TokioClock`], which obeys tokio's paused
    /// test clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Records each query's text in its span (`db.query.text`, by the OpenTelemetry database
    /// conventions). Off by default: a query may hold data (literals, names) that does not belong
    /// in a trace store.
    pub fn trace_query_text(mut self, record: bool) -> Self {
        self.trace_query_text = record;
        self
    }

    /// Checks every setting and builds the client.
    pub fn build(self) -> Result<Client> {
        let base = normalize_host(self.host.as_deref().unwrap_or(DEFAULT_HOST))?;
        let transport = Transport::new(Settings {
            base,
            credentials: self.credentials,
            user_agent: self.user_agent,
            accept_encoding: self.accept_encoding,
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            verify_tls: self.verify_tls,
            http: self.http,
            retry: self.retry,
            clock: self.clock,
            trace_query_text: self.trace_query_text,
        })?;
        Ok(Client {
            inner: Arc::new(Inner {
                transport: Arc::new(transport),
                poll: self.poll,
            }),
        })
    }
}

/// `api.tiledb.com` → `https://api.tiledb.com/v1`; `http://127.0.0.1:8080/` →
/// `http://127.0.0.1:8080/v1`; a path already ending in `/v1` is kept.
fn normalize_host(host: &str) -> Result<Url> {
    let host = host.trim();
    if host.is_empty() {
        return Err(Error::invalid("host", "is empty"));
    }
    let with_scheme = if host.contains("://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    };
    let mut url = Url::parse(&with_scheme)
        .map_err(|e| Error::invalid("host", format!("{host:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid(
            "host",
            format!("scheme {:?} is not http or https", url.scheme()),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid("host", format!("{host:?} names no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            "host",
            "credentials in the URL are not accepted; use api_key or basic_auth",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid(
            "host",
            "must not have a query or a fragment",
        ));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    let path = if path.ends_with("/v1") {
        path
    } else {
        format!("{path}/v1")
    };
    url.set_path(&path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalize_to_one_v1() {
        let n = |h| normalize_host(h).unwrap().to_string();
        assert_eq!(n("api.tiledb.com"), "https://api.tiledb.com/v1");
        assert_eq!(n("https://api.tiledb.com/"), "https://api.tiledb.com/v1");
        assert_eq!(n("https://api.tiledb.com/v1"), "https://api.tiledb.com/v1");
        assert_eq!(n("https://api.tiledb.com/v1/"), "https://api.tiledb.com/v1");
        assert_eq!(n("http://127.0.0.1:8080"), "http://127.0.0.1:8080/v1");
        assert_eq!(n("http://proxy/tiledb"), "http://proxy/tiledb/v1");
    }

    #[test]
    fn bad_hosts_are_invalid_arguments() {
        for h in [
            "",
            "ftp://x",
            "http://",
            "https://u:p@host",
            "https://h/?q=1",
            "http://exa mple",
        ] {
            let e = normalize_host(h).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::InvalidArgument {
                        argument: "host",
                        ..
                    }
                ),
                "{h:?}: {e}"
            );
        }
        let e = normalize_host("https://u:hunter2@host").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }
}

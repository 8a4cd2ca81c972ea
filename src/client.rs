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
    ///
    /// No credentials anywhere is an [`Error::Config`] listing where it looked (use
    /// [`anonymous`](Self::anonymous) for a client without them); every configuration error names
    /// its source, the variable or the file and key.
    pub fn from_env() -> Result<Client> {
        ClientBuilder::from_env()?.build()
    }

    /// A client without credentials for `host` (a URL such as `http://127.0.0.1:8080`): every
    /// other setting at its default. [`from_env`](Self::from_env) never builds one silently.
    pub fn anonymous(host: impl Into<String>) -> Result<Client> {
        ClientBuilder::default()
            .host(host)
            .credentials(None)
            .build()
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
    /// Where the host came from (a variable, a file and key), for errors.
    host_origin: Option<String>,
    credentials: Option<Credentials>,
    /// Where the credentials came from, for errors.
    credentials_origin: Option<String>,
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
            host_origin: None,
            credentials: None,
            credentials_origin: None,
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
    /// No credentials in either place is an [`Error::Config`] saying where it looked.
    pub fn from_env() -> Result<ClientBuilder> {
        let path = auth::default_config_path();
        let s = auth::settings_from(&|k| std::env::var(k).ok(), path.as_deref())?;
        if s.credentials.is_none() {
            return Err(auth::no_credentials(path.as_deref()));
        }
        Ok(ClientBuilder {
            host: s.host,
            host_origin: s.host_origin,
            credentials: s.credentials,
            credentials_origin: s.credentials_origin,
            verify_tls: s.verify_tls,
            ..ClientBuilder::default()
        })
    }

    /// The service's address: `https://api.tiledb.com` by default. It must be a URL with the
    /// scheme `http` or `https` (`http://127.0.0.1:8080`); `/v1` is appended unless the path
    /// already ends in it. Checked by [`build`](Self::build), whose error names the value and the
    /// expected form.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self.host_origin = None;
        self
    }

    /// Authenticates with an API key (`X-TILEDB-REST-API-KEY`).
    pub fn api_key(mut self, key: impl Into<Secret>) -> Self {
        self.credentials = Some(Credentials::ApiKey(key.into()));
        self.credentials_origin = None;
        self
    }

    /// Authenticates with HTTP basic auth.
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<Secret>) -> Self {
        self.credentials = Some(Credentials::basic(username, password));
        self.credentials_origin = None;
        self
    }

    /// Sets (or clears, for a client without credentials) the credentials.
    pub fn credentials(mut self, credentials: Option<Credentials>) -> Self {
        self.credentials = credentials;
        self.credentials_origin = None;
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
    ///
    /// Not applied to the SQL `POST` of a [`TaskHandle`](crate::TaskHandle): a service that holds
    /// the POST until the query has finished (TileDB Cloud does) would have a long query cut short
    /// by it. The handle's [deadline](crate::TaskHandle::deadline) bounds that wait instead. (The
    /// one-shot [`TasksApi::run_sql`](crate::TasksApi::run_sql), which has no deadline, keeps it.)
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
        let base = match &self.host {
            Some(host) => parse_host(
                host,
                self.host_origin.as_deref().unwrap_or("ClientBuilder::host"),
            )?,
            None => parse_host(DEFAULT_HOST, "DEFAULT_HOST")?,
        };
        let transport = Transport::new(Settings {
            base,
            credentials: self.credentials,
            credentials_origin: self.credentials_origin,
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

/// The host, parsed once: `http://127.0.0.1:8080/` → `http://127.0.0.1:8080/v1`; a path
/// already ending in `/v1` is kept. A value without a scheme, with another scheme than `http` or
/// `https`, without a host, or not a URL at all is an error naming the value, where it came from
/// (`origin`) and the expected form.
fn parse_host(host: &str, origin: &str) -> Result<Url> {
    let bad = |message: String| Error::config(Some(origin.to_owned()), message);
    const FORM: &str = "expected http://HOST[:PORT] or https://HOST[:PORT]";
    let host = host.trim();
    if host.is_empty() {
        return Err(bad(format!("the host is empty; {FORM}")));
    }
    // The value is quoted in errors, unless it may hold credentials (`https://user:pass@h`).
    let shown = if host.contains('@') {
        "(a URL with credentials, not shown)"
    } else {
        host
    };
    let Some((scheme, rest)) = host.split_once("://") else {
        // `host:port` gets a suggestion (`http://` for this machine, which rarely has TLS);
        // something already mangled (`htp//x`) does not.
        if host.contains("//") || host.contains(char::is_whitespace) {
            return Err(bad(format!(
                "the host {shown:?} is not a URL (no `scheme://`); {FORM}"
            )));
        }
        let suggestion = if is_loopback(host) {
            format!("http://{host}")
        } else {
            format!("https://{host}")
        };
        return Err(bad(format!(
            "the host {shown:?} has no scheme; {FORM}, such as {suggestion:?}"
        )));
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Err(bad(format!(
            "the host {shown:?} has the scheme {scheme:?}, not http or https; {FORM}"
        )));
    }
    if rest.trim_start_matches('/').is_empty() {
        return Err(bad(format!("the host {shown:?} names no host; {FORM}")));
    }
    let mut url = Url::parse(host).map_err(|e| {
        bad(format!(
            "the host {shown:?} is not a valid URL ({e}); {FORM}"
        ))
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!("the host {shown:?} names no host; {FORM}")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "credentials in the host URL are not accepted; use api_key or basic_auth".to_owned(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(format!(
            "the host {shown:?} has a query or a fragment; {FORM}"
        )));
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

/// Whether a scheme-less `host[:port][/path]` names this machine (`localhost`, `127.x.x.x`, `[::1]`).
fn is_loopback(host: &str) -> bool {
    let authority = host.split('/').next().unwrap_or(host);
    let name = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalize_to_one_v1() {
        let n = |h| parse_host(h, "test").unwrap().to_string();
        assert_eq!(n("https://api.tiledb.com/"), "https://api.tiledb.com/v1");
        assert_eq!(n("https://api.tiledb.com/v1"), "https://api.tiledb.com/v1");
        assert_eq!(n("https://api.tiledb.com/v1/"), "https://api.tiledb.com/v1");
        assert_eq!(n("http://127.0.0.1:8080"), "http://127.0.0.1:8080/v1");
        assert_eq!(n("HTTP://127.0.0.1:8080"), "http://127.0.0.1:8080/v1");
        assert_eq!(n("http://proxy/tiledb"), "http://proxy/tiledb/v1");
    }

    #[test]
    fn bad_hosts_are_config_errors_naming_their_origin() {
        for h in [
            "",
            "api.tiledb.com",
            "ftp://x",
            "http://",
            "https://u:p@host",
            "https://h/?q=1",
            "http://exa mple",
        ] {
            let e = parse_host(h, "TILEDB_REST_HOST").unwrap_err();
            assert!(
                matches!(&e, Error::Config(c) if c.origin() == Some("TILEDB_REST_HOST")),
                "{h:?}: {e}"
            );
        }
        let e = parse_host("https://u:hunter2@host", "o").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
        let e = parse_host("https://u:hunter2@ho st", "o").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
        assert!(
            is_loopback("localhost:8080") && is_loopback("[::1]:1") && is_loopback("127.0.0.2")
        );
        assert!(!is_loopback("api.tiledb.com"));
    }
}

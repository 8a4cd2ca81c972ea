//! [`ServerConfig`]: what a [`LocalServer`](super::LocalServer)(super::LocalServer) is started with (address, data
//! directory, users, limits), and the checks it gets at start.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::auth::User;
use super::emulator::EmulatorConfig;
use super::engine;
use super::error::ServerError;
use super::limits::Limits;

/// The name of the default user, and of the namespace it owns.
pub(crate) const DEFAULT_USER: &str = "local";
#[derive(Clone)]
struct UserConfig {
    name: String,
    api_key: String,
    password: Option<String>,
    namespaces: Vec<String>,
}

/// How a [`LocalServer`](super::LocalServer) runs: address, storage, users and limits.
///
/// `ServerConfig::new()` (or `default()`) is ready to use: it listens on a free loopback port,
/// keeps its data in a temporary directory deleted with the server, and has one user `local`
/// owning namespace `local` with a random API key ([`LocalServer::api_key`](super::LocalServer::api_key)). Each method
/// changes one setting; nothing is checked until [`LocalServer::start`](super::LocalServer::start).
#[derive(Clone)]
pub struct ServerConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) api_key: String,
    users: Vec<UserConfig>,
    pub(crate) limits: Limits,
    pub(crate) emulator: EmulatorConfig,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<(&str, &[String])> = self
            .users
            .iter()
            .map(|u| (u.name.as_str(), u.namespaces.as_slice()))
            .collect();
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("api_key", &"<redacted>")
            .field("extra_users", &users)
            .field("limits", &self.limits)
            .field("timing", &self.emulator.timing)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new()
    }
}

/// A fresh random API key: 244 random bits, hex, with a recognizable prefix.
fn random_key() -> String {
    format!(
        "tdb-local-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl ServerConfig {
    /// Loopback on a free port, a temporary data directory, user `local` with a random key, and
    /// the default limits (a query slot per CPU and at least 4, 30 s per query, 64 MiB results kept 24 h,
    /// 1 MiB bodies, `Retry-After: 1`).
    pub fn new() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            api_key: random_key(),
            users: Vec::new(),
            limits: Limits::default(),
            emulator: EmulatorConfig::default(),
        }
    }

    /// Listens on `addr` (port 0 picks a free port). Binding beyond loopback logs a warning:
    /// anyone who can reach the port and holds a key can run SQL.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Keeps tasks, results and namespace databases in `dir` (created if missing), so they
    /// survive a restart. Without it, a temporary directory is used and deleted with the server.
    /// One running server at a time may use a directory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Sets the API key of the default user `local`, e.g. to match a client's configuration.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// Adds a user with its own key, an optional password for HTTP Basic, and the namespaces it
    /// may run tasks in and see tasks of; for multi-user tests (isolation, 403s).
    pub fn user(
        mut self,
        name: &str,
        api_key: &str,
        password: Option<&str>,
        namespaces: &[&str],
    ) -> Self {
        self.users.push(UserConfig {
            name: name.to_owned(),
            api_key: api_key.to_owned(),
            password: password.map(str::to_owned),
            namespaces: namespaces.iter().map(|n| (*n).to_owned()).collect(),
        });
        self
    }

    /// How many queries may run at once (default 4). Past it, a submission is answered 503 with
    /// `Retry-After` and not recorded, as the real service does when it has no resources.
    pub fn max_concurrent_queries(mut self, n: usize) -> Self {
        self.limits.max_concurrent_queries = n;
        self
    }

    /// How long one task (init commands and query) may run (default 30 s); past it the task
    /// fails with a message naming the limit.
    pub fn query_timeout(mut self, d: Duration) -> Self {
        self.limits.query_timeout = d;
        self
    }

    /// The largest encoded result, in bytes (default 64 MiB); a bigger one fails the task rather
    /// than exhausting memory.
    pub fn max_result_bytes(mut self, n: usize) -> Self {
        self.limits.max_result_bytes = n;
        self
    }

    /// How long stored results are kept (default 24 h, the real service's retention).
    pub fn result_ttl(mut self, d: Duration) -> Self {
        self.limits.result_ttl = d;
        self
    }

    /// The largest request body, in bytes (default 1 MiB); bigger bodies get 413.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.limits.max_body_bytes = n;
        self
    }

    /// The `Retry-After` sent with a 503 (default 1 s; rounded up to whole seconds).
    pub fn retry_after(mut self, d: Duration) -> Self {
        self.limits.retry_after = d;
        self
    }

    /// How long a client may take to send a request head once it has started (default 5 s).
    /// Past it the client gets a `408` with an `Error` body and the connection is closed: a
    /// slow or half-sent head cannot hold a connection.
    pub fn header_timeout(mut self, d: Duration) -> Self {
        self.limits.header_timeout = d;
        self
    }

    /// How long a connection may stay open with no request in progress (default 60 s): a
    /// silent new connection, or a keep-alive one between requests. Past it, it is closed.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.limits.idle_timeout = d;
        self
    }

    /// How long sending an answer may stay blocked because the client reads nothing (default
    /// 30 s); past it the connection is dropped, so a stalled reader holds nothing for long.
    pub fn write_timeout(mut self, d: Duration) -> Self {
        self.limits.write_timeout = d;
        self
    }

    /// The most connections open at once (default 1024, lowered to fit under the process's file
    /// descriptor limit with room to spare). A new connection past it closes one that never
    /// carried a request, else one idle (keep-alive) for a second or more, the longest idle
    /// first; when there is none, it is answered `503` with `Retry-After` and closed.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n;
        self
    }

    /// The largest request head, request line and headers, in bytes (default 64 KiB, at least
    /// 8 KiB); a bigger one is answered `431` with an `Error` body.
    pub fn max_header_bytes(mut self, n: usize) -> Self {
        self.limits.max_header_bytes = n;
        self
    }

    /// How much memory SQLite may hold for all queries together, in bytes (default 256 MiB, at
    /// least 16 MiB). A query that needs more fails with a `400` naming the limit and the server
    /// carries on; one string or blob may take a quarter of it. SQLite's limit is process-wide:
    /// several servers in one process share the last one's.
    pub fn max_query_memory(mut self, bytes: u64) -> Self {
        self.limits.max_query_memory = bytes;
        self
    }

    pub(crate) fn users(&self) -> Result<Vec<User>, ServerError> {
        let mut all = vec![UserConfig {
            name: DEFAULT_USER.to_owned(),
            api_key: self.api_key.clone(),
            password: None,
            namespaces: vec![DEFAULT_USER.to_owned()],
        }];
        all.extend(self.users.iter().cloned());
        for (i, u) in all.iter().enumerate() {
            if u.name.is_empty() {
                return Err(ServerError::Config("a user has an empty name".into()));
            }
            if u.api_key.is_empty() {
                return Err(ServerError::Config(format!(
                    "user {} has an empty API key",
                    u.name
                )));
            }
            if let Some(ns) = u.namespaces.iter().find(|n| !engine::valid_namespace(n)) {
                return Err(ServerError::Config(format!(
                    "user {} has an invalid namespace {ns:?} (expected [A-Za-z0-9_.-]{{1,64}}, \
                     not starting with '.')",
                    u.name
                )));
            }
            for other in &all[..i] {
                if other.name == u.name {
                    return Err(ServerError::Config(format!(
                        "user {} is configured twice (\"local\" is the default user)",
                        u.name
                    )));
                }
                if other.api_key == u.api_key {
                    return Err(ServerError::Config(format!(
                        "users {} and {} have the same API key",
                        other.name, u.name
                    )));
                }
            }
        }
        // Namespaces become file names: two that differ only by case would share one database
        // on a case-insensitive file system (macOS, Windows).
        let names: Vec<&String> = all.iter().flat_map(|u| &u.namespaces).collect();
        for (i, a) in names.iter().enumerate() {
            if let Some(b) = names[..i]
                .iter()
                .find(|b| *b != a && b.eq_ignore_ascii_case(a))
            {
                return Err(ServerError::Config(format!(
                    "namespaces {b} and {a} differ only by case; they would share a database file"
                )));
            }
        }
        Ok(all
            .into_iter()
            .map(|u| User::new(u.name, u.api_key, u.password, u.namespaces))
            .collect())
    }
}

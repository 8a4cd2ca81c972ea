//! The command line of the `tiledb-tasks-server` binary: its flags, and `main`.
//!
//! The first line on stdout is always `listening on http://ADDRESS:PORT`, so a script can start
//! it with `--listen 127.0.0.1:0` and read the port it got. Logs go to stderr (`RUST_LOG`,
//! default `info`). SIGINT or SIGTERM shuts it down gracefully.
//!
//! A key passed with `--api-key` or `--user` is visible to other local users in the process list;
//! leave `--api-key` out to have one generated and printed on stdout instead, and give extra users
//! (with their passwords, for HTTP Basic) in a `--users-file` or in `TILEDB_TASKS_SERVER_USERS`
//! (see `users.rs` for the form).

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use super::users::{self, USERS_ENV, UserSpec};
use super::{FaultRule, LocalServer, ServerConfig, Timing};

/// Runs a local TileDB Cloud Tasks server (SQL on SQLite).
#[derive(Parser)]
#[command(name = "tiledb-tasks-server", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Directory for tasks, stored results and namespace databases [default: a temporary
    /// directory, deleted at exit].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// API key of the default user `local` (namespace `local`) [default: generated and printed].
    #[arg(long)]
    api_key: Option<String>,
    /// An extra user, as NAME:KEY:NS1,NS2 or NAME:KEY:NS1,NS2:PASSWORD (the password lets it log
    /// in with HTTP Basic) (repeatable). Visible in the process list: prefer --users-file or
    /// TILEDB_TASKS_SERVER_USERS for real secrets.
    #[arg(long = "user", value_name = "NAME:KEY:NAMESPACES[:PASSWORD]", value_parser = users::parse_user)]
    users: Vec<UserSpec>,
    /// A file of users, one NAME:KEY:NS1,NS2[:PASSWORD] per line (`#` comments and blank lines
    /// skipped). Users also come from TILEDB_TASKS_SERVER_USERS (whitespace-separated entries).
    #[arg(long, value_name = "PATH")]
    users_file: Option<PathBuf>,
    /// When POST /v1/sql answers: `holding` (when the query has finished, as TileDB Cloud does) or
    /// `detached` (at once, with the task id, when the result is stored or not downloaded)
    /// [default: detached]. One request may ask otherwise with X-TileDB-Emulator-Timing.
    #[arg(long, value_name = "holding|detached")]
    timing: Option<Timing>,
    /// Fault rules to start with: a JSON array of rules (see FaultRule in the crate docs, and
    /// docs/testing-with-the-local-server.md); changed at run time with PUT /_emulator/faults.
    #[arg(long, value_name = "PATH")]
    faults: Option<PathBuf>,
    /// Turns on the admin surface (/_emulator/journal, /faults, /reset) for this key, which no
    /// user may have; TILEDB_TASKS_SERVER_ADMIN_KEY also sets it (kept out of the process list).
    #[arg(long, value_name = "KEY")]
    admin_key: Option<String>,
    /// Tasks to record at start: a JSON-lines file of ArrayTasks, each with an id and a
    /// namespace; ids already known are skipped (repeatable).
    #[arg(long = "seed-tasks", value_name = "PATH")]
    seed_tasks: Vec<PathBuf>,
    /// An SQL file to run at start in a namespace's database, once per data directory and file
    /// content, as NAMESPACE=PATH (repeatable).
    #[arg(long = "seed-sql", value_name = "NAMESPACE=PATH", value_parser = parse_seed_sql)]
    seed_sql: Vec<(String, PathBuf)>,
    /// Queries that may run at once; more are answered 503 with Retry-After [default: the number of CPUs, at least 4].
    #[arg(long)]
    max_concurrent_queries: Option<usize>,
    /// Time limit of one query, in seconds [default: 30].
    #[arg(long)]
    query_timeout_secs: Option<u64>,
    /// Largest result, in bytes [default: 64 MiB].
    #[arg(long)]
    max_result_bytes: Option<usize>,
    /// How long stored results are kept, in seconds [default: 86400].
    #[arg(long)]
    result_ttl_secs: Option<u64>,
    /// Time a client has to send a request head, in seconds; past it, 408 [default: 5].
    #[arg(long)]
    header_timeout_secs: Option<u64>,
    /// Time a connection may stay open with no request in progress, in seconds [default: 60].
    #[arg(long)]
    idle_timeout_secs: Option<u64>,
    /// Time an answer may wait for a client that reads nothing, in seconds [default: 30].
    #[arg(long)]
    write_timeout_secs: Option<u64>,
    /// Connections open at once; past it the longest-idle one is closed, or 503 [default: 1024,
    /// lowered to fit the file descriptor limit].
    #[arg(long)]
    max_connections: Option<usize>,
    /// Largest request head (request line and headers), in bytes; past it, 431 [default: 65536].
    #[arg(long)]
    max_header_bytes: Option<usize>,
    /// Memory SQLite may hold for all queries together, in bytes; a query needing more fails
    /// with a 400 [default: 268435456 (256 MiB)].
    #[arg(long)]
    max_query_memory: Option<u64>,
}

/// Every extra user: `--user`s, then the users file, then the environment. An error says which
/// source was wrong (and never repeats a secret).
fn all_users(args: &Args) -> Result<Vec<UserSpec>, String> {
    let mut all = args.users.clone();
    if let Some(path) = &args.users_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the users file {}: {e}", path.display()))?;
        all.extend(
            users::parse_users_file(&text)
                .map_err(|e| format!("users file {}: {e}", path.display()))?,
        );
    }
    if let Some(value) = std::env::var_os(USERS_ENV) {
        let value = value
            .into_string()
            .map_err(|_| format!("{USERS_ENV} is not valid UTF-8"))?;
        all.extend(users::parse_users_env(&value).map_err(|e| format!("{USERS_ENV}: {e}"))?);
    }
    Ok(all)
}

/// `NAMESPACE=PATH`.
fn parse_seed_sql(value: &str) -> Result<(String, PathBuf), String> {
    match value.split_once('=') {
        Some((ns, path)) if !ns.is_empty() && !path.is_empty() => {
            Ok((ns.to_owned(), PathBuf::from(path)))
        }
        _ => Err("expected NAMESPACE=PATH".to_owned()),
    }
}

/// The environment variable that may hold the admin key.
const ADMIN_KEY_ENV: &str = "TILEDB_TASKS_SERVER_ADMIN_KEY";

/// The rules of a `--faults` file.
fn fault_rules(path: &std::path::Path) -> Result<Vec<FaultRule>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the fault rules {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "fault rules {}: not a JSON array of rules: {e}",
            path.display()
        )
    })
}

fn config(args: Args, extra_users: &[UserSpec], faults: Vec<FaultRule>) -> ServerConfig {
    let mut config = ServerConfig::new().listen(args.listen);
    if let Some(dir) = args.data_dir {
        config = config.data_dir(dir);
    }
    if let Some(key) = args.api_key {
        config = config.api_key(key);
    }
    for user in extra_users {
        let namespaces: Vec<&str> = user.namespaces.iter().map(String::as_str).collect();
        config = config.user(&user.name, &user.key, user.password.as_deref(), &namespaces);
    }
    if let Some(timing) = args.timing {
        config = config.timing(timing);
    }
    if !faults.is_empty() {
        config = config.fault_rules(faults);
    }
    let admin_key = args
        .admin_key
        .or_else(|| std::env::var(ADMIN_KEY_ENV).ok().filter(|k| !k.is_empty()));
    if let Some(key) = admin_key {
        config = config.admin_key(key);
    }
    for path in args.seed_tasks {
        config = config.seed_tasks(path);
    }
    for (namespace, path) in args.seed_sql {
        config = config.seed_sql(namespace, path);
    }
    if let Some(n) = args.max_concurrent_queries {
        config = config.max_concurrent_queries(n);
    }
    if let Some(secs) = args.query_timeout_secs {
        config = config.query_timeout(Duration::from_secs(secs));
    }
    if let Some(n) = args.max_result_bytes {
        config = config.max_result_bytes(n);
    }
    if let Some(secs) = args.result_ttl_secs {
        config = config.result_ttl(Duration::from_secs(secs));
    }
    if let Some(secs) = args.header_timeout_secs {
        config = config.header_timeout(Duration::from_secs(secs));
    }
    if let Some(secs) = args.idle_timeout_secs {
        config = config.idle_timeout(Duration::from_secs(secs));
    }
    if let Some(secs) = args.write_timeout_secs {
        config = config.write_timeout(Duration::from_secs(secs));
    }
    if let Some(n) = args.max_connections {
        config = config.max_connections(n);
    }
    if let Some(n) = args.max_header_bytes {
        config = config.max_header_bytes(n);
    }
    if let Some(n) = args.max_query_memory {
        config = config.max_query_memory(n);
    }
    config
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn stop_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

/// The binary's `main`: parses the command line, starts the server, prints where it listens,
/// and serves until SIGINT or SIGTERM.
pub fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tiledb-tasks-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve())
}

async fn serve() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let args = Args::parse();
    let generated_key = args.api_key.is_none();
    let extra_users = match all_users(&args) {
        Ok(users) => users,
        Err(e) => {
            eprintln!("tiledb-tasks-server: {e}");
            return ExitCode::from(2);
        }
    };
    let faults = match args.faults.as_deref().map(fault_rules).transpose() {
        Ok(rules) => rules.unwrap_or_default(),
        Err(e) => {
            eprintln!("tiledb-tasks-server: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match LocalServer::start(config(args, &extra_users, faults)).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("tiledb-tasks-server: {e}");
            return ExitCode::FAILURE;
        }
    };

    let mut out = std::io::stdout().lock();
    let printed = writeln!(out, "listening on {}", server.base_url())
        .and_then(|()| {
            if generated_key {
                writeln!(out, "api key: {}", server.api_key())
            } else {
                Ok(())
            }
        })
        .and_then(|()| {
            writeln!(
                out,
                "user: {}, namespace: {}, data dir: {}",
                server.username(),
                server.namespace(),
                server.data_dir().display()
            )
        })
        .and_then(|()| out.flush());
    drop(out);
    if let Err(e) = printed {
        // Whoever started us can no longer learn the address; keep serving anyway.
        tracing::warn!(error = %e, "could not write the listening address to stdout");
    }

    stop_signal().await;
    tracing::info!("stopping");
    server.shutdown().await;
    ExitCode::SUCCESS
}

//! The command line of the `tiledb-tasks-server` binary: its flags, and `main`.
//!
//! The first line on stdout is always `listening on http://ADDRESS:PORT`, so a script can start
//! it with `--listen 127.0.0.1:0` and read the port it got. Logs go to stderr (`RUST_LOG`,
//! default `info`). SIGINT or SIGTERM shuts it down gracefully.
//!
//! A key passed with `--api-key` or `--user` is visible to other local users in the process list;
//! leave `--api-key` out to have one generated and printed on stdout instead.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use super::{LocalServer, ServerConfig};

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
    /// An extra user, as NAME:KEY:NS1,NS2 (repeatable).
    #[arg(long = "user", value_name = "NAME:KEY:NAMESPACES", value_parser = parse_user)]
    users: Vec<UserArg>,
    /// Queries that may run at once; more are answered 503 with Retry-After [default: 4].
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
}

/// `--user NAME:KEY:NS1,NS2`. Not `Debug`: it holds a key.
#[derive(Clone)]
struct UserArg {
    name: String,
    key: String,
    namespaces: Vec<String>,
}

/// The name is before the first `:`, the namespaces after the last one, the key in between (so a
/// key may itself contain `:`). Error messages never repeat the key.
fn parse_user(value: &str) -> Result<UserArg, String> {
    let shape = "expected NAME:KEY:NS1,NS2";
    let (name, rest) = value.split_once(':').ok_or(shape)?;
    let (key, namespaces) = rest.rsplit_once(':').ok_or(shape)?;
    if name.is_empty() || key.is_empty() {
        return Err(format!("{shape} (name and key must not be empty)"));
    }
    let namespaces: Vec<String> = namespaces
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    if namespaces.is_empty() {
        return Err(format!("{shape} (at least one namespace)"));
    }
    Ok(UserArg {
        name: name.to_owned(),
        key: key.to_owned(),
        namespaces,
    })
}

fn config(args: Args) -> ServerConfig {
    let mut config = ServerConfig::new().listen(args.listen);
    if let Some(dir) = args.data_dir {
        config = config.data_dir(dir);
    }
    if let Some(key) = args.api_key {
        config = config.api_key(key);
    }
    for user in &args.users {
        let namespaces: Vec<&str> = user.namespaces.iter().map(String::as_str).collect();
        config = config.user(&user.name, &user.key, None, &namespaces);
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
    let server = match LocalServer::start(config(args)).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_argument_splits_name_key_and_namespaces() {
        let u = parse_user("bob:k:e:y:ns1, ns2").unwrap();
        assert_eq!(u.name, "bob");
        assert_eq!(u.key, "k:e:y");
        assert_eq!(u.namespaces, vec!["ns1", "ns2"]);
        assert!(parse_user("bob").is_err());
        assert!(parse_user("bob:key:").is_err());
        let err = parse_user(":secret:ns").err().unwrap();
        assert!(!err.contains("secret"));
    }
}

//! The `tiledb-tasks` command line (feature `cli`), built on the crate's public API only.
//!
//! This tree is compiled into the `tiledb-tasks` binary (`src/bin/tiledb-tasks.rs` includes it),
//! not into the library: the compiler then holds it to the public API, exactly as a user's own
//! program, and the library carries no command-line code.
//!
//! - `args`: the commands and flags (clap), and the parsers of their values;
//! - `exit`: exit codes, and errors printed as one readable chain;
//! - `output`: formats (`table`, `json`, `jsonl`, `csv`), for rows and for tasks;
//! - `progress`: the spinner, and following a wait's updates;
//! - `sql`, `tasks` (`show`, `result`, `wait`), `list` (`list`, `watch`): the commands.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{CommandFactory as _, Parser as _};
use tiledb_cloud_tasks::{Client, ClientBuilder, DEFAULT_USER_AGENT, TaskId};

mod args;
mod exit;
mod list;
mod output;
mod progress;
mod sql;
mod tasks;

use args::{Cli, Command};
use exit::{CliError, Code};

/// Parses the command line, runs the command, and exits with its code.
pub fn main() -> ExitCode {
    // Usage errors exit 2 and `--help`/`--version` 0, as clap decides.
    let cli = Cli::parse();
    if let Command::Completions(c) = &cli.command {
        // Into memory first: the generator panics on a write error (a closed pipe), a Vec has none.
        let mut script = Vec::new();
        clap_complete::generate(c.shell, &mut Cli::command(), "tiledb-tasks", &mut script);
        let mut out = std::io::stdout().lock();
        return match out.write_all(&script).and_then(|()| out.flush()) {
            Ok(()) => Code::Ok.into(),
            Err(e) => report(CliError::from(e)).into(),
        };
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(CliError::from(e)).into(),
    };
    let code = runtime.block_on(run(cli));
    // Leave at once: a wait that was interrupted has nothing left to finish.
    runtime.shutdown_background();
    code.into()
}

/// What the commands share: where to connect, and the task being waited for (so that an
/// interruption can name it).
pub struct Ctx {
    host: Option<String>,
    /// `--quiet`: no spinner, no progress lines.
    pub quiet: bool,
    task: Mutex<Option<String>>,
}

impl Ctx {
    /// A client configured like the SDK's `from_env` (environment, then `~/.tiledb/cloud.json`),
    /// with `--host` over both.
    pub fn client(&self) -> Result<Client, CliError> {
        let builder = ClientBuilder::from_env().map_err(CliError::config)?;
        let builder = match &self.host {
            Some(h) => builder.host(h.clone()),
            None => builder,
        };
        builder
            .user_agent(format!(
                "tiledb-tasks/{} {DEFAULT_USER_AGENT}",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| {
                // A bad --host is bad usage; a bad configured host, bad configuration.
                if self.host.is_some() {
                    CliError::new(Code::Usage, e)
                } else {
                    CliError::config(e)
                }
            })
    }

    /// The task now being waited for.
    pub fn set_task(&self, id: &TaskId) {
        if let Ok(mut t) = self.task.lock() {
            *t = Some(id.to_string());
        }
    }

    fn task(&self) -> Option<String> {
        self.task.lock().ok().and_then(|t| t.clone())
    }

    /// The command that runs `sub` on `id` again, with the same `--host`.
    pub fn command_for(&self, sub: &str, id: &str) -> String {
        match &self.host {
            Some(h) => format!("tiledb-tasks --host {h} {sub} {id}"),
            None => format!("tiledb-tasks {sub} {id}"),
        }
    }
}

/// Runs the command until it ends or SIGINT comes. On SIGINT the command is dropped (which
/// stops polling, and nothing else: the task itself is left alone on the service).
async fn run(cli: Cli) -> Code {
    let ctx = Ctx {
        host: cli.host,
        quiet: cli.quiet,
        task: Mutex::new(None),
    };
    // Installed before any request, so that an early Ctrl-C is ours to report too.
    let interrupt = match Interrupt::install() {
        Ok(i) => i,
        Err(e) => return report(CliError::from(e)),
    };
    let mut work = Box::pin(dispatch(&ctx, cli.command));
    let outcome = tokio::select! {
        r = &mut work => r,
        () = interrupt.wait() => Err(None),
    };
    // Dropped before anything is printed: the spinner is cleared, the wait stopped, and what
    // was written to stdout flushed.
    drop(work);
    let outcome = outcome.map_err(|e| e.unwrap_or_else(|| interrupted(&ctx)));
    match outcome {
        Ok(()) => Code::Ok,
        Err(e) if e.code == Code::Timeout => match ctx.task() {
            Some(id) => report(e.hint(format!(
                "the task keeps running; wait again with: {}",
                ctx.command_for("wait", &id)
            ))),
            None => report(e),
        },
        Err(e) => report(e),
    }
}

async fn dispatch(ctx: &Ctx, command: Command) -> Result<(), Option<CliError>> {
    let mut out = BufWriter::new(std::io::stdout());
    let r = match command {
        Command::Sql(a) => sql::run(ctx, a, &mut out).await,
        Command::List(a) => list::list(ctx, a, &mut out).await,
        Command::Watch(a) => list::watch(ctx, a, &mut out).await,
        Command::Show(a) => tasks::show(ctx, a, &mut out).await,
        Command::Result(a) => tasks::result(ctx, a, &mut out).await,
        Command::Wait(a) => tasks::wait(ctx, a, &mut out).await,
        Command::Completions(_) => Ok(()),
    };
    let flushed = out.flush().map_err(CliError::from);
    r.and(flushed).map_err(Some)
}

fn interrupted(ctx: &Ctx) -> CliError {
    match ctx.task() {
        Some(id) => CliError::message(
            Code::Interrupted,
            format!(
                "stopped waiting for task {id}; the task was left alone on the service (not \
                 cancelled)"
            ),
        )
        .prefix("interrupted")
        .hint(format!(
            "wait for it again: {}",
            ctx.command_for("wait", &id)
        ))
        .hint(format!(
            "print its result: {}",
            ctx.command_for("result", &id)
        )),
        None => CliError::message(Code::Interrupted, "interrupted").prefix("tiledb-tasks"),
    }
}

/// Prints the error (unless stdout was closed under us, as by `| head`: that is no failure) and
/// gives its exit code.
fn report(e: CliError) -> Code {
    if e.is_broken_pipe() {
        return Code::Ok;
    }
    // Not `eprint!`, which panics when stderr is closed.
    let _ = std::io::stderr().write_all(e.render().as_bytes());
    e.code
}

/// SIGINT (Ctrl-C), listened for from the moment it is installed.
struct Interrupt {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupt {
    fn install() -> std::io::Result<Interrupt> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Interrupt {
                signal: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupt {})
        }
    }

    #[cfg_attr(not(unix), allow(unused_mut))]
    async fn wait(mut self) {
        #[cfg(unix)]
        if self.signal.recv().await.is_some() {
            return;
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_ok() {
            return;
        }
        // No more signals can come: never interrupted.
        std::future::pending::<()>().await
    }
}

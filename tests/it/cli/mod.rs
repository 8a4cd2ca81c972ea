//! The `tiledb-tasks` binary, run as a user runs it: a child process against a local server the
//! test starts, configured only through its environment (`TILEDB_REST_HOST`,
//! `TILEDB_REST_TOKEN`) with `HOME` a fresh directory, so that `~/.tiledb/cloud.json` is the
//! test's own (absent unless the test writes one). Nothing else of the test's environment
//! reaches it.

mod errors;
mod list;
mod sql;
mod tasks;

use std::ffi::OsStr;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::support::local::Harness;
use crate::support::prelude::ServerConfig;

/// The exit codes the binary documents.
pub mod code {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const AUTH: i32 = 3;
    pub const TASK_FAILED: i32 = 4;
    pub const TIMEOUT: i32 = 5;
    pub const INTERRUPTED: i32 = 130;
}

/// How the binary is pointed at a server.
pub struct Cli {
    pub home: TempDir,
    pub host: Option<String>,
    pub token: Option<String>,
}

/// A finished run.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Asserts the exit code, showing both streams when it is not the one expected.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Ran {
        assert_eq!(
            self.code, code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Each stdout line as JSON.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect()
    }

    /// Stdout as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is JSON ({e}):\n{}", self.stdout))
    }

    /// Asserts that stderr is a readable report: no Rust `Debug` of an error anywhere.
    #[track_caller]
    pub fn no_debug_on_stderr(&self) -> &Ran {
        for debug in [
            "Error {",
            "Api(",
            "Transport(",
            "kind:",
            "source:",
            "Some(",
            "Box(",
        ] {
            assert!(
                !self.stderr.contains(debug),
                "{debug:?} in stderr:\n{}",
                self.stderr
            );
        }
        self
    }
}

impl Cli {
    /// The binary pointed at `base` with `token`.
    pub fn new(base: Option<&str>, token: Option<&str>) -> Cli {
        Cli {
            home: tempfile::tempdir().expect("a home directory"),
            host: base.map(str::to_owned),
            token: token.map(str::to_owned),
        }
    }

    /// The binary as the default user of the harness's server.
    pub fn of(h: &Harness) -> Cli {
        Cli::new(Some(&h.base), Some(&h.key))
    }

    /// The command, not started: environment cleared and set, stdin empty, output piped, killed
    /// if the test drops it.
    pub fn command<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tiledb-tasks"));
        self.configure(&mut cmd, args);
        cmd
    }

    /// Starts the binary under a cap on its address space (`prlimit --as`, which then runs it
    /// in its own process, so the pid is the binary's): a run that grows without bound fails
    /// instead of exhausting the machine.
    pub fn spawn_capped<S: AsRef<OsStr>>(
        &self,
        max_bytes: u64,
        args: impl IntoIterator<Item = S>,
    ) -> Child {
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--as={max_bytes}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_tiledb-tasks"));
        self.configure(&mut cmd, args);
        cmd.spawn().expect("prlimit runs the binary")
    }

    fn configure<S: AsRef<OsStr>>(&self, cmd: &mut Command, args: impl IntoIterator<Item = S>) {
        cmd.args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(h) = &self.host {
            cmd.env("TILEDB_REST_HOST", h);
        }
        if let Some(t) = &self.token {
            cmd.env("TILEDB_REST_TOKEN", t);
        }
    }

    /// Starts the binary.
    pub fn spawn<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Child {
        self.command(args).spawn().expect("the binary starts")
    }

    /// Runs the binary to its end (a bounded wait: a run that does not end fails the test).
    pub async fn run<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Ran {
        let out = tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .expect("the binary ends by itself")
            .expect("the binary runs");
        Ran {
            code: out.status.code().expect("an exit code, not a signal"),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }
}

/// A local server whose query slots do not limit a test that submits many tasks at once.
pub async fn server() -> Harness {
    Harness::start(ServerConfig::new().max_concurrent_queries(64)).await
}

/// Sends SIGINT to `child`, as Ctrl-C does, by running `kill -INT PID` (no unsafe code here).
pub async fn interrupt(child: &Child) {
    let pid = child.id().expect("the child is running");
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .await
        .expect("kill runs");
    assert!(status.success(), "kill -INT {pid}");
}

/// The command line is compiled into its binary only (`src/bin/tiledb-tasks.rs` includes
/// `src/cli/`), so the compiler holds it to the public API: the library never declares it, and it
/// names nothing of the crate but itself (`crate::cli::...`); the SDK comes in as
/// `tiledb_cloud_tasks::...`, exactly as in a user's program.
#[test]
fn the_command_line_uses_the_public_api_only() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let declares_cli = lib.lines().any(|l| {
        let mut words = l.split_whitespace().skip_while(|w| *w != "mod");
        words.next().is_some()
            && words
                .next()
                .is_some_and(|m| m.trim_end_matches(';') == "cli")
    });
    assert!(!declares_cli, "lib.rs must not compile the command line");
    let bin = std::fs::read_to_string(src.join("bin/tiledb-tasks.rs")).unwrap();
    assert!(bin.contains("#[path = \"../cli/mod.rs\"]"), "{bin}");
    let mut dirs = vec![src.join("cli")];
    let mut files = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices("crate::") {
                let before = text[..i].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue; // `tiledb_cloud_tasks::`
                }
                assert!(
                    text[i..].starts_with("crate::cli"),
                    "{}: {}",
                    path.display(),
                    &text[i..text.len().min(i + 40)]
                );
            }
        }
    }
    assert!(files >= 8, "src/cli/ was read");
}

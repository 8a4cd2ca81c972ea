//! The `tiledb-tasks-server` binary, as a user starts it: `--listen 127.0.0.1:0` and the given
//! arguments. It prints `listening on http://127.0.0.1:PORT` first.

use std::ffi::OsStr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

pub struct Binary {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, as its first line says.
    pub base: String,
    /// Its stdout, after the first line (`None` once handed to [`Binary::drain_stdout`]).
    lines: Option<Lines<BufReader<ChildStdout>>>,
}

impl Binary {
    /// Spawns the binary (killed on drop) and reads its first line, which must name its address
    /// on 127.0.0.1.
    pub async fn spawn<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Binary {
        Binary::spawn_with_env(args, []).await
    }

    /// [`Binary::spawn`], with these environment variables set.
    pub async fn spawn_with_env<S: AsRef<OsStr>>(
        args: impl IntoIterator<Item = S>,
        env: impl IntoIterator<Item = (&'static str, String)>,
    ) -> Binary {
        let cmd = Command::new(env!("CARGO_BIN_EXE_tiledb-tasks-server"));
        Binary::start(cmd, args, env).await
    }

    /// [`Binary::spawn`], under a cap on its address space (`prlimit --as`, which then runs the
    /// binary in its own process, so the pid is the server's): a server that grows without bound
    /// fails its allocations instead of exhausting the machine.
    pub async fn spawn_capped<S: AsRef<OsStr>>(
        max_bytes: u64,
        args: impl IntoIterator<Item = S>,
    ) -> Binary {
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--as={max_bytes}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_tiledb-tasks-server"));
        Binary::start(cmd, args, []).await
    }

    async fn start<S: AsRef<OsStr>>(
        mut cmd: Command,
        args: impl IntoIterator<Item = S>,
        env: impl IntoIterator<Item = (&'static str, String)>,
    ) -> Binary {
        let mut child = cmd
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the address is printed promptly")
            .unwrap()
            .expect("a first line");
        let base = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line is the address: {first:?}"))
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        Binary {
            child,
            base,
            lines: Some(lines),
        }
    }

    /// Its memory now, from `/proc/PID/status`: (resident, peak resident), in bytes (Linux).
    pub fn memory(&self) -> (u64, u64) {
        let pid = self.child.id().expect("the server is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| -> u64 {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"));
            let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            kb * 1024
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// The next line it prints (a bounded wait).
    pub async fn next_line(&mut self) -> String {
        let lines = self.lines.as_mut().expect("stdout is still ours");
        tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the line is printed promptly")
            .unwrap()
            .expect("a line")
    }

    /// Keeps reading its stdout in the background, so the server never blocks on a full pipe.
    pub fn drain_stdout(&mut self) {
        if let Some(mut lines) = self.lines.take() {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        }
    }
}

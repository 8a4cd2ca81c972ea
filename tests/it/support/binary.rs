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
        let mut child = Command::new(env!("CARGO_BIN_EXE_tiledb-tasks-server"))
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

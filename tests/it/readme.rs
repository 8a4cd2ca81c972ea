//! "Both README commands work from a fresh clone", and the README's code is the code that is tested.
//!
//! The README opens with two commands: `cargo run --example quickstart --features server` and
//! `cargo test --all-features`. These tests check that they are exactly those two, that `.ci/run`
//! runs the second one verbatim, and really run the first one in a fresh `git clone --local` of
//! this crate.
//!
//! The second command is not run from here: running `cargo test` inside `cargo test` would recurse
//! forever. It is what CI (`.ci/run`) runs, so every CI run is the proof for that one.
//!
//! The clone sees committed files only: an uncommitted change cannot make this test pass. The run
//! shares this build's target directory (`CARGO_TARGET_DIR`), so only the crate itself and the
//! example are compiled again, not every dependency.

mod local_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The commands of the README's first `sh` block, comments stripped.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("README.md")).unwrap();
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README has a sh block");
    block
        .lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn readme_opens_with_exactly_the_quickstart_and_the_test_command() {
    let readme = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("README.md")).unwrap();
    let first_block = readme.find("```").unwrap();
    assert!(
        readme[..first_block]
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count()
            == 1,
        "only the title comes before the commands"
    );
    assert_eq!(
        readme_commands(),
        [
            "cargo run --example quickstart --features server",
            "cargo test --all-features"
        ]
    );
}

#[test]
fn ci_runs_the_readmes_test_command_verbatim() {
    let ci = std::fs::read_to_string(Path::new(MANIFEST_DIR).join(".ci/run")).unwrap();
    let test_command = readme_commands()[1].clone();
    assert!(
        ci.lines().any(|l| l.trim() == test_command),
        ".ci/run runs `{test_command}`:\n{ci}"
    );
    assert!(
        ci.contains("set -euo pipefail"),
        "CI stops at the first failure"
    );
}

/// The target directory this test was built in (`target/`), from `CARGO_TARGET_TMPDIR`
/// (`target/tmp`).
fn target_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().expect("target/tmp has a parent").to_owned()
}

/// Runs `cmd`, killing it if it runs past `limit` (a bound on the test, not an assertion).
fn run_bounded(cmd: &mut Command, limit: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let step = Duration::from_millis(100);
    let mut status = None;
    for _ in 0..(limit.as_millis() / step.as_millis()) {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(step);
    }
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    (status.is_some_and(|s| s.success()), out, err)
}

#[test]
fn quickstart_runs_from_a_fresh_clone() {
    let clone = tempfile::tempdir().unwrap();
    let dest = clone.path().join("tiledb-cloud-tasks");
    let (ok, out, err) = run_bounded(
        Command::new("git")
            .args([
                "clone",
                "--quiet",
                "--local",
                "--no-hardlinks",
                MANIFEST_DIR,
            ])
            .arg(&dest),
        Duration::from_secs(60),
    );
    assert!(ok, "git clone failed:\n{out}\n{err}");
    assert!(
        dest.join("Cargo.lock").exists(),
        "the lock file is committed"
    );

    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["run", "--example", "quickstart", "--features", "server"])
        .current_dir(&dest)
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("TILEDB_REST_TOKEN")
        .env_remove("TILEDB_REST_HOST");
    // What `cargo test` adds to a test's environment must not reach the inner cargo: build
    // scripts (ring's, via `rerun-if-env-changed=CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, …) would
    // see a changed environment and rebuild, here and again in the next outer build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if (key.starts_with("CARGO_") && key != "CARGO_HOME") || key == "OUT_DIR" {
            cargo.env_remove(key.as_ref());
        }
    }
    cargo.env("CARGO_TARGET_DIR", target_dir());
    let (ok, out, err) = run_bounded(&mut cargo, Duration::from_secs(600));
    assert!(
        ok,
        "`cargo run --example quickstart --features server` failed:\n{out}\n--- stderr:\n{err}"
    );
    let compiled: Vec<&str> = err.lines().filter(|l| l.contains("Compiling ")).collect();
    eprintln!("the clone compiled {} crates: {compiled:?}", compiled.len());
    for expected in [
        "Started a local Tasks server at http://127.0.0.1:",
        "1. Created and filled the table (task ",
        "2. 2 rows from task ",
        "     apple     12.50 kg  organic: Some(1)",
        "     banana     7.25 kg  organic: None",
        "3. Submitted task ",
        "   Resumed task ",
        "4. A bad query fails plainly: ",
        "no such table: no_such_table",
        "5. 5 tasks in local: 4 completed, 1 failed.",
        "Local server stopped.",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

/// The README's section "Testing your code with the local server" shows a complete test file; it
/// is `readme/local_server.rs`, compiled and run as part of this suite, byte for byte.
#[test]
fn the_readmes_local_server_test_is_the_file_this_suite_runs() {
    let readme = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("README.md")).unwrap();
    let section = readme
        .split("## Testing your code with the local server")
        .nth(1)
        .expect("the README has the section");
    let block = section
        .split("```rust,ignore\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section has a rust block");
    let file =
        std::fs::read_to_string(Path::new(MANIFEST_DIR).join("tests/it/readme/local_server.rs"))
            .unwrap();
    assert_eq!(
        block, file,
        "README block and tests/it/readme/local_server.rs differ"
    );
}

/// The README's code blocks render on GitHub as they are: no rustdoc-hidden `# ` lines.
#[test]
fn the_readmes_rust_blocks_have_no_hidden_lines() {
    let readme = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("README.md")).unwrap();
    // None outside a block; Some(is_rust) inside one.
    let mut block: Option<bool> = None;
    let mut rust_blocks = 0;
    for (n, line) in readme.lines().enumerate() {
        if line.starts_with("```") {
            block = match block {
                Some(_) => None,
                None => Some(line.starts_with("```rust")),
            };
            rust_blocks += usize::from(block == Some(true));
            continue;
        }
        let in_rust = block == Some(true);
        assert!(
            !(in_rust && (line.starts_with("# ") || line == "#")),
            "README line {}: a hidden line in a rust block: {line}",
            n + 1
        );
    }
    assert!(rust_blocks >= 3, "the README's rust blocks were found");
}

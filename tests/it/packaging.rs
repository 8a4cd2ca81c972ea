//! "A client-only default build": what a crate depending on this one compiles.
//!
//! Each test writes a throwaway crate depending on this one by path, with this crate's
//! `Cargo.lock` (so the versions are the ones CI builds), and reads `cargo tree -e normal
//! --offline` there: no build, no network, well under a second.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// `cargo tree` of a throwaway crate depending on this one with `features` (and the default ones).
fn tree_of_a_dependent(features: &[&str], args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let features: Vec<String> = features.iter().map(|f| format!("{f:?}")).collect();
    let manifest = format!(
        "[package]\nname = \"throwaway\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\ntiledb-cloud-tasks = {{ path = {MANIFEST_DIR:?}, features = [{}] }}\n\n[workspace]\n",
        features.join(", ")
    );
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::copy(
        Path::new(MANIFEST_DIR).join("Cargo.lock"),
        dir.path().join("Cargo.lock"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--quiet"])
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The distinct packages a dependent compiles for its normal dependencies, itself left out:
/// `(name, version)`.
fn packages(features: &[&str]) -> BTreeSet<(String, String)> {
    tree_of_a_dependent(features, &["-e", "normal", "--prefix", "none", "-f", "{p}"])
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .filter(|(name, _)| name != "throwaway")
        .collect()
}

fn names(packages: &BTreeSet<(String, String)>) -> BTreeSet<&str> {
    packages.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn a_default_dependent_compiles_none_of_the_servers_crates_nor_c_beyond_tls() {
    let client = packages(&[]);
    let client = names(&client);
    for server_only in [
        "axum",
        "rusqlite",
        "libsqlite3-sys",
        "clap",
        "tracing-subscriber",
        "tempfile",
        "zstd-sys",
        "arrow-ipc",
    ] {
        assert!(
            !client.contains(server_only),
            "{server_only} is in the default tree"
        );
    }
    // The features bring them in, so the check above can fail.
    let server = packages(&["server"]);
    let server = names(&server);
    for name in ["axum", "rusqlite", "clap", "tracing-subscriber"] {
        assert!(server.contains(name), "{name} is in the server's tree");
    }
    assert!(names(&packages(&["zstd"])).contains("zstd-sys"));
}

/// reqwest (every 0.12 release since 0.12.16, and 0.13) depends on tower-http, not optionally,
/// for its redirect and decompression layers: the client's tree cannot be free of it. What it
/// must not carry is the server's use of it (compression, tracing, limits).
#[test]
fn tower_http_in_the_default_tree_is_reqwests_alone_without_server_layers() {
    let parents = tree_of_a_dependent(
        &[],
        &[
            "-e",
            "normal",
            "-i",
            "tower-http",
            "--depth",
            "1",
            "--prefix",
            "none",
        ],
    );
    let parents: Vec<&str> = parents.lines().skip(1).collect();
    assert!(
        parents.iter().all(|p| p.starts_with("reqwest ")),
        "tower-http's dependents: {parents:?}"
    );
    let features = tree_of_a_dependent(
        &[],
        &["-e", "normal", "--prefix", "none", "-f", "{p} [{f}]"],
    );
    let line = features
        .lines()
        .find(|l| l.starts_with("tower-http "))
        .expect("tower-http is in the tree");
    let enabled: Vec<&str> = line
        .split(['[', ']'])
        .nth(1)
        .unwrap_or("")
        .split(',')
        .collect();
    assert!(enabled.contains(&"follow-redirect"), "{line}");
    for server_layer in ["compression-gzip", "compression-deflate", "trace", "limit"] {
        assert!(!enabled.contains(&server_layer), "{line}");
    }
}

/// The README gives the crate counts of a dependent, client-only and with `server`: they are
/// the counts `cargo tree` gives now.
#[test]
fn the_readmes_crate_counts_are_the_trees() {
    let readme = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("README.md")).unwrap();
    let client = packages(&[]).len();
    let server = packages(&["server"]).len();
    for claim in [
        format!("**default features: {client} crates**"),
        format!("**with `server`: {server} crates**"),
    ] {
        assert!(
            readme.contains(&claim),
            "the README should say {claim} (update the Features section)"
        );
    }
}

/// The features Cargo.toml declares for users (`default` and the test-only one aside).
fn declared_features() -> Vec<String> {
    let manifest = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("Cargo.toml")).unwrap();
    let section = manifest
        .split("\n[features]\n")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("Cargo.toml has a [features] table");
    section
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = ").map(|(name, _)| name.trim().to_owned()))
        // `browser-tests` is the suite's own (a browser driver for the console's tests), not a
        // build a user picks.
        .filter(|name| name != "default" && name != "browser-tests")
        .collect()
}

/// `.ci/run` builds every combination a user can pick: no default features, the default, each
/// declared feature alone (a new feature must be added there), all of them; the docs with
/// warnings denied; and the declared `rust-version`.
#[test]
fn ci_checks_each_feature_combination_the_docs_and_the_rust_version() {
    let ci = std::fs::read_to_string(Path::new(MANIFEST_DIR).join(".ci/run")).unwrap();
    let features = declared_features();
    assert!(features.len() >= 5, "{features:?}");
    let each = ci
        .lines()
        .find(|l| l.starts_with("for feature in "))
        .expect("a loop over the features");
    let listed: Vec<&str> = each
        .trim_start_matches("for feature in ")
        .trim_end_matches("; do")
        .split_whitespace()
        .collect();
    assert_eq!(
        listed, features,
        "each feature alone, as Cargo.toml declares them"
    );
    for line in [
        "cargo check --lib --bins --no-default-features --features \"$feature\"",
        "cargo check --lib --no-default-features",
        "cargo check --lib",
        "cargo clippy --all-targets --all-features -- -D warnings",
        "RUSTDOCFLAGS=\"-D warnings\" cargo doc --no-deps --all-features",
        "cargo \"+$msrv\" check --lib --bins --all-features",
    ] {
        assert!(
            ci.lines().any(|l| l.trim() == line),
            ".ci/run lacks `{line}`"
        );
    }
    let manifest = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("\nrust-version = \""),
        "a declared rust-version"
    );
    assert!(
        ci.contains("rust-version = "),
        ".ci/run reads the rust-version from Cargo.toml"
    );
}

//! Strict configuration (issue 12): a host is parsed once, when the client is built, and a bad one
//! is an error naming the value, where it came from and the expected form; `from_env` with no
//! credentials anywhere says where it looked; every configuration error names its source (a
//! variable, or a file and key), never a secret.
//!
//! The environment is process-wide, so the `from_env` cases run in a child: this very test binary,
//! re-run on one test with a cleared environment and a home directory of its own.

use std::process::Command;

use crate::support::prelude::{Client, Error};

/// The configuration error of building a client for `host`, as text, with its origin.
fn host_error(host: &str) -> (String, Option<String>) {
    let e = Client::builder()
        .host(host)
        .api_key("k")
        .build()
        .unwrap_err();
    let Error::Config(c) = &e else {
        panic!("{host:?}: {e:?}")
    };
    (e.to_string(), c.origin().map(str::to_owned))
}

#[test]
fn a_loopback_host_without_a_scheme_is_refused_with_an_http_suggestion() {
    let (e, origin) = host_error("127.0.0.1:8080");
    assert_eq!(origin.as_deref(), Some("ClientBuilder::host"));
    assert!(
        e.contains(r#"the host "127.0.0.1:8080" has no scheme"#),
        "{e}"
    );
    assert!(e.contains(r#"such as "http://127.0.0.1:8080""#), "{e}");
    assert!(
        e.contains("expected http://HOST[:PORT] or https://HOST[:PORT]"),
        "{e}"
    );
}

#[test]
fn a_misspelt_scheme_is_refused_as_not_a_url() {
    let (e, _) = host_error("htp//x");
    assert!(e.contains(r#"the host "htp//x" is not a URL"#), "{e}");
    assert!(e.contains("expected http://HOST[:PORT]"), "{e}");
}

#[test]
fn a_url_without_a_host_is_refused() {
    let (e, _) = host_error("http://");
    assert!(e.contains(r#"the host "http://" names no host"#), "{e}");
}

#[test]
fn another_scheme_is_refused_naming_it() {
    let (e, _) = host_error("ftp://h");
    assert!(
        e.contains(r#"the host "ftp://h" has the scheme "ftp", not http or https"#),
        "{e}"
    );
}

#[test]
fn an_anonymous_client_is_built_only_when_asked_for() {
    let c = Client::anonymous("http://127.0.0.1:9").unwrap();
    assert_eq!(c.base_url().as_str(), "http://127.0.0.1:9/v1");
    assert!(matches!(
        Client::anonymous("127.0.0.1:9"),
        Err(Error::Config(_))
    ));
}

/// Runs the test `name` of this binary in a child with only `env` set (and `HOME` a fresh
/// directory, holding `cloud_json` at `.tiledb/cloud.json` when given); panics unless it passed.
fn in_child(name: &str, env: &[(&str, &str)], cloud_json: Option<&str>) {
    let home = tempfile::tempdir().unwrap();
    if let Some(text) = cloud_json {
        std::fs::create_dir_all(home.path().join(".tiledb")).unwrap();
        std::fs::write(home.path().join(".tiledb/cloud.json"), text).unwrap();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--include-ignored"])
        .env_clear()
        .env("HOME", home.path())
        .env("IT_CONFIG_CHILD", home.path())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In the child: the error of `Client::from_env()`; in the parent, `None` (the test then starts
/// the child).
fn from_env_error() -> Option<(Error, String)> {
    let home = std::env::var("IT_CONFIG_CHILD").ok()?;
    let e = Client::from_env().map(|_| ()).unwrap_err();
    Some((e, home))
}

#[test]
fn from_env_with_no_credentials_anywhere_lists_where_it_looked() {
    let Some((e, home)) = from_env_error() else {
        return in_child(
            "config::from_env_with_no_credentials_anywhere_lists_where_it_looked",
            &[],
            None,
        );
    };
    let text = e.to_string();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    assert!(text.contains("no credentials found"), "{text}");
    for place in [
        "TILEDB_REST_TOKEN",
        "TILEDB_REST_USERNAME",
        "TILEDB_REST_PASSWORD",
        &format!("{home}/.tiledb/cloud.json"),
        "Client::anonymous",
    ] {
        assert!(text.contains(place), "{place} missing: {text}");
    }
}

#[test]
fn a_token_with_a_newline_names_its_variable_never_its_value() {
    let Some((e, _)) = from_env_error() else {
        return in_child(
            "config::a_token_with_a_newline_names_its_variable_never_its_value",
            &[("TILEDB_REST_TOKEN", "tok-9f8e7d\n")],
            None,
        );
    };
    let text = e.to_string();
    assert!(
        matches!(&e, Error::Config(c) if c.origin() == Some("TILEDB_REST_TOKEN")),
        "{e:?}"
    );
    assert!(text.contains("TILEDB_REST_TOKEN"), "{text}");
    assert!(!format!("{text}{e:?}").contains("tok-9f8e7d"), "{text}");
}

#[test]
fn a_token_with_a_newline_in_the_config_file_names_the_file_and_key() {
    let Some((e, home)) = from_env_error() else {
        return in_child(
            "config::a_token_with_a_newline_in_the_config_file_names_the_file_and_key",
            &[],
            Some(r#"{"api_key": "tok-5c4b3a\n", "host": "http://127.0.0.1:9"}"#),
        );
    };
    let text = e.to_string();
    assert!(
        text.contains(&format!(r#"{home}/.tiledb/cloud.json, key "api_key""#)),
        "{text}"
    );
    assert!(!format!("{text}{e:?}").contains("tok-5c4b3a"), "{text}");
}

#[test]
fn a_bad_host_in_the_environment_names_the_variable() {
    let Some((e, _)) = from_env_error() else {
        return in_child(
            "config::a_bad_host_in_the_environment_names_the_variable",
            &[
                ("TILEDB_REST_TOKEN", "t"),
                ("TILEDB_REST_HOST", "localhost:8080"),
            ],
            None,
        );
    };
    let text = e.to_string();
    assert!(
        matches!(&e, Error::Config(c) if c.origin() == Some("TILEDB_REST_HOST")),
        "{e:?}"
    );
    assert!(
        text.contains(r#"such as "http://localhost:8080""#),
        "{text}"
    );
}

#[test]
fn a_config_file_that_does_not_parse_names_file_line_and_key_never_the_value() {
    let Some((e, home)) = from_env_error() else {
        return in_child(
            "config::a_config_file_that_does_not_parse_names_file_line_and_key_never_the_value",
            &[],
            Some("{\n  \"api_key\": \"k\",\n  \"verify_ssl\": \"hush-7a6b\"\n}"),
        );
    };
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            r#"{home}/.tiledb/cloud.json, line 3, key "verify_ssl""#
        )),
        "{text}"
    );
    assert!(!format!("{text}{e:?}").contains("hush-7a6b"), "{text}");
}

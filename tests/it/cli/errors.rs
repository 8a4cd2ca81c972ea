//! Bad input, each a clear message on stderr (never Rust `Debug`) and its documented exit code:
//! usage errors from clap and from the values the binary checks, missing or wrong credentials,
//! a host where nothing listens.

use super::{Cli, Ran, code, server};
use crate::support::{cases, refused_uri};

/// Runs `args` against a fresh local server with the right key.
async fn against_the_server(args: &[&str]) -> Ran {
    let h = server().await;
    Cli::of(&h).run(args).await
}

async fn is_a_usage_error(args: &[&str], message: &str) {
    let ran = against_the_server(args).await;
    ran.expect(code::USAGE).no_debug_on_stderr();
    assert_eq!(ran.stdout, "");
    assert!(
        ran.stderr.contains(message),
        "{message:?} in:\n{}",
        ran.stderr
    );
}

cases! {
    async is_a_usage_error;
    an_unknown_flag_is_a_usage_error: &["list", "--bogus"] =>
        "error: unexpected argument '--bogus' found",
    a_token_on_the_command_line_is_refused: &["list", "--token", "secret"] =>
        "error: unexpected argument '--token' found",
    a_bad_duration_is_a_usage_error: &["wait", "some-id", "--timeout", "soon"] =>
        "invalid value 'soon' for '--timeout <DURATION>': expected a duration such as 30s, 5m, 1h30m or 500ms",
    a_duration_without_a_unit_is_a_usage_error: &["sql", "local", "SELECT 1", "--timeout", "30"] =>
        "expected a duration such as 30s",
    a_bad_time_is_a_usage_error: &["list", "--start", "yesterday"] =>
        "invalid value 'yesterday' for '--start <TIME>': expected an RFC 3339 time",
    an_unknown_format_is_a_usage_error: &["list", "--format", "xml"] =>
        "invalid value 'xml' for '--format <FORMAT>'",
    an_unknown_column_is_a_usage_error_listing_the_fields: &["list", "--columns", "id,colour"] =>
        "error: unknown column \"colour\" for --columns",
    an_array_that_is_no_tiledb_uri_is_a_usage_error: &["list", "--array", "s3://bucket/a"] =>
        "error: invalid argument `array`: \"s3://bucket/a\" is not a tiledb://namespace/name URI",
    a_start_after_the_end_is_a_usage_error: &["list", "--start", "2026-03-02", "--end", "2026-03-01"] =>
        "error: invalid argument `start`: is after end",
    a_missing_query_is_a_usage_error: &["sql", "local"] =>
        "the following required arguments were not provided",
    a_limit_of_zero_is_a_usage_error: &["list", "--limit", "0"] =>
        "invalid value '0' for '--limit <N>'",
}

#[tokio::test]
async fn no_credentials_anywhere_exits_3_and_says_where_they_are_read_from() {
    let h = server().await;
    let cli = Cli::new(Some(&h.base), None);
    let ran = cli.run(["list"]).await;
    ran.expect(code::AUTH).no_debug_on_stderr();
    assert_eq!(ran.stdout, "");
    assert!(ran.stderr.starts_with("error: "), "{}", ran.stderr);
    for place in ["TILEDB_REST_TOKEN", "~/.tiledb/cloud.json"] {
        assert!(ran.stderr.contains(place), "{place} in:\n{}", ran.stderr);
    }
    assert!(h.list("").await.array_tasks.is_empty());

    // The same home with a cloud.json holding the key: configured as the SDK is.
    let dir = cli.home.path().join(".tiledb");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("cloud.json"),
        format!(r#"{{"api_key": "{}"}}"#, h.key),
    )
    .unwrap();
    cli.run(["list"]).await.expect(code::OK);
}

#[tokio::test]
async fn a_wrong_key_exits_3_and_never_prints_it() {
    let h = server().await;
    let ran = Cli::new(Some(&h.base), Some("not-the-key-7f3a"))
        .run(["sql", "local", "SELECT 1"])
        .await;
    ran.expect(code::AUTH).no_debug_on_stderr();
    assert!(ran.stderr.contains("401"), "{}", ran.stderr);
    assert!(!ran.stderr.contains("not-the-key-7f3a") && !ran.stdout.contains("not-the-key-7f3a"));
    assert!(h.list("").await.array_tasks.is_empty(), "nothing ran");
}

#[tokio::test]
async fn an_unreachable_host_exits_1_naming_the_url_and_the_refused_connection() {
    let host = refused_uri();
    let ran = Cli::new(Some(&host), Some("key"))
        .run(["show", "some-task"])
        .await;
    ran.expect(code::ERROR).no_debug_on_stderr();
    let first = ran.stderr.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("error: GET {host}/v1/task/some-task")),
        "{first}"
    );
    assert!(first.ends_with("could not connect"), "{first}");
    assert!(ran.stderr.contains("Connection refused"), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("hint: nothing answered at that address"),
        "{}",
        ran.stderr
    );
    // Each cause is printed once.
    let lines: Vec<&str> = ran.stderr.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        assert!(!lines[..i].contains(l), "{l:?} twice in:\n{}", ran.stderr);
    }
}

#[tokio::test]
async fn host_flag_overrides_the_environment() {
    let h = server().await;
    let cli = Cli::new(Some(&refused_uri()), Some(&h.key));
    cli.run(["--host", &h.base, "list"]).await.expect(code::OK);
    let bad = cli.run(["--host", "ftp://x", "list"]).await;
    bad.expect(code::USAGE).no_debug_on_stderr();
    assert!(
        bad.stderr
            .contains(r#"the host "ftp://x" has the scheme "ftp", not http or https"#),
        "{}",
        bad.stderr
    );
}

#[tokio::test]
async fn a_lost_answer_whose_task_is_not_found_says_to_look_for_it_before_running_it_again() {
    use crate::support::fault_server::{Answer, FaultServer, Script, Seen};

    // The POST's connection is reset after the request was read; the task list never shows it.
    let server = FaultServer::start(|req: &Seen| match req.method.as_str() {
        "POST" => Script::ResetNow,
        _ => Script::Answer(Answer::json(
            200,
            r#"{"array_tasks":[],"pagination_metadata":{"page":1,"per_page":100,"total_pages":1,"total_items":0}}"#,
        )),
    })
    .await;
    let cli = super::Cli::new(Some(&server.uri()), Some("a-key"));
    let ran = cli
        .run([
            "sql",
            "local",
            "INSERT INTO t VALUES (1)",
            "--timeout",
            "1s",
        ])
        .await;
    ran.expect(code::ERROR).no_debug_on_stderr();
    assert!(
        ran.stderr.contains("was lost and no task named"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("hint: the query may have run: look for it before running it again, with `tiledb-tasks list --search \"tiledb-cloud-tasks:"),
        "{}",
        ran.stderr
    );
    assert_eq!(server.posts(), 1, "never sent again");
}

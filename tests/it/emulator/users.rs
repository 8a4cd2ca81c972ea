//! Users of the `tiledb-tasks-server` binary, started as a process: from `--user` (with a
//! password), a `--users-file` and `TILEDB_TASKS_SERVER_USERS`; Basic auth and several namespaces.

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::binary::Binary;
use crate::support::prelude::{API_KEY_HEADER, Client};

async fn post_basic(base: &str, user: &str, password: &str, namespace: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{base}/v1/sql/{namespace}"))
        .basic_auth(user, Some(password))
        .json(&json!({"query": "SELECT 1 AS one"}))
        .send()
        .await
        .expect("request sent")
        .status()
}

#[tokio::test]
async fn basic_auth_through_the_binary_for_users_from_the_flag_the_file_and_the_environment() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "# users of the test\n\ncarol:carol-key:ns3:carol:pw").unwrap();
    let mut bin = Binary::spawn_with_env(
        [
            "--user".to_owned(),
            "bob:bob-key:ns1,ns2:bob-pw".to_owned(),
            "--users-file".to_owned(),
            file.path().display().to_string(),
        ],
        [(
            "TILEDB_TASKS_SERVER_USERS",
            "dave:dave-key:ns4:dave-pw erin:erin-key:ns5".to_owned(),
        )],
    )
    .await;
    bin.drain_stdout();
    let base = bin.base.clone();

    for (user, password, namespace) in [
        ("bob", "bob-pw", "ns1"),
        ("bob", "bob-pw", "ns2"),
        ("carol", "carol:pw", "ns3"),
        ("dave", "dave-pw", "ns4"),
    ] {
        assert_eq!(
            post_basic(&base, user, password, namespace).await,
            StatusCode::OK,
            "{user} in {namespace}"
        );
        assert_eq!(
            post_basic(&base, user, "wrong", namespace).await,
            StatusCode::UNAUTHORIZED,
            "{user} with a wrong password"
        );
    }
    // A user without a password logs in with its key only; nobody reaches another's namespace.
    assert_eq!(
        post_basic(&base, "erin", "", "ns5").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_basic(&base, "bob", "bob-pw", "ns3").await,
        StatusCode::FORBIDDEN
    );
    let resp = reqwest::Client::new()
        .get(format!("{base}/v1/tasks"))
        .header(API_KEY_HEADER, "erin-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // The SDK with username and password, as `TILEDB_REST_USERNAME`/`PASSWORD` would configure it.
    let client = Client::builder()
        .host(base.clone())
        .basic_auth("bob", "bob-pw")
        .build()
        .unwrap();
    let rows: Vec<serde_json::Value> = client
        .run_sql("ns2", "SELECT 2 AS two")
        .await
        .unwrap()
        .rows()
        .unwrap();
    assert_eq!(rows, vec![json!({"two": 2})]);
}

#[tokio::test]
async fn a_bad_users_file_stops_the_binary_naming_the_line_and_not_the_secret() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "bob:bob-key:ns1\nmallory:top-secret-key").unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tiledb-tasks-server"))
        .args(["--listen", "127.0.0.1:0", "--users-file"])
        .arg(file.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("exits promptly")
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(!stderr.contains("top-secret-key"), "{stderr}");
}

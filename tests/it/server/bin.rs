//! The `tiledb-tasks-server` binary's fixed form: `--listen 127.0.0.1:0 --api-key KEY`.

use std::time::Duration;

use tokio::process::Command;

use crate::support::binary::Binary;
use crate::support::prelude::{API_KEY_HEADER, ArrayTaskData};

#[tokio::test]
async fn binary_prints_its_address_first_and_serves_the_given_key() {
    // `spawn` checks that the first line names the address, on 127.0.0.1.
    let mut bin = Binary::spawn(["--api-key", "bin-test-key"]).await;
    let base = bin.base.clone();
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);

    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{base}/v1/tasks"))
        .header(API_KEY_HEADER, "bin-test-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let data: ArrayTaskData = resp.json().await.unwrap();
    assert!(data.array_tasks.is_empty());

    // The default user owns namespace `local`.
    let resp = http
        .post(format!("{base}/v1/sql/local"))
        .header(API_KEY_HEADER, "bin-test-key")
        .json(&serde_json::json!({"query": "SELECT 1 AS one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"[{"one":1}]"#);

    let resp = http
        .get(format!("{base}/v1/tasks"))
        .header(API_KEY_HEADER, "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // A later line names the data directory (a temporary one here).
    let mut data_dir = None;
    for _ in 0..5 {
        let line = bin.next_line().await;
        if let Some(dir) = line.split("data dir: ").nth(1) {
            data_dir = Some(std::path::PathBuf::from(dir));
            break;
        }
    }
    let data_dir = data_dir.expect("the data directory is printed");
    assert!(data_dir.exists());

    stop(&mut bin.child).await;
    // A graceful stop deletes the temporary data directory.
    assert!(!data_dir.exists(), "{} was left behind", data_dir.display());
}

/// SIGTERM, then a clean exit (graceful shutdown) within a bounded time.
#[cfg(unix)]
async fn stop(child: &mut tokio::process::Child) {
    let pid = child.id().expect("still running").to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[cfg(not(unix))]
async fn stop(child: &mut tokio::process::Child) {
    child.kill().await.unwrap();
}

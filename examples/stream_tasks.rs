//! Streams every task of the last seven days (optionally in one namespace) and prints a summary:
//! how many tasks in each status, and their total cost.
//!
//! ```sh
//! # Against TileDB Cloud (TILEDB_REST_TOKEN, TILEDB_REST_HOST, ~/.tiledb/cloud.json):
//! TILEDB_REST_TOKEN=... cargo run --example stream_tasks --features server -- my-namespace
//! # With no account: a few queries on the embedded local server, then the listing.
//! cargo run --example stream_tasks --features server
//! ```

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use futures::TryStreamExt as _;
use tiledb_cloud_tasks::model::SqlParameters;
use tiledb_cloud_tasks::server::{LocalServer, ServerConfig};
use tiledb_cloud_tasks::{Client, Error, TaskOrder};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let namespace = std::env::args().nth(1);

    // Keep the local server alive for as long as the client talks to it.
    let (client, namespace, _server) = if std::env::var_os("TILEDB_REST_TOKEN").is_some() {
        let client = Client::from_env()?;
        println!("Listing tasks from {}", client.base_url());
        (client, namespace, None)
    } else {
        let server = LocalServer::start(ServerConfig::new()).await?;
        let client = server.client()?;
        let ns = server.namespace().to_owned();
        println!(
            "TILEDB_REST_TOKEN is not set: running a few queries on a local Tasks server at {}",
            server.base_url()
        );
        client.run_sql(&ns, "CREATE TABLE t (a INTEGER)").await?;
        for i in 0..12 {
            client
                .run_sql(
                    &ns,
                    SqlParameters::query("INSERT INTO t VALUES (?)").parameter(i),
                )
                .await?;
        }
        for _ in 0..3 {
            // These fail (no such table), and are listed as FAILED.
            let _ = client.run_sql(&ns, "SELECT * FROM missing").await;
        }
        (client, Some(ns), Some(server))
    };

    let mut list = client
        .tasks()
        .start(Utc::now() - Duration::days(7))
        .order_by(TaskOrder::StartTime)
        .per_page(5)
        .prefetch(2);
    if let Some(ns) = &namespace {
        list = list.namespace(ns);
    }

    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut total_cost = 0.0_f64;
    let mut count = 0usize;
    let mut tasks = list.stream();
    loop {
        match tasks.try_next().await {
            Ok(Some(task)) => {
                count += 1;
                let status = task
                    .status
                    .as_ref()
                    .map_or("(no status)".to_owned(), |s| s.to_string());
                *by_status.entry(status).or_default() += 1;
                total_cost += task.cost.unwrap_or(0.0);
            }
            Ok(None) => break,
            Err(e @ Error::Listing { .. }) => {
                // What was counted so far stands; the rest can be listed from the page it names.
                eprintln!("listing stopped early: {e}");
                if let Some(page) = e.resume_page() {
                    eprintln!("resume with .page({page}) to list the rest");
                }
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }

    println!(
        "{count} tasks in the last 7 days{}",
        namespace
            .as_deref()
            .map(|ns| format!(" in namespace {ns}"))
            .unwrap_or_default()
    );
    for (status, n) in &by_status {
        println!("  {status:<24}{n:>6}");
    }
    println!("total cost: ${total_cost:.4}");
    Ok(())
}

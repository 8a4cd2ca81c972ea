//! Testing your own code against the local server as an emulator: seed it, make it misbehave on
//! purpose, and check in its journal what it did. The function under test is `nightly_report`, a
//! piece of "your code" that must survive a busy service.
//!
//! ```sh
//! cargo run --example emulator --features server
//! ```
//!
//! The same steps as a test are in docs/testing-with-the-local-server.md.

use std::time::Duration;

use tiledb_cloud_tasks::server::{
    FaultAction, FaultRoute, FaultRule, LocalServer, ServerConfig, Timing,
};
use tiledb_cloud_tasks::{Client, Result};

/// Your code: the total of today's sales, by region.
async fn nightly_report(client: &Client, namespace: &str) -> Result<Vec<(String, f64)>> {
    #[derive(serde::Deserialize)]
    struct Row {
        region: String,
        total: f64,
    }
    let rows: Vec<Row> = client
        .run_sql(
            namespace,
            "SELECT region, sum(amount) AS total FROM sales GROUP BY region ORDER BY region",
        )
        .deadline(Duration::from_secs(60))
        .await?
        .rows()?;
    Ok(rows.into_iter().map(|r| (r.region, r.total)).collect())
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    // Seed data, as a test would keep it next to itself.
    let dir = tempfile::tempdir()?;
    let sql = dir.path().join("sales.sql");
    std::fs::write(
        &sql,
        "CREATE TABLE sales (region TEXT, amount REAL);\n\
         INSERT INTO sales VALUES ('north', 12.5), ('south', 7), ('north', 3);",
    )?;

    // Like TileDB Cloud, the POST holds until the query is done; the first two submissions are
    // refused as a service without free resources refuses them (503, Retry-After: 1).
    let server = LocalServer::start(
        ServerConfig::new()
            .timing(Timing::Holding)
            .seed_sql("local", &sql)
            .fault_rules(vec![
                FaultRule::new(FaultAction::Status {
                    status: 503,
                    retry_after_secs: Some(1),
                    message: None,
                })
                .route(FaultRoute::Sql)
                .times(2),
            ]),
    )
    .await?;
    let client = server.client()?;

    let report = nightly_report(&client, server.namespace()).await?;
    println!("report: {report:?}");
    assert_eq!(
        report,
        vec![("north".to_owned(), 15.5), ("south".to_owned(), 7.0)]
    );

    // What the server did: two refusals, then the query, answered with its rows at once.
    for entry in server.journal() {
        println!(
            "{} {} -> {:?}{}",
            entry.method,
            entry.path,
            entry.status,
            entry.fault.map(|f| format!(" ({f})")).unwrap_or_default()
        );
    }
    let statuses: Vec<Option<u16>> = server.journal().iter().map(|e| e.status).collect();
    assert_eq!(statuses, vec![Some(503), Some(503), Some(200)]);

    server.shutdown().await;
    Ok(())
}

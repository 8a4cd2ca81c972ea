use std::time::Duration;

use tiledb_cloud_tasks::policy::PollPolicy;
use tiledb_cloud_tasks::server::{LocalServer, ServerConfig};
use tiledb_cloud_tasks::{Client, Result};

/// The code under test: yours, taking a client (from `Client::from_env()` in production).
async fn total_sales(client: &Client, namespace: &str) -> Result<f64> {
    #[derive(serde::Deserialize)]
    struct Total {
        total: Option<f64>,
    }
    let sql = "SELECT sum(amount) AS total FROM sales";
    let rows: Vec<Total> = client.run_sql(namespace, sql).await?.rows()?;
    Ok(rows.first().and_then(|r| r.total).unwrap_or(0.0))
}

#[tokio::test]
async fn total_sales_adds_every_sale() -> std::result::Result<(), Box<dyn std::error::Error>> {
    // SQLite in a temporary directory, on 127.0.0.1, with one user owning the namespace "local".
    let server = LocalServer::start(ServerConfig::new()).await?;
    let client = server
        .client_builder()
        .poll_policy(PollPolicy::default().initial_interval(Duration::from_millis(10)))
        .build()?;
    let ns = server.namespace();
    client
        .run_sql(ns, "CREATE TABLE sales(amount REAL)")
        .await?;
    client
        .run_sql(ns, "INSERT INTO sales VALUES (12.5), (7), (3)")
        .await?;

    assert_eq!(total_sales(&client, ns).await?, 22.5);
    server.shutdown().await;
    Ok(())
}

//! The quickstart's work with a tracing subscriber: every query (`run_sql`, with the OpenTelemetry
//! database fields), every HTTP attempt (`http_request`, with the HTTP client fields), every
//! listing (`list_tasks`) and page (`tasks_get`), and the local server's own request spans,
//! printed as they close. Their names and fields follow the OpenTelemetry conventions, for
//! `tracing-opentelemetry` (see the README's "Tracing").
//!
//! ```sh
//! cargo run --example tracing --features server
//! RUST_LOG=debug cargo run --example tracing --features server   # more detail
//! ```

use std::time::Duration;

use futures::TryStreamExt as _;
use tiledb_cloud_tasks::model::SqlParameters;
use tiledb_cloud_tasks::policy::PollPolicy;
use tiledb_cloud_tasks::server::{LocalServer, ServerConfig};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("tiledb_cloud_tasks=info")),
        )
        .with_span_events(FmtSpan::CLOSE)
        .with_target(false)
        .init();

    let server = LocalServer::start(ServerConfig::new()).await?;
    let client = server
        .client_builder()
        .poll_policy(PollPolicy::default().initial_interval(Duration::from_millis(200)))
        .build()?;
    let ns = server.namespace().to_owned();

    client
        .run_sql(&ns, "CREATE TABLE t (a INTEGER, b TEXT)")
        .await?;
    client
        .run_sql(
            &ns,
            SqlParameters::query("INSERT INTO t VALUES (?, ?), (?, ?)")
                .parameter(1)
                .parameter("one")
                .parameter(2)
                .parameter("two"),
        )
        .await?;
    let result = client
        .run_sql(&ns, "SELECT a, b, sleep(600) AS s FROM t")
        .await?;
    let id = result.task_id().cloned().ok_or("no task id")?;
    client.task(id).await?;
    let tasks: Vec<_> = client
        .tasks()
        .namespace(&ns)
        .per_page(2)
        .stream()
        .try_collect()
        .await?;
    tracing::info!(tasks = tasks.len(), "listed");
    let _ = client.run_sql(&ns, "SELECT * FROM missing").await;
    server.shutdown().await;
    Ok(())
}

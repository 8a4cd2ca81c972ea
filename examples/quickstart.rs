//! The quickstart: run SQL end to end and read typed rows.
//!
//! With no configuration it starts the local Tasks server in-process (SQLite in a temporary
//! directory) and talks to it over 127.0.0.1. With `TILEDB_REST_TOKEN` set it talks to that host
//! (`TILEDB_REST_HOST`, default `https://api.tiledb.com`) instead, in the namespace given as the first
//! argument.
//!
//! ```sh
//! cargo run --example quickstart --features server
//! ```

use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use serde::Deserialize;
use tiledb_cloud_tasks::model::{ArrayTaskStatus, SqlParameters};
use tiledb_cloud_tasks::server::{LocalServer, ServerConfig};
use tiledb_cloud_tasks::{Client, Update};

#[derive(Debug, Deserialize)]
struct Fruit {
    name: String,
    kilos: f64,
    // SQLite has no booleans: 1, 0 or NULL.
    organic: Option<i64>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Somewhere to run: the real service when configured, else a local server of our own.
    let (client, namespace, _server) = if std::env::var_os("TILEDB_REST_TOKEN").is_some() {
        let namespace = std::env::args()
            .nth(1)
            .ok_or("usage: quickstart NAMESPACE (with TILEDB_REST_TOKEN set)")?;
        println!(
            "Using the service at TILEDB_REST_HOST (or api.tiledb.com), namespace {namespace}."
        );
        (Client::from_env()?, namespace, None)
    } else {
        let server = LocalServer::start(ServerConfig::new()).await?;
        println!(
            "Started a local Tasks server at {} (SQLite in {}).",
            server.base_url(),
            server.data_dir().display()
        );
        (
            server.client()?,
            server.namespace().to_owned(),
            Some(server),
        )
    };
    println!("Client: {client:?}\n");

    // 1. Make a table and fill it. A statement without rows resolves to an empty result.
    client
        .run_sql(
            &namespace,
            "CREATE TABLE IF NOT EXISTS fruit (name TEXT PRIMARY KEY, kilos REAL, organic INTEGER)",
        )
        .await?;
    let insert = SqlParameters::query(
        "INSERT OR REPLACE INTO fruit VALUES ('apple', 12.5, 1), ('banana', 7.25, NULL), ('cherry', 0.75, 0)",
    )
    .name("fill fruit");
    let done = client.run_sql(&namespace, insert).await?;
    println!(
        "1. Created and filled the table (task {}).",
        done.task_id().map(|t| t.as_str()).unwrap_or("?")
    );

    // 2. Query with a bound parameter and read typed rows.
    let query = SqlParameters::query(
        "SELECT name, kilos, organic FROM fruit WHERE kilos > ? ORDER BY name",
    )
    .parameter(1.0)
    .name("heavy fruit");
    let result = client
        .run_sql(&namespace, query)
        .deadline(Duration::from_secs(60))
        .await?;
    let rows: Vec<Fruit> = result.rows()?;
    println!(
        "2. {} rows from task {}:",
        rows.len(),
        result.task_id().map(|t| t.as_str()).unwrap_or("?")
    );
    for f in &rows {
        println!(
            "     {:<8} {:>6.2} kg  organic: {:?}",
            f.name, f.kilos, f.organic
        );
    }

    // 3. Watch a slower query's progress, then resume the same task by id, as a restarted
    //    process would: no second query, just the wait for its stored result.
    let slow = if _server.is_some() {
        "SELECT sleep(1200) AS slept, count(*) AS n FROM fruit"
    } else {
        "SELECT count(*) AS n FROM fruit"
    };
    let mut updates = client.run_sql(&namespace, slow).updates();
    let mut task_id = None;
    while let Some(update) = updates.next().await {
        match update {
            Update::Submitted { task_id: id } => {
                println!("3. Submitted task {id}");
                task_id = Some(id);
            }
            Update::Polled {
                attempt,
                elapsed,
                next_delay,
            } => {
                println!(
                    "     poll {attempt}: still running after {elapsed:.1?}, next poll in {next_delay:.1?}"
                )
            }
            Update::Finished(r) => println!("     finished: {} bytes of JSON", r?.bytes().len()),
            _ => {}
        }
    }
    if let Some(id) = task_id {
        let again = client.task(id.clone()).await?;
        println!("   Resumed task {id} by id: {}", again.json()?);
        let record = client.task(id).status().await?;
        println!(
            "   Its record: status {:?}, ran {:?}",
            record.status,
            record.run_time()
        );
    }

    // 4. A failing query gives a typed error with the task's own message.
    match client
        .run_sql(&namespace, "SELECT * FROM no_such_table")
        .await
    {
        Err(e) => println!("4. A bad query fails plainly: {e}"),
        Ok(_) => println!("4. Unexpectedly, the bad query succeeded"),
    }

    // 5. Stream every task in the namespace and summarise.
    let tasks: Vec<_> = client
        .tasks()
        .namespace(&namespace)
        .per_page(2)
        .stream()
        .try_collect()
        .await?;
    let completed = tasks
        .iter()
        .filter(|t| t.status == Some(ArrayTaskStatus::Completed))
        .count();
    let failed = tasks
        .iter()
        .filter(|t| t.status == Some(ArrayTaskStatus::Failed))
        .count();
    println!(
        "5. {} tasks in {namespace}: {completed} completed, {failed} failed.",
        tasks.len()
    );

    if let Some(server) = _server {
        server.shutdown().await;
        println!("\nLocal server stopped.");
    }
    Ok(())
}

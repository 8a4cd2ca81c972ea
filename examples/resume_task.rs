//! Resume a task by id, as a batch job would after a restart, and watch its progress.
//!
//! The first "process" submits a slow query, keeps the task id once the service names it, and
//! stops waiting (drops its handle: the task goes on running on the server). The second resumes the
//! wait from the id alone, with progress updates: no second query is run.
//!
//! ```sh
//! cargo run --example resume_task --features server
//! ```

use std::time::Duration;

use futures::StreamExt as _;
use tiledb_cloud_tasks::policy::PollPolicy;
use tiledb_cloud_tasks::server::{LocalServer, ServerConfig};
use tiledb_cloud_tasks::{TaskId, Update};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = LocalServer::start(ServerConfig::new()).await?;
    let client = server.client()?;
    let ns = server.namespace().to_owned();

    // "Process" one: submit, note the id, give up waiting.
    let mut updates = client
        .run_sql(&ns, "SELECT sleep(1500) AS slept_ms")
        .updates();
    let mut saved: Option<TaskId> = None;
    while let Some(update) = updates.next().await {
        if let Update::Submitted { task_id } = update {
            println!("submitted task {task_id}; stopping the wait (the task keeps running)");
            saved = Some(task_id);
            break;
        }
    }
    drop(updates);
    let id = saved.ok_or("the service named no task")?;

    // "Process" two: resume from the id alone, polling every 200 ms, for at most a minute.
    let handle = client
        .task(id.clone())
        .poll_policy(
            PollPolicy::default()
                .initial_interval(Duration::from_millis(200))
                .multiplier(1.0),
        )
        .deadline(Duration::from_secs(60));
    println!("resuming task {id}");
    let mut updates = handle.updates();
    while let Some(update) = updates.next().await {
        match update {
            Update::Resumed { task_id } => println!("  resumed {task_id}"),
            Update::Polled {
                attempt,
                elapsed,
                next_delay,
            } => {
                println!("  poll {attempt}: running after {elapsed:.1?}; next in {next_delay:.1?}")
            }
            Update::Finished(Ok(result)) => println!("  done: {}", result.json()?),
            Update::Finished(Err(e)) => println!("  failed: {e} (resume again with task {id})"),
            _ => {}
        }
    }

    let tasks = client.tasks().namespace(&ns).first_page().await?;
    let total = tasks
        .pagination_metadata
        .and_then(|m| m.total_items)
        .unwrap_or(0);
    println!("tasks in {ns}: {total} (the query ran once)");
    server.shutdown().await;
    Ok(())
}

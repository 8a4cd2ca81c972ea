//! Streams every task of the last seven days (optionally in one namespace) and prints a summary:
//! how many tasks in each status, and their total cost.
//!
//! ```sh
//! # Against TileDB Cloud (TILEDB_REST_TOKEN, TILEDB_REST_HOST, ~/.tiledb/cloud.json):
//! TILEDB_REST_TOKEN=... cargo run --example stream_tasks -- my-namespace
//! # With no account: a few fake pages from an in-process mock server.
//! cargo run --example stream_tasks
//! ```

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use futures::TryStreamExt as _;
use tiledb_cloud_tasks::{Client, Error, TaskOrder};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let namespace = std::env::args().nth(1);

    // Keep the mock server alive for as long as the client talks to it.
    let (client, _mock) = if std::env::var_os("TILEDB_REST_TOKEN").is_some() {
        let client = Client::from_env()?;
        println!("Listing tasks from {}", client.base_url());
        (client, None)
    } else {
        // TODO(LocalServer): once `tiledb_cloud_tasks::server::LocalServer` is merged, serve these
        // tasks from it instead of from a wiremock mock (a dev-dependency, which examples may use).
        let mock = fake::start().await;
        println!(
            "TILEDB_REST_TOKEN is not set: listing {} fake tasks from a local mock server at {}",
            fake::TASKS,
            mock.uri()
        );
        let client = Client::builder()
            .host(mock.uri())
            .api_key("not-a-real-key")
            .build()?;
        (client, Some(mock))
    };

    let mut list = client
        .tasks()
        .start(Utc::now() - Duration::days(7))
        .order_by(TaskOrder::StartTime)
        .per_page(100)
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

/// A few pages of made-up tasks, served by wiremock the way `GET /v1/tasks` answers.
mod fake {
    use serde_json::{Value, json};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    pub const TASKS: u64 = 23;
    const STATUSES: [&str; 5] = ["COMPLETED", "COMPLETED", "FAILED", "RUNNING", "QUEUED"];

    struct Pages;

    impl Respond for Pages {
        fn respond(&self, req: &Request) -> ResponseTemplate {
            let param = |k: &str| {
                req.url
                    .query_pairs()
                    .find(|(key, _)| key == k)
                    .and_then(|(_, v)| v.parse::<u64>().ok())
            };
            let page = param("page").unwrap_or(1).max(1);
            // Small pages on purpose, so that the listing spans several of them.
            let per_page = param("per_page").unwrap_or(100).clamp(1, 5);
            let first = (page - 1) * per_page;
            let tasks: Vec<Value> = (first..TASKS.min(first + per_page)).map(task).collect();
            ResponseTemplate::new(200).set_body_json(json!({
                "array_tasks": tasks,
                "pagination_metadata": {
                    "page": page,
                    "per_page": per_page,
                    "total_pages": TASKS.div_ceil(per_page),
                    "total_items": TASKS,
                }
            }))
        }
    }

    fn task(i: u64) -> Value {
        json!({
            "id": format!("00000000-0000-4000-8000-{i:012}"),
            "name": format!("nightly-{i}"),
            "namespace": "demo",
            "type": "SQL",
            "status": STATUSES[(i % STATUSES.len() as u64) as usize],
            "sql_query": "SELECT count(*) FROM t",
            "cost": 0.0125 * (i % 4 + 1) as f64,
        })
    }

    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/tasks"))
            .respond_with(Pages)
            .mount(&server)
            .await;
        server
    }
}

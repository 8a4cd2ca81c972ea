//! Seeding from files (a task history in JSON lines, SQL for tables and data), then listing with
//! filters finds exactly the seeded tasks; seeding is idempotent across restarts; the binary's
//! flags.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use serde_json::json;

use crate::support::binary::Binary;
use crate::support::local::all_tasks;
use crate::support::prelude::{
    API_KEY_HEADER, ArrayTaskStatus, ArrayTaskType, Client, LocalServer, ServerConfig,
};

/// Eight tasks: six in `local` (names, statuses, types and days apart), two in `other`.
fn history() -> String {
    let task = |id: &str, ns: &str, name: &str, status: &str, kind: &str, day: u32| {
        json!({"id": id, "namespace": ns, "name": name, "status": status, "type": kind,
               "username": ns, "sql_query": format!("SELECT '{name}'"),
               "start_time": format!("2026-01-{day:02}T10:00:00Z"),
               "finish_time": format!("2026-01-{day:02}T10:01:00Z")})
        .to_string()
    };
    [
        task("seed-1", "local", "nightly-a", "COMPLETED", "SQL", 1),
        task("seed-2", "local", "nightly-b", "FAILED", "SQL", 2),
        task("seed-3", "local", "adhoc", "COMPLETED", "SQL", 3),
        task("seed-4", "local", "nightly-c", "FAILED", "UDF", 4),
        task("seed-5", "local", "report", "COMPLETED", "GENERIC_UDF", 5),
        task("seed-6", "local", "nightly-d", "COMPLETED", "SQL", 6),
        task("seed-7", "other", "nightly-x", "FAILED", "SQL", 2),
        task("seed-8", "other", "hidden", "COMPLETED", "SQL", 3),
    ]
    .join("\n")
}

const TABLES: &str = "CREATE TABLE IF NOT EXISTS people (name TEXT, age INTEGER);\n\
                      INSERT INTO people VALUES ('ada', 36), ('alan', 41);";

fn write_seeds(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let tasks = dir.join("tasks.jsonl");
    std::fs::write(&tasks, history()).unwrap();
    let sql = dir.join("tables.sql");
    std::fs::write(&sql, TABLES).unwrap();
    (tasks, sql)
}

fn ids(tasks: &[crate::support::prelude::ArrayTask]) -> BTreeSet<String> {
    tasks.iter().filter_map(|t| t.id.clone()).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

fn day(d: u32) -> DateTime<Utc> {
    format!("2026-01-{d:02}T00:00:00Z").parse().unwrap()
}

async fn listed(list: crate::support::prelude::TaskList) -> BTreeSet<String> {
    ids(&list.stream().try_collect::<Vec<_>>().await.unwrap())
}

#[tokio::test]
async fn seeding_from_files_then_listing_with_filters_finds_exactly_the_seeded_tasks() {
    let seeds = tempfile::tempdir().unwrap();
    let (tasks, sql) = write_seeds(seeds.path());
    let server = LocalServer::start(
        ServerConfig::new()
            .user("olga", "olga-key", None, &["other"])
            .seed_tasks(&tasks)
            .seed_sql("local", &sql),
    )
    .await
    .unwrap();
    let c = server.client().unwrap();
    let window = |l: crate::support::prelude::TaskList| l.start(day(1)).end(day(31));

    assert_eq!(
        ids(&all_tasks(&c).await),
        set(&["seed-1", "seed-2", "seed-3", "seed-4", "seed-5", "seed-6"])
    );
    assert_eq!(
        listed(window(c.tasks()).status(ArrayTaskStatus::Failed)).await,
        set(&["seed-2", "seed-4"])
    );
    assert_eq!(
        listed(window(c.tasks()).search("nightly")).await,
        set(&["seed-1", "seed-2", "seed-4", "seed-6"])
    );
    assert_eq!(
        listed(
            window(c.tasks())
                .task_type(ArrayTaskType::Sql)
                .status(ArrayTaskStatus::Completed)
        )
        .await,
        set(&["seed-1", "seed-3", "seed-6"])
    );
    assert_eq!(
        listed(
            c.tasks()
                .start(day(3))
                .end(day(5) + chrono::Duration::hours(23))
        )
        .await,
        set(&["seed-3", "seed-4", "seed-5"])
    );
    // The other namespace's tasks are its user's only.
    let olga = Client::builder()
        .host(server.base_url())
        .api_key("olga-key")
        .build()
        .unwrap();
    assert_eq!(ids(&all_tasks(&olga).await), set(&["seed-7", "seed-8"]));
    // A seeded task reads back as written.
    let t = c.api().task_id_get("seed-4").await.unwrap();
    assert_eq!(t.name.as_deref(), Some("nightly-c"));
    assert_eq!(t.task_type, Some(ArrayTaskType::Udf));

    // The SQL seed made the table and its rows.
    let rows = c
        .run_sql("local", "SELECT name FROM people ORDER BY name")
        .await
        .unwrap();
    assert_eq!(
        rows.json().unwrap(),
        json!([{"name": "ada"}, {"name": "alan"}])
    );
}

#[tokio::test]
async fn seeding_again_on_the_same_data_dir_changes_nothing() {
    let seeds = tempfile::tempdir().unwrap();
    let (tasks, sql) = write_seeds(seeds.path());
    let data = tempfile::tempdir().unwrap();
    let config = || {
        ServerConfig::new()
            .data_dir(data.path())
            .seed_tasks(&tasks)
            .seed_sql("local", &sql)
    };
    for run in 0..2 {
        let server = LocalServer::start(config()).await.unwrap();
        let c = server.client().unwrap();
        let tasks = all_tasks(&c).await;
        let seeded = tasks
            .iter()
            .filter(|t| t.id.as_deref().is_some_and(|i| i.starts_with("seed-")));
        assert_eq!(seeded.count(), 6, "run {run}");
        // And the count queries of the runs before.
        assert_eq!(tasks.len(), 6 + run, "run {run}");
        let count = c
            .run_sql("local", "SELECT count(*) AS n FROM people")
            .await
            .unwrap();
        // The INSERT ran once, though it is not idempotent itself.
        assert_eq!(count.json().unwrap(), json!([{"n": 2}]));
        server.shutdown().await;
    }
}

#[tokio::test]
async fn the_binary_seeds_from_flags_and_reset_brings_the_seeds_back() {
    let seeds = tempfile::tempdir().unwrap();
    let (tasks, sql) = write_seeds(seeds.path());
    let mut bin = Binary::spawn_with_env(
        [
            "--api-key".to_owned(),
            "bin-key".to_owned(),
            "--seed-tasks".to_owned(),
            tasks.display().to_string(),
            "--seed-sql".to_owned(),
            format!("local={}", sql.display()),
        ],
        [("TILEDB_TASKS_SERVER_ADMIN_KEY", "bin-admin".to_owned())],
    )
    .await;
    bin.drain_stdout();
    let http = reqwest::Client::new();
    let list = || async {
        let data: crate::support::prelude::ArrayTaskData = http
            .get(format!("{}/v1/tasks?start=0&per_page=100", bin.base))
            .header(API_KEY_HEADER, "bin-key")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        data.array_tasks.len()
    };
    assert_eq!(list().await, 6);
    let resp = http
        .post(format!("{}/v1/sql/local", bin.base))
        .header(API_KEY_HEADER, "bin-key")
        .json(&json!({"query": "SELECT count(*) AS n FROM people"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), r#"[{"n":2}]"#);
    assert_eq!(list().await, 7);
    let resp = http
        .post(format!("{}/_emulator/reset", bin.base))
        .header(API_KEY_HEADER, "bin-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        // Every namespace's: the 8 seeds and the query; the 8 seeds again.
        json!({"tasks_removed": 9, "tasks_seeded": 8})
    );
    assert_eq!(list().await, 6);
}

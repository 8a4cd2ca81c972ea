//! One task by id (`show`, `wait`), `watch`, and `completions`.

use super::{Cli, code, server};
use crate::support::cases;

async fn shows_a_task_in(format: &str, check: fn(&str, &str)) {
    let h = server().await;
    let id = h.submit_detached("local", "SELECT 1 AS one").await;
    h.wait_terminal(&id).await;
    let ran = Cli::of(&h).run(["show", &id, "--format", format]).await;
    ran.expect(code::OK);
    check(&ran.stdout, &id);
}

fn as_table(out: &str, id: &str) {
    let fields: Vec<(&str, &str)> = out
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k, v.trim())
        })
        .collect();
    assert_eq!(fields[0], ("id", id), "{out}");
    assert!(fields.contains(&("status", "COMPLETED")), "{out}");
    assert!(fields.contains(&("sql_query", "SELECT 1 AS one")), "{out}");
    let started = fields.iter().find(|(k, _)| *k == "start_time").unwrap().1;
    assert!(
        chrono::DateTime::parse_from_rfc3339(started).is_ok() && started.ends_with('Z'),
        "{started}"
    );
}

fn as_json(out: &str, id: &str) {
    let v: serde_json::Value = serde_json::from_str(out).unwrap();
    assert_eq!(v["id"], id);
    assert_eq!(v["status"], "COMPLETED");
    assert_eq!(v["type"], "SQL", "the API's own field name");
    assert!(out.contains("\n  \"id\""), "pretty: {out}");
}

fn as_json_line(out: &str, id: &str) {
    assert_eq!(out.lines().count(), 1, "{out}");
    as_json_fields(out, id);
}

fn as_json_fields(out: &str, id: &str) {
    let v: serde_json::Value = serde_json::from_str(out).unwrap();
    assert_eq!(v["id"], id);
    let started = v["start_time"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(started).is_ok(),
        "{started}"
    );
}

fn as_csv(out: &str, id: &str) {
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("id,name,username,"), "{header}");
    let row = lines.next().unwrap();
    assert!(row.starts_with(&format!("{id},,local,")), "{row}");
    assert_eq!(lines.next(), None);
}

cases! {
    async shows_a_task_in;
    show_prints_the_fields_a_task_has_as_a_table: "table" => as_table,
    show_prints_the_task_as_the_apis_json_object: "json" => as_json,
    show_prints_the_task_as_one_json_line: "jsonl" => as_json_line,
    show_prints_the_task_as_a_csv_header_and_row: "csv" => as_csv,
}

#[tokio::test]
async fn wait_with_a_timeout_on_a_long_task_exits_5_and_says_how_to_wait_again() {
    let h = server().await;
    let id = h.submit_detached("local", "SELECT sleep(20000)").await;
    let ran = Cli::of(&h).run(["wait", &id, "--timeout", "300ms"]).await;
    ran.expect(code::TIMEOUT).no_debug_on_stderr();
    assert_eq!(ran.stdout, "");
    let mut lines = ran.stderr.lines();
    let error = lines.next().unwrap();
    assert!(
        error.starts_with("error: timed out after")
            && error.ends_with(&format!("waiting for task {id}")),
        "{error}"
    );
    assert_eq!(
        lines.next(),
        Some(
            format!("hint: the task keeps running; wait again with: tiledb-tasks wait {id}")
                .as_str()
        )
    );
    assert_eq!(h.task(&id).await.status.unwrap().to_string(), "RUNNING");
}

#[tokio::test]
async fn wait_on_a_task_that_fails_prints_it_and_exits_4() {
    let h = server().await;
    let id = h.submit_detached("local", "SELECT * FROM nowhere").await;
    let ran = Cli::of(&h).run(["wait", &id, "-o", "jsonl"]).await;
    ran.expect(code::TASK_FAILED).no_debug_on_stderr();
    let task = &ran.json_lines()[0];
    assert_eq!(task["status"], "FAILED");
    assert_eq!(task["status_message"], "no such table: nowhere");
    assert!(
        ran.stderr.contains("no such table: nowhere"),
        "{}",
        ran.stderr
    );
}

#[tokio::test]
async fn show_of_an_unknown_task_is_a_clear_error() {
    let h = server().await;
    let ran = Cli::of(&h).run(["show", "no-such-task"]).await;
    ran.expect(code::ERROR).no_debug_on_stderr();
    assert!(
        ran.stderr.starts_with("error: the service answered 404"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("no-such-task"), "{}", ran.stderr);
}

#[tokio::test]
async fn watch_off_a_terminal_prints_one_snapshot_per_refresh_and_ends_after_count() {
    let h = server().await;
    for q in ["SELECT 1", "SELECT 2", "SELECT 3"] {
        let id = h.submit_detached("local", q).await;
        h.wait_terminal(&id).await;
    }
    let cli = Cli::of(&h);
    // JSON: one snapshot per line, the most recent --limit tasks, newest first.
    let ran = cli
        .run([
            "watch",
            "--interval",
            "10ms",
            "--count",
            "3",
            "--limit",
            "2",
            "-o",
            "json",
        ])
        .await;
    ran.expect(code::OK);
    let snapshots = ran.json_lines();
    assert_eq!(snapshots.len(), 3, "{}", ran.stdout);
    for s in &snapshots {
        let queries: Vec<&str> = s
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["sql_query"].as_str().unwrap())
            .collect();
        assert_eq!(queries, ["SELECT 3", "SELECT 2"]);
    }
    // A table: each snapshot a title line and a table, a blank line apart, no escapes.
    let ran = cli
        .run([
            "watch",
            "--interval",
            "10ms",
            "--count",
            "2",
            "--columns",
            "status,sql_query",
            "-o",
            "table",
        ])
        .await;
    ran.expect(code::OK);
    assert!(!ran.stdout.contains('\u{1b}'), "{:?}", ran.stdout);
    let blocks: Vec<&str> = ran.stdout.split("\n\n").collect();
    assert_eq!(blocks.len(), 2, "{}", ran.stdout);
    for b in blocks {
        let lines: Vec<&str> = b.lines().collect();
        assert!(lines[0].starts_with("every 10ms · "), "{b}");
        assert!(lines[0].ends_with(" · 3 most recent tasks"), "{b}");
        assert_eq!(lines[1], "STATUS     SQL_QUERY");
        assert_eq!(
            &lines[2..],
            [
                "COMPLETED  SELECT 3",
                "COMPLETED  SELECT 2",
                "COMPLETED  SELECT 1"
            ]
        );
    }
}

async fn completes_for(shell: &str, marker: &str) {
    let ran = Cli::new(None, None).run(["completions", shell]).await;
    ran.expect(code::OK);
    assert!(ran.stdout.contains(marker), "{shell}: {}", ran.stdout);
    for sub in ["sql", "list", "show", "result", "wait", "watch"] {
        assert!(ran.stdout.contains(sub), "{shell} completes {sub}");
    }
    assert!(
        ran.stdout.contains("format") && ran.stdout.contains("jsonl"),
        "{shell} completes --format and its values"
    );
}

cases! {
    async completes_for;
    completions_for_bash: "bash" => "complete -F _tiledb__tasks",
    completions_for_zsh: "zsh" => "#compdef tiledb-tasks",
    completions_for_fish: "fish" => "complete -c tiledb-tasks",
}

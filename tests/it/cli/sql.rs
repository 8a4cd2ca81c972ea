//! `tiledb-tasks sql`: rows in each format, parameters, a failing query, `--no-wait` then `wait`
//! and `result`, and Ctrl-C while waiting.

use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::{Cli, code, interrupt, server};
use crate::support::cases;
use crate::support::prelude::ArrayTaskStatus;

/// Two rows with a comma, a quote, a NULL and a REAL, in column order `n, s, z`.
const ROWS: &str = "SELECT 1 AS n, 'x, y' AS s, NULL AS z UNION ALL SELECT 2, 'q\"uote', 3.5";

async fn prints_rows_in(format: &str, expected: &str) {
    let h = server().await;
    let ran = Cli::of(&h)
        .run(["sql", "local", ROWS, "--format", format])
        .await;
    ran.expect(code::OK);
    assert_eq!(ran.stdout, expected);
    assert!(
        ran.stderr.contains("submitted"),
        "off a terminal, stderr names the task once (and shows no spinner): {}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains('\u{1b}'),
        "no terminal escapes: {:?}",
        ran.stderr
    );
}

cases! {
    async prints_rows_in;
    sql_prints_rows_as_an_aligned_table: "table" =>
        "n  s       z\n1  x, y    NULL\n2  q\"uote  3.5\n(2 rows)\n",
    sql_prints_rows_as_a_json_array_in_column_order: "json" =>
        "[\n  {\n    \"n\": 1,\n    \"s\": \"x, y\",\n    \"z\": null\n  },\n  {\n    \"n\": 2,\n    \"s\": \"q\\\"uote\",\n    \"z\": 3.5\n  }\n]\n",
    sql_prints_rows_as_json_lines: "jsonl" =>
        "{\"n\":1,\"s\":\"x, y\",\"z\":null}\n{\"n\":2,\"s\":\"q\\\"uote\",\"z\":3.5}\n",
    sql_prints_rows_as_csv_with_a_header: "csv" =>
        "n,s,z\n1,\"x, y\",\n2,\"q\"\"uote\",3.5\n",
}

#[tokio::test]
async fn sql_binds_params_in_order_as_json_values_or_text_after_its_init_commands() {
    let h = server().await;
    let ran = Cli::of(&h)
        .run([
            "sql",
            "local",
            "SELECT ? AS a, ? AS b, ? AS c, ? AS d, ? AS e, x + ? AS f FROM p",
            "--param",
            "10",
            "--param",
            "abc",
            "--param",
            "\"10\"",
            "--param",
            "-2.5",
            "-p",
            "null",
            "-p",
            "1",
            "--init-command",
            "CREATE TABLE p(x INTEGER)",
            "--init-command",
            "INSERT INTO p VALUES (41)",
            "-o",
            "jsonl",
        ])
        .await;
    ran.expect(code::OK);
    assert_eq!(
        ran.stdout,
        "{\"a\":10,\"b\":\"abc\",\"c\":\"10\",\"d\":-2.5,\"e\":null,\"f\":42}\n"
    );
}

#[tokio::test]
async fn a_failing_query_exits_4_with_sqlites_message_and_the_task_id() {
    let h = server().await;
    let ran = Cli::of(&h)
        .run(["sql", "local", "SELECT * FROM missing_table"])
        .await;
    ran.expect(code::TASK_FAILED).no_debug_on_stderr();
    assert_eq!(ran.stdout, "");
    let failed = h.list("status=FAILED").await.array_tasks;
    assert_eq!(failed.len(), 1, "one task, recorded FAILED");
    let id = failed[0].id.clone().unwrap();
    let error = ran
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap();
    assert_eq!(
        error,
        format!("error: task {id} ended FAILED: no such table: missing_table")
    );
}

#[tokio::test]
async fn no_wait_prints_the_task_id_and_wait_then_result_collect_it() {
    let h = server().await;
    let cli = Cli::of(&h);
    let ran = cli
        .run([
            "sql",
            "local",
            "SELECT sleep(300) AS s, 'done' AS d",
            "--no-wait",
            "-o",
            "json",
        ])
        .await;
    ran.expect(code::OK);
    assert_eq!(ran.stderr, "", "nothing waited for, nothing to say");
    let id = ran.json()["id"].as_str().expect("{\"id\": ...}").to_owned();
    let task = h.task(&id).await;
    assert_eq!(
        task.sql_query.as_deref(),
        Some("SELECT sleep(300) AS s, 'done' AS d")
    );

    let waited = cli.run(["wait", &id, "-o", "json"]).await;
    waited.expect(code::OK);
    let task = waited.json();
    assert_eq!(task["id"], id.as_str());
    assert_eq!(task["status"], "COMPLETED");
    assert!(task["finish_time"].is_string());

    let result = cli.run(["result", &id, "--format", "csv"]).await;
    result.expect(code::OK);
    assert_eq!(result.stdout, "s,d\n300,done\n");

    // In a table, the bare id: `ID=$(tiledb-tasks sql ... --no-wait -o table)`.
    let bare = cli
        .run(["sql", "local", "SELECT 1", "--no-wait", "-o", "table"])
        .await;
    bare.expect(code::OK);
    let bare_id = bare.stdout.trim_end();
    assert_eq!(h.task(bare_id).await.id.as_deref(), Some(bare_id));
    assert_eq!(h.list("").await.array_tasks.len(), 2, "each query ran once");
}

#[tokio::test]
async fn ctrl_c_while_waiting_leaves_the_task_alone_and_prints_the_command_that_resumes() {
    let h = server().await;
    let cli = Cli::of(&h);
    let mut child = cli.spawn(["sql", "local", "SELECT sleep(1500) AS slept"]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    // The binary names the task as soon as the service has: then it is waiting.
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), stderr.next_line())
        .await
        .expect("the task is named promptly")
        .unwrap()
        .expect("a line");
    let id = line
        .strip_prefix("task ")
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    interrupt(&child).await;
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("it stops at once")
        .unwrap();
    assert_eq!(status.code(), Some(code::INTERRUPTED));
    let mut rest = String::new();
    while let Ok(Some(l)) = stderr.next_line().await {
        rest.push_str(&l);
        rest.push('\n');
    }
    assert!(
        rest.starts_with(&format!("interrupted: stopped waiting for task {id}")),
        "{rest}"
    );
    let resume = format!("tiledb-tasks wait {id}");
    assert!(
        rest.contains(&format!("hint: wait for it again: {resume}\n")),
        "{rest}"
    );
    assert!(
        rest.contains(&format!("tiledb-tasks result {id}")),
        "{rest}"
    );

    // Left alone: not cancelled, still running or done by itself.
    let status = h.task(&id).await.status.unwrap();
    assert!(
        matches!(
            status,
            ArrayTaskStatus::Running | ArrayTaskStatus::Completed
        ),
        "{status}"
    );
    // The command printed resumes the wait, and the result is whole.
    let args: Vec<&str> = resume.split(' ').skip(1).collect();
    let waited = cli.run(args).await;
    waited.expect(code::OK);
    assert_eq!(waited.json_lines()[0]["status"], "COMPLETED");
    let result = cli.run(["result", &id]).await;
    result.expect(code::OK);
    assert_eq!(result.stdout, "{\"slept\":1500}\n");
    assert_eq!(
        h.list("").await.array_tasks.len(),
        1,
        "never submitted again"
    );
}

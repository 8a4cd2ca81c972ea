//! `tiledb-tasks list`: filters, `--limit`, `--columns`, each format; and a listing of 20,000
//! tasks that prints as it goes, in flat memory.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::{Cli, Ran, code, server};
use crate::support::cases;
use crate::support::gate::Gate;
use crate::support::local::Harness;
use crate::support::pager::Pager;

/// Records one finished task per `(name, query)`, oldest first.
async fn seed_named(h: &Harness, tasks: &[(&str, &str)]) -> Vec<String> {
    let mut ids = Vec::new();
    for (name, query) in tasks {
        let resp = h
            .sql(
                "local",
                json!({"query": query, "name": name, "dont_download_results": true, "store_results": true}),
            )
            .await;
        let id = crate::support::local::task_id(&resp);
        h.wait_terminal(&id).await;
        ids.push(id);
    }
    ids
}

/// Three completed tasks and a failed one, newest last: `alpha-1`, `alpha-2`, `beta`, `broken`.
async fn four_tasks() -> (Harness, Vec<String>) {
    let h = server().await;
    let ids = seed_named(
        &h,
        &[
            ("alpha-1", "SELECT 1"),
            ("alpha-2", "SELECT 2"),
            ("beta", "SELECT 3"),
            ("broken", "SELECT * FROM nowhere"),
        ],
    )
    .await;
    (h, ids)
}

fn names(ran: &Ran) -> Vec<String> {
    ran.json_lines()
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn list_applies_each_filter_flag() {
    let (h, _) = four_tasks().await;
    let cli = Cli::of(&h);
    let list = |args: &'static [&'static str]| {
        let cli = &cli;
        async move {
            let ran = cli.run(["list"].iter().chain(args)).await;
            ran.expect(code::OK);
            names(&ran)
        }
    };
    assert_eq!(
        list(&[]).await,
        ["broken", "beta", "alpha-2", "alpha-1"],
        "newest first"
    );
    assert_eq!(list(&["--status", "failed"]).await, ["broken"]);
    assert_eq!(
        list(&["-s", "COMPLETED", "--search", "alpha"]).await,
        ["alpha-2", "alpha-1"]
    );
    assert_eq!(
        list(&["--order-by", "name"]).await,
        ["alpha-1", "alpha-2", "beta", "broken"]
    );
    assert_eq!(
        list(&["--namespace", "local", "--type", "sql"]).await.len(),
        4
    );
    assert!(list(&["--namespace", "elsewhere"]).await.is_empty());
    assert!(list(&["--exclude-type", "UDF,SQL"]).await.is_empty());
    assert!(list(&["--created-by", "someone-else"]).await.is_empty());
    assert!(
        list(&["--file-type", "notebook"]).await.is_empty(),
        "SQL tasks have no array"
    );
    assert!(list(&["--array", "tiledb://local/a"]).await.is_empty());
    assert_eq!(
        list(&["--start", "1h", "--end", "2100-01-01"]).await.len(),
        4
    );
    assert!(list(&["--end", "2000-01-01"]).await.is_empty());
    assert!(list(&["--start", "2099-01-01T00:00:00Z"]).await.is_empty());
    assert_eq!(list(&["--exclude-file-type", "notebook"]).await.len(), 4);
}

#[tokio::test]
async fn list_limit_prints_at_most_n_tasks_from_any_page() {
    let (h, _) = four_tasks().await;
    let cli = Cli::of(&h);
    let ran = cli.run(["list", "--limit", "3", "--per-page", "2"]).await;
    ran.expect(code::OK);
    assert_eq!(names(&ran), ["broken", "beta", "alpha-2"]);
    let ran = cli.run(["list", "-l", "1"]).await;
    assert_eq!(names(&ran), ["broken"]);
    let ran = cli.run(["list", "--page", "2", "--per-page", "3"]).await;
    assert_eq!(names(&ran), ["alpha-1"], "from the page given");
}

async fn lists_in(format: &str, check: fn(&str, &[String])) {
    let (h, ids) = four_tasks().await;
    let ran = Cli::of(&h)
        .run(["list", "--per-page", "3", "--format", format])
        .await;
    ran.expect(code::OK);
    let newest_first: Vec<String> = ids.into_iter().rev().collect();
    check(&ran.stdout, &newest_first);
}

fn table(out: &str, ids: &[String]) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "a header and a line per task:\n{out}");
    assert!(lines[0].starts_with("ID    "), "{out}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "ID",
            "STATUS",
            "TYPE",
            "NAMESPACE",
            "NAME",
            "START_TIME",
            "DURATION",
            "SQL_QUERY"
        ]
    );
    for (line, id) in lines[1..].iter().zip(ids) {
        assert!(line.starts_with(id.as_str()), "{line}");
    }
    assert!(lines[1].contains("FAILED") && lines[1].contains("SELECT * FROM nowhere"));
    // Columns line up across pages (widths fitted to the first).
    let at = lines[0].find("STATUS").unwrap();
    assert!(
        lines
            .iter()
            .skip(1)
            .all(|l| l[at..].starts_with(|c: char| c.is_ascii_uppercase()))
    );
}

fn json_array(out: &str, ids: &[String]) {
    let v: Value = serde_json::from_str(out).unwrap();
    let got: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids);
    assert_eq!(v[0]["status_message"], "no such table: nowhere");
}

fn json_lines(out: &str, ids: &[String]) {
    let got: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(got, ids);
}

fn csv(out: &str, ids: &[String]) {
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[..4], ["id", "name", "username", "description"]);
    assert!(header.contains(&"start_time") && header.contains(&"sql_query"));
    let start = header.iter().position(|h| *h == "start_time").unwrap();
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), ids.len());
    for (row, id) in rows.iter().zip(ids) {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells[0], id);
        assert_eq!(cells.len(), header.len(), "{row}");
        chrono::DateTime::parse_from_rfc3339(cells[start]).expect("RFC 3339");
    }
}

cases! {
    async lists_in;
    list_prints_a_table_whose_columns_line_up_across_pages: "table" => table,
    list_prints_one_json_array: "json" => json_array,
    list_prints_one_json_line_per_task: "jsonl" => json_lines,
    list_prints_csv_with_a_header_of_the_apis_field_names: "csv" => csv,
}

#[tokio::test]
async fn list_columns_choose_the_fields_of_the_table_and_of_csv() {
    let (h, ids) = four_tasks().await;
    let cli = Cli::of(&h);
    let ran = cli
        .run([
            "list",
            "--columns",
            "name,status",
            "-o",
            "table",
            "--search",
            "alpha",
        ])
        .await;
    ran.expect(code::OK);
    assert_eq!(
        ran.stdout,
        "NAME     STATUS\nalpha-2  COMPLETED\nalpha-1  COMPLETED\n"
    );
    let ran = cli
        .run([
            "list",
            "--columns",
            "id,status_message",
            "-o",
            "csv",
            "--status",
            "FAILED",
        ])
        .await;
    assert_eq!(
        ran.stdout,
        format!("id,status_message\n{},no such table: nowhere\n", ids[3])
    );
    let ran = cli
        .run([
            "list",
            "--namespace",
            "elsewhere",
            "-o",
            "csv",
            "--columns",
            "id",
        ])
        .await;
    assert_eq!(ran.stdout, "id\n", "an empty listing still has its header");
}

/// The address space a listing's child may take: ten times what it needs (its peak virtual
/// size, `VmPeak`, is about 25 MiB for 20,000 tasks).
const ADDRESS_SPACE_CAP: u64 = 256 << 20;

/// A field of a running process's `/proc/PID/status`, in KiB (`VmHWM`: peak resident memory).
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in {status}"))
}

/// The next line of a child's stdout (a bounded wait); `None` at its end.
async fn next_line(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the child writes on")
        .expect("stdout is readable")
}

fn id_of(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    v["id"].as_str().expect("an id").to_owned()
}

/// Runs `list --per-page PER_PAGE -o jsonl` against `upstream` through a gate that holds the
/// request of the last page. Asserts that the first row arrives, and then every row of the
/// earlier pages, while that page is held (so they were printed before the listing ended);
/// reads the child's peak memory then; lets the last page through and checks the whole listing:
/// `expected` distinct tasks, one request per page (and the check after a full last page), exit 0. Returns the peak memory, in KiB.
async fn listing_through_a_gate(
    upstream: &str,
    key: &str,
    expected: usize,
    per_page: usize,
) -> u64 {
    let last_page = expected.div_ceil(per_page);
    let last = last_page.to_string();
    let gate = Gate::start(upstream, move |target| {
        let Some(query) = target.strip_prefix("/v1/tasks?") else {
            return false;
        };
        url::form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "page" && v == last)
    })
    .await;
    let cli = Cli::new(Some(gate.base()), Some(key));
    let mut child = cli.spawn_capped(
        ADDRESS_SPACE_CAP,
        ["list", "--per-page", &per_page.to_string(), "-o", "jsonl"],
    );
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let mut ids = HashSet::new();
    let first = next_line(&mut lines)
        .await
        .expect("a first row while the last page is held");
    ids.insert(id_of(&first));
    while ids.len() < (last_page - 1) * per_page {
        let line = next_line(&mut lines)
            .await
            .expect("the earlier pages, whole");
        ids.insert(id_of(&line));
    }
    tokio::time::timeout(Duration::from_secs(60), gate.picked())
        .await
        .expect("the last page is asked for");
    let peak = proc_kib(pid, "VmHWM");
    gate.open();
    while let Some(line) = next_line(&mut lines).await {
        ids.insert(id_of(&line));
    }
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("it ends")
        .unwrap();
    assert_eq!(status.code(), Some(code::OK));
    assert_eq!(ids.len(), expected, "every task, once");
    // One request per page, and one more when the last page is full (the SDK checks that
    // nothing follows a full page marked last).
    let checks = usize::from(expected.is_multiple_of(per_page));
    assert_eq!(gate.requests(), last_page + checks, "one request per page");
    peak
}

#[tokio::test]
async fn list_prints_the_first_pages_before_the_local_server_serves_the_last() {
    let h = server().await;
    for i in 0..25 {
        h.submit_detached("local", &format!("SELECT {i}")).await;
    }
    listing_through_a_gate(&h.base, &h.key, 25, 10).await;
}

#[tokio::test]
async fn listing_20000_tasks_prints_rows_before_the_last_page_and_memory_stays_flat() {
    let small = Pager::start(2_000).await;
    let large = Pager::start(20_000).await;
    let started = Instant::now();
    // Two processes, measured each on its own, side by side.
    let (small_kib, large_kib) = tokio::join!(
        listing_through_a_gate(small.base(), "key", 2_000, 500),
        listing_through_a_gate(large.base(), "key", 20_000, 500),
    );
    eprintln!(
        "peak RSS: 2,000 tasks {small_kib} KiB, 20,000 tasks {large_kib} KiB ({:?})",
        started.elapsed()
    );
    // Keeping 18,000 more tasks would take over 10 MiB (a task is ~0.5 KiB as JSON, more as a
    // struct); flat means growing by no more than the SDK's bounded window of ids it
    // de-duplicates with (10,000 ids) and the pages it fetches ahead (`DEFAULT_PREFETCH`, 4 pages
    // of 500 tasks here: bodies and decoded tasks; the longer listing has more of them in flight
    // over its life, and the allocator does not hand every page back at once). Measured: +4.2 MiB.
    assert!(
        large_kib <= small_kib + 6 * 1024,
        "peak RSS grew from {small_kib} KiB to {large_kib} KiB for 10x the tasks"
    );
}

#[tokio::test]
async fn a_reader_that_stops_early_ends_the_listing_quietly_with_success() {
    // `tiledb-tasks list | head -1`: the write to the closed pipe ends the listing, silently.
    let pager = Pager::start(20_000).await;
    let cli = Cli::new(Some(pager.base()), Some("key"));
    let mut child = cli.spawn(["list", "--per-page", "100"]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    next_line(&mut lines).await.expect("a first row");
    drop(lines);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("it stops")
        .unwrap();
    assert_eq!(out.status.code(), Some(code::OK));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

//! The command line, as clap parses it: commands, flags, and the parsers of their values (a bad
//! value is a usage error, exit code 2, before anything is sent).

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tiledb_cloud_tasks::model::{ArrayTaskStatus, ArrayTaskType, FileType};

use super::exit::EXIT_CODES_HELP;

/// Run SQL on TileDB Cloud and watch its tasks.
///
/// Credentials and host come from the same places as the SDK's (and the Python client's):
/// TILEDB_REST_TOKEN, or TILEDB_REST_USERNAME and TILEDB_REST_PASSWORD; TILEDB_REST_HOST; then
/// ~/.tiledb/cloud.json. A token is never taken on the command line.
#[derive(Debug, Parser)]
#[command(name = "tiledb-tasks", version, after_long_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// The service's address, e.g. https://api.tiledb.com or http://127.0.0.1:8181 (overrides
    /// TILEDB_REST_HOST and the config file).
    // This text is the `--help` of a terminal, where `<...>` around a URL would be noise.
    #[allow(rustdoc::bare_urls)]
    #[arg(long, global = true, value_name = "URL")]
    pub host: Option<String>,

    /// No spinner and no progress lines on stderr (errors are still printed there).
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a query and print its rows (waits for the task, with a spinner on a terminal).
    Sql(SqlArgs),
    /// List tasks, newest first, printing rows as pages arrive.
    List(ListArgs),
    /// Show one task.
    Show(ShowArgs),
    /// Print the stored result of a task (waiting for it if the task is still running).
    Result(ResultArgs),
    /// Wait until a task ends, then print it: exit 0 if it completed, 4 if it failed, 5 on timeout.
    Wait(WaitArgs),
    /// A live table of recent tasks, refreshed until interrupted (or --count refreshes).
    Watch(WatchArgs),
    /// Print a shell completion script (e.g. `tiledb-tasks completions bash > ~/.local/share/bash-completion/completions/tiledb-tasks`).
    Completions(CompletionsArgs),
}

/// How output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people (the default on a terminal).
    Table,
    /// JSON: an array (of rows, or of tasks) or, for one task, an object.
    Json,
    /// One JSON object per line (the default when stdout is not a terminal).
    Jsonl,
    /// CSV with a header line.
    Csv,
}

/// `--format`, shared by every command that prints.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format [default: table on a terminal, jsonl otherwise].
    #[arg(long, short = 'o', value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
}

/// `tiledb-tasks sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The namespace to run in (and be billed to).
    pub namespace: String,
    /// The SQL text; `-` reads it from standard input.
    pub query: String,
    /// A value for the next `?` placeholder: JSON (10, 2.5, true, null, "text") or, when it is not
    /// JSON, the text itself. Repeat for each placeholder, in order.
    #[arg(
        long = "param",
        short = 'p',
        value_name = "VALUE",
        allow_hyphen_values = true
    )]
    pub params: Vec<String>,
    /// SQL run on the same connection before the query (repeatable, in order).
    #[arg(long = "init-command", value_name = "SQL")]
    pub init_commands: Vec<String>,
    /// A name for the task (shown in `list`, found by `list --search`).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Submit, print the task id and exit; collect it later with `wait` and `result`.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting after this long (e.g. 30s, 5m, 1h30m): exit code 5, the task keeps
    /// running [default: no limit].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "no_wait")]
    pub timeout: Option<Duration>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The filters of `GET /v1/tasks`, shared by `list` and `watch`.
#[derive(Debug, Clone, Args)]
pub struct Filters {
    /// Only tasks in this namespace.
    #[arg(long, short = 'n', value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Only tasks run by this user.
    #[arg(long, value_name = "USER")]
    pub created_by: Option<String>,
    /// Only tasks on this array (tiledb://namespace/name).
    #[arg(long, value_name = "URI")]
    pub array: Option<String>,
    /// Only tasks in this status: FAILED, QUEUED, COMPLETED, RUNNING, RESOURCES_UNAVAILABLE,
    /// UNKNOWN, CANCELLED, DENIED (any case; other values are sent as given).
    #[arg(long, short = 's', value_name = "STATUS", value_parser = parse_status)]
    pub status: Option<ArrayTaskStatus>,
    /// Only tasks of this type: SQL, UDF, QUERY, GENERIC_UDF, BATCH_UDF, CLIENT_COMPUTATION.
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_task_type)]
    pub task_type: Option<ArrayTaskType>,
    /// Leave out tasks of these types (repeatable or comma-separated).
    #[arg(long, value_name = "TYPE", value_delimiter = ',', value_parser = parse_task_type)]
    pub exclude_type: Vec<ArrayTaskType>,
    /// Only tasks whose array has one of these file types: notebook, user_defined_function,
    /// ml_model, file, registered_task_graph (repeatable or comma-separated).
    #[arg(long, value_name = "FILE_TYPE", value_delimiter = ',', value_parser = parse_file_type)]
    pub file_type: Vec<FileType>,
    /// Leave out tasks whose array has these file types (repeatable or comma-separated).
    #[arg(long, value_name = "FILE_TYPE", value_delimiter = ',', value_parser = parse_file_type)]
    pub exclude_file_type: Vec<FileType>,
    /// Only tasks started at or after TIME: RFC 3339 (2026-03-01T12:00:00Z), a date
    /// (2026-03-01, midnight UTC), or a duration ago (90m, 2h, 7d).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub start: Option<DateTime<Utc>>,
    /// Only tasks started at or before TIME (same forms as --start) [default: now].
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub end: Option<DateTime<Utc>>,
    /// Only tasks whose name, namespace or query contains TEXT.
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// The order: start_time (newest first, the service's default) or name.
    #[arg(long, alias = "orderby", value_name = "ORDER")]
    pub order_by: Option<String>,
}

/// `tiledb-tasks list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// Print at most N tasks [default: all].
    #[arg(long, short = 'l', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Tasks fetched per request [default: 100, or --limit if smaller].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub per_page: Option<u64>,
    /// The page to start from (1-based), e.g. to resume a listing that stopped.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub page: Option<u64>,
    /// The fields to print (table and csv), by their API names, comma-separated, e.g.
    /// id,status,start_time,sql_query.
    #[arg(long, value_name = "FIELDS", value_delimiter = ',')]
    pub columns: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `tiledb-tasks show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The task id.
    pub id: String,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `tiledb-tasks result`.
#[derive(Debug, Args)]
pub struct ResultArgs {
    /// The task id.
    pub id: String,
    /// Give up waiting after this long: exit code 5 [default: no limit].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `tiledb-tasks wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The task id.
    pub id: String,
    /// Give up waiting after this long: exit code 5, the task keeps running [default: no limit].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `tiledb-tasks watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub filters: Filters,
    /// How many of the most recent tasks to show.
    #[arg(long, short = 'l', default_value_t = 20, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub limit: u64,
    /// Time between refreshes.
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Duration,
    /// Stop after N refreshes (exit code 0) [default: until interrupted].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// The fields to print (table and csv), as for `list`.
    #[arg(long, value_name = "FIELDS", value_delimiter = ',')]
    pub columns: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `tiledb-tasks completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `30s`, `5m`, `1h30m`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("expected a duration such as 30s, 5m, 1h30m or 500ms ({e})"))
}

/// RFC 3339, a date (midnight UTC), or a duration ago.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    parse_time_at(s, Utc::now())
}

fn parse_time_at(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    if let Ok(ago) = humantime::parse_duration(s)
        && let Ok(ago) = chrono::Duration::from_std(ago)
        && let Some(t) = now.checked_sub_signed(ago)
    {
        return Ok(t);
    }
    Err(
        "expected an RFC 3339 time (2026-03-01T12:00:00Z), a date (2026-03-01) or a duration \
         ago (90m, 2h, 7d)"
            .to_owned(),
    )
}

fn non_empty(s: &str) -> Result<&str, String> {
    let s = s.trim();
    if s.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(s)
    }
}

fn parse_status(s: &str) -> Result<ArrayTaskStatus, String> {
    Ok(ArrayTaskStatus::from(
        non_empty(s)?.to_ascii_uppercase().as_str(),
    ))
}

fn parse_task_type(s: &str) -> Result<ArrayTaskType, String> {
    Ok(ArrayTaskType::from(
        non_empty(s)?.to_ascii_uppercase().as_str(),
    ))
}

fn parse_file_type(s: &str) -> Result<FileType, String> {
    Ok(FileType::from(non_empty(s)?.to_ascii_lowercase().as_str()))
}

/// A `--param` value: JSON when it parses as JSON, else the text as a string.
pub fn param_value(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;
    use serde_json::json;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_read_as_people_write_them_and_bare_numbers_are_refused() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["30", "soon", "", "-5s"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("expected a duration"), "{bad}: {e}");
        }
    }

    #[test]
    fn times_are_rfc3339_dates_or_durations_ago() {
        let now = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let t = |s| parse_time_at(s, now).map(|t| t.to_rfc3339());
        assert_eq!(
            t("2026-02-01T10:00:00+02:00").unwrap(),
            "2026-02-01T08:00:00+00:00"
        );
        assert_eq!(t("2026-02-01").unwrap(), "2026-02-01T00:00:00+00:00");
        assert_eq!(t("2h").unwrap(), "2026-03-01T10:00:00+00:00");
        assert_eq!(t("1d").unwrap(), "2026-02-28T12:00:00+00:00");
        assert!(t("yesterday").is_err());
        assert!(t("2026-13-01").is_err());
    }

    #[test]
    fn params_are_json_when_they_parse_else_text() {
        assert_eq!(param_value("10"), json!(10));
        assert_eq!(param_value("2.5"), json!(2.5));
        assert_eq!(param_value("true"), json!(true));
        assert_eq!(param_value("null"), json!(null));
        assert_eq!(param_value("\"10\""), json!("10"));
        assert_eq!(param_value("abc"), json!("abc"));
        assert_eq!(param_value("007"), json!("007"));
        assert_eq!(param_value(""), json!(""));
    }

    #[test]
    fn enum_filters_take_any_case_and_keep_unknown_values() {
        assert_eq!(parse_status("failed"), Ok(ArrayTaskStatus::Failed));
        assert_eq!(
            parse_status("paused"),
            Ok(ArrayTaskStatus::Other("PAUSED".into()))
        );
        assert_eq!(parse_task_type("sql"), Ok(ArrayTaskType::Sql));
        assert_eq!(parse_file_type("NOTEBOOK"), Ok(FileType::Notebook));
        assert!(parse_status(" ").is_err());
    }
}

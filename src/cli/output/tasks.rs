//! Tasks in each format: streamed page by page (`list`), one at a time (`show`, `wait`), or as a
//! snapshot (`watch`).
//!
//! Columns are the API's field names. `json` and `jsonl` are the SDK's model serialized (the
//! API's wire form, fields in the spec's order); `table` and `csv` read their columns from that
//! same JSON object, so no format can disagree with another about a field's name or value.

use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use tiledb_cloud_tasks::ArrayTask;

use super::{Table, clean, csv_cell, csv_record};
use crate::cli::args::Format;
use crate::cli::exit::{CliError, Code};

/// Every field of an `ArrayTask`, in the spec's order: the valid `--columns`, and the columns of
/// `csv` by default (a stable header: a field the API adds later goes at the end).
pub const FIELDS: &[&str] = &[
    "id",
    "name",
    "username",
    "description",
    "array_metadata",
    "subarray",
    "memory",
    "cpu",
    "namespace",
    "status",
    "status_message",
    "start_time",
    "finish_time",
    "cost",
    "egress_cost",
    "access_cost",
    "query_type",
    "udf_code",
    "udf_language",
    "sql_query",
    "type",
    "activity",
    "logs",
    "duration",
    "sql_init_commands",
    "sql_parameters",
    "result_format",
    "task_graph_uuid",
    "client_node_uuid",
    "cloud_provider",
    "cloud_region",
];

/// The table's columns unless `--columns` says otherwise.
pub const TABLE_COLUMNS: &[&str] = &[
    "id",
    "status",
    "type",
    "namespace",
    "name",
    "start_time",
    "duration",
    "sql_query",
];

/// The columns to print: `--columns` (checked against [`FIELDS`]), or the format's default.
pub fn columns(asked: &[String], format: Format) -> Result<Vec<String>, CliError> {
    if asked.is_empty() {
        let default = if format == Format::Table {
            TABLE_COLUMNS
        } else {
            FIELDS
        };
        return Ok(default.iter().map(|c| (*c).to_owned()).collect());
    }
    let mut out = Vec::new();
    for c in asked {
        let c = c.trim().to_ascii_lowercase();
        if !FIELDS.contains(&c.as_str()) {
            return Err(CliError::message(
                Code::Usage,
                format!("unknown column {c:?} for --columns"),
            )
            .hint(format!(
                "columns are the API's field names: {}",
                FIELDS.join(", ")
            )));
        }
        out.push(c);
    }
    Ok(out)
}

/// The task as the API's JSON object.
fn object(task: &ArrayTask) -> io::Result<Map<String, Value>> {
    match serde_json::to_value(task)? {
        Value::Object(m) => Ok(m),
        _ => Err(io::Error::other("a task did not serialize to an object")),
    }
}

/// How wide a table column may get.
fn cap(column: &str) -> usize {
    match column {
        "id" | "task_graph_uuid" | "client_node_uuid" => 36,
        "sql_query" | "status_message" | "description" | "udf_code" | "logs" => 48,
        _ => 32,
    }
}

/// A field as a table shows it: times to the second, `duration` (nanoseconds) readable.
fn table_cell(column: &str, v: Option<&Value>) -> String {
    match (column, v) {
        ("start_time" | "finish_time", Some(Value::String(s))) => DateTime::parse_from_rfc3339(s)
            .map(|t| {
                t.with_timezone(&Utc)
                    .to_rfc3339_opts(SecondsFormat::Secs, true)
            })
            .unwrap_or_else(|_| clean(s)),
        ("duration", Some(Value::Number(n))) => match n.as_u64() {
            Some(ns) => readable(std::time::Duration::from_nanos(ns)),
            None => n.to_string(),
        },
        _ => clean(&csv_cell(v)),
    }
}

/// `850ms`, `12.3s`, `4m05s`, `2h03m`.
fn readable(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if secs < 1 {
        format!("{}ms", d.as_millis())
    } else if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

fn header(columns: &[String]) -> Vec<String> {
    columns.iter().map(|c| c.to_ascii_uppercase()).collect()
}

fn table_row(columns: &[String], task: &Map<String, Value>) -> Vec<String> {
    columns.iter().map(|c| table_cell(c, task.get(c))).collect()
}

fn csv_row(columns: &[String], task: &Map<String, Value>) -> io::Result<Vec<u8>> {
    csv_record(columns.iter().map(|c| csv_cell(task.get(c))))
}

/// Writes a listing page by page, in constant memory: nothing of a page is kept once written.
/// `json` is one array, a task per line; the table's widths are fitted to the first page.
pub struct TaskWriter<W: Write> {
    out: W,
    format: Format,
    columns: Vec<String>,
    table: Option<Table>,
    /// The CSV header is out.
    started: bool,
    written: u64,
}

impl<W: Write> TaskWriter<W> {
    pub fn new(out: W, format: Format, columns: Vec<String>) -> Self {
        TaskWriter {
            out,
            format,
            columns,
            table: None,
            started: false,
            written: 0,
        }
    }

    /// Writes the page's tasks and flushes, so they show before the next page arrives.
    pub fn page(&mut self, tasks: &[ArrayTask]) -> io::Result<()> {
        match self.format {
            Format::Jsonl => {
                for t in tasks {
                    serde_json::to_writer(&mut self.out, t)?;
                    self.out.write_all(b"\n")?;
                }
            }
            Format::Json => {
                for t in tasks {
                    self.out
                        .write_all(if self.written == 0 { b"[\n" } else { b",\n" })?;
                    serde_json::to_writer(&mut self.out, t)?;
                    self.written += 1;
                }
            }
            Format::Csv => {
                if !self.started {
                    self.out.write_all(&csv_record(&self.columns)?)?;
                    self.started = true;
                }
                for t in tasks {
                    self.out.write_all(&csv_row(&self.columns, &object(t)?)?)?;
                }
            }
            Format::Table => {
                let objects = tasks.iter().map(object).collect::<io::Result<Vec<_>>>()?;
                let rows: Vec<Vec<String>> = objects
                    .iter()
                    .map(|t| table_row(&self.columns, t))
                    .collect();
                if self.table.is_none() {
                    let header = header(&self.columns);
                    let caps: Vec<usize> = self.columns.iter().map(|c| cap(c)).collect();
                    let table = Table::fit(&header, &rows, &caps);
                    writeln!(self.out, "{}", table.line(&header))?;
                    self.table = Some(table);
                }
                if let Some(table) = &self.table {
                    for row in &rows {
                        writeln!(self.out, "{}", table.line(row))?;
                    }
                }
            }
        }
        if self.format != Format::Json {
            self.written += tasks.len() as u64;
        }
        self.out.flush()
    }

    /// Ends the output: closes the JSON array (`[]` when there was nothing), or says that the
    /// table is empty (on stderr, so that stdout stays empty).
    pub fn finish(mut self) -> io::Result<()> {
        match self.format {
            Format::Json if self.written == 0 => self.out.write_all(b"[]\n")?,
            Format::Json => self.out.write_all(b"\n]\n")?,
            Format::Csv if !self.started => {
                self.out.write_all(&csv_record(&self.columns)?)?;
            }
            Format::Table if self.written == 0 => {
                let _ = writeln!(io::stderr(), "no tasks found");
            }
            _ => {}
        }
        self.out.flush()
    }
}

/// One task: `table` is a list of `field  value` lines (the fields it has), `json` a pretty
/// object, `jsonl` one line, `csv` a header and a row of every field.
pub fn write_task(out: &mut impl Write, format: Format, task: &ArrayTask) -> io::Result<()> {
    let t = object(task)?;
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, task)?;
            out.write_all(b"\n")?;
        }
        Format::Jsonl => {
            serde_json::to_writer(&mut *out, task)?;
            out.write_all(b"\n")?;
        }
        Format::Csv => {
            let columns: Vec<String> = FIELDS.iter().map(|c| (*c).to_owned()).collect();
            out.write_all(&csv_record(&columns)?)?;
            out.write_all(&csv_row(&columns, &t)?)?;
        }
        Format::Table => {
            let width = FIELDS
                .iter()
                .filter(|f| t.contains_key(**f))
                .map(|f| f.len())
                .max()
                .unwrap_or(0);
            for field in FIELDS.iter().filter(|f| t.contains_key(**f)) {
                let value = table_cell(field, t.get(*field));
                writeln!(out, "{field:width$}  {value}")?;
            }
        }
    }
    out.flush()
}

/// One `watch` snapshot, whole: `table` a title line and a table fitted to it; `json` one
/// compact array on one line (one snapshot per line); `jsonl` a line per task; `csv` a header
/// and the rows.
pub fn snapshot(
    format: Format,
    columns: &[String],
    title: &str,
    tasks: &[ArrayTask],
) -> io::Result<String> {
    let objects = tasks.iter().map(object).collect::<io::Result<Vec<_>>>()?;
    let mut out: Vec<u8> = Vec::new();
    match format {
        Format::Json => {
            serde_json::to_writer(&mut out, tasks)?;
            out.push(b'\n');
        }
        Format::Jsonl => {
            for t in tasks {
                serde_json::to_writer(&mut out, t)?;
                out.push(b'\n');
            }
        }
        Format::Csv => {
            out.extend(csv_record(columns)?);
            for t in &objects {
                out.extend(csv_row(columns, t)?);
            }
        }
        Format::Table => {
            writeln!(out, "{title}")?;
            let header = header(columns);
            let rows: Vec<Vec<String>> = objects.iter().map(|t| table_row(columns, t)).collect();
            let caps: Vec<usize> = columns.iter().map(|c| cap(c)).collect();
            let table = Table::fit(&header, &rows, &caps);
            writeln!(out, "{}", table.line(&header))?;
            for row in &rows {
                writeln!(out, "{}", table.line(row))?;
            }
        }
    }
    String::from_utf8(out).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> ArrayTask {
        serde_json::from_value(serde_json::json!({
            "id": "0b7e3a4c-0000-4000-8000-000000000001",
            "name": "nightly, v2",
            "namespace": "local",
            "status": "COMPLETED",
            "type": "SQL",
            "start_time": "2026-03-01T12:00:00.250Z",
            "finish_time": "2026-03-01T12:00:01.500Z",
            "duration": 1_250_000_000u64,
            "sql_query": "SELECT 1\nFROM t",
            "sql_parameters": [1, "a"],
        }))
        .unwrap()
    }

    fn listing(format: Format, columns: &[&str]) -> String {
        let columns = columns.iter().map(|c| (*c).to_owned()).collect();
        let mut out = Vec::new();
        let mut w = TaskWriter::new(&mut out, format, columns);
        w.page(&[task()]).unwrap();
        w.page(&[task()]).unwrap();
        w.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_fields_and_times_are_the_apis() {
        let text = listing(Format::Jsonl, &[]);
        assert!(
            text.starts_with("{\"id\":\"0b7e3a4c"),
            "the spec's field order: {text}"
        );
        let line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["type"], "SQL");
        assert_eq!(line["start_time"], "2026-03-01T12:00:00.250Z");
        assert_eq!(line["duration"], 1_250_000_000u64);
        let all: Vec<Value> = serde_json::from_str(&listing(Format::Json, &[])).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], line);
    }

    #[test]
    fn csv_has_a_header_of_field_names_and_rfc3339_times() {
        let text = listing(Format::Csv, &["id", "name", "start_time", "sql_parameters"]);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("id,name,start_time,sql_parameters"));
        assert_eq!(
            lines.next(),
            Some(
                "0b7e3a4c-0000-4000-8000-000000000001,\"nightly, v2\",2026-03-01T12:00:00.250Z,\"[1,\"\"a\"\"]\""
            )
        );
    }

    #[test]
    fn the_table_shows_seconds_and_readable_durations_on_one_line_per_task() {
        let text = listing(
            Format::Table,
            &["status", "start_time", "duration", "sql_query"],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[0],
            "STATUS     START_TIME            DURATION  SQL_QUERY"
        );
        assert_eq!(
            lines[1],
            "COMPLETED  2026-03-01T12:00:00Z  1.2s      SELECT 1 FROM t"
        );
    }

    #[test]
    fn an_empty_listing_is_still_well_formed() {
        let empty = |format| {
            let mut out = Vec::new();
            TaskWriter::new(&mut out, format, vec!["id".to_owned()])
                .finish()
                .unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(empty(Format::Json), "[]\n");
        assert_eq!(empty(Format::Csv), "id\n");
        assert_eq!(empty(Format::Jsonl), "");
    }

    #[test]
    fn unknown_columns_are_a_usage_error_naming_the_valid_ones() {
        let e = columns(&["id".into(), "colour".into()], Format::Table).unwrap_err();
        assert_eq!(e.code, Code::Usage);
        let text = e.render();
        assert!(
            text.contains("\"colour\"") && text.contains("sql_query"),
            "{text}"
        );
        assert_eq!(
            columns(&["ID".into(), "Status".into()], Format::Csv).unwrap(),
            ["id", "status"]
        );
    }

    #[test]
    fn durations_read_at_a_glance() {
        let d = std::time::Duration::from_millis;
        assert_eq!(readable(d(850)), "850ms");
        assert_eq!(readable(d(12_340)), "12.3s");
        assert_eq!(readable(d(245_000)), "4m05s");
        assert_eq!(readable(d(7_380_000)), "2h03m");
    }
}

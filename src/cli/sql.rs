//! `tiledb-tasks sql NAMESPACE QUERY`: submit through the SDK's `TaskHandle` (so the query is
//! sent once, whatever the network does), follow its updates, print the rows.

use std::io::{Read as _, Write};

use futures::StreamExt as _;
use tiledb_cloud_tasks::{ResultFormat, SqlParameters, Update};

use super::Ctx;
use super::args::{Format, SqlArgs, param_value};
use super::exit::{CliError, Code};
use super::output::{self, rows::Row, rows::write_rows};
use super::progress::follow;

pub async fn run(ctx: &Ctx, args: SqlArgs, out: &mut impl Write) -> Result<(), CliError> {
    let format = output::resolve(args.output.format);
    let query = if args.query == "-" {
        let mut q = String::new();
        std::io::stdin().read_to_string(&mut q).map_err(|e| {
            CliError::new(Code::Usage, e).hint("QUERY `-` reads the SQL from stdin")
        })?;
        q
    } else {
        args.query
    };
    if query.trim().is_empty() {
        return Err(CliError::message(Code::Usage, "the query is empty"));
    }
    let mut params = SqlParameters::query(query).result_format(ResultFormat::Json);
    for p in &args.params {
        params = params.parameter(param_value(p));
    }
    for c in args.init_commands {
        params = params.init_command(c);
    }
    if let Some(name) = args.name {
        params = params.name(name);
    }
    let client = ctx.client()?;
    let handle = client.run_sql(args.namespace, params);
    let handle = match args.timeout {
        Some(d) => handle.deadline(d),
        None => handle.no_deadline(),
    };

    if args.no_wait {
        // Up to the submission only: dropping the updates then stops the wait, not the task.
        let mut updates = handle.updates();
        while let Some(update) = updates.next().await {
            match update {
                Update::Submitted { task_id } => {
                    return write_id(out, format, task_id.as_str()).map_err(CliError::from);
                }
                Update::Finished(Err(e)) => return Err(e.into()),
                Update::Finished(Ok(_)) => break,
                _ => {}
            }
        }
        return Err(CliError::message(
            Code::Error,
            "the service accepted the query without naming its task",
        ));
    }

    let result = follow(ctx, handle.updates(), "running query").await?;
    let rows: Vec<Row> = result.rows()?;
    write_rows(out, format, &rows)?;
    Ok(())
}

/// The id of a submitted task: the bare id (table), `{"id": ...}` (json, jsonl), or a CSV
/// header `id` and the id.
fn write_id(out: &mut impl Write, format: Format, id: &str) -> std::io::Result<()> {
    match format {
        Format::Table => writeln!(out, "{id}")?,
        Format::Json | Format::Jsonl => {
            serde_json::to_writer(&mut *out, &serde_json::json!({ "id": id }))?;
            out.write_all(b"\n")?;
        }
        Format::Csv => {
            out.write_all(&output::csv_record(["id"])?)?;
            out.write_all(&output::csv_record([id])?)?;
        }
    }
    out.flush()
}

//! One task by id: `show` (its record), `result` (its stored rows, waited for), `wait` (until it
//! ends, like the AWS CLI's waiters).

use std::io::Write;

use tiledb_cloud_tasks::{Error, TaskHandle};

use super::Ctx;
use super::args::{ResultArgs, ShowArgs, WaitArgs};
use super::exit::{CliError, Code, classify};
use super::output::{self, rows::Row, rows::write_rows, tasks::write_task};
use super::progress::{Spinner, follow};

pub async fn show(ctx: &Ctx, args: ShowArgs, out: &mut impl Write) -> Result<(), CliError> {
    let format = output::resolve(args.output.format);
    let client = ctx.client()?;
    let task = client.api().task_id_get(args.id.as_str()).await?;
    write_task(out, format, &task)?;
    Ok(())
}

fn bounded(handle: TaskHandle, timeout: Option<std::time::Duration>) -> TaskHandle {
    match timeout {
        Some(d) => handle.deadline(d),
        None => handle.no_deadline(),
    }
}

pub async fn result(ctx: &Ctx, args: ResultArgs, out: &mut impl Write) -> Result<(), CliError> {
    let format = output::resolve(args.output.format);
    let client = ctx.client()?;
    let handle = bounded(client.task(args.id.as_str()), args.timeout);
    let result = follow(ctx, handle.updates(), "waiting for the result").await?;
    let rows: Vec<Row> = result.rows()?;
    write_rows(out, format, &rows)?;
    Ok(())
}

/// Waits on the SDK's handle (its poll schedule, deadline and typed timeout) without reading
/// the result: the body of a ready result is dropped unread. A task that ended without a stored
/// result ended all the same. Then prints the task's final record, also when it failed.
pub async fn wait(ctx: &Ctx, args: WaitArgs, out: &mut impl Write) -> Result<(), CliError> {
    let format = output::resolve(args.output.format);
    let client = ctx.client()?;
    let id = args.id;
    ctx.set_task(&id.as_str().into());
    let handle = bounded(client.task(id.as_str()), args.timeout);
    let mut spinner = Spinner::new(format!("waiting for task {id}"), ctx.quiet);
    let outcome = handle.result_stream().await;
    spinner.finish();
    let failed = match outcome {
        Ok(ready) => {
            drop(ready);
            None
        }
        Err(Error::ResultNotAvailable { .. }) => None,
        Err(e) if classify(&e) == Code::TaskFailed => Some(e),
        Err(e) => return Err(e.into()),
    };
    let task = client.api().task_id_get(id.as_str()).await;
    match (task, failed) {
        (Ok(task), failed) => {
            write_task(out, format, &task)?;
            failed.map_or(Ok(()), |e| Err(e.into()))
        }
        (Err(_), Some(failed)) => Err(failed.into()),
        (Err(e), None) => Err(e.into()),
    }
}

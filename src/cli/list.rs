//! `list` (every matching task, streamed page by page) and `watch` (a snapshot of the most recent
//! ones, refreshed).

use std::io::{IsTerminal as _, Write};

use chrono::{SecondsFormat, Utc};
use futures::{StreamExt as _, TryStreamExt as _};
use tiledb_cloud_tasks::{ArrayTask, TaskList, TaskOrder};

use super::Ctx;
use super::args::{Filters, Format, ListArgs, WatchArgs};
use super::exit::CliError;
use super::output::{
    self,
    tasks::{TaskWriter, columns, snapshot},
};

/// The page size when neither `--per-page` nor a smaller `--limit` says otherwise: small enough
/// that the first rows show at once, large enough that a long listing takes few requests.
const DEFAULT_PER_PAGE: u64 = 100;

/// The filters, on the SDK's `TaskList` (which checks them before sending anything).
fn filtered(mut list: TaskList, f: &Filters) -> TaskList {
    if let Some(v) = &f.namespace {
        list = list.namespace(v.clone());
    }
    if let Some(v) = &f.created_by {
        list = list.created_by(v.clone());
    }
    if let Some(v) = &f.array {
        list = list.array(v.clone());
    }
    if let Some(v) = &f.status {
        list = list.status(v.clone());
    }
    if let Some(v) = &f.task_type {
        list = list.task_type(v.clone());
    }
    for v in &f.exclude_type {
        list = list.exclude_type(v.clone());
    }
    for v in &f.file_type {
        list = list.file_type(v.clone());
    }
    for v in &f.exclude_file_type {
        list = list.exclude_file_type(v.clone());
    }
    if let Some(v) = f.start {
        list = list.start(v);
    }
    if let Some(v) = f.end {
        list = list.end(v);
    }
    if let Some(v) = &f.search {
        list = list.search(v.clone());
    }
    if let Some(v) = &f.order_by {
        list = list.order_by(TaskOrder::from(v.trim()));
    }
    list
}

/// Prints each page as it arrives and keeps none of it: memory stays flat however many tasks
/// there are (the SDK fetches the next page while this one is written).
pub async fn list(ctx: &Ctx, args: ListArgs, out: &mut impl Write) -> Result<(), CliError> {
    let format = output::resolve(args.output.format);
    let columns = columns(&args.columns, format)?;
    let client = ctx.client()?;
    let per_page = args
        .per_page
        .unwrap_or(DEFAULT_PER_PAGE)
        .min(args.limit.unwrap_or(u64::MAX));
    let mut list = filtered(client.tasks(), &args.filters).per_page(per_page);
    if let Some(p) = args.page {
        list = list.page(p);
    }
    let mut pages = list.pages();
    let mut writer = TaskWriter::new(out, format, columns);
    let mut left = args.limit;
    let mut printed = 0u64;
    while let Some(page) = pages.next().await {
        let mut tasks = match page {
            Ok(p) => p.array_tasks,
            Err(e) => {
                let resume = e.resume_page();
                let mut err = CliError::sdk(e);
                if let Some(p) = resume.filter(|_| printed > 0) {
                    err = err.hint(format!(
                        "the tasks before it were printed; list the rest with --page {p}"
                    ));
                }
                return Err(err);
            }
        };
        if let Some(n) = left {
            tasks.truncate(usize::try_from(n).unwrap_or(usize::MAX));
            left = Some(n - tasks.len() as u64);
        }
        writer.page(&tasks)?;
        printed += tasks.len() as u64;
        if left == Some(0) {
            break;
        }
    }
    writer.finish()?;
    Ok(())
}

/// Refreshes a snapshot of the `--limit` most recent tasks every `--interval`. On a terminal,
/// a table is redrawn in place (lines cut to the terminal's width, so the redraw stays exact);
/// otherwise each snapshot is printed after the last one. Ends after `--count` snapshots, or at
/// Ctrl-C.
pub async fn watch(ctx: &Ctx, args: WatchArgs, out: &mut impl Write) -> Result<(), CliError> {
    let format = output::resolve(args.output.format);
    let columns = columns(&args.columns, format)?;
    let client = ctx.client()?;
    let live = format == Format::Table && std::io::stdout().is_terminal();
    let every = humantime::format_duration(args.interval).to_string();
    let mut drawn = 0usize;
    let mut shown = 0u64;
    loop {
        let tasks: Vec<ArrayTask> = filtered(client.tasks(), &args.filters)
            .per_page(args.limit)
            .prefetch(0)
            .stream()
            .take(usize::try_from(args.limit).unwrap_or(usize::MAX))
            .try_collect()
            .await?;
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let title = format!(
            "every {every} · {now} · {} most recent task{}{}",
            tasks.len(),
            if tasks.len() == 1 { "" } else { "s" },
            if live { " · Ctrl-C to stop" } else { "" }
        );
        let text = snapshot(format, &columns, &title, &tasks)?;
        if live {
            let width = usize::from(console::Term::stdout().size().1).max(20);
            if drawn > 0 {
                // Back to the snapshot's first line, and clear from there down.
                write!(out, "\x1b[{drawn}F\x1b[J")?;
            }
            drawn = 0;
            for line in text.lines() {
                writeln!(out, "{}", console::truncate_str(line, width, "…"))?;
                drawn += 1;
            }
        } else {
            if format == Format::Table && shown > 0 {
                writeln!(out)?;
            }
            out.write_all(text.as_bytes())?;
        }
        out.flush()?;
        shown += 1;
        if args.count.is_some_and(|c| shown >= c) {
            return Ok(());
        }
        tokio::time::sleep(args.interval).await;
    }
}

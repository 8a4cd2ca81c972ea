//! Showing a wait: a spinner on stderr with the elapsed time, the task id and the number of polls,
//! only when stderr is a terminal (never in a pipe, a log or a test's captured output). Off a
//! terminal, a single line names the task once it is known, so that a CI log keeps the id.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::BoxStream;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};
use tiledb_cloud_tasks::{SqlResult, TaskId, Update};

use super::Ctx;
use super::exit::{CliError, Code};

/// The spinner, if stderr is a terminal.
pub struct Spinner {
    bar: Option<ProgressBar>,
    what: String,
    task: Option<String>,
    polls: u32,
    quiet: bool,
}

impl Spinner {
    /// A spinner saying `what` ("running query", "waiting for task ..."); nothing at all when
    /// `quiet`.
    pub fn new(what: impl Into<String>, quiet: bool) -> Spinner {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                .with_finish(ProgressFinish::AndClear);
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let mut s = Spinner {
            bar,
            what: what.into(),
            task: None,
            polls: 0,
            quiet,
        };
        s.redraw();
        s
    }

    fn redraw(&mut self) {
        if let Some(bar) = &self.bar {
            let mut msg = self.what.clone();
            if let Some(id) = &self.task {
                msg.push_str(&format!(" · task {id}"));
            }
            if self.polls > 0 {
                msg.push_str(&format!(
                    " · {} poll{}",
                    self.polls,
                    if self.polls == 1 { "" } else { "s" }
                ));
            }
            bar.set_message(msg);
        }
    }

    /// The task is known. Off a terminal, says so once on stderr.
    pub fn task(&mut self, id: &TaskId, announce: bool) {
        self.task = Some(id.to_string());
        if self.bar.is_none() && announce && !self.quiet {
            let _ = writeln!(
                std::io::stderr(),
                "task {id} submitted; waiting for its result (Ctrl-C stops waiting, the task keeps running)"
            );
        }
        self.redraw();
    }

    pub fn polled(&mut self, polls: u32) {
        self.polls = polls;
        self.redraw();
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Follows a handle's updates to its result, keeping `ctx` told of the task (for Ctrl-C) and
/// the spinner up to date.
pub async fn follow(
    ctx: &Ctx,
    mut updates: BoxStream<'static, Update>,
    what: &str,
) -> Result<SqlResult, CliError> {
    let mut spinner = Spinner::new(what, ctx.quiet);
    while let Some(update) = updates.next().await {
        match update {
            Update::Submitted { task_id } => {
                ctx.set_task(&task_id);
                spinner.task(&task_id, true);
            }
            Update::Resumed { task_id } => {
                ctx.set_task(&task_id);
                spinner.task(&task_id, false);
            }
            Update::Polled { attempt, .. } => spinner.polled(attempt),
            Update::Finished(result) => {
                spinner.finish();
                return result.map_err(CliError::sdk);
            }
            _ => {}
        }
    }
    Err(CliError::message(
        Code::Error,
        "the wait ended without a result or an error",
    ))
}

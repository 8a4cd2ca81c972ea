//! Exit codes, and errors as the command line reports them: one readable chain (each cause on its
//! own line, found by walking `std::error::Error::source`), a hint where there is something to
//! do, never Rust `Debug`.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::process::ExitCode;

use tiledb_cloud_tasks::Error;

/// The exit codes, documented in `--help` and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Success.
    Ok = 0,
    /// Anything else: the service failed or could not be reached, a result is not available…
    Error = 1,
    /// Bad usage: an unknown flag, a bad value (clap's own code).
    Usage = 2,
    /// No usable credentials or configuration, or the service refused them (401, 403).
    Auth = 3,
    /// The task ended without a result: failed, cancelled, denied, no resources.
    TaskFailed = 4,
    /// `--timeout` ran out; the task goes on.
    Timeout = 5,
    /// Interrupted (Ctrl-C, SIGINT); a task that was waited for goes on.
    Interrupted = 130,
}

impl From<Code> for ExitCode {
    fn from(c: Code) -> ExitCode {
        ExitCode::from(c as u8)
    }
}

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    error (the service failed or could not be reached, no stored result, ...)
  2    usage error (unknown flag, bad value)
  3    authentication or configuration (no credentials found, 401/403, unusable config)
  4    the task failed (FAILED, CANCELLED, DENIED, RESOURCES_UNAVAILABLE)
  5    timed out (--timeout); the task keeps running
  130  interrupted (Ctrl-C); the task keeps running

Output: --format table|json|jsonl|csv (table on a terminal, jsonl otherwise). JSON fields and
CSV columns are the API's field names; times are RFC 3339.";

/// Where the configuration comes from, for every authentication or configuration failure.
const AUTH_HINT: &str = "credentials come from TILEDB_REST_TOKEN, or TILEDB_REST_USERNAME and \
     TILEDB_REST_PASSWORD, or ~/.tiledb/cloud.json (api_key, or username and password); the \
     host from --host, TILEDB_REST_HOST or the same file";

/// A failure of a command: what to print and how to exit.
#[derive(Debug)]
pub struct CliError {
    pub code: Code,
    error: Box<dyn StdError + Send + Sync>,
    hints: Vec<String>,
    prefix: &'static str,
}

/// A plain message as an error.
#[derive(Debug)]
struct Message(String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Message {}

impl CliError {
    pub fn new(code: Code, error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        CliError {
            code,
            error: error.into(),
            hints: Vec::new(),
            prefix: "error",
        }
    }

    /// What the first line starts with (`error` unless told otherwise).
    pub fn prefix(mut self, prefix: &'static str) -> Self {
        self.prefix = prefix;
        self
    }

    /// Whether this is a write to a closed stdout (`| head`): not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        self.error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub fn message(code: Code, message: impl Into<String>) -> Self {
        CliError::new(code, Message(message.into()))
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// A configuration that yields no usable client (whatever the SDK's error says): exit 3,
    /// with where credentials are read from.
    pub fn config(e: Error) -> Self {
        CliError::new(Code::Auth, e).hint(AUTH_HINT)
    }

    /// An error of the SDK, classified (see [`classify`]), with the hints that go with it.
    pub fn sdk(e: Error) -> Self {
        let code = classify(&e);
        let lost = match &e {
            Error::OutcomeUnknown(u) => Some(format!(
                "the query may have run: look for it before running it again, with `tiledb-tasks list \
                 --search {:?}`",
                u.name()
            )),
            _ => None,
        };
        let mut err = CliError::new(code, e);
        if let Some(hint) = lost {
            err = err.hint(hint);
        }
        if code == Code::Auth {
            err = err.hint(AUTH_HINT);
        }
        if connection_refused(err.error.as_ref()) {
            err = err.hint(
                "nothing answered at that address: check --host or TILEDB_REST_HOST, and that \
                 the service is up",
            );
        }
        err
    }

    /// `error: ...`, each cause on its own `caused by:` line (a cause whose text the line before
    /// already holds is left out), then the hints.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let top = self.error.to_string();
        let _ = writeln!(out, "{}: {top}", self.prefix);
        let mut previous = top;
        let mut source = self.error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !text.is_empty() && !previous.contains(&text) {
                let _ = writeln!(out, "  caused by: {text}");
            }
            previous = text;
            source = cause.source();
        }
        for hint in &self.hints {
            let _ = writeln!(out, "hint: {hint}");
        }
        out
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        CliError::sdk(e)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::new(Code::Error, e)
    }
}

/// The exit code of an SDK error.
///
/// Besides the typed variants: a 401 or 403 is authentication; any other client error that names
/// a task (the service made the task, then refused its query, as a service that runs the query
/// within the `POST` does) is a failed task.
pub fn classify(e: &Error) -> Code {
    match e {
        Error::Timeout(_) => return Code::Timeout,
        Error::TaskFailed(_) => return Code::TaskFailed,
        Error::Config(_) => return Code::Auth,
        Error::InvalidArgument(_) => return Code::Usage,
        Error::Listing(listing) => return classify(listing.error()),
        _ => {}
    }
    match e.status() {
        Some(401 | 403) => Code::Auth,
        Some(404 | 408 | 429) => Code::Error,
        Some(400..=499) if e.task_id().is_some() => Code::TaskFailed,
        _ => Code::Error,
    }
}

/// Whether the chain holds a refused connection.
fn connection_refused(e: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        cur = c.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Layer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn the_chain_prints_each_cause_once_on_its_own_line() {
        let e = Layer(
            "GET http://h/v1/task/x failed: connection refused",
            Some(Box::new(Layer(
                "connection refused",
                Some(Box::new(Layer("os error 111", None))),
            ))),
        );
        let text = CliError::new(Code::Error, e).hint("try again").render();
        assert_eq!(
            text,
            "error: GET http://h/v1/task/x failed: connection refused\n  caused by: os error 111\nhint: try again\n"
        );
    }

    /// Only errors the public API can make here; timeouts, failed tasks and listings are
    /// classified in the command line's integration tests (`tests/it/cli`).
    #[test]
    fn sdk_errors_get_their_codes() {
        let config = tiledb_cloud_tasks::Client::builder()
            .host("htp//x")
            .build()
            .unwrap_err();
        assert_eq!(classify(&config), Code::Auth);
    }
}

//! [`Report`]: an error and every cause under it, each printed once.

use std::error::Error as StdError;
use std::fmt;

use super::Error;

/// An [`Error`] with its whole chain of causes, from [`Error::report`].
///
/// `{}` prints one line, the error then each cause, joined by `: `
/// (`POST http://127.0.0.1:9/v1/sql: could not connect: Connection refused (os error 111)`);
/// `{:#}` prints the error, then each cause on its own `caused by:` line. Every layer's `Display`
/// names only itself, so nothing is printed twice; a cause whose text the layer above already
/// holds is left out all the same (a cause from another crate may repeat itself).
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    error: &'a Error,
}

impl<'a> Report<'a> {
    pub(super) fn new(error: &'a Error) -> Report<'a> {
        Report { error }
    }

    /// The texts of the error and of each cause, as printed.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut cur: Option<&(dyn StdError + 'static)> = Some(self.error);
        while let Some(e) = cur {
            let text = e.to_string();
            if !text.is_empty() && !out.iter().any(|prev| prev.contains(&text)) {
                out.push(text);
            }
            cur = e.source();
        }
        out
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = self.lines();
        if f.alternate() {
            for (i, line) in lines.iter().enumerate() {
                if i == 0 {
                    f.write_str(line)?;
                } else {
                    write!(f, "\n  caused by: {line}")?;
                }
            }
            Ok(())
        } else {
            f.write_str(&lines.join(": "))
        }
    }
}

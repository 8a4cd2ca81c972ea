//! What may be a path segment of a request (a namespace, a task id): checked before anything is
//! sent; `Transport::url` percent-encodes what passes.

use crate::error::{Error, Result};

/// Refuses what cannot be a path segment before anything is sent.
pub(crate) fn check_segment(argument: &'static str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(argument, "is empty"));
    }
    if value == "." || value == ".." {
        return Err(Error::invalid(
            argument,
            format!("{value:?} is not a valid {argument}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(argument, "contains control characters"));
    }
    if value.len() > 1024 {
        return Err(Error::invalid(argument, "is longer than 1024 bytes"));
    }
    Ok(())
}

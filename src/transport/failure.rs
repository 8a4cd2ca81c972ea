//! Why one attempt got no usable reply: what the retry decision and the attempt span are told.

use crate::error::Error;

/// Why one attempt got no usable reply, before the retry decision.
pub(super) struct Failure {
    pub(super) error: Error,
    /// No connection was made: the request was certainly not processed.
    pub(super) connect: bool,
    pub(super) timeout: bool,
    /// Retrying cannot help (a redirect loop, an unusable `Location`, a body past its limit).
    pub(super) fatal: bool,
    /// What went wrong, for the span's `error.type`.
    label: &'static str,
}

impl Failure {
    pub(super) fn new(error: Error, connect: bool, timeout: bool) -> Self {
        let label = if timeout {
            "timeout"
        } else if connect {
            "connect"
        } else {
            "transport"
        };
        Failure {
            error,
            connect,
            timeout,
            fatal: false,
            label,
        }
    }

    /// A failure no retry can help; `label` names it (`redirect`, `too_large`).
    pub(super) fn fatal(error: Error, label: &'static str) -> Self {
        Failure {
            error,
            connect: false,
            timeout: false,
            fatal: true,
            label,
        }
    }

    pub(super) fn kind(&self) -> &'static str {
        self.label
    }
}

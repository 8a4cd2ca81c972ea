//! The integration tests, as one crate: one binary to link instead of one per file.
//!
//! One module per area; the fixtures they share live in [`support`] (see TESTING.md, "Test
//! layout"). Run one area with a module filter, e.g. `cargo test --all-features --test it faults::`.
//!
//! Everything runs in one process, tests in parallel, so nothing here may install process-wide
//! state that another test could see: tracing subscribers are per test and per thread
//! ([`support::trace`]), and the allocator that `memory` measures counts per thread
//! ([`support::alloc`]).

mod support;

mod api;
mod architecture;
mod config;
mod errors;
mod faults;
mod handle;
mod lies;
mod listing;
mod models;
mod packaging;
mod properties;
mod query;
mod results;
mod retries;
mod secrets;
mod submission;
mod telemetry;

#[cfg(all(feature = "cli", feature = "server"))]
mod cli;
#[cfg(feature = "browser-tests")]
mod console;
#[cfg(feature = "server")]
mod e2e;
#[cfg(feature = "server")]
mod emulator;
mod memory;
mod readme;
#[cfg(feature = "server")]
mod roundtrip;
#[cfg(feature = "server")]
mod server;

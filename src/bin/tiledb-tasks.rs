//! `tiledb-tasks`: run SQL on TileDB Cloud and watch its tasks from a shell (feature `cli`).
//!
//! The code lives in `src/cli/`, compiled into this binary rather than into the library, so the
//! compiler holds it to the crate's public API, exactly as any user's program.

#![forbid(unsafe_code)]

#[path = "../cli/mod.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}

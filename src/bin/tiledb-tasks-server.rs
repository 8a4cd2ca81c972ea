//! `tiledb-tasks-server`: the local Tasks server as a program, for SDK users and scripts that want
//! a TileDB Cloud Tasks endpoint on their own machine. Its flags and behaviour are documented in
//! `src/server/cli.rs` (`tiledb-tasks-server --help`).

fn main() -> std::process::ExitCode {
    tiledb_cloud_tasks::server::cli::main()
}

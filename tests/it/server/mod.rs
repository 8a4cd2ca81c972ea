//! The local Tasks server on its own, over raw HTTP (reqwest, not the SDK), except `load`, which
//! drives it with many SDK clients, and `bin`, which runs the `tiledb-tasks-server` binary.

mod auth;
mod bin;
mod console;
mod hostile;
mod http;
mod lifecycle;
mod list;
mod load;
mod results;
mod sql;

//! What the tests share, one home for each: the crate's items ([`prelude`]), SDK clients on a
//! virtual clock ([`clients`]), the scripted fault server ([`fault_server`]), the local-server
//! harness ([`local`]), tracing capture ([`trace`]) and the counting allocator ([`alloc`]).

pub mod alloc;
pub mod clients;
pub mod fault_server;
#[cfg(feature = "server")]
pub mod local;
pub mod prelude;
pub mod trace;

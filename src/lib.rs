#![doc = include_str!("../README.md")]
//!
//! # Runtime
//!
//! The crate runs on [Tokio](https://tokio.rs) 1.x: every future and stream it returns must be
//! polled inside a Tokio runtime, multi-thread or current-thread (`#[tokio::main]`,
//! `#[tokio::main(flavor = "current_thread")]`, `#[tokio::test]` all work). A listing's prefetch
//! ([`TaskList`]) spawns its page fetches on that runtime; nothing else is spawned. Other
//! executors (async-std, smol) are not supported: reqwest needs Tokio's I/O driver and timers.
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// `deny`, not `forbid`: the local server has one reviewed module of `unsafe` calls (SQLite's
// process-wide heap limit and glibc's malloc_trim, which rusqlite and std do not wrap), allowed
// there alone: `src/server/sqlite_limits.rs`. Every other module forbids unsafe code itself.
#![deny(unsafe_code)]

pub mod api;
#[cfg(feature = "arrow")]
mod arrow;
pub mod auth;
mod client;
pub mod error;
pub mod lenient;
pub mod list;
#[cfg(feature = "server")]
mod local;
pub mod model;
pub mod policy;
mod result;
mod rows;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
mod task;
mod task_id;
mod telemetry;
mod transport;

pub use api::{ResultResponse, SqlResponse, TasksApi};
pub use auth::{Credentials, Secret};
pub use client::{Client, ClientBuilder, DEFAULT_HOST, DEFAULT_USER_AGENT};
pub use error::{ApiError, DecodeError, Error, Report, Result, TransportError};
pub use list::TaskList;
pub use model::TASK_ID_HEADER;
pub use model::{ArrayTask, ArrayTaskStatus, ResultFormat, SqlParameters, TaskOrder, TasksQuery};
pub use result::{ResultStream, SqlResult};
pub use task::{TaskHandle, Update};
pub use task_id::TaskId;

/// Items the crate's own tests and benches reach: not part of the documented API, and free to
/// change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::policy::clock::VirtualClock;
    pub use crate::rows::JsonRowDecoder;
    pub use crate::transport::parse_retry_after;
}

/// The HTTP client crate, re-exported for [`ClientBuilder::http_client`] (your own
/// `reqwest::Client`: its pool, proxy, TLS and DNS settings), so that your version matches. No
/// other reqwest type appears in this crate's API.
pub use reqwest;

/// The date and time crate of [`ArrayTask`]'s times and of the `/tasks` filters, so that your
/// version matches.
pub use chrono;

/// The crates whose types appear in this crate's API, re-exported so that your versions match:
/// `bytes` (result bodies), `serde_json` (`Value`s of results and parameters), `url`
/// ([`Client::base_url`]) and `futures` (the streams, `BoxStream`). No other dependency's type is
/// public.
pub use {bytes, futures, serde_json, url};

/// The Arrow crates this crate decodes with (feature `arrow`), so your versions match.
#[cfg(feature = "arrow")]
#[cfg_attr(docsrs, doc(cfg(feature = "arrow")))]
pub use {arrow_array, arrow_schema};

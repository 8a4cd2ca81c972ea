#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod auth;
pub mod error;
pub mod model;
pub mod policy;
#[cfg(feature = "server")]
pub mod server;
mod task_id;
mod transport;

pub use auth::{Credentials, Secret};
pub use error::{ApiError, DecodeError, Error, Result, TransportError};
pub use task_id::TaskId;
pub use model::TASK_ID_HEADER;

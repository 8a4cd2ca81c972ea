//! The wire types of the four Tasks routes (and the typed `/tasks` query), shared by the client and the local server, so the two
//! can never disagree about the wire format.
//!
//! Forward compatible by design: every field is optional (the spec marks none required), `null` is
//! accepted for nullable fields and empty lists, unknown enum values are kept (see [`ArrayTaskStatus`]),
//! numbers the service writes as floats are accepted as integers, and requests leave absent fields
//! out rather than sending `null`.

/// The header carrying the id of the task a request created or concerns.
pub const TASK_ID_HEADER: &str = "X-TILEDB-CLOUD-TASK-ID";

/// The header an API key travels in.
pub const API_KEY_HEADER: &str = "X-TILEDB-REST-API-KEY";

mod array;
pub(crate) mod de;
mod enums;
mod query;
mod sql;
mod task;

pub use array::{ArrayInfo, DomainArray, MetadataStringifiedEntry, Pricing, Subscription};
pub use enums::{
    ActivityEventType, ArrayActions, ArrayTaskStatus, ArrayTaskType, ArrayType, FileType,
    PricingAggregateUsage, PricingCurrency, PricingInterval, PricingType, PricingUnitLabel,
    QueryType, ResultFormat,
};
pub(crate) use query::for_each_filter;
pub use query::{InvalidQuery, TaskOrder, TasksQuery};
pub use sql::SqlParameters;
pub use task::{
    ArrayActivityLog, ArrayTask, ArrayTaskData, ArrayTaskLog, ErrorBody, PaginationMetadata,
};

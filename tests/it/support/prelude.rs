//! Every item of the crate the tests use, named here and only here: when `src/` moves an item,
//! this file is the one to fix. Test modules import from `crate::support::prelude`, never from
//! `tiledb_cloud_tasks` directly.

pub use tiledb_cloud_tasks::__private::{JsonRowDecoder, VirtualClock, parse_retry_after};
pub use tiledb_cloud_tasks::error::TransportCause;
pub use tiledb_cloud_tasks::lenient;
pub use tiledb_cloud_tasks::list::{DEDUP_WINDOW, STALE_PAGES_LIMIT, total_pages_bound};
pub use tiledb_cloud_tasks::model::{
    API_KEY_HEADER, ActivityEventType, ArrayActions, ArrayInfo, ArrayTask, ArrayTaskData,
    ArrayTaskStatus, ArrayTaskType, ArrayType, DomainArray, ErrorBody, FileType,
    PaginationMetadata, PricingCurrency, QueryType, ResultFormat, SqlParameters, TASK_ID_HEADER,
};
pub use tiledb_cloud_tasks::policy::{PollPolicy, RetryPolicy};
pub use tiledb_cloud_tasks::reqwest;
pub use tiledb_cloud_tasks::{
    ApiError, Client, ClientBuilder, Credentials, Error, Result, ResultResponse, Secret,
    SqlResponse, SqlResult, TaskHandle, TaskId, TaskList, TaskOrder, TasksQuery, Update,
};

#[cfg(feature = "server")]
pub use tiledb_cloud_tasks::server::{
    FaultAction, FaultRoute, FaultRule, JournalEntry, LocalServer, ServerConfig, ServerError,
    TIMING_HEADER, Timing,
};

#[cfg(feature = "arrow")]
pub use tiledb_cloud_tasks::{arrow_array, arrow_schema};

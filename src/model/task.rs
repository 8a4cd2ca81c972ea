//! Tasks, task pages and their pagination (`ArrayTask`, `ArrayTaskData`, `PaginationMetadata`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::array::{ArrayInfo, DomainArray};
use super::de;
use super::enums::{ActivityEventType, ArrayTaskStatus, ArrayTaskType, QueryType, ResultFormat};

/// One task: an SQL query, a UDF or an array query, with its status, timing and cost (`ArrayTask`).
///
/// Every field is optional, as in the spec; absent scalars are `None`, absent lists empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArrayTask {
    /// The task id (a UUID), as sent in `X-TILEDB-CLOUD-TASK-ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The optional name given at submission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user who ran the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The optional description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The array the task used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_metadata: Option<ArrayInfo>,
    /// The subarray the task ran on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subarray: Option<DomainArray>,
    /// Memory allocated, in bytes.
    #[serde(
        default,
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory: Option<u64>,
    /// CPU allocated, in millicpu.
    #[serde(
        default,
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<u64>,
    /// The namespace the task ran (and was billed) under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The task's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ArrayTaskStatus>,
    /// Why the task is in its status (the error of a failed task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// When the task started.
    #[serde(
        default,
        deserialize_with = "de::opt_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_time: Option<DateTime<Utc>>,
    /// When the task finished.
    #[serde(
        default,
        deserialize_with = "de::opt_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub finish_time: Option<DateTime<Utc>>,
    /// Total cost in USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Egress cost in USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_cost: Option<f64>,
    /// Access cost in USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_cost: Option<f64>,
    /// For query tasks: read, write or delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_type: Option<QueryType>,
    /// A UDF's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udf_code: Option<String>,
    /// A UDF's language (free text in the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udf_language: Option<String>,
    /// The SQL query of an SQL task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_query: Option<String>,
    /// The kind of task.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<ArrayTaskType>,
    /// Array activity recorded for the task.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub activity: Vec<ArrayActivityLog>,
    /// The task's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
    /// How long the task ran, in nanoseconds (see [`ArrayTask::run_time`]).
    #[serde(
        default,
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<u64>,
    /// The SQL commands run before the query.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sql_init_commands: Vec<String>,
    /// The values bound to the query's placeholders.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sql_parameters: Vec<serde_json::Value>,
    /// The format the result was asked in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_format: Option<ResultFormat>,
    /// The task graph log this task belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_graph_uuid: Option<String>,
    /// The client-defined node id within that graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_node_uuid: Option<String>,
    /// The cloud provider the task ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_provider: Option<String>,
    /// The cloud region the task ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_region: Option<String>,
}

impl ArrayTask {
    /// [`duration`](ArrayTask::duration) as a `std::time::Duration`.
    pub fn run_time(&self) -> Option<Duration> {
        self.duration.map(Duration::from_nanos)
    }
}

/// One page of tasks (`ArrayTaskData`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArrayTaskData {
    /// The tasks on this page; empty when the key is missing or `null`.
    #[serde(default, deserialize_with = "de::null_default")]
    pub array_tasks: Vec<ArrayTask>,
    /// Where this page stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination_metadata: Option<PaginationMetadata>,
}

/// Where a page stands in a listing (`PaginationMetadata`). Pages are 1-based.
///
/// The spec types these as `number`; floats such as `14.0` are accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaginationMetadata {
    /// This page's number, from 1.
    #[serde(
        default,
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub page: Option<u64>,
    /// The page size.
    #[serde(
        default,
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub per_page: Option<u64>,
    /// How many pages there are at this page size.
    #[serde(
        default,
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_pages: Option<u64>,
    /// How many items match in all.
    #[serde(
        default,
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_items: Option<u64>,
}

impl PaginationMetadata {
    /// Metadata for page `page` of `total_items` items at `per_page` a page.
    pub fn new(page: u64, per_page: u64, total_items: u64) -> Self {
        let total_pages = total_items.div_ceil(per_page.max(1));
        PaginationMetadata {
            page: Some(page),
            per_page: Some(per_page),
            total_pages: Some(total_pages),
            total_items: Some(total_items),
        }
    }
}

/// One array activity event of a task (`ArrayActivityLog`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArrayActivityLog {
    /// When it happened.
    #[serde(
        default,
        deserialize_with = "de::opt_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_at: Option<DateTime<Utc>>,
    /// What happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ActivityEventType>,
    /// Who did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Bytes sent to the client.
    #[serde(
        default,
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub bytes_sent: Option<u64>,
    /// Bytes received from the client.
    #[serde(
        default,
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub bytes_received: Option<u64>,
    /// The task this event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_task_id: Option<String>,
    /// The event's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The query's ranges: a JSON document encoded as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_ranges: Option<String>,
    /// The query's statistics: a JSON document encoded as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_stats: Option<String>,
}

/// A task's logs (`ArrayTaskLog`; defined in the spec but not returned by these routes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArrayTaskLog {
    /// The task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_task_id: Option<String>,
    /// Its logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

/// The body of every error answer (`Error`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorBody {
    /// A TileDB-specific error code.
    #[serde(
        default,
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<i64>,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The service's id for the request, to quote to support.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    /// An error body with a code, a message and a request id.
    pub fn new(code: i64, message: impl Into<String>, request_id: impl Into<String>) -> Self {
        ErrorBody {
            code: Some(code),
            message: Some(message.into()),
            request_id: Some(request_id.into()),
        }
    }
}

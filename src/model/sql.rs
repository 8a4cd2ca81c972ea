//! The body of `POST /v1/sql/{namespace}` (`SQLParameters`).

use serde::{Deserialize, Serialize};

use super::de;
use super::enums::ResultFormat;

/// An SQL query and its options (`SQLParameters`).
///
/// Build one from a query string and refine it:
///
/// ```
/// use tiledb_cloud_tasks::model::{ResultFormat, SqlParameters};
///
/// let params = SqlParameters::query("SELECT * FROM t WHERE a > ?")
///     .name("nightly")
///     .parameter(10)
///     .result_format(ResultFormat::Json);
/// assert_eq!(params.query.as_deref(), Some("SELECT * FROM t WHERE a > ?"));
/// ```
///
/// Fields left `None` are left out of the JSON body, never sent as `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SqlParameters {
    /// The task's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The SQL text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// An array to write the results into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_uri: Option<String>,
    /// Keep the result for `GET /v1/task/{id}/result`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_results: Option<bool>,
    /// Do not send the rows in the answer to the POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dont_download_results: Option<bool>,
    /// The resource class (`standard`, …); the provider's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_class: Option<String>,
    /// The result's serialization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_format: Option<ResultFormat>,
    /// Commands run, on the same connection, before the query.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub init_commands: Vec<String>,
    /// Values bound to the query's `?` placeholders, in order.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub parameters: Vec<serde_json::Value>,
    /// The task graph log this query is part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_graph_uuid: Option<String>,
    /// The client-defined node id within that graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_node_uuid: Option<String>,
}

impl SqlParameters {
    /// Parameters running `query`, with every option left to its default.
    pub fn query(query: impl Into<String>) -> Self {
        SqlParameters {
            query: Some(query.into()),
            ..Default::default()
        }
    }

    /// Names the task.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Writes the results into the array at `uri`.
    pub fn output_uri(mut self, uri: impl Into<String>) -> Self {
        self.output_uri = Some(uri.into());
        self
    }

    /// Keeps (or not) the result on the server for later retrieval.
    pub fn store_results(mut self, store: bool) -> Self {
        self.store_results = Some(store);
        self
    }

    /// Leaves (or not) the rows out of the POST's answer.
    pub fn dont_download_results(mut self, dont: bool) -> Self {
        self.dont_download_results = Some(dont);
        self
    }

    /// Runs in the given resource class.
    pub fn resource_class(mut self, class: impl Into<String>) -> Self {
        self.resource_class = Some(class.into());
        self
    }

    /// Asks for the result in `format`.
    pub fn result_format(mut self, format: ResultFormat) -> Self {
        self.result_format = Some(format);
        self
    }

    /// Adds a command to run before the query.
    pub fn init_command(mut self, command: impl Into<String>) -> Self {
        self.init_commands.push(command.into());
        self
    }

    /// Binds the next `?` placeholder to `value`.
    pub fn parameter(mut self, value: impl Into<serde_json::Value>) -> Self {
        self.parameters.push(value.into());
        self
    }

    /// Marks the query as part of a task graph.
    pub fn task_graph(
        mut self,
        graph_uuid: impl Into<String>,
        node_uuid: impl Into<String>,
    ) -> Self {
        self.task_graph_uuid = Some(graph_uuid.into());
        self.client_node_uuid = Some(node_uuid.into());
        self
    }
}

impl From<&str> for SqlParameters {
    fn from(query: &str) -> Self {
        SqlParameters::query(query)
    }
}

impl From<String> for SqlParameters {
    fn from(query: String) -> Self {
        SqlParameters::query(query)
    }
}

impl From<&String> for SqlParameters {
    fn from(query: &String) -> Self {
        SqlParameters::query(query.as_str())
    }
}

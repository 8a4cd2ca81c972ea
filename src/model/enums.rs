//! Every enumeration the four routes reach, forward compatible.
//!
//! Each enum has an `Other(String)` variant: a value this crate does not know yet (a new status on the
//! server) deserializes into it and serializes back to the exact same string, so a page of tasks never
//! fails to parse because the service grew a new value.

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $wire:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of the crate does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// Every value the spec lists, in spec order.
            pub const KNOWN: &'static [$name] = &[ $( $name::$variant ),+ ];

            /// The exact wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Other(s) => s.as_str(),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            /// Never fails: an unknown spelling becomes `Other`.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(match s {
                    $( $wire => $name::$variant, )+
                    other => $name::Other(other.to_owned()),
                })
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s.parse() {
                    Ok(v) => v,
                    Err(never) => match never {},
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a ", stringify!($name), " string"))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::from(v))
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

string_enum! {
    /// The serialization of a task's result (`ResultFormat`). Only `json` and `arrow` apply to SQL.
    ResultFormat {
        /// cloudpickle (Python only).
        PythonPickle => "python_pickle",
        /// R serialization.
        RSerialization => "r_serialization",
        /// JSON; for SQL, an array of row objects keyed by column name.
        Json => "json",
        /// An Arrow IPC stream.
        Arrow => "arrow",
        /// Raw bytes.
        Bytes => "bytes",
        /// TileDB's typed JSON encoding.
        TiledbJson => "tiledb_json",
        /// Deprecated: the language's native serialization.
        Native => "native",
    }
}

impl ResultFormat {
    /// The `Content-Type` the service sends for a result in this format (tasks-api.md §5).
    pub fn content_type(&self) -> Option<&'static str> {
        Some(match self {
            ResultFormat::Json => "application/json",
            ResultFormat::Arrow => "application/vnd.apache.arrow.stream",
            ResultFormat::PythonPickle => "application/vnd.tiledb.python-pickle",
            ResultFormat::Native => "application/vnd.tiledb.udf-native",
            ResultFormat::Bytes => "application/octet-stream",
            ResultFormat::TiledbJson => "application/vnd.tiledb.udf-data+json",
            ResultFormat::RSerialization => "application/vnd.tiledb.r-serialization",
            ResultFormat::Other(_) => return None,
        })
    }

    /// The format a `Content-Type` header names, ignoring parameters and case; `None` for a type
    /// no format uses.
    pub fn from_content_type(content_type: &str) -> Option<ResultFormat> {
        let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
        ResultFormat::KNOWN
            .iter()
            .find(|f| f.content_type() == Some(essence.as_str()))
            .cloned()
    }
}

string_enum! {
    /// The state of a task (`ArrayTaskStatus`).
    ArrayTaskStatus {
        /// Waiting for resources.
        Queued => "QUEUED",
        /// Ended with an error.
        Failed => "FAILED",
        /// Ended successfully.
        Completed => "COMPLETED",
        /// Executing.
        Running => "RUNNING",
        /// Ended: no compute resources could be had.
        ResourcesUnavailable => "RESOURCES_UNAVAILABLE",
        /// The service does not know.
        Unknown => "UNKNOWN",
        /// Ended: cancelled.
        Cancelled => "CANCELLED",
        /// Deprecated name of `RESOURCES_UNAVAILABLE`.
        Denied => "DENIED",
    }
}

impl ArrayTaskStatus {
    /// Whether the task has ended and its status will not change.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            ArrayTaskStatus::Failed
                | ArrayTaskStatus::Completed
                | ArrayTaskStatus::ResourcesUnavailable
                | ArrayTaskStatus::Cancelled
                | ArrayTaskStatus::Denied
        )
    }

    /// Whether the task ended without a result (failed, cancelled, or no resources).
    pub fn is_unsuccessful(&self) -> bool {
        self.is_terminal() && *self != ArrayTaskStatus::Completed
    }
}

string_enum! {
    /// The kind of a task (`ArrayTaskType`).
    ArrayTaskType {
        /// An SQL query.
        Sql => "SQL",
        /// A UDF on an array.
        Udf => "UDF",
        /// An array query.
        Query => "QUERY",
        /// A generic UDF.
        GenericUdf => "GENERIC_UDF",
        /// A batch UDF.
        BatchUdf => "BATCH_UDF",
        /// A client-side computation.
        ClientComputation => "CLIENT_COMPUTATION",
    }
}

string_enum! {
    /// Read, write or delete, for query tasks (`Querytype`).
    QueryType {
        /// A read.
        Read => "READ",
        /// A write.
        Write => "WRITE",
        /// A delete.
        Delete => "DELETE",
    }
}

string_enum! {
    /// The kind of an array activity event (`ActivityEventType`).
    ActivityEventType {
        /// Schema read.
        ReadSchema => "read_schema",
        /// Buffer sizes query.
        MaxBufferSizes => "max_buffer_sizes",
        /// Non-empty domain query.
        NonEmptyDomain => "non_empty_domain",
        /// Read query.
        QueryRead => "query_read",
        /// Write query.
        QueryWrite => "query_write",
        /// Delete query.
        QueryDelete => "query_delete",
        /// Array created.
        Create => "create",
        /// Array deleted.
        Delete => "delete",
        /// Array registered.
        Register => "register",
        /// Array deregistered.
        Deregister => "deregister",
        /// UDF run.
        Udf => "udf",
        /// Metadata read.
        ArrayMetadataGet => "array_metadata_get",
        /// Metadata update.
        ArrayMetadataUpdate => "array_metadata_update",
        /// Result size estimate.
        EstimatedResultSizes => "estimated_result_sizes",
        /// Fragment info read.
        ReadFragmentInfo => "read_fragment_info",
        /// Enumerations read.
        ReadEnumerations => "read_enumerations",
    }
}

string_enum! {
    /// The kind of asset an array is (`FileType`).
    FileType {
        /// A notebook.
        Notebook => "notebook",
        /// A registered UDF.
        UserDefinedFunction => "user_defined_function",
        /// An ML model.
        MlModel => "ml_model",
        /// A file.
        File => "file",
        /// A registered task graph.
        RegisteredTaskGraph => "registered_task_graph",
    }
}

string_enum! {
    /// What a user may do with an array (`ArrayActions`).
    ArrayActions {
        /// Read.
        Read => "read",
        /// Write.
        Write => "write",
        /// Edit.
        Edit => "edit",
        /// Read the array's logs.
        ReadArrayLogs => "read_array_logs",
        /// Read the array's info.
        ReadArrayInfo => "read_array_info",
        /// Read the array's schema.
        ReadArraySchema => "read_array_schema",
    }
}

string_enum! {
    /// Dense or sparse (`ArrayType`).
    ArrayType {
        /// Dense.
        Dense => "dense",
        /// Sparse.
        Sparse => "sparse",
    }
}

string_enum! {
    /// How a price is charged (`PricingType`).
    PricingType {
        /// Per byte sent.
        Egress => "egress",
        /// Per access.
        Access => "access",
    }
}

string_enum! {
    /// The currency of a price (`PricingCurrency`).
    PricingCurrency {
        /// US dollars.
        Usd => "USD",
    }
}

string_enum! {
    /// The unit a price is per (`PricingUnitLabel`).
    PricingUnitLabel {
        /// Per byte.
        Byte => "byte",
        /// Per second.
        Second => "second",
    }
}

string_enum! {
    /// How usage is aggregated (`PricingAggregateUsage`).
    PricingAggregateUsage {
        /// Summed.
        Sum => "sum",
    }
}

string_enum! {
    /// The billing interval (`PricingInterval`).
    PricingInterval {
        /// Monthly.
        Month => "month",
    }
}

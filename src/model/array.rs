//! The array a task used (`ArrayInfo`) and what hangs off it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::de;
use super::enums::{
    ArrayActions, ArrayType, FileType, PricingAggregateUsage, PricingCurrency, PricingInterval,
    PricingType, PricingUnitLabel,
};

/// Details of a registered array (`ArrayInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArrayInfo {
    /// The array's UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What kind of asset it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_type: Option<FileType>,
    /// Asset properties, keyed by `FilePropertyName`.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub file_properties: BTreeMap<String, String>,
    /// Its storage URI (`s3://…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Its namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its size in bytes.
    #[serde(
        default,
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub size: Option<u64>,
    /// When it was last accessed.
    #[serde(
        default,
        deserialize_with = "de::opt_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_accessed: Option<DateTime<Utc>>,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the caller may do with it.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allowed_actions: Vec<ArrayActions>,
    /// Its prices.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pricing: Vec<Pricing>,
    /// Subscriptions to it.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub subscriptions: Vec<Subscription>,
    /// Its logo, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    /// The name of the credentials used to reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_credentials_name: Option<String>,
    /// Dense or sparse; unknown until computed.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub array_type: Option<ArrayType>,
    /// How many times it is shared.
    #[serde(
        default,
        deserialize_with = "de::opt_i32",
        skip_serializing_if = "Option::is_none"
    )]
    pub share_count: Option<i32>,
    /// Whether it is shared publicly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_share: Option<bool>,
    /// Whether the caller's namespace subscribes to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_subscribed: Option<bool>,
    /// Its `tiledb://` URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiledb_uri: Option<String>,
    /// Its tags.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
    /// Its licence's SPDX id, or a custom one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_id: Option<String>,
    /// Its licence text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_text: Option<String>,
    /// Whether it is read-only for the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Whether the caller marked it a favourite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_favorite: Option<bool>,
    /// When it was created.
    #[serde(
        default,
        deserialize_with = "de::opt_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<DateTime<Utc>>,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Its metadata, when asked for.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub metadata: Vec<MetadataStringifiedEntry>,
}

/// A price set on an array (`Pricing`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Pricing {
    /// The plan id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The array it prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_uuid: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_name: Option<String>,
    /// What is charged for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_type: Option<PricingType>,
    /// The product's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// The statement descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_statement_descriptor: Option<String>,
    /// The unit charged per.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_unit_label: Option<PricingUnitLabel>,
    /// The currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<PricingCurrency>,
    /// How usage adds up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate_usage: Option<PricingAggregateUsage>,
    /// The billing interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<PricingInterval>,
    /// The unit count the charge is for.
    #[serde(
        default,
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub divided_by: Option<i64>,
    /// The charge in cents per unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge: Option<f64>,
    /// Whether it is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated: Option<bool>,
}

/// A subscription of one namespace to another's arrays (`Subscription`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Subscription {
    /// The subscription id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The owner's namespace UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_namespace_uuid: Option<String>,
    /// The customer's namespace UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_namespace_uuid: Option<String>,
    /// The prices subscribed to.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pricing: Vec<Pricing>,
}

/// One metadata entry, value stringified (`MetadataStringifiedEntry`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MetadataStringifiedEntry {
    /// The key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The value, as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value's type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub value_type: Option<String>,
}

/// A subarray: one list of bounds per numeric type, of which the dimension's type is filled
/// (`DomainArray`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DomainArray {
    /// `int8` bounds.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub int8: Vec<i8>,
    /// `uint8` bounds.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub uint8: Vec<u8>,
    /// `int16` bounds.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub int16: Vec<i16>,
    /// `uint16` bounds.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub uint16: Vec<u16>,
    /// `int32` bounds.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub int32: Vec<i32>,
    /// `uint32` bounds.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub uint32: Vec<u32>,
    /// `int64` bounds.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub int64: Vec<i64>,
    /// `uint64` bounds.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub uint64: Vec<u64>,
    /// `float32` bounds.
    #[serde(
        default,
        deserialize_with = "de::f32_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub float32: Vec<f32>,
    /// `float64` bounds.
    #[serde(
        default,
        deserialize_with = "de::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub float64: Vec<f64>,
}

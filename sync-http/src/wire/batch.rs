//! The `tablesync` protocol extension, version 1 (see `EXTENSION.md` at the repository
//! root): discovery and batch push. A server that speaks only the Azure table protocol
//! answers the discovery request with a 404, and a client then uses that protocol
//! alone.
//!
//! ```
//! use sync_http::wire::batch::{BatchOperation, Method};
//! let op: BatchOperation = serde_json::from_str(
//!     r#"{"key":"q1.1","table":"Todo","method":"delete","id":"a","version":"MQ=="}"#,
//! ).unwrap();
//! assert_eq!((op.method, op.id.as_deref()), (Method::Delete, Some("a")));
//! ```

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};

/// The discovery route: `GET` answers a [`Discovery`].
pub const DISCOVERY_PATH: &str = "/tablesync/v1";
/// The batch route: `POST` a [`BatchRequest`], get a [`BatchResponse`].
pub const BATCH_PATH: &str = "/tablesync/v1/batch";
/// The extension's name in [`Discovery::extension`].
pub const EXTENSION: &str = "tablesync";
/// The extension's version in [`Discovery::version`].
pub const VERSION: u32 = 1;

/// What a server offers beyond the Azure table protocol, and its limits.
///
/// ```
/// let d: sync_http::wire::batch::Discovery = serde_json::from_str(
///     r#"{"extension":"tablesync","version":1,"max_page_size":1000,"max_body":1048576,
///         "batch":{"max_operations":500,"max_bytes":4194304,"key_window_seconds":86400},
///         "stream":{"max_rows":100000},"feed":{"heartbeat_seconds":15,"max_tables":100}}"#,
/// ).unwrap();
/// assert_eq!(d.feed.as_ref().unwrap().heartbeat_seconds, 15);
/// assert_eq!(d.batch.unwrap().max_operations, 500);
/// assert_eq!(d.stream.unwrap().max_rows, 100_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// Always [`EXTENSION`].
    pub extension: String,
    /// The extension's version: [`VERSION`].
    pub version: u32,
    /// The largest `$top` the server accepts.
    pub max_page_size: u64,
    /// The largest body of a single-item request, in bytes.
    pub max_body: u64,
    /// Batch push, when offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchLimits>,
    /// Streamed pull, when offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<crate::wire::stream::StreamLimits>,
    /// The change feed, when offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<crate::wire::feed::FeedLimits>,
}

/// The bounds of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchLimits {
    /// The most operations one batch may carry.
    pub max_operations: u64,
    /// The largest batch body, in bytes.
    pub max_bytes: u64,
    /// How long an operation's key and answer are remembered, in seconds.
    pub key_window_seconds: u64,
}

/// A batch: operations applied in order, each its own compare-and-swap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRequest {
    /// The operations.
    pub operations: Vec<BatchOperation>,
}

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `POST /tables/{table}`.
    Insert,
    /// `PATCH /tables/{table}/{id}`.
    Update,
    /// `DELETE /tables/{table}/{id}`.
    Delete,
    /// `POST /tables/{table}/{id}`.
    Undelete,
}

/// One operation of a batch: the single request it stands for, and its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchOperation {
    /// The idempotency key: unique per operation and attempt-independent (the same
    /// operation sent again carries the same key). At most 255 characters.
    pub key: String,
    /// The table.
    pub table: String,
    /// What it does.
    pub method: Method,
    /// The item's id (for an insert, the item's `id` may carry it instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The expected version, as `If-Match` would carry it: a stale one is a 412.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The item (insert, update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Map<String, Json>>,
}

/// The answer to a batch: one result per operation, in order.
#[derive(Debug, Serialize, Deserialize)]
pub struct BatchResponse {
    /// The results.
    pub results: Vec<BatchResult>,
}

/// The answer to one operation, meaning what the single request's answer would.
///
/// ```
/// let r: sync_http::wire::batch::BatchResult =
///     serde_json::from_str(r#"{"status":412,"item":{"id":"a","version":"Mg=="}}"#).unwrap();
/// assert_eq!(r.status, 412);
/// assert!(r.item.is_some() && r.error.is_none() && !r.replayed);
/// ```
#[derive(Debug, Serialize, Deserialize)]
pub struct BatchResult {
    /// The status the single request would have had (200, 201, 400, 404, 409, 412, or
    /// 5xx when the operation could not be applied now and may be sent again).
    pub status: u16,
    /// Whether this is the answer recorded for the key when it was first applied.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
    /// The row for 200, 201, 409 and 412.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Box<RawValue>>,
    /// What went wrong, otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

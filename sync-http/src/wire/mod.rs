//! The wire protocol shared by the client and the server: the Azure Mobile Apps table
//! protocol, version 2.0 (see `PROTOCOL.md`).
//!
//! - [`json`]: rows as JSON objects, typed by a schema when one is known;
//! - [`etag`]: versions as strong ETags and `If-Match` preconditions;
//! - [`odata`]: `$filter` text from a [`Filter`](sync_core::store::Filter), the keyset
//!   condition of incremental pulls, and the query string of a page request;
//! - [`batch`]: the `tablesync` extension (discovery, batch push);
//! - [`stream`]: the extension's streamed pull (rows as newline-delimited JSON);
//! - [`feed`]: the extension's change feed (Server-Sent Events);
//! - [`ErrorBody`]: the JSON error every non-2xx answer carries.

pub mod batch;
pub mod etag;
pub mod feed;
pub mod json;
pub mod odata;
pub mod stream;

use serde::{Deserialize, Serialize};

/// The protocol version header every `/tables` request carries.
pub const API_VERSION_HEADER: &str = "ZUMO-API-VERSION";
/// The protocol version this crate speaks.
pub const API_VERSION: &str = "2.0.0";
/// The header carrying a JWT on the reference server (`Authorization: Bearer` also works).
pub const AUTH_HEADER: &str = "X-ZUMO-AUTH";
/// Query parameter that includes soft-deleted rows.
pub const INCLUDE_DELETED: &str = "__includeDeleted";
/// The route prefix of table requests.
pub const TABLES_PATH: &str = "/tables";
/// Default page size of the reference server when `$top` is absent.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// Whether a `ZUMO-API-VERSION` value is one this protocol accepts (`2.0.x`).
///
/// ```
/// use sync_http::wire::accepts_api_version;
/// assert!(accepts_api_version("2.0.0") && accepts_api_version("2.0.7"));
/// assert!(!accepts_api_version("3.0.0") && !accepts_api_version("2.0") && !accepts_api_version(""));
/// ```
pub fn accepts_api_version(value: &str) -> bool {
    value
        .strip_prefix("2.0.")
        .is_some_and(|patch| !patch.is_empty() && patch.chars().all(|c| c.is_ascii_digit()))
}

/// The JSON body of an error answer: `{"error": "..."}`.
///
/// ```
/// let body: sync_http::wire::ErrorBody = serde_json::from_str(r#"{"error":"The item does not exist"}"#).unwrap();
/// assert_eq!(body.error, "The item does not exist");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
}

impl ErrorBody {
    /// An error body with this message.
    pub fn new(message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: message.into(),
        }
    }
}

/// A request or answer does not follow the protocol.
///
/// ```
/// let e = sync_http::wire::WireError::new("`version` must be a string");
/// assert_eq!(e.to_string(), "`version` must be a string");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WireError {
    /// What was wrong, naming the field, column or header.
    pub message: String,
}

impl WireError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> WireError {
        WireError {
            message: message.into(),
        }
    }
}

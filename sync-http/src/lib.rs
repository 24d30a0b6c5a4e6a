//! The tablesync wire protocol (the Azure Mobile Apps table protocol, version 2.0) and
//! its HTTP transport.
//!
//! - [`wire`]: what client and server share: rows as JSON, versions as ETags, `$filter`
//!   text, the error body. No HTTP client in it, so the server uses it alone
//!   (`default-features = false`).
//! - `HttpTransport` (feature `client`, default): the reqwest transport.
//!
//! ```
//! use sync_http::wire::etag;
//! assert_eq!(etag::from_etag(&etag::to_etag("v1")).as_deref(), Some("v1"));
//! ```

#![warn(missing_docs)]

pub mod wire;

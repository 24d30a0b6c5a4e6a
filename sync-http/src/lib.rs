//! The tablesync wire protocol (the Azure Mobile Apps table protocol, version 2.0) and
//! its HTTP transport.
//!
//! - [`wire`]: what client and server share: rows as JSON, versions as ETags, `$filter`
//!   text, the error body. No HTTP client in it, so the server uses it alone
//!   (`default-features = false`).
//! - [`HttpTransport`] (feature `client`, default): the reqwest transport; see
//!   [`client`] for what it sends, how it retries and why re-sending is safe.
//!
//! ```
//! use sync_http::wire::etag;
//! assert_eq!(etag::from_etag(&etag::to_etag("v1")).as_deref(), Some("v1"));
//! ```

#![warn(missing_docs)]

pub mod wire;

#[cfg(feature = "client")]
pub mod client;

#[cfg(feature = "client")]
pub use client::{
    BuildError, DEFAULT_MAX_PAGE_SIZE, DEFAULT_MAX_RESPONSE_BYTES, HttpTransport,
    HttpTransportBuilder, RetryPolicy, TokenFuture, TokenHeader, TokenRefresher,
};

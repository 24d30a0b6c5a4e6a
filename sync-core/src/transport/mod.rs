//! The network side: the [`Transport`] trait the engine pushes and pulls through, and
//! [`MemoryRemote`], an in-process server with the exact server semantics and fault
//! injection, for tests.
//!
//! A transport moves [`Record`]s. What it sends for an insert or update is the item's id
//! and data columns (the engine strips the server-maintained columns); what it returns
//! is the server's full copy, system columns included (`updatedAt` as the server's text).

mod error;
mod memory;

pub use error::TransportError;
pub use memory::{AppliedWrite, Fault, MemoryRemote, MemoryTransport};

use std::future::Future;

use crate::model::{Record, TableSchema};
use crate::store::{Filter, Watermark};

/// One page request of an incremental pull.
///
/// ```
/// use sync_core::transport::PullRequest;
/// let r = PullRequest::new(100);
/// assert_eq!((r.page_size, r.include_deleted, r.after.is_none()), (100, true, true));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PullRequest {
    /// Only rows after this `(updatedAt, id)`, in that order (`None`: from the start).
    pub after: Option<Watermark>,
    /// At most this many rows.
    pub page_size: u32,
    /// Include soft-deleted rows (an incremental pull needs them to learn of deletes).
    pub include_deleted: bool,
    /// The app's own condition on the rows, and-ed with the keyset condition.
    pub filter: Option<Filter>,
}

impl PullRequest {
    /// A first-page request including deleted rows.
    pub fn new(page_size: u32) -> PullRequest {
        PullRequest {
            after: None,
            page_size,
            include_deleted: true,
            filter: None,
        }
    }
}

/// One page of a pull, ordered by `(updatedAt, id)`.
///
/// ```
/// let p = sync_core::transport::PullPage { records: vec![], last: None, more: false };
/// assert!(p.records.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PullPage {
    /// The rows, full server copies.
    pub records: Vec<Record>,
    /// The watermark of the last row, with `updatedAt` exactly as the server wrote it.
    pub last: Option<Watermark>,
    /// Whether more rows may follow.
    pub more: bool,
}

/// How the engine talks to a server. Implemented by `sync_http::HttpTransport` and by
/// [`MemoryTransport`].
///
/// Each call is one request; retrying transient failures is the transport's business,
/// and what is left is reported as a [`TransportError`] the engine can act on.
pub trait Transport: Send + Sync + 'static {
    /// Told the schema of each table the app registers, so that a transport whose wire
    /// format loses types (JSON has no dates or bytes) can decode answers exactly.
    /// The default ignores it.
    fn register_schema(&self, schema: &TableSchema) {
        let _ = schema;
    }

    /// Inserts an item (`id` set by the client). Answers the server's copy; an existing
    /// id is [`TransportError::Conflict`] with the server's copy.
    fn insert(
        &self,
        table: &str,
        item: Record,
    ) -> impl Future<Output = Result<Record, TransportError>> + Send;

    /// Updates an item, conditionally on `expected_version` when given. A stale version
    /// is [`TransportError::PreconditionFailed`] with the server's copy.
    fn update(
        &self,
        table: &str,
        item: Record,
        expected_version: Option<String>,
    ) -> impl Future<Output = Result<Record, TransportError>> + Send;

    /// Deletes an item, conditionally on `expected_version` when given. Answers the
    /// server's copy of the deleted row when the server sends one.
    fn delete(
        &self,
        table: &str,
        id: &str,
        expected_version: Option<String>,
    ) -> impl Future<Output = Result<Option<Record>, TransportError>> + Send;

    /// The server's copy of one item; `None` when it does not exist or was deleted.
    /// (The reference server answers a 409 with the request echoed, so a client must
    /// fetch the real server copy.)
    fn get(
        &self,
        table: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Record>, TransportError>> + Send;

    /// One page of rows after a watermark, in `(updatedAt, id)` order.
    fn pull(
        &self,
        table: &str,
        request: PullRequest,
    ) -> impl Future<Output = Result<PullPage, TransportError>> + Send;
}

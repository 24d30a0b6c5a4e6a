//! [`SyncError`]: what the engine's calls can fail with.

use crate::model::{DecodeError, EncodeError};
use crate::store::StoreError;
use crate::transport::TransportError;

/// An engine call failed. Outcomes of individual operations during a push are not
/// errors: they are in the [`PushReport`](super::PushReport).
///
/// ```
/// let e = sync_core::engine::SyncError::NotFound { table: "Todo".into(), id: "a1".into() };
/// assert_eq!(e.to_string(), "table `Todo`: no item `a1`");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The local store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server could not be reached or refused (outside a push, e.g. during a pull).
    #[error("table `{table}`: {source}")]
    Transport {
        /// The table being synced.
        table: String,
        /// What the transport said.
        source: TransportError,
    },
    /// A value could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A stored or received record does not decode into the app's type; the error names
    /// the table, the row's id and the column.
    /// [`all_results`](super::SyncTable::all_results) and
    /// [`query_results`](super::SyncTable::query_results) read the other rows nonetheless.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A pull filter names a local-only column (`#[sync(local)]`): the server does not
    /// have it. Filter a local query on it instead.
    #[error(
        "table `{table}`: column `{column}` is local-only (`#[sync(local)]`), so the server cannot filter on it; filter a local query instead"
    )]
    LocalOnlyColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// No such item locally.
    #[error("table `{table}`: no item `{id}`")]
    NotFound {
        /// The table.
        table: String,
        /// The id.
        id: String,
    },
    /// An insert of an id that already exists locally.
    #[error("table `{table}`: an item `{id}` already exists")]
    AlreadyExists {
        /// The table.
        table: String,
        /// The id.
        id: String,
    },
    /// No conflict is stored for this item.
    #[error("table `{table}`: no conflict for item `{id}`")]
    NoConflict {
        /// The table.
        table: String,
        /// The id.
        id: String,
    },
    /// The server deleted the item, so a local value cannot be kept under this id.
    #[error(
        "table `{table}`, item `{id}`: the server deleted it; keep the remote side, or insert your value under a new id"
    )]
    RemoteDeleted {
        /// The table.
        table: String,
        /// The id.
        id: String,
    },
    /// Purge refused: operations are pending (pass `force` to drop them).
    #[error("table `{table}`: {count} operation(s) pending; push first or purge with force")]
    PendingOperations {
        /// The table.
        table: String,
        /// How many.
        count: usize,
    },
    /// A pull needed a push first, and the push did not complete.
    #[error("table `{table}`: the push before the pull did not complete ({status:?})")]
    PushIncomplete {
        /// The table.
        table: String,
        /// How the push ended.
        status: super::PushStatus,
    },
    /// A pull reached [`SyncOptions::max_pull_pages`](super::SyncOptions::max_pull_pages)
    /// while the server still said more rows follow (a server that never stops
    /// paging). Every page received was stored with its watermark: pulling again goes
    /// on from there.
    ///
    /// ```
    /// let e = sync_core::engine::SyncError::PullLimit { table: "Todo".into(), pages: 3, received: 300 };
    /// assert_eq!(
    ///     e.to_string(),
    ///     "table `Todo`: the pull stopped after 3 pages (SyncOptions::max_pull_pages) with the server still saying more rows follow; the 300 rows received are stored, and pulling again goes on from there"
    /// );
    /// ```
    #[error(
        "table `{table}`: the pull stopped after {pages} pages (SyncOptions::max_pull_pages) with the server still saying more rows follow; the {received} rows received are stored, and pulling again goes on from there"
    )]
    PullLimit {
        /// The table.
        table: String,
        /// Pages requested by this pull (the bound).
        pages: usize,
        /// Rows received and stored by this pull.
        received: usize,
    },
    /// A value written by the app cannot travel to the server exactly, so it was
    /// refused before it was stored: once stored, the server would refuse it at push
    /// time or give back another value.
    ///
    /// ```
    /// let e = sync_core::engine::SyncError::ValueNotSendable {
    ///     table: "Todo".into(),
    ///     column: "ratio".into(),
    ///     reason: "NaN cannot be sent: JSON numbers are finite".into(),
    /// };
    /// assert_eq!(e.to_string(), "table `Todo`, column `ratio`: NaN cannot be sent: JSON numbers are finite");
    /// ```
    #[error("table `{table}`, column `{column}`: {reason}")]
    ValueNotSendable {
        /// The table.
        table: String,
        /// The column (the field's name on the wire).
        column: String,
        /// What is wrong with the value, and what to do instead.
        reason: String,
    },
}

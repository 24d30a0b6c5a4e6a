//! [`StoreError`]: everything a store can refuse or fail at, naming what was wrong.

use crate::ErrorSource;
use crate::model::{DecodeError, SchemaError};
use crate::store::queue::OpKind;

/// An error from a [`Store`](super::Store). Every variant names the table, column or id
/// involved; a failed transaction has changed nothing.
///
/// ```
/// use sync_core::store::{OpKind, StoreError};
/// let e = StoreError::QueueConflict { table: "Todo".into(), id: "a".into(), pending: OpKind::Delete, new: OpKind::Update };
/// assert_eq!(e.to_string(), "table `Todo`, id `a`: cannot queue an update while a delete is pending");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The table was never created in this store ([`StoreTx::ensure_table`](super::StoreTx::ensure_table)).
    #[error("table `{0}` is not known to the store (ensure_table was not called for it)")]
    UnknownTable(String),
    /// A record has a column the table does not have.
    #[error("table `{table}`: no column `{column}`")]
    UnknownColumn {
        /// The table.
        table: String,
        /// The column given.
        column: String,
    },
    /// A value does not fit its column's type.
    #[error("table `{table}`, column `{column}`: expected {expected}, found {found}")]
    WrongType {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The column's type.
        expected: &'static str,
        /// The value's kind.
        found: &'static str,
    },
    /// A record has no usable id (missing, not text, or empty).
    #[error("table `{table}`: a record needs a non-empty text `id`")]
    MissingId {
        /// The table.
        table: String,
    },
    /// An operation cannot be queued given the one already pending for that item
    /// (see the collapse rules on [`StoreTx::enqueue`](super::StoreTx::enqueue)).
    #[error("table `{table}`, id `{id}`: cannot queue {} while {} is pending", new.article(), pending.article())]
    QueueConflict {
        /// The table.
        table: String,
        /// The item.
        id: String,
        /// The operation already queued.
        pending: OpKind,
        /// The operation refused.
        new: OpKind,
    },
    /// No operation is queued for this item.
    #[error("table `{table}`, id `{id}`: no operation is queued")]
    NoOperation {
        /// The table.
        table: String,
        /// The item.
        id: String,
    },
    /// The schema is invalid or disagrees with what is stored.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A stored row could not be read back as the schema says.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A stored record could not be decoded into the app's type.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The store's files were written by a newer version of tablesync.
    #[error("the store's format version is {found}, this build reads up to {supported}")]
    FormatTooNew {
        /// Found in the store.
        found: i64,
        /// Highest this build understands.
        supported: i64,
    },
    /// The database under the store failed; `kind` says how, for an app that acts on
    /// it (wait and retry when busy, tell the user the disk is full).
    ///
    /// ```
    /// use sync_core::store::{StoreError, StoreErrorKind};
    /// let e = StoreError::database(StoreErrorKind::DiskFull, "writing `Todo`: database or disk is full", None);
    /// assert_eq!(e.kind(), Some(StoreErrorKind::DiskFull));
    /// assert_eq!(e.to_string(), "store backend: writing `Todo`: database or disk is full");
    /// ```
    #[error("store backend: {message}")]
    Database {
        /// How it failed.
        kind: StoreErrorKind,
        /// What the store was doing, and the database's message.
        message: String,
        /// The database's own error (a `rusqlite::Error` for `SqliteStore`).
        #[source]
        source: Option<ErrorSource>,
    },
    /// The backend failed for a reason other than its database (a poisoned lock, a
    /// task that panicked).
    #[error("store backend: {0}")]
    Backend(String),
}

/// How a store's database failed ([`StoreError::Database`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// Another connection holds the lock for longer than the store waits.
    Busy,
    /// The disk (or the database's size limit) is full.
    DiskFull,
    /// The file is damaged, or not a database.
    Corrupt,
    /// The file cannot be written (permissions, a read-only medium).
    ReadOnly,
    /// Reading or writing the file failed, or it cannot be opened.
    Io,
    /// Anything else.
    Other,
}

impl StoreError {
    /// A database failure of `kind`, keeping its cause.
    pub fn database(
        kind: StoreErrorKind,
        message: impl Into<String>,
        source: Option<ErrorSource>,
    ) -> StoreError {
        StoreError::Database {
            kind,
            message: message.into(),
            source,
        }
    }

    /// The kind of a database failure; `None` for any other error.
    pub fn kind(&self) -> Option<StoreErrorKind> {
        match self {
            StoreError::Database { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

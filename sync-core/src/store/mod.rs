//! Local storage: the [`Store`] trait, its transactions ([`StoreTx`]), the operation
//! queue, and [`MemoryStore`].
//!
//! # How data flows through a store
//!
//! Every change happens inside [`Store::transaction`]: the closure gets a [`StoreTx`],
//! and everything it does commits together when it returns `Ok`, or not at all when it
//! returns `Err` (or panics). That is how a local write and its queue entry commit
//! together:
//!
//! ```
//! use sync_core::store::{MemoryStore, OpKind, Store, StoreTx, StoreTxExt};
//! use sync_core::{ColumnType, Record, TableSchema};
//!
//! let store = MemoryStore::new();
//! let schema = TableSchema::new("Todo").with_column("text", ColumnType::Text, false);
//! store.transaction(|tx| tx.ensure_table(&schema))?;
//!
//! let mut row = Record::new();
//! row.set("id", "a1");
//! row.set("text", "buy milk");
//! store.transaction(|tx| {
//!     tx.upsert("Todo", &row)?;
//!     tx.enqueue("Todo", "a1", OpKind::Insert, None, None)?;
//!     Ok(())
//! })?;
//! let ops = store.read(|tx| tx.ops(None))?;
//! assert_eq!((ops.len(), ops[0].kind), (1, OpKind::Insert));
//! # Ok::<(), sync_core::store::StoreError>(())
//! ```
//!
//! # Blocking and sharing
//!
//! The trait is synchronous on purpose: a transaction is a closure run to completion
//! on one thread, which keeps SQLite's transactions simple and correct. A store is
//! `Send + Sync` and shared behind an `Arc` by any number of tasks; the engine never
//! calls it on a tokio worker: every call goes through `tokio::task::spawn_blocking`
//! (see [`run_blocking`]). Stores serialize writers internally.

mod conflict;
mod error;
mod memory;
mod query;
mod queue;
mod typed_column;

pub use conflict::{ConflictKind, StoredConflict, Watermark};
pub use error::{StoreError, StoreErrorKind};
pub use memory::MemoryStore;
pub use query::{CmpOp, Filter, Order, Query};
pub use queue::{Collapse, OpError, OpKind, Operation, StoreTxExt, collapse};
pub use typed_column::{IntoOperand, NotNull, Nullable, SortKey, TypedColumn};

/// Fitting values and records to their schema lives in the model; named here too,
/// because every store implementation calls them.
pub use crate::model::{coerce, normalize};

use std::sync::Arc;

use crate::model::{Record, TableSchema};

/// A local store: rows of synced tables, the operation queue, stored conflicts, the
/// last-synced (base) copy of each row, and pull watermarks.
///
/// Implementations must make [`Store::transaction`] atomic and isolated: concurrent
/// transactions behave as if run one after the other. See the module docs.
pub trait Store: Send + Sync + 'static {
    /// Runs `f` in one write transaction: commits if it returns `Ok`, rolls back if it
    /// returns `Err` or panics.
    fn transaction<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>;

    /// Runs `f` for reading. Writes made through the `StoreTx` of a read are rolled back.
    /// Stores may serve reads concurrently with a writer.
    fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>;
}

/// Runs a store call on tokio's blocking pool, so that SQLite or file I/O never blocks
/// a runtime worker.
///
/// ```
/// use std::sync::Arc;
/// use sync_core::store::{run_blocking, MemoryStore, Store, StoreTx};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let n = run_blocking(&store, |s| s.read(|tx| tx.ops(None))).await.unwrap().len();
/// assert_eq!(n, 0);
/// # });
/// ```
pub async fn run_blocking<S, R, F>(store: &Arc<S>, f: F) -> Result<R, StoreError>
where
    S: Store,
    R: Send + 'static,
    F: FnOnce(&S) -> Result<R, StoreError> + Send + 'static,
{
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
}

/// What can be done inside a store transaction: the storage kernel. Object-safe, so
/// that the engine's logic is written once for every store.
///
/// Six groups of a few required methods each: tables, rows, queue entries, conflicts,
/// base copies and pull watermarks. Every method stores or reads exactly what it says;
/// the rules over them (how a new operation collapses into a pending one, counting a
/// sending attempt, recording an operation's error) are [`StoreTxExt`]'s, written once
/// over this kernel for every store. A backend that wants a fast path finds it inside
/// its own methods (sync-sqlite keeps an in-memory index of queued items, for one).
pub trait StoreTx {
    // ----- tables -----

    /// Creates the table, or migrates it: columns the schema adds are added (existing
    /// rows read them as `Null`), columns it no longer has are left alone, and a column
    /// whose type changed is a [`SchemaError::TypeChanged`](crate::SchemaError::TypeChanged).
    fn ensure_table(&mut self, schema: &TableSchema) -> Result<(), StoreError>;

    /// The schema the store holds for a table (as last ensured, plus any columns kept
    /// from earlier versions).
    fn table_schema(&mut self, table: &str) -> Result<Option<TableSchema>, StoreError>;

    // ----- rows -----

    /// A row by id, with every column of the table.
    fn get(&mut self, table: &str, id: &str) -> Result<Option<Record>, StoreError>;

    /// Inserts or replaces a row. Values are checked against the columns' types
    /// ([`coerce`]); columns the record lacks are stored as `Null` (`deleted`: false).
    fn upsert(&mut self, table: &str, record: &Record) -> Result<(), StoreError>;

    /// Deletes a row; false when there was none.
    fn delete(&mut self, table: &str, id: &str) -> Result<bool, StoreError>;

    /// Rows matching a query (see [`query`](self::Query) for the semantics).
    fn query(&mut self, table: &str, query: &Query) -> Result<Vec<Record>, StoreError>;

    /// How many rows match.
    fn count(&mut self, table: &str, filter: Option<&Filter>) -> Result<u64, StoreError>;

    /// Deletes every row of the table and its base copies, watermarks and conflicts (not
    /// its queued operations: the engine refuses to purge while some are pending).
    /// Returns the number of rows deleted.
    fn clear_table(&mut self, table: &str) -> Result<u64, StoreError>;

    // ----- the operation queue -----

    /// The operation queued for an item.
    fn op(&mut self, table: &str, id: &str) -> Result<Option<Operation>, StoreError>;

    /// Queued operations in queue order, of one table or all.
    fn ops(&mut self, table: Option<&str>) -> Result<Vec<Operation>, StoreError>;

    /// Stores a new operation at the end of the queue and returns it with its `seq`.
    /// An operation for the same item must not already be queued.
    fn add_op(&mut self, op: Operation) -> Result<Operation, StoreError>;

    /// Replaces the queued operation with the same table and id, keeping its position.
    fn replace_op(&mut self, op: &Operation) -> Result<(), StoreError>;

    /// Removes an item's operation; false when there was none.
    fn remove_op(&mut self, table: &str, id: &str) -> Result<bool, StoreError>;

    // ----- conflicts -----

    /// Stores a conflict, replacing any for the same item.
    fn save_conflict(&mut self, conflict: &StoredConflict) -> Result<(), StoreError>;

    /// The conflict stored for an item.
    fn conflict(&mut self, table: &str, id: &str) -> Result<Option<StoredConflict>, StoreError>;

    /// Conflicts of one table (or all), oldest first.
    fn conflicts(&mut self, table: Option<&str>) -> Result<Vec<StoredConflict>, StoreError>;

    /// Removes an item's conflict; false when there was none.
    fn remove_conflict(&mut self, table: &str, id: &str) -> Result<bool, StoreError>;

    // ----- base copies (the last synced version of each row) -----

    /// The last copy of an item known to be on the server.
    fn base(&mut self, table: &str, id: &str) -> Result<Option<Record>, StoreError>;

    /// Stores the last synced copy of an item (its `id` column names it).
    fn set_base(&mut self, table: &str, record: &Record) -> Result<(), StoreError>;

    /// Forgets an item's base copy.
    fn remove_base(&mut self, table: &str, id: &str) -> Result<bool, StoreError>;

    // ----- pull watermarks -----

    /// Where the last pull of a query stopped.
    fn watermark(&mut self, table: &str, query_id: &str) -> Result<Option<Watermark>, StoreError>;

    /// Moves a query's watermark.
    fn set_watermark(
        &mut self,
        table: &str,
        query_id: &str,
        mark: &Watermark,
    ) -> Result<(), StoreError>;

    /// Forgets one query's watermark (`Some`) or all of a table's (`None`).
    fn remove_watermarks(&mut self, table: &str, query_id: Option<&str>)
    -> Result<u64, StoreError>;
}

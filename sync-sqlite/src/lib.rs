//! The local store of tablesync on SQLite: [`SqliteStore`], a
//! [`Store`](sync_core::store::Store) in one database file (rusqlite with a bundled SQLite).
//!
//! # How data flows
//!
//! A transaction ([`Store::transaction`](sync_core::store::Store::transaction)) takes the
//! store's one writing connection, runs `BEGIN IMMEDIATE`, hands the closure a `StoreTx`
//! and commits or rolls back. A read of a file takes one of a few reading connections
//! instead and runs beside the writer on its own WAL snapshot (the `store` module says
//! why its caches always match that snapshot). Inside, an app row goes to a table of its own (created and
//! migrated from its [`TableSchema`](sync_core::TableSchema) by `ensure_table`), and
//! everything the sync engine keeps goes to bookkeeping tables named `__tablesync_*`:
//! the operation queue, conflicts, base copies, pull watermarks, each table's column
//! types and the file's format version. Records kept inside bookkeeping rows use an
//! exact, tagged JSON encoding (the `codec` module).
//!
//! All SQL is built with sea-query; the statements of the hot path are built once (per
//! table and schema version) and run through rusqlite's prepared-statement cache, so a
//! write only binds values.
//!
//! ```
//! use sync_core::store::{Filter, Query, Store, StoreTx};
//! use sync_core::{ColumnType, Record, TableSchema};
//! use sync_sqlite::SqliteStore;
//!
//! let store = SqliteStore::open_in_memory()?;
//! let schema = TableSchema::new("Todo").with_column("text", ColumnType::Text, false);
//! store.transaction(|tx| {
//!     tx.ensure_table(&schema)?;
//!     for (id, text) in [("a", "50% off"), ("b", "500 boxes")] {
//!         let mut r = Record::new();
//!         r.set("id", id);
//!         r.set("text", text);
//!         tx.upsert("Todo", &r)?;
//!     }
//!     Ok(())
//! })?;
//! // `%` is a plain character, not a LIKE wildcard.
//! let hits = store.read(|tx| tx.query("Todo", &Query::new().filter(Filter::contains("text", "0%"))))?;
//! assert_eq!(hits.len(), 1);
//! assert_eq!(hits[0].id(), Some("a"));
//! # Ok::<(), sync_core::store::StoreError>(())
//! ```

#![warn(missing_docs)]

mod bookkeeping;
mod codec;
mod error;
mod filter;
mod queue_index;
mod readers;
mod store;
mod table;
mod tx;
mod values;

pub use bookkeeping::FORMAT_VERSION;
pub use store::{SqliteOptions, SqliteStore, Synchronous};

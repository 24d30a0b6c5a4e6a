//! The core of tablesync: the data model and the sync engine, with no I/O of its own.
//!
//! - [`model`]: [`Syncable`] structs, [`Record`]s of [`Value`]s, [`TableSchema`]s.
//!
//! Apps normally use the facade crate `tablesync`, which re-exports this crate and the
//! `#[derive(Syncable)]` macro.
//!
//! ```
//! use sync_core::{Record, Value};
//! let mut r = Record::new();
//! r.set("id", "1");
//! assert_eq!(r.get("id"), Some(&Value::from("1")));
//! ```

#![warn(missing_docs)]

// Lets generated code name this crate `::sync_core` from inside its own tests.
extern crate self as sync_core;

pub mod conflict;
pub mod engine;
pub mod model;
mod source;
pub mod store;
pub mod transport;

#[cfg(feature = "conformance")]
pub mod conformance;

#[doc(hidden)]
pub mod __private;

pub use model::{
    Column, ColumnType, DecodeError, DecodeErrorKind, EncodeError, Merged, RESERVED_TABLE_PREFIX,
    Record, SchemaError, SyncValue, Syncable, SystemColumn, TableSchema, Value, ValueError,
    json_from_value, json_to_value, validate_column_name, validate_table_name,
};

pub use source::ErrorSource;

// The types that appear in synced structs, re-exported so that an app needs no
// separate dependency (and no version to keep in step) to name them.
pub use chrono;
pub use serde_json;
pub use uuid;

/// `#[derive(Syncable)]`: see the `sync-derive` crate.
#[cfg(feature = "derive")]
pub use sync_derive::Syncable;

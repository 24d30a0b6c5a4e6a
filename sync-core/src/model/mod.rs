//! The data model: typed structs ([`Syncable`]) become [`Record`]s of [`Value`]s laid out
//! by a [`TableSchema`]; [`SyncValue`] maps each field type to a value and back;
//! [`coerce`] and [`normalize`] fit values and records to their schema; [`instant`]
//! reads and writes instants and dates as text, in every form they take.

mod error;
mod fit;
pub mod instant;
mod record;
mod schema;
mod sync_value;
mod syncable;
mod value;

pub use error::{DecodeError, DecodeErrorKind, EncodeError, SchemaError, ValueError};
pub use fit::{coerce, normalize};
pub use record::{Merged, Record};
pub use schema::{
    Column, ColumnType, RESERVED_TABLE_PREFIX, SystemColumn, TableSchema, validate_column_name,
    validate_table_name,
};
pub use sync_value::{SyncValue, json_from_value, json_to_value};
pub use syncable::Syncable;
pub use value::Value;

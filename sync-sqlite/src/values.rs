//! How a [`Value`] is kept in an SQLite column and read back by the column's logical type.
//!
//! | logical type | stored as |
//! |---|---|
//! | text | TEXT |
//! | integer | INTEGER |
//! | real | REAL (the column has BLOB affinity, see below); NaN as an 8-byte BLOB of its bits |
//! | bool | INTEGER 0 / 1 |
//! | blob | BLOB |
//! | date | TEXT `YYYY-MM-DD` ([`instant::date_to_stored`]) |
//! | datetime | TEXT `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, fixed width so text order is time order ([`instant::to_stored`]) |
//! | json | TEXT (serde_json's compact form) |
//!
//! Reading is exact: a value reads back equal (bit for bit for reals) to what was written.
//! Anything else found in a column is [`StoreError::Corrupt`], naming table, row and column.

use chrono::{DateTime, Utc};
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use sync_core::model::instant;
use sync_core::store::StoreError;
use sync_core::{Column, ColumnType, SystemColumn, Value};

use crate::error::corrupt;

/// The SQLite value to bind for a (normalized) value. Borrows text and blobs.
pub(crate) fn to_sql(v: &Value) -> ToSqlOutput<'_> {
    match v {
        Value::Null => ToSqlOutput::Owned(SqlValue::Null),
        Value::Bool(b) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(*b))),
        Value::Integer(i) => ToSqlOutput::Owned(SqlValue::Integer(*i)),
        // SQLite turns a NaN into NULL; keep its exact bits in a blob instead.
        Value::Real(f) if f.is_nan() => {
            ToSqlOutput::Owned(SqlValue::Blob(f.to_bits().to_be_bytes().to_vec()))
        }
        Value::Real(f) => ToSqlOutput::Owned(SqlValue::Real(*f)),
        Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        Value::Date(d) => ToSqlOutput::Owned(SqlValue::Text(instant::date_to_stored(d))),
        Value::DateTime(t) => instant_to_sql(t),
        Value::Json(j) => ToSqlOutput::Owned(SqlValue::Text(j.to_string())),
    }
}

/// An instant as a statement parameter: its stored text ([`instant::to_stored`]).
pub(crate) fn instant_to_sql(t: &DateTime<Utc>) -> ToSqlOutput<'static> {
    ToSqlOutput::Owned(SqlValue::Text(instant::to_stored(t)))
}

/// The same value as a sea-query parameter (for dynamically built queries). A NaN binds
/// as NULL, which compares as unknown: the same answer as comparing with NaN in Rust.
pub(crate) fn to_sea(v: &Value) -> sea_query::Value {
    use sea_query::Value as S;
    match v {
        Value::Null => S::String(None),
        Value::Bool(b) => S::BigInt(Some(i64::from(*b))),
        Value::Integer(i) => S::BigInt(Some(*i)),
        Value::Real(f) => S::Double(Some(*f)),
        Value::Text(s) => S::String(Some(s.clone())),
        Value::Blob(b) => S::Bytes(Some(b.clone())),
        Value::Date(d) => S::String(Some(instant::date_to_stored(d))),
        Value::DateTime(t) => S::String(Some(instant::to_stored(t))),
        Value::Json(j) => S::String(Some(j.to_string())),
    }
}

/// Reads one stored column back as its logical type.
pub(crate) fn from_sql(
    table: &str,
    id: &dyn Fn() -> String,
    col: &Column,
    v: ValueRef<'_>,
) -> Result<Value, StoreError> {
    let bad = |found: &str| {
        corrupt(
            table,
            format_args!("id `{}`", id()),
            format_args!("column `{}` ({}) holds {found}", col.name, col.ty.name()),
        )
    };
    let text = |b| std::str::from_utf8(b).map_err(|_| bad("text that is not UTF-8"));
    Ok(match (col.ty, v) {
        // A row written before a bool system column existed reads it as false, the way
        // MemoryStore widens old rows.
        (ColumnType::Bool, ValueRef::Null) if col.system == Some(SystemColumn::Deleted) => {
            Value::Bool(false)
        }
        (_, ValueRef::Null) => Value::Null,
        (ColumnType::Text, ValueRef::Text(b)) => Value::Text(text(b)?.to_owned()),
        (ColumnType::Integer, ValueRef::Integer(i)) => Value::Integer(i),
        (ColumnType::Real, ValueRef::Real(f)) => Value::Real(f),
        (ColumnType::Real, ValueRef::Blob(b)) => match <[u8; 8]>::try_from(b) {
            Ok(bits) => Value::Real(f64::from_bits(u64::from_be_bytes(bits))),
            Err(_) => return Err(bad("a blob that is not 8 bytes")),
        },
        (ColumnType::Bool, ValueRef::Integer(0)) => Value::Bool(false),
        (ColumnType::Bool, ValueRef::Integer(1)) => Value::Bool(true),
        (ColumnType::Blob, ValueRef::Blob(b)) => Value::Blob(b.to_vec()),
        (ColumnType::Date, ValueRef::Text(b)) => {
            let s = text(b)?;
            match instant::parse_stored_date(s) {
                Some(d) => Value::Date(d),
                None => return Err(bad(&format!("`{s}`, not a date"))),
            }
        }
        (ColumnType::DateTime, ValueRef::Text(b)) => {
            let s = text(b)?;
            match instant::parse_stored(s) {
                Some(t) => Value::DateTime(t),
                None => return Err(bad(&format!("`{s}`, not an instant"))),
            }
        }
        (ColumnType::Json, ValueRef::Text(b)) => {
            let s = text(b)?;
            match serde_json::from_str(s) {
                Ok(j) => Value::Json(j),
                Err(e) => return Err(bad(&format!("invalid JSON ({e})"))),
            }
        }
        (_, v) => return Err(bad(&describe(v))),
    })
}

fn describe(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(i) => format!("the integer {i}"),
        ValueRef::Real(f) => format!("the real {f}"),
        ValueRef::Text(_) => "text".to_owned(),
        ValueRef::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn round_trip(ty: ColumnType, v: Value) -> Value {
        let col = Column::new("c", ty);
        let out = to_sql(&v);
        let r = match &out {
            ToSqlOutput::Borrowed(r) => *r,
            ToSqlOutput::Owned(o) => ValueRef::from(o),
            _ => unreachable!("to_sql only borrows or owns"),
        };
        from_sql("T", &|| "x".into(), &col, r).expect("reads back")
    }

    #[test]
    fn every_type_reads_back_exactly() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("valid instant");
        let d = NaiveDate::from_ymd_opt(2026, 2, 28).expect("valid date");
        for (ty, v) in [
            (ColumnType::Real, Value::Real(-0.0)),
            (
                ColumnType::Real,
                Value::Real(f64::from_bits(0x7ff8_dead_beef_0001)),
            ),
            (ColumnType::Integer, Value::Integer(i64::MIN)),
            (ColumnType::Bool, Value::Bool(true)),
            (ColumnType::Blob, Value::Blob(vec![])),
            (ColumnType::Date, Value::Date(d)),
            (ColumnType::DateTime, Value::DateTime(t)),
            (
                ColumnType::Json,
                Value::Json(serde_json::json!({"a": [1.5, null]})),
            ),
        ] {
            assert_eq!(round_trip(ty, v.clone()), v);
        }
    }

    #[test]
    fn a_wrong_storage_class_is_corrupt_not_a_panic() {
        let col = Column::new("done", ColumnType::Bool);
        let e = from_sql("T", &|| "a1".into(), &col, ValueRef::Integer(7)).unwrap_err();
        assert!(
            matches!(e, StoreError::Corrupt(m) if m.contains("`T`") && m.contains("`done`") && m.contains("a1"))
        );
    }
}

//! Fitting values and records to their schema: [`coerce`] one value to its column,
//! [`normalize`] a whole record to its table. Every store runs what it writes and
//! every filter value through these before it touches its data, so that all stores
//! accept, convert and refuse exactly the same values (the conformance suite checks
//! it) and a backend only ever sees a value in its column's canonical form.

use super::instant;
use super::{Column, ColumnType, Record, SystemColumn, TableSchema, Value};
// A value or record that does not fit is a store's refusal: the error is the store's,
// so that a store returns it as it is (`?`) and apps match one error type.
use crate::store::StoreError;

/// Checks a value against its column and returns it in the column's canonical form:
/// integers widen to reals in real columns, `0`/`1` become bools in bool columns, ISO
/// text becomes a date or instant in date and instant columns ([`instant::parse_date`],
/// [`instant::parse`]), JSON text and bools, integers and reals become JSON values in
/// JSON columns. Everything else of the wrong kind is an error. `Null` fits every
/// column ([`normalize`] then insists on an `id`).
///
/// ```
/// use sync_core::model::coerce;
/// use sync_core::{Column, ColumnType, Value};
/// let c = Column::new("price", ColumnType::Real);
/// assert_eq!(coerce("T", &c, Value::Integer(3)).unwrap(), Value::Real(3.0));
/// assert!(coerce("T", &c, Value::Text("3".into())).is_err());
/// let j = Column::new("tags", ColumnType::Json);
/// assert_eq!(coerce("T", &j, Value::Text("[1]".into())).unwrap(), Value::Json(serde_json::json!([1])));
/// let e = coerce("T", &j, Value::Text("[1".into())).unwrap_err();
/// assert_eq!(e.to_string(), "table `T`, column `tags`: expected json, found text");
/// ```
pub fn coerce(table: &str, column: &Column, value: Value) -> Result<Value, StoreError> {
    let wrong = |v: &Value| StoreError::WrongType {
        table: table.to_owned(),
        column: column.name.clone(),
        expected: column.ty.name(),
        found: v.kind(),
    };
    Ok(match (column.ty, value) {
        (_, Value::Null) => Value::Null,
        (ColumnType::Text, v @ Value::Text(_)) => v,
        (ColumnType::Integer, v @ Value::Integer(_)) => v,
        (ColumnType::Integer, Value::Real(f))
            if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 =>
        {
            Value::Integer(f as i64)
        }
        (ColumnType::Real, v @ Value::Real(_)) => v,
        (ColumnType::Real, Value::Integer(i)) => Value::Real(i as f64),
        (ColumnType::Bool, v @ Value::Bool(_)) => v,
        (ColumnType::Bool, Value::Integer(i @ (0 | 1))) => Value::Bool(i == 1),
        (ColumnType::Blob, v @ Value::Blob(_)) => v,
        (ColumnType::Date, v @ Value::Date(_)) => v,
        (ColumnType::Date, Value::Text(s)) => match instant::parse_date(&s) {
            Some(d) => Value::Date(d),
            None => return Err(wrong(&Value::Text(s))),
        },
        (ColumnType::DateTime, v @ Value::DateTime(_)) => v,
        (ColumnType::DateTime, Value::Text(s)) => match instant::parse(&s) {
            Some(t) => Value::DateTime(t),
            None => return Err(wrong(&Value::Text(s))),
        },
        (ColumnType::Json, v @ Value::Json(_)) => v,
        (ColumnType::Json, Value::Text(s)) => match serde_json::from_str(&s) {
            Ok(j) => Value::Json(j),
            Err(_) => return Err(wrong(&Value::Text(s))),
        },
        (ColumnType::Json, Value::Bool(b)) => Value::Json(b.into()),
        (ColumnType::Json, Value::Integer(i)) => Value::Json(i.into()),
        (ColumnType::Json, Value::Real(f)) => Value::Json(f.into()),
        (_, v) => return Err(wrong(&v)),
    })
}

/// Checks a whole record against a table's schema: every column known, every value
/// coerced, a non-empty text id. Returns the record in schema order, with every column
/// (missing ones `Null`, `deleted` false).
///
/// ```
/// use sync_core::model::normalize;
/// use sync_core::{ColumnType, Record, TableSchema, Value};
/// let s = TableSchema::new("T").with_column("n", ColumnType::Real, true);
/// let mut r = Record::new();
/// r.set("id", "x"); r.set("n", 2i64);
/// let n = normalize(&s, &r).unwrap();
/// assert_eq!(n.get("n"), Some(&Value::Real(2.0)));
/// assert_eq!(n.get("deleted"), Some(&Value::Bool(false)));
/// assert_eq!(n.len(), 6);
/// ```
pub fn normalize(schema: &TableSchema, record: &Record) -> Result<Record, StoreError> {
    for (name, _) in record.iter() {
        if schema.column(name).is_none() {
            return Err(StoreError::UnknownColumn {
                table: schema.name.clone(),
                column: name.to_owned(),
            });
        }
    }
    let mut out = Record::with_capacity(schema.columns.len());
    for col in &schema.columns {
        let v = match record.get(&col.name) {
            Some(v) => coerce(&schema.name, col, v.clone())?,
            None => Value::Null,
        };
        let v = match (col.system, v) {
            (Some(SystemColumn::Deleted), Value::Null) => Value::Bool(false),
            (_, v) => v,
        };
        out.push(col.name.clone(), v);
    }
    match out.id() {
        Some(id) if !id.is_empty() => Ok(out),
        _ => Err(StoreError::MissingId {
            table: schema.name.clone(),
        }),
    }
}

//! [`Value`]: one column's value, the currency between typed structs, stores and transports.

use chrono::{DateTime, NaiveDate, Utc};

use super::schema::ColumnType;

/// One column's value.
///
/// Stores and transports convert values to their own representation (SQLite affinities,
/// JSON on the wire) and back; typed decoding ([`SyncValue`](super::SyncValue)) accepts the
/// lossless alternative forms they produce (an ISO text for a date, `0`/`1` for a bool).
///
/// Equality is exact: two `Real`s are equal when their bits are, so `NaN == NaN` and a
/// value always equals its own round trip. Change tracking relies on that.
///
/// ```
/// use sync_core::Value;
/// assert_eq!(Value::from("hi"), Value::Text("hi".to_string()));
/// assert_eq!(Value::Real(f64::NAN), Value::Real(f64::NAN));
/// assert!(Value::Null.is_null());
/// ```
#[derive(Debug, Clone)]
pub enum Value {
    /// SQL NULL / JSON null: an absent optional value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer; every integer width that fits maps here.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Blob(Vec<u8>),
    /// A calendar date without time zone.
    Date(NaiveDate),
    /// An instant in UTC.
    DateTime(DateTime<Utc>),
    /// A JSON document (fields marked `#[sync(json)]`).
    Json(serde_json::Value),
}

impl Value {
    /// True for [`Value::Null`].
    ///
    /// ```
    /// assert!(sync_core::Value::Null.is_null());
    /// ```
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A short name of the value's kind, used in error messages.
    ///
    /// ```
    /// assert_eq!(sync_core::Value::Integer(3).kind(), "integer");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
            Value::Date(_) => "date",
            Value::DateTime(_) => "datetime",
            Value::Json(_) => "json",
        }
    }

    /// The column type this value naturally belongs to (`None` for `Null`).
    ///
    /// ```
    /// use sync_core::{ColumnType, Value};
    /// assert_eq!(Value::Bool(true).natural_type(), Some(ColumnType::Bool));
    /// ```
    pub fn natural_type(&self) -> Option<ColumnType> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => ColumnType::Bool,
            Value::Integer(_) => ColumnType::Integer,
            Value::Real(_) => ColumnType::Real,
            Value::Text(_) => ColumnType::Text,
            Value::Blob(_) => ColumnType::Blob,
            Value::Date(_) => ColumnType::Date,
            Value::DateTime(_) => ColumnType::DateTime,
            Value::Json(_) => ColumnType::Json,
        })
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Integer(a), Value::Integer(b)) => a == b,
            (Value::Real(a), Value::Real(b)) => a.to_bits() == b.to_bits(),
            (Value::Text(a), Value::Text(b)) => a == b,
            (Value::Blob(a), Value::Blob(b)) => a == b,
            (Value::Date(a), Value::Date(b)) => a == b,
            (Value::DateTime(a), Value::DateTime(b)) => a == b,
            (Value::Json(a), Value::Json(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

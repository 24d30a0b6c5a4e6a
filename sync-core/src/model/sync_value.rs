//! [`SyncValue`]: how a Rust field type maps to a column [`Value`] and back.
//!
//! Implemented here for the supported field types; apps implement it for their own types
//! (a newtype id, an enum stored as text). Decoding accepts the lossless alternative
//! forms that stores and the wire produce: `0`/`1` for a bool, an integral real for an
//! integer, ISO text for dates and instants, hyphenated text for a UUID.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use uuid::Uuid;

use super::error::ValueError;
use super::instant;
use super::schema::ColumnType;
use super::value::Value;

/// Maps a Rust type to a column value and back.
///
/// ```
/// use sync_core::{ColumnType, SyncValue, Value, ValueError};
///
/// /// A priority stored as its name.
/// #[derive(Debug, PartialEq)]
/// enum Priority { Low, High }
///
/// impl SyncValue for Priority {
///     const COLUMN_TYPE: ColumnType = ColumnType::Text;
///     fn to_value(&self) -> Value {
///         Value::from(match self { Priority::Low => "low", Priority::High => "high" })
///     }
///     fn from_value(value: Value) -> Result<Self, ValueError> {
///         match value {
///             Value::Text(t) if t == "low" => Ok(Priority::Low),
///             Value::Text(t) if t == "high" => Ok(Priority::High),
///             Value::Text(t) => Err(ValueError::invalid("`low` or `high`", format!("text {t:?}"))),
///             other => Err(ValueError::wrong_type("text", &other)),
///         }
///     }
/// }
///
/// assert_eq!(Priority::from_value(Priority::High.to_value()), Ok(Priority::High));
/// assert!(Priority::from_value(Value::Integer(1)).is_err());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a synced column",
    label = "this field's type has no `SyncValue` implementation",
    note = "supported: String, bool, i8..i64, u8..u32, f32, f64, Vec<u8>, Option<T>, chrono::DateTime<Utc>, chrono::NaiveDate, uuid::Uuid",
    note = "for any serde type, mark the field `#[sync(json)]`; for your own type, implement `SyncValue`; for a field that is not to be stored at all, use `#[sync(skip)]`"
)]
pub trait SyncValue: Sized {
    /// The column type this Rust type is stored as.
    const COLUMN_TYPE: ColumnType;
    /// Whether the column may hold `Null` (true for `Option<T>`).
    const NULLABLE: bool = false;

    /// The value to store.
    fn to_value(&self) -> Value;

    /// Decodes a stored value; a wrong kind or a value that does not fit is an error.
    fn from_value(value: Value) -> Result<Self, ValueError>;

    /// What to use when the column is absent from a record: `None` (an error) for every
    /// type but `Option<T>`, which reads a missing column as `None`.
    fn from_missing() -> Option<Self> {
        None
    }

    /// Whether two values would be stored identically (used by change tracking).
    fn same(&self, other: &Self) -> bool {
        self.to_value() == other.to_value()
    }
}

impl SyncValue for String {
    const COLUMN_TYPE: ColumnType = ColumnType::Text;
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Text(s) => Ok(s),
            other => Err(ValueError::wrong_type("text", &other)),
        }
    }
    fn same(&self, other: &Self) -> bool {
        self == other
    }
}

impl SyncValue for bool {
    const COLUMN_TYPE: ColumnType = ColumnType::Bool;
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Bool(b) => Ok(b),
            Value::Integer(0) => Ok(false),
            Value::Integer(1) => Ok(true),
            Value::Integer(i) => Err(ValueError::invalid("bool", format!("integer {i}"))),
            other => Err(ValueError::wrong_type("bool", &other)),
        }
    }
    fn same(&self, other: &Self) -> bool {
        self == other
    }
}

fn integer_of(expected: &'static str, value: Value) -> Result<i64, ValueError> {
    match value {
        Value::Integer(i) => Ok(i),
        // JSON numbers may arrive as 5.0; accept them only when nothing is lost.
        Value::Real(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => {
            Ok(f as i64)
        }
        Value::Real(f) => Err(ValueError::invalid(expected, format!("real {f:?}"))),
        other => Err(ValueError::wrong_type(expected, &other)),
    }
}

macro_rules! integer_impl {
    ($($t:ty),*) => {$(
        impl SyncValue for $t {
            const COLUMN_TYPE: ColumnType = ColumnType::Integer;
            fn to_value(&self) -> Value {
                Value::Integer(i64::from(*self))
            }
            fn from_value(value: Value) -> Result<Self, ValueError> {
                let i = integer_of(stringify!($t), value)?;
                <$t>::try_from(i).map_err(|_| {
                    ValueError::invalid(stringify!($t), format!("integer {i} (out of range)"))
                })
            }
            fn same(&self, other: &Self) -> bool {
                self == other
            }
        }
    )*};
}
integer_impl!(i8, i16, i32, i64, u8, u16, u32);

impl SyncValue for f64 {
    const COLUMN_TYPE: ColumnType = ColumnType::Real;
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Real(f) => Ok(f),
            Value::Integer(i) => Ok(i as f64),
            other => Err(ValueError::wrong_type("real", &other)),
        }
    }
}

impl SyncValue for f32 {
    const COLUMN_TYPE: ColumnType = ColumnType::Real;
    fn to_value(&self) -> Value {
        Value::Real(f64::from(*self))
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        let f = f64::from_value(value).map_err(|e| ValueError {
            expected: "f32",
            ..e
        })?;
        if f.is_finite() && f.abs() > f64::from(f32::MAX) {
            return Err(ValueError::invalid(
                "f32",
                format!("real {f:?} (out of range)"),
            ));
        }
        Ok(f as f32)
    }
}

impl SyncValue for Vec<u8> {
    const COLUMN_TYPE: ColumnType = ColumnType::Blob;
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Blob(b) => Ok(b),
            other => Err(ValueError::wrong_type("blob", &other)),
        }
    }
    fn same(&self, other: &Self) -> bool {
        self == other
    }
}

impl SyncValue for NaiveDate {
    const COLUMN_TYPE: ColumnType = ColumnType::Date;
    fn to_value(&self) -> Value {
        Value::Date(*self)
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Date(d) => Ok(d),
            // Servers store dates as instants; midnight UTC is the date itself.
            Value::DateTime(t) => Ok(t.date_naive()),
            Value::Text(s) => instant::parse_date(&s)
                .ok_or_else(|| ValueError::invalid("date", format!("text {s:?} (not a date)"))),
            other => Err(ValueError::wrong_type("date", &other)),
        }
    }
}

impl SyncValue for DateTime<Utc> {
    const COLUMN_TYPE: ColumnType = ColumnType::DateTime;
    fn to_value(&self) -> Value {
        Value::DateTime(*self)
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::DateTime(t) => Ok(t),
            Value::Date(d) => Ok(d.and_time(NaiveTime::MIN).and_utc()),
            Value::Text(s) => instant::parse(&s).ok_or_else(|| {
                ValueError::invalid("datetime", format!("text {s:?} (not an RFC 3339 instant)"))
            }),
            other => Err(ValueError::wrong_type("datetime", &other)),
        }
    }
}

impl SyncValue for Uuid {
    const COLUMN_TYPE: ColumnType = ColumnType::Text;
    fn to_value(&self) -> Value {
        Value::Text(self.hyphenated().to_string())
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Text(s) => Uuid::parse_str(&s)
                .map_err(|_| ValueError::invalid("uuid", format!("text {s:?} (not a UUID)"))),
            Value::Blob(b) => Uuid::from_slice(&b)
                .map_err(|_| ValueError::invalid("uuid", format!("blob of {} bytes", b.len()))),
            other => Err(ValueError::wrong_type("uuid", &other)),
        }
    }
}

impl<T: SyncValue> SyncValue for Option<T> {
    const COLUMN_TYPE: ColumnType = T::COLUMN_TYPE;
    const NULLABLE: bool = true;
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_value)
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
    fn from_missing() -> Option<Self> {
        Some(None)
    }
    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (None, None) => true,
            (Some(a), Some(b)) => a.same(b),
            _ => false,
        }
    }
}

/// Encodes a `#[sync(json)]` field: any serde type becomes a [`Value::Json`] (JSON `null`
/// becomes [`Value::Null`]).
///
/// ```
/// let v = sync_core::json_to_value(&vec!["a", "b"]).unwrap();
/// assert_eq!(v, sync_core::Value::Json(serde_json::json!(["a", "b"])));
/// ```
pub fn json_to_value<T: serde::Serialize + ?Sized>(v: &T) -> Result<Value, serde_json::Error> {
    Ok(match serde_json::to_value(v)? {
        serde_json::Value::Null => Value::Null,
        j => Value::Json(j),
    })
}

/// Decodes a `#[sync(json)]` field from a JSON value, a JSON text, `Null` or a scalar.
///
/// ```
/// use sync_core::{json_from_value, Value};
/// let tags: Vec<String> = json_from_value(Value::Text("[\"x\"]".into())).unwrap();
/// assert_eq!(tags, ["x"]);
/// assert!(json_from_value::<Vec<String>>(Value::Integer(3)).is_err());
/// ```
pub fn json_from_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    let json = match value {
        Value::Json(j) => j,
        Value::Null => serde_json::Value::Null,
        Value::Text(s) => serde_json::from_str(&s)
            .map_err(|e| ValueError::invalid("json", format!("text that is not JSON ({e})")))?,
        Value::Bool(b) => serde_json::Value::Bool(b),
        Value::Integer(i) => serde_json::Value::from(i),
        Value::Real(f) => serde_json::Value::from(f),
        other => return Err(ValueError::wrong_type("json", &other)),
    };
    serde_json::from_value(json)
        .map_err(|e| ValueError::invalid("json", format!("JSON of another shape ({e})")))
}

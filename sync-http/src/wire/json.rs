//! Rows as JSON objects.
//!
//! Sending: bools, numbers and text map directly; a blob is base64 text; a date is the
//! instant at midnight UTC and an instant is UTC text with milliseconds
//! (`2026-11-21T12:50:52.847Z`, [`instant::to_wire`]), the form the reference server
//! stores and returns; a JSON column is sent as its JSON text, because the reference
//! server answers 500 to an object value. A non-finite real cannot be sent (JSON has no NaN): an error.
//!
//! Receiving: with a schema, each known column is decoded to its type (and a value that
//! does not fit is an error naming table and column); unknown columns keep their JSON
//! kind. `updatedAt` and `createdAt` stay the server's exact text, because watermarks
//! must be sent back verbatim.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Number, Value as Json};
use sync_core::model::instant;
use sync_core::{ColumnType, Record, SystemColumn, TableSchema, Value};

use super::WireError;

/// A JSON object, as rows travel.
pub type Object = Map<String, Json>;

fn bad(table: &str, column: &str, what: impl std::fmt::Display) -> WireError {
    WireError::new(format!("table `{table}`, column `{column}`: {what}"))
}

/// One value as JSON.
///
/// ```
/// use sync_core::Value;
/// use sync_http::wire::json::value_to_json;
/// assert_eq!(value_to_json("T", "n", &Value::Integer(3)).unwrap(), serde_json::json!(3));
/// assert_eq!(value_to_json("T", "b", &Value::Blob(vec![1, 2])).unwrap(), serde_json::json!("AQI="));
/// assert!(value_to_json("T", "r", &Value::Real(f64::NAN)).is_err());
/// ```
pub fn value_to_json(table: &str, column: &str, value: &Value) -> Result<Json, WireError> {
    Ok(match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Integer(i) => Json::from(*i),
        Value::Real(f) => Json::Number(
            Number::from_f64(*f)
                .ok_or_else(|| bad(table, column, format!("{f} cannot be sent in JSON")))?,
        ),
        Value::Text(s) => Json::String(s.clone()),
        Value::Blob(b) => Json::String(BASE64.encode(b)),
        Value::Date(d) => Json::String(instant::date_to_wire(d)),
        Value::DateTime(t) => Json::String(instant::to_wire(t)),
        Value::Json(j) => Json::String(j.to_string()),
    })
}

/// A record as a JSON object, columns in record order.
///
/// ```
/// use sync_core::Record;
/// let mut r = Record::new();
/// r.set("id", "a1");
/// r.set("done", true);
/// let obj = sync_http::wire::json::record_to_json("Todo", &r).unwrap();
/// assert_eq!(serde_json::Value::Object(obj), serde_json::json!({"id": "a1", "done": true}));
/// ```
pub fn record_to_json(table: &str, record: &Record) -> Result<Object, WireError> {
    let mut obj = Object::new();
    for (column, value) in record.iter() {
        obj.insert(column.to_owned(), value_to_json(table, column, value)?);
    }
    Ok(obj)
}

/// A record as the bytes of its JSON object: exactly what `serde_json::to_vec` writes
/// for [`record_to_json`]'s object, or its error.
///
/// A record whose values all map directly is written straight from its columns, without
/// building the object (an ordered map of owned names and values) only to write it and
/// drop it. One with a repeated column name (the object keeps one of them) or a real
/// that JSON cannot carry goes the general way, which decides or names what is wrong.
#[cfg_attr(not(feature = "client"), allow(dead_code))] // only the client sends
pub(crate) fn record_to_vec(table: &str, record: &Record) -> Result<Vec<u8>, WireError> {
    if let Some(bytes) = direct_bytes(table, record) {
        return Ok(bytes);
    }
    let obj = record_to_json(table, record)?;
    serde_json::to_vec(&obj).map_err(|e| WireError::new(e.to_string()))
}

/// Columns compared pairwise for repeats: beyond this many, the general way.
#[cfg_attr(not(feature = "client"), allow(dead_code))] // only the client sends
const DIRECT_COLUMNS: usize = 64;

#[cfg_attr(not(feature = "client"), allow(dead_code))] // only the client sends
fn direct_bytes(table: &str, record: &Record) -> Option<Vec<u8>> {
    if record.len() > DIRECT_COLUMNS {
        return None;
    }
    for (i, (column, value)) in record.iter().enumerate() {
        if matches!(value, Value::Real(f) if !f.is_finite()) {
            return None;
        }
        if record.iter().take(i).any(|(c, _)| c == column) {
            return None;
        }
    }
    serde_json::to_vec(&DirectRow { table, record }).ok()
}

/// A record whose columns are distinct and whose values can all be sent.
#[cfg_attr(not(feature = "client"), allow(dead_code))] // only the client sends
struct DirectRow<'a> {
    table: &'a str,
    record: &'a Record,
}

impl serde::Serialize for DirectRow<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.record.len()))?;
        for (column, value) in self.record.iter() {
            map.serialize_entry(
                column,
                &DirectValue {
                    table: self.table,
                    column,
                    value,
                },
            )?;
        }
        map.end()
    }
}

/// One value, written as [`value_to_json`]'s JSON value would be.
#[cfg_attr(not(feature = "client"), allow(dead_code))] // only the client sends
struct DirectValue<'a> {
    table: &'a str,
    column: &'a str,
    value: &'a Value,
}

impl serde::Serialize for DirectValue<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            // serde_json writes a number held as u64 or i64 with the same digits.
            Value::Integer(i) => serializer.serialize_i64(*i),
            // Finite (checked before): written as `Number::from_f64` would be.
            Value::Real(f) => serializer.serialize_f64(*f),
            Value::Text(t) => serializer.serialize_str(t),
            other => value_to_json(self.table, self.column, other)
                .map_err(serde::ser::Error::custom)?
                .serialize(serializer),
        }
    }
}

fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// One JSON value as a [`Value`], typed by the column's type when known.
///
/// ```
/// use sync_core::{ColumnType, Value};
/// use sync_http::wire::json::value_from_json;
/// let d = value_from_json("T", "due", serde_json::json!("2026-12-01T00:00:00.000Z"), Some(ColumnType::Date)).unwrap();
/// assert_eq!(d, Value::Date("2026-12-01".parse().unwrap()));
/// let err = value_from_json("T", "n", serde_json::json!("x"), Some(ColumnType::Integer)).unwrap_err();
/// assert_eq!(err.to_string(), "table `T`, column `n`: expected integer, got a string");
/// ```
pub fn value_from_json(
    table: &str,
    column: &str,
    json: Json,
    ty: Option<ColumnType>,
) -> Result<Value, WireError> {
    let wrong = |json: &Json, ty: ColumnType| {
        bad(table, column, format!("expected {ty}, got {}", kind(json)))
    };
    let Some(ty) = ty else {
        return Ok(untyped(json));
    };
    Ok(match (ty, json) {
        (_, Json::Null) => Value::Null,
        (ColumnType::Text, Json::String(s)) => Value::Text(s),
        (ColumnType::Bool, Json::Bool(b)) => Value::Bool(b),
        (ColumnType::Integer, Json::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::Integer(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => Value::Integer(f as i64),
            _ => return Err(bad(table, column, format!("expected integer, got {n}"))),
        },
        (ColumnType::Real, Json::Number(n)) => match n.as_f64() {
            Some(f) => Value::Real(f),
            None => return Err(bad(table, column, format!("expected real, got {n}"))),
        },
        (ColumnType::Blob, Json::String(s)) => Value::Blob(
            BASE64
                .decode(s.as_bytes())
                .map_err(|e| bad(table, column, format!("expected base64 text ({e})")))?,
        ),
        (ColumnType::Date, Json::String(s)) => match instant::parse_date(&s) {
            Some(d) => Value::Date(d),
            None => return Err(bad(table, column, format!("expected a date, got {s:?}"))),
        },
        (ColumnType::DateTime, Json::String(s)) => match instant::parse(&s) {
            Some(t) => Value::DateTime(t),
            None => {
                return Err(bad(
                    table,
                    column,
                    format!("expected an instant, got {s:?}"),
                ));
            }
        },
        (ColumnType::Json, Json::String(s)) => match serde_json::from_str(&s) {
            Ok(j) => Value::Json(j),
            // A plain string in a JSON column is a JSON string.
            Err(_) => Value::Json(Json::String(s)),
        },
        (ColumnType::Json, j) => Value::Json(j),
        (ty, json) => return Err(wrong(&json, ty)),
    })
}

/// A JSON value of an unknown column, by its own kind.
fn untyped(json: Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::Text(s),
        j @ (Json::Array(_) | Json::Object(_)) => Value::Json(j),
    }
}

/// A JSON object as a record. System columns are checked (`id` and `version` strings,
/// `deleted` a bool, the timestamps RFC 3339 text kept verbatim); data columns are
/// typed by `schema` when given.
///
/// ```
/// use sync_core::{ColumnType, TableSchema, Value};
/// use sync_http::wire::json::record_from_json;
/// let schema = TableSchema::new("Todo").with_column("complete", ColumnType::Bool, false);
/// let obj = serde_json::json!({"id": "a1", "complete": true, "updatedAt": "2026-11-21T12:50:52.847Z", "extra": 1.5});
/// let serde_json::Value::Object(obj) = obj else { unreachable!() };
/// let r = record_from_json("Todo", obj, Some(&schema)).unwrap();
/// assert_eq!(r.get("complete"), Some(&Value::Bool(true)));
/// assert_eq!(r.get("updatedAt"), Some(&Value::from("2026-11-21T12:50:52.847Z")));
/// assert_eq!(r.get("extra"), Some(&Value::Real(1.5)));
/// ```
pub fn record_from_json(
    table: &str,
    obj: Object,
    schema: Option<&TableSchema>,
) -> Result<Record, WireError> {
    let mut record = Record::with_capacity(obj.len());
    for (column, json) in obj {
        let value = column_from_json(table, &column, json, schema)?;
        record.push(column, value);
    }
    Ok(record)
}

/// One column of a JSON row as a [`Value`]: system columns checked (see
/// [`record_from_json`]), data columns typed by `schema` when given.
pub(crate) fn column_from_json(
    table: &str,
    column: &str,
    json: Json,
    schema: Option<&TableSchema>,
) -> Result<Value, WireError> {
    Ok(match SystemColumn::from_name(column) {
        Some(SystemColumn::Id) | Some(SystemColumn::Version) => match json {
            Json::String(s) => Value::Text(s),
            Json::Null => Value::Null,
            // Some servers send numeric ids; the protocol's ids are strings.
            Json::Number(n)
                if matches!(SystemColumn::from_name(column), Some(SystemColumn::Id)) =>
            {
                Value::Text(n.to_string())
            }
            other => {
                return Err(bad(
                    table,
                    column,
                    format!("expected a string, got {}", kind(&other)),
                ));
            }
        },
        Some(SystemColumn::UpdatedAt) | Some(SystemColumn::CreatedAt) => match json {
            Json::String(s) if instant::parse(&s).is_some() => Value::Text(s),
            Json::Null => Value::Null,
            other => {
                return Err(bad(
                    table,
                    column,
                    format!("expected an RFC 3339 instant, got {other}"),
                ));
            }
        },
        Some(SystemColumn::Deleted) => match json {
            Json::Bool(b) => Value::Bool(b),
            Json::Null => Value::Bool(false),
            other => {
                return Err(bad(
                    table,
                    column,
                    format!("expected a bool, got {}", kind(&other)),
                ));
            }
        },
        None => {
            let ty = schema.and_then(|s| s.column(column)).map(|c| c.ty);
            value_from_json(table, column, json, ty)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the general way writes: the object, then its bytes.
    fn general(record: &Record) -> Result<Vec<u8>, String> {
        let obj = record_to_json("T", record).map_err(|e| e.to_string())?;
        serde_json::to_vec(&obj).map_err(|e| e.to_string())
    }

    fn both(record: &Record) -> Result<Vec<u8>, String> {
        let direct = record_to_vec("T", record).map_err(|e| e.to_string());
        assert_eq!(direct, general(record), "{record:?}");
        direct
    }

    #[test]
    fn a_record_written_directly_is_the_bytes_of_its_json_object() {
        let mut r = Record::new();
        r.push("id", "a \"quoted\" \\ é 日本 \u{1} \n");
        r.push("null", Value::Null);
        r.push("yes", true);
        r.push("no", false);
        for (i, n) in [0, 1, -1, i64::MIN, i64::MAX].into_iter().enumerate() {
            r.push(format!("i{i}"), n);
        }
        for (i, f) in [0.0, -0.0, 0.1, -2.5, 1e300, 5e-324, 3.0, f64::MAX]
            .into_iter()
            .enumerate()
        {
            r.push(format!("r{i}"), Value::Real(f));
        }
        r.push("blob", Value::Blob(vec![0, 1, 255]));
        r.push("date", Value::Date("2026-12-01".parse().unwrap()));
        r.push(
            "at",
            Value::DateTime("2026-11-21T12:50:52.847123Z".parse().unwrap()),
        );
        r.push("json", Value::Json(serde_json::json!({"a": [1, "x"]})));
        r.push("a \"name\"\t", "x");
        assert!(direct_bytes("T", &r).is_some());
        let bytes = both(&r).unwrap();
        assert!(bytes.starts_with(br#"{"id":"a \"quoted\" \\ "#));
        assert_eq!(both(&Record::new()).unwrap(), b"{}");
    }

    #[test]
    fn repeats_and_unsendable_reals_take_the_general_way() {
        let mut r = Record::new();
        r.push("id", "a");
        r.push("text", "first");
        r.push("text", "second");
        assert!(direct_bytes("T", &r).is_none());
        assert_eq!(both(&r).unwrap(), br#"{"id":"a","text":"second"}"#);
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut r = Record::new();
            r.push("id", "a");
            r.push("r", Value::Real(f));
            let e = both(&r).unwrap_err();
            assert!(e.starts_with("table `T`, column `r`: "), "{e}");
        }
        let wide: Record = (0..=DIRECT_COLUMNS)
            .map(|i| (format!("c{i}"), Value::Integer(i as i64)))
            .collect();
        assert!(direct_bytes("T", &wide).is_none());
        both(&wide).unwrap();
    }
}

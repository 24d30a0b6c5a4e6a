//! The exact, type-preserving text form of records kept inside bookkeeping tables (an
//! operation's delete body, conflict sides, base copies, a server copy in an op error).
//!
//! A record is a JSON array of `[column, tag, payload]` triples, in the record's order:
//!
//! | value | tag | payload |
//! |---|---|---|
//! | null | `n` | none |
//! | bool | `b` | `true` / `false` |
//! | integer | `i` | the number |
//! | real | `r` | its IEEE bits as 16 hex digits (so NaN and -0.0 survive) |
//! | text | `t` | the string |
//! | blob | `x` | lower-case hex |
//! | date | `d` | days from 0001-01-01 (CE) |
//! | datetime | `s` | `[unix seconds, nanoseconds]` |
//! | json | `j` | the document |
//!
//! Decoding never panics: bad input is an error message the caller turns into
//! [`StoreError::Corrupt`](sync_core::store::StoreError::Corrupt) naming the table and row.

use chrono::{DateTime, Datelike, NaiveDate};
use serde_json::{Value as Json, json};
use sync_core::store::OpError;
use sync_core::{Record, Value};

/// Encodes a record.
pub(crate) fn encode_record(r: &Record) -> String {
    record_json(r).to_string()
}

fn record_json(r: &Record) -> Json {
    Json::Array(
        r.iter()
            .map(|(name, v)| {
                let (tag, payload) = value_json(v);
                match payload {
                    Some(p) => json!([name, tag, p]),
                    None => json!([name, tag]),
                }
            })
            .collect(),
    )
}

fn value_json(v: &Value) -> (&'static str, Option<Json>) {
    match v {
        Value::Null => ("n", None),
        Value::Bool(b) => ("b", Some(Json::Bool(*b))),
        Value::Integer(i) => ("i", Some(Json::from(*i))),
        Value::Real(f) => ("r", Some(Json::String(format!("{:016x}", f.to_bits())))),
        Value::Text(s) => ("t", Some(Json::String(s.clone()))),
        Value::Blob(b) => ("x", Some(Json::String(hex(b)))),
        Value::Date(d) => ("d", Some(Json::from(d.num_days_from_ce()))),
        Value::DateTime(t) => (
            "s",
            Some(json!([t.timestamp(), t.timestamp_subsec_nanos()])),
        ),
        Value::Json(j) => ("j", Some(j.clone())),
    }
}

/// Decodes [`encode_record`]'s output.
pub(crate) fn decode_record(text: &str) -> Result<Record, String> {
    let doc: Json = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    record_from_json(&doc)
}

fn record_from_json(doc: &Json) -> Result<Record, String> {
    let items = doc.as_array().ok_or("a record is not a JSON array")?;
    let mut r = Record::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let parts = item
            .as_array()
            .ok_or_else(|| format!("column #{i} is not an array"))?;
        let (name, tag) = match (parts.first(), parts.get(1)) {
            (Some(Json::String(n)), Some(Json::String(t))) => (n, t),
            _ => return Err(format!("column #{i} lacks a name and a tag")),
        };
        let v = value_from_json(tag, parts.get(2))
            .ok_or_else(|| format!("column `{name}`: bad `{tag}` value"))?;
        r.push(name.clone(), v);
    }
    Ok(r)
}

fn value_from_json(tag: &str, p: Option<&Json>) -> Option<Value> {
    Some(match (tag, p) {
        ("n", None) => Value::Null,
        ("b", Some(Json::Bool(b))) => Value::Bool(*b),
        ("i", Some(n)) => Value::Integer(n.as_i64()?),
        ("r", Some(Json::String(s))) if s.len() == 16 => {
            Value::Real(f64::from_bits(u64::from_str_radix(s, 16).ok()?))
        }
        ("t", Some(Json::String(s))) => Value::Text(s.clone()),
        ("x", Some(Json::String(s))) => Value::Blob(unhex(s)?),
        ("d", Some(n)) => Value::Date(NaiveDate::from_num_days_from_ce_opt(
            i32::try_from(n.as_i64()?).ok()?,
        )?),
        ("s", Some(Json::Array(a))) if a.len() == 2 => Value::DateTime(DateTime::from_timestamp(
            a[0].as_i64()?,
            u32::try_from(a[1].as_u64()?).ok()?,
        )?),
        ("j", Some(j)) => Value::Json(j.clone()),
        _ => return None,
    })
}

/// Encodes an operation's error.
pub(crate) fn encode_op_error(e: &OpError) -> String {
    json!({
        "status": e.status,
        "message": e.message,
        "server_copy": e.server_copy.as_ref().map(record_json),
    })
    .to_string()
}

/// Decodes [`encode_op_error`]'s output.
pub(crate) fn decode_op_error(text: &str) -> Result<OpError, String> {
    let doc: Json = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let status = match doc.get("status") {
        None | Some(Json::Null) => None,
        Some(n) => Some(
            n.as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or("the error's status is not an HTTP status")?,
        ),
    };
    let message = doc
        .get("message")
        .and_then(Json::as_str)
        .ok_or("the error has no message")?
        .to_owned();
    let server_copy = match doc.get("server_copy") {
        None | Some(Json::Null) => None,
        Some(r) => Some(record_from_json(r)?),
    };
    Ok(OpError {
        status,
        message,
        server_copy,
    })
}

fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for byte in b {
        s.push(char::from(DIGITS[usize::from(byte >> 4)]));
        s.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Record {
        let mut r = Record::new();
        r.push("n", Value::Null);
        r.push("b", true);
        r.push("i", i64::MIN);
        r.push("i2", i64::MAX);
        r.push("r", Value::Real(f64::NAN));
        r.push("r2", Value::Real(-0.0));
        r.push("r3", Value::Real(0.1 + 0.2));
        r.push("t", "quote ' \" ; % _ ünï 🦀 \0 end");
        r.push("x", Value::Blob(vec![0, 255, 16]));
        r.push("x2", Value::Blob(vec![]));
        r.push(
            "d",
            Value::Date(NaiveDate::from_ymd_opt(-44, 3, 15).expect("valid date")),
        );
        r.push(
            "s",
            Value::DateTime(DateTime::from_timestamp(-1, 999_999_999).expect("valid")),
        );
        r.push(
            "j",
            Value::Json(json!({"k": [1, 2.5, 1e300, u64::MAX, "s", null]})),
        );
        r.push("n", Value::Integer(2)); // a duplicate name survives too
        r
    }

    #[test]
    fn every_value_kind_round_trips_exactly() {
        let r = every_kind();
        assert_eq!(decode_record(&encode_record(&r)), Ok(r));
    }

    #[test]
    fn op_errors_round_trip() {
        let e = OpError {
            status: Some(400),
            message: "bad".into(),
            server_copy: Some(every_kind()),
        };
        assert_eq!(decode_op_error(&encode_op_error(&e)), Ok(e));
        let e = OpError {
            status: None,
            message: String::new(),
            server_copy: None,
        };
        assert_eq!(decode_op_error(&encode_op_error(&e)), Ok(e));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            "",
            "{}",
            "[1]",
            "[[\"a\"]]",
            "[[\"a\",\"r\",\"12\"]]",
            "[[\"a\",\"x\",\"abc\"]]",
            "[[\"a\",\"x\",\"é\"]]",
            "[[\"a\",\"d\",99999999999]]",
            "[[\"a\",\"s\",[0, 5000000000]]]",
            "[[\"a\",\"q\",1]]",
        ] {
            assert!(decode_record(bad).is_err(), "{bad}");
        }
        assert!(decode_op_error("{\"status\": 70000, \"message\": \"\"}").is_err());
    }
}

//! How a [`Value`] is kept in an SQLite column and read back by the column's logical type.
//!
//! | logical type | stored as |
//! |---|---|
//! | text | TEXT |
//! | integer | INTEGER |
//! | real | REAL (the column has BLOB affinity, see below); NaN as an 8-byte BLOB of its bits |
//! | bool | INTEGER 0 / 1 |
//! | blob | BLOB |
//! | date | TEXT `YYYY-MM-DD` |
//! | datetime | TEXT `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, fixed width so text order is time order |
//! | json | TEXT (serde_json's compact form) |
//!
//! Reading is exact: a value reads back equal (bit for bit for reals) to what was written.
//! Anything else found in a column is [`StoreError::Corrupt`], naming table, row and column.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use sync_core::store::StoreError;
use sync_core::{Column, ColumnType, SystemColumn, Value};

use crate::error::corrupt;

/// Dates as stored: ISO, so that text order is calendar order (years 0 to 9999).
pub(crate) const DATE_FORMAT: &str = "%Y-%m-%d";

/// Instants as stored: UTC, always nine fractional digits, so that text order is time order
/// (years 0 to 9999).
pub(crate) const DATETIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.9fZ";

/// The stored text of a date.
pub(crate) fn date_text(d: &NaiveDate) -> String {
    d.format(DATE_FORMAT).to_string()
}

/// Where [`datetime_text`]'s 30 bytes hold which separator; digits everywhere else.
const DATETIME_SEPARATORS: [(usize, u8); 7] = [
    (4, b'-'),
    (7, b'-'),
    (10, b'T'),
    (13, b':'),
    (16, b':'),
    (19, b'.'),
    (29, b'Z'),
];

/// The stored text of an instant.
pub(crate) fn datetime_text(t: &DateTime<Utc>) -> String {
    // chrono's general formatter costs about 4,000 instructions an instant (callgrind),
    // and every synced row has two: written by hand for the years the text order holds
    // for, and by chrono for the rest (and for leap seconds).
    use chrono::{Datelike, Timelike};
    // The naive UTC time: `DateTime`'s own accessors apply the (zero) offset each time.
    let t = t.naive_utc();
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return t.format(DATETIME_FORMAT).to_string();
    }
    let mut out = [0u8; 30];
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    put(20, 9, nanos);
    for (at, b) in DATETIME_SEPARATORS {
        out[at] = b;
    }
    // Pushed one by one into room made first: collecting chars grows the string as it goes.
    let mut text = String::with_capacity(out.len());
    text.extend(out.iter().map(|&b| char::from(b)));
    text
}

/// Parses [`datetime_text`] back.
pub(crate) fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    // By hand for the text `datetime_text` writes by hand (chrono's general parser costs
    // about 2,700 instructions an instant); chrono for anything else, so that what is
    // accepted, and how, is chrono's.
    parse_datetime_fast(s).or_else(|| {
        NaiveDateTime::parse_from_str(s, DATETIME_FORMAT)
            .ok()
            .map(|t| t.and_utc())
    })
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` exactly, or `None`.
fn parse_datetime_fast(s: &str) -> Option<DateTime<Utc>> {
    let b: &[u8; 30] = s.as_bytes().try_into().ok()?;
    if DATETIME_SEPARATORS.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let num = |at: usize, width: usize| -> Option<u32> {
        b[at..at + width].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 2)?, num(8, 2)?)?;
    let time = date.and_hms_nano_opt(num(11, 2)?, num(14, 2)?, num(17, 2)?, num(20, 9)?)?;
    Some(time.and_utc())
}

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
        Value::Date(d) => ToSqlOutput::Owned(SqlValue::Text(date_text(d))),
        Value::DateTime(t) => instant_to_sql(t),
        Value::Json(j) => ToSqlOutput::Owned(SqlValue::Text(j.to_string())),
    }
}

/// An instant as a statement parameter: its stored text.
pub(crate) fn instant_to_sql(t: &DateTime<Utc>) -> ToSqlOutput<'static> {
    ToSqlOutput::Owned(SqlValue::Text(datetime_text(t)))
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
        Value::Date(d) => S::String(Some(date_text(d))),
        Value::DateTime(t) => S::String(Some(datetime_text(t))),
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
            match NaiveDate::parse_from_str(s, DATE_FORMAT) {
                Ok(d) => Value::Date(d),
                Err(_) => return Err(bad(&format!("`{s}`, not a date"))),
            }
        }
        (ColumnType::DateTime, ValueRef::Text(b)) => {
            let s = text(b)?;
            match parse_datetime(s) {
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
    fn datetime_text_is_fixed_width_so_text_order_is_time_order() {
        let a = DateTime::from_timestamp(1_700_000_000, 0).expect("valid instant");
        let b = DateTime::from_timestamp(1_700_000_000, 5_000_000).expect("valid instant");
        assert_eq!(datetime_text(&a), "2023-11-14T22:13:20.000000000Z");
        assert!(datetime_text(&a) < datetime_text(&b));
    }

    #[test]
    fn datetime_text_writes_what_chrono_writes() {
        let chrono_text = |t: &DateTime<Utc>| t.format(DATETIME_FORMAT).to_string();
        let mut instants = vec![
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::from_timestamp(0, 0).expect("epoch"),
            DateTime::from_timestamp(-62_167_219_200, 0).expect("year 0"),
            DateTime::from_timestamp(-62_167_219_201, 999_999_999).expect("year -1"),
            DateTime::from_timestamp(253_402_300_799, 999_999_999).expect("end of 9999"),
            DateTime::from_timestamp(253_402_300_800, 0).expect("year 10000"),
            // A leap second: chrono keeps it as a nanosecond count past 1e9.
            DateTime::from_timestamp(1_483_228_799, 1_500_000_000).expect("leap second"),
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let secs = (seed % 400_000_000_000) as i64 - 70_000_000_000;
            let nanos = (seed >> 34) as u32 % 1_000_000_000;
            instants.push(DateTime::from_timestamp(secs, nanos).expect("in range"));
        }
        for t in &instants {
            assert_eq!(datetime_text(t), chrono_text(t), "{t:?}");
        }
    }

    #[test]
    fn parse_datetime_reads_what_chrono_reads() {
        let chrono_parse = |s: &str| {
            NaiveDateTime::parse_from_str(s, DATETIME_FORMAT)
                .ok()
                .map(|t| t.and_utc())
        };
        let mut rng = sync_core::conformance::Scramble::new();
        let mut texts = vec![
            "2023-11-14T22:13:20.000000000Z".to_owned(),
            "0000-01-01T00:00:00.000000000Z".to_owned(),
            "9999-12-31T23:59:59.999999999Z".to_owned(),
            "2016-12-31T23:59:60.500000000Z".to_owned(), // a leap second
            "2023-02-29T00:00:00.000000000Z".to_owned(), // no such day
            "2023-13-01T00:00:00.000000000Z".to_owned(),
            "2023-11-14T24:00:00.000000000Z".to_owned(),
            "2023-11-14T22:13:20.000000000z".to_owned(),
            "2023-11-14 22:13:20.000000000Z".to_owned(),
            "2023-11-14T22:13:20.00000000Z".to_owned(),
            "+2023-11-14T22:13:20.000000000Z".to_owned(),
            "2023-11-14T22:13:20.0000000001Z".to_owned(),
            "2023-1١-14T22:13:20.000000000Z".to_owned(),
            String::new(),
        ];
        for _ in 0..20_000 {
            let secs = (rng.number() % 400_000_000_000) as i64 - 70_000_000_000;
            let nanos = (rng.number() >> 34) as u32 % 1_000_000_000;
            let t = DateTime::from_timestamp(secs, nanos).expect("in range");
            let text = datetime_text(&t);
            assert_eq!(parse_datetime(&text), Some(t), "{text}");
            // And a damaged copy: one byte replaced.
            texts.push(rng.damage(text));
        }
        for text in &texts {
            assert_eq!(parse_datetime(text), chrono_parse(text), "{text:?}");
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

//! Every supported field type survives `to_record` → `from_record`, extremes included.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sync_core::{Syncable, Value};
use uuid::Uuid;

#[derive(sync_derive::Syncable, Debug, Clone, PartialEq)]
struct AllTypes {
    id: String,
    text: String,
    flag: bool,
    tiny: i8,
    small: i16,
    medium: i32,
    big: i64,
    byte: u8,
    word: u16,
    dword: u32,
    single: f32,
    double: f64,
    bytes: Vec<u8>,
    at: DateTime<Utc>,
    day: NaiveDate,
    key: Uuid,
    maybe_text: Option<String>,
    maybe_big: Option<i64>,
    maybe_day: Option<NaiveDate>,
    #[version]
    version: Option<String>,
}

fn round_trip(v: &AllTypes) -> AllTypes {
    AllTypes::from_record(v.to_record().unwrap()).unwrap()
}

fn minimum() -> AllTypes {
    AllTypes {
        id: String::new(),
        text: String::new(),
        flag: false,
        tiny: i8::MIN,
        small: i16::MIN,
        medium: i32::MIN,
        big: i64::MIN,
        byte: 0,
        word: 0,
        dword: 0,
        single: f32::MIN,
        double: f64::MIN,
        bytes: Vec::new(),
        at: DateTime::<Utc>::MIN_UTC,
        day: NaiveDate::MIN,
        key: Uuid::nil(),
        maybe_text: None,
        maybe_big: None,
        maybe_day: None,
        version: None,
    }
}

fn maximum() -> AllTypes {
    AllTypes {
        id: "ключ-🔑".into(),
        text: "naïve 日本語 \u{0} \"quoted\" 🎉".into(),
        flag: true,
        tiny: i8::MAX,
        small: i16::MAX,
        medium: i32::MAX,
        big: i64::MAX,
        byte: u8::MAX,
        word: u16::MAX,
        dword: u32::MAX,
        single: f32::MAX,
        double: f64::MAX,
        bytes: (0..=255).collect(),
        at: Utc.with_ymd_and_hms(2262, 4, 11, 23, 47, 16).unwrap()
            + chrono::Duration::nanoseconds(854_775_807),
        day: NaiveDate::MAX,
        key: Uuid::max(),
        maybe_text: Some(String::new()),
        maybe_big: Some(i64::MIN),
        maybe_day: NaiveDate::from_ymd_opt(2024, 2, 29),
        version: Some("AAAAAAAAB9E=".into()),
    }
}

#[test]
fn minimum_values_round_trip() {
    let v = minimum();
    assert_eq!(round_trip(&v), v);
}

#[test]
fn maximum_values_and_unicode_round_trip() {
    let v = maximum();
    assert_eq!(round_trip(&v), v);
}

#[test]
fn nan_and_infinities_round_trip_bit_for_bit() {
    let mut v = maximum();
    v.double = f64::NAN;
    v.single = f32::NAN;
    let back = round_trip(&v);
    assert!(back.double.is_nan() && back.single.is_nan());
    assert_eq!(back.double.to_bits(), f64::NAN.to_bits());

    v.double = f64::NEG_INFINITY;
    v.single = f32::INFINITY;
    let back = round_trip(&v);
    assert_eq!(
        (back.double, back.single),
        (f64::NEG_INFINITY, f32::INFINITY)
    );

    v.double = -0.0;
    assert_eq!(round_trip(&v).double.to_bits(), (-0.0f64).to_bits());
}

#[test]
fn record_holds_id_version_then_data_columns_with_their_values() {
    let v = maximum();
    let record = v.to_record().unwrap();
    let columns: Vec<&str> = record.iter().map(|(c, _)| c).collect();
    assert_eq!(
        columns,
        [
            "id",
            "version",
            "text",
            "flag",
            "tiny",
            "small",
            "medium",
            "big",
            "byte",
            "word",
            "dword",
            "single",
            "double",
            "bytes",
            "at",
            "day",
            "key",
            "maybeText",
            "maybeBig",
            "maybeDay",
        ]
    );
    assert_eq!(record.get("big"), Some(&Value::Integer(i64::MAX)));
    assert_eq!(record.get("dword"), Some(&Value::Integer(u32::MAX.into())));
    assert_eq!(
        record.get("key"),
        Some(&Value::Text(Uuid::max().to_string()))
    );
    assert_eq!(record.get("maybeText"), Some(&Value::Text(String::new())));
    assert_eq!(record.version(), Some("AAAAAAAAB9E="));

    let record = minimum().to_record().unwrap();
    assert_eq!(record.get("version"), Some(&Value::Null));
    assert_eq!(record.get("maybeBig"), Some(&Value::Null));
    assert_eq!(record.get("bytes"), Some(&Value::Blob(Vec::new())));
}

#[test]
fn an_empty_version_is_no_version() {
    let mut v = minimum();
    v.version = Some(String::new());
    assert_eq!(v.version(), None);
    assert_eq!(v.to_record().unwrap().get("version"), Some(&Value::Null));
    assert_eq!(round_trip(&v).version, None);
}

#[test]
fn extra_columns_are_ignored() {
    let v = maximum();
    let mut record = v.to_record().unwrap();
    record.set("somethingNew", 5i64);
    record.set("updatedAt", "2025-01-01T00:00:00Z");
    assert_eq!(AllTypes::from_record(record).unwrap(), v);
}

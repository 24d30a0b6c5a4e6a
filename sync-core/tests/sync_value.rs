//! Field types to values and back: every supported type round-trips, and bad input is an
//! error naming what was expected.

use chrono::{DateTime, NaiveDate, Utc};
use sync_core::{ColumnType, SyncValue, Value, ValueError};
use uuid::Uuid;

fn round_trip<T: SyncValue + PartialEq + std::fmt::Debug>(v: T) {
    let value = v.to_value();
    assert_eq!(
        T::from_value(value.clone()).as_ref(),
        Ok(&v),
        "via {value:?}"
    );
    assert!(v.same(&T::from_value(value).unwrap()));
}

#[test]
fn every_supported_type_round_trips_at_its_extremes() {
    for s in ["", "ünï 🚀", "x'; DROP TABLE t; --"] {
        round_trip(s.to_owned());
    }
    round_trip(true);
    round_trip(false);
    round_trip(i8::MIN);
    round_trip(i8::MAX);
    round_trip(i16::MIN);
    round_trip(i16::MAX);
    round_trip(i32::MIN);
    round_trip(i32::MAX);
    round_trip(i64::MIN);
    round_trip(i64::MAX);
    round_trip(u8::MAX);
    round_trip(u16::MAX);
    round_trip(u32::MAX);
    round_trip(0u32);
    round_trip(f32::MAX);
    round_trip(f32::MIN_POSITIVE);
    round_trip(-0.0f64);
    round_trip(f64::MAX);
    round_trip(Vec::<u8>::new());
    round_trip((0..=255u8).collect::<Vec<_>>());
    round_trip(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
    round_trip(
        "2026-11-21T12:50:52.123456789Z"
            .parse::<DateTime<Utc>>()
            .unwrap(),
    );
    round_trip(Uuid::new_v4());
    round_trip(Some(5i32));
    round_trip(None::<i32>);
    round_trip(Some("x".to_owned()));
    // NaN is not PartialEq to itself; the stored form still is.
    let nan = f64::NAN.to_value();
    assert!(f64::from_value(nan.clone()).unwrap().is_nan());
    assert!(f64::NAN.same(&f64::NAN));
}

#[test]
fn column_types_and_nullability_follow_the_rust_type() {
    assert_eq!(<String as SyncValue>::COLUMN_TYPE, ColumnType::Text);
    assert_eq!(<Uuid as SyncValue>::COLUMN_TYPE, ColumnType::Text);
    assert_eq!(<u32 as SyncValue>::COLUMN_TYPE, ColumnType::Integer);
    assert_eq!(<f32 as SyncValue>::COLUMN_TYPE, ColumnType::Real);
    assert_eq!(<Vec<u8> as SyncValue>::COLUMN_TYPE, ColumnType::Blob);
    assert_eq!(<NaiveDate as SyncValue>::COLUMN_TYPE, ColumnType::Date);
    assert_eq!(
        <DateTime<Utc> as SyncValue>::COLUMN_TYPE,
        ColumnType::DateTime
    );
    assert_eq!(<Option<bool> as SyncValue>::COLUMN_TYPE, ColumnType::Bool);
    const { assert!(<Option<bool> as SyncValue>::NULLABLE) };
    const { assert!(!<bool as SyncValue>::NULLABLE) };
    assert_eq!(<Option<u8> as SyncValue>::from_missing(), Some(None));
    assert_eq!(<u8 as SyncValue>::from_missing(), None);
}

#[test]
fn lossless_alternative_forms_are_accepted() {
    assert_eq!(bool::from_value(Value::Integer(1)), Ok(true));
    assert_eq!(bool::from_value(Value::Integer(0)), Ok(false));
    assert_eq!(i64::from_value(Value::Real(5.0)), Ok(5));
    assert_eq!(f64::from_value(Value::Integer(7)), Ok(7.0));
    let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    assert_eq!(NaiveDate::from_value(Value::from("2026-12-01")), Ok(d));
    // The wire sends dates as instants at midnight UTC.
    assert_eq!(
        NaiveDate::from_value(Value::from("2026-12-01T00:00:00.000Z")),
        Ok(d)
    );
    let t: DateTime<Utc> = "2026-11-21T11:50:52.847Z".parse().unwrap();
    assert_eq!(
        DateTime::<Utc>::from_value(Value::from("2026-11-21T12:50:52.847+01:00")),
        Ok(t)
    );
    let u = Uuid::new_v4();
    assert_eq!(Uuid::from_value(Value::Blob(u.as_bytes().to_vec())), Ok(u));
}

#[test]
fn wrong_kinds_and_values_that_do_not_fit_are_errors_naming_the_expectation() {
    let msg = |e: ValueError| e.to_string();
    assert_eq!(
        msg(u8::from_value(Value::Integer(256)).unwrap_err()),
        "expected u8, found integer 256 (out of range)"
    );
    assert_eq!(
        msg(u32::from_value(Value::Integer(-1)).unwrap_err()),
        "expected u32, found integer -1 (out of range)"
    );
    assert_eq!(
        msg(i64::from_value(Value::Real(1.5)).unwrap_err()),
        "expected i64, found real 1.5"
    );
    assert_eq!(
        msg(i64::from_value(Value::from("1")).unwrap_err()),
        "expected i64, found text"
    );
    assert_eq!(
        msg(bool::from_value(Value::Integer(2)).unwrap_err()),
        "expected bool, found integer 2"
    );
    assert_eq!(
        msg(String::from_value(Value::Null).unwrap_err()),
        "expected text, found null"
    );
    assert_eq!(
        msg(f32::from_value(Value::Real(1e300)).unwrap_err()),
        "expected f32, found real 1e300 (out of range)"
    );
    assert_eq!(
        msg(NaiveDate::from_value(Value::from("tomorrow")).unwrap_err()),
        "expected date, found text \"tomorrow\" (not a date)"
    );
    assert_eq!(
        msg(Uuid::from_value(Value::from("nope")).unwrap_err()),
        "expected uuid, found text \"nope\" (not a UUID)"
    );
    assert!(
        Option::<u8>::from_value(Value::Integer(300)).is_err(),
        "Option does not hide a bad value"
    );
}

#[test]
fn json_fields_round_trip_any_serde_type() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Tags {
        names: Vec<String>,
        weight: Option<f64>,
    }
    let t = Tags {
        names: vec!["a".into(), "ü".into()],
        weight: Some(0.5),
    };
    let v = sync_core::json_to_value(&t).unwrap();
    assert!(matches!(v, Value::Json(_)));
    assert_eq!(sync_core::json_from_value::<Tags>(v).unwrap(), t);
    assert_eq!(sync_core::json_to_value(&None::<u8>).unwrap(), Value::Null);
    let err = sync_core::json_from_value::<Tags>(Value::from("{\"names\": 3}")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("expected json, found JSON of another shape"),
        "{err}"
    );
}

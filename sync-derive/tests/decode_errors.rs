//! `from_record` refuses bad records with an error naming the table, the row's id, the
//! column and the expected type; a missing `Option` column is `None`.

use sync_core::{DecodeError, DecodeErrorKind, Record, Syncable, Value};

#[derive(sync_derive::Syncable, Debug, PartialEq)]
#[table("Gauges")]
struct Gauge {
    id: String,
    label: String,
    level: u8,
    reading: Option<i32>,
    #[version]
    version: Option<String>,
}

fn good() -> Record {
    let mut r = Record::new();
    r.set("id", "g1");
    r.set("version", "v1");
    r.set("label", "boiler");
    r.set("level", 7i64);
    r.set("reading", -3i64);
    r
}

fn decode_err(r: Record) -> DecodeError {
    Gauge::from_record(r).unwrap_err()
}

#[test]
fn the_good_record_decodes() {
    let g = Gauge::from_record(good()).unwrap();
    assert_eq!(
        g,
        Gauge {
            id: "g1".into(),
            label: "boiler".into(),
            level: 7,
            reading: Some(-3),
            version: Some("v1".into()),
        }
    );
}

#[test]
fn a_missing_column_names_table_id_column_and_type() {
    let mut r = good();
    r.remove("level");
    let e = decode_err(r);
    assert_eq!(
        e.to_string(),
        "table `Gauges`, item `g1`, column `level`: missing (expected integer); a field added after this row was written needs `#[sync(default)]` or an `Option` type"
    );
    assert_eq!(
        e.kind,
        DecodeErrorKind::Missing {
            expected: "integer"
        }
    );
    assert_eq!(e.id.as_deref(), Some("g1"));
}

#[test]
fn a_missing_id_is_an_error_naming_no_row() {
    let mut r = good();
    r.remove("id");
    r.remove("level");
    let e = decode_err(r);
    assert_eq!(
        e.to_string(),
        "table `Gauges`, column `id`: missing (expected text)"
    );
    assert_eq!(e.id, None);
}

#[test]
fn a_field_before_the_id_still_names_the_row() {
    #[derive(sync_derive::Syncable, Debug)]
    struct IdLast {
        level: u8,
        #[version]
        version: Option<String>,
        id: String,
    }
    let mut r = good();
    r.set("level", 300i64);
    let e = IdLast::from_record(r).unwrap_err();
    assert_eq!((e.id.as_deref(), e.column.as_str()), (Some("g1"), "level"));
}

#[test]
fn a_value_of_the_wrong_type_names_table_id_column_and_type() {
    let mut r = good();
    r.set("label", 12i64);
    assert_eq!(
        decode_err(r).to_string(),
        "table `Gauges`, item `g1`, column `label`: expected text, found integer"
    );
}

#[test]
fn an_out_of_range_integer_names_table_column_and_type() {
    let mut r = good();
    r.set("level", 300i64);
    assert_eq!(
        decode_err(r).to_string(),
        "table `Gauges`, item `g1`, column `level`: expected u8, found integer 300 (out of range)"
    );
    let mut r = good();
    r.set("reading", i64::from(i32::MAX) + 1);
    assert_eq!(
        decode_err(r).to_string(),
        "table `Gauges`, item `g1`, column `reading`: expected i32, found integer 2147483648 (out of range)"
    );
}

#[test]
fn null_in_a_required_column_is_an_error() {
    let mut r = good();
    r.set("label", Value::Null);
    assert_eq!(
        decode_err(r).to_string(),
        "table `Gauges`, item `g1`, column `label`: expected text, found null; a field added after this row was written needs `#[sync(default)]` or an `Option` type"
    );
}

#[test]
fn a_missing_or_null_option_column_decodes_as_none() {
    let mut r = good();
    r.remove("reading");
    assert_eq!(Gauge::from_record(r).unwrap().reading, None);
    let mut r = good();
    r.set("reading", Value::Null);
    assert_eq!(Gauge::from_record(r).unwrap().reading, None);
    let mut r = good();
    r.remove("version");
    assert_eq!(Gauge::from_record(r).unwrap().version, None);
}

#[test]
fn column_names_match_ignoring_case_like_the_wire() {
    let mut r = Record::new();
    r.set("ID", "g1");
    r.set("Label", "boiler");
    r.set("LEVEL", 1i64);
    assert_eq!(Gauge::from_record(r).unwrap().label, "boiler");
}

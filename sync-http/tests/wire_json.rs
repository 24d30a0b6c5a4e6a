//! Rows survive the wire: every column type through JSON and back, typed by the schema.

use sync_core::{ColumnType, Record, TableSchema, Value};
use sync_http::wire::json::{record_from_json, record_to_json};

fn schema() -> TableSchema {
    TableSchema::new("All")
        .with_column("t", ColumnType::Text, true)
        .with_column("i", ColumnType::Integer, true)
        .with_column("r", ColumnType::Real, true)
        .with_column("b", ColumnType::Bool, true)
        .with_column("bl", ColumnType::Blob, true)
        .with_column("d", ColumnType::Date, true)
        .with_column("dt", ColumnType::DateTime, true)
        .with_column("j", ColumnType::Json, true)
}

fn through_the_wire(r: &Record) -> Record {
    let text = serde_json::to_string(&record_to_json("All", r).unwrap()).unwrap();
    let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    record_from_json("All", obj, Some(&schema())).unwrap()
}

#[test]
fn every_column_type_round_trips_through_json() {
    let mut r = Record::new();
    r.set("id", "x'; DROP TABLE All; --");
    r.set("version", "MQ==");
    r.set("t", "ünï 🚀 \"quoted\"");
    r.set("i", i64::MIN);
    r.set("r", -0.5e-300);
    r.set("b", true);
    r.set("bl", Value::Blob((0..=255).collect()));
    r.set("d", Value::Date("2026-12-01".parse().unwrap()));
    r.set(
        "dt",
        Value::DateTime("2026-11-21T12:50:52.847Z".parse().unwrap()),
    );
    r.set(
        "j",
        Value::Json(serde_json::json!({"tags": ["a", "b"], "n": null})),
    );
    r.set("nothing", Value::Null);
    assert_eq!(through_the_wire(&r), r);
}

#[test]
fn instants_travel_with_millisecond_precision() {
    let mut r = Record::new();
    r.set(
        "dt",
        Value::DateTime("2026-11-21T12:50:52.847999999Z".parse().unwrap()),
    );
    let back = through_the_wire(&r);
    assert_eq!(
        back.get("dt"),
        Some(&Value::DateTime(
            "2026-11-21T12:50:52.847Z".parse().unwrap()
        ))
    );
}

#[test]
fn values_that_do_not_fit_their_column_name_table_and_column() {
    let cases = [
        (
            serde_json::json!({"i": "12"}),
            "table `All`, column `i`: expected integer, got a string",
        ),
        (
            serde_json::json!({"i": 1.5}),
            "table `All`, column `i`: expected integer, got 1.5",
        ),
        (
            serde_json::json!({"b": 1}),
            "table `All`, column `b`: expected bool, got a number",
        ),
        (
            serde_json::json!({"d": "soon"}),
            "table `All`, column `d`: expected a date, got \"soon\"",
        ),
        (
            serde_json::json!({"version": 3}),
            "table `All`, column `version`: expected a string, got a number",
        ),
        (
            serde_json::json!({"deleted": "no"}),
            "table `All`, column `deleted`: expected a bool, got a string",
        ),
        (
            serde_json::json!({"updatedAt": "yesterday"}),
            "table `All`, column `updatedAt`: expected an RFC 3339 instant, got \"yesterday\"",
        ),
    ];
    for (json, message) in cases {
        let serde_json::Value::Object(obj) = json else {
            unreachable!()
        };
        let err = record_from_json("All", obj, Some(&schema())).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}

//! `#[sync(local)]` fields on derived structs: a column of the local store (flagged
//! local in the schema, in every record), read as its default from a record without it
//! (a server copy), never a changed or clashing field; `#[sync(skip)]` fields are not
//! columns at all.

use serde::{Deserialize, Serialize};
use sync_core::{ColumnType, Record, Syncable, Value};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
struct Checklist {
    done: Vec<String>,
}

#[derive(sync_derive::Syncable, Debug, Clone, PartialEq)]
struct Visit {
    id: String,
    site: String,
    #[sync(local)]
    notes: String,
    #[sync(local, rename = "seenOn")]
    seen: Option<i64>,
    #[sync(local, json)]
    checklist: Checklist,
    #[sync(skip)]
    scratch: String,
    #[version]
    version: Option<String>,
}

fn visit() -> Visit {
    Visit {
        id: "v1".into(),
        site: "north".into(),
        notes: "gate code".into(),
        seen: Some(3),
        checklist: Checklist {
            done: vec!["roof".into()],
        },
        scratch: "typing".into(),
        version: None,
    }
}

#[test]
fn local_fields_are_local_columns_and_skip_fields_are_no_columns() {
    let schema = Visit::schema();
    let local: Vec<(&str, ColumnType)> = schema
        .local_columns()
        .map(|c| (c.name.as_str(), c.ty))
        .collect();
    assert_eq!(
        local,
        [
            ("notes", ColumnType::Text),
            ("seenOn", ColumnType::Integer),
            ("checklist", ColumnType::Json)
        ]
    );
    assert!(schema.column("site").is_some_and(|c| !c.local));
    assert!(schema.column("scratch").is_none());
    let synced = schema.synced();
    let synced: Vec<&str> = synced.data_columns().map(|c| c.name.as_str()).collect();
    assert_eq!(synced, ["site"]);
}

#[test]
fn local_fields_round_trip_and_skip_fields_do_not() {
    let record = visit().to_record().unwrap();
    let columns: Vec<&str> = record.iter().map(|(c, _)| c).collect();
    assert_eq!(
        columns,
        ["id", "version", "site", "notes", "seenOn", "checklist"]
    );
    let back = Visit::from_record(record).unwrap();
    assert_eq!(
        back,
        Visit {
            scratch: String::new(),
            ..visit()
        }
    );
}

#[test]
fn a_record_without_local_columns_or_with_null_reads_their_defaults() {
    let mut server_copy = Record::new();
    server_copy.set("id", "v1");
    server_copy.set("site", "south");
    let v = Visit::from_record(server_copy.clone()).unwrap();
    assert_eq!(
        (v.notes.as_str(), v.seen, v.checklist.done.len()),
        ("", None, 0)
    );
    for column in ["notes", "seenOn", "checklist"] {
        server_copy.set(column, Value::Null);
    }
    let v = Visit::from_record(server_copy.clone()).unwrap();
    assert_eq!((v.notes.as_str(), v.seen), ("", None));
    // A value of the wrong type is still an error naming its column.
    server_copy.set("seenOn", "yesterday");
    let err = Visit::from_record(server_copy).unwrap_err();
    assert!(err.to_string().contains("seenOn"), "{err}");
}

#[test]
fn local_fields_never_change_clash_or_map_to_a_field() {
    let other = Visit {
        notes: "another note".into(),
        seen: None,
        checklist: Checklist::default(),
        ..visit()
    };
    assert!(visit().changed_columns(&other).is_empty());
    let merged = Visit::merge3(
        &visit(),
        other.clone(),
        Visit {
            notes: "the server has none".into(),
            site: "south".into(),
            ..visit()
        },
    );
    assert!(merged.is_clean());
    assert_eq!(
        (merged.value.site.as_str(), merged.value.notes.as_str()),
        ("south", "another note")
    );
    assert_eq!(
        (Visit::field_of("notes"), Visit::column_of("seen")),
        (None, None)
    );
}

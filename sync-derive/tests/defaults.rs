//! `#[sync(default)]` and `#[sync(default = "path")]`: a record without a value for the
//! column (missing, or `Null`) reads as the default; a value that is there is decoded as
//! usual, and a wrong one is still an error.

use sync_core::{ColumnType, DecodeErrorKind, Record, Syncable, Value};

mod defaults {
    pub fn priority() -> i64 {
        3
    }

    pub fn tags() -> Vec<String> {
        vec!["inbox".to_owned()]
    }

    pub fn scratch() -> String {
        "fresh".to_owned()
    }
}

#[derive(sync_derive::Syncable, Debug, PartialEq)]
struct Task {
    id: String,
    text: String,
    #[sync(default)]
    done: bool,
    #[sync(default = "defaults::priority")]
    priority: i64,
    #[sync(default = "defaults::tags", json)]
    tags: Vec<String>,
    #[sync(rename = "where", default = "String::new")]
    place: String,
    #[sync(local, default = "defaults::priority")]
    my_rank: i64,
    #[sync(skip, default = "defaults::scratch")]
    scratch: String,
    #[version]
    version: Option<String>,
}

/// A row as a client that knows only `id`, `version` and `text` wrote it.
fn old_row() -> Record {
    let mut r = Record::new();
    r.set("id", "t1");
    r.set("version", "v1");
    r.set("text", "milk");
    r
}

fn defaults_of(t: &Task) -> (bool, i64, &[String], &str, i64, &str) {
    (t.done, t.priority, &t.tags, &t.place, t.my_rank, &t.scratch)
}

#[test]
fn missing_columns_read_as_their_defaults() {
    let t = Task::from_record(old_row()).unwrap();
    assert_eq!(t.text, "milk");
    assert_eq!(
        defaults_of(&t),
        (false, 3, &["inbox".to_owned()][..], "", 3, "fresh")
    );
}

#[test]
fn null_columns_read_as_their_defaults() {
    // What a store holds for a row written before the columns were added.
    let mut r = old_row();
    for c in ["done", "priority", "tags", "where", "myRank"] {
        r.set(c, Value::Null);
    }
    let t = Task::from_record(r).unwrap();
    assert_eq!(
        defaults_of(&t),
        (false, 3, &["inbox".to_owned()][..], "", 3, "fresh")
    );
}

#[test]
fn stored_values_win_over_defaults() {
    let t = Task {
        id: "t1".into(),
        text: "milk".into(),
        done: true,
        priority: 0,
        tags: vec![],
        place: "home".into(),
        my_rank: 9,
        scratch: "fresh".into(),
        version: Some("v1".into()),
    };
    assert_eq!(Task::from_record(t.to_record().unwrap()).unwrap(), t);
}

#[test]
fn a_wrong_value_in_a_column_with_a_default_is_still_an_error() {
    let mut r = old_row();
    r.set("priority", "high");
    let e = Task::from_record(r).unwrap_err();
    assert_eq!(
        (e.table.as_str(), e.id.as_deref(), e.column.as_str()),
        ("Task", Some("t1"), "priority")
    );
    assert!(matches!(e.kind, DecodeErrorKind::Value(_)), "{e:?}");
}

#[test]
fn a_default_leaves_the_schema_as_the_type_says() {
    let schema = Task::schema();
    let priority = schema.column("priority").unwrap();
    assert_eq!(
        (priority.ty, priority.nullable),
        (ColumnType::Integer, false)
    );
    assert!(schema.column("where").is_some());
    assert!(schema.column("scratch").is_none());
}

#[test]
fn a_field_without_a_default_names_the_row_and_column_it_lacks() {
    let mut r = old_row();
    r.set("done", true);
    r.set("priority", 1i64);
    r.set("tags", Value::Null);
    r.set("where", "home");
    #[derive(sync_derive::Syncable, Debug)]
    #[table("Task")]
    struct Strict {
        id: String,
        text: String,
        due: chrono::NaiveDate,
        #[version]
        version: Option<String>,
    }
    let e = Strict::from_record(r).unwrap_err();
    assert_eq!(
        e.to_string(),
        "table `Task`, item `t1`, column `due`: missing (expected date); a field added after this row was written needs `#[sync(default)]` or an `Option` type"
    );
}

//! The derived schema: table name, system columns, then the data columns with exactly
//! the names, types and nullability the fields ask for.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sync_core::{ColumnType, Syncable, SystemColumn};
use uuid::Uuid;

#[derive(Serialize, Deserialize, Default)]
struct Meta {
    tags: Vec<String>,
}

#[derive(sync_derive::Syncable)]
#[table("TodoWithDate")]
struct Todo {
    id: String,
    text: String,
    complete: bool,
    due_date: Option<NaiveDate>,
    #[sync(rename = "prio")]
    priority: i16,
    owner: Uuid,
    blob: Vec<u8>,
    seen_at: DateTime<Utc>,
    ratio: f32,
    #[sync(json)]
    meta: Meta,
    #[sync(skip)]
    _cursor: usize,
    #[updated_at]
    updated_at: Option<DateTime<Utc>>,
    #[deleted]
    deleted: bool,
    #[version]
    version: Option<String>,
}

#[derive(sync_derive::Syncable)]
struct Bare {
    #[id]
    key: String,
    #[version]
    etag: String,
}

#[test]
fn schema_has_the_system_columns_then_data_columns_in_declaration_order() {
    let schema = Todo::schema();
    assert_eq!(schema.name, "TodoWithDate");
    assert_eq!(schema.validate(), Ok(()));
    let system: Vec<Option<SystemColumn>> = schema.columns[..5].iter().map(|c| c.system).collect();
    assert_eq!(
        system,
        SystemColumn::ALL.map(Some).to_vec(),
        "system columns first, in sync-core's order"
    );
    let data: Vec<(&str, ColumnType, bool)> = schema
        .data_columns()
        .map(|c| (c.name.as_str(), c.ty, c.nullable))
        .collect();
    assert_eq!(
        data,
        [
            ("text", ColumnType::Text, false),
            ("complete", ColumnType::Bool, false),
            ("dueDate", ColumnType::Date, true),
            ("prio", ColumnType::Integer, false),
            ("owner", ColumnType::Text, false),
            ("blob", ColumnType::Blob, false),
            ("seenAt", ColumnType::DateTime, false),
            ("ratio", ColumnType::Real, false),
            ("meta", ColumnType::Json, true),
        ]
    );
}

#[test]
fn schema_is_built_once() {
    assert!(std::ptr::eq(Todo::schema(), Todo::schema()));
}

#[test]
fn a_struct_with_only_id_and_version_has_only_system_columns() {
    let schema = Bare::schema();
    assert_eq!(schema.name, "Bare");
    assert_eq!(schema.columns.len(), 5);
    assert_eq!(schema.validate(), Ok(()));
    let b = Bare {
        key: "k".into(),
        etag: String::new(),
    };
    assert!(b.changed_columns(&b).is_empty());
    let record = b.to_record().unwrap();
    assert_eq!(record.len(), 2);
    assert_eq!(Bare::from_record(record).unwrap().key, "k");
}

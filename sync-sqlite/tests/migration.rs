//! Schema changes on a file store: columns added keep rows, removed ones keep data, a
//! changed type is refused by name, a file from a newer tablesync is refused.

use sync_core::store::{Store, StoreError};
use sync_core::{ColumnType, Record, SchemaError, TableSchema, Value};
use sync_sqlite::{FORMAT_VERSION, SqliteStore};

fn v1() -> TableSchema {
    TableSchema::new("Todo").with_column("text", ColumnType::Text, false)
}

fn v2() -> TableSchema {
    v1().with_column("priority", ColumnType::Integer, true)
}

fn seed(path: &std::path::Path) {
    let store = SqliteStore::open(path).unwrap();
    store
        .transaction(|tx| {
            tx.ensure_table(&v1())?;
            for i in 0..3 {
                let mut r = Record::new();
                r.set("id", format!("r{i}"));
                r.set("text", format!("text {i}"));
                tx.upsert("Todo", &r)?;
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_struct_gaining_a_column_keeps_every_row_and_reads_it_as_null() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    seed(&path);
    let store = SqliteStore::open(&path).unwrap();
    store.transaction(|tx| tx.ensure_table(&v2())).unwrap();
    let mut r = Record::new();
    r.set("id", "r3");
    r.set("text", "new");
    r.set("priority", 5i64);
    store.transaction(|tx| tx.upsert("Todo", &r)).unwrap();
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    let rows = store
        .read(|tx| tx.query("Todo", &Default::default()))
        .unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].get("text"), Some(&Value::from("text 0")));
    assert_eq!(rows[0].get("priority"), Some(&Value::Null));
    assert_eq!(rows[3].get("priority"), Some(&Value::Integer(5)));
    assert_eq!(
        store.read(|tx| tx.table_schema("Todo")).unwrap(),
        Some(v2())
    );
}

#[test]
fn a_removed_column_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    seed(&path);
    let store = SqliteStore::open(&path).unwrap();
    store
        .transaction(|tx| tx.ensure_table(&TableSchema::new("Todo")))
        .unwrap();
    let got = store.read(|tx| tx.get("Todo", "r1")).unwrap().unwrap();
    assert_eq!(got.get("text"), Some(&Value::from("text 1")));
    let schema = store.read(|tx| tx.table_schema("Todo")).unwrap().unwrap();
    assert!(schema.column("text").unwrap().nullable);
}

#[test]
fn a_changed_type_is_an_error_naming_table_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    seed(&path);
    let store = SqliteStore::open(&path).unwrap();
    let changed = TableSchema::new("Todo").with_column("text", ColumnType::Integer, false);
    let err = store
        .transaction(|tx| tx.ensure_table(&changed))
        .unwrap_err();
    match err {
        StoreError::Schema(SchemaError::TypeChanged { table, column, .. }) => {
            assert_eq!((table.as_str(), column.as_str()), ("Todo", "text"));
        }
        e => panic!("expected TypeChanged, got {e:?}"),
    }
    assert_eq!(
        store.read(|tx| tx.table_schema("Todo")).unwrap(),
        Some(v1())
    );
}

#[test]
fn a_rolled_back_migration_leaves_table_and_schema_cache_unchanged() {
    let store = SqliteStore::open_in_memory().unwrap();
    store.transaction(|tx| tx.ensure_table(&v1())).unwrap();
    let res: Result<(), StoreError> = store.transaction(|tx| {
        tx.ensure_table(&v2())?;
        assert_eq!(
            tx.table_schema("Todo")?,
            Some(v2()),
            "the transaction sees its change"
        );
        Err(StoreError::Backend("abort".into()))
    });
    assert!(res.is_err());
    assert_eq!(
        store.read(|tx| tx.table_schema("Todo")).unwrap(),
        Some(v1())
    );
    let mut r = Record::new();
    r.set("id", "x");
    r.set("priority", 1i64);
    let err = store.transaction(|tx| tx.upsert("Todo", &r)).unwrap_err();
    assert!(matches!(err, StoreError::UnknownColumn { .. }), "{err:?}");
    // The ALTER TABLE was rolled back too, so migrating again works.
    store.transaction(|tx| tx.ensure_table(&v2())).unwrap();
    store
        .transaction(|tx| {
            tx.upsert("Todo", &{
                let mut r = r.clone();
                r.set("text", "t");
                r
            })
        })
        .unwrap();
}

#[test]
fn a_file_from_a_newer_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    seed(&path);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let n = conn
            .execute(
                "UPDATE __tablesync_meta SET value = value + 1 WHERE key = 'format_version'",
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    match SqliteStore::open(&path).unwrap_err() {
        StoreError::FormatTooNew { found, supported } => {
            assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
        }
        e => panic!("expected FormatTooNew, got {e:?}"),
    }
}

#[test]
fn a_local_only_column_keeps_its_data_and_is_marked_again_by_ensure_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let schema = v1().with_local_column("notes", ColumnType::Text, true);
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .transaction(|tx| {
                tx.ensure_table(&schema)?;
                let mut r = Record::new();
                r.set("id", "r1");
                r.set("text", "milk");
                r.set("notes", "the oat kind");
                tx.upsert("Todo", &r)
            })
            .unwrap();
        let kept = store.read(|tx| tx.table_schema("Todo")).unwrap().unwrap();
        assert!(kept.column("notes").is_some_and(|c| c.local));
    }
    // The flag is not on disk: a reopened store reports a plain column, with its data,
    // until the engine ensures the table again.
    let store = SqliteStore::open(&path).unwrap();
    let reopened = store.read(|tx| tx.table_schema("Todo")).unwrap().unwrap();
    assert!(reopened.column("notes").is_some_and(|c| !c.local));
    store.transaction(|tx| tx.ensure_table(&schema)).unwrap();
    let ensured = store.read(|tx| tx.table_schema("Todo")).unwrap().unwrap();
    assert_eq!(ensured, schema);
    let row = store.read(|tx| tx.get("Todo", "r1")).unwrap().unwrap();
    assert_eq!(row.get("notes"), Some(&Value::from("the oat kind")));
}

/// A file that is not a database is a `Database` error of kind `Corrupt`, with
/// SQLite's own error kept as its source: an app can tell it from a full disk or a
/// busy lock without reading the message.
#[test]
fn a_file_that_is_not_a_database_is_a_corrupt_kind_with_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let e = match sync_sqlite::SqliteStore::open(&path) {
        Ok(_) => panic!("a file of x's opened as a store"),
        Err(e) => e,
    };
    assert_eq!(
        e.kind(),
        Some(sync_core::store::StoreErrorKind::Corrupt),
        "{e}"
    );
    let source = std::error::Error::source(&e).expect("SQLite's error is kept");
    assert!(source.to_string().contains("not a database"), "{source}");
}

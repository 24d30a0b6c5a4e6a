//! Bad data in the database file is reported as `StoreError::Corrupt`, naming where it
//! is, and never panics.

use sync_core::store::{OpKind, Store, StoreError, StoreTxExt};
use sync_core::{ColumnType, Record, TableSchema};
use sync_sqlite::SqliteStore;

fn seeded() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let store = SqliteStore::open(&path).unwrap();
    store
        .transaction(|tx| {
            tx.ensure_table(&TableSchema::new("Todo").with_column(
                "done",
                ColumnType::Bool,
                false,
            ))?;
            let mut r = Record::new();
            r.set("id", "a1");
            r.set("done", true);
            tx.upsert("Todo", &r)?;
            tx.enqueue("Todo", "a1", OpKind::Delete, None, Some(r))?;
            tx.set_base("Todo", &{
                let mut b = Record::new();
                b.set("id", "a1");
                b
            })?;
            Ok(())
        })
        .unwrap();
    (dir, path)
}

fn tamper(path: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    assert_eq!(conn.execute(sql, []).unwrap(), 1, "{sql}");
}

fn assert_corrupt(e: StoreError, mentions: &[&str]) {
    match e {
        StoreError::Corrupt(msg) => {
            for m in mentions {
                assert!(msg.contains(m), "`{msg}` does not mention {m}");
            }
        }
        e => panic!("expected Corrupt, got {e:?}"),
    }
}

#[test]
fn a_bad_queued_item_is_corrupt() {
    let (_dir, path) = seeded();
    tamper(&path, "UPDATE __tablesync_ops SET item = '[[\"id\",\"t\"' ");
    let store = SqliteStore::open(&path).unwrap();
    let e = store.read(|tx| tx.ops(None)).unwrap_err();
    assert_corrupt(e, &["__tablesync_ops", "seq 1"]);
}

#[test]
fn an_unknown_operation_kind_is_corrupt() {
    let (_dir, path) = seeded();
    tamper(&path, "UPDATE __tablesync_ops SET kind = 'upsert'");
    let store = SqliteStore::open(&path).unwrap();
    let e = store.read(|tx| tx.op("Todo", "a1")).unwrap_err();
    assert_corrupt(e, &["__tablesync_ops", "upsert"]);
}

#[test]
fn a_bad_base_copy_is_corrupt() {
    let (_dir, path) = seeded();
    tamper(&path, "UPDATE __tablesync_bases SET record = x'00ff'");
    let store = SqliteStore::open(&path).unwrap();
    let e = store.read(|tx| tx.base("Todo", "a1")).unwrap_err();
    assert_corrupt(e, &["__tablesync_bases", "a1"]);
}

#[test]
fn an_unknown_column_type_is_corrupt_at_open() {
    let (_dir, path) = seeded();
    tamper(
        &path,
        "UPDATE __tablesync_columns SET type = 'varchar' WHERE name = 'done'",
    );
    assert_corrupt(
        SqliteStore::open(&path).unwrap_err(),
        &["__tablesync_columns", "done", "varchar"],
    );
}

#[test]
fn a_row_value_of_the_wrong_kind_is_corrupt() {
    let (_dir, path) = seeded();
    tamper(&path, "UPDATE Todo SET done = 'yes'");
    let store = SqliteStore::open(&path).unwrap();
    let e = store.read(|tx| tx.get("Todo", "a1")).unwrap_err();
    assert_corrupt(e, &["Todo", "a1", "done"]);
    let e = store
        .read(|tx| tx.query("Todo", &Default::default()))
        .unwrap_err();
    assert_corrupt(e, &["Todo", "done"]);
}

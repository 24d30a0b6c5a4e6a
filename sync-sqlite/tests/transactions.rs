//! Atomicity and isolation of `SqliteStore` transactions on a file store.

use std::sync::Arc;
use std::thread;

use sync_core::store::{OpKind, Store, StoreError, StoreTxExt};
use sync_core::{ColumnType, Record, TableSchema, Value};
use sync_sqlite::SqliteStore;

fn counter_schema() -> TableSchema {
    TableSchema::new("Counter").with_column("n", ColumnType::Integer, false)
}

fn file_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("app.db")).unwrap();
    store
        .transaction(|tx| tx.ensure_table(&counter_schema()))
        .unwrap();
    (dir, store)
}

fn counter(id: &str, n: i64) -> Record {
    let mut r = Record::new();
    r.set("id", id);
    r.set("n", n);
    r
}

#[test]
fn an_err_rolls_back_the_row_and_its_queue_entry() {
    let (_dir, store) = file_store();
    let res: Result<(), StoreError> = store.transaction(|tx| {
        tx.upsert("Counter", &counter("a", 1))?;
        tx.enqueue("Counter", "a", OpKind::Insert, None, None)?;
        Err(StoreError::Backend("app gave up".into()))
    });
    assert!(res.is_err());
    let (row, ops) = store
        .read(|tx| Ok((tx.get("Counter", "a")?, tx.ops(None)?)))
        .unwrap();
    assert_eq!((row, ops.len()), (None, 0));
}

#[test]
fn a_panic_rolls_back_and_the_store_stays_usable() {
    let (_dir, store) = file_store();
    let store = Arc::new(store);
    let s = Arc::clone(&store);
    let joined = thread::spawn(move || {
        s.transaction(|tx| {
            tx.upsert("Counter", &counter("a", 1))?;
            tx.enqueue("Counter", "a", OpKind::Insert, None, None)?;
            panic!("the app panics mid-transaction");
            #[allow(unreachable_code)] // the closure still needs its return type
            Ok(())
        })
    })
    .join();
    assert!(joined.is_err(), "the panic reaches the caller");
    let (row, ops) = store
        .read(|tx| Ok((tx.get("Counter", "a")?, tx.ops(None)?)))
        .unwrap();
    assert_eq!((row, ops.len()), (None, 0));
    store
        .transaction(|tx| tx.upsert("Counter", &counter("a", 2)))
        .unwrap();
    let row = store.read(|tx| tx.get("Counter", "a")).unwrap().unwrap();
    assert_eq!(row.get("n"), Some(&Value::Integer(2)));
}

#[test]
fn rolled_back_queue_changes_are_forgotten() {
    let (_dir, store) = file_store();
    store
        .transaction(|tx| tx.enqueue("Counter", "kept", OpKind::Update, None, None))
        .unwrap();
    let res: Result<(), StoreError> = store.transaction(|tx| {
        assert!(tx.remove_op("Counter", "kept")?);
        tx.enqueue("Counter", "dropped", OpKind::Update, None, None)?;
        assert!(
            tx.op("Counter", "kept")?.is_none(),
            "the transaction sees its removal"
        );
        Err(StoreError::Backend("abort".into()))
    });
    assert!(res.is_err());
    store
        .read(|tx| tx.remove_op("Counter", "kept").map(drop))
        .unwrap();
    let (kept, dropped) = store
        .read(|tx| Ok((tx.op("Counter", "kept")?, tx.op("Counter", "dropped")?)))
        .unwrap();
    assert_eq!(kept.map(|o| o.kind), Some(OpKind::Update));
    assert_eq!(dropped, None);
    // The removal committed this time is seen by the next transaction.
    store
        .transaction(|tx| tx.remove_op("Counter", "kept"))
        .unwrap();
    assert_eq!(store.read(|tx| tx.op("Counter", "kept")).unwrap(), None);
}

#[test]
fn a_read_rolls_back_its_writes() {
    let (_dir, store) = file_store();
    store
        .read(|tx| {
            tx.upsert("Counter", &counter("a", 1))?;
            tx.enqueue("Counter", "a", OpKind::Insert, None, None)
        })
        .unwrap();
    let (row, ops) = store
        .read(|tx| Ok((tx.get("Counter", "a")?, tx.ops(None)?)))
        .unwrap();
    assert_eq!((row, ops.len()), (None, 0));
}

#[test]
fn concurrent_read_modify_write_from_many_threads_loses_nothing() {
    const THREADS: usize = 6;
    const EACH: usize = 40;
    let (_dir, store) = file_store();
    let store = Arc::new(store);
    store
        .transaction(|tx| tx.upsert("Counter", &counter("total", 0)))
        .unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                for i in 0..EACH {
                    store
                        .transaction(|tx| {
                            let total = tx.get("Counter", "total")?.expect("seeded");
                            let Some(Value::Integer(n)) = total.get("n").cloned() else {
                                panic!("n is an integer");
                            };
                            tx.upsert("Counter", &counter("total", n + 1))?;
                            let id = format!("t{t}-{i}");
                            tx.upsert("Counter", &counter(&id, n))?;
                            tx.enqueue("Counter", &id, OpKind::Insert, None, None)?;
                            Ok(())
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let (total, ops, rows) = store
        .read(|tx| {
            Ok((
                tx.get("Counter", "total")?,
                tx.ops(None)?,
                tx.count("Counter", None)?,
            ))
        })
        .unwrap();
    let n = (THREADS * EACH) as i64;
    assert_eq!(total.unwrap().get("n"), Some(&Value::Integer(n)));
    assert_eq!(ops.len() as i64, n);
    assert_eq!(rows as i64, n + 1);
    // Every increment saw a distinct value: none was lost to a concurrent writer.
    let mut seen: Vec<i64> = store
        .read(|tx| tx.query("Counter", &Default::default()))
        .unwrap()
        .iter()
        .filter(|r| r.id() != Some("total"))
        .map(|r| match r.get("n") {
            Some(Value::Integer(n)) => *n,
            other => panic!("n is {other:?}"),
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
}

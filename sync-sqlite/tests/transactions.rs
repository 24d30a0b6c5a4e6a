//! Atomicity and isolation of `SqliteStore` transactions on a file store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use sync_core::store::{OpKind, Query, Store, StoreError, StoreTxExt};
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

/// Item 9 of issue 16: a live UI keeps reading during a large pull. The writer holds its
/// transaction open until the read has finished; if reads still waited for writes, the
/// read would not finish within the bound and the test fails (the writer gives up after
/// a longer one, so nothing hangs).
#[test]
fn a_read_completes_while_a_write_transaction_is_open() {
    let (_dir, store) = file_store();
    let store = Arc::new(store);
    store
        .transaction(|tx| tx.upsert("Counter", &counter("a", 1)))
        .unwrap();
    let (inside, writer_inside) = mpsc::channel();
    let (read_done, reader_finished) = mpsc::channel::<()>();
    let writer = {
        let store = Arc::clone(&store);
        thread::spawn(move || {
            store.transaction(|tx| {
                tx.upsert("Counter", &counter("a", 2))?;
                // A table the open transaction creates, unknown to readers until it commits.
                tx.ensure_table(&TableSchema::new("Fresh"))?;
                inside.send(()).expect("the test waits");
                match reader_finished.recv_timeout(Duration::from_secs(20)) {
                    Ok(()) => Ok(()),
                    Err(_) => Err(StoreError::Backend("the read never finished".into())),
                }
            })
        })
    };
    writer_inside
        .recv_timeout(Duration::from_secs(10))
        .expect("the writer is inside its transaction");
    let (sent, read) = mpsc::channel();
    let reader = {
        let store = Arc::clone(&store);
        thread::spawn(move || {
            let r = store.read(|tx| {
                Ok((
                    tx.get("Counter", "a")?,
                    tx.table_schema("Fresh")?,
                    tx.get("Fresh", "x").err(),
                ))
            });
            let _ = sent.send(r);
        })
    };
    let (row, fresh, unknown) = read
        .recv_timeout(Duration::from_secs(5))
        .expect("a read does not wait for an open write transaction")
        .unwrap();
    assert_eq!(
        row.unwrap().get("n"),
        Some(&Value::Integer(1)),
        "the last commit"
    );
    assert_eq!(fresh, None, "the uncommitted table is not there");
    assert!(matches!(unknown, Some(StoreError::UnknownTable(t)) if t == "Fresh"));
    read_done.send(()).unwrap();
    writer.join().unwrap().unwrap();
    reader.join().unwrap();
    let (row, fresh) = store
        .read(|tx| Ok((tx.get("Counter", "a")?, tx.table_schema("Fresh")?)))
        .unwrap();
    assert_eq!(row.unwrap().get("n"), Some(&Value::Integer(2)));
    assert!(fresh.is_some(), "committed now");
}

/// Reads beside a writer that keeps adding columns: each read's cached schema is its
/// snapshot's, so a read never names a column its snapshot lacks, nor misses one.
#[test]
fn reads_during_schema_changes_see_the_schema_of_their_snapshot() {
    const VERSIONS: usize = 40;
    let (_dir, store) = file_store();
    let store = Arc::new(store);
    let done = Arc::new(AtomicBool::new(false));
    let schema = |k: usize| {
        (0..=k).fold(TableSchema::new("Grow"), |s, c| {
            s.with_column(format!("c{c}"), ColumnType::Integer, true)
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (store, done) = (Arc::clone(&store), Arc::clone(&done));
            thread::spawn(move || {
                let mut reads = 0;
                while !done.load(Ordering::SeqCst) {
                    let r = store.read(|tx| {
                        let Some(schema) = tx.table_schema("Grow")? else {
                            return Ok(None);
                        };
                        Ok(Some((schema, tx.query("Grow", &Query::new())?)))
                    });
                    match r {
                        Ok(None) => {}
                        Ok(Some((schema, rows))) => {
                            for row in &rows {
                                // Row `rK` was committed with column `cK`: a schema
                                // older than the snapshot would lack it.
                                let k = row.id().and_then(|id| id.strip_prefix('r'));
                                let column = format!("c{}", k.unwrap_or("?"));
                                assert!(schema.column(&column).is_some(), "{row:?}");
                                let n = k.and_then(|k| k.parse::<i64>().ok());
                                assert_eq!(row.get(&column), n.map(Value::Integer).as_ref());
                            }
                            reads += 1;
                        }
                        Err(e) => panic!("a read failed during schema changes: {e}"),
                    }
                }
                reads
            })
        })
        .collect();
    for k in 0..VERSIONS {
        store
            .transaction(|tx| {
                tx.ensure_table(&schema(k))?;
                let mut row = Record::new();
                row.set("id", format!("r{k}"));
                for c in 0..=k {
                    row.set(format!("c{c}").as_str(), c as i64);
                }
                tx.upsert("Grow", &row)
            })
            .unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let reads: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 0, "the readers read");
    let rows = store.read(|tx| tx.query("Grow", &Query::new())).unwrap();
    assert_eq!(rows.len(), VERSIONS);
}

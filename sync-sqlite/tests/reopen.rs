//! Everything a file store holds survives closing and reopening it.

use chrono::{DateTime, Utc};
use sync_core::store::{
    ConflictKind, OpError, OpKind, Store, StoreTxExt, StoredConflict, Watermark,
};
use sync_core::{ColumnType, Record, TableSchema, Value};
use sync_sqlite::SqliteStore;

fn todo() -> TableSchema {
    TableSchema::new("Todo")
        .with_column("text", ColumnType::Text, false)
        .with_column("due", ColumnType::DateTime, true)
}

fn row(id: &str, text: &str) -> Record {
    let mut r = Record::new();
    r.set("id", id);
    r.set("text", text);
    r
}

#[test]
fn queue_order_rows_conflicts_bases_and_watermarks_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let when: DateTime<Utc> = "2026-11-21T12:50:52.123456789Z".parse().unwrap();
    let conflict = StoredConflict {
        local: Some(row("c", "mine")),
        remote: None,
        base: Some(row("c", "before")),
        detected_at: when,
        ..StoredConflict::new("Todo", "c", ConflictKind::Push)
    };
    let mark = Watermark {
        updated_at: "2026-11-21T12:50:52.847Z".into(),
        id: "z".into(),
    };
    let error = OpError {
        status: Some(400),
        message: "bad text".into(),
        server_copy: Some(row("b", "server's")),
    };
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .transaction(|tx| {
                tx.ensure_table(&todo())?;
                tx.ensure_table(&TableSchema::new("Note"))?;
                // Interleave tables so that order cannot come from grouping by table.
                for (t, id) in [("Todo", "b"), ("Note", "n1"), ("Todo", "a"), ("Note", "n0")] {
                    let mut r = Record::new();
                    r.set("id", id);
                    tx.upsert(t, &r)?;
                    tx.enqueue(t, id, OpKind::Insert, None, None)?;
                }
                tx.upsert("Todo", &row("b", "second text"))?;
                tx.enqueue("Todo", "b", OpKind::Update, None, None)?;
                tx.count_attempt("Todo", "b")?;
                tx.set_op_error("Todo", "b", Some(error.clone()))?;
                tx.enqueue(
                    "Todo",
                    "d",
                    OpKind::Delete,
                    Some("v7".into()),
                    Some(row("d", "gone")),
                )?;
                tx.save_conflict(&conflict)?;
                tx.set_base("Todo", &row("a", "synced"))?;
                tx.set_watermark("Todo", "all", &mark)?;
                Ok(())
            })
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    // Looked up one by one too: the reopened store knows what is queued.
    let note = store.read(|tx| tx.op("note", "n0")).unwrap();
    assert_eq!(note.map(|o| o.kind), Some(OpKind::Insert));
    let (ops, b, conflicts, base, wm, schema) = store
        .read(|tx| {
            Ok((
                tx.ops(None)?,
                tx.get("Todo", "b")?,
                tx.conflicts(None)?,
                tx.base("Todo", "a")?,
                tx.watermark("TODO", "all")?,
                tx.table_schema("todo")?,
            ))
        })
        .unwrap();
    let order: Vec<(&str, &str, OpKind)> = ops
        .iter()
        .map(|o| (o.table.as_str(), o.item_id.as_str(), o.kind))
        .collect();
    assert_eq!(
        order,
        [
            ("Todo", "b", OpKind::Insert),
            ("Note", "n1", OpKind::Insert),
            ("Todo", "a", OpKind::Insert),
            ("Note", "n0", OpKind::Insert),
            ("Todo", "d", OpKind::Delete),
        ]
    );
    assert!(ops.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!((ops[0].attempts, ops[0].revision), (1, 1));
    assert_eq!(ops[0].error.as_ref(), Some(&error));
    assert_eq!(ops[4].version.as_deref(), Some("v7"));
    assert_eq!(ops[4].item.as_ref(), Some(&row("d", "gone")));
    assert_eq!(b.unwrap().get("text"), Some(&Value::from("second text")));
    assert_eq!(conflicts, [conflict]);
    assert_eq!(base.unwrap().get("text"), Some(&Value::from("synced")));
    assert_eq!(wm, Some(mark));
    assert_eq!(schema, Some(todo()));
}

#[test]
fn queue_positions_are_never_reused_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let last = {
        let store = SqliteStore::open(&path).unwrap();
        store
            .transaction(|tx| {
                tx.ensure_table(&TableSchema::new("T"))?;
                let op = tx.enqueue("T", "x", OpKind::Update, None, None)?.unwrap();
                tx.remove_op("T", "x")?;
                Ok(op.seq)
            })
            .unwrap()
    };
    let store = SqliteStore::open(&path).unwrap();
    let next = store
        .transaction(|tx| tx.enqueue("T", "y", OpKind::Update, None, None))
        .unwrap()
        .unwrap();
    assert!(next.seq > last, "seq {} reused after {}", next.seq, last);
}

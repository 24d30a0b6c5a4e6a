//! Hostile ids and values round-trip unchanged through rows, the queue, conflicts and
//! base copies; filters treat them as data.

use sync_core::store::{
    ConflictKind, Filter, OpError, OpKind, Query, Store, StoreTxExt, StoredConflict,
};
use sync_core::{ColumnType, Record, TableSchema, Value};
use sync_sqlite::SqliteStore;

const HOSTILE: &[&str] = &[
    "O'Brien",
    "\"quoted\"",
    "a; DROP TABLE Todo; --",
    "100%",
    "a_b",
    "%_%",
    "ünïcødé 🦀 中文",
    "tab\tnew\nline",
    "nul\0inside",
    " ",
];

fn schema() -> TableSchema {
    TableSchema::new("Todo").with_column("text", ColumnType::Text, true)
}

fn row(id: &str, text: &str) -> Record {
    let mut r = Record::new();
    r.set("id", id);
    r.set("text", text);
    r
}

#[test]
fn hostile_ids_and_values_round_trip_through_every_table() {
    let store = SqliteStore::open_in_memory().unwrap();
    store.transaction(|tx| tx.ensure_table(&schema())).unwrap();
    for s in HOSTILE {
        let r = row(s, s);
        let conflict = StoredConflict {
            local: Some(r.clone()),
            ..StoredConflict::new("Todo", *s, ConflictKind::Pull)
        };
        let error = OpError {
            status: None,
            message: s.to_string(),
            server_copy: Some(r.clone()),
        };
        store
            .transaction(|tx| {
                tx.upsert("Todo", &r)?;
                tx.enqueue("Todo", s, OpKind::Update, Some(s.to_string()), None)?;
                tx.set_op_error("Todo", s, Some(error.clone()))?;
                tx.save_conflict(&conflict)?;
                tx.set_base("Todo", &r)
            })
            .unwrap();
        let (got, op, c, base) = store
            .read(|tx| {
                Ok((
                    tx.get("Todo", s)?,
                    tx.op("Todo", s)?,
                    tx.conflict("Todo", s)?,
                    tx.base("Todo", s)?,
                ))
            })
            .unwrap();
        let got = got.unwrap();
        assert_eq!(got.id(), Some(*s));
        assert_eq!(got.get("text"), Some(&Value::from(*s)));
        let op = op.unwrap();
        assert_eq!((op.item_id.as_str(), op.version.as_deref()), (*s, Some(*s)));
        assert_eq!(op.error, Some(error));
        let c = c.unwrap();
        assert_eq!((c.item_id.as_str(), c.local.as_ref()), (*s, Some(&r)));
        assert_eq!(base.unwrap().get("text"), Some(&Value::from(*s)));
    }
    let n = store.read(|tx| tx.count("Todo", None)).unwrap();
    assert_eq!(n, HOSTILE.len() as u64);
}

#[test]
fn text_filters_take_wildcards_and_nul_literally() {
    let store = SqliteStore::open_in_memory().unwrap();
    store
        .transaction(|tx| {
            tx.ensure_table(&schema())?;
            for (i, s) in HOSTILE.iter().enumerate() {
                tx.upsert("Todo", &row(&format!("r{i:02}"), s))?;
            }
            Ok(())
        })
        .unwrap();
    let ids = |f: Filter| -> Vec<String> {
        store
            .read(|tx| tx.query("Todo", &Query::new().filter(f)))
            .unwrap()
            .iter()
            .map(|r| r.get("text").cloned())
            .map(|v| match v {
                Some(Value::Text(s)) => s,
                other => panic!("text is {other:?}"),
            })
            .collect()
    };
    assert_eq!(ids(Filter::contains("text", "%")), ["100%", "%_%"]);
    assert_eq!(ids(Filter::contains("text", "_")), ["a_b", "%_%"]);
    assert_eq!(ids(Filter::ends_with("text", "%")), ["100%", "%_%"]);
    assert_eq!(ids(Filter::starts_with("text", "nul\0")), ["nul\0inside"]);
    assert_eq!(ids(Filter::ends_with("text", "\0inside")), ["nul\0inside"]);
    assert_eq!(ids(Filter::contains("text", "🦀")), ["ünïcødé 🦀 中文"]);
    assert_eq!(ids(Filter::starts_with("text", "o'")), Vec::<String>::new());
    assert_eq!(ids(Filter::eq("text", "a; DROP TABLE Todo; --")).len(), 1);
}

#[test]
fn one_mib_strings_round_trip_in_rows_and_the_queue() {
    let big: String = "ab'%_ü\"".repeat((1 << 20) / 8);
    let store = SqliteStore::open_in_memory().unwrap();
    store
        .transaction(|tx| {
            tx.ensure_table(&schema())?;
            tx.upsert("Todo", &row("big", &big))?;
            tx.enqueue("Todo", "big", OpKind::Update, None, None)?;
            tx.enqueue("Todo", "big", OpKind::Delete, None, Some(row("big", &big)))?;
            Ok(())
        })
        .unwrap();
    let (got, op) = store
        .read(|tx| Ok((tx.get("Todo", "big")?, tx.op("Todo", "big")?)))
        .unwrap();
    assert_eq!(got.unwrap().get("text"), Some(&Value::Text(big.clone())));
    assert_eq!(op.unwrap().item, Some(row("big", &big)));
}

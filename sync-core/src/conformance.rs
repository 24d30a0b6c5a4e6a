//! The store conformance suite: every behaviour a [`Store`] must have, written once and
//! run against every store (`MemoryStore` here, `SqliteStore` in sync-sqlite).
//!
//! Each case is a function taking a fresh, empty store and panicking on a violation.
//! [`store_conformance_tests!`](crate::store_conformance_tests) stamps out one `#[test]`
//! per case, named after the behaviour:
//!
//! ```text
//! sync_core::store_conformance_tests!(|| sync_sqlite::SqliteStore::open_in_memory().unwrap());
//! ```
//!
//! A case can also be called on its own:
//!
//! ```
//! sync_core::conformance::queue_update_then_delete_becomes_delete_with_item(
//!     &sync_core::store::MemoryStore::new(),
//! );
//! ```
//!
//! Enabled by the `conformance` feature; not part of the runtime API.

use chrono::{DateTime, NaiveDate, Utc};

use crate::model::{ColumnType, Record, SchemaError, TableSchema, Value};
use crate::store::{
    ConflictKind, Filter, OpError, OpKind, Order, Query, Store, StoreError, StoreTxExt,
    StoredConflict, Watermark,
};

/// Stamps out one `#[test]` per conformance case for a store built by `$make`
/// (an expression of type `impl Fn() -> impl Store`).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::__store_conformance_cases!(
            $make;
            queue_add_for_each_kind_when_nothing_pending,
            queue_insert_then_insert_is_refused,
            queue_insert_then_update_stays_insert_in_place,
            queue_unsent_insert_then_delete_leaves_nothing,
            queue_sent_insert_then_delete_becomes_unconditional_delete,
            queue_update_then_insert_is_refused,
            queue_update_then_update_keeps_base_version_and_position,
            queue_update_then_delete_becomes_delete_with_item,
            queue_pending_delete_refuses_everything,
            queue_collapse_clears_the_error,
            queue_keeps_order_of_first_enqueue_across_tables,
            queue_attempts_errors_and_replace_persist,
            queue_add_op_refuses_a_second_entry_for_an_item,
            queue_count_attempt_returns_the_entry_as_it_stands,
            transaction_rolls_back_row_and_op_together_on_error,
            transaction_rolls_back_on_panic_and_store_stays_usable,
            read_rolls_back_writes,
            rows_upsert_replaces_and_get_returns_every_column,
            rows_delete_reports_whether_a_row_existed,
            rows_every_value_type_round_trips_exactly,
            rows_hostile_ids_and_values_round_trip_unchanged,
            rows_one_mib_strings_round_trip,
            rows_wrong_type_unknown_column_and_missing_id_are_errors,
            rows_unknown_table_is_an_error,
            tables_names_compare_ignoring_case,
            query_comparison_operators,
            query_text_operators_are_case_sensitive_and_literal,
            query_null_follows_sql_three_valued_logic,
            query_and_or_not_combine,
            query_dates_and_instants_compare_chronologically,
            query_order_limit_offset_and_id_tie_break,
            query_count_matches_query,
            query_unknown_column_is_an_error,
            migration_adds_a_column_and_keeps_rows,
            migration_keeps_a_removed_column_and_its_data,
            migration_refuses_a_changed_type,
            conflicts_save_list_replace_remove,
            conflicts_are_seen_by_the_transaction_that_saves_them,
            bases_set_get_remove,
            watermarks_per_query_and_removal,
            clear_table_drops_rows_bases_watermarks_conflicts_but_not_ops
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    ($make:expr; $($case:ident),* $(,)?) => {$(
        #[test]
        fn $case() {
            let make = $make;
            $crate::conformance::$case(&make());
        }
    )*};
}

const T: &str = "Todo";

fn todo_schema() -> TableSchema {
    TableSchema::new(T)
        .with_column("text", ColumnType::Text, false)
        .with_column("complete", ColumnType::Bool, false)
        .with_column("priority", ColumnType::Integer, true)
        .with_column("score", ColumnType::Real, true)
        .with_column("dueDate", ColumnType::Date, true)
}

fn setup(store: &impl Store) {
    store
        .transaction(|tx| tx.ensure_table(&todo_schema()))
        .expect("ensure_table");
}

fn todo(id: &str, text: &str) -> Record {
    let mut r = Record::new();
    r.set("id", id);
    r.set("text", text);
    r.set("complete", false);
    r
}

fn put(store: &impl Store, rec: &Record) {
    store.transaction(|tx| tx.upsert(T, rec)).expect("upsert");
}

fn enqueue(
    store: &impl Store,
    id: &str,
    kind: OpKind,
    version: Option<&str>,
) -> Result<Option<crate::store::Operation>, StoreError> {
    let version = version.map(str::to_owned);
    let item = (kind == OpKind::Delete).then(|| todo(id, "gone"));
    store.transaction(|tx| tx.enqueue(T, id, kind, version, item))
}

fn ops(store: &impl Store) -> Vec<crate::store::Operation> {
    store.read(|tx| tx.ops(None)).expect("ops")
}

/// Each queued item and its attempts, in queue order.
fn attempts(store: &impl Store) -> Vec<(String, u32)> {
    ops(store)
        .into_iter()
        .map(|o| (o.item_id, o.attempts))
        .collect()
}

fn ids(rows: &[Record]) -> Vec<String> {
    rows.iter()
        .map(|r| r.id().unwrap_or("?").to_owned())
        .collect()
}

fn query(store: &impl Store, q: Query) -> Vec<String> {
    ids(&store.read(|tx| tx.query(T, &q)).expect("query"))
}

fn filter(store: &impl Store, f: Filter) -> Vec<String> {
    query(store, Query::new().filter(f))
}

fn assert_queue_conflict(
    r: Result<Option<crate::store::Operation>, StoreError>,
    pending: OpKind,
    new: OpKind,
) {
    match r {
        Err(StoreError::QueueConflict {
            pending: p, new: n, ..
        }) => {
            assert_eq!((p, n), (pending, new), "wrong kinds in QueueConflict");
        }
        other => panic!("expected QueueConflict({pending} then {new}), got {other:?}"),
    }
}

/// With nothing pending, each kind is queued as itself.
pub fn queue_add_for_each_kind_when_nothing_pending(store: &impl Store) {
    setup(store);
    for (id, kind) in [
        ("a", OpKind::Insert),
        ("b", OpKind::Update),
        ("c", OpKind::Delete),
    ] {
        let op = enqueue(store, id, kind, Some("v1"))
            .unwrap()
            .expect("an op");
        assert_eq!(
            (op.kind, op.item_id.as_str(), op.attempts, op.revision),
            (kind, id, 0, 0)
        );
        assert!(op.seq > 0, "seq assigned");
    }
    let kinds: Vec<_> = ops(store).iter().map(|o| o.kind).collect();
    assert_eq!(kinds, [OpKind::Insert, OpKind::Update, OpKind::Delete]);
    let del = store.read(|tx| tx.op(T, "c")).unwrap().unwrap();
    assert_eq!(del.item, Some(todo("c", "gone")), "a delete keeps its item");
    assert_eq!(del.version.as_deref(), Some("v1"));
}

/// insert + insert of the same id is refused (duplicate id) and changes nothing.
pub fn queue_insert_then_insert_is_refused(store: &impl Store) {
    setup(store);
    enqueue(store, "a", OpKind::Insert, None).unwrap();
    assert_queue_conflict(
        enqueue(store, "a", OpKind::Insert, None),
        OpKind::Insert,
        OpKind::Insert,
    );
    let q = ops(store);
    assert_eq!((q.len(), q[0].kind, q[0].revision), (1, OpKind::Insert, 0));
}

/// insert + update stays an insert, in place, with its revision bumped.
pub fn queue_insert_then_update_stays_insert_in_place(store: &impl Store) {
    setup(store);
    let first = enqueue(store, "a", OpKind::Insert, None).unwrap().unwrap();
    enqueue(store, "b", OpKind::Insert, None).unwrap();
    let op = enqueue(store, "a", OpKind::Update, None).unwrap().unwrap();
    assert_eq!(
        (op.kind, op.seq, op.revision),
        (OpKind::Insert, first.seq, 1)
    );
    let q = ops(store);
    assert_eq!(
        q.iter().map(|o| o.item_id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(q[0], op);
}

/// insert + delete before the insert was ever sent cancels out: nothing left.
pub fn queue_unsent_insert_then_delete_leaves_nothing(store: &impl Store) {
    setup(store);
    enqueue(store, "a", OpKind::Insert, None).unwrap();
    assert_eq!(enqueue(store, "a", OpKind::Delete, None).unwrap(), None);
    assert!(ops(store).is_empty());
    assert_eq!(store.read(|tx| tx.op(T, "a")).unwrap(), None);
}

/// insert + delete after the insert was sent (outcome unknown) becomes a delete with no
/// precondition: the server may have the row, at a version we never learned.
pub fn queue_sent_insert_then_delete_becomes_unconditional_delete(store: &impl Store) {
    setup(store);
    let ins = enqueue(store, "a", OpKind::Insert, None).unwrap().unwrap();
    store.transaction(|tx| tx.count_attempt(T, "a")).unwrap();
    let op = enqueue(store, "a", OpKind::Delete, Some("v9"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (op.kind, op.seq, op.version.as_deref()),
        (OpKind::Delete, ins.seq, None)
    );
    assert_eq!(op.attempts, 1, "attempts are history, kept");
    assert_eq!(op.item, Some(todo("a", "gone")));
    assert_eq!(ops(store), [op]);
}

/// update + insert is refused.
pub fn queue_update_then_insert_is_refused(store: &impl Store) {
    setup(store);
    enqueue(store, "a", OpKind::Update, Some("v1")).unwrap();
    assert_queue_conflict(
        enqueue(store, "a", OpKind::Insert, None),
        OpKind::Update,
        OpKind::Insert,
    );
    assert_eq!(ops(store)[0].kind, OpKind::Update);
}

/// update + update stays one update, keeping its position and the version it was based
/// on (the If-Match of the push), however often the item is edited.
pub fn queue_update_then_update_keeps_base_version_and_position(store: &impl Store) {
    setup(store);
    let first = enqueue(store, "a", OpKind::Update, Some("v1"))
        .unwrap()
        .unwrap();
    enqueue(store, "b", OpKind::Update, Some("v7")).unwrap();
    enqueue(store, "a", OpKind::Update, Some("ignored")).unwrap();
    let op = enqueue(store, "a", OpKind::Update, None).unwrap().unwrap();
    assert_eq!(
        (op.kind, op.seq, op.revision, op.version.as_deref()),
        (OpKind::Update, first.seq, 2, Some("v1"))
    );
    assert_eq!(ops(store).len(), 2);
}

/// update + delete becomes a delete carrying the item, still based on the update's version.
pub fn queue_update_then_delete_becomes_delete_with_item(store: &impl Store) {
    setup(store);
    let first = enqueue(store, "a", OpKind::Update, Some("v1"))
        .unwrap()
        .unwrap();
    let op = enqueue(store, "a", OpKind::Delete, None).unwrap().unwrap();
    assert_eq!(
        (op.kind, op.seq, op.version.as_deref()),
        (OpKind::Delete, first.seq, Some("v1"))
    );
    assert_eq!(op.item, Some(todo("a", "gone")));
}

/// A pending delete refuses insert, update and delete alike.
pub fn queue_pending_delete_refuses_everything(store: &impl Store) {
    setup(store);
    enqueue(store, "a", OpKind::Delete, Some("v1")).unwrap();
    for kind in [OpKind::Insert, OpKind::Update, OpKind::Delete] {
        assert_queue_conflict(enqueue(store, "a", kind, None), OpKind::Delete, kind);
    }
    let q = ops(store);
    assert_eq!((q.len(), q[0].kind, q[0].revision), (1, OpKind::Delete, 0));
}

/// A collapse means the app changed the item, so the old rejection no longer applies.
pub fn queue_collapse_clears_the_error(store: &impl Store) {
    setup(store);
    enqueue(store, "a", OpKind::Update, Some("v1")).unwrap();
    let err = OpError {
        status: Some(400),
        message: "bad".into(),
        server_copy: Some(todo("a", "server")),
    };
    store
        .transaction(|tx| tx.set_op_error(T, "a", Some(err.clone())))
        .unwrap();
    assert_eq!(
        store.read(|tx| tx.op(T, "a")).unwrap().unwrap().error,
        Some(err)
    );
    let op = enqueue(store, "a", OpKind::Update, None).unwrap().unwrap();
    assert_eq!(op.error, None);
    assert_eq!(store.read(|tx| tx.op(T, "a")).unwrap().unwrap().error, None);
}

/// The queue is in order of first enqueue, across tables; `ops(Some(table))` filters.
pub fn queue_keeps_order_of_first_enqueue_across_tables(store: &impl Store) {
    setup(store);
    let other = TableSchema::new("Other");
    store.transaction(|tx| tx.ensure_table(&other)).unwrap();
    let order = [(T, "3"), ("Other", "1"), (T, "1"), ("Other", "2"), (T, "2")];
    for (table, id) in order {
        store
            .transaction(|tx| tx.enqueue(table, id, OpKind::Update, Some("v".into()), None))
            .unwrap();
    }
    // Collapsing into the first entry keeps it first.
    store
        .transaction(|tx| tx.enqueue(T, "3", OpKind::Update, None, None))
        .unwrap();
    let q = ops(store);
    let got: Vec<_> = q
        .iter()
        .map(|o| (o.table.as_str(), o.item_id.as_str()))
        .collect();
    assert_eq!(got, order);
    assert!(q.windows(2).all(|w| w[0].seq < w[1].seq), "seq increases");
    let only: Vec<_> = store
        .read(|tx| tx.ops(Some("Other")))
        .unwrap()
        .into_iter()
        .map(|o| o.item_id)
        .collect();
    assert_eq!(only, ["1", "2"]);
}

/// count_attempt, set_op_error, replace_op and remove_op persist exactly.
pub fn queue_attempts_errors_and_replace_persist(store: &impl Store) {
    setup(store);
    enqueue(store, "a", OpKind::Update, Some("v1")).unwrap();
    store.transaction(|tx| tx.count_attempt(T, "a")).unwrap();
    let op = store
        .transaction(|tx| tx.count_attempt(T, "a"))
        .unwrap()
        .unwrap();
    assert_eq!(op.attempts, 2);
    let mut changed = op.clone();
    changed.version = Some("v2".into());
    changed.item = Some(todo("a", "snapshot"));
    changed.error = Some(OpError {
        status: None,
        message: "x".into(),
        server_copy: None,
    });
    changed.seq = 999_999; // ignored: position is kept
    store.transaction(|tx| tx.replace_op(&changed)).unwrap();
    let back = store.read(|tx| tx.op(T, "a")).unwrap().unwrap();
    assert_eq!(
        back,
        crate::store::Operation {
            seq: op.seq,
            ..changed
        }
    );
    assert!(store.transaction(|tx| tx.remove_op(T, "a")).unwrap());
    assert!(!store.transaction(|tx| tx.remove_op(T, "a")).unwrap());
    assert!(matches!(
        store.transaction(|tx| tx.set_op_error(T, "a", None)),
        Err(StoreError::NoOperation { .. })
    ));
    assert!(matches!(
        store.transaction(|tx| tx.replace_op(&back)),
        Err(StoreError::NoOperation { .. })
    ));
}

/// count_attempt counts on the entry in place and returns it whole; with nothing
/// queued it changes nothing.
pub fn queue_count_attempt_returns_the_entry_as_it_stands(store: &impl Store) {
    setup(store);
    enqueue(store, "a", OpKind::Update, Some("v1")).unwrap();
    enqueue(store, "b", OpKind::Insert, None).unwrap();
    let mut edited = store.read(|tx| tx.op(T, "a")).unwrap().unwrap();
    edited.item = Some(todo("a", "snapshot"));
    edited.error = Some(OpError {
        status: Some(500),
        message: "x".into(),
        server_copy: None,
    });
    edited.revision = 7;
    store.transaction(|tx| tx.replace_op(&edited)).unwrap();
    let counted = store
        .transaction(|tx| tx.count_attempt(T, "a"))
        .unwrap()
        .unwrap();
    assert_eq!(
        counted,
        crate::store::Operation {
            attempts: 1,
            ..edited.clone()
        }
    );
    let again = store
        .transaction(|tx| tx.count_attempt("TODO", "a"))
        .unwrap()
        .unwrap();
    assert_eq!(again.attempts, 2);
    assert_eq!(store.read(|tx| tx.op(T, "a")).unwrap(), Some(again));
    // Queue order and the other entry are untouched.
    assert_eq!(attempts(store), [("a".to_owned(), 2), ("b".to_owned(), 0)]);
    assert_eq!(
        store.transaction(|tx| tx.count_attempt(T, "zz")).unwrap(),
        None
    );
    // Rolled back with its transaction.
    let _ = store.transaction(|tx| {
        tx.count_attempt(T, "b")?;
        Err::<(), _>(StoreError::Backend("rolled back".into()))
    });
    assert_eq!(store.read(|tx| tx.op(T, "b")).unwrap().unwrap().attempts, 0);
    // The count saturates instead of failing.
    let mut worn = store.read(|tx| tx.op(T, "b")).unwrap().unwrap();
    worn.attempts = u32::MAX;
    store.transaction(|tx| tx.replace_op(&worn)).unwrap();
    let counted = store.transaction(|tx| tx.count_attempt(T, "b")).unwrap();
    assert_eq!(counted.map(|o| o.attempts), Some(u32::MAX));
}

/// add_op never creates a second entry for an item.
pub fn queue_add_op_refuses_a_second_entry_for_an_item(store: &impl Store) {
    setup(store);
    let op = crate::store::Operation::new(T, "a", OpKind::Update);
    store.transaction(|tx| tx.add_op(op.clone())).unwrap();
    assert!(store.transaction(|tx| tx.add_op(op.clone())).is_err());
    assert_eq!(ops(store).len(), 1);
}

/// A local write and its queue entry commit together: an error after both rolls back both.
pub fn transaction_rolls_back_row_and_op_together_on_error(store: &impl Store) {
    setup(store);
    let res: Result<(), StoreError> = store.transaction(|tx| {
        tx.upsert(T, &todo("a", "x"))?;
        tx.enqueue(T, "a", OpKind::Insert, None, None)?;
        tx.set_base(T, &todo("a", "x"))?;
        tx.set_watermark(
            T,
            "q",
            &Watermark {
                updated_at: "t".into(),
                id: "a".into(),
            },
        )?;
        tx.save_conflict(&StoredConflict::new(T, "a", ConflictKind::Pull))?;
        Err(StoreError::Backend("injected".into()))
    });
    assert!(matches!(res, Err(StoreError::Backend(m)) if m == "injected"));
    store
        .read(|tx| {
            assert_eq!(tx.get(T, "a")?, None);
            assert_eq!(tx.op(T, "a")?, None);
            assert_eq!(tx.base(T, "a")?, None);
            assert_eq!(tx.watermark(T, "q")?, None);
            assert_eq!(tx.conflict(T, "a")?, None);
            Ok(())
        })
        .unwrap();
    // And a failing ensure_table leaves no table behind.
    let res = store.transaction(|tx| {
        tx.ensure_table(&TableSchema::new("Fresh"))?;
        Err::<(), _>(StoreError::Backend("injected".into()))
    });
    assert!(res.is_err());
    assert!(store.read(|tx| tx.table_schema("Fresh")).unwrap().is_none());
}

/// A panic inside a transaction rolls it back; the store keeps working.
pub fn transaction_rolls_back_on_panic_and_store_stays_usable(store: &impl Store) {
    setup(store);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = store.transaction(|tx| {
            tx.upsert(T, &todo("a", "x"))?;
            tx.enqueue(T, "a", OpKind::Insert, None, None)?;
            panic!("app code panicked mid-transaction");
            #[allow(unreachable_code)]
            Ok(())
        });
    }));
    assert!(r.is_err());
    assert_eq!(store.read(|tx| tx.get(T, "a")).unwrap(), None);
    assert!(ops(store).is_empty());
    put(store, &todo("b", "y"));
    assert!(store.read(|tx| tx.get(T, "b")).unwrap().is_some());
}

/// Writes made inside `read` do not persist.
pub fn read_rolls_back_writes(store: &impl Store) {
    setup(store);
    store.read(|tx| tx.upsert(T, &todo("a", "x"))).unwrap();
    assert_eq!(store.read(|tx| tx.get(T, "a")).unwrap(), None);
}

/// upsert replaces the whole row; get returns every schema column, in schema order.
pub fn rows_upsert_replaces_and_get_returns_every_column(store: &impl Store) {
    setup(store);
    let mut r = todo("a", "first");
    r.set("priority", 3i64);
    put(store, &r);
    put(store, &todo("a", "second"));
    let got = store.read(|tx| tx.get(T, "a")).unwrap().unwrap();
    let names: Vec<_> = got.iter().map(|(n, _)| n.to_owned()).collect();
    let expected: Vec<_> = todo_schema()
        .columns
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, expected);
    assert_eq!(got.get("text"), Some(&Value::from("second")));
    assert_eq!(
        got.get("priority"),
        Some(&Value::Null),
        "replaced, not merged"
    );
    assert_eq!(got.get("deleted"), Some(&Value::Bool(false)));
    assert_eq!(store.read(|tx| tx.count(T, None)).unwrap(), 1);
}

/// delete reports whether a row existed.
pub fn rows_delete_reports_whether_a_row_existed(store: &impl Store) {
    setup(store);
    put(store, &todo("a", "x"));
    assert!(store.transaction(|tx| tx.delete(T, "a")).unwrap());
    assert!(!store.transaction(|tx| tx.delete(T, "a")).unwrap());
    assert_eq!(store.read(|tx| tx.get(T, "a")).unwrap(), None);
}

fn all_types_schema() -> TableSchema {
    TableSchema::new("AllTypes")
        .with_column("t", ColumnType::Text, true)
        .with_column("i", ColumnType::Integer, true)
        .with_column("r", ColumnType::Real, true)
        .with_column("b", ColumnType::Bool, true)
        .with_column("bl", ColumnType::Blob, true)
        .with_column("d", ColumnType::Date, true)
        .with_column("dt", ColumnType::DateTime, true)
        .with_column("j", ColumnType::Json, true)
}

fn instant(s: &str) -> DateTime<Utc> {
    crate::model::instant::parse(s).expect("test instant")
}

/// Every value type comes back exactly: extremes, NaN, empty, nanoseconds, nested JSON.
pub fn rows_every_value_type_round_trips_exactly(store: &impl Store) {
    let schema = all_types_schema();
    store.transaction(|tx| tx.ensure_table(&schema)).unwrap();
    let cases: Vec<Vec<(&str, Value)>> = vec![
        vec![
            ("t", Value::from("")),
            ("i", Value::Integer(i64::MIN)),
            ("r", Value::Real(f64::NAN)),
            ("b", Value::Bool(false)),
            ("bl", Value::Blob(vec![])),
            ("d", Value::Date(NaiveDate::from_ymd_opt(1, 1, 1).unwrap())),
            ("dt", Value::DateTime(instant("1970-01-01T00:00:00Z"))),
            ("j", Value::Json(serde_json::json!(null))),
        ],
        vec![
            ("t", Value::from("ünïcødé 🚀 \u{0}-free")),
            ("i", Value::Integer(i64::MAX)),
            ("r", Value::Real(-0.0)),
            ("b", Value::Bool(true)),
            ("bl", Value::Blob((0..=255).collect())),
            (
                "d",
                Value::Date(NaiveDate::from_ymd_opt(9999, 12, 31).unwrap()),
            ),
            (
                "dt",
                Value::DateTime(instant("2026-11-21T12:50:52.123456789Z")),
            ),
            (
                "j",
                Value::Json(serde_json::json!({"a": [1, 2.5, "x", {"b": null}], "c": true})),
            ),
        ],
        vec![
            ("r", Value::Real(f64::MIN_POSITIVE)),
            ("i", Value::Integer(0)),
            ("j", Value::Json(serde_json::json!("just text"))),
        ],
        vec![("r", Value::Real(f64::INFINITY))],
    ];
    for (n, cols) in cases.iter().enumerate() {
        let mut r = Record::new();
        r.set("id", format!("row{n}"));
        for (c, v) in cols {
            r.set(*c, v.clone());
        }
        store.transaction(|tx| tx.upsert("AllTypes", &r)).unwrap();
        store.transaction(|tx| tx.set_base("AllTypes", &r)).unwrap();
        let id = format!("row{n}");
        for got in [
            store.read(|tx| tx.get("AllTypes", &id)).unwrap().unwrap(),
            store.read(|tx| tx.base("AllTypes", &id)).unwrap().unwrap(),
        ] {
            for (c, v) in cols {
                assert_eq!(got.get(c), Some(v), "row{n} column {c}");
            }
        }
    }
}

const HOSTILE: [&str; 8] = [
    "it's",
    "a\"b",
    "x'; DROP TABLE Todo; --",
    "100%",
    "a_b",
    "ünï 🚀",
    " spaced ",
    "\\back\\slash",
];

/// Ids and values full of SQL metacharacters round-trip unchanged everywhere (rows, queue,
/// conflicts, bases, watermarks), and match only themselves in filters.
pub fn rows_hostile_ids_and_values_round_trip_unchanged(store: &impl Store) {
    setup(store);
    for s in HOSTILE {
        put(store, &todo(s, s));
        store
            .transaction(|tx| {
                tx.enqueue(T, s, OpKind::Update, Some(s.to_owned()), None)?;
                tx.set_base(T, &todo(s, s))?;
                tx.set_watermark(
                    T,
                    s,
                    &Watermark {
                        updated_at: s.into(),
                        id: s.into(),
                    },
                )?;
                let mut c = StoredConflict::new(T, s, ConflictKind::Push);
                c.local = Some(todo(s, s));
                tx.save_conflict(&c)
            })
            .unwrap();
    }
    for s in HOSTILE {
        store
            .read(|tx| {
                assert_eq!(tx.get(T, s)?.unwrap().get("text"), Some(&Value::from(s)));
                assert_eq!(tx.op(T, s)?.unwrap().version.as_deref(), Some(s));
                assert_eq!(tx.base(T, s)?.unwrap().id(), Some(s));
                assert_eq!(tx.watermark(T, s)?.unwrap().updated_at, s);
                assert_eq!(tx.conflict(T, s)?.unwrap().local.unwrap().id(), Some(s));
                Ok(())
            })
            .unwrap();
        assert_eq!(filter(store, Filter::eq("text", s)), [s]);
        assert_eq!(
            filter(store, Filter::contains("text", s)),
            [s],
            "contains {s:?}"
        );
    }
    assert_eq!(
        store.read(|tx| tx.count(T, None)).unwrap(),
        HOSTILE.len() as u64
    );
}

/// 1 MiB strings (ids too) round-trip.
pub fn rows_one_mib_strings_round_trip(store: &impl Store) {
    setup(store);
    let big: String = "0123456789abcdef".repeat(65_536);
    assert_eq!(big.len(), 1 << 20);
    let id = format!("id-{}", &big[..1000]);
    put(store, &todo(&id, &big));
    store
        .transaction(|tx| tx.enqueue(T, &id, OpKind::Insert, None, None))
        .unwrap();
    let got = store.read(|tx| tx.get(T, &id)).unwrap().unwrap();
    assert_eq!(got.get("text"), Some(&Value::Text(big)));
    assert_eq!(ops(store)[0].item_id, id);
}

/// A value of the wrong type, an unknown column or a missing id is an error naming it,
/// and nothing is written.
pub fn rows_wrong_type_unknown_column_and_missing_id_are_errors(store: &impl Store) {
    setup(store);
    let mut bad = todo("a", "x");
    bad.set("complete", "yes");
    match store.transaction(|tx| tx.upsert(T, &bad)) {
        Err(StoreError::WrongType {
            table,
            column,
            expected,
            found,
        }) => {
            assert_eq!(
                (table.as_str(), column.as_str(), expected, found),
                (T, "complete", "bool", "text")
            );
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    let mut extra = todo("a", "x");
    extra.set("nope", 1i64);
    assert!(matches!(
        store.transaction(|tx| tx.upsert(T, &extra)),
        Err(StoreError::UnknownColumn { column, .. }) if column == "nope"
    ));
    let mut no_id = todo("", "x");
    assert!(matches!(
        store.transaction(|tx| tx.upsert(T, &no_id)),
        Err(StoreError::MissingId { .. })
    ));
    no_id.remove("id");
    assert!(matches!(
        store.transaction(|tx| tx.upsert(T, &no_id)),
        Err(StoreError::MissingId { .. })
    ));
    // Lossless alternatives are accepted and normalized.
    let mut ok = todo("b", "x");
    ok.set("complete", 1i64);
    ok.set("score", 2i64);
    ok.set("dueDate", "2026-12-01");
    put(store, &ok);
    let got = store.read(|tx| tx.get(T, "b")).unwrap().unwrap();
    assert_eq!(got.get("complete"), Some(&Value::Bool(true)));
    assert_eq!(got.get("score"), Some(&Value::Real(2.0)));
    assert_eq!(
        got.get("dueDate"),
        Some(&Value::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()))
    );
    assert_eq!(store.read(|tx| tx.count(T, None)).unwrap(), 1);
}

/// Using a table that was never ensured is an error, not a panic.
pub fn rows_unknown_table_is_an_error(store: &impl Store) {
    assert!(
        matches!(store.read(|tx| tx.get("Nope", "a")), Err(StoreError::UnknownTable(t)) if t == "Nope")
    );
    assert!(matches!(
        store.transaction(|tx| tx.upsert("Nope", &todo("a", "x"))),
        Err(StoreError::UnknownTable(_))
    ));
    assert!(matches!(
        store.read(|tx| tx.query("Nope", &Query::new())),
        Err(StoreError::UnknownTable(_))
    ));
}

/// Table names compare ignoring ASCII case, as SQLite and the wire protocol do.
pub fn tables_names_compare_ignoring_case(store: &impl Store) {
    setup(store);
    put(store, &todo("a", "x"));
    assert!(store.read(|tx| tx.get("TODO", "a")).unwrap().is_some());
    store
        .transaction(|tx| tx.enqueue("todo", "a", OpKind::Update, None, None))
        .unwrap();
    assert_eq!(store.read(|tx| tx.ops(Some("TODO"))).unwrap().len(), 1);
    assert!(store.read(|tx| tx.op(T, "a")).unwrap().is_some());
}

fn numbered(store: &impl Store) {
    setup(store);
    for (id, text, prio, score) in [
        ("a", "apple", Some(1), Some(0.5)),
        ("b", "Banana", Some(2), None),
        ("c", "cherry", Some(3), Some(2.5)),
        ("d", "date", None, Some(-1.0)),
    ] {
        let mut r = todo(id, text);
        r.set(
            "priority",
            prio.map(|p: i64| Value::Integer(p)).unwrap_or(Value::Null),
        );
        r.set("score", score.map(Value::Real).unwrap_or(Value::Null));
        r.set("complete", id == "b" || id == "d");
        put(store, &r);
    }
}

/// eq ne lt le gt ge on integers, reals (including integer literals) and text.
pub fn query_comparison_operators(store: &impl Store) {
    numbered(store);
    assert_eq!(filter(store, Filter::eq("priority", 2i64)), ["b"]);
    assert_eq!(filter(store, Filter::ne("priority", 2i64)), ["a", "c"]);
    assert_eq!(filter(store, Filter::lt("priority", 2i64)), ["a"]);
    assert_eq!(filter(store, Filter::le("priority", 2i64)), ["a", "b"]);
    assert_eq!(filter(store, Filter::gt("priority", 2i64)), ["c"]);
    assert_eq!(filter(store, Filter::ge("priority", 2i64)), ["b", "c"]);
    assert_eq!(filter(store, Filter::gt("score", 0i64)), ["a", "c"]);
    assert_eq!(filter(store, Filter::lt("score", 0.5)), ["d"]);
    assert_eq!(filter(store, Filter::eq("complete", true)), ["b", "d"]);
    // Byte-wise text order: uppercase sorts before lowercase.
    assert_eq!(filter(store, Filter::lt("text", "apple")), ["b"]);
    assert_eq!(filter(store, Filter::ge("text", "cherry")), ["c", "d"]);
}

/// starts_with / ends_with / contains: case-sensitive, `%` and `_` are literal.
pub fn query_text_operators_are_case_sensitive_and_literal(store: &impl Store) {
    numbered(store);
    put(store, &todo("e", "100% a_b"));
    put(store, &todo("f", "100x aXb"));
    assert_eq!(
        filter(store, Filter::starts_with("text", "b")),
        Vec::<String>::new()
    );
    assert_eq!(filter(store, Filter::starts_with("text", "B")), ["b"]);
    assert_eq!(filter(store, Filter::ends_with("text", "rry")), ["c"]);
    assert_eq!(filter(store, Filter::contains("text", "an")), ["b"]);
    assert_eq!(
        filter(store, Filter::contains("text", "AN")),
        Vec::<String>::new()
    );
    assert_eq!(filter(store, Filter::contains("text", "0%")), ["e"]);
    assert_eq!(filter(store, Filter::contains("text", "a_b")), ["e"]);
    assert_eq!(
        filter(store, Filter::starts_with("text", "%")),
        Vec::<String>::new()
    );
    assert_eq!(filter(store, Filter::starts_with("text", "")).len(), 6);
}

/// A Null column matches no comparison, not even `ne` or `not (eq)`; is_null finds it.
pub fn query_null_follows_sql_three_valued_logic(store: &impl Store) {
    numbered(store);
    assert_eq!(filter(store, Filter::ne("priority", 1i64)), ["b", "c"]);
    assert_eq!(filter(store, !Filter::eq("priority", 1i64)), ["b", "c"]);
    assert_eq!(filter(store, Filter::is_null("priority")), ["d"]);
    assert_eq!(filter(store, !Filter::is_null("priority")), ["a", "b", "c"]);
    assert_eq!(filter(store, Filter::eq("priority", Value::Null)), ["d"]);
    assert_eq!(
        filter(store, Filter::ne("priority", Value::Null)),
        ["a", "b", "c"]
    );
    // unknown OR true is true; unknown AND false is false; NOT unknown stays unknown.
    assert_eq!(
        filter(
            store,
            Filter::gt("priority", 5i64).or(Filter::eq("id", "d"))
        ),
        ["d"]
    );
    assert_eq!(
        filter(
            store,
            !(Filter::gt("priority", 0i64).and(Filter::eq("id", "d")))
        ),
        ["a", "b", "c"]
    );
    assert_eq!(
        filter(
            store,
            !(Filter::gt("priority", 0i64).and(Filter::eq("id", "x")))
        ),
        ["a", "b", "c", "d"]
    );
    assert_eq!(
        filter(
            store,
            !(Filter::gt("priority", 0i64).or(Filter::eq("id", "x")))
        ),
        Vec::<String>::new()
    );
}

/// and / or / not nest; empty and is true, empty or is false.
pub fn query_and_or_not_combine(store: &impl Store) {
    numbered(store);
    let f = Filter::eq("complete", false)
        .and(Filter::eq("priority", 1i64).or(Filter::gt("score", 2i64)));
    assert_eq!(filter(store, f), ["a", "c"]);
    assert_eq!(filter(store, !Filter::eq("complete", false)), ["b", "d"]);
    assert_eq!(filter(store, Filter::And(vec![])).len(), 4);
    assert_eq!(filter(store, Filter::Or(vec![])), Vec::<String>::new());
    assert_eq!(
        filter(
            store,
            Filter::And(vec![Filter::Or(vec![]), Filter::eq("id", "a")])
        ),
        Vec::<String>::new()
    );
}

/// Dates and instants compare in time order, also against ISO text literals.
pub fn query_dates_and_instants_compare_chronologically(store: &impl Store) {
    let schema = all_types_schema();
    store.transaction(|tx| tx.ensure_table(&schema)).unwrap();
    for (id, d, dt) in [
        ("x", "2026-01-02", "2026-01-02T00:00:00.5Z"),
        ("y", "2025-12-31", "2026-01-02T00:00:00.05Z"),
        ("z", "2026-10-01", "2100-01-01T00:00:00Z"),
    ] {
        let mut r = Record::new();
        r.set("id", id);
        r.set("d", Value::Date(d.parse().unwrap()));
        r.set("dt", Value::DateTime(instant(dt)));
        store.transaction(|tx| tx.upsert("AllTypes", &r)).unwrap();
    }
    let q = |f: Filter| {
        ids(&store
            .read(|tx| tx.query("AllTypes", &Query::new().filter(f)))
            .unwrap())
    };
    assert_eq!(
        q(Filter::gt("d", Value::Date("2026-01-01".parse().unwrap()))),
        ["x", "z"]
    );
    assert_eq!(q(Filter::lt("d", "2026-01-02")), ["y"]);
    assert_eq!(
        q(Filter::gt(
            "dt",
            Value::DateTime(instant("2026-01-02T00:00:00.1Z"))
        )),
        ["x", "z"]
    );
    assert_eq!(q(Filter::le("dt", "2026-01-02T00:00:00.050Z")), ["y"]);
    let sorted = ids(&store
        .read(|tx| tx.query("AllTypes", &Query::new().order_by("dt", Order::Desc)))
        .unwrap());
    assert_eq!(sorted, ["z", "x", "y"]);
}

/// order_by asc/desc (Null first ascending, last descending), id as final tie-breaker,
/// limit and offset.
pub fn query_order_limit_offset_and_id_tie_break(store: &impl Store) {
    numbered(store);
    let q = |q: Query| query(store, q);
    assert_eq!(
        q(Query::new().order_by("priority", Order::Asc)),
        ["d", "a", "b", "c"]
    );
    assert_eq!(
        q(Query::new().order_by("priority", Order::Desc)),
        ["c", "b", "a", "d"]
    );
    assert_eq!(
        q(Query::new().order_by("complete", Order::Asc)),
        ["a", "c", "b", "d"]
    );
    assert_eq!(
        q(Query::new()
            .order_by("complete", Order::Desc)
            .order_by("score", Order::Asc)),
        ["b", "d", "a", "c"]
    );
    assert_eq!(
        q(Query::new().order_by("priority", Order::Asc).limit(2)),
        ["d", "a"]
    );
    assert_eq!(
        q(Query::new()
            .order_by("priority", Order::Asc)
            .limit(2)
            .offset(3)),
        ["c"]
    );
    assert_eq!(q(Query::new().offset(10)), Vec::<String>::new());
    assert_eq!(q(Query::new().limit(0)), Vec::<String>::new());
    assert_eq!(q(Query::new()), ["a", "b", "c", "d"]);
}

/// count agrees with query for the same filter.
pub fn query_count_matches_query(store: &impl Store) {
    numbered(store);
    for f in [
        Filter::eq("complete", true),
        Filter::is_null("score"),
        Filter::Or(vec![]),
        Filter::contains("text", "a"),
    ] {
        let n = store.read(|tx| tx.count(T, Some(&f))).unwrap();
        assert_eq!(n as usize, filter(store, f.clone()).len(), "{f:?}");
    }
    assert_eq!(store.read(|tx| tx.count(T, None)).unwrap(), 4);
}

/// Filtering or ordering on a column the table lacks is an error naming it.
pub fn query_unknown_column_is_an_error(store: &impl Store) {
    numbered(store);
    let e = store.read(|tx| tx.query(T, &Query::new().filter(Filter::eq("nope", 1i64))));
    assert!(matches!(e, Err(StoreError::UnknownColumn { column, .. }) if column == "nope"));
    let e = store.read(|tx| tx.query(T, &Query::new().order_by("nope2", Order::Asc)));
    assert!(matches!(e, Err(StoreError::UnknownColumn { column, .. }) if column == "nope2"));
    let e = store.read(|tx| tx.count(T, Some(&Filter::is_null("nope3"))));
    assert!(matches!(e, Err(StoreError::UnknownColumn { column, .. }) if column == "nope3"));
}

/// A struct that gains a field: ensuring the new schema adds the column, keeps every
/// row (the new column reads `Null`), and the new column is usable at once.
pub fn migration_adds_a_column_and_keeps_rows(store: &impl Store) {
    let v1 = TableSchema::new("Item").with_column("text", ColumnType::Text, false);
    store.transaction(|tx| tx.ensure_table(&v1)).unwrap();
    for i in 0..20 {
        let mut r = Record::new();
        r.set("id", format!("i{i:02}"));
        r.set("text", format!("item {i}"));
        store.transaction(|tx| tx.upsert("Item", &r)).unwrap();
    }
    let v2 = v1.clone().with_column("dueDate", ColumnType::Date, true);
    store.transaction(|tx| tx.ensure_table(&v2)).unwrap();
    store.transaction(|tx| tx.ensure_table(&v2)).unwrap(); // idempotent
    let rows = store.read(|tx| tx.query("Item", &Query::new())).unwrap();
    assert_eq!(rows.len(), 20);
    assert_eq!(rows[7].get("text"), Some(&Value::from("item 7")));
    assert_eq!(rows[7].get("dueDate"), Some(&Value::Null));
    let mut r = rows[3].clone();
    r.set("dueDate", Value::Date("2026-12-01".parse().unwrap()));
    store.transaction(|tx| tx.upsert("Item", &r)).unwrap();
    let n = store
        .read(|tx| tx.count("Item", Some(&Filter::is_null("dueDate"))))
        .unwrap();
    assert_eq!(n, 19);
    let schema = store.read(|tx| tx.table_schema("Item")).unwrap().unwrap();
    assert_eq!(
        schema.column("dueDate").map(|c| c.ty),
        Some(ColumnType::Date)
    );
}

/// A struct that loses a field: the column and its data stay.
pub fn migration_keeps_a_removed_column_and_its_data(store: &impl Store) {
    let v1 = TableSchema::new("Item")
        .with_column("text", ColumnType::Text, false)
        .with_column("old", ColumnType::Integer, false);
    store.transaction(|tx| tx.ensure_table(&v1)).unwrap();
    let mut r = Record::new();
    r.set("id", "a");
    r.set("text", "x");
    r.set("old", 42i64);
    store.transaction(|tx| tx.upsert("Item", &r)).unwrap();
    let v2 = TableSchema::new("Item").with_column("text", ColumnType::Text, false);
    store.transaction(|tx| tx.ensure_table(&v2)).unwrap();
    let got = store.read(|tx| tx.get("Item", "a")).unwrap().unwrap();
    assert_eq!(got.get("old"), Some(&Value::Integer(42)));
    assert!(
        store
            .read(|tx| tx.table_schema("Item"))
            .unwrap()
            .unwrap()
            .column("old")
            .is_some()
    );
}

/// A field whose type changed is an error naming table and column; nothing changes.
pub fn migration_refuses_a_changed_type(store: &impl Store) {
    let v1 = TableSchema::new("Item").with_column("when", ColumnType::Text, false);
    store.transaction(|tx| tx.ensure_table(&v1)).unwrap();
    let v2 = TableSchema::new("Item").with_column("when", ColumnType::Date, false);
    match store.transaction(|tx| tx.ensure_table(&v2)) {
        Err(StoreError::Schema(SchemaError::TypeChanged {
            table,
            column,
            stored,
            wanted,
        })) => {
            assert_eq!(
                (
                    table.as_str(),
                    column.as_str(),
                    stored.as_str(),
                    wanted.as_str()
                ),
                ("Item", "when", "text", "date")
            );
        }
        other => panic!("expected TypeChanged, got {other:?}"),
    }
    let schema = store.read(|tx| tx.table_schema("Item")).unwrap().unwrap();
    assert_eq!(schema.column("when").map(|c| c.ty), Some(ColumnType::Text));
}

/// A transaction that looked for a conflict, found none, then saved one, sees it at
/// once (a store may remember that it holds no conflict, but not past a save).
pub fn conflicts_are_seen_by_the_transaction_that_saves_them(store: &impl Store) {
    setup(store);
    let c = StoredConflict::new(T, "a", ConflictKind::Push);
    let seen = store
        .transaction(|tx| {
            let before = (tx.conflict(T, "a")?, tx.conflict(T, "b")?);
            tx.save_conflict(&c)?;
            Ok((before, tx.conflict("TODO", "a")?, tx.conflict(T, "b")?))
        })
        .unwrap();
    assert_eq!(seen, ((None, None), Some(c.clone()), None));
    let again = store
        .transaction(|tx| {
            let found = tx.conflict(T, "a")?;
            tx.remove_conflict(T, "a")?;
            Ok((found, tx.conflict(T, "a")?))
        })
        .unwrap();
    assert_eq!(again, (Some(c), None));
}

/// Conflicts: saved with every side, listed oldest first per table, replaced per item,
/// removed.
pub fn conflicts_save_list_replace_remove(store: &impl Store) {
    setup(store);
    let mut c1 = StoredConflict::new(T, "a", ConflictKind::Push);
    c1.local = Some(todo("a", "local"));
    c1.remote = None;
    c1.base = Some(todo("a", "base"));
    let mut c2 = StoredConflict::new(T, "b", ConflictKind::Pull);
    c2.remote = Some(todo("b", "remote"));
    store
        .transaction(|tx| {
            tx.save_conflict(&c1)?;
            tx.save_conflict(&c2)
        })
        .unwrap();
    let all = store.read(|tx| tx.conflicts(Some(T))).unwrap();
    assert_eq!(all, [c1.clone(), c2.clone()]);
    let mut c1b = c1.clone();
    c1b.remote = Some(todo("a", "remote2"));
    store.transaction(|tx| tx.save_conflict(&c1b)).unwrap();
    assert_eq!(store.read(|tx| tx.conflict(T, "a")).unwrap(), Some(c1b));
    assert_eq!(store.read(|tx| tx.conflicts(None)).unwrap().len(), 2);
    assert_eq!(store.read(|tx| tx.conflicts(Some("Other"))).unwrap(), []);
    assert!(store.transaction(|tx| tx.remove_conflict(T, "a")).unwrap());
    assert!(!store.transaction(|tx| tx.remove_conflict(T, "a")).unwrap());
    assert_eq!(store.read(|tx| tx.conflicts(None)).unwrap(), [c2]);
}

/// Base copies: set (replacing), get, remove.
pub fn bases_set_get_remove(store: &impl Store) {
    setup(store);
    store
        .transaction(|tx| tx.set_base(T, &todo("a", "v1")))
        .unwrap();
    store
        .transaction(|tx| tx.set_base(T, &todo("a", "v2")))
        .unwrap();
    let b = store.read(|tx| tx.base(T, "a")).unwrap().unwrap();
    assert_eq!(b.get("text"), Some(&Value::from("v2")));
    assert_eq!(store.read(|tx| tx.base(T, "zz")).unwrap(), None);
    assert!(store.transaction(|tx| tx.remove_base(T, "a")).unwrap());
    assert!(!store.transaction(|tx| tx.remove_base(T, "a")).unwrap());
    assert_eq!(store.read(|tx| tx.base(T, "a")).unwrap(), None);
}

/// Watermarks are per (table, query id); removal of one or all of a table's.
pub fn watermarks_per_query_and_removal(store: &impl Store) {
    setup(store);
    let w = |t: &str, id: &str| Watermark {
        updated_at: t.into(),
        id: id.into(),
    };
    store
        .transaction(|tx| {
            tx.set_watermark(T, "all", &w("2026-01-01T00:00:00.000Z", "a"))?;
            tx.set_watermark(T, "mine", &w("2026-01-02T00:00:00.000Z", "b"))?;
            tx.set_watermark(T, "all", &w("2026-01-03T00:00:00.000Z", "c"))
        })
        .unwrap();
    assert_eq!(
        store.read(|tx| tx.watermark(T, "all")).unwrap(),
        Some(w("2026-01-03T00:00:00.000Z", "c"))
    );
    assert_eq!(store.read(|tx| tx.watermark(T, "none")).unwrap(), None);
    assert_eq!(
        store
            .transaction(|tx| tx.remove_watermarks(T, Some("mine")))
            .unwrap(),
        1
    );
    assert_eq!(store.read(|tx| tx.watermark(T, "mine")).unwrap(), None);
    assert!(store.read(|tx| tx.watermark(T, "all")).unwrap().is_some());
    store
        .transaction(|tx| tx.set_watermark(T, "x", &w("t", "i")))
        .unwrap();
    assert_eq!(
        store
            .transaction(|tx| tx.remove_watermarks(T, None))
            .unwrap(),
        2
    );
    assert_eq!(store.read(|tx| tx.watermark(T, "all")).unwrap(), None);
}

/// clear_table (purge) drops rows, bases, watermarks and conflicts of that table only,
/// and leaves the queue alone.
pub fn clear_table_drops_rows_bases_watermarks_conflicts_but_not_ops(store: &impl Store) {
    setup(store);
    let other = TableSchema::new("Other");
    store.transaction(|tx| tx.ensure_table(&other)).unwrap();
    let mut o = Record::new();
    o.set("id", "o1");
    store
        .transaction(|tx| {
            for id in ["a", "b", "c"] {
                tx.upsert(T, &todo(id, id))?;
                tx.set_base(T, &todo(id, id))?;
            }
            tx.set_base(T, &todo("gone", "only a base"))?;
            tx.enqueue(T, "a", OpKind::Update, Some("v".into()), None)?;
            tx.set_watermark(
                T,
                "q",
                &Watermark {
                    updated_at: "t".into(),
                    id: "a".into(),
                },
            )?;
            tx.save_conflict(&StoredConflict::new(T, "b", ConflictKind::Pull))?;
            tx.upsert("Other", &o)?;
            tx.set_base("Other", &o)?;
            tx.set_watermark(
                "Other",
                "q",
                &Watermark {
                    updated_at: "t".into(),
                    id: "o1".into(),
                },
            )?;
            Ok(())
        })
        .unwrap();
    assert_eq!(store.transaction(|tx| tx.clear_table(T)).unwrap(), 3);
    store
        .read(|tx| {
            assert_eq!(tx.count(T, None)?, 0);
            assert_eq!(tx.base(T, "a")?, None);
            assert_eq!(tx.base(T, "gone")?, None);
            assert_eq!(tx.watermark(T, "q")?, None);
            assert_eq!(tx.conflicts(Some(T))?, []);
            assert_eq!(tx.ops(Some(T))?.len(), 1, "ops are the engine's business");
            assert_eq!(tx.count("Other", None)?, 1);
            assert!(tx.base("Other", "o1")?.is_some());
            assert!(tx.watermark("Other", "q")?.is_some());
            Ok(())
        })
        .unwrap();
}

/// Repeatable test input for the instant parsers' property tests (sync-core's wire
/// text, sync-sqlite's stored text): a xorshift64 stream, and one-byte damage of a
/// valid instant's text.
///
/// ```
/// let mut a = sync_core::conformance::Scramble::new();
/// let mut b = sync_core::conformance::Scramble::new();
/// assert_eq!(a.number(), b.number());
/// let damaged = a.damage("2026-11-21T12:50:52Z".to_owned());
/// assert_eq!(damaged.len(), "2026-11-21T12:50:52Z".len());
/// ```
#[derive(Debug, Clone)]
pub struct Scramble(u64);

impl Default for Scramble {
    fn default() -> Self {
        Scramble::new()
    }
}

impl Scramble {
    /// The stream every property test starts from.
    pub fn new() -> Scramble {
        Scramble(0x2545_f491_4f6c_dd1d)
    }

    /// The next number.
    pub fn number(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `text` (ASCII) with one byte replaced by a digit, a separator, or a byte no
    /// instant has there.
    pub fn damage(&mut self, text: String) -> String {
        let mut bytes = text.into_bytes();
        let at = self.number() as usize % bytes.len();
        bytes[at] = b"0123456789-:.TZ x+"[self.number() as usize % 18];
        String::from_utf8(bytes).expect("ascii")
    }
}

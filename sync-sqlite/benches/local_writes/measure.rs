//! What the local-writes benchmark measures, written once: the store's loop, the bare
//! rusqlite loop that is its ceiling, the data both write, and the targets.
//!
//! Two benchmarks run this same code: sync-sqlite's `local_writes` bench (this file is
//! its `measure` module) and the workspace table (`benches/all/local_writes.rs` includes
//! it by path). They used to carry a copy each, and the copies drifted apart (other ids,
//! other run counts) until the two reported different ratios for the same case.
//!
//! Each loop opens a fresh file in `dir` with the same pragmas (WAL, `synchronous=FULL`)
//! and writes `n` items, each a row and its queue entry: one transaction per item, or
//! all of them in one transaction. Only the writes are timed, not opening the file or
//! making the data.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior, params};
use sync_core::store::{OpKind, Store, StoreTx, StoreTxExt};
use sync_core::{ColumnType, Record, TableSchema};
use sync_sqlite::SqliteStore;

/// Items of the single case (one transaction each).
pub const SINGLE: usize = 2_000;
/// Items of the batched case (one transaction for all).
pub const BATCH: usize = 10_000;
/// Least acceptable ratio to the ceiling, single case: an fsync per item dominates.
pub const SINGLE_TARGET: f64 = 0.5;
/// Least acceptable ratio to the ceiling, batched case: the store's own work shows.
pub const BATCH_TARGET: f64 = 0.7;
/// Runs of the single case; the best counts, since noise only ever makes a run slower.
/// Each run is a few seconds of fsyncs.
pub const SINGLE_RUNS: usize = 5;
/// Runs of the batched case. A run is a tenth of a second of CPU work, which another
/// busy process on the machine easily stretches: the best of many is needed for a
/// ratio that does not change from one invocation to the next.
pub const BATCH_RUNS: usize = 25;

/// The written table: the system columns and two data columns.
pub fn schema() -> TableSchema {
    TableSchema::new("Item")
        .with_column("text", ColumnType::Text, false)
        .with_column("n", ColumnType::Integer, false)
}

/// Item `i` of run `run`: its id (UUID-shaped, 36 characters, in insertion order, unique
/// across runs), its text and its number.
pub fn item(i: usize, run: usize) -> (String, String, i64) {
    (
        format!("{run:02}{i:06}-5f0c-4b7e-9a43-1c2d3e4f5a6b"),
        format!("item number {i}"),
        i as i64,
    )
}

/// `SqliteStore`: `upsert` and `enqueue` per item inside `Store::transaction`.
pub fn store_writes(dir: &Path, n: usize, batched: bool, run: usize) -> Duration {
    let store = SqliteStore::open(dir.join(format!("store-{batched}-{run}.db"))).expect("open");
    store
        .transaction(|tx| tx.ensure_table(&schema()))
        .expect("table");
    let records: Vec<(String, Record)> = (0..n)
        .map(|i| {
            let (id, text, n) = item(i, run);
            let mut r = Record::new();
            r.set("id", id.as_str());
            r.set("text", text);
            r.set("n", n);
            (id, r)
        })
        .collect();
    let write = |tx: &mut dyn StoreTx, id: &str, r: &Record| {
        tx.upsert("Item", r)?;
        tx.enqueue("Item", id, OpKind::Insert, None, None)?;
        Ok(())
    };
    let start = Instant::now();
    if batched {
        store
            .transaction(|tx| {
                for (id, r) in &records {
                    write(tx, id, r)?;
                }
                Ok(())
            })
            .expect("batch");
    } else {
        for (id, r) in &records {
            store.transaction(|tx| write(tx, id, r)).expect("write");
        }
    }
    start.elapsed()
}

// The ceiling is hand-written rusqlite, as an app without tablesync would write it: the
// same table shape, the same queue table (with its unique index), the same pragmas.
const BARE_SCHEMA: &str = "
    CREATE TABLE Item (id TEXT NOT NULL PRIMARY KEY, version TEXT, updatedAt TEXT,
        createdAt TEXT, deleted INTEGER, text TEXT, n INTEGER);
    CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, table_key TEXT NOT NULL,
        table_name TEXT NOT NULL, item_id TEXT NOT NULL, kind TEXT NOT NULL, version TEXT,
        item TEXT, attempts INTEGER NOT NULL, revision INTEGER NOT NULL, error TEXT);
    CREATE UNIQUE INDEX queue_item ON queue (table_key, item_id);";
const BARE_ROW: &str = "INSERT INTO Item (id, version, updatedAt, createdAt, deleted, text, n) VALUES (?1, NULL, NULL, NULL, 0, ?2, ?3)";
const BARE_OP: &str = "INSERT INTO queue (table_key, table_name, item_id, kind, version, item, attempts, revision, error) VALUES ('item', 'Item', ?1, 'insert', NULL, NULL, 0, 0, NULL)";

/// Bare rusqlite: the same two INSERTs per item, with `prepare_cached`.
pub fn bare_writes(dir: &Path, n: usize, batched: bool, run: usize) -> Duration {
    let mut conn = Connection::open(dir.join(format!("bare-{batched}-{run}.db"))).expect("open");
    conn.busy_timeout(Duration::from_secs(5)).expect("timeout");
    let _: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("wal");
    conn.execute_batch("PRAGMA synchronous=FULL").expect("sync");
    conn.execute_batch(BARE_SCHEMA).expect("schema");
    let items: Vec<(String, String, i64)> = (0..n).map(|i| item(i, run)).collect();
    let write = |c: &Connection, (id, text, n): &(String, String, i64)| {
        c.prepare_cached(BARE_ROW)?.execute(params![id, text, n])?;
        c.prepare_cached(BARE_OP)?.execute(params![id])?;
        Ok::<_, rusqlite::Error>(())
    };
    let start = Instant::now();
    if batched {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .expect("begin");
        for it in &items {
            write(&tx, it).expect("write");
        }
        tx.commit().expect("commit");
    } else {
        for it in &items {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .expect("begin");
            write(&tx, it).expect("write");
            tx.commit().expect("commit");
        }
    }
    start.elapsed()
}

/// Runs every case once per run, in turn (so that a slow moment of the machine hits
/// them alike), `runs` times; the best time of each case, in the order given.
pub fn best_of(runs: usize, cases: &mut [&mut dyn FnMut(usize) -> Duration]) -> Vec<Duration> {
    let mut best = vec![Duration::MAX; cases.len()];
    for run in 0..runs {
        for (case, b) in cases.iter_mut().zip(&mut best) {
            *b = (*b).min(case(run));
        }
    }
    best
}

/// Writes per second.
pub fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

//! Local write throughput of `SqliteStore` against a bare rusqlite loop doing the same
//! two INSERTs per item, on a temporary file with the same pragmas (WAL,
//! `synchronous=FULL`).
//!
//! - single: one transaction per item (row upsert + its queue entry), an fsync each;
//! - batched: 10,000 items in one transaction.
//!
//! Run with `cargo bench -p sync-sqlite --bench local_writes`. Each case runs a few
//! times, alternating framework and bare, on fresh files; the best run of each counts.
//! A word after `--` runs only the cases whose name contains it (`-- batched`).

use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior, params};
use sync_core::store::{OpKind, Store};
use sync_core::{ColumnType, Record, TableSchema};
use sync_sqlite::SqliteStore;

const SINGLE_N: usize = 2_000;
const BATCH_N: usize = 10_000;
const RUNS: usize = 5;

fn schema() -> TableSchema {
    TableSchema::new("Item")
        .with_column("text", ColumnType::Text, false)
        .with_column("n", ColumnType::Integer, false)
}

fn ids(n: usize, run: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{run:02}-{i:08}-5f0c-4b7e-9a43"))
        .collect()
}

fn record(id: &str, i: usize) -> Record {
    let mut r = Record::new();
    r.set("id", id);
    r.set("text", format!("item number {i}"));
    r.set("n", i as i64);
    r
}

fn framework(dir: &std::path::Path, n: usize, batched: bool, run: usize) -> Duration {
    let store = SqliteStore::open(dir.join(format!("fw-{batched}-{run}.db"))).expect("open");
    store
        .transaction(|tx| tx.ensure_table(&schema()))
        .expect("table");
    let ids = ids(n, run);
    let records: Vec<Record> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| record(id, i))
        .collect();
    let write = |tx: &mut dyn sync_core::store::StoreTx, r: &Record, id: &str| {
        tx.upsert("Item", r)?;
        tx.enqueue("Item", id, OpKind::Insert, None, None)?;
        Ok(())
    };
    let start = Instant::now();
    if batched {
        store
            .transaction(|tx| {
                for (r, id) in records.iter().zip(&ids) {
                    write(tx, r, id)?;
                }
                Ok(())
            })
            .expect("batch");
    } else {
        for (r, id) in records.iter().zip(&ids) {
            store.transaction(|tx| write(tx, r, id)).expect("write");
        }
    }
    start.elapsed()
}

// The baseline is hand-written rusqlite, as an app without tablesync would write it:
// the same table shape, the same queue table (with its unique index), the same pragmas.
const BARE_SCHEMA: &str = "
    CREATE TABLE Item (id TEXT NOT NULL PRIMARY KEY, version TEXT, updatedAt TEXT,
        createdAt TEXT, deleted INTEGER, text TEXT, n INTEGER);
    CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, table_key TEXT NOT NULL,
        table_name TEXT NOT NULL, item_id TEXT NOT NULL, kind TEXT NOT NULL, version TEXT,
        item TEXT, attempts INTEGER NOT NULL, revision INTEGER NOT NULL, error TEXT);
    CREATE UNIQUE INDEX queue_item ON queue (table_key, item_id);";
const BARE_ROW: &str = "INSERT INTO Item (id, version, updatedAt, createdAt, deleted, text, n) VALUES (?1, NULL, NULL, NULL, 0, ?2, ?3)";
const BARE_OP: &str = "INSERT INTO queue (table_key, table_name, item_id, kind, version, item, attempts, revision, error) VALUES ('item', 'Item', ?1, 'insert', NULL, NULL, 0, 0, NULL)";

fn bare(dir: &std::path::Path, n: usize, batched: bool, run: usize) -> Duration {
    let mut conn = Connection::open(dir.join(format!("bare-{batched}-{run}.db"))).expect("open");
    conn.busy_timeout(Duration::from_secs(5)).expect("timeout");
    let _: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("wal");
    conn.execute_batch("PRAGMA synchronous=FULL").expect("sync");
    conn.execute_batch(BARE_SCHEMA).expect("schema");
    let ids = ids(n, run);
    let texts: Vec<String> = (0..n).map(|i| format!("item number {i}")).collect();
    let write = |c: &Connection, i: usize| {
        c.prepare_cached(BARE_ROW)?
            .execute(params![ids[i], texts[i], i as i64])?;
        c.prepare_cached(BARE_OP)?.execute(params![ids[i]])?;
        Ok::<_, rusqlite::Error>(())
    };
    let start = Instant::now();
    if batched {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .expect("begin");
        for i in 0..n {
            write(&tx, i).expect("write");
        }
        tx.commit().expect("commit");
    } else {
        for i in 0..n {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .expect("begin");
            write(&tx, i).expect("write");
            tx.commit().expect("commit");
        }
    }
    start.elapsed()
}

fn main() {
    // Cargo passes `--bench`; any other word selects cases.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    println!("local_writes: temp file, WAL, synchronous=FULL, best of {RUNS} runs");
    println!(
        "{:<34} {:>14} {:>14} {:>7} {:>7}",
        "case", "framework w/s", "bare w/s", "ratio", "target"
    );
    for (name, n, batched, target) in [
        ("single (1 item per transaction)", SINGLE_N, false, 0.5),
        ("batched (10,000 items in 1 tx)", BATCH_N, true, 0.7),
    ] {
        if !only.is_empty() && !only.iter().any(|w| name.contains(w.as_str())) {
            continue;
        }
        let (mut fw, mut b) = (Duration::MAX, Duration::MAX);
        for run in 0..RUNS {
            fw = fw.min(framework(dir.path(), n, batched, run));
            b = b.min(bare(dir.path(), n, batched, run));
        }
        let (fw_rate, bare_rate) = (n as f64 / fw.as_secs_f64(), n as f64 / b.as_secs_f64());
        let ratio = fw_rate / bare_rate;
        println!(
            "{name:<34} {fw_rate:>14.0} {bare_rate:>14.0} {:>6.0}% {:>6.0}%{}",
            ratio * 100.0,
            target * 100.0,
            if ratio >= target { "" } else { "  MISSED" }
        );
    }
}

//! Local writes: the store's transactions (sync-sqlite's `local_writes` bench, run here
//! in-process the same way) and the engine's `SyncTable::insert`, against a bare
//! rusqlite loop doing the same two INSERTs per item, on temp files with the same
//! pragmas (WAL, `synchronous=FULL`).
//!
//! - store, single: one `Store::transaction` per item (row upsert + queue entry);
//! - store, batched: all items in one transaction;
//! - engine insert: `SyncTable::insert` per item (typed struct to row, the duplicate
//!   check, row + queue entry in one transaction on tokio's blocking pool), awaited
//!   one after another as an app's loop would;
//!
//! Each case runs a few times, alternating tablesync and bare, on fresh files; the
//! best run of each counts.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior, params};
use tablesync::SqliteStore;
use tablesync::engine::SyncContext;
use tablesync::store::{OpKind, Store, StoreTx};
use tablesync::transport::MemoryRemote;
use tablesync::{Record, Syncable};

use crate::report::{Report, Row};
use crate::rows::{Item, id};
use crate::settings::Settings;

const RUNS: usize = 3;

fn ids(n: usize, run: usize) -> Vec<String> {
    (0..n).map(|i| id(&format!("{run:02}-"), i)).collect()
}

fn text(i: usize) -> String {
    format!("item number {i}")
}

fn store_level(dir: &Path, n: usize, batched: bool, run: usize) -> Duration {
    let store = SqliteStore::open(dir.join(format!("store-{batched}-{run}.db"))).expect("open");
    store
        .transaction(|tx| tx.ensure_table(Item::schema()))
        .expect("table");
    let ids = ids(n, run);
    let records: Vec<Record> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut r = Record::new();
            r.set("id", id.as_str());
            r.set("text", text(i));
            r.set("n", i as i64);
            r
        })
        .collect();
    let write = |tx: &mut dyn StoreTx, r: &Record, id: &str| {
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

fn engine_insert(rt: &tokio::runtime::Runtime, dir: &Path, n: usize, run: usize) -> Duration {
    let store = SqliteStore::open(dir.join(format!("engine-{run}.db"))).expect("open");
    // No network is involved in a local write; the in-process remote is never called.
    let ctx = SyncContext::new(store, MemoryRemote::new().transport());
    let items: Vec<Item> = ids(n, run)
        .into_iter()
        .enumerate()
        .map(|(i, id)| Item {
            id,
            text: text(i),
            n: i as i64,
            version: None,
        })
        .collect();
    rt.block_on(async {
        let table = ctx.table::<Item>().await.expect("table");
        let start = Instant::now();
        for item in items {
            table.insert(item).await.expect("insert");
        }
        start.elapsed()
    })
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

fn bare(dir: &Path, n: usize, batched: bool, run: usize) -> Duration {
    let mut conn = Connection::open(dir.join(format!("bare-{batched}-{run}.db"))).expect("open");
    conn.busy_timeout(Duration::from_secs(5)).expect("timeout");
    let _: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("wal");
    conn.execute_batch("PRAGMA synchronous=FULL").expect("sync");
    conn.execute_batch(BARE_SCHEMA).expect("schema");
    let ids = ids(n, run);
    let texts: Vec<String> = (0..n).map(text).collect();
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

pub fn run(settings: &Settings) -> Report {
    let mut report = Report::new(&format!(
        "local writes: temp file on disk, WAL, synchronous=FULL, best of {RUNS} runs"
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = crate::servers::runtime(2);
    let single = settings.n(1_000);
    let batch = settings.n(10_000);
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    // Single-item transactions: the store, the engine and bare rusqlite, interleaved.
    let (mut store_d, mut engine_d, mut bare_d) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for run in 0..RUNS {
        store_d = store_d.min(store_level(dir.path(), single, false, run));
        engine_d = engine_d.min(engine_insert(&rt, dir.path(), single, run));
        bare_d = bare_d.min(bare(dir.path(), single, false, run));
    }
    report.row(Row::rate(
        "local",
        &format!("store, 1 item per tx ({single})"),
        rate(single, store_d),
        rate(single, bare_d),
        "w/s",
        Some(0.5),
    ));
    report.row(Row::rate(
        "local",
        &format!("engine insert, 1 per tx ({single})"),
        rate(single, engine_d),
        rate(single, bare_d),
        "w/s",
        Some(0.5),
    ));
    let (mut store_d, mut bare_d) = (Duration::MAX, Duration::MAX);
    for run in 0..RUNS {
        store_d = store_d.min(store_level(dir.path(), batch, true, run));
        bare_d = bare_d.min(bare(dir.path(), batch, true, run));
    }
    report.row(Row::rate(
        "local",
        &format!("store, {batch} items in 1 tx"),
        rate(batch, store_d),
        rate(batch, bare_d),
        "w/s",
        Some(0.7),
    ));
    report.note("local: ceiling = bare rusqlite, the same two INSERTs per item; targets as in sync-sqlite's bench (50% single, 70% batched)");
    report
}

//! Local writes: the store's transactions (sync-sqlite's `local_writes` bench, whose
//! measuring code this file includes, so both run exactly the same loops) and the
//! engine's `SyncTable::insert`, against a bare rusqlite loop doing the same two INSERTs
//! per item, on temp files with the same pragmas (WAL, `synchronous=FULL`).
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

use tablesync::SqliteStore;
use tablesync::Syncable;
use tablesync::engine::SyncContext;
use tablesync::transport::MemoryRemote;

use crate::report::{Report, Row};
use crate::rows::Item;
use crate::settings::Settings;

// Not a copy: the one definition of the store loop, the bare ceiling and the data.
#[path = "../../sync-sqlite/benches/local_writes/measure.rs"]
mod measure;

use measure::{BATCH, BATCH_RUNS, BATCH_TARGET, SINGLE, SINGLE_RUNS, SINGLE_TARGET, rate};

fn engine_insert(rt: &tokio::runtime::Runtime, dir: &Path, n: usize, run: usize) -> Duration {
    let store = SqliteStore::open(dir.join(format!("engine-{run}.db"))).expect("open");
    // No network is involved in a local write; the in-process remote is never called.
    let ctx = SyncContext::new(store, MemoryRemote::new().transport());
    let items: Vec<Item> = (0..n)
        .map(|i| {
            let (id, text, n) = measure::item(i, run);
            Item {
                id,
                text,
                n,
                version: None,
            }
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

pub fn run(settings: &Settings) -> Report {
    let mut report = Report::new(&format!(
        "local writes: temp file on disk, WAL, synchronous=FULL, best of {SINGLE_RUNS} runs \
         (single) and {BATCH_RUNS} runs (batched)"
    ));
    // The engine writes the typed `Item`; the store loop writes the same table.
    assert_eq!(Item::schema(), &measure::schema(), "one table shape");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path();
    let rt = crate::servers::runtime(2);
    let (single, batch) = (settings.n(SINGLE), settings.n(BATCH));
    // Single-item transactions: the store, the engine and bare rusqlite, interleaved.
    let best = measure::best_of(
        SINGLE_RUNS,
        &mut [
            &mut |run| measure::store_writes(path, single, false, run),
            &mut |run| engine_insert(&rt, path, single, run),
            &mut |run| measure::bare_writes(path, single, false, run),
        ],
    );
    let bare = rate(single, best[2]);
    report.row(Row::rate(
        "local",
        &format!("store, 1 item per tx ({single})"),
        rate(single, best[0]),
        bare,
        "w/s",
        Some(SINGLE_TARGET),
    ));
    report.row(Row::rate(
        "local",
        &format!("engine insert, 1 per tx ({single})"),
        rate(single, best[1]),
        bare,
        "w/s",
        Some(SINGLE_TARGET),
    ));
    let best = measure::best_of(
        BATCH_RUNS,
        &mut [
            &mut |run| measure::store_writes(path, batch, true, run),
            &mut |run| measure::bare_writes(path, batch, true, run),
        ],
    );
    report.row(Row::rate(
        "local",
        &format!("store, {batch} items in 1 tx"),
        rate(batch, best[0]),
        rate(batch, best[1]),
        "w/s",
        Some(BATCH_TARGET),
    ));
    report.note("local: ceiling = bare rusqlite, the same two INSERTs per item; the loops are sync-sqlite's local_writes bench (sync-sqlite/benches/local_writes/measure.rs)");
    report
}

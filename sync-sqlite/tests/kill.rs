//! Durability under SIGKILL: a child process writes in a loop, one transaction per item
//! (upsert the row + enqueue its insert), and prints each id after its commit. The
//! parent kills it at random moments, reopens the file and checks that every
//! acknowledged id has its row and its queue entry, that no row exists without its
//! entry or the other way round, and that queue order is write order; then the next
//! child goes on writing to the same file.
//!
//! Runs without the test harness: the same binary is the parent (no environment
//! variable) or the child writer (`SYNC_SQLITE_KILL_CHILD` names the database).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sync_core::store::{OpKind, Query, Store, StoreTxExt};
use sync_core::{ColumnType, Record, TableSchema, Value};
use sync_sqlite::SqliteStore;

const CHILD_ENV: &str = "SYNC_SQLITE_KILL_CHILD";
const KILLS: usize = 60;
/// The child stops by itself after this, should the parent be gone.
const CHILD_LIFETIME: Duration = Duration::from_secs(30);

fn schema() -> TableSchema {
    TableSchema::new("Item").with_column("text", ColumnType::Text, false)
}

fn id(i: u64) -> String {
    // Zero-padded: id order is write order.
    format!("item{i:08}")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("kill_at_random_moments_loses_nothing: test");
        return;
    }
    match std::env::var_os(CHILD_ENV) {
        Some(path) => child(Path::new(&path)),
        None => {
            let started = Instant::now();
            let acked = kill_at_random_moments_loses_nothing();
            println!(
                "test kill_at_random_moments_loses_nothing ... ok ({KILLS} kills, {acked} acknowledged writes, {:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
}

/// The writer: continues after the last row on file, acknowledging each commit.
fn child(path: &Path) {
    let store = SqliteStore::open(path).expect("child opens the store");
    store
        .transaction(|tx| tx.ensure_table(&schema()))
        .expect("child ensures the table");
    let mut next = store
        .read(|tx| tx.count("Item", None))
        .expect("child counts rows");
    let started = Instant::now();
    let stdout = std::io::stdout();
    while started.elapsed() < CHILD_LIFETIME {
        let id = id(next);
        store
            .transaction(|tx| {
                let mut r = Record::new();
                r.set("id", id.as_str());
                r.set("text", id.as_str());
                tx.upsert("Item", &r)?;
                tx.enqueue("Item", &id, OpKind::Insert, None, None)?;
                Ok(())
            })
            .expect("child writes");
        let mut out = stdout.lock();
        writeln!(out, "{id}").expect("child acknowledges");
        out.flush().expect("child flushes");
        next += 1;
    }
}

/// A small xorshift generator: random enough for kill timing, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Returns how many writes were acknowledged in all.
fn kill_at_random_moments_loses_nothing() -> usize {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kill.db");
    let exe = std::env::current_exe().expect("own executable");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    println!("kill test seed {seed:#x}");
    let mut rng = Rng(seed);
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut rounds_with_writes = 0;
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the writer");
        let out = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let lines = Arc::clone(&lines);
            thread::spawn(move || {
                let mut out = BufReader::new(out);
                let mut line = String::new();
                // Only whole lines count: a kill may cut the last one short.
                while out.read_line(&mut line).unwrap_or(0) > 0 {
                    if let Some(id) = line.strip_suffix('\n') {
                        lines.lock().expect("lines lock").push(id.to_owned());
                    }
                    line.clear();
                }
            })
        };
        thread::sleep(Duration::from_millis(5 + rng.below(120)));
        child.kill().expect("SIGKILL the writer");
        let status = child.wait().expect("reap the writer");
        assert!(
            !status.success(),
            "round {round}: the writer was killed, not done"
        );
        reader.join().expect("reader thread");
        let new = std::mem::take(&mut *lines.lock().expect("lines lock"));
        if !new.is_empty() {
            rounds_with_writes += 1;
        }
        acked.extend(new);
        check(&path, &acked, round);
    }
    assert!(
        rounds_with_writes >= KILLS / 2,
        "only {rounds_with_writes} of {KILLS} writers got to write: kills came too early to test anything"
    );
    acked.len()
}

/// Reopens the file and checks the invariants.
fn check(path: &Path, acked: &BTreeSet<String>, round: usize) {
    let store = SqliteStore::open(path).expect("reopen after a kill");
    let (rows, ops) = match store.read(|tx| {
        let rows = match tx.table_schema("Item")? {
            Some(_) => tx.query("Item", &Query::new())?,
            None => Vec::new(),
        };
        Ok((rows, tx.ops(None)?))
    }) {
        Ok(v) => v,
        Err(e) => panic!("round {round}: reading after a kill failed: {e}"),
    };
    let row_ids: Vec<String> = rows
        .iter()
        .map(|r| {
            let id = r.id().expect("rows have ids").to_owned();
            assert_eq!(
                r.get("text"),
                Some(&Value::Text(id.clone())),
                "round {round}"
            );
            id
        })
        .collect();
    let op_ids: Vec<String> = ops.iter().map(|o| o.item_id.clone()).collect();
    // Rows come in id order, ops in queue order: equal lists mean same items, and queue
    // order = id order = write order.
    assert_eq!(row_ids, op_ids, "round {round}: rows and queue disagree");
    assert!(ops.windows(2).all(|w| w[0].seq < w[1].seq), "round {round}");
    assert!(
        ops.iter().all(|o| o.kind == OpKind::Insert),
        "round {round}"
    );
    let expected: Vec<String> = (0..row_ids.len() as u64).map(id).collect();
    assert_eq!(
        row_ids, expected,
        "round {round}: a gap in the written items"
    );
    let present: BTreeSet<&String> = row_ids.iter().collect();
    for a in acked {
        assert!(
            present.contains(a),
            "round {round}: acknowledged {a} was lost"
        );
    }
}

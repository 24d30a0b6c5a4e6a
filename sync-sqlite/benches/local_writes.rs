//! Local write throughput of `SqliteStore` against a bare rusqlite loop doing the same
//! two INSERTs per item, on a temporary file with the same pragmas (WAL,
//! `synchronous=FULL`). The loops, data and targets are in `local_writes/measure.rs`,
//! which the workspace table (`cargo bench --bench all -- local`) runs too.
//!
//! - single: one transaction per item (row upsert + its queue entry), an fsync each;
//! - batched: 10,000 items in one transaction.
//!
//! Run with `cargo bench -p sync-sqlite --bench local_writes`. Each case runs a few
//! times, alternating store and bare, on fresh files; the best run of each counts.
//! A word after `--` runs only the cases whose name contains it (`-- batched`).
//!
//! `-- once store 2000` (or `once bare 2000`) makes one batched run of 2,000 items and
//! nothing else, for a profiler: instructions per item are the difference between two
//! such runs of different sizes, divided by the difference in items, e.g.
//! `valgrind --tool=callgrind target/release/deps/local_writes-* once store 2000`.

#[path = "local_writes/measure.rs"]
mod measure;

use measure::{BATCH, BATCH_RUNS, BATCH_TARGET, SINGLE, SINGLE_RUNS, SINGLE_TARGET};

fn main() {
    // Cargo passes `--bench`; any other word selects cases.
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    if let [once, which, n] = words.as_slice()
        && once == "once"
    {
        let n = n
            .parse()
            .expect("`once store|bare N`: N is a number of items");
        let d = match which.as_str() {
            "store" => measure::store_writes(dir.path(), n, true, 0),
            "bare" => measure::bare_writes(dir.path(), n, true, 0),
            other => panic!("`once store|bare N`: unknown loop `{other}`"),
        };
        println!("{which}: {n} items in one transaction in {d:?}");
        return;
    }
    println!("local_writes: temp file, WAL, synchronous=FULL, best of several runs");
    println!(
        "{:<34} {:>5} {:>14} {:>14} {:>7} {:>7}",
        "case", "runs", "store w/s", "bare w/s", "ratio", "target"
    );
    let cases = [
        ("single (1 item per transaction)", SINGLE, false),
        ("batched (10,000 items in 1 tx)", BATCH, true),
    ];
    for (name, n, batched) in cases {
        if !words.is_empty() && !words.iter().any(|w| name.contains(w.as_str())) {
            continue;
        }
        let (runs, target) = if batched {
            (BATCH_RUNS, BATCH_TARGET)
        } else {
            (SINGLE_RUNS, SINGLE_TARGET)
        };
        let path = dir.path();
        let best = measure::best_of(
            runs,
            &mut [
                &mut |run| measure::store_writes(path, n, batched, run),
                &mut |run| measure::bare_writes(path, n, batched, run),
            ],
        );
        let (store, bare) = (measure::rate(n, best[0]), measure::rate(n, best[1]));
        let ratio = store / bare;
        println!(
            "{name:<34} {runs:>5} {store:>14.0} {bare:>14.0} {:>6.0}% {:>6.0}%{}",
            ratio * 100.0,
            target * 100.0,
            if ratio >= target { "" } else { "  MISSED" }
        );
    }
}

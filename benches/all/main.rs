//! tablesync's benchmarks, each figure next to a ceiling measured in the same run.
//!
//! `cargo bench --bench all` runs every benchmark; each prints its own small table,
//! and the run ends with one combined table. Words after `--` pick benchmarks by name
//! (`cargo bench --bench all -- push pull`). No figure is asserted: machines are noisy,
//! so every figure is a ratio to a ceiling measured on the same machine a moment
//! before or after it.
//!
//! | benchmark | tablesync | ceiling |
//! |---|---|---|
//! | `local` | `SqliteStore` transactions; `SyncTable::insert` | bare rusqlite, same SQL shape and pragmas |
//! | `push` | `SyncContext::push` over `HttpTransport`, to a server process | bare reqwest PATCH loop, same requests, same kind of server |
//! | `pull` | `SyncTable::pull` into a store file (child process) | bare reqwest GETs + rusqlite inserts (child process) |
//! | `load` | 32 clients on the tablesync server (SQLite, PostgreSQL) | the same clients on a trivial in-memory axum server |
//! | `reference` | the tablesync server | Microsoft's `azure-mobile-apps` Node server, same client |
//! | `live` | insert on one device → change notification on 1, 10, 100 others (feed, polling) | a bare loopback GET |
//!
//! Environment:
//! - `TABLESYNC_BENCH_SCALE` multiplies every item count (default 1; `0.1` for a
//!   quick try);
//! - `TABLESYNC_BENCH_LOAD_SECS`: seconds per load case (default 20);
//! - `TABLESYNC_BENCH_SERVER_DIR`: where the servers keep their SQLite files
//!   (default `/dev/shm` when it exists, so that the server's fsyncs do not hide the
//!   client's costs; client stores always live in a temp dir on disk);
//! - `TABLESYNC_TEST_POSTGRES`: a PostgreSQL URL for the load benchmark;
//! - `TABLESYNC_BENCH_AZURE_DIR`: where `npm install` puts the reference server
//!   (default `target/bench-azure`).

mod child;
mod link;
mod live;
mod load;
mod local_writes;
mod pull;
mod push;
mod reference;
mod report;
mod rows;
mod servers;
mod settings;

use report::Report;
use settings::Settings;

fn main() {
    // A re-executed copy of this binary is a pull client whose memory is measured, or
    // the push benchmark's server.
    if child::is_child() {
        child::run();
        return;
    }
    let settings = Settings::from_env();
    println!("{}", settings.describe());
    let mut all = Report::new("all benchmarks");
    type Bench = fn(&Settings) -> Report;
    let benches: [(&str, Bench); 6] = [
        ("local", local_writes::run),
        ("push", push::run),
        ("pull", pull::run),
        ("load", load::run),
        ("reference", reference::run),
        ("live", live::run),
    ];
    for (name, bench) in benches {
        if !settings.selected(name) {
            continue;
        }
        let report = bench(&settings);
        report.print();
        all.extend(report);
    }
    println!();
    println!("load average at the end: {}", settings::load_average());
    all.print();
}

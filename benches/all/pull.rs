//! Initial pull: N records (five columns, about 200 bytes of data each) from an
//! in-process tablesync server (SQLite in memory, seeded through its backend) into an
//! empty SQLite file on disk.
//!
//! - **default options**: `SyncTable::pull` with `SyncOptions::default()` and
//!   `HttpTransport::new`, which streams from our server (pages of 2000 rows stored);
//!   the ceiling is a bare reqwest client reading the same streamed answers (typed
//!   serde rows) and a bare rusqlite thread inserting each 2000 rows and the watermark
//!   in one transaction while the next are read.
//! - **paged**, the table protocol alone (`extensions(false)`), at the engine's
//!   default page (100) and at the server's largest (1000); the ceiling is the same page
//!   GETs with each page written by bare rusqlite in one transaction.
//!
//! Each client runs as a child process (see `child`) so that its peak resident memory
//! is its own.

use crate::child::{self, Measured};
use crate::report::{Report, Row};
use crate::rows::{PULL_TABLE, id, pull_columns};
use crate::servers::Server;
use crate::settings::Settings;

const MEMORY_LIMIT_MIB: f64 = 64.0;
/// The issue's floor for a streamed initial pull with default options.
const STREAMED_FLOOR: f64 = 200_000.0;

pub fn run(settings: &Settings) -> Report {
    let n = settings.n(100_000);
    let mut report = Report::new(&format!(
        "initial pull: {n} records into an empty store file on disk; clients are child processes"
    ));
    let server = Server::sqlite(None);
    server.seed(PULL_TABLE, n, |i| id("r", i), pull_columns);
    let dir = tempfile::tempdir().expect("temp dir");
    // Page 0: default options (streamed); otherwise paged at that page size.
    for page in [0u32, 100, 1000] {
        let measure = |kind: &str| -> Result<Measured, String> {
            let db = dir.path().join(format!("{kind}-{page}.db"));
            let m = child::spawn(kind, &server.url, &db, page)?;
            if m.rows != n {
                return Err(format!("the {kind} child stored {} rows of {n}", m.rows));
            }
            Ok(m)
        };
        let (case, bare) = match page {
            0 => ("default options, streamed".to_owned(), "pull-bare-stream"),
            p => (format!("paged, page {p}"), "pull-bare"),
        };
        match (measure("pull-engine"), measure(bare)) {
            (Ok(ours), Ok(ceiling)) => {
                let rate = |m: &Measured| n as f64 / m.elapsed.as_secs_f64();
                let target = if page == 0 { 0.8 } else { 0.7 };
                report.row(Row::rate(
                    "pull",
                    &format!("{case}: rows/s"),
                    rate(&ours),
                    rate(&ceiling),
                    "rows/s",
                    Some(target),
                ));
                if page == 0 {
                    report.row(Row::at_least(
                        "pull",
                        &format!("{case}: rows/s vs PowerSync x7"),
                        rate(&ours),
                        "rows/s",
                        STREAMED_FLOOR,
                    ));
                }
                report.row(Row::memory(
                    "pull",
                    &format!("{case}: client peak RSS"),
                    ours.peak_kib,
                    ceiling.peak_kib,
                    MEMORY_LIMIT_MIB,
                ));
            }
            (Err(e), _) | (_, Err(e)) => report.note(format!("pull, {case}: failed — {e}")),
        }
    }
    server.stop();
    report.note("pull: streamed ceiling = bare reqwest reading the same streamed answers + a bare rusqlite thread, one tx per 2000 rows with its watermark; paged ceiling = bare reqwest GETs of the same pages + bare rusqlite, one tx per page; RSS = the child's VmHWM, ceiling column = the bare child's");
    report
}

//! Initial pull: N records (five columns, about 200 bytes of data each) from an
//! in-process tablesync server (SQLite in memory, seeded through its backend) into an
//! empty SQLite file on disk, at the engine's default page size (100) and at the
//! server's largest (1000).
//!
//! Each client runs as a child process (see `child`) so that its peak resident memory
//! is its own. The ceiling is the same page GETs from a bare reqwest client with each
//! page written by bare rusqlite in one transaction, against the same server in the
//! same run.

use crate::child::{self, Measured};
use crate::report::{Report, Row};
use crate::rows::{PULL_TABLE, id, pull_columns};
use crate::servers::Server;
use crate::settings::Settings;

const MEMORY_LIMIT_MIB: f64 = 64.0;

pub fn run(settings: &Settings) -> Report {
    let n = settings.n(100_000);
    let mut report = Report::new(&format!(
        "initial pull: {n} records into an empty store file on disk; clients are child processes"
    ));
    let server = Server::sqlite(None);
    server.seed(PULL_TABLE, n, |i| id("r", i), pull_columns);
    let dir = tempfile::tempdir().expect("temp dir");
    for page in [100u32, 1000] {
        let measure = |kind: &str| -> Result<Measured, String> {
            let db = dir.path().join(format!("{kind}-{page}.db"));
            let m = child::spawn(kind, &server.url, &db, page)?;
            if m.rows != n {
                return Err(format!("the {kind} child stored {} rows of {n}", m.rows));
            }
            Ok(m)
        };
        match (measure("pull-engine"), measure("pull-bare")) {
            (Ok(ours), Ok(bare)) => {
                let rate = |m: &Measured| n as f64 / m.elapsed.as_secs_f64();
                report.row(Row::rate(
                    "pull",
                    &format!("page {page}: rows/s"),
                    rate(&ours),
                    rate(&bare),
                    "rows/s",
                    Some(0.7),
                ));
                report.row(Row::memory(
                    "pull",
                    &format!("page {page}: client peak RSS"),
                    ours.peak_kib,
                    bare.peak_kib,
                    MEMORY_LIMIT_MIB,
                ));
            }
            (Err(e), _) | (_, Err(e)) => report.note(format!("pull, page {page}: failed — {e}")),
        }
    }
    server.stop();
    report.note("pull: ceiling = bare reqwest GETs of the same pages + bare rusqlite, one tx per page with its watermark; RSS = the child's VmHWM, ceiling column = the bare child's");
    report
}

//! The pulling clients, each run as a child process (this binary, re-executed with
//! `TABLESYNC_BENCH_CHILD` set) so that its peak resident memory is its own: it reads
//! `VmHWM` from `/proc/self/status` when done and prints one `RESULT` line.
//!
//! - `pull-engine`: `SyncTable::pull` into a fresh `SqliteStore` file;
//! - `pull-bare`: the same page GETs with a bare reqwest client (typed serde rows), each
//!   page and its watermark written with bare rusqlite in one transaction, the same
//!   pragmas as the store (WAL, `synchronous=FULL`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior, params};
use serde::Deserialize;
use sync_http::HttpTransport;
use sync_http::wire::odata::page_query;
use tablesync::SqliteStore;
use tablesync::engine::{SyncContext, SyncOptions};
use tablesync::store::Watermark;
use tablesync::transport::PullRequest;

use crate::rows::{PULL_TABLE, PullRow};

pub const CHILD: &str = "TABLESYNC_BENCH_CHILD";

pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// What a child measured.
pub struct Measured {
    pub elapsed: Duration,
    pub rows: usize,
    pub peak_kib: u64,
}

/// Runs a pull client as a child process and reads its measurements.
pub fn spawn(kind: &str, url: &str, db: &Path, page: u32) -> Result<Measured, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .env(CHILD, kind)
        .env("TABLESYNC_BENCH_URL", url)
        .env("TABLESYNC_BENCH_DB", db)
        .env("TABLESYNC_BENCH_PAGE", page.to_string())
        .output()
        .map_err(|e| format!("starting the {kind} child: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| {
            format!(
                "the {kind} child ({}) printed no result: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
    let field = |name: &str| -> Result<f64, String> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("`{name}` missing in `{line}`"))
    };
    Ok(Measured {
        elapsed: Duration::from_secs_f64(field("secs")?),
        rows: field("rows")? as usize,
        peak_kib: field("peak_kib")? as u64,
    })
}

pub fn run() {
    let kind = std::env::var(CHILD).unwrap_or_default();
    if kind == crate::push::SERVER_CHILD {
        crate::push::serve_child();
        return;
    }
    let url = std::env::var("TABLESYNC_BENCH_URL").expect("TABLESYNC_BENCH_URL");
    let db = PathBuf::from(std::env::var_os("TABLESYNC_BENCH_DB").expect("TABLESYNC_BENCH_DB"));
    let page: u32 = std::env::var("TABLESYNC_BENCH_PAGE")
        .ok()
        .and_then(|p| p.parse().ok())
        .expect("TABLESYNC_BENCH_PAGE");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (elapsed, rows) = match kind.as_str() {
        "pull-engine" => rt.block_on(engine(&url, &db, page)),
        "pull-bare" => rt.block_on(bare(&url, &db, page)),
        "pull-bare-stream" => rt.block_on(bare_stream(&url, &db)),
        other => panic!("unknown child `{other}`"),
    };
    println!(
        "RESULT secs={} rows={rows} peak_kib={}",
        elapsed.as_secs_f64(),
        peak_kib()
    );
}

/// `VmHWM`: this process's peak resident set.
fn peak_kib() -> u64 {
    status_kib("self", "VmHWM").unwrap_or(0)
}

/// A memory figure (`VmHWM`, `VmRSS`, ...) of a process (`self` or a pid), in KiB,
/// from its `/proc/<process>/status`.
pub fn status_kib(process: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn engine(url: &str, db: &Path, page: u32) -> (Duration, usize) {
    let store = SqliteStore::open(db).expect("client store");
    // Page 0: what a user gets without tuning (streamed from our server); otherwise the
    // table protocol alone at that page size.
    let (options, transport) = if page == 0 {
        (SyncOptions::default(), HttpTransport::new(url))
    } else {
        let options = SyncOptions {
            page_size: page,
            ..SyncOptions::default()
        };
        (
            options,
            HttpTransport::builder(url).extensions(false).build(),
        )
    };
    let ctx = SyncContext::with_options(store, transport.expect("transport"), options);
    let table = ctx.table::<PullRow>().await.expect("table");
    let start = Instant::now();
    let report = table.pull("all", None).await.expect("pull");
    let elapsed = start.elapsed();
    let stored = table.count(None).await.expect("count") as usize;
    assert_eq!(stored, report.received, "rows stored");
    (elapsed, stored)
}

/// A pulled row as a hand-written client would declare it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRow {
    id: String,
    title: String,
    body: String,
    count: i64,
    price: f64,
    done: bool,
    created_at: String,
    updated_at: String,
    version: String,
    deleted: bool,
}

const BARE_SCHEMA: &str = "
    CREATE TABLE BenchPull (id TEXT NOT NULL PRIMARY KEY, version TEXT, updatedAt TEXT,
        createdAt TEXT, deleted INTEGER, title TEXT, body TEXT, count INTEGER, price REAL,
        done INTEGER);
    CREATE TABLE watermark (query TEXT NOT NULL PRIMARY KEY, updated_at TEXT, id TEXT);";
const BARE_ROW: &str = "INSERT OR REPLACE INTO BenchPull (id, version, updatedAt, createdAt, deleted, title, body, count, price, done) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const BARE_MARK: &str =
    "INSERT OR REPLACE INTO watermark (query, updated_at, id) VALUES ('all', ?1, ?2)";

/// The bare client's store: the same pragmas as `SqliteStore` (WAL, `synchronous=FULL`).
fn bare_store(db: &Path) -> Connection {
    let conn = Connection::open(db).expect("open");
    let _: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("wal");
    conn.execute_batch("PRAGMA synchronous=FULL").expect("sync");
    conn.execute_batch(BARE_SCHEMA).expect("schema");
    conn
}

/// Rows and their watermark in one transaction.
fn bare_insert(conn: &mut Connection, rows: &[WireRow]) {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .expect("begin");
    {
        let mut insert = tx.prepare_cached(BARE_ROW).expect("insert");
        for r in rows {
            insert
                .execute(params![
                    r.id,
                    r.version,
                    r.updated_at,
                    r.created_at,
                    r.deleted,
                    r.title,
                    r.body,
                    r.count,
                    r.price,
                    r.done
                ])
                .expect("a row");
        }
        if let Some(last) = rows.last() {
            tx.prepare_cached(BARE_MARK)
                .expect("mark")
                .execute(params![last.updated_at, last.id])
                .expect("the watermark");
        }
    }
    tx.commit().expect("commit");
}

/// The streamed answers read by hand: lines split as they arrive, each 2000 rows
/// handed to a writer thread (one transaction each) while the next are read.
async fn bare_stream(url: &str, db: &Path) -> (Duration, usize) {
    const ROWS: usize = 2000;
    let mut conn = bare_store(db);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<WireRow>>(1);
    let writer = std::thread::spawn(move || {
        for rows in rx {
            bare_insert(&mut conn, &rows);
        }
        conn
    });
    let client = reqwest::Client::new();
    let base = format!("{url}/tablesync/v1/stream/{PULL_TABLE}");
    let mut after: Option<Watermark> = None;
    let start = Instant::now();
    loop {
        let request = PullRequest {
            after: after.clone(),
            page_size: 1,
            include_deleted: true,
            filter: None,
        };
        let query: Vec<(String, String)> = page_query(&request)
            .expect("a page query")
            .into_iter()
            .filter(|(k, _)| k != "$top")
            .collect();
        let mut answer = client
            .get(&base)
            .query(&query)
            .header("ZUMO-API-VERSION", "2.0.0")
            .send()
            .await
            .expect("a stream");
        assert_eq!(answer.status(), 200);
        let (mut buf, mut rows, mut more) = (Vec::new(), Vec::with_capacity(ROWS), None);
        while let Some(chunk) = answer.chunk().await.expect("a stream chunk") {
            buf.extend_from_slice(&chunk);
            let mut at = 0;
            while let Some(len) = buf[at..].iter().position(|&b| b == b'\n') {
                let line = &buf[at..at + len];
                at += len + 1;
                if line.starts_with(b"{\"@end\"") {
                    more = Some(line.windows(4).any(|w| w == b"true"));
                    continue;
                }
                let row: WireRow = serde_json::from_slice(line).expect("a row");
                after = Some(Watermark {
                    updated_at: row.updated_at.clone(),
                    id: row.id.clone(),
                });
                rows.push(row);
                if rows.len() == ROWS {
                    tx.send(std::mem::replace(&mut rows, Vec::with_capacity(ROWS)))
                        .expect("the writer");
                }
            }
            buf.drain(..at);
        }
        if !rows.is_empty() {
            tx.send(rows).expect("the writer");
        }
        if more != Some(true) {
            break;
        }
    }
    drop(tx);
    let conn = tokio::task::spawn_blocking(move || writer.join().expect("the writer"))
        .await
        .expect("join");
    let elapsed = start.elapsed();
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM BenchPull", [], |r| r.get(0))
        .expect("count");
    (elapsed, stored as usize)
}

async fn bare(url: &str, db: &Path, page: u32) -> (Duration, usize) {
    let mut conn = bare_store(db);
    let client = reqwest::Client::new();
    let base = format!("{url}/tables/{PULL_TABLE}");
    let mut after: Option<Watermark> = None;
    let start = Instant::now();
    loop {
        let request = PullRequest {
            after: after.clone(),
            page_size: page,
            include_deleted: true,
            filter: None,
        };
        let query = page_query(&request).expect("a page query");
        let answer = client
            .get(&base)
            .query(&query)
            .header("ZUMO-API-VERSION", "2.0.0")
            .header("Accept", "application/json")
            .send()
            .await
            .expect("a page");
        assert_eq!(answer.status(), 200);
        let bytes = answer.bytes().await.expect("a page body");
        let rows: Vec<WireRow> = serde_json::from_slice(&bytes).expect("page rows");
        let Some(last) = rows.last() else { break };
        after = Some(Watermark {
            updated_at: last.updated_at.clone(),
            id: last.id.clone(),
        });
        // SQLite blocks: off the runtime's workers, as a careful app would do it.
        conn = tokio::task::spawn_blocking(move || {
            bare_insert(&mut conn, &rows);
            let full = rows.len() == page as usize;
            (conn, full)
        })
        .await
        .map(|(conn, full)| {
            if !full {
                // A short page is the last one; same stop rule as the engine's.
                after = None;
            }
            conn
        })
        .expect("a page transaction");
        if after.is_none() {
            break;
        }
    }
    let elapsed = start.elapsed();
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM BenchPull", [], |r| r.get(0))
        .expect("count");
    (elapsed, stored as usize)
}

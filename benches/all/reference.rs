//! The same client against two servers: the tablesync server and Microsoft's reference
//! server (`azure-mobile-apps` 4.0.2 with its SQLite provider, `benches/azure/server.js`
//! run by Node as a child process). Both keep their SQLite file in the server dir and
//! are seeded with the same rows by plain HTTP inserts (not timed); then the engine,
//! through the same `HttpTransport`, pulls them all into a fresh store file (page 100,
//! the default) and pushes updates of some of them (`max_in_flight` 4, the default).
//!
//! The reference server is installed with `npm install` into `TABLESYNC_BENCH_AZURE_DIR`
//! (default `target/bench-azure`) on first use; when that fails, the run says why in
//! one line and goes on.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json};
use sync_http::HttpTransport;
use tablesync::SqliteStore;
use tablesync::engine::{PushStatus, SyncContext};
use tablesync::store::{OpKind, Store, StoreTxExt};

use crate::report::{Report, Row};
use crate::rows::{PULL_TABLE, PullRow, id, pull_columns};
use crate::servers::{Server, runtime};
use crate::settings::Settings;

fn ref_id(i: usize) -> String {
    id("z", i)
}

/// The reference server, installed if needed, started on an ephemeral port.
struct Reference {
    child: Child,
    url: String,
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn install(dir: &Path) -> Result<(), String> {
    let ready = |m: &str| {
        dir.join("node_modules")
            .join(m)
            .join("package.json")
            .exists()
    };
    if ready("azure-mobile-apps") && ready("sqlite3") && ready("express") {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/azure/package.json");
    std::fs::copy(&manifest, dir.join("package.json"))
        .map_err(|e| format!("copying {}: {e}", manifest.display()))?;
    println!(
        "reference: npm install into {} (once; sqlite3 may compile from source)…",
        dir.display()
    );
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("npm cannot be run: {e}"))?;
    let log = dir.join("npm-install.log");
    let _ = std::fs::write(&log, [out.stdout.as_slice(), &out.stderr].concat());
    if !out.status.success() || !ready("sqlite3") {
        let tail: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.contains("ERR"))
            .take(3)
            .map(str::to_owned)
            .collect();
        return Err(format!(
            "npm install failed ({}): {} (log: {})",
            out.status,
            tail.join(" | "),
            log.display()
        ));
    }
    Ok(())
}

fn start(dir: &Path, db: &Path) -> Result<Reference, String> {
    install(dir)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/azure/server.js");
    let mut child = Command::new("node")
        .arg(&script)
        .env("NODE_PATH", dir.join("node_modules"))
        .env("DB_FILE", db)
        .env("TABLE", PULL_TABLE)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("node cannot be run: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("LISTENING ") {
                let _ = tx.send(port.trim().to_owned());
            }
        }
    });
    let mut reference = Reference {
        child,
        url: String::new(),
    };
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(port) => {
            reference.url = format!("http://127.0.0.1:{port}");
            Ok(reference)
        }
        Err(_) => {
            let _ = reference.child.kill();
            let mut err = String::new();
            if let Some(mut e) = reference.child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            Err(format!(
                "the server did not start within 30 s: {}",
                err.lines().take(3).collect::<Vec<_>>().join(" | ")
            ))
        }
    }
}

/// Inserts the rows by plain HTTP POSTs, four in flight after the first. The first
/// goes alone: the reference server adds a new column with a racy `ALTER TABLE`, and
/// concurrent first inserts fail there with "duplicate column name".
fn seed(url: &str, n: usize) -> Result<(), String> {
    let rt = runtime(2);
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let mut lanes = tokio::task::JoinSet::new();
        for lane in 0..4 {
            if lane == 1 {
                // Let the first row (and its columns) land before the others start.
                while next.load(Ordering::Relaxed) < 2 {
                    match lanes.try_join_next() {
                        Some(Ok(Err(e))) => return Err(e),
                        Some(Err(e)) => return Err(e.to_string()),
                        _ => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            }
            let (client, next, url) = (client.clone(), Arc::clone(&next), url.to_owned());
            lanes.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok(());
                    }
                    let mut body = Map::new();
                    body.insert("id".into(), Json::String(ref_id(i)));
                    body.extend(pull_columns(i));
                    let answer = client
                        .post(format!("{url}/tables/{PULL_TABLE}"))
                        .header("ZUMO-API-VERSION", "2.0.0")
                        .json(&body)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    if answer.status() != 201 {
                        return Err(format!(
                            "seeding row {i}: {} {}",
                            answer.status(),
                            answer.text().await.unwrap_or_default()
                        ));
                    }
                }
            });
        }
        while let Some(lane) = lanes.join_next().await {
            lane.map_err(|e| e.to_string())??;
        }
        Ok(())
    })
}

/// Pull everything, then push `pushes` updates; the two durations.
fn workload(url: &str, db: &Path, n: usize, pushes: usize) -> Result<(Duration, Duration), String> {
    let rt = runtime(2);
    let store = SqliteStore::open(db).map_err(|e| e.to_string())?;
    let ctx = SyncContext::new(store, HttpTransport::new(url).map_err(|e| e.to_string())?);
    rt.block_on(async {
        let table = ctx.table::<PullRow>().await.map_err(|e| e.to_string())?;
        let start = Instant::now();
        let pulled = table.pull("all", None).await.map_err(|e| e.to_string())?;
        let pull = start.elapsed();
        if pulled.received != n {
            return Err(format!("pulled {} rows of {n}", pulled.received));
        }
        ctx.store()
            .transaction(|tx| {
                for i in 0..pushes {
                    let id = ref_id(i);
                    let mut row = tx.get(PULL_TABLE, &id)?.expect("a pulled row");
                    row.set("title", format!("Record {i} changed offline"));
                    row.set("count", i as i64 + 7);
                    let version = row.version().map(str::to_owned);
                    tx.upsert(PULL_TABLE, &row)?;
                    tx.enqueue(PULL_TABLE, &id, OpKind::Update, version, None)?;
                }
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        let start = Instant::now();
        let pushed = ctx.push().await.map_err(|e| e.to_string())?;
        let push = start.elapsed();
        if (pushed.status.clone(), pushed.pushed) != (PushStatus::Complete, pushes) {
            return Err(format!("push: {pushed:?}"));
        }
        Ok((pull, push))
    })
}

fn compare(
    settings: &Settings,
    n: usize,
    pushes: usize,
) -> Result<[(Duration, Duration); 2], String> {
    let server_dir = settings.server_tempdir();
    let client_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let reference = start(&settings.azure_dir, &server_dir.path().join("azure.db"))
        .map_err(|e| format!("reference server: {e}"))?;
    seed(&reference.url, n).map_err(|e| format!("seeding the reference server: {e}"))?;
    let theirs = workload(
        &reference.url,
        &client_dir.path().join("azure-client.db"),
        n,
        pushes,
    )
    .map_err(|e| format!("against the reference server: {e}"))?;
    drop(reference);
    let ours_server = Server::sqlite(Some(&server_dir.path().join("tablesync.db")));
    seed(&ours_server.url, n).map_err(|e| format!("seeding the tablesync server: {e}"))?;
    let ours = workload(
        &ours_server.url,
        &client_dir.path().join("ts-client.db"),
        n,
        pushes,
    )
    .map_err(|e| format!("against the tablesync server: {e}"))?;
    ours_server.stop();
    Ok([ours, theirs])
}

pub fn run(settings: &Settings) -> Report {
    let n = settings.n(10_000);
    let pushes = settings.n(2_000).min(n);
    let mut report = Report::new(&format!(
        "reference server: the same HttpTransport client pulls {n} rows and pushes {pushes} updates"
    ));
    match compare(settings, n, pushes) {
        Ok([(ours_pull, ours_push), (ref_pull, ref_push)]) => {
            let rate = |k: usize, d: Duration| k as f64 / d.as_secs_f64();
            report.row(Row::rate(
                "reference",
                "pull (page 100): tablesync vs azure srv",
                rate(n, ours_pull),
                rate(n, ref_pull),
                "rows/s",
                None,
            ));
            report.row(Row::rate(
                "reference",
                "push (in flight 4): tablesync vs azure srv",
                rate(pushes, ours_push),
                rate(pushes, ref_push),
                "op/s",
                None,
            ));
            report.note("reference: the ceiling column is Microsoft's azure-mobile-apps 4.0.2 (Node, SQLite provider) driven by the same client; ratio > 100% = the tablesync server is faster");
        }
        Err(e) => report.note(format!("reference server: not compared — {e}")),
    }
    report
}

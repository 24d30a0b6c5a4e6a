//! Push: N pending updates from one client (a `SqliteStore` file on disk,
//! `HttpTransport`) to a fresh tablesync server on loopback, at `max_in_flight` 1 and 4.
//! The server runs in a process of its own (this binary, re-executed as the
//! `push-server` child; SQLite file in the server dir), as it does in any deployment:
//! its threads, allocator and CPU time are not the client's.
//!
//! Two ceilings, each a bare reqwest client with no local state against an identically
//! seeded fresh server: the same N conditional PATCH requests (`If-Match`,
//! `ZUMO-API-VERSION: 2.0.0`, the same JSON bodies) with the same concurrency, which
//! the batched push must beat 4 times over; and the same updates posted as the
//! engine's batches, of which it must reach 70%. The client's setup (pulling the rows, queueing the
//! updates in one store transaction) is not timed. Each case runs three interleaved
//! rounds per side and keeps each side's best.
//!
//! Two diagnostic rows tell where the engine's time goes: the same push with the
//! client store in the server dir (tmpfs by default, where fsync costs nothing), and
//! with a `MemoryStore` (the engine's own work, without SQLite's).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sync_http::HttpTransport;
use tablesync::SqliteStore;
use tablesync::engine::{PushStatus, SyncContext, SyncOptions};
use tablesync::store::{MemoryStore, OpKind, Store, StoreTxExt};

use crate::child;
use crate::link::Link;
use crate::report::{Report, Row};
use crate::rows::{PUSH_TABLE, PushRow, id, push_seed_columns, push_update};
use crate::servers::{Server, runtime};
use crate::settings::Settings;

fn push_id(i: usize) -> String {
    id("p", i)
}

fn seeded_server(dir: &tempfile::TempDir, name: &str, n: usize) -> ServerProcess {
    ServerProcess::start(&dir.path().join(format!("{name}.db")), n)
}

/// The child kind that serves the pushed table.
pub const SERVER_CHILD: &str = "push-server";

/// A seeded tablesync server in a child process, stopped (and waited for) by `stop`.
pub struct ServerProcess {
    child: Child,
    pub url: String,
}

impl ServerProcess {
    /// Starts the child over a fresh SQLite file at `db`, seeded with `n` rows, and
    /// waits for the URL it prints once it answers.
    pub fn start(db: &Path, n: usize) -> ServerProcess {
        let exe = std::env::current_exe().expect("this binary's path");
        let mut child = Command::new(exe)
            .env(child::CHILD, SERVER_CHILD)
            .env("TABLESYNC_BENCH_DB", db)
            .env("TABLESYNC_BENCH_N", n.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the server child");
        let stdout = child.stdout.take().expect("the child's stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server child's URL");
        let Some(url) = line.trim().strip_prefix("URL ") else {
            let _ = child.kill();
            panic!("the server child printed `{}`, not its URL", line.trim());
        };
        ServerProcess {
            url: url.to_owned(),
            child,
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes the child's stdin, its signal to shut down, and waits for it.
    pub fn stop(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().expect("waiting for the server child");
        assert!(status.success(), "the server child ended with {status}");
    }
}

/// The `push-server` child: a server over `TABLESYNC_BENCH_DB` seeded with
/// `TABLESYNC_BENCH_N` rows, printing `URL <url>` once it answers and stopping when its
/// stdin closes.
pub fn serve_child() {
    let db = std::env::var_os("TABLESYNC_BENCH_DB").expect("TABLESYNC_BENCH_DB");
    let n: usize = std::env::var("TABLESYNC_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .expect("TABLESYNC_BENCH_N");
    let server = Server::sqlite(Some(Path::new(&db)));
    server.seed(PUSH_TABLE, n, push_id, push_seed_columns);
    println!("URL {}", server.url);
    std::io::stdout().flush().expect("the URL line");
    // Until the parent closes our stdin (or exits).
    std::io::copy(&mut std::io::stdin(), &mut std::io::sink()).expect("reading stdin");
    server.stop();
}

/// The engine: pull the rows, queue an update of each, then time the push.
pub fn engine(url: &str, client_db: &std::path::Path, n: usize, in_flight: usize) -> Duration {
    let store = SqliteStore::open(client_db).expect("client store");
    engine_with(url, store, n, in_flight)
}

/// [`engine`] over any store: with a `MemoryStore`, what the engine costs without
/// SQLite's (a diagnostic).
fn engine_with<S: Store>(url: &str, store: S, n: usize, in_flight: usize) -> Duration {
    let rt = runtime(2);
    let options = SyncOptions {
        max_in_flight: in_flight,
        page_size: 1000,
        ..SyncOptions::default()
    };
    let ctx =
        SyncContext::with_options(store, HttpTransport::new(url).expect("transport"), options);
    rt.block_on(async {
        let table = ctx.table::<PushRow>().await.expect("table");
        let pulled = table.pull("all", None).await.expect("setup pull");
        assert_eq!(pulled.received, n, "the setup pull");
        ctx.store()
            .transaction(|tx| {
                for i in 0..n {
                    let id = push_id(i);
                    let mut row = tx.get(PUSH_TABLE, &id)?.expect("a pulled row");
                    let (text, number) = push_update(i);
                    row.set("text", text);
                    row.set("n", number);
                    let version = row.version().map(str::to_owned);
                    tx.upsert(PUSH_TABLE, &row)?;
                    tx.enqueue(PUSH_TABLE, &id, OpKind::Update, version, None)?;
                }
                Ok(())
            })
            .expect("queue the updates");
        let start = Instant::now();
        let report = ctx.push().await.expect("push");
        let elapsed = start.elapsed();
        assert_eq!(
            (report.status, report.pushed),
            (PushStatus::Complete, n),
            "the push"
        );
        elapsed
    })
}

/// The ceiling: the same PATCH requests from a bare reqwest client.
pub fn bare(url: &str, n: usize, in_flight: usize) -> Duration {
    let rt = runtime(2);
    let client = reqwest::Client::new();
    let bodies: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        (0..n)
            .map(|i| {
                let id = push_id(i);
                let (text, number) = push_update(i);
                let body = serde_json::json!({ "id": id, "text": text, "n": number });
                let url = format!("{url}/tables/{PUSH_TABLE}/{id}");
                (url, serde_json::to_vec(&body).expect("json"))
            })
            .collect(),
    );
    rt.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut lanes = tokio::task::JoinSet::new();
        for _ in 0..in_flight {
            let (client, bodies, next) = (client.clone(), Arc::clone(&bodies), Arc::clone(&next));
            lanes.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((url, body)) = bodies.get(i) else {
                        break;
                    };
                    let answer = client
                        .patch(url)
                        .header("ZUMO-API-VERSION", "2.0.0")
                        .header("If-Match", "\"MQ==\"")
                        .header("Content-Type", "application/json")
                        .header("Accept", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("a PATCH");
                    let status = answer.status();
                    let bytes = answer.bytes().await.expect("an answer");
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
                }
            });
        }
        while let Some(lane) = lanes.join_next().await {
            lane.expect("a lane");
        }
        start.elapsed()
    })
}

/// The ceiling of a batched push: the same updates posted as the engine's batches
/// (`batch` operations each, `in_flight` at a time) by a bare reqwest client, each
/// answer read and every result checked; no local state.
pub fn bare_batches(url: &str, n: usize, in_flight: usize, batch: usize) -> Duration {
    let rt = runtime(2);
    let client = reqwest::Client::new();
    let target = format!("{url}/tablesync/v1/batch");
    let bodies: Arc<Vec<(usize, Vec<u8>)>> = Arc::new(
        (0..n)
            .collect::<Vec<_>>()
            .chunks(batch.max(1))
            .map(|chunk| {
                let operations: Vec<serde_json::Value> = chunk
                    .iter()
                    .map(|&i| {
                        let id = push_id(i);
                        let (text, number) = push_update(i);
                        serde_json::json!({
                            "key": format!("bare-{i}"), "table": PUSH_TABLE, "method": "update",
                            "id": id, "version": "MQ==",
                            "item": { "id": id, "text": text, "n": number },
                        })
                    })
                    .collect();
                let body = serde_json::json!({ "operations": operations });
                (chunk.len(), serde_json::to_vec(&body).expect("json"))
            })
            .collect(),
    );
    rt.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut lanes = tokio::task::JoinSet::new();
        for _ in 0..in_flight {
            let (client, bodies, next, target) = (
                client.clone(),
                Arc::clone(&bodies),
                Arc::clone(&next),
                target.clone(),
            );
            lanes.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((ops, body)) = bodies.get(i) else {
                        break;
                    };
                    let answer = client
                        .post(&target)
                        .header("ZUMO-API-VERSION", "2.0.0")
                        .header("Content-Type", "application/json")
                        .header("Accept", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("a batch");
                    assert_eq!(answer.status(), 200);
                    let bytes = answer.bytes().await.expect("an answer");
                    let answer: serde_json::Value =
                        serde_json::from_slice(&bytes).expect("a batch answer");
                    let results = answer["results"].as_array().expect("results");
                    assert_eq!(results.len(), *ops);
                    assert!(results.iter().all(|r| r["status"] == 200), "{answer}");
                }
            });
        }
        while let Some(lane) = lanes.join_next().await {
            lane.expect("a lane");
        }
        start.elapsed()
    })
}

/// Rounds per case: the engine and the ceilings take turns, and each side's best
/// round counts, so a busy moment on the machine does not land on one side only.
const ROUNDS: usize = 3;

/// The places in flight of the batched case, and so the engine's batch size there:
/// each place sends its share of the queue, at most `SyncOptions::max_batch`.
const IN_FLIGHT: usize = 4;

pub fn run(settings: &Settings) -> Report {
    let n = settings.n(10_000);
    let mut report = Report::new(&format!(
        "push: {n} updates, client store on disk, server in its own process (SQLite in {}), \
         best of {ROUNDS} interleaved rounds",
        settings.server_dir.display()
    ));
    let client_dir = tempfile::tempdir().expect("temp dir");
    let server_dir = settings.server_tempdir();
    // Where the engine's time goes: the same push with the client store where fsync
    // costs nothing (the server dir, tmpfs by default), against the same ceiling.
    let scratch = settings.server_tempdir();
    let batch = n
        .div_ceil(IN_FLIGHT)
        .clamp(1, SyncOptions::default().max_batch.max(1));
    let (mut ours, mut ours_scratch, mut ours_memory) = (0f64, 0f64, 0f64);
    let (mut loop_1, mut ours_1, mut loop_4, mut batches) = (0f64, 0f64, 0f64, 0f64);
    for round in 0..ROUNDS {
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        let run = |name: &str, f: &dyn Fn(&str) -> Duration| {
            let server = seeded_server(&server_dir, &format!("{name}-{round}"), n);
            let r = rate(f(&server.url));
            server.stop();
            r
        };
        let db = |name: &str, dir: &Path| dir.join(format!("client-{name}-{round}.db"));
        ours = ours.max(run("engine", &|url| {
            engine(url, &db("engine", client_dir.path()), n, IN_FLIGHT)
        }));
        loop_4 = loop_4.max(run("loop-4", &|url| bare(url, n, IN_FLIGHT)));
        batches = batches.max(run("batches", &|url| {
            bare_batches(url, n, IN_FLIGHT, batch)
        }));
        ours_scratch = ours_scratch.max(run("scratch", &|url| {
            engine(url, &db("scratch", scratch.path()), n, IN_FLIGHT)
        }));
        ours_memory = ours_memory.max(run("memory", &|url| {
            engine_with(url, MemoryStore::new(), n, IN_FLIGHT)
        }));
        ours_1 = ours_1.max(run("engine-1", &|url| {
            engine(url, &db("engine-1", client_dir.path()), n, 1)
        }));
        loop_1 = loop_1.max(run("loop-1", &|url| bare(url, n, 1)));
    }
    report.row(Row::rate(
        "push",
        &format!("batched, {IN_FLIGHT} in flight (batches of {batch}) vs bare PATCH loop"),
        ours,
        loop_4,
        "op/s",
        Some(4.0),
    ));
    report.row(Row::rate(
        "push",
        &format!("batched, {IN_FLIGHT} in flight vs bare batches"),
        ours,
        batches,
        "op/s",
        Some(0.7),
    ));
    report.row(Row::rate(
        "push",
        &format!(
            "batched, client store in {} (diagnostic)",
            settings.server_dir.display()
        ),
        ours_scratch,
        batches,
        "op/s",
        None,
    ));
    report.row(Row::rate(
        "push",
        "batched, client store MemoryStore (diagnostic)",
        ours_memory,
        batches,
        "op/s",
        None,
    ));
    report.row(Row::rate(
        "push",
        "1 in flight (one operation a request) vs bare PATCH loop",
        ours_1,
        loop_1,
        "op/s",
        None,
    ));
    slow_link(settings, &mut report);
    report.note("push: ceilings = a bare reqwest client with no local state, against a fresh identically seeded server process: the same PATCH requests (the loop) or the same updates as the engine's batches (POST /tablesync/v1/batch); 4x the loop and 70% of the batches are the targets");
    report
}

/// Each way's delay on the slow link.
const LINK_DELAY: Duration = Duration::from_millis(1);

/// The same push over a link that adds `LINK_DELAY` each way: on loopback the server's
/// CPU bounds parallel push (the bare loop's own speedup shows it); with a round trip
/// to wait for, sending several operations at once pays off as on a real network.
fn slow_link(settings: &Settings, report: &mut Report) {
    let n = settings.n(2_000);
    let server_dir = settings.server_tempdir();
    let client_dir = tempfile::tempdir().expect("temp dir");
    let link_rt = runtime(1);
    let mut rates = Vec::new();
    for in_flight in [1, 4] {
        let (mut ours, mut ceiling) = (0f64, 0f64);
        for round in 0..ROUNDS {
            let rate = |d: Duration| n as f64 / d.as_secs_f64();
            let name = format!("link-{in_flight}-{round}");
            let server = seeded_server(&server_dir, &format!("engine-{name}"), n);
            let link = Link::start(&link_rt, &server.url, LINK_DELAY);
            let db = client_dir.path().join(format!("client-{name}.db"));
            ours = ours.max(rate(engine(&link.url, &db, n, in_flight)));
            drop(link);
            server.stop();
            let server = seeded_server(&server_dir, &format!("bare-{name}"), n);
            let link = Link::start(&link_rt, &server.url, LINK_DELAY);
            ceiling = ceiling.max(rate(bare(&link.url, n, in_flight)));
            drop(link);
            server.stop();
        }
        report.row(Row::rate(
            "push",
            &format!(
                "{n} updates over a link adding {} ms each way, max_in_flight {in_flight}",
                LINK_DELAY.as_millis()
            ),
            ours,
            ceiling,
            "op/s",
            Some(0.8),
        ));
        rates.push((ours, ceiling));
    }
    let (one, four) = (rates[0], rates[1]);
    report.row(Row::speedup(
        "push",
        &format!(
            "speedup over the {} ms link, in flight 4 vs 1",
            LINK_DELAY.as_millis()
        ),
        four.0 / one.0,
        four.1 / one.1,
        3.0,
    ));
}

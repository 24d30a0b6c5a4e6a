//! Server under load: 32 concurrent clients, each with its own connection, update
//! overlapping rows for a fixed time. Each update reads the row (GET), then PATCHes its
//! counter `n` to the value read plus one with `If-Match` on the version read; on 412 it
//! reads again and retries. Afterwards every row's counter must equal the number of
//! successful updates of that row (a lost update would leave it lower) and its version
//! counter one more than that.
//!
//! The servers run in-process on their own runtime: tablesync on SQLite (a file in the
//! server dir) and on PostgreSQL when `TABLESYNC_TEST_POSTGRES` is set. The ceiling is
//! the same workload against a trivial axum server speaking the same two routes with
//! an in-memory compare-and-swap under a mutex (no database, no durability): what this
//! machine's HTTP stack and clients allow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json_, json};
use sync_server::store::{WriteOp, parse_version, version_text};

use crate::report::{Report, Row};
use crate::servers::{Server, runtime};
use crate::settings::Settings;

const CLIENTS: usize = 32;
const ROWS: usize = 16;

struct Outcome {
    elapsed: Duration,
    requests: usize,
    /// Successful updates per row.
    successes: Vec<u64>,
    refused: u64,
    /// Request latencies, microseconds, sorted.
    latencies: Vec<u32>,
    /// Each row's final `(n, version)` as read back.
    finals: Vec<(i64, i64)>,
}

impl Outcome {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(i).map_or(0.0, |us| *us as f64 / 1000.0)
    }

    fn latency(&self) -> String {
        format!(
            "{:.2} / {:.2} ms",
            self.percentile_ms(0.5),
            self.percentile_ms(0.99)
        )
    }

    /// Rows whose counter or version disagrees with the successful writes.
    fn lost_updates(&self) -> Vec<String> {
        self.successes
            .iter()
            .zip(&self.finals)
            .enumerate()
            .filter(|(_, (ok, (n, v)))| *n != **ok as i64 || *v != **ok as i64 + 1)
            .map(|(r, (ok, (n, v)))| format!("row {r}: {ok} writes, n = {n}, version {v}"))
            .collect()
    }
}

fn row_id(r: usize) -> String {
    format!("row-{r:02}")
}

/// A row's counter and version from a GET or 412 body.
fn read_row(body: &[u8]) -> (i64, String) {
    let row: Json_ = serde_json::from_slice(body).expect("a JSON row");
    let n = row["n"].as_i64().expect("a counter `n`");
    let version = row["version"].as_str().expect("a version").to_owned();
    (n, version)
}

/// Runs the workload against `base` (`http://…`) for `duration`.
fn drive(base: &str, table: &str, duration: Duration) -> Outcome {
    let rt = runtime(2);
    rt.block_on(async {
        let start = Instant::now();
        let deadline = start + duration;
        let mut clients = tokio::task::JoinSet::new();
        for c in 0..CLIENTS {
            let urls: Vec<String> = (0..ROWS)
                .map(|r| format!("{base}/tables/{table}/{}", row_id(r)))
                .collect();
            clients.spawn(async move {
                // One connection per client, as separate devices would have.
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .expect("a client");
                let mut rng = fastrand::Rng::with_seed(c as u64);
                let mut successes = vec![0u64; ROWS];
                let (mut refused, mut latencies) = (0u64, Vec::new());
                let mut timed = async |req: reqwest::RequestBuilder| {
                    let t = Instant::now();
                    let answer = req
                        .header("ZUMO-API-VERSION", "2.0.0")
                        .send()
                        .await
                        .expect("an answer");
                    let status = answer.status();
                    let body = answer.bytes().await.expect("a body");
                    latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    (status, body)
                };
                'work: while Instant::now() < deadline {
                    let r = rng.usize(..ROWS);
                    loop {
                        let (status, body) = timed(client.get(&urls[r])).await;
                        assert_eq!(status, StatusCode::OK, "GET {}", urls[r]);
                        let (n, version) = read_row(&body);
                        let patch = client
                            .patch(&urls[r])
                            .header("If-Match", format!("\"{version}\""))
                            .json(&json!({ "n": n + 1 }));
                        let (status, body) = timed(patch).await;
                        match status {
                            StatusCode::OK => {
                                successes[r] += 1;
                                continue 'work;
                            }
                            StatusCode::PRECONDITION_FAILED => {
                                refused += 1;
                                if Instant::now() >= deadline {
                                    break 'work;
                                }
                            }
                            other => panic!(
                                "PATCH {}: {other} {}",
                                urls[r],
                                String::from_utf8_lossy(&body)
                            ),
                        }
                    }
                }
                (successes, refused, latencies)
            });
        }
        let mut outcome = Outcome {
            elapsed: Duration::ZERO,
            requests: 0,
            successes: vec![0; ROWS],
            refused: 0,
            latencies: Vec::new(),
            finals: Vec::new(),
        };
        while let Some(done) = clients.join_next().await {
            let (successes, refused, latencies) = done.expect("a client");
            for (total, s) in outcome.successes.iter_mut().zip(successes) {
                *total += s;
            }
            outcome.refused += refused;
            outcome.latencies.extend(latencies);
        }
        outcome.elapsed = start.elapsed();
        outcome.requests = outcome.latencies.len();
        outcome.latencies.sort_unstable();
        let client = reqwest::Client::new();
        for r in 0..ROWS {
            let answer = client
                .get(format!("{base}/tables/{table}/{}", row_id(r)))
                .header("ZUMO-API-VERSION", "2.0.0")
                .send()
                .await
                .expect("a final read");
            let (n, version) = read_row(&answer.bytes().await.expect("a body"));
            outcome
                .finals
                .push((n, parse_version(&version).unwrap_or(-1)));
        }
        outcome
    })
}

fn seed(server: &Server, table: &str) {
    let rows: Vec<String> = (0..ROWS).map(row_id).collect();
    server.rt.block_on(async {
        for id in &rows {
            let op = WriteOp::Insert {
                data: vec![("n".into(), json!(0))],
            };
            server
                .backend
                .write(table, "", id, op)
                .await
                .expect("seed a row");
        }
    });
}

type Counters = Arc<Mutex<HashMap<String, (i64, i64)>>>;

fn row_answer(status: StatusCode, id: &str, (n, version): (i64, i64)) -> Response {
    let v = version_text(version);
    let body = json!({ "id": id, "n": n, "version": v, "deleted": false });
    (status, [("ETag", format!("\"{v}\""))], Json(body)).into_response()
}

async fn trivial_get(
    State(rows): State<Counters>,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    let row = rows.lock().expect("rows").get(&id).copied();
    match row {
        Some(row) => row_answer(StatusCode::OK, &id, row),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn trivial_patch(
    State(rows): State<Counters>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Json_>,
) -> Response {
    let wanted = headers
        .get("If-Match")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_version(v.trim_matches('"')));
    let mut rows = rows.lock().expect("rows");
    let Some(row) = rows.get_mut(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if wanted.is_some_and(|w| w != row.1) {
        return row_answer(StatusCode::PRECONDITION_FAILED, &id, *row);
    }
    row.0 = body["n"].as_i64().unwrap_or(row.0);
    row.1 += 1;
    row_answer(StatusCode::OK, &id, *row)
}

/// The ceiling: a trivial axum server with the same routes over an in-memory map.
fn trivial(duration: Duration) -> Outcome {
    let rt = runtime(2);
    let rows: Counters = Arc::new(Mutex::new((0..ROWS).map(|r| (row_id(r), (0, 1))).collect()));
    let app = axum::Router::new()
        .route(
            "/tables/{table}/{id}",
            axum::routing::get(trivial_get).patch(trivial_patch),
        )
        .with_state(rows);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let server = rt.spawn(async move { axum::serve(listener, app).await });
    let outcome = drive(&url, "Trivial", duration);
    server.abort();
    outcome
}

fn add(report: &mut Report, backend: &str, ours: &Outcome, ceiling: &Outcome) {
    let writes: u64 = ours.successes.iter().sum();
    report.row(Row::rate(
        "load",
        &format!("{backend}: requests/s"),
        ours.rps(),
        ceiling.rps(),
        "req/s",
        None,
    ));
    report.row(Row::text(
        "load",
        &format!("{backend}: latency p50 / p99"),
        ours.latency(),
        ceiling.latency(),
        String::new(),
    ));
    report.row(Row::text(
        "load",
        &format!("{backend}: writes ok / 412"),
        format!("{writes} / {}", ours.refused),
        format!(
            "{} / {}",
            ceiling.successes.iter().sum::<u64>(),
            ceiling.refused
        ),
        String::new(),
    ));
    let lost = ours.lost_updates();
    report.row(Row::check(
        "load",
        &format!("{backend}: no lost update"),
        format!("{}/{ROWS} rows match", ROWS - lost.len()),
        lost.is_empty(),
    ));
    for l in lost {
        report.note(format!("load, {backend}: LOST UPDATE {l}"));
    }
}

pub fn run(settings: &Settings) -> Report {
    let duration = settings.load_duration;
    let mut report = Report::new(&format!(
        "server under load: {CLIENTS} clients, GET + conditional PATCH on {ROWS} shared rows, {:.0} s per case",
        duration.as_secs_f64()
    ));
    let ceiling = trivial(duration);
    let lost = ceiling.lost_updates();
    if !lost.is_empty() {
        report.note(format!(
            "load: the trivial ceiling server lost updates: {lost:?}"
        ));
    }

    let dir = settings.server_tempdir();
    let server = Server::sqlite(Some(&dir.path().join("load.db")));
    seed(&server, "BenchLoad");
    let ours = drive(&server.url, "BenchLoad", duration);
    server.stop();
    add(&mut report, "SQLite", &ours, &ceiling);

    match &settings.postgres {
        None => report.note("load, PostgreSQL: skipped: TABLESYNC_TEST_POSTGRES is not set"),
        Some(url) => {
            // A schema of its own per run, dropped afterwards: the database is shared
            // with the tests.
            let schema = Schema::create(url);
            match schema
                .as_ref()
                .map_err(String::clone)
                .and_then(|s| Server::postgres(&s.url()))
            {
                Err(e) => report.note(format!("load, PostgreSQL: skipped: cannot connect: {e}")),
                Ok(server) => {
                    seed(&server, "BenchLoad");
                    let ours = drive(&server.url, "BenchLoad", duration);
                    server.stop();
                    add(&mut report, "PostgreSQL", &ours, &ceiling);
                }
            }
            if let Ok(schema) = schema {
                match schema.drop_it() {
                    Ok(()) => report.note(format!(
                        "load, PostgreSQL: ran in schema `{}`, dropped afterwards",
                        schema.name
                    )),
                    Err(e) => report.note(format!(
                        "load, PostgreSQL: could not drop schema `{}`: {e}",
                        schema.name
                    )),
                }
            }
        }
    }
    report.note("load: ceiling = the same 32 clients against a trivial axum server (same routes, in-memory CAS under a mutex, no database), same duration");
    report
}

/// A PostgreSQL schema for one run of the load benchmark.
struct Schema {
    base: String,
    name: String,
}

impl Schema {
    fn create(base: &str) -> Result<Schema, String> {
        // Digits and underscores only: safe to put in DDL.
        let name = format!(
            "tablesync_bench_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() % 1_000_000_000)
        );
        let schema = Schema {
            base: base.to_owned(),
            name,
        };
        schema.execute(&format!("CREATE SCHEMA {}", schema.name))?;
        Ok(schema)
    }

    /// A database URL whose connections use this schema.
    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.base, self.name)
    }

    fn drop_it(&self) -> Result<(), String> {
        self.execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
    }

    fn execute(&self, sql: &str) -> Result<(), String> {
        runtime(1).block_on(async {
            let (client, conn) = tokio_postgres::connect(&self.base, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            client.batch_execute(sql).await.map_err(|e| e.to_string())
        })
    }
}

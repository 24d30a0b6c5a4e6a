//! Convergence over a faulty network: the seeded simulation of `convergence.rs`, with
//! real `HttpTransport` clients (each on its own in-memory `SqliteStore`) talking to a
//! real tablesync server through a proxy that resets connections, delays requests
//! (some past the client's timeout), truncates answers, and answers 500/503 itself.
//!
//! After the random steps the proxy stops injecting faults and every client syncs
//! until nothing changes. Then:
//! - every client's rows equal the server's;
//! - no write was applied twice (each write carries a unique stamp; a layer on the
//!   server counts the stamps of applied writes; a stamp may be applied once, plus
//!   once more per explicit "keep local" of it);
//! - no write was lost: every local write reached the server, or was superseded by a
//!   later local write, or was discarded by a resolution that chose so.
//!
//! `TABLESYNC_FAULT_SEEDS=N` sets how many seeds run (default 10);
//! `TABLESYNC_FAULT_SEED=S` replays one (the proxy's choices follow the seed; with
//! several operations in flight the order in which requests reach it may vary).

mod common;
mod support;

use std::collections::HashMap;

use common::Item;
use common::ledger::Ledger;
use common::sim::{self, local_write, resolve_all};
use std::time::{Duration, Instant};

use support::proxy::{FAULTS, Fault, Proxy, Route};
use support::server::CountingServer;
use sync_http::{HttpTransport, RetryPolicy};
use tablesync::SqliteStore;
use tablesync::engine::{SyncContext, SyncError, SyncOptions};

/// Requests taking longer than this time out on the client.
const TIMEOUT: Duration = Duration::from_millis(400);
/// The proxy's long delay: past the timeout.
const HANG: Duration = Duration::from_millis(500);

type Client = sim::Client<SqliteStore, HttpTransport>;

macro_rules! t {
    ($e:expr) => {
        $e.map_err(|e| format!("{}:{}: {e}", file!(), line!()))?
    };
}

/// A client's transport: short timeouts, quick retries, so that faults cost little time.
/// With one attempt, every fault reaches the engine; with more, the transport's own
/// retries (re-sends of writes the server may have applied) are exercised too.
fn transport(url: &str, attempts: u32) -> Result<HttpTransport, String> {
    HttpTransport::builder(url)
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .retry(RetryPolicy {
            attempts,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(20),
            max_retry_after: Duration::from_millis(50),
        })
        .build()
        .map_err(|e| e.to_string())
}

struct Figures {
    steps: usize,
    writes: usize,
    applied: usize,
    faults: HashMap<Fault, usize>,
    /// Batch requests and faulty ones, stream requests and faulty ones.
    routes: [usize; 4],
}

async fn run_seed(seed: u64) -> Result<Figures, String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let server = CountingServer::in_memory().await;
    let proxy = Proxy::start(server.addr, seed, 35, HANG).await;
    let mut clients = Vec::new();
    for _ in 0..rng.usize(3..=4) {
        let max_in_flight = if rng.bool() { 1 } else { 4 };
        let ctx = SyncContext::with_options(
            t!(SqliteStore::open_in_memory()),
            transport(&proxy.url, rng.u32(1..=3))?,
            SyncOptions {
                max_in_flight,
                page_size: 7,
                ..SyncOptions::default()
            },
        );
        clients.push(Client::new(ctx).await?);
    }
    let mut ledger = Ledger::default();
    let mut known: Vec<String> = Vec::new();
    let steps = rng.usize(80..=140);
    for _ in 0..steps {
        let ci = rng.usize(..clients.len());
        let c = &clients[ci];
        match rng.u8(0..10) {
            action @ 0..=5 => local_write(&mut rng, ci, c, &mut ledger, &mut known, action).await?,
            6 | 7 => {
                // Faults end a push early or leave operations failed: both are fine.
                t!(c.ctx.push().await);
            }
            8 => match c.items.pull("all", None).await {
                Ok(_)
                | Err(SyncError::Transport { .. })
                | Err(SyncError::PushIncomplete { .. }) => {}
                Err(e) => return Err(format!("pull: {e}")),
            },
            _ => resolve_all(&mut rng, ci, c, &mut ledger).await?,
        }
    }
    // No more faults; let requests the proxy delayed land before syncing to the end.
    proxy.disable_faults();
    tokio::time::sleep(HANG + Duration::from_millis(100)).await;
    sim::settle(&mut rng, &clients, &mut ledger).await?;
    // 1. Every client equals the server (read directly, not through the proxy).
    let observer = SyncContext::new(
        t!(SqliteStore::open_in_memory()),
        t!(HttpTransport::new(&server.url)),
    );
    let all = t!(observer.table::<Item>().await);
    t!(all.pull("all", None).await);
    let server_rows = t!(all.all().await);
    sim::check_equal_to_server(&clients, &server_rows).await?;
    // 2 and 3. Nothing applied twice, nothing lost.
    let applied = server.applied.stamps();
    ledger.check(&applied)?;
    let faults = FAULTS
        .iter()
        .map(|f| (*f, proxy.counts().get(*f)))
        .collect();
    let (b, bf) = proxy.counts().route(Route::Batch);
    let (st, sf) = proxy.counts().route(Route::Stream);
    drop(proxy);
    server.shutdown().await;
    Ok(Figures {
        steps,
        writes: ledger.written.len(),
        applied: applied.len(),
        faults,
        routes: [b, bf, st, sf],
    })
}

fn seeds() -> Vec<u64> {
    if let Some(one) = std::env::var("TABLESYNC_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![one];
    }
    let n = std::env::var("TABLESYNC_FAULT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    (0..n).collect()
}

#[test]
fn clients_converge_through_a_proxy_that_resets_delays_truncates_and_refuses() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let seeds = seeds();
    let (mut steps, mut writes, mut applied) = (0, 0, 0);
    let mut faults: HashMap<Fault, usize> = HashMap::new();
    let mut routes = [0usize; 4];
    for &seed in &seeds {
        let result = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(60), run_seed(seed)).await
        });
        match result {
            Ok(Ok(f)) => {
                steps += f.steps;
                writes += f.writes;
                applied += f.applied;
                for (r, v) in routes.iter_mut().zip(f.routes) {
                    *r += v;
                }
                for (k, v) in f.faults {
                    *faults.entry(k).or_default() += v;
                }
            }
            Ok(Err(msg)) => panic!(
                "seed {seed} failed (replay: TABLESYNC_FAULT_SEED={seed} cargo test --test network_faults): {msg}"
            ),
            Err(_) => panic!(
                "seed {seed} did not finish in 60 s (replay: TABLESYNC_FAULT_SEED={seed} cargo test --test network_faults)"
            ),
        }
    }
    let count = |f| faults.get(&f).copied().unwrap_or(0);
    let injected: usize = FAULTS[1..].iter().map(|f| count(*f)).sum();
    println!(
        "network faults: {} seeds converged, {steps} steps, {writes} local writes checked \
         ({applied} applied by the server, none twice, none lost); {} requests through the \
         proxy, {injected} faulty: {} delayed, {} answered 500, {} answered 503, {} reset \
         before the server, {} reset after the server applied, {} truncated; of them {} \
         batches ({} faulty) and {} streamed pulls ({} faulty) ({:.1} s)",
        seeds.len(),
        injected + count(Fault::Pass),
        count(Fault::Delay),
        count(Fault::Answer500),
        count(Fault::Answer503),
        count(Fault::ResetBefore),
        count(Fault::ResetAfter),
        count(Fault::Truncate),
        routes[0],
        routes[1],
        routes[2],
        routes[3],
        started.elapsed().as_secs_f64()
    );
}

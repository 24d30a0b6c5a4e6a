//! Convergence property test: a seeded random simulation of several clients on one
//! server, with injected faults (failed calls, answers lost after the server applied
//! the write) and every conflict resolved by a random choice.
//!
//! At the end, after every client syncs with no faults:
//! - every client's rows equal the server's;
//! - no write was applied twice (each write carries a unique stamp; a stamp reaches the
//!   server once, plus once more per explicit "keep local" of it);
//! - no write was lost: every local write reached the server, or was superseded by a
//!   later local write, or was discarded by a resolution that chose so.
//!
//! `TABLESYNC_SEEDS=N` sets how many seeds run (default 2000); `TABLESYNC_SEED=S`
//! replays one. A failure prints its seed.

mod common;

use std::collections::HashMap;

use common::Item;
use common::ledger::Ledger;
use common::sim::{self, local_write, resolve_all};

use tablesync::Syncable;
use tablesync::engine::{SyncContext, SyncError};
use tablesync::store::{MemoryStore, OpKind, Store};
use tablesync::transport::{Fault, MemoryRemote, MemoryTransport, TransportError};

const T: &str = "Item";

type Client<S> = sim::Client<S, MemoryTransport>;

macro_rules! t {
    ($e:expr) => {
        $e.map_err(|e| format!("{}:{}: {e}", file!(), line!()))?
    };
}

fn inject(rng: &mut fastrand::Rng, transport: &MemoryTransport) {
    match rng.u8(0..10) {
        0 => transport.push_fault(Fault::LoseResponse),
        1 => transport.push_fault(Fault::Fail(TransportError::network("reset"))),
        2 => transport.push_fault(Fault::Fail(TransportError::Server {
            status: 503,
            message: "busy".into(),
        })),
        _ => {}
    }
}

async fn run_seed<S: Store>(seed: u64, make: &impl Fn() -> S) -> Result<(), String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let server = MemoryRemote::new();
    let mut clients = Vec::new();
    for _ in 0..rng.usize(3..=6) {
        clients.push(Client::new(SyncContext::new(make(), server.transport())).await?);
    }
    let mut ledger = Ledger::default();
    let mut known: Vec<String> = Vec::new();
    let trace = std::env::var_os("TABLESYNC_TRACE").is_some();
    for step in 0..rng.usize(20..=60) {
        let ci = rng.usize(..clients.len());
        let c = &clients[ci];
        let action = rng.u8(0..10);
        if trace {
            eprintln!(
                "step {step}: client {ci} action {action} (stamp counter {})",
                ledger.issued()
            );
        }
        match action {
            0..=5 => local_write(&mut rng, ci, c, &mut ledger, &mut known, action).await?,
            6 | 7 => {
                inject(&mut rng, c.ctx.transport());
                let r = t!(c.ctx.push().await);
                if trace {
                    eprintln!("  push: {r:?}");
                }
            }
            8 => {
                inject(&mut rng, c.ctx.transport());
                match c.items.pull("all", None).await {
                    Ok(_)
                    | Err(SyncError::Transport { .. })
                    | Err(SyncError::PushIncomplete { .. }) => {}
                    Err(e) => return Err(format!("pull: {e}")),
                }
            }
            _ => resolve_all(&mut rng, ci, c, &mut ledger).await?,
        }
    }
    // Final sync with no faults, until nothing changes any more.
    for c in &clients {
        c.ctx.transport().clear_faults();
    }
    sim::settle(&mut rng, &clients, &mut ledger).await?;
    // 1. Every client equals the server.
    let server_rows: Vec<Item> = server
        .rows(T)
        .into_iter()
        .map(Item::from_record)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    sim::check_equal_to_server(&clients, &server_rows).await?;
    // 2 and 3. Nothing applied twice, nothing lost.
    let mut applied: HashMap<String, usize> = HashMap::new();
    for w in server.applied() {
        if w.kind != OpKind::Delete {
            let item = Item::from_record(w.row).map_err(|e| e.to_string())?;
            *applied.entry(item.stamp).or_default() += 1;
        }
    }
    ledger.check(&applied)?;
    Ok(())
}

fn seeds() -> Vec<u64> {
    if let Some(one) = std::env::var("TABLESYNC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![one];
    }
    let n = std::env::var("TABLESYNC_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    (0..n).collect()
}

fn run_all<S: Store>(label: &str, seeds: &[u64], make: impl Fn() -> S) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    for &seed in seeds {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(run_seed(seed, &make))
        }));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => {
                panic!("{label}: seed {seed} failed (replay: TABLESYNC_SEED={seed}): {msg}")
            }
            Err(_) => panic!("{label}: seed {seed} panicked (replay: TABLESYNC_SEED={seed})"),
        }
    }
    println!("{label}: {} seeds converged", seeds.len());
}

#[test]
fn clients_converge_with_faults_and_random_resolutions_memory_store() {
    run_all("MemoryStore", &seeds(), MemoryStore::new);
}

#[test]
fn clients_converge_with_faults_and_random_resolutions_sqlite_store() {
    run_all("SqliteStore", &seeds(), || {
        tablesync::sync_sqlite::SqliteStore::open_in_memory().expect("in-memory SQLite store")
    });
}

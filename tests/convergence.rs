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

use tablesync::Syncable;
use tablesync::engine::{SyncContext, SyncError, SyncTable};
use tablesync::store::{MemoryStore, OpKind, Store};
use tablesync::transport::{Fault, MemoryRemote, MemoryTransport, TransportError};

const T: &str = "Item";

struct Client<S: Store> {
    ctx: SyncContext<S, MemoryTransport>,
    items: SyncTable<Item, S, MemoryTransport>,
}

macro_rules! t {
    ($e:expr) => {
        $e.map_err(|e| format!("{}:{}: {e}", file!(), line!()))?
    };
}

async fn local_stamp<S: Store>(c: &Client<S>, id: &str) -> Result<Option<String>, String> {
    Ok(t!(c.items.get(id).await).map(|i| i.stamp))
}

async fn resolve_all<S: Store>(
    rng: &mut fastrand::Rng,
    ci: usize,
    c: &Client<S>,
    ledger: &mut Ledger,
) -> Result<(), String> {
    for conflict in t!(c.items.conflicts().await) {
        let id = conflict.id.clone();
        if std::env::var_os("TABLESYNC_TRACE").is_some() {
            eprintln!("  client {ci} conflict {conflict:?}");
        }
        let local_stamp = conflict.local.as_ref().map(|l| l.stamp.clone());
        let choice = rng.u8(0..3);
        let result = match (choice, &conflict.local, &conflict.remote) {
            (0, _, _) => c.items.keep_local(&id).await,
            (1, Some(l), Some(r)) => {
                let mut merged = l.clone();
                merged.value = l.value + r.value;
                merged.stamp = ledger.stamp(ci, &id);
                c.items.use_value(merged).await
            }
            _ => c.items.keep_remote(&id).await,
        };
        match (choice, result) {
            (0, Ok(())) => {
                if let Some(s) = &local_stamp {
                    *ledger.resent.entry(s.clone()).or_default() += 1;
                }
            }
            (0, Err(SyncError::RemoteDeleted { .. })) => {
                // The server deleted it: keeping local is refused; take the delete.
                t!(c.items.keep_remote(&id).await);
                ledger.discarded.extend(local_stamp);
            }
            (_, Ok(())) => ledger.discarded.extend(local_stamp),
            (_, Err(e)) => return Err(format!("resolving {id}: {e}")),
        }
    }
    Ok(())
}

fn inject(rng: &mut fastrand::Rng, transport: &MemoryTransport) {
    match rng.u8(0..10) {
        0 => transport.push_fault(Fault::LoseResponse),
        1 => transport.push_fault(Fault::Fail(TransportError::Network {
            message: "reset".into(),
        })),
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
        let ctx = SyncContext::new(make(), server.transport());
        let items = t!(ctx.table::<Item>().await);
        clients.push(Client { ctx, items });
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
            0..=1 => {
                let id = format!("i{}", known.len());
                let stamp = ledger.stamp(ci, &id);
                let item = Item {
                    id: id.clone(),
                    value: rng.i64(0..100),
                    stamp,
                    version: None,
                };
                t!(c.items.insert(item).await);
                known.push(id);
            }
            2..=4 => {
                let Some(id) = (!known.is_empty()).then(|| known[rng.usize(..known.len())].clone())
                else {
                    continue;
                };
                let Some(mut item) = t!(c.items.get(&id).await) else {
                    continue;
                };
                ledger.superseded.insert(item.stamp.clone());
                item.value = rng.i64(0..100);
                item.stamp = ledger.stamp(ci, &id);
                t!(c.items.update(item).await);
            }
            5 => {
                let Some(id) = (!known.is_empty()).then(|| known[rng.usize(..known.len())].clone())
                else {
                    continue;
                };
                if let Some(s) = local_stamp(c, &id).await? {
                    // A delete queued over a pending change replaces it.
                    match c.items.delete(&id).await {
                        Ok(()) => {
                            ledger.superseded.insert(s);
                        }
                        Err(SyncError::Store(_)) => {} // e.g. a delete already pending
                        Err(e) => return Err(format!("delete {id}: {e}")),
                    }
                }
            }
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
    let mut settled = false;
    for _round in 0..30 {
        let mut quiet = true;
        for (ci, c) in clients.iter().enumerate() {
            resolve_all(&mut rng, ci, c, &mut ledger).await?;
            let pushed = t!(c.ctx.push().await);
            let pulled = t!(c.items.pull("all", None).await);
            let conflicts = t!(c.items.conflicts().await).len();
            let pending = t!(c.ctx.pending_count().await);
            if pushed.total > 0 || pulled.received > 0 || conflicts > 0 || pending > 0 {
                quiet = false;
            }
        }
        if quiet {
            settled = true;
            break;
        }
    }
    if !settled {
        return Err("did not settle in 30 rounds".into());
    }
    // 1. Every client equals the server.
    let server_rows: Vec<Item> = server
        .rows(T)
        .into_iter()
        .map(Item::from_record)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    for (ci, c) in clients.iter().enumerate() {
        let local = t!(c.items.all().await);
        if local != server_rows {
            return Err(format!(
                "client {ci} differs from the server:\n local {local:?}\nserver {server_rows:?}"
            ));
        }
    }
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

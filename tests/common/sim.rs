//! The steps the two convergence simulations share — `convergence.rs` (clients of an
//! in-memory remote, with injected transport faults) and `network_faults.rs` (HTTP
//! clients of a real server, behind a faulty proxy): random local writes, random
//! conflict resolutions, the final sync until nothing changes, and the comparison of
//! every client with the server. Each step draws from the seed's generator exactly as
//! the simulations did before they shared it, so a seed replays the same scenario.

use tablesync::engine::{SyncContext, SyncError, SyncTable};
use tablesync::store::Store;
use tablesync::transport::Transport;

use super::Item;
use super::ledger::Ledger;

/// Turns an error into a message that says where it happened.
macro_rules! t {
    ($e:expr) => {
        $e.map_err(|e| format!("{}:{}: {e}", file!(), line!()))?
    };
}

/// One simulated device: its context and its table of items.
pub struct Client<S, T> {
    pub ctx: SyncContext<S, T>,
    pub items: SyncTable<Item, S, T>,
}

impl<S: Store, T: Transport> Client<S, T> {
    pub async fn new(ctx: SyncContext<S, T>) -> Result<Self, String> {
        let items = t!(ctx.table::<Item>().await);
        Ok(Client { ctx, items })
    }
}

/// A random local write of client `ci` for `action` 0..=5: 0-1 insert a new item,
/// 2-4 update a known item, 5 delete one. `known` holds the ids inserted so far.
pub async fn local_write<S: Store, T: Transport>(
    rng: &mut fastrand::Rng,
    ci: usize,
    c: &Client<S, T>,
    ledger: &mut Ledger,
    known: &mut Vec<String>,
    action: u8,
) -> Result<(), String> {
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
                return Ok(());
            };
            let Some(mut item) = t!(c.items.get(&id).await) else {
                return Ok(());
            };
            ledger.superseded.insert(item.stamp.clone());
            item.value = rng.i64(0..100);
            item.stamp = ledger.stamp(ci, &id);
            t!(c.items.update(item).await);
        }
        5 => {
            let Some(id) = (!known.is_empty()).then(|| known[rng.usize(..known.len())].clone())
            else {
                return Ok(());
            };
            if let Some(item) = t!(c.items.get(&id).await) {
                // A delete queued over a pending change replaces it.
                match c.items.delete(&id).await {
                    Ok(()) => {
                        ledger.superseded.insert(item.stamp);
                    }
                    Err(SyncError::Store(_)) => {} // e.g. a delete already pending
                    Err(e) => return Err(format!("delete {id}: {e}")),
                }
            }
        }
        _ => return Err(format!("action {action} is not a local write")),
    }
    Ok(())
}

/// Resolves every conflict of client `ci` by a random choice: keep local, merge (sum of
/// the values, a new stamp) or keep remote; the ledger learns which writes may be
/// applied once more and which were dropped. `TABLESYNC_TRACE` prints each conflict.
pub async fn resolve_all<S: Store, T: Transport>(
    rng: &mut fastrand::Rng,
    ci: usize,
    c: &Client<S, T>,
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

/// With faults off: every client in turn resolves, pushes and pulls, until a whole
/// round changes nothing and leaves no conflict and nothing pending (at most 30 rounds).
pub async fn settle<S: Store, T: Transport>(
    rng: &mut fastrand::Rng,
    clients: &[Client<S, T>],
    ledger: &mut Ledger,
) -> Result<(), String> {
    for _round in 0..30 {
        let mut quiet = true;
        for (ci, c) in clients.iter().enumerate() {
            resolve_all(rng, ci, c, ledger).await?;
            let pushed = t!(c.ctx.push().await);
            let pulled = t!(c.items.pull("all", None).await);
            let conflicts = t!(c.items.conflicts().await).len();
            let pending = t!(c.ctx.pending_count().await);
            if pushed.total > 0 || pulled.received > 0 || conflicts > 0 || pending > 0 {
                quiet = false;
            }
        }
        if quiet {
            return Ok(());
        }
    }
    Err("did not settle in 30 rounds".into())
}

/// Every client's rows equal the server's.
pub async fn check_equal_to_server<S: Store, T: Transport>(
    clients: &[Client<S, T>],
    server_rows: &[Item],
) -> Result<(), String> {
    for (ci, c) in clients.iter().enumerate() {
        let local = t!(c.items.all().await);
        if local != server_rows {
            return Err(format!(
                "client {ci} differs from the server:\n local {local:?}\nserver {server_rows:?}"
            ));
        }
    }
    Ok(())
}

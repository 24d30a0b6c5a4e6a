//! [`PendingOp`]: what the app sees of one queued local change, listed by
//! [`SyncContext::pending`](super::SyncContext::pending) and
//! [`SyncTable::pending`](super::SyncTable::pending) without opening a store transaction.

use std::collections::HashSet;

use crate::store::{OpError, OpKind, Operation, StoreError, StoreTx};

/// One local change not yet accepted by the server, as the queue holds it.
///
/// The queue keeps one entry per item (later edits collapse into it), so this is also
/// the list of items with unsent changes. More fields may be added: match with `..`.
///
/// ```
/// use sync_core::engine::SyncContext;
/// use sync_core::store::{MemoryStore, OpKind};
/// use sync_core::transport::MemoryRemote;
/// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
/// # #[sync(crate = "sync_core")]
/// # struct Todo { id: String, text: String, #[version] version: Option<String> }
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let ctx = SyncContext::new(MemoryStore::new(), MemoryRemote::new().transport());
/// let todos = ctx.table::<Todo>().await?;
/// todos.insert(Todo { id: "t1".into(), text: "milk".into(), version: None }).await?;
/// let pending = ctx.pending().await?;
/// let op = &pending[0];
/// assert_eq!((op.table.as_str(), op.id.as_str(), op.kind), ("Todo", "t1", OpKind::Insert));
/// assert_eq!((op.attempts, op.error.is_none(), op.in_conflict), (0, true, false));
/// # Ok::<(), sync_core::engine::SyncError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PendingOp {
    /// The table.
    pub table: String,
    /// The item's id.
    pub id: String,
    /// What the push will do: insert, update or delete.
    pub kind: OpKind,
    /// How many times it was sent without a stored answer. Non-zero means the server
    /// may already have applied it (a re-send is recognized).
    pub attempts: u32,
    /// The server's last rejection (neither a conflict nor a network or auth failure);
    /// it stays until the app fixes the item, cancels the change or the push succeeds.
    pub error: Option<OpError>,
    /// Whether the item has an unresolved conflict: the push holds it back until the
    /// app resolves it.
    pub in_conflict: bool,
}

/// The queue of one table (or all) in queue order, as [`PendingOp`]s.
pub(crate) fn list(
    tx: &mut dyn StoreTx,
    table: Option<&str>,
) -> Result<Vec<PendingOp>, StoreError> {
    let ops = tx.ops(table)?;
    // Keyed like the stores key tables: names match ignoring ASCII case.
    let in_conflict: HashSet<(String, String)> = tx
        .conflicts(table)?
        .into_iter()
        .map(|c| (c.table.to_ascii_lowercase(), c.item_id))
        .collect();
    Ok(ops
        .into_iter()
        .map(|op| {
            let key = (op.table.to_ascii_lowercase(), op.item_id);
            let conflicted = in_conflict.contains(&key);
            let Operation {
                table,
                kind,
                attempts,
                error,
                ..
            } = op;
            PendingOp {
                table,
                id: key.1,
                kind,
                attempts,
                error,
                in_conflict: conflicted,
            }
        })
        .collect())
}

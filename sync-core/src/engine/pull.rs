//! Pull: bring the server's changes into the store, page by page.
//!
//! Pages are requested after the query's watermark in `(updatedAt, id)` order; each
//! page and the new watermark commit in one transaction, so a crash mid-pull resumes
//! where it stopped and applies nothing twice. A pulled row whose item has a pending
//! local operation becomes a conflict (unless the server has not changed since the
//! local change was based on it, or already holds exactly the local change).

use std::sync::Arc;

use crate::store::{ConflictKind, Filter, OpKind, Store, StoreTx, StoredConflict};
use crate::transport::{PullPage, PullRequest, Transport, TransportError};

use super::push::{self, PushReport, PushStatus, same_data};
use super::resolve::{
    self, Decider, RecordDecision, apply_server_copy, fit_to, settle, stored_schema,
};
use super::{Inner, SyncError, SyncEvent, outgoing};

/// What a pull did.
///
/// ```
/// let r = sync_core::engine::PullReport::default();
/// assert_eq!(r.received, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullReport {
    /// The table.
    pub table: String,
    /// Rows received.
    pub received: usize,
    /// Pages requested.
    pub pages: usize,
    /// Conflicts stored for the app during this pull, including those the push it
    /// made first found.
    pub conflicts: usize,
    /// Conflicts a policy resolved, including during that push.
    pub resolved: usize,
    /// The push made first because the table had pending operations.
    pub push: Option<PushReport>,
}

pub(crate) async fn pull<S: Store, T: Transport>(
    inner: &Arc<Inner<S, T>>,
    table: &str,
    query_id: &str,
    filter: Option<Filter>,
) -> Result<PullReport, SyncError> {
    let mut report = PullReport {
        table: table.to_owned(),
        ..PullReport::default()
    };
    let t = table.to_owned();
    let pending = inner.read(move |tx| Ok(tx.ops(Some(&t))?.len())).await?;
    if pending > 0 {
        let pushed = push::push(inner, Some(table.to_owned())).await?;
        if pushed.status != PushStatus::Complete {
            return Err(SyncError::PushIncomplete {
                table: table.to_owned(),
                status: pushed.status,
            });
        }
        report.conflicts += pushed.conflicts;
        report.resolved += pushed.resolved;
        report.push = Some(pushed);
    }
    let decide = inner.entry(table).map(|e| Arc::clone(&e.decide));
    let schema = inner.entry(table).map(|e| e.schema.clone());
    loop {
        let (t, q) = (table.to_owned(), query_id.to_owned());
        let after = inner.read(move |tx| Ok(tx.watermark(&t, &q)?)).await?;
        let request = PullRequest {
            after,
            page_size: inner.options.page_size.max(1),
            include_deleted: true,
            filter: filter.clone(),
        };
        let page = inner
            .transport
            .pull(table, request)
            .await
            .map_err(|source| SyncError::Transport {
                table: table.to_owned(),
                source,
            })?;
        let (n, more) = (page.records.len(), page.more);
        let (t, q, d, s) = (
            table.to_owned(),
            query_id.to_owned(),
            decide.clone(),
            schema.clone(),
        );
        let applied = inner
            .tx(move |tx| apply_page(tx, &t, &q, page, d.as_ref(), s.as_ref()))
            .await?;
        report.pages += 1;
        report.received += n;
        report.resolved += applied.resolved;
        report.conflicts += applied.conflicts.len();
        for id in applied.conflicts {
            inner.emit(SyncEvent::ConflictFound {
                table: table.to_owned(),
                id,
                kind: ConflictKind::Pull,
            });
        }
        inner.emit(SyncEvent::PullProgress {
            table: table.to_owned(),
            received: report.received,
        });
        if !more || n == 0 {
            break;
        }
    }
    inner.emit(SyncEvent::PullFinished {
        table: table.to_owned(),
        received: report.received,
    });
    Ok(report)
}

#[derive(Default)]
struct Applied {
    conflicts: Vec<String>,
    resolved: usize,
}

fn apply_page(
    tx: &mut dyn StoreTx,
    table: &str,
    query_id: &str,
    page: PullPage,
    decide: Option<&Decider>,
    schema: Option<&crate::model::TableSchema>,
) -> Result<Applied, SyncError> {
    let mut applied = Applied::default();
    // Once per page, not once per row: the schema, and the (few) unresolved conflicts.
    let stored = stored_schema(tx, table)?;
    let mut in_conflict: std::collections::HashMap<String, crate::store::StoredConflict> = tx
        .conflicts(Some(table))?
        .into_iter()
        .map(|c| (c.item_id.clone(), c))
        .collect();
    for remote in &page.records {
        let Some(id) = remote.id().filter(|i| !i.is_empty()) else {
            return Err(SyncError::Transport {
                table: table.to_owned(),
                source: TransportError::Malformed {
                    message: "a pulled row has no text `id`".into(),
                },
            });
        };
        let live = (!remote.is_deleted()).then_some(remote);
        // An unresolved conflict keeps the row as the app left it; its remote side
        // follows the server.
        if let Some(c) = in_conflict.get_mut(id) {
            c.remote = live.map(|r| fit_to(&stored, r));
            tx.save_conflict(c)?;
            continue;
        }
        let Some(op) = tx.op(table, id)? else {
            apply_server_copy(tx, &stored, table, id, live)?;
            continue;
        };
        // The server has not changed since the local change was based on it.
        if op.version.is_some() && op.version.as_deref() == remote.version() {
            continue;
        }
        let local = match op.kind {
            OpKind::Delete => None,
            OpKind::Insert | OpKind::Update => tx.get(table, id)?,
        };
        // The server already holds exactly the local change (an answer lost earlier).
        let converged = match (op.kind, &local, live) {
            (OpKind::Delete, _, None) => true,
            (_, Some(l), Some(r)) => same_data(tx, table, &outgoing(schema, l), r)?,
            _ => false,
        };
        if converged {
            tx.remove_op(table, id)?;
            settle(tx, table, id, live)?;
            continue;
        }
        let mut conflict = StoredConflict::new(table, id, ConflictKind::Pull);
        conflict.local = local;
        conflict.remote = live.map(|r| fit_to(&stored, r));
        conflict.base = tx.base(table, id)?;
        let decision = match decide {
            Some(d) => d(&conflict)?,
            None => RecordDecision::Defer,
        };
        match decision {
            RecordDecision::Resolve(res) => {
                resolve::apply(tx, &conflict, res)?;
                applied.resolved += 1;
            }
            // Aborting means nothing during a pull: keep the conflict for the app.
            RecordDecision::Defer | RecordDecision::AbortPush => {
                tx.save_conflict(&conflict)?;
                applied.conflicts.push(id.to_owned());
            }
        }
    }
    if let Some(last) = &page.last {
        tx.set_watermark(table, query_id, last)?;
    }
    Ok(applied)
}

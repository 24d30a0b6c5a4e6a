//! Push: send the queue to the server.
//!
//! Operations go in queue order, up to `max_in_flight` at a time (the queue holds one
//! entry per item, so two operations on one item are never in flight together). Each
//! operation is three steps: prepare (one transaction: count the attempt, read the row
//! as it is now), send, finish (one transaction). Between prepare and finish the app
//! may edit the item: the entry's revision tells, and the edit is kept.

use std::sync::Arc;

use tokio::task::JoinSet;

use crate::model::{Record, SystemColumn};
use crate::store::{
    ConflictKind, OpError, OpKind, Operation, Store, StoreError, StoreTx, StoredConflict, normalize,
};
use crate::transport::{Transport, TransportError};

use super::resolve::{self, RecordDecision, fit, settle};
use super::{Inner, SyncError, SyncEvent, outgoing};

/// How a push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushStatus {
    /// Every operation was tried (some may have conflicts or errors: see the report).
    Complete,
    /// A conflict handler aborted the push; untried operations stay queued.
    Aborted,
    /// The server could not be reached; everything not yet sent stays queued.
    NetworkError(String),
    /// The server refused our credentials; everything not yet sent stays queued.
    AuthError(String),
}

/// An operation the server rejected; it stays queued with its error.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationFailure {
    /// The table.
    pub table: String,
    /// The item.
    pub id: String,
    /// The operation's kind.
    pub kind: OpKind,
    /// The rejection.
    pub error: OpError,
}

/// What a push did.
///
/// ```
/// let r = sync_core::engine::PushReport::default();
/// assert_eq!((r.total, r.pushed), (0, 0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PushReport {
    /// How it ended.
    pub status: PushStatus,
    /// Operations it set out to send.
    pub total: usize,
    /// Sent and accepted (including re-sends the server already had).
    pub pushed: usize,
    /// Refused with a conflict that a policy resolved during this push.
    pub resolved: usize,
    /// Refused with a conflict now stored for the app.
    pub conflicts: usize,
    /// Rejected; kept queued with their error.
    pub failed: Vec<OperationFailure>,
    /// Held back because their item has an unresolved conflict.
    pub held: usize,
}

impl Default for PushReport {
    fn default() -> Self {
        PushReport {
            status: PushStatus::Complete,
            total: 0,
            pushed: 0,
            resolved: 0,
            conflicts: 0,
            failed: Vec::new(),
            held: 0,
        }
    }
}

enum Outcome {
    Pushed,
    Resolved,
    Conflict,
    Failed(OperationFailure),
    Stop(TransportError),
    Aborted,
    Skipped,
}

/// Pushes the queue (of one table, or all).
pub(crate) async fn push<S: Store, T: Transport>(
    inner: &Arc<Inner<S, T>>,
    table: Option<String>,
) -> Result<PushReport, SyncError> {
    let _one_push_at_a_time = inner.push_lock.lock().await;
    let (ops, held) = inner
        .read(move |tx| {
            let mut sendable = Vec::new();
            let mut held = 0;
            for op in tx.ops(table.as_deref())? {
                if tx.conflict(&op.table, &op.item_id)?.is_some() {
                    held += 1;
                } else {
                    sendable.push(op);
                }
            }
            Ok((sendable, held))
        })
        .await?;
    let mut report = PushReport {
        total: ops.len(),
        held,
        ..PushReport::default()
    };
    inner.emit(SyncEvent::PushStarted {
        total: report.total,
    });
    let max = inner.options.max_in_flight.max(1);
    let window = (max * 8).clamp(8, 64);
    let mut queue = ops.into_iter();
    let mut ready = std::collections::VecDeque::new();
    let mut tasks = JoinSet::new();
    let mut fatal: Option<SyncError> = None;
    let mut done = 0;
    loop {
        let mut settled = None;
        while report.status == PushStatus::Complete && fatal.is_none() && tasks.len() < max {
            if ready.is_empty() {
                // Count the attempts of a window of operations in one transaction (one
                // durable commit, not one each). Counting before sending is the safe
                // direction: an attempt counted but never sent only means "maybe on
                // the server", which turns a later insert + delete into a delete that
                // the server answers 404, a success.
                let batch: Vec<_> = queue
                    .by_ref()
                    .take(window)
                    .map(|op: Operation| {
                        let gate = inner.entry(&op.table).and_then(|e| e.gate.clone());
                        (op, gate)
                    })
                    .collect();
                if batch.is_empty() {
                    break;
                }
                let prepared = inner
                    .tx(move |tx| {
                        let mut out = Vec::with_capacity(batch.len());
                        for (op, gate) in batch {
                            let p = prepare_one(tx, &op.table, &op.item_id, gate.as_ref())?;
                            let abort = matches!(p, Prepared::Abort);
                            out.push((op, p));
                            if abort {
                                break; // nothing after an abort is counted as sent
                            }
                        }
                        Ok(out)
                    })
                    .await;
                match prepared {
                    Ok(p) => ready.extend(p),
                    Err(e) => {
                        fatal.get_or_insert(e);
                        break;
                    }
                }
            }
            let Some((op, prepared)) = ready.pop_front() else {
                break;
            };
            match prepared {
                Prepared::Send(..) => {
                    let inner = Arc::clone(inner);
                    tasks.spawn(async move { push_one(inner, op, Some(prepared)).await });
                }
                // Finished without sending: counted like any other operation.
                Prepared::Gone => settled = Some(Outcome::Skipped),
                Prepared::Abort => settled = Some(Outcome::Aborted),
            }
            if settled.is_some() {
                break;
            }
        }
        let joined = match settled.take() {
            Some(outcome) => Ok(Ok(outcome)),
            None => match tasks.join_next().await {
                Some(joined) => joined,
                None => break,
            },
        };
        done += 1;
        inner.emit(SyncEvent::PushProgress {
            done,
            total: report.total,
        });
        let outcome = match joined {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                fatal.get_or_insert(e);
                continue;
            }
            Err(e) => {
                fatal.get_or_insert(StoreError::Backend(format!("push task failed: {e}")).into());
                continue;
            }
        };
        match outcome {
            Outcome::Pushed => report.pushed += 1,
            Outcome::Resolved => report.resolved += 1,
            Outcome::Conflict => report.conflicts += 1,
            Outcome::Failed(f) => report.failed.push(f),
            Outcome::Skipped => {}
            Outcome::Aborted => {
                if report.status == PushStatus::Complete {
                    report.status = PushStatus::Aborted;
                }
            }
            Outcome::Stop(e) => {
                if report.status == PushStatus::Complete {
                    report.status = match e {
                        TransportError::Unauthorized { .. } => PushStatus::AuthError(e.to_string()),
                        _ => PushStatus::NetworkError(e.to_string()),
                    };
                }
            }
        }
    }
    if let Some(e) = fatal {
        return Err(e);
    }
    inner.emit(SyncEvent::PushFinished {
        status: report.status.clone(),
    });
    Ok(report)
}

/// The prepare step of one operation, in the caller's transaction: the queue may have
/// changed since the push listed it; the app's handler sees the operation before it is
/// counted as sent; then the attempt is counted and the row read as it is now.
fn prepare_one(
    tx: &mut dyn StoreTx,
    table: &str,
    id: &str,
    gate: Option<&resolve::Gate>,
) -> Result<Prepared, SyncError> {
    let Some(op) = tx.op(table, id)? else {
        return Ok(Prepared::Gone);
    };
    if tx.conflict(table, id)?.is_some() {
        return Ok(Prepared::Gone);
    }
    let row = match op.kind {
        OpKind::Delete => None,
        OpKind::Insert | OpKind::Update => tx.get(table, id)?,
    };
    if let Some(gate) = gate
        && !gate(op.kind, row.as_ref())?
    {
        return Ok(Prepared::Abort);
    }
    let op = tx.mark_attempt(table, id)?;
    Ok(Prepared::Send(op, row))
}

/// What the prepare step found.
enum Prepared {
    Send(Operation, Option<Record>),
    Gone,
    Abort,
}

/// What the conflict step decided.
enum Step {
    /// The server already had what we sent: finished as a success.
    Success,
    /// A policy re-queued the item against the server's version: send again.
    Retry,
    /// A policy took the server's side: nothing left to send.
    Done,
    /// Stored for the app.
    Conflict,
    /// A handler aborted the push.
    Abort,
}

async fn push_one<S: Store, T: Transport>(
    inner: Arc<Inner<S, T>>,
    op: Operation,
    mut first: Option<Prepared>,
) -> Result<Outcome, SyncError> {
    let (table, id) = (op.table.clone(), op.item_id.clone());
    let entry = inner.entry(&table);
    let schema = entry.as_ref().map(|e| e.schema.clone());
    let retries = inner.options.max_conflict_retries;
    for attempt in 0..=retries {
        let prepared = match first.take() {
            Some(p) => p,
            None => {
                let (t, i) = (table.clone(), id.clone());
                let gate = entry.as_ref().and_then(|e| e.gate.clone());
                inner
                    .tx(move |tx| prepare_one(tx, &t, &i, gate.as_ref()))
                    .await?
            }
        };
        let (op, row) = match prepared {
            Prepared::Send(op, row) => (op, row),
            Prepared::Gone => return Ok(Outcome::Skipped),
            Prepared::Abort => return Ok(Outcome::Aborted),
        };
        let sent = row.as_ref().map(|r| outgoing(schema.as_ref(), r));
        let transport = &inner.transport;
        let result = match (op.kind, sent.clone()) {
            (OpKind::Insert, Some(s)) => transport.insert(&table, s).await.map(Some),
            (OpKind::Update, Some(s)) => transport
                .update(&table, s, op.version.clone())
                .await
                .map(Some),
            (OpKind::Delete, _) => transport.delete(&table, &id, op.version.clone()).await,
            (OpKind::Insert | OpKind::Update, None) => {
                // A queued write whose row is gone cannot be sent; say so, keep the op.
                let error = OpError {
                    status: None,
                    message: "the local row of this operation is missing".into(),
                    server_copy: None,
                };
                return record_failure(&inner, op, error).await;
            }
        };
        let err = match result {
            Ok(copy) => {
                inner
                    .tx(move |tx| finish_success(tx, &op, copy.as_ref()))
                    .await?;
                return Ok(if attempt == 0 {
                    Outcome::Pushed
                } else {
                    Outcome::Resolved
                });
            }
            Err(e) => e,
        };
        // A delete of something already gone did what it was meant to.
        if op.kind == OpKind::Delete && err == TransportError::NotFound {
            inner.tx(move |tx| finish_success(tx, &op, None)).await?;
            return Ok(Outcome::Pushed);
        }
        let remote_deleted = op.kind == OpKind::Update && err == TransportError::NotFound;
        if !err.is_conflict() && !remote_deleted {
            if err.stops_push() {
                return Ok(Outcome::Stop(err));
            }
            let error = OpError {
                status: err.status(),
                message: err.to_string(),
                server_copy: err.server_copy().cloned(),
            };
            return record_failure(&inner, op, error).await;
        }
        let remote = if remote_deleted {
            None
        } else {
            match err.server_copy() {
                Some(copy) => Some(copy.clone()),
                // The reference server echoes the request on a 409: ask for the real copy.
                None => match transport.get(&table, &id).await {
                    Ok(copy) => copy,
                    Err(e) if e.stops_push() => return Ok(Outcome::Stop(e)),
                    Err(e) => {
                        let error = OpError {
                            status: e.status(),
                            message: format!(
                                "conflict, and the server copy could not be read: {e}"
                            ),
                            server_copy: None,
                        };
                        return record_failure(&inner, op, error).await;
                    }
                },
            }
        };
        let decide = entry.as_ref().map(|e| Arc::clone(&e.decide));
        let may_resolve = attempt < retries;
        let step = inner
            .tx(move |tx| on_conflict(tx, &op, sent.as_ref(), remote, decide, may_resolve))
            .await?;
        match step {
            Step::Success => return Ok(Outcome::Pushed),
            Step::Retry => continue,
            Step::Done => return Ok(Outcome::Resolved),
            Step::Abort => return Ok(Outcome::Aborted),
            Step::Conflict => {
                inner.emit(SyncEvent::ConflictFound {
                    table: table.clone(),
                    id: id.clone(),
                    kind: ConflictKind::Push,
                });
                return Ok(Outcome::Conflict);
            }
        }
    }
    Ok(Outcome::Skipped)
}

async fn record_failure<S: Store, T: Transport>(
    inner: &Arc<Inner<S, T>>,
    op: Operation,
    error: OpError,
) -> Result<Outcome, SyncError> {
    let (t, i, e) = (op.table.clone(), op.item_id.clone(), error.clone());
    inner
        .tx(move |tx| {
            if tx.op(&t, &i)?.is_some() {
                tx.set_op_error(&t, &i, Some(e))?;
            }
            Ok(())
        })
        .await?;
    inner.emit(SyncEvent::OperationFailed {
        table: op.table.clone(),
        id: op.item_id.clone(),
        message: error.message.clone(),
    });
    Ok(Outcome::Failed(OperationFailure {
        table: op.table,
        id: op.item_id,
        kind: op.kind,
        error,
    }))
}

/// Whether the server's copy already holds every column we sent (so a re-send after a
/// lost answer, refused as a conflict, was in fact applied).
pub(crate) fn same_data(
    tx: &mut dyn StoreTx,
    table: &str,
    sent: &Record,
    remote: &Record,
) -> Result<bool, SyncError> {
    let schema = tx
        .table_schema(table)?
        .ok_or_else(|| StoreError::UnknownTable(table.to_owned()))?;
    let remote = match normalize(&schema, &fit(tx, table, remote)?) {
        Ok(r) => r,
        Err(_) => return Ok(false),
    };
    let sent_n = normalize(&schema, &fit(tx, table, sent)?)?;
    Ok(sent
        .iter()
        .filter(|(name, _)| SystemColumn::from_name(name).is_none())
        .all(|(name, _)| sent_n.get(name) == remote.get(name)))
}

/// Finishes an operation the server accepted, in one transaction.
pub(crate) fn finish_success(
    tx: &mut dyn StoreTx,
    sent: &Operation,
    server_copy: Option<&Record>,
) -> Result<(), SyncError> {
    let (table, id) = (sent.table.as_str(), sent.item_id.as_str());
    // An accepted delete leaves nothing, whatever row the answer carries (a server that
    // deletes hard may answer with the row as it was).
    let copy = server_copy.filter(|r| sent.kind != OpKind::Delete && !r.is_deleted());
    match tx.op(table, id)? {
        Some(mut current) if current.revision != sent.revision => {
            // Edited while in flight: the edit and its queue entry stay; only the
            // server's new version is learned, so the next push is not a false conflict.
            let version = copy.and_then(|c| c.version()).map(str::to_owned);
            if let Some(c) = copy {
                if let Some(mut row) = tx.get(table, id)? {
                    row.set(SystemColumn::Version.name(), version.clone());
                    if let Some(created) = c.get(SystemColumn::CreatedAt.name()) {
                        row.set(SystemColumn::CreatedAt.name(), created.clone());
                    }
                    let row = fit(tx, table, &row)?;
                    tx.upsert(table, &row)?;
                }
                let base = fit(tx, table, c)?;
                tx.set_base(table, &base)?;
                if current.kind == OpKind::Insert {
                    current.kind = OpKind::Update;
                }
            } else {
                tx.remove_base(table, id)?;
            }
            current.version = version;
            tx.replace_op(&current)?;
        }
        _ => {
            tx.remove_op(table, id)?;
            settle(tx, table, id, copy)?;
        }
    }
    Ok(())
}

fn on_conflict(
    tx: &mut dyn StoreTx,
    op: &Operation,
    sent: Option<&Record>,
    remote: Option<Record>,
    decide: Option<resolve::Decider>,
    may_resolve: bool,
) -> Result<Step, SyncError> {
    let (table, id) = (op.table.as_str(), op.item_id.as_str());
    let remote = remote.filter(|r| !r.is_deleted());
    // Idempotent re-send: the server already has exactly what we sent.
    if let (Some(s), Some(r)) = (sent, remote.as_ref())
        && same_data(tx, table, s, r)?
    {
        finish_success(tx, op, Some(r))?;
        return Ok(Step::Success);
    }
    if op.kind == OpKind::Delete && remote.is_none() {
        finish_success(tx, op, None)?;
        return Ok(Step::Success);
    }
    let mut conflict = StoredConflict::new(table, id, ConflictKind::Push);
    conflict.local = match op.kind {
        OpKind::Delete => None,
        OpKind::Insert | OpKind::Update => tx.get(table, id)?,
    };
    conflict.remote = remote.as_ref().map(|r| fit(tx, table, r)).transpose()?;
    conflict.base = tx.base(table, id)?;
    let decision = match (&decide, may_resolve) {
        (Some(d), true) => d(&conflict)?,
        _ => RecordDecision::Defer,
    };
    match decision {
        RecordDecision::Resolve(res) => {
            resolve::apply(tx, &conflict, res)?;
            Ok(if tx.op(table, id)?.is_some() {
                Step::Retry
            } else {
                Step::Done
            })
        }
        RecordDecision::Defer => {
            tx.save_conflict(&conflict)?;
            Ok(Step::Conflict)
        }
        RecordDecision::AbortPush => Ok(Step::Abort),
    }
}

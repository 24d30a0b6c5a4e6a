//! Push: send the queue to the server.
//!
//! Operations go in queue order, up to `max_in_flight` at a time (the queue holds one
//! entry per item, so two operations on one item are never in flight together). Each
//! operation is three steps: prepare (one transaction: count the attempt, read the row
//! as it is now), send, finish (one transaction). Between prepare and finish the app
//! may edit the item: the entry's revision tells, and the edit is kept.

use std::sync::Arc;

use std::collections::VecDeque;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

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
///
/// Sending and storing answers overlap: an operation gives back its place among the
/// `max_in_flight` as soon as its answer arrives, and the answers are stored by one
/// [`Finisher`] in group commits. So with one in flight the next operation is already
/// on the wire while the previous answer is being made durable, and a burst of answers
/// costs one commit, not one each. A crash in between loses nothing: an operation
/// whose answer was not stored stays queued, and re-sending something the server
/// already applied is recognized as a success (see [`same_data`]).
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
    // Operations whose answer is waiting to be stored do not count as in flight, but
    // they are bounded too, so a slow store slows the push down instead of piling up.
    let most_tasks = max + FINISH_BATCH;
    let wire = Arc::new(Semaphore::new(max));
    let finisher = Finisher::start(Arc::clone(inner));
    let mut prepared = Preparer::new(inner, ops, max);
    let mut tasks = JoinSet::new();
    let mut spare: Option<OwnedSemaphorePermit> = None;
    let mut fatal: Option<SyncError> = None;
    let mut done = 0;
    loop {
        let mut settled = None;
        while report.status == PushStatus::Complete
            && fatal.is_none()
            && !prepared.exhausted()
            && tasks.len() < most_tasks
        {
            let Some(permit) = spare
                .take()
                .or_else(|| Arc::clone(&wire).try_acquire_owned().ok())
            else {
                break;
            };
            let next = match prepared.next().await {
                Ok(Some(next)) => next,
                Ok(None) => break,
                Err(e) => {
                    fatal.get_or_insert(e);
                    break;
                }
            };
            match next {
                (op, p @ Prepared::Send(..)) => {
                    let (inner, finisher) = (Arc::clone(inner), finisher.clone());
                    tasks.spawn(async move {
                        let mut permit = Some(permit);
                        let outcome = push_one(inner, op, Some(p), &mut permit, finisher).await;
                        // Any outcome but a stored success keeps its place until the
                        // loop has seen it, so a stop or an abort is seen before the
                        // next operation goes out.
                        (outcome, permit)
                    });
                }
                // Finished without sending: counted like any other operation.
                (_, Prepared::Gone) => settled = Some(Outcome::Skipped),
                (_, Prepared::Abort) => settled = Some(Outcome::Aborted),
            }
            if settled.is_some() {
                break;
            }
        }
        let joined = match settled.take() {
            Some(outcome) => Ok((Ok(outcome), None)),
            None => {
                let may_send = report.status == PushStatus::Complete
                    && fatal.is_none()
                    && !prepared.exhausted()
                    && tasks.len() < most_tasks;
                tokio::select! {
                    biased;
                    Some(joined) = tasks.join_next() => joined,
                    permit = Arc::clone(&wire).acquire_owned(), if may_send && spare.is_none() => {
                        spare = permit.ok();
                        continue;
                    }
                    else => break,
                }
            }
        };
        done += 1;
        inner.emit(SyncEvent::PushProgress {
            done,
            total: report.total,
        });
        let outcome = match joined {
            Ok((Ok(o), _permit)) => o,
            Ok((Err(e), _permit)) => {
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

/// How many answers one group commit stores at most.
const FINISH_BATCH: usize = 256;

/// Operations prepared together, in queue order.
type Window = Vec<(Operation, Prepared)>;

/// Hands out prepared operations in queue order, preparing a window of them per
/// transaction, and the next window while the current one is being sent (so at most
/// two windows are counted as attempted ahead of their sending).
///
/// Counting the attempts of a window in one transaction costs one durable commit, not
/// one each. Counting before sending is the safe direction: an attempt counted but
/// never sent only means "maybe on the server", which turns a later insert + delete
/// into a delete that the server answers 404, a success.
struct Preparer<S, T> {
    inner: Arc<Inner<S, T>>,
    queue: std::vec::IntoIter<Operation>,
    window: usize,
    ready: VecDeque<(Operation, Prepared)>,
    /// The next window, being prepared. Dropped unused (the push stopped), it only
    /// counted attempts: harmless, as above.
    ahead: Option<JoinHandle<Result<Window, SyncError>>>,
    /// A window ended in an abort: nothing after it may be prepared.
    stopped: bool,
}

impl<S: Store, T: Transport> Preparer<S, T> {
    fn new(inner: &Arc<Inner<S, T>>, ops: Vec<Operation>, max_in_flight: usize) -> Self {
        Preparer {
            inner: Arc::clone(inner),
            queue: ops.into_iter(),
            window: (max_in_flight * 32).clamp(32, 256),
            ready: VecDeque::new(),
            ahead: None,
            stopped: false,
        }
    }

    fn exhausted(&self) -> bool {
        self.ready.is_empty() && self.ahead.is_none() && (self.stopped || self.queue.len() == 0)
    }

    /// The next operation, prepared.
    async fn next(&mut self) -> Result<Option<(Operation, Prepared)>, SyncError> {
        if self.ready.is_empty() {
            let window = match self.ahead.take() {
                Some(ahead) => ahead
                    .await
                    .map_err(|e| StoreError::Backend(format!("push task failed: {e}")))??,
                None => self.prepare_window().await?,
            };
            self.take(window);
        }
        let next = self.ready.pop_front();
        // Keep the next window one step ahead, so that its commit (and the commits of
        // stored answers it may wait behind) overlap the sending of this one.
        if self.ahead.is_none() && !self.stopped {
            let inner = Arc::clone(&self.inner);
            let batch = self.next_batch();
            if !batch.is_empty() {
                self.ahead = Some(tokio::spawn(async move {
                    inner.tx(move |tx| prepare_batch(tx, batch)).await
                }));
            }
        }
        Ok(next)
    }

    fn take(&mut self, window: Window) {
        if matches!(window.last(), Some((_, Prepared::Abort))) {
            self.stopped = true;
        }
        self.ready.extend(window);
    }

    async fn prepare_window(&mut self) -> Result<Window, SyncError> {
        if self.stopped {
            return Ok(Vec::new());
        }
        let batch = self.next_batch();
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.inner.tx(move |tx| prepare_batch(tx, batch)).await
    }

    fn next_batch(&mut self) -> Vec<(Operation, Option<resolve::Gate>)> {
        let inner = &self.inner;
        self.queue
            .by_ref()
            .take(self.window)
            .map(|op| {
                let gate = inner.entry(&op.table).and_then(|e| e.gate.clone());
                (op, gate)
            })
            .collect()
    }
}

/// Prepares a window of operations in the caller's transaction, stopping after an
/// abort (nothing after it is counted as sent).
fn prepare_batch(
    tx: &mut dyn StoreTx,
    batch: Vec<(Operation, Option<resolve::Gate>)>,
) -> Result<Window, SyncError> {
    let mut out = Vec::with_capacity(batch.len());
    for (op, gate) in batch {
        let p = prepare_one(tx, &op.table, &op.item_id, gate.as_ref())?;
        let abort = matches!(p, Prepared::Abort);
        out.push((op, p));
        if abort {
            break;
        }
    }
    Ok(out)
}

/// Stores accepted answers in group commits: every answer waiting when a commit starts
/// goes into it, so the store's durable commits do not limit the push's rate.
struct Finisher {
    jobs: mpsc::UnboundedSender<FinishJob>,
}

type FinishJob = (
    Operation,
    Option<Record>,
    oneshot::Sender<Result<(), SyncError>>,
);

impl Clone for Finisher {
    fn clone(&self) -> Self {
        Finisher {
            jobs: self.jobs.clone(),
        }
    }
}

impl Finisher {
    /// Starts the committing task; it ends when the last handle is dropped.
    fn start<S: Store, T: Transport>(inner: Arc<Inner<S, T>>) -> Finisher {
        let (jobs, mut rx) = mpsc::unbounded_channel::<FinishJob>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(FINISH_BATCH);
            while rx.recv_many(&mut batch, FINISH_BATCH).await > 0 {
                let mut replies = Vec::with_capacity(batch.len());
                let mut work = Vec::with_capacity(batch.len());
                for (op, copy, reply) in batch.drain(..) {
                    work.push((op, copy));
                    replies.push(reply);
                }
                let result = inner
                    .tx(move |tx| {
                        for (op, copy) in &work {
                            finish_success(tx, op, copy.as_ref())?;
                        }
                        Ok(())
                    })
                    .await;
                match result {
                    Ok(()) => {
                        for reply in replies {
                            let _ = reply.send(Ok(()));
                        }
                    }
                    Err(e) => {
                        // Nothing of this batch was stored; each operation stays queued.
                        let message = e.to_string();
                        let mut first = Some(e);
                        for reply in replies {
                            let e = first.take().unwrap_or_else(|| {
                                StoreError::Backend(format!(
                                    "storing the server's answer failed: {message}"
                                ))
                                .into()
                            });
                            let _ = reply.send(Err(e));
                        }
                    }
                }
            }
        });
        Finisher { jobs }
    }

    /// Stores one accepted answer; returns once it is durable.
    async fn finish(&self, op: Operation, copy: Option<Record>) -> Result<(), SyncError> {
        let (reply, answer) = oneshot::channel();
        let gone = || SyncError::from(StoreError::Backend("the push was cancelled".into()));
        self.jobs.send((op, copy, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
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
    let Some(mut op) = tx.op(table, id)? else {
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
    // What `mark_attempt` does, without reading the entry a second time.
    op.attempts += 1;
    tx.replace_op(&op)?;
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
    place: &mut Option<OwnedSemaphorePermit>,
    finisher: Finisher,
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
                // Accepted: the next operation may go out while this answer is stored.
                drop(place.take());
                finisher.finish(op, copy).await?;
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

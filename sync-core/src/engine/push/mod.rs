//! Push: send the queue to the server.
//!
//! A push lists the queue once, then `max_in_flight` lanes take batches from the list in
//! queue order (the queue holds one entry per item, so two operations on one item are
//! never in flight together). Each batch goes through the [`steps`]: prepare (one
//! transaction), send (one [`Transport::push_batch`]), finish (one transaction), and a
//! decision for each refusal. A batch's answers are stored in one commit, so group
//! commit is the batch itself: there is no timer, and nothing is prepared ahead of a
//! lane's need. Between prepare and finish the app may edit an item: the entry's
//! revision tells, and the edit is kept. After each commit that wrote local rows (a
//! batch's answers, a refusal's decision), the driver announces them
//! ([`ChangeCause::Push`]).

mod key;
mod steps;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::store::{ConflictKind, OpError, OpKind};
use crate::transport::{Transport, TransportError};

use super::{ChangeCause, Inner, SyncError, SyncEvent};
use crate::store::Store;
pub(crate) use steps::same_data;
use steps::{Finished, Outcome, Prepared, Refusal, Step, Task};

/// How a push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// How long the server asked to wait before trying again (a 429 or 503 with
    /// `Retry-After`), if it did.
    pub retry_after: Option<std::time::Duration>,
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

impl PushReport {
    /// Counts one operation's outcome. The first stop or abort gives the push its
    /// status.
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Pushed => self.pushed += 1,
            Outcome::Resolved => self.resolved += 1,
            Outcome::Conflict => self.conflicts += 1,
            Outcome::Failed(f) => self.failed.push(f),
            Outcome::Skipped => {}
            Outcome::Aborted => {
                if self.status == PushStatus::Complete {
                    self.status = PushStatus::Aborted;
                }
            }
            Outcome::Stop(e) => {
                if self.status == PushStatus::Complete {
                    self.status = match e {
                        TransportError::Unauthorized { .. } => PushStatus::AuthError(e.to_string()),
                        _ => PushStatus::NetworkError(e.to_string()),
                    };
                }
            }
        }
    }
}

/// Pushes the queue (of one table, or all).
pub(crate) async fn push<S: Store, T: Transport>(
    inner: &Arc<Inner<S, T>>,
    table: Option<String>,
) -> Result<PushReport, SyncError> {
    let span = tracing::debug_span!("push", table = table.as_deref().unwrap_or("*"));
    tracing::Instrument::instrument(drive(inner, table), span).await
}

async fn drive<S: Store, T: Transport>(
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
    let total = ops.len();
    inner.emit(SyncEvent::PushStarted { total });
    let lanes = inner.options.max_in_flight.max(1);
    let run = Run {
        inner,
        // An equal share of the push per lane, up to `max_batch`, so that every lane has
        // work to the end. With one lane, one: the queue then goes strictly one
        // operation at a time, so a handler that aborts the push leaves everything after
        // it unsent.
        share: if lanes == 1 {
            1
        } else {
            total
                .div_ceil(lanes)
                .clamp(1, inner.options.max_batch.max(1))
        },
        queue: Mutex::new(ops.into_iter().map(|op| Task { op, retry: 0 }).collect()),
        stop: AtomicBool::new(false),
        done: AtomicUsize::new(0),
        total,
        report: Mutex::new(PushReport {
            total,
            held,
            ..PushReport::default()
        }),
    };
    let ended = futures_util::future::join_all((0..lanes).map(|_| run.lane())).await;
    let report = run.report.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = ended.into_iter().find_map(Result::err) {
        tracing::debug!(error = %e, "push failed");
        return Err(e);
    }
    tracing::debug!(
        status = ?report.status,
        total = report.total,
        pushed = report.pushed,
        conflicts = report.conflicts,
        resolved = report.resolved,
        failed = report.failed.len(),
        held = report.held,
        "push finished"
    );
    inner.emit(SyncEvent::PushFinished {
        status: report.status.clone(),
    });
    Ok(report)
}

/// One push: what its lanes share.
struct Run<'a, S, T> {
    inner: &'a Arc<Inner<S, T>>,
    /// Operations a lane takes at once.
    share: usize,
    /// What no lane has taken yet, in queue order.
    queue: Mutex<VecDeque<Task>>,
    /// Set by a stop, an abort or a store failure: no lane takes another batch.
    stop: AtomicBool,
    done: AtomicUsize,
    total: usize,
    report: Mutex<PushReport>,
}

impl<S: Store, T: Transport> Run<'_, S, T> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Takes batches until the queue is empty or the push stops. A task a policy sends
    /// again goes out in the lane's next batch taken, on its own.
    ///
    /// A lane's first batch is prepared in a transaction of its own; every later one in
    /// the transaction that finishes the batch before it, so that a batch costs one
    /// commit, whatever its size. (Prepared but not sent, because the push stopped, it
    /// only counted attempts: harmless, see [`steps::prepare`].)
    async fn lane(&self) -> Result<(), SyncError> {
        let mut again = Vec::new();
        let mut ready = None;
        let result = loop {
            let prepared = match ready.take() {
                Some(prepared) => prepared,
                None => {
                    let tasks = self.take(&mut again);
                    if tasks.is_empty() {
                        break Ok(());
                    }
                    let inner = Arc::clone(self.inner);
                    match self
                        .inner
                        .tx(move |tx| steps::prepare(tx, tasks, |t| inner.entry(t)))
                        .await
                    {
                        Ok(prepared) => prepared,
                        Err(e) => break Err(e),
                    }
                }
            };
            match self.batch(prepared, &mut again).await {
                Ok(next) => ready = next,
                Err(e) => break Err(e),
            }
        };
        if result.is_err() {
            self.stop.store(true, Ordering::SeqCst);
        }
        result
    }

    /// The lane's next tasks: what a policy sends again, else its share of the queue;
    /// none once the push stopped.
    fn take(&self, again: &mut Vec<Task>) -> Vec<Task> {
        if self.stopped() {
            return Vec::new();
        }
        if !again.is_empty() {
            return std::mem::take(again);
        }
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let n = self.share.min(queue.len());
        queue.drain(..n).collect()
    }

    /// Sends one prepared batch and finishes it, preparing the lane's next batch in the
    /// same transaction; tasks to send again go to `again`.
    async fn batch(
        &self,
        prepared: Vec<Prepared>,
        again: &mut Vec<Task>,
    ) -> Result<Option<Vec<Prepared>>, SyncError> {
        let mut sends = Vec::with_capacity(prepared.len());
        for p in prepared {
            match p {
                Prepared::Send(send) => sends.push(send),
                Prepared::Gone => self.count(Outcome::Skipped),
                Prepared::Abort => self.count(Outcome::Aborted),
                Prepared::Failed(f) => self.count(Outcome::Failed(f)),
            }
        }
        if sends.is_empty() {
            return Ok(None);
        }
        let writes = steps::writes(&sends);
        let n = writes.len();
        let started = std::time::Instant::now();
        let results = self.inner.transport.push_batch(writes).await;
        tracing::debug!(
            writes = n,
            refused = results.iter().filter(|r| r.is_err()).count(),
            millis = started.elapsed().as_millis() as u64,
            "batch answered"
        );
        // A stop in this batch ends the push: nothing more is prepared.
        let next = match results
            .iter()
            .any(|r| r.as_ref().is_err_and(|e| e.stops_push()))
        {
            true => Vec::new(),
            false => self.take(again),
        };
        let inner = Arc::clone(self.inner);
        let (finished, touched, ready) = self
            .inner
            .tx(move |tx| {
                let (finished, touched) = steps::finish(tx, sends, results)?;
                let ready = steps::prepare(tx, next, |t| inner.entry(t))?;
                Ok((finished, touched, ready))
            })
            .await?;
        self.inner.announce(touched, ChangeCause::Push);
        for f in finished {
            match f {
                Finished::Done(outcome) => self.count(outcome),
                Finished::Refused(refusal) => {
                    if let Some(task) = self.refused(refusal).await? {
                        again.push(task);
                    }
                }
            }
        }
        Ok((!ready.is_empty() && !self.stopped()).then_some(ready))
    }

    /// Decides a refusal; a task when a policy re-queued the item to send again.
    async fn refused(&self, refusal: Refusal) -> Result<Option<Task>, SyncError> {
        let Refusal { send, remote } = refusal;
        let (table, id) = (send.op.table.clone(), send.op.item_id.clone());
        let remote = match remote {
            Some(remote) => remote,
            // Microsoft's server echoes the request on a 409: ask for the real copy.
            None => match self.inner.transport.get(&table, &id).await {
                Ok(copy) => copy,
                Err(e) if e.stops_push() => {
                    self.count(Outcome::Stop(e));
                    return Ok(None);
                }
                Err(e) => {
                    let error = OpError {
                        status: e.status(),
                        message: format!("conflict, and the server copy could not be read: {e}"),
                        server_copy: None,
                    };
                    let op = send.op;
                    let failure = self.inner.tx(move |tx| steps::fail(tx, op, error)).await?;
                    self.count(Outcome::Failed(failure));
                    return Ok(None);
                }
            },
        };
        let retry = send.retry;
        let may_resolve = retry < self.inner.options.max_conflict_retries;
        let decide = send.entry.as_ref().map(|e| Arc::clone(&e.decide));
        let (step, touched, send) = self
            .inner
            .tx(move |tx| {
                let (step, touched) =
                    steps::on_conflict(tx, &send, remote, decide.as_ref(), may_resolve)?;
                Ok((step, touched, send))
            })
            .await?;
        self.inner.announce(touched, ChangeCause::Push);
        match step {
            Step::Success => self.count(Outcome::Pushed),
            Step::Done => self.count(Outcome::Resolved),
            Step::Abort => self.count(Outcome::Aborted),
            Step::Conflict => {
                self.inner.emit(SyncEvent::ConflictFound {
                    table,
                    id,
                    kind: ConflictKind::Push,
                });
                self.count(Outcome::Conflict);
            }
            Step::Retry => {
                return Ok(Some(Task {
                    op: send.op,
                    retry: retry + 1,
                }));
            }
        }
        Ok(None)
    }

    /// Counts an operation's outcome, tells the app, and stops the push on a stop or
    /// an abort (no lane takes another batch).
    fn count(&self, outcome: Outcome) {
        match &outcome {
            Outcome::Stop(_) | Outcome::Aborted => self.stop.store(true, Ordering::SeqCst),
            Outcome::Failed(f) => self.inner.emit(SyncEvent::OperationFailed {
                table: f.table.clone(),
                id: f.id.clone(),
                message: f.error.message.clone(),
            }),
            _ => {}
        }
        self.report
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .count(outcome);
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        self.inner.emit(SyncEvent::PushProgress {
            done,
            total: self.total,
        });
    }
}

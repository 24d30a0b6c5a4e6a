//! Push: send the queue to the server.
//!
//! Operations go in queue order, up to `max_in_flight` at a time (the queue holds one
//! entry per item, so two operations on one item are never in flight together). Each
//! operation is three steps: prepare (count the attempt, read the row as it is now;
//! a window of operations per transaction), send, finish (store the answer; every
//! answer waiting at that moment in one transaction). Between prepare and finish the
//! app may edit the item: the entry's revision tells, and the edit is kept.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

use crate::model::{Record, SystemColumn, TableSchema, normalize};
use crate::store::{
    ConflictKind, OpError, OpKind, Operation, Store, StoreError, StoreTx, StoredConflict,
};
use crate::transport::{BatchWrite, Transport, TransportError, Write, WriteResult};

use super::resolve::{self, RecordDecision, fit, fit_remote, settle, settle_with, stored_schema};
use super::{Inner, SyncError, SyncEvent, outgoing};

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
/// Each of the `max_in_flight` places is a [`lane`]: it takes the next prepared
/// operation, sends it, hands an accepted answer to the [`Finisher`] and goes on. The
/// finisher stores answers in group commits. So with one in flight the next operation
/// is already on the wire while the previous answer is being made durable, and a burst
/// of answers costs one commit, not one each. A crash in between loses nothing: an
/// operation whose answer was not stored stays queued, and re-sending something the
/// server already applied is recognized as a success (see [`same_data`]).
pub(crate) async fn push<S: Store, T: Transport>(
    inner: &Arc<Inner<S, T>>,
    table: Option<String>,
) -> Result<PushReport, SyncError> {
    // The push runs as a task of its own, so that its hand-offs with the lanes stay
    // among the runtime's workers whatever thread awaits the push (a thread blocked in
    // `block_on` would be woken for every operation's outcome). Dropping the push
    // aborts it, as it would abort an inline loop.
    let inner = Arc::clone(inner);
    let span = tracing::debug_span!("push", table = table.as_deref().unwrap_or("*"));
    let task = Aborting(tokio::spawn(tracing::Instrument::instrument(
        async move { drive(&inner, table).await },
        span,
    )));
    task.await
        .map_err(|e| SyncError::from(StoreError::Backend(format!("push task failed: {e}"))))?
}

/// A task that is aborted when its handle is dropped.
struct Aborting<R>(JoinHandle<R>);

impl<R> std::future::Future for Aborting<R> {
    type Output = Result<R, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<R> Drop for Aborting<R> {
    fn drop(&mut self) {
        self.0.abort();
    }
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
    let mut report = PushReport {
        total: ops.len(),
        held,
        ..PushReport::default()
    };
    inner.emit(SyncEvent::PushStarted {
        total: report.total,
    });
    let max = inner.options.max_in_flight.max(1);
    let (events, mut outcomes) = mpsc::unbounded_channel();
    let share = if max == 1 {
        1
    } else {
        ops.len()
            .div_ceil(max)
            .clamp(1, inner.options.max_batch.max(1))
    };
    let shared = Arc::new(Lanes {
        share,
        preparer: tokio::sync::Mutex::new(Preparer::new(inner, ops, max)),
        stop: AtomicBool::new(false),
    });
    let (finisher, finishing) = Finisher::start(Arc::clone(inner), events.clone());
    let mut lanes = JoinSet::new();
    for _ in 0..max {
        let (inner, shared, finisher, events) = (
            Arc::clone(inner),
            Arc::clone(&shared),
            finisher.clone(),
            events.clone(),
        );
        lanes.spawn(tracing::Instrument::in_current_span(lane(
            inner, shared, finisher, events,
        )));
    }
    // The lanes and the finisher hold the senders: the channel ends with the last.
    drop((events, finisher));
    let mut fatal: Option<SyncError> = None;
    let mut done = 0;
    while let Some(event) = outcomes.recv().await {
        let outcome = match event {
            Ok(outcome) => outcome,
            Err(e) => {
                shared.stop.store(true, Ordering::SeqCst);
                fatal.get_or_insert(e);
                continue;
            }
        };
        done += 1;
        inner.emit(SyncEvent::PushProgress {
            done,
            total: report.total,
        });
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
    while let Some(joined) = lanes.join_next().await {
        if let Err(e) = joined {
            fatal.get_or_insert(StoreError::Backend(format!("push task failed: {e}")).into());
        }
    }
    // The events channel closed, so the finisher is done. Had it failed (a panic), the
    // answers it held were not stored, and the push must not look complete; its failure
    // is the cause to report (the lanes only saw their hand-over refused).
    if let Err(e) = finishing.await {
        fatal = Some(StoreError::Backend(format!("push task failed: {e}")).into());
    }
    if let Some(e) = fatal {
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

/// What the lanes of one push share.
struct Lanes<S, T> {
    preparer: tokio::sync::Mutex<Preparer<S, T>>,
    /// Operations a lane hands the transport at once: an equal share of the push per
    /// lane, up to `max_batch`, so that every lane has work to the end. With one lane,
    /// one: the queue then goes strictly one operation at a time, so a conflict handler
    /// that aborts the push leaves everything after the conflict unsent.
    share: usize,
    /// Set by a stop, an abort or a store failure: no lane starts another operation.
    stop: AtomicBool,
}

/// What a lane or the finisher tells the push: one operation's outcome, or a failure
/// of the store that ends the push.
type Event = Result<Outcome, SyncError>;

/// One of the `max_in_flight` places: takes the next prepared operation, sends it,
/// hands an accepted answer to the finisher, and goes on with the next, without
/// waiting for the answer to be stored or for the push loop to look.
async fn lane<S: Store, T: Transport>(
    inner: Arc<Inner<S, T>>,
    shared: Arc<Lanes<S, T>>,
    finisher: Finisher,
    events: mpsc::UnboundedSender<Event>,
) {
    let stopped = || shared.stop.load(Ordering::SeqCst);
    let share = shared.share;
    while !stopped() {
        // The operations this lane sends together (see `Lanes::share`).
        let taken = {
            let mut preparer = shared.preparer.lock().await;
            if stopped() {
                break;
            }
            let mut taken = Vec::with_capacity(share);
            while taken.len() < share {
                match preparer.next().await {
                    Ok(None) => break,
                    Ok(Some(next)) => {
                        let last = !matches!(next.1, Prepared::Send(..));
                        taken.push(Ok(next));
                        if last {
                            break;
                        }
                    }
                    Err(e) => {
                        taken.push(Err(e));
                        break;
                    }
                }
            }
            taken
        };
        if taken.is_empty() {
            break;
        }
        let mut sends = Vec::new();
        let mut others = Vec::new();
        for t in taken {
            match t {
                Ok((listed, Prepared::Send(op, row))) => sends.push((listed, op, row)),
                Ok((_, Prepared::Gone)) => others.push(Ok(Outcome::Skipped)),
                Ok((_, Prepared::Abort)) => others.push(Ok(Outcome::Aborted)),
                Err(e) => others.push(Err(e)),
            }
        }
        let mut outcomes = send_batch(&inner, sends, &finisher).await;
        outcomes.extend(others);
        for outcome in outcomes {
            // A stop, an abort or a failure is known to every lane before this one (or
            // any other) takes another operation.
            if matches!(outcome, Ok(Outcome::Stop(_) | Outcome::Aborted) | Err(_)) {
                shared.stop.store(true, Ordering::SeqCst);
            }
            if events.send(outcome).is_err() {
                return;
            }
        }
    }
}

/// Sends prepared operations as one [`Transport::push_batch`], then deals with each
/// answer as [`push_one`] does. The outcomes the finisher does not report, in order.
async fn send_batch<S: Store, T: Transport>(
    inner: &Arc<Inner<S, T>>,
    sends: Vec<(Operation, Operation, Option<Record>)>, // listed, prepared, row
    finisher: &Finisher,
) -> Vec<Event> {
    let mut outcomes = Vec::new();
    let mut writes = Vec::with_capacity(sends.len());
    let mut sent = Vec::with_capacity(sends.len());
    for (listed, op, row) in sends {
        let entry = inner.entry(&op.table);
        let item = row
            .as_ref()
            .map(|r| outgoing(entry.as_ref().map(|e| &e.schema), r));
        let write = match (op.kind, item) {
            (OpKind::Insert, Some(item)) => Write::Insert { item },
            (OpKind::Update, Some(item)) => Write::Update {
                item,
                expected_version: op.version.clone(),
            },
            (OpKind::Delete, _) => Write::Delete {
                id: op.item_id.clone(),
                expected_version: op.version.clone(),
            },
            (OpKind::Insert | OpKind::Update, None) => {
                // A queued write whose row is gone cannot be sent; say so, keep the op.
                let error = OpError {
                    status: None,
                    message: "the local row of this operation is missing".into(),
                    server_copy: None,
                };
                outcomes.push(record_failure(inner, op, error).await);
                continue;
            }
        };
        writes.push(BatchWrite::new(
            op_key(&op, &write),
            op.table.clone(),
            write,
        ));
        sent.push((listed, Prepared::Send(op, row)));
    }
    if writes.is_empty() {
        return outcomes;
    }
    let n = writes.len();
    let started = std::time::Instant::now();
    let results = {
        let _on_the_wire = OnTheWire::new(&finisher.sending);
        inner.transport.push_batch(writes).await
    };
    tracing::debug!(
        writes = n,
        refused = results.iter().filter(|r| r.is_err()).count(),
        millis = started.elapsed().as_millis() as u64,
        "batch answered"
    );
    let mut results = results.into_iter();
    for (listed, prepared) in sent {
        let result = results.next().unwrap_or_else(|| {
            Err(TransportError::Malformed {
                message: "the transport answered fewer writes than it was given".into(),
            })
        });
        match push_one(
            Arc::clone(inner),
            listed,
            Some(prepared),
            finisher,
            Some(result),
        )
        .await
        {
            Ok(None) => {} // the finisher reports it
            Ok(Some(outcome)) => outcomes.push(Ok(outcome)),
            Err(e) => outcomes.push(Err(e)),
        }
    }
    outcomes
}

/// The idempotency key of an operation as sent: the same entry at the same revision
/// sending the same write has the same key (so a re-send after a lost answer is
/// recognized by a server that records keys); anything else a different one, even
/// should a queue sequence number be reused.
fn op_key(op: &Operation, write: &Write) -> String {
    let mut h = Fnv128::default();
    h.text(&op.table);
    h.text(&op.item_id);
    h.bytes(&op.seq.to_le_bytes());
    h.bytes(&op.revision.to_le_bytes());
    match write {
        Write::Insert { item } => {
            h.text("insert");
            let _ = write!(h, "{item:?}");
        }
        Write::Update {
            item,
            expected_version,
        } => {
            h.text("update");
            h.text(expected_version.as_deref().unwrap_or(""));
            let _ = write!(h, "{item:?}");
        }
        Write::Delete {
            expected_version, ..
        } => {
            h.text("delete");
            h.text(expected_version.as_deref().unwrap_or(""));
        }
    }
    format!("ts1-{:032x}", h.0)
}

/// FNV-1a, 128 bits: stable across builds and runs (std's hashers promise neither),
/// and a few lines; a key needs no cryptographic strength, only to differ.
struct Fnv128(u128);

impl std::fmt::Write for Fnv128 {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

impl Default for Fnv128 {
    fn default() -> Self {
        Fnv128(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d)
    }
}

impl Fnv128 {
    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u128::from(*b);
            self.0 = self
                .0
                .wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
        }
    }

    /// A string, delimited so that ("ab", "c") and ("a", "bc") differ. (What is
    /// written through `fmt::Write` is hashed as it comes, undelimited: one such write
    /// per key, last.)
    fn text(&mut self, s: &str) {
        self.bytes(&(s.len() as u64).to_le_bytes());
        self.bytes(s.as_bytes());
    }
}

/// How many answers one group commit stores at most.
const FINISH_BATCH: usize = 256;

/// How long a group commit waits for more answers while operations are on the wire.
/// With one in flight, answers come one at a time: without the wait, each would cost a
/// durable commit (an fsync) and a trip to the blocking pool. An answer waiting to be
/// stored is safe (a crash only means the operation is sent again, and a re-send the
/// server already applied is recognized), and the lanes never wait for it.
const FINISH_LINGER: std::time::Duration = std::time::Duration::from_millis(2);

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
        let p = prepare_one(tx, &op.table, &op.item_id, Some(&op), gate.as_ref())?;
        let abort = matches!(p, Prepared::Abort);
        out.push((op, p));
        if abort {
            break;
        }
    }
    Ok(out)
}

/// Stores accepted answers in group commits: every answer waiting when a commit starts
/// goes into it, so the store's durable commits do not limit the push's rate. Each
/// operation's outcome is reported once its answer is stored.
struct Finisher {
    jobs: mpsc::UnboundedSender<FinishJob>,
    /// Bounds the answers waiting to be stored, so a slow store slows the push down
    /// instead of piling answers up.
    room: Arc<Semaphore>,
    /// Operations on the wire now: while there are some, more answers are coming and a
    /// group commit may wait a moment for them.
    sending: Arc<AtomicUsize>,
}

/// Counts an operation as on the wire while it lives.
struct OnTheWire<'a>(&'a AtomicUsize);

impl<'a> OnTheWire<'a> {
    fn new(sending: &'a AtomicUsize) -> Self {
        sending.fetch_add(1, Ordering::SeqCst);
        OnTheWire(sending)
    }
}

impl Drop for OnTheWire<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct FinishJob {
    op: Operation,
    copy: Option<Record>,
    outcome: Outcome,
    _room: OwnedSemaphorePermit,
}

impl Clone for Finisher {
    fn clone(&self) -> Self {
        Finisher {
            jobs: self.jobs.clone(),
            room: Arc::clone(&self.room),
            sending: Arc::clone(&self.sending),
        }
    }
}

impl Finisher {
    /// Starts the committing task; it ends when the last handle is dropped. Its own
    /// handle is returned, so that the push can tell if it failed (a panic).
    fn start<S: Store, T: Transport>(
        inner: Arc<Inner<S, T>>,
        events: mpsc::UnboundedSender<Event>,
    ) -> (Finisher, JoinHandle<()>) {
        let (jobs, mut rx) = mpsc::unbounded_channel::<FinishJob>();
        let sending = Arc::new(AtomicUsize::new(0));
        let on_the_wire = Arc::clone(&sending);
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(FINISH_BATCH);
            while rx.recv_many(&mut batch, FINISH_BATCH).await > 0 {
                // Let the answers of the operations on the wire join this commit. The
                // task sleeps rather than waits on the channel, so that each answer
                // handed over meanwhile does not wake it (and, often, another thread).
                if batch.len() < FINISH_BATCH && on_the_wire.load(Ordering::SeqCst) > 0 {
                    tokio::time::sleep(FINISH_LINGER).await;
                    while batch.len() < FINISH_BATCH {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                }
                let work: Vec<_> = batch
                    .drain(..)
                    .map(|j| (j.op, j.copy, j.outcome, j._room))
                    .collect();
                // Relaxed: a power loss that undoes it means these operations are sent
                // again, and the server's replies to the re-sends are recognized (an
                // item edited meanwhile may come back as a conflict; nothing is lost).
                let result = inner
                    .tx_relaxed(move |tx| {
                        let mut schemas = Schemas::default();
                        for (op, copy, _, _) in &work {
                            finish_success_with(tx, &mut schemas, op, copy.as_ref())?;
                        }
                        Ok(work)
                    })
                    .await;
                match result {
                    Ok(work) => {
                        for (_, _, outcome, _) in work {
                            let _ = events.send(Ok(outcome));
                        }
                    }
                    // Nothing of this batch was stored; each operation stays queued.
                    Err(e) => {
                        let _ = events.send(Err(e));
                    }
                }
            }
        });
        let finisher = Finisher {
            jobs,
            room: Arc::new(Semaphore::new(FINISH_BATCH * 2)),
            sending,
        };
        (finisher, task)
    }

    /// Hands over an accepted answer, to be stored and then reported as `outcome`.
    async fn finish(
        &self,
        op: Operation,
        copy: Option<Record>,
        outcome: Outcome,
    ) -> Result<(), SyncError> {
        let gone = || SyncError::from(StoreError::Backend("the push was cancelled".into()));
        let room = Arc::clone(&self.room)
            .acquire_owned()
            .await
            .map_err(|_| gone())?;
        self.jobs
            .send(FinishJob {
                op,
                copy,
                outcome,
                _room: room,
            })
            .map_err(|_| gone())
    }
}

/// The prepare step of one operation, in the caller's transaction: the queue may have
/// changed since the push listed it; the app's handler sees the operation before it is
/// counted as sent; then the attempt is counted and the row read as it is now. `listed`
/// is the entry as the push listed it, a hint for the store.
fn prepare_one(
    tx: &mut dyn StoreTx,
    table: &str,
    id: &str,
    listed: Option<&Operation>,
    gate: Option<&resolve::Gate>,
) -> Result<Prepared, SyncError> {
    if tx.conflict(table, id)?.is_some() {
        return Ok(Prepared::Gone);
    }
    let Some(gate) = gate else {
        // No handler to ask first: count the attempt and read the entry in one step.
        let counted = match listed {
            Some(listed) => tx.count_attempt_listed(listed)?,
            None => tx.count_attempt(table, id)?,
        };
        let Some(op) = counted else {
            return Ok(Prepared::Gone);
        };
        let row = current_row(tx, &op)?;
        return Ok(Prepared::Send(op, row));
    };
    let Some(mut op) = tx.op(table, id)? else {
        return Ok(Prepared::Gone);
    };
    let row = current_row(tx, &op)?;
    if !gate(op.kind, row.as_ref())? {
        return Ok(Prepared::Abort);
    }
    // What `count_attempt` does, without reading the entry a second time.
    op.attempts = op.attempts.saturating_add(1);
    tx.replace_op(&op)?;
    Ok(Prepared::Send(op, row))
}

/// The row an operation sends: the item as it is now (none for a delete).
fn current_row(tx: &mut dyn StoreTx, op: &Operation) -> Result<Option<Record>, SyncError> {
    Ok(match op.kind {
        OpKind::Delete => None,
        OpKind::Insert | OpKind::Update => tx.get(&op.table, &op.item_id)?,
    })
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

/// Sends one operation and deals with its answer. An accepted answer goes to the
/// finisher, which reports the outcome once it is stored (`None` here); any other
/// outcome is returned.
async fn push_one<S: Store, T: Transport>(
    inner: Arc<Inner<S, T>>,
    op: Operation,
    mut first: Option<Prepared>,
    finisher: &Finisher,
    mut answered: Option<WriteResult>,
) -> Result<Option<Outcome>, SyncError> {
    let (table, id) = (op.table.clone(), op.item_id.clone());
    let entry = inner.entry(&table);
    let retries = inner.options.max_conflict_retries;
    for attempt in 0..=retries {
        let prepared = match first.take() {
            Some(p) => p,
            None => {
                let (t, i) = (table.clone(), id.clone());
                let gate = entry.as_ref().and_then(|e| e.gate.clone());
                inner
                    .tx(move |tx| prepare_one(tx, &t, &i, None, gate.as_ref()))
                    .await?
            }
        };
        let (op, row) = match prepared {
            Prepared::Send(op, row) => (op, row),
            Prepared::Gone => return Ok(Some(Outcome::Skipped)),
            Prepared::Abort => return Ok(Some(Outcome::Aborted)),
        };
        // What is sent; made again from the row if the answer is a refusal (rare), so
        // that an accepted operation costs no copy of it.
        let sent = || {
            row.as_ref()
                .map(|r| outgoing(entry.as_ref().map(|e| &e.schema), r))
        };
        let transport = &inner.transport;
        let on_the_wire = OnTheWire::new(&finisher.sending);
        let result = match (answered.take(), op.kind, sent()) {
            // The first attempt's answer, from a batch.
            (Some(result), _, _) => result,
            (None, kind, sent) => match (kind, sent) {
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
                    drop(on_the_wire);
                    return record_failure(&inner, op, error).await.map(Some);
                }
            },
        };
        drop(on_the_wire);
        let err = match result {
            Ok(copy) => {
                // Accepted: the next operation goes out while this answer is stored.
                let outcome = if attempt == 0 {
                    Outcome::Pushed
                } else {
                    Outcome::Resolved
                };
                finisher.finish(op, copy, outcome).await?;
                return Ok(None);
            }
            Err(e) => e,
        };
        // A delete of something already gone did what it was meant to.
        if op.kind == OpKind::Delete && err == TransportError::NotFound {
            inner.tx(move |tx| finish_success(tx, &op, None)).await?;
            return Ok(Some(Outcome::Pushed));
        }
        let remote_deleted = op.kind == OpKind::Update && err == TransportError::NotFound;
        if !err.is_conflict() && !remote_deleted {
            if err.stops_push() {
                return Ok(Some(Outcome::Stop(err)));
            }
            let error = OpError {
                status: err.status(),
                message: err.to_string(),
                server_copy: err.server_copy().cloned(),
            };
            return record_failure(&inner, op, error).await.map(Some);
        }
        let remote = if remote_deleted {
            None
        } else {
            match err.server_copy() {
                Some(copy) => Some(copy.clone()),
                // The reference server echoes the request on a 409: ask for the real copy.
                None => match transport.get(&table, &id).await {
                    Ok(copy) => copy,
                    Err(e) if e.stops_push() => return Ok(Some(Outcome::Stop(e))),
                    Err(e) => {
                        let error = OpError {
                            status: e.status(),
                            message: format!(
                                "conflict, and the server copy could not be read: {e}"
                            ),
                            server_copy: None,
                        };
                        return record_failure(&inner, op, error).await.map(Some);
                    }
                },
            }
        };
        let decide = entry.as_ref().map(|e| Arc::clone(&e.decide));
        let may_resolve = attempt < retries;
        let sent = sent();
        let step = inner
            .tx(move |tx| on_conflict(tx, &op, sent.as_ref(), remote, decide, may_resolve))
            .await?;
        match step {
            Step::Success => return Ok(Some(Outcome::Pushed)),
            Step::Retry => continue,
            Step::Done => return Ok(Some(Outcome::Resolved)),
            Step::Abort => return Ok(Some(Outcome::Aborted)),
            Step::Conflict => {
                inner.emit(SyncEvent::ConflictFound {
                    table: table.clone(),
                    id: id.clone(),
                    kind: ConflictKind::Push,
                });
                return Ok(Some(Outcome::Conflict));
            }
        }
    }
    Ok(Some(Outcome::Skipped))
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
    finish_success_with(tx, &mut Schemas::default(), sent, server_copy)
}

/// The stored schemas of the tables a transaction has settled items of, each read once.
#[derive(Default)]
struct Schemas(Vec<(String, TableSchema)>);

impl Schemas {
    fn of(&mut self, tx: &mut dyn StoreTx, table: &str) -> Result<&TableSchema, SyncError> {
        let at = match self.0.iter().position(|(t, _)| t == table) {
            Some(at) => at,
            None => {
                self.0.push((table.to_owned(), stored_schema(tx, table)?));
                self.0.len() - 1
            }
        };
        Ok(&self.0[at].1)
    }
}

/// [`finish_success`], with the schemas the caller's transaction has read so far.
fn finish_success_with(
    tx: &mut dyn StoreTx,
    schemas: &mut Schemas,
    sent: &Operation,
    server_copy: Option<&Record>,
) -> Result<(), SyncError> {
    let (table, id) = (sent.table.as_str(), sent.item_id.as_str());
    // An accepted delete leaves nothing, whatever row the answer carries (a server that
    // deletes hard may answer with the row as it was).
    let copy = server_copy.filter(|r| sent.kind != OpKind::Delete && !r.is_deleted());
    // The entry as it was sent: done.
    if tx.remove_op_at(table, id, sent.seq, sent.revision)? {
        let schema = match copy {
            Some(_) => Some(schemas.of(tx, table)?),
            None => None,
        };
        settle_with(tx, schema, table, id, copy)?;
        return Ok(());
    }
    match tx.op(table, id)? {
        Some(mut current) => {
            // Edited while in flight (or queued anew): the edit and its queue entry
            // stay; only the server's new version is learned, so the next push is not
            // a false conflict.
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
                let base = fit_remote(&stored_schema(tx, table)?, c);
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
        // Already finished (a pull found the server holding our change).
        None => settle(tx, table, id, copy)?,
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
    tracing::debug!(table, id, kind = ?op.kind, "push conflict");
    let mut conflict = StoredConflict::new(table, id, ConflictKind::Push);
    conflict.local = match op.kind {
        OpKind::Delete => None,
        OpKind::Insert | OpKind::Update => tx.get(table, id)?,
    };
    conflict.remote = match &remote {
        Some(r) => Some(fit_remote(&stored_schema(tx, table)?, r)),
        None => None,
    };
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

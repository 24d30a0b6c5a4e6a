//! The steps of a push, each a plain function over one store transaction: no runtime,
//! no timers, no transport. The driver in [`super`] runs them in this order for every
//! batch of operations:
//!
//! 1. [`prepare`] (one transaction): drop what is no longer queued or is held by a
//!    conflict, ask the app's handler, count the attempt, read each row as it is now;
//! 2. [`writes`]: what goes on the wire, each write with its idempotency key;
//! 3. the transport sends the batch (the only step that is not a function here);
//! 4. [`finish`] (one transaction): store every accepted answer, record every
//!    rejection, and hand back the refusals (409, 412, an update of a row the server
//!    deleted) that need a decision;
//! 5. [`on_conflict`] (one transaction per refusal): a re-send the server already had
//!    is a success; otherwise the table's policy resolves it, defers it as a stored
//!    conflict, or aborts the push.
//!
//! Steps 4 and 5 also hand back the local rows they wrote ([`Touched`]): the driver
//! announces them once the transaction committed, never from inside it.
//!
//! A crash between any two steps loses nothing: an operation whose answer was not
//! stored stays queued and is sent again with the same key, and a server that
//! remembers keys (ours) answers with the recorded result; one that does not
//! (Microsoft's) refuses the re-send, and [`on_conflict`] recognizes its own write.

use std::sync::Arc;

use crate::model::{Record, SystemColumn, TableSchema, normalize};
use crate::store::{ConflictKind, OpError, OpKind, Operation, StoreError, StoreTx, StoredConflict};
use crate::transport::{BatchWrite, TransportError, Write, WriteResult};

use super::super::resolve::{
    self, Decider, RecordDecision, fit, fit_remote, settle, settle_with, stored_schema,
};
use super::super::{SyncError, TableEntry, Touched, outgoing};
use super::OperationFailure;
use super::key::op_key;

/// An operation the push set out to send, and how many times a policy has resolved a
/// conflict of it during this push (0: the first send).
#[derive(Debug, Clone)]
pub(super) struct Task {
    pub(super) op: Operation,
    pub(super) retry: u32,
}

/// A prepared operation: counted as attempted, with what it sends and the table's
/// registration (how a row goes on the wire).
pub(super) struct Send {
    pub(super) op: Operation,
    pub(super) payload: Payload,
    pub(super) retry: u32,
    pub(super) entry: Option<Arc<TableEntry>>,
}

/// What an operation sends: the item's row as it was when the operation was prepared.
pub(super) enum Payload {
    Insert(Record),
    Update(Record),
    Delete,
}

impl Send {
    /// What is sent for this operation's row (made again on a refusal, so that an
    /// accepted operation costs no copy of it).
    fn item(&self) -> Option<Record> {
        match &self.payload {
            Payload::Insert(row) | Payload::Update(row) => {
                Some(outgoing(self.entry.as_ref().map(|e| &e.schema), row))
            }
            Payload::Delete => None,
        }
    }
}

/// What [`prepare`] made of one task.
pub(super) enum Prepared {
    Send(Send),
    /// No longer queued, or held back by a conflict stored since the push listed it.
    Gone,
    /// The handler said no: nothing after this is sent.
    Abort,
    /// Cannot be sent (its local row is missing); its error is recorded.
    Failed(OperationFailure),
}

/// Step 1, in one transaction: prepares tasks in order, stopping after an abort (what
/// comes after it is not counted as attempted). `entry` looks up a table's registration.
///
/// Counting the attempt before sending is the safe direction: an attempt counted but
/// never sent only means "maybe on the server", which turns a later insert + delete
/// into a delete that the server answers 404, a success.
pub(super) fn prepare(
    tx: &mut dyn StoreTx,
    tasks: Vec<Task>,
    entry: impl Fn(&str) -> Option<Arc<TableEntry>>,
) -> Result<Vec<Prepared>, SyncError> {
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        let entry = entry(&task.op.table);
        let p = prepare_one(tx, task, entry)?;
        let abort = matches!(p, Prepared::Abort);
        out.push(p);
        if abort {
            break;
        }
    }
    Ok(out)
}

fn prepare_one(
    tx: &mut dyn StoreTx,
    task: Task,
    entry: Option<Arc<TableEntry>>,
) -> Result<Prepared, SyncError> {
    let (table, id) = (task.op.table.as_str(), task.op.item_id.as_str());
    if tx.conflict(table, id)?.is_some() {
        return Ok(Prepared::Gone);
    }
    // The queue may have changed since the push listed it: go by the entry as it is.
    let Some(mut op) = tx.op(table, id)? else {
        return Ok(Prepared::Gone);
    };
    let row = match op.kind {
        OpKind::Delete => None,
        OpKind::Insert | OpKind::Update => tx.get(table, id)?,
    };
    if let Some(gate) = entry.as_ref().and_then(|e| e.gate.as_ref())
        && !gate(op.kind, row.as_ref())?
    {
        return Ok(Prepared::Abort);
    }
    op.attempts = op.attempts.saturating_add(1);
    tx.replace_op(&op)?;
    let payload = match (op.kind, row) {
        (OpKind::Insert, Some(row)) => Payload::Insert(row),
        (OpKind::Update, Some(row)) => Payload::Update(row),
        (OpKind::Delete, _) => Payload::Delete,
        (OpKind::Insert | OpKind::Update, None) => {
            let error = OpError {
                status: None,
                message: "the local row of this operation is missing".into(),
                server_copy: None,
            };
            return fail(tx, op, error).map(Prepared::Failed);
        }
    };
    Ok(Prepared::Send(Send {
        op,
        payload,
        retry: task.retry,
        entry,
    }))
}

/// Step 2: the writes of prepared operations, in order, each with its idempotency key.
pub(super) fn writes(sends: &[Send]) -> Vec<BatchWrite> {
    sends
        .iter()
        .map(|s| {
            let op = &s.op;
            let schema = s.entry.as_ref().map(|e| &e.schema);
            let write = match &s.payload {
                Payload::Insert(row) => Write::Insert {
                    item: outgoing(schema, row),
                },
                Payload::Update(row) => Write::Update {
                    item: outgoing(schema, row),
                    expected_version: op.version.clone(),
                },
                Payload::Delete => Write::Delete {
                    id: op.item_id.clone(),
                    expected_version: op.version.clone(),
                },
            };
            BatchWrite::new(op_key(op, &write), op.table.clone(), write)
        })
        .collect()
}

/// How one sent operation ended.
pub(super) enum Outcome {
    /// Accepted (the first send, or a re-send the server already had).
    Pushed,
    /// Accepted after a policy resolved a conflict, or the policy took the server's side.
    Resolved,
    /// Stored as a conflict for the app.
    Conflict,
    /// Rejected; kept queued with its error.
    Failed(OperationFailure),
    /// The server could not be reached or refused our credentials: the push stops.
    Stop(TransportError),
    /// A handler aborted the push.
    Aborted,
    /// Not sent: no longer queued, or held by a conflict.
    Skipped,
}

/// A refusal that needs a decision ([`on_conflict`]).
pub(super) struct Refusal {
    pub(super) send: Send,
    /// The server's copy: `Some(None)` when the server has no row (an update of a row it
    /// deleted), `None` when the answer did not carry it (Microsoft's server echoes the
    /// request on a 409): the driver then asks for it.
    pub(super) remote: Option<Option<Record>>,
}

/// What [`finish`] made of one answer.
pub(super) enum Finished {
    Done(Outcome),
    Refused(Refusal),
}

/// Step 4, in one transaction: stores the answers of one batch. `results` holds one
/// result per send, in order (a transport that answers fewer is malformed: the rest are
/// failures). Also hands back the local rows the answers changed.
pub(super) fn finish(
    tx: &mut dyn StoreTx,
    sends: Vec<Send>,
    results: Vec<WriteResult>,
) -> Result<(Vec<Finished>, Touched), SyncError> {
    let mut schemas = Schemas::default();
    let mut touched = Touched::default();
    let mut results = results.into_iter();
    let mut out = Vec::with_capacity(sends.len());
    for send in sends {
        let result = results.next().unwrap_or_else(|| {
            Err(TransportError::Malformed {
                message: "the transport answered fewer writes than it was given".into(),
            })
        });
        out.push(finish_one(tx, &mut schemas, &mut touched, send, result)?);
    }
    Ok((out, touched))
}

fn finish_one(
    tx: &mut dyn StoreTx,
    schemas: &mut Schemas,
    touched: &mut Touched,
    send: Send,
    result: WriteResult,
) -> Result<Finished, SyncError> {
    let accepted = if send.retry == 0 {
        Outcome::Pushed
    } else {
        Outcome::Resolved
    };
    let err = match result {
        Ok(copy) => {
            if finish_success_with(tx, schemas, &send.op, copy.as_ref())? {
                touched.row(&send.op.table, &send.op.item_id);
            }
            return Ok(Finished::Done(accepted));
        }
        Err(e) => e,
    };
    let kind = send.op.kind;
    // A delete of something already gone did what it was meant to.
    if kind == OpKind::Delete && err == TransportError::NotFound {
        if finish_success_with(tx, schemas, &send.op, None)? {
            touched.row(&send.op.table, &send.op.item_id);
        }
        return Ok(Finished::Done(Outcome::Pushed));
    }
    if kind == OpKind::Update && err == TransportError::NotFound {
        return Ok(Finished::Refused(Refusal {
            send,
            remote: Some(None),
        }));
    }
    if err.is_conflict() {
        let remote = err.server_copy().cloned().map(Some);
        return Ok(Finished::Refused(Refusal { send, remote }));
    }
    if err.stops_push() {
        return Ok(Finished::Done(Outcome::Stop(err)));
    }
    let error = OpError {
        status: err.status(),
        message: err.to_string(),
        server_copy: err.server_copy().cloned(),
    };
    let retry_after = err.retry_after();
    fail(tx, send.op, error)
        .map(|f| Finished::Done(Outcome::Failed(OperationFailure { retry_after, ..f })))
}

/// Records an operation's rejection (if it is still queued) and describes it.
pub(super) fn fail(
    tx: &mut dyn StoreTx,
    op: Operation,
    error: OpError,
) -> Result<OperationFailure, SyncError> {
    if let Some(mut current) = tx.op(&op.table, &op.item_id)? {
        current.error = Some(error.clone());
        tx.replace_op(&current)?;
    }
    Ok(OperationFailure {
        table: op.table,
        id: op.item_id,
        kind: op.kind,
        error,
        retry_after: None,
    })
}

/// What [`on_conflict`] decided.
pub(super) enum Step {
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

/// Step 5, in one transaction: decides a refusal, given the server's copy (`None`: the
/// server has no row). `may_resolve` is false once a policy has had its retries: the
/// conflict is then stored for the app. Also hands back the local row, if it changed.
pub(super) fn on_conflict(
    tx: &mut dyn StoreTx,
    send: &Send,
    remote: Option<Record>,
    decide: Option<&Decider>,
    may_resolve: bool,
) -> Result<(Step, Touched), SyncError> {
    let op = &send.op;
    let (table, id) = (op.table.as_str(), op.item_id.as_str());
    let mut touched = Touched::default();
    let remote = remote.filter(|r| !r.is_deleted());
    // Idempotent re-send: the server already has exactly what we sent.
    if let (Some(s), Some(r)) = (send.item(), remote.as_ref())
        && same_data(tx, table, &s, r)?
    {
        if finish_success(tx, op, Some(r))? {
            touched.row(table, id);
        }
        return Ok((Step::Success, touched));
    }
    if op.kind == OpKind::Delete && remote.is_none() {
        if finish_success(tx, op, None)? {
            touched.row(table, id);
        }
        return Ok((Step::Success, touched));
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
    let decision = match (decide, may_resolve) {
        (Some(d), true) => d(&conflict)?,
        _ => RecordDecision::Defer,
    };
    let step = match decision {
        RecordDecision::Resolve(res) => {
            resolve::apply(tx, &conflict, res)?;
            touched.row(table, id);
            if tx.op(table, id)?.is_some() {
                Step::Retry
            } else {
                Step::Done
            }
        }
        // A stored conflict leaves the row as the app left it.
        RecordDecision::Defer => {
            tx.save_conflict(&conflict)?;
            Step::Conflict
        }
        RecordDecision::AbortPush => Step::Abort,
    };
    Ok((step, touched))
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

/// Finishes an operation the server accepted; true when it wrote the local row.
pub(crate) fn finish_success(
    tx: &mut dyn StoreTx,
    sent: &Operation,
    server_copy: Option<&Record>,
) -> Result<bool, SyncError> {
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
) -> Result<bool, SyncError> {
    let (table, id) = (sent.table.as_str(), sent.item_id.as_str());
    // An accepted delete leaves nothing, whatever row the answer carries (a server that
    // deletes hard may answer with the row as it was).
    let copy = server_copy.filter(|r| sent.kind != OpKind::Delete && !r.is_deleted());
    let wrote_row = match tx.op(table, id)? {
        // The entry as it was sent: done.
        Some(current) if current.seq == sent.seq && current.revision == sent.revision => {
            tx.remove_op(table, id)?;
            let schema = match copy {
                Some(_) => Some(schemas.of(tx, table)?),
                None => None,
            };
            settle_with(tx, schema, table, id, copy)?;
            true
        }
        Some(mut current) => {
            // Edited while in flight (or queued anew): the edit and its queue entry
            // stay; only the server's new version is learned, so the next push is not
            // a false conflict.
            let version = copy.and_then(|c| c.version()).map(str::to_owned);
            let mut wrote_row = false;
            if let Some(c) = copy {
                if let Some(mut row) = tx.get(table, id)? {
                    row.set(SystemColumn::Version.name(), version.clone());
                    if let Some(created) = c.get(SystemColumn::CreatedAt.name()) {
                        row.set(SystemColumn::CreatedAt.name(), created.clone());
                    }
                    let row = fit(tx, table, &row)?;
                    tx.upsert(table, &row)?;
                    wrote_row = true;
                }
                let base = fit_remote(schemas.of(tx, table)?, c);
                tx.set_base(table, &base)?;
                if current.kind == OpKind::Insert {
                    current.kind = OpKind::Update;
                }
            } else {
                tx.remove_base(table, id)?;
            }
            current.version = version;
            tx.replace_op(&current)?;
            wrote_row
        }
        // Already finished (a pull found the server holding our change).
        None => {
            settle(tx, table, id, copy)?;
            true
        }
    };
    Ok(wrote_row)
}

#[cfg(test)]
mod tests {
    //! The steps alone, on a memory store: no runtime, no transport, no timers.

    use super::*;
    use crate::model::{ColumnType, Value};
    use crate::store::{MemoryStore, Store, StoreTxExt};

    const T: &str = "T";

    fn store() -> MemoryStore {
        let store = MemoryStore::new();
        store
            .transaction(|tx| {
                tx.ensure_table(&TableSchema::new(T).with_column("text", ColumnType::Text, true))
            })
            .unwrap();
        store
    }

    fn row(id: &str, text: &str, version: Option<&str>) -> Record {
        let mut r = Record::new();
        r.set(SystemColumn::Id.name(), id);
        r.set("text", text);
        r.set(SystemColumn::Version.name(), version.map(str::to_owned));
        r
    }

    /// Writes a row locally and queues its operation, as the engine does.
    fn write(store: &MemoryStore, id: &str, kind: OpKind) -> Operation {
        store
            .transaction(|tx| {
                if kind != OpKind::Delete {
                    tx.upsert(T, &row(id, "local", None))?;
                }
                Ok(tx.enqueue(T, id, kind, None, None)?.unwrap())
            })
            .unwrap()
    }

    fn task(op: Operation) -> Task {
        Task { op, retry: 0 }
    }

    fn prepare_all(store: &MemoryStore, ops: Vec<Operation>) -> Vec<Prepared> {
        store
            .transaction(|tx| {
                prepare(tx, ops.into_iter().map(task).collect(), |_| None).map_err(store_error)
            })
            .unwrap()
    }

    fn sends(prepared: Vec<Prepared>) -> Vec<Send> {
        prepared
            .into_iter()
            .map(|p| match p {
                Prepared::Send(s) => s,
                _ => panic!("not a send"),
            })
            .collect()
    }

    fn finish_all(store: &MemoryStore, s: Vec<Send>, results: Vec<WriteResult>) -> Vec<Finished> {
        store
            .transaction(|tx| finish(tx, s, results).map_err(store_error))
            .unwrap()
            .0
    }

    fn store_error(e: SyncError) -> StoreError {
        StoreError::Backend(e.to_string())
    }

    fn op_of(store: &MemoryStore, id: &str) -> Option<Operation> {
        store.read(|tx| tx.op(T, id)).unwrap()
    }

    fn text_of(store: &MemoryStore, id: &str) -> Option<Value> {
        store
            .read(|tx| tx.get(T, id))
            .unwrap()
            .and_then(|r| r.get("text").cloned())
    }

    #[test]
    fn prepare_counts_attempts_reads_rows_and_stops_after_an_abort() {
        let store = store();
        let ops: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|id| write(&store, id, OpKind::Insert))
            .collect();
        let gate: resolve::Gate =
            Arc::new(|_, row: Option<&Record>| Ok(row.and_then(|r| r.id()) != Some("b")));
        let entry = Arc::new(TableEntry {
            schema: store.read(|tx| tx.table_schema(T)).unwrap().unwrap(),
            decide: Arc::new(|_| Ok(RecordDecision::Defer)),
            gate: Some(gate),
        });
        let prepared = store
            .transaction(|tx| {
                let tasks = ops.iter().cloned().map(task).collect();
                prepare(tx, tasks, |_| Some(Arc::clone(&entry))).map_err(store_error)
            })
            .unwrap();
        assert_eq!(prepared.len(), 2, "nothing after the abort is prepared");
        match &prepared[0] {
            Prepared::Send(s) => {
                assert_eq!(s.op.attempts, 1);
                assert!(matches!(&s.payload, Payload::Insert(r) if r.id() == Some("a")));
            }
            _ => panic!("a is sent"),
        }
        assert!(matches!(prepared[1], Prepared::Abort));
        let attempts = |id| op_of(&store, id).unwrap().attempts;
        assert_eq!((attempts("a"), attempts("b"), attempts("c")), (1, 0, 0));
        let keys = writes(&sends(prepared.into_iter().take(1).collect()));
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn prepare_skips_what_is_gone_or_held_and_fails_a_write_without_its_row() {
        let store = store();
        let gone = write(&store, "gone", OpKind::Insert);
        let held = write(&store, "held", OpKind::Insert);
        let rowless = write(&store, "rowless", OpKind::Update);
        store
            .transaction(|tx| {
                tx.remove_op(T, "gone")?;
                tx.save_conflict(&StoredConflict::new(T, "held", ConflictKind::Pull))?;
                tx.delete(T, "rowless")?;
                Ok(())
            })
            .unwrap();
        let prepared = prepare_all(&store, vec![gone, held, rowless]);
        assert!(matches!(prepared[0], Prepared::Gone));
        assert!(matches!(prepared[1], Prepared::Gone));
        match &prepared[2] {
            Prepared::Failed(f) => assert!(f.error.message.contains("missing"), "{f:?}"),
            _ => panic!("a write without its row cannot be sent"),
        }
        let kept = op_of(&store, "rowless").expect("the operation stays queued");
        assert!(kept.error.unwrap().message.contains("missing"));
        assert_eq!(op_of(&store, "held").unwrap().attempts, 0);
    }

    #[test]
    fn finish_stores_an_accepted_answer_and_keeps_an_edit_made_in_flight() {
        let store = store();
        let a = write(&store, "a", OpKind::Insert);
        let b = write(&store, "b", OpKind::Insert);
        let s = sends(prepare_all(&store, vec![a, b]));
        // The app edits b while its insert is on the wire.
        store
            .transaction(|tx| {
                tx.upsert(T, &row("b", "edited", None))?;
                tx.enqueue(T, "b", OpKind::Update, None, None).map(|_| ())
            })
            .unwrap();
        let results = vec![
            Ok(Some(row("a", "server", Some("v1")))),
            Ok(Some(row("b", "local", Some("v7")))),
        ];
        let finished = finish_all(&store, s, results);
        assert!(
            finished
                .iter()
                .all(|f| matches!(f, Finished::Done(Outcome::Pushed)))
        );
        assert!(op_of(&store, "a").is_none(), "a is done");
        assert_eq!(text_of(&store, "a"), Some(Value::from("server")));
        let b = op_of(&store, "b").expect("the edit stays queued");
        assert_eq!((b.kind, b.version.as_deref()), (OpKind::Update, Some("v7")));
        assert_eq!(text_of(&store, "b"), Some(Value::from("edited")));
    }

    #[test]
    fn finish_hands_back_refusals_records_rejections_and_stores_nothing_on_a_stop() {
        let store = store();
        let ids = ["stale", "exists", "deleted", "gone", "bad", "offline"];
        let kinds = [
            OpKind::Update,
            OpKind::Insert,
            OpKind::Update,
            OpKind::Delete,
            OpKind::Insert,
            OpKind::Insert,
        ];
        let ops = ids
            .iter()
            .zip(kinds)
            .map(|(id, kind)| write(&store, id, kind))
            .collect();
        let s = sends(prepare_all(&store, ops));
        let copy = row("stale", "theirs", Some("v9"));
        let results = vec![
            Err(TransportError::PreconditionFailed {
                server_copy: Some(copy.clone()),
            }),
            Err(TransportError::Conflict { server_copy: None }),
            Err(TransportError::NotFound),
            Err(TransportError::NotFound),
            Err(TransportError::Server {
                status: 400,
                message: "no".into(),
            }),
            Err(TransportError::network("down")),
        ];
        let finished = finish_all(&store, s, results);
        let remote = |f: &Finished| match f {
            Finished::Refused(r) => r.remote.clone(),
            Finished::Done(_) => panic!("a refusal"),
        };
        assert_eq!(remote(&finished[0]), Some(Some(copy)));
        assert_eq!(remote(&finished[1]), None, "the copy must be asked for");
        assert_eq!(remote(&finished[2]), Some(None), "the server has no row");
        assert!(matches!(finished[3], Finished::Done(Outcome::Pushed)));
        assert!(
            op_of(&store, "gone").is_none(),
            "a delete of nothing is done"
        );
        assert!(
            matches!(&finished[4], Finished::Done(Outcome::Failed(f)) if f.error.status == Some(400))
        );
        assert_eq!(
            op_of(&store, "bad").unwrap().error.unwrap().status,
            Some(400)
        );
        assert!(matches!(finished[5], Finished::Done(Outcome::Stop(_))));
        let offline = op_of(&store, "offline").unwrap();
        assert_eq!((offline.attempts, offline.error), (1, None));
        for id in ["stale", "exists", "deleted"] {
            assert!(op_of(&store, id).is_some(), "{id} waits for its decision");
        }
    }

    #[test]
    fn a_refused_resend_the_server_already_has_is_a_success_and_other_data_a_conflict() {
        let store = store();
        let a = write(&store, "a", OpKind::Insert);
        let b = write(&store, "b", OpKind::Insert);
        let mut s = sends(prepare_all(&store, vec![a, b])).into_iter();
        let (sa, sb) = (s.next().unwrap(), s.next().unwrap());
        let step = store
            .transaction(|tx| {
                let remote = Some(row("a", "local", Some("v2")));
                on_conflict(tx, &sa, remote, None, true).map_err(store_error)
            })
            .unwrap()
            .0;
        assert!(matches!(step, Step::Success));
        assert!(op_of(&store, "a").is_none());
        let step = store
            .transaction(|tx| {
                let remote = Some(row("b", "theirs", Some("v2")));
                on_conflict(tx, &sb, remote, None, true).map_err(store_error)
            })
            .unwrap()
            .0;
        assert!(matches!(step, Step::Conflict));
        let stored = store.read(|tx| tx.conflict(T, "b")).unwrap().unwrap();
        assert_eq!(
            stored.remote.and_then(|r| r.get("text").cloned()),
            Some(Value::from("theirs"))
        );
        assert!(
            op_of(&store, "b").is_some(),
            "the operation waits for the app"
        );
    }
}

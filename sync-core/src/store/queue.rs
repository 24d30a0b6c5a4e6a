//! The operation queue: one entry per (table, id), in order of first enqueue, with the
//! collapse rules of DESIGN.md written once here and used by every store.

use std::fmt;

use crate::model::Record;

use super::{StoreError, StoreTx};

/// What a queued operation does on the server.
///
/// ```
/// assert_eq!(sync_core::store::OpKind::Insert.name(), "insert");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// Create the item.
    Insert,
    /// Send the item as it is at push time.
    Update,
    /// Delete the item.
    Delete,
}

impl OpKind {
    /// Stable lower-case name (stores persist it).
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Insert => "insert",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
        }
    }

    /// Inverse of [`OpKind::name`].
    ///
    /// ```
    /// use sync_core::store::OpKind;
    /// assert_eq!(OpKind::from_name("delete"), Some(OpKind::Delete));
    /// ```
    pub fn from_name(name: &str) -> Option<OpKind> {
        match name {
            "insert" => Some(OpKind::Insert),
            "update" => Some(OpKind::Update),
            "delete" => Some(OpKind::Delete),
            _ => None,
        }
    }

    pub(crate) fn article(self) -> &'static str {
        match self {
            OpKind::Insert => "an insert",
            OpKind::Update => "an update",
            OpKind::Delete => "a delete",
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rejection the server gave an operation that is neither a conflict nor a network or
/// auth failure (a 400, say). It stays with the operation until the app acts.
///
/// ```
/// let e = sync_core::store::OpError { status: Some(400), message: "bad text".into(), server_copy: None };
/// assert_eq!(e.status, Some(400));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// The HTTP status, when there was one.
    pub status: Option<u16>,
    /// The server's message.
    pub message: String,
    /// The server's copy of the item, when it sent one.
    pub server_copy: Option<Record>,
}

/// One queued operation.
///
/// ```
/// use sync_core::store::{OpKind, Operation};
/// let op = Operation::new("Todo", "a1", OpKind::Update).with_version(Some("v3".into()));
/// assert_eq!((op.kind, op.version.as_deref(), op.attempts), (OpKind::Update, Some("v3"), 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Position in the queue, assigned by the store at first enqueue and kept through
    /// collapses; 0 until stored.
    pub seq: u64,
    /// The table.
    pub table: String,
    /// The item's id.
    pub item_id: String,
    /// What to do.
    pub kind: OpKind,
    /// The server version the local change is based on (sent as `If-Match`); `None` for
    /// an insert or an unconditional write.
    pub version: Option<String>,
    /// For a delete, the row as it was before the delete (to show in a conflict or to
    /// restore when the app cancels the delete). Inserts and updates carry no body: they
    /// send the row as it is at push time.
    pub item: Option<Record>,
    /// How many times it was sent. Non-zero means the server may have applied it.
    pub attempts: u32,
    /// Bumped by every collapse into this entry. A push remembers the revision it sent;
    /// if the entry changed meanwhile (a local edit while in flight), the push must keep
    /// it queued.
    pub revision: u64,
    /// The last rejection, if any.
    pub error: Option<OpError>,
}

impl Operation {
    /// A fresh, unsent operation.
    pub fn new(table: impl Into<String>, item_id: impl Into<String>, kind: OpKind) -> Operation {
        Operation {
            seq: 0,
            table: table.into(),
            item_id: item_id.into(),
            kind,
            version: None,
            item: None,
            attempts: 0,
            revision: 0,
            error: None,
        }
    }

    /// Sets the base version (builder style).
    pub fn with_version(mut self, version: Option<String>) -> Operation {
        self.version = version;
        self
    }

    /// Sets the delete body (builder style).
    pub fn with_item(mut self, item: Option<Record>) -> Operation {
        self.item = item;
        self
    }
}

/// What enqueueing `new` does given the entry already pending for the same item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collapse {
    /// Store `new` as a fresh entry.
    Add,
    /// Replace the pending entry's kind/version/item, keeping its position.
    Replace {
        /// The kind the entry ends up with.
        kind: OpKind,
    },
    /// The pending entry and the new one cancel out: remove the entry.
    Cancel,
    /// Not allowed.
    Refuse,
}

/// The collapse rules (DESIGN.md), as one pure function.
///
/// | pending \ new | insert | update | delete |
/// |---|---|---|---|
/// | none | insert | update | delete |
/// | insert | refuse (duplicate id) | insert | cancel — or delete if the insert was sent |
/// | update | refuse | update | delete |
/// | delete | refuse | refuse | refuse |
///
/// A delete followed by an insert of the same id is refused rather than turned into an
/// update: the delete may already have reached the server, where an update would then
/// fail. Cancel the delete ([`StoreTx::remove_op`](super::StoreTx::remove_op)) or push
/// first.
///
/// ```
/// use sync_core::store::{collapse, Collapse, OpKind, Operation};
/// let pending = Operation::new("T", "1", OpKind::Insert);
/// assert_eq!(collapse(Some(&pending), OpKind::Update), Collapse::Replace { kind: OpKind::Insert });
/// assert_eq!(collapse(Some(&pending), OpKind::Delete), Collapse::Cancel);
/// let sent = Operation { attempts: 1, ..pending };
/// assert_eq!(collapse(Some(&sent), OpKind::Delete), Collapse::Replace { kind: OpKind::Delete });
/// ```
pub fn collapse(pending: Option<&Operation>, new: OpKind) -> Collapse {
    use OpKind::{Delete, Insert, Update};
    let Some(op) = pending else {
        return Collapse::Add;
    };
    match (op.kind, new) {
        (Insert, Update) => Collapse::Replace { kind: Insert },
        (Insert, Delete) if op.attempts == 0 => Collapse::Cancel,
        (Insert, Delete) => Collapse::Replace { kind: Delete },
        (Update, Update) => Collapse::Replace { kind: Update },
        (Update, Delete) => Collapse::Replace { kind: Delete },
        (Insert | Update | Delete, _) => Collapse::Refuse,
    }
}

/// The queue's rules, written once over the [`StoreTx`] kernel for every store: they
/// are available on any transaction (`use sync_core::store::StoreTxExt`), and no store
/// implements them.
///
/// ```
/// use sync_core::store::{MemoryStore, OpKind, Store, StoreTx, StoreTxExt};
/// let store = MemoryStore::new();
/// store.transaction(|tx| tx.ensure_table(&sync_core::TableSchema::new("Todo")))?;
/// // An insert then an update of the same item is still one insert.
/// store.transaction(|tx| tx.enqueue("Todo", "a", OpKind::Insert, None, None))?;
/// let op = store.transaction(|tx| tx.enqueue("Todo", "a", OpKind::Update, None, None))?;
/// assert_eq!(op.map(|o| (o.kind, o.revision)), Some((OpKind::Insert, 1)));
/// let op = store.transaction(|tx| tx.count_attempt("Todo", "a"))?;
/// assert_eq!(op.map(|o| o.attempts), Some(1));
/// // An insert never sent, then deleted: nothing left to send.
/// let op = store.transaction(|tx| tx.enqueue("Todo", "b", OpKind::Insert, None, None))?;
/// assert!(store.transaction(|tx| tx.enqueue("Todo", "b", OpKind::Delete, None, None))?.is_none());
/// # Ok::<(), sync_core::store::StoreError>(())
/// ```
pub trait StoreTxExt: StoreTx {
    /// Queues an operation, applying the collapse rules of [`collapse`]. Returns the
    /// entry as it now stands (`None` when it cancelled out).
    ///
    /// On a collapse into an existing entry, its position is kept, its revision bumped,
    /// its base version kept, and its error cleared (the app changed the item).
    fn enqueue(
        &mut self,
        table: &str,
        id: &str,
        kind: OpKind,
        version: Option<String>,
        item: Option<Record>,
    ) -> Result<Option<Operation>, StoreError> {
        let pending = self.op(table, id)?;
        let refused = |pending: Option<&Operation>| StoreError::QueueConflict {
            table: table.to_owned(),
            id: id.to_owned(),
            pending: pending.map_or(kind, |p| p.kind),
            new: kind,
        };
        match (collapse(pending.as_ref(), kind), pending) {
            (Collapse::Add, _) => {
                let op = Operation::new(table, id, kind)
                    .with_version(version)
                    .with_item(item);
                self.add_op(op).map(Some)
            }
            (Collapse::Replace { kind: new_kind }, Some(mut op)) => {
                if new_kind == OpKind::Delete && op.kind == OpKind::Insert {
                    // The insert may or may not have reached the server: delete without a
                    // precondition, since its version is unknown.
                    op.version = None;
                }
                op.kind = new_kind;
                op.item = item;
                op.revision += 1;
                op.error = None;
                self.replace_op(&op)?;
                Ok(Some(op))
            }
            (Collapse::Cancel, _) => {
                self.remove_op(table, id)?;
                Ok(None)
            }
            (Collapse::Refuse | Collapse::Replace { .. }, pending) => {
                Err(refused(pending.as_ref()))
            }
        }
    }

    /// Counts one more sending attempt of an item's operation and returns the entry as
    /// it now stands; `None` (and nothing changed) when the item has no operation.
    fn count_attempt(&mut self, table: &str, id: &str) -> Result<Option<Operation>, StoreError> {
        let Some(mut op) = self.op(table, id)? else {
            return Ok(None);
        };
        op.attempts = op.attempts.saturating_add(1);
        self.replace_op(&op)?;
        Ok(Some(op))
    }

    /// Records (or clears) an operation's error; [`StoreError::NoOperation`] when the
    /// item has none.
    fn set_op_error(
        &mut self,
        table: &str,
        id: &str,
        error: Option<OpError>,
    ) -> Result<(), StoreError> {
        let mut op = self.op(table, id)?.ok_or_else(|| StoreError::NoOperation {
            table: table.to_owned(),
            id: id.to_owned(),
        })?;
        op.error = error;
        self.replace_op(&op)
    }
}

impl<T: StoreTx + ?Sized> StoreTxExt for T {}

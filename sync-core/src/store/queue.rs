//! The operation queue: one entry per (table, id), in order of first enqueue, with the
//! collapse rules of DESIGN.md written once here and used by every store.

use std::fmt;

use crate::model::Record;

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

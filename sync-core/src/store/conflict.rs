//! What a store keeps about conflicts and pulls: [`StoredConflict`] and [`Watermark`].

use chrono::{DateTime, Utc};

use crate::model::Record;

/// How a conflict arose.
///
/// ```
/// use sync_core::store::ConflictKind;
/// assert_eq!(ConflictKind::from_name(ConflictKind::Push.name()), Some(ConflictKind::Push));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictKind {
    /// The server refused a pushed operation (412 on a stale version, 409 on an insert
    /// of an existing id).
    Push,
    /// A pull brought a server change for an item with a pending local operation.
    Pull,
}

impl ConflictKind {
    /// Stable name (stores persist it).
    pub fn name(self) -> &'static str {
        match self {
            ConflictKind::Push => "push",
            ConflictKind::Pull => "pull",
        }
    }

    /// Inverse of [`ConflictKind::name`].
    pub fn from_name(name: &str) -> Option<ConflictKind> {
        match name {
            "push" => Some(ConflictKind::Push),
            "pull" => Some(ConflictKind::Pull),
            _ => None,
        }
    }
}

/// A conflict as stored, untyped. `None` on a side means that side deleted the item.
///
/// ```
/// use sync_core::store::{ConflictKind, StoredConflict};
/// let c = StoredConflict::new("Todo", "a1", ConflictKind::Pull);
/// assert!(c.local.is_none() && c.remote.is_none() && c.base.is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConflict {
    /// The table.
    pub table: String,
    /// The item.
    pub item_id: String,
    /// How it arose.
    pub kind: ConflictKind,
    /// The local row (`None`: deleted locally).
    pub local: Option<Record>,
    /// The server's copy (`None`: deleted on the server).
    pub remote: Option<Record>,
    /// The last synced copy, for 3-way merges (`None`: never synced).
    pub base: Option<Record>,
    /// When it was found.
    pub detected_at: DateTime<Utc>,
}

impl StoredConflict {
    /// A conflict with no sides set yet, found now.
    pub fn new(table: impl Into<String>, item_id: impl Into<String>, kind: ConflictKind) -> Self {
        StoredConflict {
            table: table.into(),
            item_id: item_id.into(),
            kind,
            local: None,
            remote: None,
            base: None,
            detected_at: Utc::now(),
        }
    }
}

/// Where an incremental pull stopped: the last row seen in `(updatedAt, id)` order.
/// `updated_at` is kept as the exact text the server produced, because servers compare
/// it as text.
///
/// ```
/// let w = sync_core::store::Watermark { updated_at: "2026-11-21T12:50:52.847Z".into(), id: "a1".into() };
/// assert_eq!(w.id, "a1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    /// The `updatedAt` of the last row seen, verbatim.
    pub updated_at: String,
    /// Its id.
    pub id: String,
}

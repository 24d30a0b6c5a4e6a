//! Typed conflicts: [`Conflict<T>`], how the app resolves one ([`Resolution`]), and the
//! per-table [`ConflictPolicy`] that can resolve them during sync.
//!
//! A conflict arises when a push is refused with 412/409, or when a pull brings a
//! server change for an item with a pending local operation. Either side may be a
//! delete (`None`). The base is the last copy both sides agreed on, so a 3-way field
//! merge can tell who changed what.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::model::{Merged, Syncable};
pub use crate::store::ConflictKind;

/// A conflict on one item of a `T` table.
///
/// ```
/// use sync_core::conflict::{Conflict, ConflictKind};
/// # use sync_core::*;
/// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
/// # #[sync(crate = "sync_core")]
/// # struct Person { id: String, name: String, age: i64, #[version] version: Option<String> }
/// let p = |age| Person { id: "p1".into(), name: "Jane".into(), age, version: None };
/// let c = Conflict { id: "p1".into(), kind: ConflictKind::Pull, local: Some(p(30)), remote: Some(p(32)),
///                    base: Some(p(25)), detected_at: chrono::Utc::now() };
/// assert_eq!(c.differing_fields(), ["age"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict<T> {
    /// The item's id.
    pub id: String,
    /// How it arose.
    pub kind: ConflictKind,
    /// The local value (`None`: deleted locally).
    pub local: Option<T>,
    /// The server's value (`None`: deleted on the server).
    pub remote: Option<T>,
    /// The last synced value (`None`: never synced).
    pub base: Option<T>,
    /// When it was found.
    pub detected_at: DateTime<Utc>,
}

impl<T: Syncable> Conflict<T> {
    /// The struct's fields whose local and remote values differ, by their names in the
    /// struct (`due_date`, not the column `dueDate`), in schema order; empty when either
    /// side is a delete. [`differing_columns`](Conflict::differing_columns) names their
    /// columns.
    ///
    /// ```
    /// use sync_core::conflict::{Conflict, ConflictKind};
    /// #[derive(Debug, Clone, sync_derive::Syncable)]
    /// #[sync(crate = "sync_core")]
    /// struct Visit {
    ///     id: String,
    ///     #[sync(rename = "siteId")]
    ///     site: String,
    ///     visit_count: i64,
    ///     #[version]
    ///     version: Option<String>,
    /// }
    /// let v = |site: &str, visit_count| Visit { id: "v1".into(), site: site.into(), visit_count, version: None };
    /// let c = Conflict { id: "v1".into(), kind: ConflictKind::Push, local: Some(v("north", 2)),
    ///                    remote: Some(v("south", 3)), base: None, detected_at: chrono::Utc::now() };
    /// assert_eq!(c.differing_fields(), ["site", "visit_count"]);
    /// assert_eq!(c.differing_columns(), ["siteId", "visitCount"]);
    /// ```
    pub fn differing_fields(&self) -> Vec<&'static str> {
        self.differing_columns()
            .into_iter()
            .map(|column| T::field_of(column).unwrap_or(column))
            .collect()
    }

    /// The columns (the names in the store and on the wire) whose local and remote
    /// values differ, in schema order; empty when either side is a delete. See
    /// [`differing_fields`](Conflict::differing_fields) for the struct's field names.
    ///
    /// ```
    /// use sync_core::conflict::{Conflict, ConflictKind};
    /// #[derive(Debug, Clone, sync_derive::Syncable)]
    /// #[sync(crate = "sync_core")]
    /// struct Visit { id: String, due_date: i64, #[version] version: Option<String> }
    /// let v = |due_date| Visit { id: "v1".into(), due_date, version: None };
    /// let c = Conflict { id: "v1".into(), kind: ConflictKind::Pull, local: Some(v(1)),
    ///                    remote: None, base: None, detected_at: chrono::Utc::now() };
    /// assert!(c.differing_columns().is_empty(), "a delete on one side");
    /// let c = Conflict { remote: Some(v(2)), ..c };
    /// assert_eq!(c.differing_columns(), ["dueDate"]);
    /// ```
    pub fn differing_columns(&self) -> Vec<&'static str> {
        match (&self.local, &self.remote) {
            (Some(l), Some(r)) => l.changed_columns(r),
            _ => Vec::new(),
        }
    }

    /// The 3-way field merge of local and remote over the base, when all three exist.
    pub fn merge(&self) -> Option<Merged<T>>
    where
        T: Clone,
    {
        match (&self.base, &self.local, &self.remote) {
            (Some(b), Some(l), Some(r)) => Some(T::merge3(b, l.clone(), r.clone())),
            _ => None,
        }
    }

    /// Whether either side deleted the item.
    pub fn involves_delete(&self) -> bool {
        self.local.is_none() || self.remote.is_none()
    }
}

/// How the app resolves a conflict. Resolving is local; the next push sends the result.
///
/// ```
/// use sync_core::conflict::Resolution;
/// let r: Resolution<u8> = Resolution::KeepLocal;
/// assert!(matches!(r, Resolution::KeepLocal));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution<T> {
    /// Keep the local value (or local delete), re-queued against the server's version.
    KeepLocal,
    /// Take the server's value (or delete), dropping the local operation.
    KeepRemote,
    /// Use this value, queued against the server's version.
    Use(T),
}

/// What a [`ConflictHandler`] decides for one conflict during sync.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision<T> {
    /// Resolve now.
    Resolve(Resolution<T>),
    /// Store the conflict for the app to resolve later.
    Defer,
    /// Stop the push; every queued operation stays queued (the push reports `Aborted`).
    AbortPush,
}

/// The app's own conflict logic, called for each conflict found during push or pull
/// (the `ExecuteTableOperationAsync` / `AbortPush` pattern of older sync clients).
///
/// ```
/// use sync_core::conflict::{Conflict, ConflictHandler, Decision, Resolution};
/// struct PreferCompleted;
/// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
/// # #[sync(crate = "sync_core")]
/// # struct Todo { id: String, complete: bool, #[version] version: Option<String> }
/// impl ConflictHandler<Todo> for PreferCompleted {
///     fn on_conflict(&self, c: &Conflict<Todo>) -> Decision<Todo> {
///         match (&c.local, &c.remote) {
///             (Some(l), _) if l.complete => Decision::Resolve(Resolution::KeepLocal),
///             (_, Some(r)) if r.complete => Decision::Resolve(Resolution::KeepRemote),
///             _ => Decision::Defer,
///         }
///     }
/// }
/// ```
pub trait ConflictHandler<T>: Send + Sync + 'static {
    /// Decides one conflict.
    fn on_conflict(&self, conflict: &Conflict<T>) -> Decision<T>;

    /// Called for every operation of this table just before a push sends it, with the
    /// item as it will be sent (`None` for a delete). Returning [`Proceed::AbortPush`]
    /// stops the push there; every queued operation stays queued.
    fn before_send(&self, kind: crate::store::OpKind, item: Option<&T>) -> Proceed {
        let _ = (kind, item);
        Proceed::Send
    }
}

/// What [`ConflictHandler::before_send`] decides.
///
/// ```
/// assert_ne!(sync_core::conflict::Proceed::Send, sync_core::conflict::Proceed::AbortPush);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proceed {
    /// Send the operation.
    Send,
    /// Stop the push before this operation.
    AbortPush,
}

/// How a table's conflicts are resolved during sync.
///
/// ```
/// use sync_core::conflict::ConflictPolicy;
/// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
/// # #[sync(crate = "sync_core")]
/// # struct Todo { id: String, #[version] version: Option<String> }
/// let p: ConflictPolicy<Todo> = ConflictPolicy::default();
/// assert!(matches!(p, ConflictPolicy::Manual));
/// ```
pub enum ConflictPolicy<T> {
    /// Store every conflict for the app to resolve (the default).
    Manual,
    /// The server's value wins.
    ServerWins,
    /// The local value wins (re-queued against the server's version).
    ClientWins,
    /// The side written last wins: the local write's device time against the server's
    /// `updatedAt` (clock skew between device and server matters here).
    LastWriterWins,
    /// 3-way field merge: disjoint field changes merge; clashing fields, deletes and
    /// items without a base fall back to manual.
    FieldMerge,
    /// The app's own handler.
    Handler(Arc<dyn ConflictHandler<T>>),
}

// Not derived: `derive(Default)` would demand `T: Default`, which app types need not be.
#[allow(clippy::derivable_impls)]
impl<T> Default for ConflictPolicy<T> {
    fn default() -> Self {
        ConflictPolicy::Manual
    }
}

impl<T> Clone for ConflictPolicy<T> {
    fn clone(&self) -> Self {
        match self {
            ConflictPolicy::Manual => ConflictPolicy::Manual,
            ConflictPolicy::ServerWins => ConflictPolicy::ServerWins,
            ConflictPolicy::ClientWins => ConflictPolicy::ClientWins,
            ConflictPolicy::LastWriterWins => ConflictPolicy::LastWriterWins,
            ConflictPolicy::FieldMerge => ConflictPolicy::FieldMerge,
            ConflictPolicy::Handler(h) => ConflictPolicy::Handler(Arc::clone(h)),
        }
    }
}

impl<T> std::fmt::Debug for ConflictPolicy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConflictPolicy::Manual => "Manual",
            ConflictPolicy::ServerWins => "ServerWins",
            ConflictPolicy::ClientWins => "ClientWins",
            ConflictPolicy::LastWriterWins => "LastWriterWins",
            ConflictPolicy::FieldMerge => "FieldMerge",
            ConflictPolicy::Handler(_) => "Handler(..)",
        })
    }
}

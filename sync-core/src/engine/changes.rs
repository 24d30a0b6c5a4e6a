//! Change notifications: after every commit that changes local rows, the engine says
//! which rows of which table changed, and why ([`SyncContext::changes`](super::SyncContext::changes)).

/// One committed change of local data.
///
/// ```
/// use sync_core::engine::{Change, ChangeCause};
/// let c = Change::new("Todo", vec!["a".into()], ChangeCause::LocalWrite);
/// assert!(c.touches("todo", "a"), "table names compare without case");
/// assert!(!c.touches("Todo", "b"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// The table, as registered.
    pub table: String,
    /// The rows that changed; empty when the whole table may have (a purge).
    pub ids: Vec<String>,
    /// What changed them.
    pub cause: ChangeCause,
}

/// What made a [`Change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeCause {
    /// The app inserted, updated or deleted rows.
    LocalWrite,
    /// A pull stored the server's rows.
    Pull,
    /// A push stored the server's answers.
    Push,
    /// A conflict was resolved.
    Resolve,
    /// The table was purged.
    Purge,
}

impl Change {
    /// A change of these rows.
    pub fn new(table: impl Into<String>, ids: Vec<String>, cause: ChangeCause) -> Change {
        Change {
            table: table.into(),
            ids,
            cause,
        }
    }

    /// Whether the change may have touched this row.
    pub fn touches(&self, table: &str, id: &str) -> bool {
        self.table.eq_ignore_ascii_case(table)
            && (self.ids.is_empty() || self.ids.iter().any(|i| i == id))
    }
}

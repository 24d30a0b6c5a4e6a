//! Change notifications: after every commit that changes local rows, the engine says
//! which rows of which table changed, and why ([`SyncContext::changes`](super::SyncContext::changes)).
//!
//! An engine step is a function over one store transaction; it notes the rows it wrote
//! in a [`Touched`] and hands it back with its result. Only the driver, once the
//! transaction committed, turns it into [`Change`]s: a rolled-back step announces
//! nothing, and nothing is announced before the rows can be read.

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
    /// A conflict was resolved, or a failed operation cancelled.
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

/// The rows one transaction changed, table by table, in the order first touched; to be
/// announced once it committed.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    tables: Vec<(String, Vec<String>)>,
}

impl Touched {
    /// Notes that a row was written (stored, replaced or deleted). Steps touch each
    /// item once (the queue holds one entry per item), so ids are not checked for repeats.
    pub(crate) fn row(&mut self, table: &str, id: &str) {
        match self.tables.iter_mut().find(|(t, _)| t == table) {
            Some((_, ids)) => ids.push(id.to_owned()),
            None => self.tables.push((table.to_owned(), vec![id.to_owned()])),
        }
    }

    /// One change per table touched.
    pub(crate) fn into_changes(self, cause: ChangeCause) -> impl Iterator<Item = Change> {
        self.tables
            .into_iter()
            .map(move |(table, ids)| Change::new(table, ids, cause))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SyncContext;
    use crate::store::MemoryStore;
    use crate::transport::MemoryRemote;

    #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    #[sync(crate = "sync_core")]
    struct Todo {
        id: String,
        text: String,
        #[version]
        version: Option<String>,
    }

    fn todo(id: &str) -> Todo {
        Todo {
            id: id.into(),
            text: "milk".into(),
            version: None,
        }
    }

    /// Every change waiting on a receiver, as (cause, sorted ids).
    fn drain(rx: &mut tokio::sync::broadcast::Receiver<Change>) -> Vec<(ChangeCause, Vec<String>)> {
        let mut out: Vec<(ChangeCause, Vec<String>)> = Vec::new();
        while let Ok(c) = rx.try_recv() {
            assert_eq!(c.table, "Todo");
            // A push's lanes announce their batches one by one: merge them.
            match out.last_mut() {
                Some((cause, ids)) if *cause == c.cause && c.cause == ChangeCause::Push => {
                    ids.extend(c.ids)
                }
                _ => out.push((c.cause, c.ids)),
            }
        }
        for (_, ids) in &mut out {
            ids.sort();
        }
        out
    }

    #[tokio::test]
    async fn each_commit_that_changes_rows_is_announced_with_its_ids_and_cause() {
        let server = MemoryRemote::new();
        let a = SyncContext::new(MemoryStore::new(), server.transport());
        let b = SyncContext::new(MemoryStore::new(), server.transport());
        let (ta, tb) = (
            a.table::<Todo>().await.unwrap(),
            b.table::<Todo>().await.unwrap(),
        );
        let (mut on_a, mut on_b) = (a.changes(), b.changes());
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

        ta.insert(todo("x")).await.unwrap();
        ta.insert(todo("y")).await.unwrap();
        // A refused write commits nothing and announces nothing.
        assert!(ta.insert(todo("x")).await.is_err());
        a.push().await.unwrap();
        assert_eq!(
            drain(&mut on_a),
            [
                (ChangeCause::LocalWrite, ids(&["x"])),
                (ChangeCause::LocalWrite, ids(&["y"])),
                (ChangeCause::Push, ids(&["x", "y"])),
            ]
        );

        tb.pull("all", None).await.unwrap();
        assert_eq!(drain(&mut on_b), [(ChangeCause::Pull, ids(&["x", "y"]))]);
        // Nothing new on the server: a pull stores nothing and announces nothing.
        tb.pull("all", None).await.unwrap();
        assert_eq!(drain(&mut on_b), []);

        tb.purge(false).await.unwrap();
        assert_eq!(drain(&mut on_b), [(ChangeCause::Purge, vec![])]);
    }

    #[test]
    fn touched_rows_are_announced_once_per_table() {
        let mut t = Touched::default();
        t.row("Todo", "a");
        t.row("Note", "n");
        t.row("Todo", "b");
        let changes: Vec<_> = t.into_changes(ChangeCause::Push).collect();
        assert_eq!(
            changes,
            [
                Change::new("Todo", vec!["a".into(), "b".into()], ChangeCause::Push),
                Change::new("Note", vec!["n".into()], ChangeCause::Push),
            ]
        );
    }
}

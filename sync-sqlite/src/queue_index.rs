//! [`QueueIndex`]: which items have a queued operation, kept in memory so that the
//! question asked before every enqueue and for every pulled record ("is anything
//! queued for this item?") is answered without a query when the answer is no.
//!
//! It is a cache of `__tablesync_ops`, loaded when the store opens and changed only by
//! committed transactions ([`QueueChanges`] holds a transaction's own changes until
//! then). It can only be wrong if another connection edits the queue of an open store,
//! which the store does not support; even then a stale "no" makes `add_op` fail on the
//! unique index with `QueueConflict`, and a stale "yes" only costs the query it saves.

use std::collections::{HashMap, HashSet};

/// Queued item ids by table key.
#[derive(Debug, Default)]
pub(crate) struct QueueIndex {
    by_table: HashMap<String, HashSet<String>>,
}

impl QueueIndex {
    /// Whether `id` of table `key` has a queued operation.
    pub(crate) fn contains(&self, key: &str, id: &str) -> bool {
        self.by_table.get(key).is_some_and(|ids| ids.contains(id))
    }

    /// Records a queued item (when loading).
    pub(crate) fn insert(&mut self, key: String, id: String) {
        self.by_table.entry(key).or_default().insert(id);
    }

    /// Publishes a committed transaction's changes.
    pub(crate) fn apply(&mut self, changes: QueueChanges) {
        for (key, ids) in changes.by_table {
            let set = self.by_table.entry(key).or_default();
            for (id, queued) in ids {
                if queued {
                    set.insert(id);
                } else {
                    set.remove(&id);
                }
            }
        }
        self.by_table.retain(|_, ids| !ids.is_empty());
    }
}

/// One transaction's additions to and removals from the queue.
#[derive(Debug, Default)]
pub(crate) struct QueueChanges {
    by_table: HashMap<String, HashMap<String, bool>>,
}

impl QueueChanges {
    /// Whether the transaction queued (`Some(true)`) or removed (`Some(false)`) the item.
    pub(crate) fn get(&self, key: &str, id: &str) -> Option<bool> {
        self.by_table.get(key).and_then(|ids| ids.get(id)).copied()
    }

    pub(crate) fn set(&mut self, key: &str, id: &str, queued: bool) {
        match self.by_table.get_mut(key) {
            Some(ids) => {
                ids.insert(id.to_owned(), queued);
            }
            None => {
                self.by_table
                    .insert(key.to_owned(), HashMap::from([(id.to_owned(), queued)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_changes_add_and_remove_items() {
        let mut index = QueueIndex::default();
        index.insert("todo".into(), "a".into());
        let mut changes = QueueChanges::default();
        changes.set("todo", "a", false);
        changes.set("todo", "b", true);
        changes.set("note", "b", true);
        assert_eq!(changes.get("todo", "a"), Some(false));
        assert_eq!(changes.get("todo", "c"), None);
        index.apply(changes);
        assert!(!index.contains("todo", "a"));
        assert!(index.contains("todo", "b") && index.contains("note", "b"));
        assert!(!index.contains("note", "a"));
    }
}

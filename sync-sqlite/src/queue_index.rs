//! [`QueueIndex`]: which items may have a queued operation, kept in memory so that the
//! question asked before every enqueue and for every pulled record ("is anything
//! queued for this item?") is answered without a query when the answer is no.
//!
//! It is a cache of `__tablesync_ops`, loaded when the store opens and changed only by
//! committed transactions ([`QueueChanges`] holds a transaction's own changes until
//! then). It can only be wrong if another connection edits the queue of an open store,
//! which the store does not support; even then a stale "no" makes `add_op` fail on the
//! unique index with `QueueConflict`, and a stale "yes" only costs the query it saves.
//!
//! It counts queued items per [`ItemHash`] of (table key, item id) rather than keeping
//! the ids: every local write asks it once and tells it once, and a kept id cost an
//! allocation per write, a SipHash'd id as much as binding all of the queue entry's
//! parameters. A count, not a set, so that removing an item never hides another item
//! with the same hash: two items that share one (a chance in 2^64 per pair) only turn
//! a certain "no" into a "maybe", which costs the query the index is there to save.
//! The answer is never "no" for a queued item.

use std::collections::hash_map::Entry;
use std::hash::BuildHasher;

use foldhash::HashMap;
use foldhash::fast::RandomState;

/// A queued item's identity, hashed: (table key, item id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ItemHash(u64);

/// How many queued items have each hash. Never holds a count of zero.
#[derive(Debug, Default)]
pub(crate) struct QueueIndex {
    /// Seeded at random per store; transactions hash with it too.
    state: RandomState,
    counts: HashMap<ItemHash, i64>,
}

impl QueueIndex {
    /// The hash of an item, as this index and its transactions' changes count it.
    pub(crate) fn hash(&self, key: &str, id: &str) -> ItemHash {
        ItemHash(self.state.hash_one((key, id)))
    }

    /// How many committed queued items have this hash.
    fn count(&self, h: ItemHash) -> i64 {
        // An empty map answers without hashing (a store with nothing queued).
        if self.counts.is_empty() {
            return 0;
        }
        self.counts.get(&h).copied().unwrap_or(0)
    }

    /// False when the item certainly has no queued operation, counting a transaction's
    /// own changes.
    pub(crate) fn maybe_contains(&self, changes: &QueueChanges, h: ItemHash) -> bool {
        self.count(h) + changes.delta(h) > 0
    }

    /// Records a queued item (when loading).
    pub(crate) fn insert(&mut self, key: &str, id: &str) {
        let h = self.hash(key, id);
        *self.counts.entry(h).or_default() += 1;
    }

    /// Publishes a committed transaction's changes.
    /// Costs the size of the changes, not of the index: a push commits a few answers at
    /// a time into a queue of thousands.
    pub(crate) fn apply(&mut self, changes: QueueChanges) {
        let mut deltas = changes.deltas;
        if self.counts.is_empty() {
            // A batch queued into an empty queue moves in whole.
            deltas.retain(|_, d| *d > 0);
            self.counts = deltas;
            return;
        }
        for (h, d) in deltas {
            match self.counts.entry(h) {
                Entry::Occupied(mut e) => {
                    *e.get_mut() += d;
                    if *e.get() <= 0 {
                        e.remove();
                    }
                }
                Entry::Vacant(e) => {
                    if d > 0 {
                        e.insert(d);
                    }
                }
            }
        }
    }
}

/// One transaction's changes to the queue: items added minus items removed, per hash.
#[derive(Debug, Default)]
pub(crate) struct QueueChanges {
    deltas: HashMap<ItemHash, i64>,
}

impl QueueChanges {
    fn delta(&self, h: ItemHash) -> i64 {
        if self.deltas.is_empty() {
            return 0;
        }
        self.deltas.get(&h).copied().unwrap_or(0)
    }

    /// Counts an item the transaction queued.
    pub(crate) fn added(&mut self, h: ItemHash) {
        *self.deltas.entry(h).or_default() += 1;
    }

    /// Counts an item whose queued operation the transaction removed.
    pub(crate) fn removed(&mut self, h: ItemHash) {
        *self.deltas.entry(h).or_default() -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_changes_add_and_remove_items() {
        let mut index = QueueIndex::default();
        index.insert("todo", "a");
        let h = |key: &str, id: &str| index.hash(key, id);
        let (todo_a, todo_b, note_b, note_a) = (
            h("todo", "a"),
            h("todo", "b"),
            h("note", "b"),
            h("note", "a"),
        );
        let mut changes = QueueChanges::default();
        changes.removed(todo_a);
        changes.added(todo_b);
        changes.added(note_b);
        assert!(!index.maybe_contains(&changes, todo_a));
        assert!(index.maybe_contains(&changes, todo_b));
        index.apply(changes);
        let none = QueueChanges::default();
        assert!(!index.maybe_contains(&none, todo_a));
        assert!(index.maybe_contains(&none, todo_b) && index.maybe_contains(&none, note_b));
        assert!(!index.maybe_contains(&none, note_a));
        // Never a count of zero kept: todo/a left the index.
        assert_eq!(index.counts.len(), 2);
        let mut changes = QueueChanges::default();
        changes.removed(todo_b);
        changes.added(note_a);
        changes.removed(note_a);
        index.apply(changes);
        assert_eq!(index.counts.len(), 1);
        assert!(index.maybe_contains(&none, note_b));
    }

    #[test]
    fn the_last_change_of_an_item_in_a_transaction_wins() {
        let mut index = QueueIndex::default();
        index.insert("todo", "kept");
        let (kept, new) = (index.hash("todo", "kept"), index.hash("todo", "new"));
        let mut changes = QueueChanges::default();
        // Removed, then queued again: queued.
        changes.removed(kept);
        changes.added(kept);
        // Queued, then removed: not queued.
        changes.added(new);
        changes.removed(new);
        assert!(index.maybe_contains(&changes, kept));
        assert!(!index.maybe_contains(&changes, new));
        index.apply(changes);
        let none = QueueChanges::default();
        assert!(index.maybe_contains(&none, kept));
        assert!(!index.maybe_contains(&none, new));
    }

    /// Two items with one hash: removing either leaves the other found.
    #[test]
    fn removing_an_item_never_hides_another_with_the_same_hash() {
        let mut index = QueueIndex::default();
        let shared = ItemHash(7);
        let mut changes = QueueChanges::default();
        changes.added(shared);
        changes.added(shared);
        index.apply(changes);
        let mut changes = QueueChanges::default();
        changes.removed(shared);
        assert!(index.maybe_contains(&changes, shared));
        index.apply(changes);
        assert!(index.maybe_contains(&QueueChanges::default(), shared));
    }
}

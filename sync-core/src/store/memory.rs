//! [`MemoryStore`]: the [`Store`] kept in process memory. A real store with the same
//! semantics as the SQLite one (the conformance suite runs against both), for tests and
//! for apps that want no disk.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use crate::model::{ColumnType, Record, TableSchema, Value, coerce, normalize};

use super::{
    CmpOp, Filter, Operation, Order, Query, Store, StoreError, StoreTx, StoredConflict, Watermark,
};

type Key = (String, String);
type Undo = Box<dyn FnOnce(&mut State) + Send>;

struct Table {
    schema: TableSchema,
    rows: BTreeMap<String, Record>,
}

#[derive(Default)]
struct State {
    /// Keyed by the ASCII-lowercased name: table names compare ignoring case, as in SQLite.
    tables: HashMap<String, Table>,
    ops: BTreeMap<u64, Operation>,
    op_index: HashMap<Key, u64>,
    next_seq: u64,
    conflicts: BTreeMap<u64, StoredConflict>,
    conflict_index: HashMap<Key, u64>,
    next_conflict: u64,
    bases: HashMap<Key, Record>,
    watermarks: HashMap<Key, Watermark>,
}

/// A [`Store`] in memory. Transactions are serialized by one lock and rolled back from an
/// undo log, so a failed transaction leaves nothing behind, as in SQLite.
///
/// ```
/// use sync_core::store::{MemoryStore, Store, StoreTx};
/// use sync_core::{Record, TableSchema};
/// let store = MemoryStore::new();
/// store.transaction(|tx| tx.ensure_table(&TableSchema::new("T")))?;
/// let mut r = Record::new();
/// r.set("id", "1");
/// // An error inside the transaction undoes the upsert before it.
/// let res: Result<(), _> = store.transaction(|tx| {
///     tx.upsert("T", &r)?;
///     tx.upsert("Nope", &r)
/// });
/// assert!(res.is_err());
/// assert_eq!(store.read(|tx| tx.get("T", "1"))?, None);
/// # Ok::<(), sync_core::store::StoreError>(())
/// ```
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic inside a transaction rolls back before the lock is released (see
        // `MemTx::drop`), so the state behind a poisoned lock is consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run<R>(
        &self,
        commit: bool,
        f: impl FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut guard = self.lock();
        let mut tx = MemTx {
            state: &mut guard,
            undo: Vec::new(),
        };
        let result = f(&mut tx);
        if result.is_ok() && commit {
            tx.undo.clear();
        }
        drop(tx); // rolls back whatever is left in the undo log
        result
    }
}

impl Store for MemoryStore {
    fn transaction<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>,
    {
        self.run(true, f)
    }

    fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>,
    {
        self.run(false, f)
    }
}

struct MemTx<'a> {
    state: &'a mut State,
    undo: Vec<Undo>,
}

impl Drop for MemTx<'_> {
    fn drop(&mut self) {
        while let Some(u) = self.undo.pop() {
            u(self.state);
        }
    }
}

fn key(table: &str, id: &str) -> Key {
    (table.to_ascii_lowercase(), id.to_owned())
}

impl MemTx<'_> {
    fn table(&self, table: &str) -> Result<&Table, StoreError> {
        self.state
            .tables
            .get(&table.to_ascii_lowercase())
            .ok_or_else(|| StoreError::UnknownTable(table.to_owned()))
    }

    fn table_mut(&mut self, table: &str) -> Result<&mut Table, StoreError> {
        self.state
            .tables
            .get_mut(&table.to_ascii_lowercase())
            .ok_or_else(|| StoreError::UnknownTable(table.to_owned()))
    }

    fn set_row(
        &mut self,
        table: &str,
        id: &str,
        row: Option<Record>,
    ) -> Result<Option<Record>, StoreError> {
        let t = self.table_mut(table)?;
        let prev = match row {
            Some(r) => t.rows.insert(id.to_owned(), r),
            None => t.rows.remove(id),
        };
        let (tk, id) = (table.to_ascii_lowercase(), id.to_owned());
        let restore = prev.clone();
        self.undo.push(Box::new(move |s| {
            if let Some(t) = s.tables.get_mut(&tk) {
                match restore {
                    Some(r) => t.rows.insert(id, r),
                    None => t.rows.remove(&id),
                };
            }
        }));
        Ok(prev)
    }

    fn matching(&self, table: &str, filter: Option<&Filter>) -> Result<Vec<&Record>, StoreError> {
        let t = self.table(table)?;
        let filter = filter.map(|f| resolve_filter(&t.schema, f)).transpose()?;
        Ok(t.rows
            .values()
            .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
            .collect())
    }
}

/// A filter whose values are coerced to their columns' types and whose column names
/// are the schema's spelling.
fn resolve_filter(schema: &TableSchema, f: &Filter) -> Result<Filter, StoreError> {
    let column = |name: &str| {
        schema
            .column(name)
            .ok_or_else(|| StoreError::UnknownColumn {
                table: schema.name.clone(),
                column: name.to_owned(),
            })
    };
    Ok(match f {
        Filter::Cmp {
            column: c,
            op,
            value,
        } => {
            let col = column(c)?;
            let value = match op {
                CmpOp::StartsWith | CmpOp::EndsWith | CmpOp::Contains => value.clone(),
                _ => coerce(&schema.name, col, value.clone())?,
            };
            Filter::Cmp {
                column: col.name.clone(),
                op: *op,
                value,
            }
        }
        Filter::IsNull(c) => Filter::IsNull(column(c)?.name.clone()),
        Filter::And(v) => Filter::And(
            v.iter()
                .map(|f| resolve_filter(schema, f))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Or(v) => Filter::Or(
            v.iter()
                .map(|f| resolve_filter(schema, f))
                .collect::<Result<_, _>>()?,
        ),
        Filter::Not(f) => Filter::Not(Box::new(resolve_filter(schema, f)?)),
    })
}

impl StoreTx for MemTx<'_> {
    fn ensure_table(&mut self, schema: &TableSchema) -> Result<(), StoreError> {
        schema.validate()?;
        let tk = schema.name.to_ascii_lowercase();
        let merged = match self.state.tables.get(&tk) {
            None => schema.clone(),
            Some(existing) => schema.migrate_from(&existing.schema)?,
        };
        let prev_schema = self.state.tables.get(&tk).map(|t| t.schema.clone());
        match self.state.tables.get_mut(&tk) {
            Some(t) => t.schema = merged,
            None => {
                self.state.tables.insert(
                    tk.clone(),
                    Table {
                        schema: merged,
                        rows: BTreeMap::new(),
                    },
                );
            }
        }
        self.undo.push(Box::new(move |s| match prev_schema {
            Some(p) => {
                if let Some(t) = s.tables.get_mut(&tk) {
                    t.schema = p;
                }
            }
            None => {
                s.tables.remove(&tk);
            }
        }));
        Ok(())
    }

    fn table_schema(&mut self, table: &str) -> Result<Option<TableSchema>, StoreError> {
        Ok(self
            .state
            .tables
            .get(&table.to_ascii_lowercase())
            .map(|t| t.schema.clone()))
    }

    fn get(&mut self, table: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let t = self.table(table)?;
        Ok(t.rows.get(id).map(|r| full_row(&t.schema, r)))
    }

    fn upsert(&mut self, table: &str, record: &Record) -> Result<(), StoreError> {
        let row = normalize(&self.table(table)?.schema, record)?;
        let id = row.id().unwrap_or_default().to_owned();
        self.set_row(table, &id, Some(row))?;
        Ok(())
    }

    fn delete(&mut self, table: &str, id: &str) -> Result<bool, StoreError> {
        Ok(self.set_row(table, id, None)?.is_some())
    }

    fn query(&mut self, table: &str, query: &Query) -> Result<Vec<Record>, StoreError> {
        let schema = self.table(table)?.schema.clone();
        let mut keys = Vec::with_capacity(query.order_by.len());
        for (c, o) in &query.order_by {
            let col = schema.column(c).ok_or_else(|| StoreError::UnknownColumn {
                table: schema.name.clone(),
                column: c.clone(),
            })?;
            keys.push((col.name.clone(), *o));
        }
        let mut rows = self.matching(table, query.filter.as_ref())?;
        rows.sort_by(|a, b| {
            for (c, o) in &keys {
                let ord = super::query::sort_cmp(
                    a.get(c).unwrap_or(&Value::Null),
                    b.get(c).unwrap_or(&Value::Null),
                );
                let ord = if *o == Order::Desc {
                    ord.reverse()
                } else {
                    ord
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            a.id().cmp(&b.id())
        });
        let skip = usize::try_from(query.offset).unwrap_or(usize::MAX);
        let take = query
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        Ok(rows
            .into_iter()
            .skip(skip)
            .take(take)
            .map(|r| full_row(&schema, r))
            .collect())
    }

    fn count(&mut self, table: &str, filter: Option<&Filter>) -> Result<u64, StoreError> {
        Ok(self.matching(table, filter)?.len() as u64)
    }

    fn clear_table(&mut self, table: &str) -> Result<u64, StoreError> {
        let ids: Vec<String> = self.table(table)?.rows.keys().cloned().collect();
        for id in &ids {
            self.set_row(table, id, None)?;
            self.remove_base(table, id)?;
            self.remove_conflict(table, id)?;
        }
        // Conflicts and bases of items no longer present locally go too.
        let tk = table.to_ascii_lowercase();
        let stale: Vec<String> = self
            .state
            .bases
            .keys()
            .filter(|k| k.0 == tk)
            .map(|k| k.1.clone())
            .chain(
                self.state
                    .conflict_index
                    .keys()
                    .filter(|k| k.0 == tk)
                    .map(|k| k.1.clone()),
            )
            .collect();
        for id in stale {
            self.remove_base(table, &id)?;
            self.remove_conflict(table, &id)?;
        }
        self.remove_watermarks(table, None)?;
        Ok(ids.len() as u64)
    }

    fn op(&mut self, table: &str, id: &str) -> Result<Option<Operation>, StoreError> {
        Ok(self
            .state
            .op_index
            .get(&key(table, id))
            .and_then(|seq| self.state.ops.get(seq))
            .cloned())
    }

    fn ops(&mut self, table: Option<&str>) -> Result<Vec<Operation>, StoreError> {
        Ok(self
            .state
            .ops
            .values()
            .filter(|op| table.is_none_or(|t| op.table.eq_ignore_ascii_case(t)))
            .cloned()
            .collect())
    }

    fn add_op(&mut self, mut op: Operation) -> Result<Operation, StoreError> {
        let k = key(&op.table, &op.item_id);
        if self.state.op_index.contains_key(&k) {
            return Err(StoreError::QueueConflict {
                table: op.table.clone(),
                id: op.item_id.clone(),
                pending: self.op(&op.table, &op.item_id)?.map_or(op.kind, |p| p.kind),
                new: op.kind,
            });
        }
        self.state.next_seq += 1;
        op.seq = self.state.next_seq;
        self.state.ops.insert(op.seq, op.clone());
        self.state.op_index.insert(k.clone(), op.seq);
        let seq = op.seq;
        self.undo.push(Box::new(move |s| {
            s.ops.remove(&seq);
            s.op_index.remove(&k);
            s.next_seq -= 1;
        }));
        Ok(op)
    }

    fn replace_op(&mut self, op: &Operation) -> Result<(), StoreError> {
        let seq = *self
            .state
            .op_index
            .get(&key(&op.table, &op.item_id))
            .ok_or_else(|| StoreError::NoOperation {
                table: op.table.clone(),
                id: op.item_id.clone(),
            })?;
        let mut stored = op.clone();
        stored.seq = seq;
        let prev = self.state.ops.insert(seq, stored);
        self.undo.push(Box::new(move |s| {
            if let Some(p) = prev {
                s.ops.insert(seq, p);
            }
        }));
        Ok(())
    }

    fn remove_op(&mut self, table: &str, id: &str) -> Result<bool, StoreError> {
        let k = key(table, id);
        let Some(seq) = self.state.op_index.remove(&k) else {
            return Ok(false);
        };
        let prev = self.state.ops.remove(&seq);
        self.undo.push(Box::new(move |s| {
            s.op_index.insert(k, seq);
            if let Some(p) = prev {
                s.ops.insert(seq, p);
            }
        }));
        Ok(true)
    }

    fn save_conflict(&mut self, conflict: &StoredConflict) -> Result<(), StoreError> {
        self.remove_conflict(&conflict.table, &conflict.item_id)?;
        self.state.next_conflict += 1;
        let n = self.state.next_conflict;
        let k = key(&conflict.table, &conflict.item_id);
        self.state.conflicts.insert(n, conflict.clone());
        self.state.conflict_index.insert(k.clone(), n);
        self.undo.push(Box::new(move |s| {
            s.conflicts.remove(&n);
            s.conflict_index.remove(&k);
            s.next_conflict -= 1;
        }));
        Ok(())
    }

    fn conflict(&mut self, table: &str, id: &str) -> Result<Option<StoredConflict>, StoreError> {
        Ok(self
            .state
            .conflict_index
            .get(&key(table, id))
            .and_then(|n| self.state.conflicts.get(n))
            .cloned())
    }

    fn conflicts(&mut self, table: Option<&str>) -> Result<Vec<StoredConflict>, StoreError> {
        Ok(self
            .state
            .conflicts
            .values()
            .filter(|c| table.is_none_or(|t| c.table.eq_ignore_ascii_case(t)))
            .cloned()
            .collect())
    }

    fn remove_conflict(&mut self, table: &str, id: &str) -> Result<bool, StoreError> {
        let k = key(table, id);
        let Some(n) = self.state.conflict_index.remove(&k) else {
            return Ok(false);
        };
        let prev = self.state.conflicts.remove(&n);
        self.undo.push(Box::new(move |s| {
            s.conflict_index.insert(k, n);
            if let Some(p) = prev {
                s.conflicts.insert(n, p);
            }
        }));
        Ok(true)
    }

    fn base(&mut self, table: &str, id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.state.bases.get(&key(table, id)).cloned())
    }

    fn set_base(&mut self, table: &str, record: &Record) -> Result<(), StoreError> {
        let row = normalize(&self.table(table)?.schema, record)?;
        let k = key(table, row.id().unwrap_or_default());
        let prev = self.state.bases.insert(k.clone(), row);
        self.undo.push(Box::new(move |s| match prev {
            Some(p) => {
                s.bases.insert(k, p);
            }
            None => {
                s.bases.remove(&k);
            }
        }));
        Ok(())
    }

    fn remove_base(&mut self, table: &str, id: &str) -> Result<bool, StoreError> {
        let k = key(table, id);
        let Some(prev) = self.state.bases.remove(&k) else {
            return Ok(false);
        };
        self.undo.push(Box::new(move |s| {
            s.bases.insert(k, prev);
        }));
        Ok(true)
    }

    fn watermark(&mut self, table: &str, query_id: &str) -> Result<Option<Watermark>, StoreError> {
        Ok(self.state.watermarks.get(&key(table, query_id)).cloned())
    }

    fn set_watermark(
        &mut self,
        table: &str,
        query_id: &str,
        mark: &Watermark,
    ) -> Result<(), StoreError> {
        let k = key(table, query_id);
        let prev = self.state.watermarks.insert(k.clone(), mark.clone());
        self.undo.push(Box::new(move |s| match prev {
            Some(p) => {
                s.watermarks.insert(k, p);
            }
            None => {
                s.watermarks.remove(&k);
            }
        }));
        Ok(())
    }

    fn remove_watermarks(
        &mut self,
        table: &str,
        query_id: Option<&str>,
    ) -> Result<u64, StoreError> {
        let tk = table.to_ascii_lowercase();
        let keys: Vec<Key> = self
            .state
            .watermarks
            .keys()
            .filter(|k| k.0 == tk && query_id.is_none_or(|q| k.1 == q))
            .cloned()
            .collect();
        for k in &keys {
            if let Some(prev) = self.state.watermarks.remove(k) {
                let k = k.clone();
                self.undo.push(Box::new(move |s| {
                    s.watermarks.insert(k, prev);
                }));
            }
        }
        Ok(keys.len() as u64)
    }
}

/// A stored row widened to every column of the (possibly migrated) schema.
fn full_row(schema: &TableSchema, row: &Record) -> Record {
    let mut out = Record::with_capacity(schema.columns.len());
    for col in &schema.columns {
        let v = row.get(&col.name).cloned().unwrap_or(match col.ty {
            ColumnType::Bool if col.system.is_some() => Value::Bool(false),
            _ => Value::Null,
        });
        out.push(col.name.clone(), v);
    }
    out
}

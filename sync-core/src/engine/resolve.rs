//! Resolving conflicts, untyped: a table's policy becomes a [`Decider`] over stored
//! conflicts, and [`apply`] carries out a resolution inside one store transaction.
//! Both the policies during sync and the app's manual `resolve` go through `apply`.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::conflict::{Conflict, ConflictPolicy, Decision, Resolution};
use crate::model::{Record, Syncable, SystemColumn, TableSchema, Value};
use crate::store::{OpKind, Operation, StoreTx, StoredConflict};

use super::SyncError;

/// A resolution over records.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RecordResolution {
    KeepLocal,
    KeepRemote,
    Use(Record),
}

/// A decision over records.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RecordDecision {
    Resolve(RecordResolution),
    Defer,
    AbortPush,
}

pub(crate) type Decider =
    Arc<dyn Fn(&StoredConflict) -> Result<RecordDecision, SyncError> + Send + Sync>;

/// Asked before each operation is sent: `false` aborts the push.
pub(crate) type Gate =
    Arc<dyn Fn(OpKind, Option<&Record>) -> Result<bool, SyncError> + Send + Sync>;

/// The per-operation gate of a handler policy (other policies send everything).
pub(crate) fn gate<T: Syncable + Send + 'static>(policy: &ConflictPolicy<T>) -> Option<Gate> {
    let ConflictPolicy::Handler(h) = policy else {
        return None;
    };
    let h = Arc::clone(h);
    Some(Arc::new(move |kind, row| {
        let item = row.cloned().map(T::from_record).transpose()?;
        Ok(h.before_send(kind, item.as_ref()) == crate::conflict::Proceed::Send)
    }))
}

/// Turns a typed policy into a decider over stored conflicts.
pub(crate) fn decider<T: Syncable + Send + 'static>(policy: ConflictPolicy<T>) -> Decider {
    use RecordDecision::{Defer, Resolve};
    use RecordResolution::{KeepLocal, KeepRemote};
    match policy {
        ConflictPolicy::Manual => Arc::new(|_| Ok(Defer)),
        ConflictPolicy::ServerWins => Arc::new(|_| Ok(Resolve(KeepRemote))),
        ConflictPolicy::ClientWins => Arc::new(|c| {
            // A server delete cannot be overridden under the same id: leave it to the app.
            Ok(if c.remote.is_none() && c.local.is_some() {
                Defer
            } else {
                Resolve(KeepLocal)
            })
        }),
        ConflictPolicy::LastWriterWins => Arc::new(|c| {
            Ok(match (&c.local, &c.remote) {
                (Some(l), Some(r)) => match (time_of(l), time_of(r)) {
                    (Some(lt), Some(rt)) if lt > rt => Resolve(KeepLocal),
                    (Some(_), Some(_)) => Resolve(KeepRemote),
                    _ => Defer,
                },
                _ => Defer,
            })
        }),
        ConflictPolicy::FieldMerge => Arc::new(|c| {
            Ok(match (&c.base, &c.local, &c.remote) {
                (Some(b), Some(l), Some(r)) => {
                    // Local-only columns are the device's: the local value, never a clash.
                    let (mut b, mut r) = (b.clone(), r.clone());
                    for col in T::schema().local_columns() {
                        if let Some(v) = l.get(&col.name) {
                            b.set(col.name.as_str(), v.clone());
                            r.set(col.name.as_str(), v.clone());
                        }
                    }
                    let merged = Record::merge3(&b, l, &r);
                    if merged.is_clean() {
                        Resolve(RecordResolution::Use(merged.value))
                    } else {
                        Defer
                    }
                }
                _ => Defer,
            })
        }),
        ConflictPolicy::Handler(h) => Arc::new(move |c| {
            let typed = typed_conflict::<T>(c)?;
            Ok(match h.on_conflict(&typed) {
                Decision::Resolve(Resolution::KeepLocal) => Resolve(KeepLocal),
                Decision::Resolve(Resolution::KeepRemote) => Resolve(KeepRemote),
                Decision::Resolve(Resolution::Use(v)) => {
                    Resolve(RecordResolution::Use(v.to_record()?))
                }
                Decision::Defer => Defer,
                Decision::AbortPush => RecordDecision::AbortPush,
            })
        }),
    }
}

fn time_of(r: &Record) -> Option<DateTime<Utc>> {
    match r.get(SystemColumn::UpdatedAt.name())? {
        Value::DateTime(t) => Some(*t),
        Value::Text(s) => crate::model::instant::parse(s),
        _ => None,
    }
}

/// Decodes a stored conflict into the app's type. The server's side carries the
/// device's local-only fields (the server has none), so that taking it as it is keeps
/// them.
pub(crate) fn typed_conflict<T: Syncable>(c: &StoredConflict) -> Result<Conflict<T>, SyncError> {
    let decode = |r: &Option<Record>| r.clone().map(T::from_record).transpose();
    let mut remote = c.remote.clone();
    if let Some(r) = &mut remote {
        let device = c.local.as_ref().or(c.base.as_ref());
        for col in T::schema().local_columns() {
            if let Some(v) = device.and_then(|d| d.get(&col.name)) {
                r.set(col.name.as_str(), v.clone());
            }
        }
    }
    Ok(Conflict {
        id: c.item_id.clone(),
        kind: c.kind,
        local: decode(&c.local)?,
        remote: decode(&remote)?,
        base: decode(&c.base)?,
        detected_at: c.detected_at,
    })
}

/// A record cut down to the columns the local table has (a server may send columns
/// that other clients added).
pub(crate) fn fit(tx: &mut dyn StoreTx, table: &str, record: &Record) -> Result<Record, SyncError> {
    Ok(fit_to(&stored_schema(tx, table)?, record))
}

/// The schema the store holds for a table.
pub(crate) fn stored_schema(tx: &mut dyn StoreTx, table: &str) -> Result<TableSchema, SyncError> {
    Ok(tx
        .table_schema(table)?
        .ok_or_else(|| crate::store::StoreError::UnknownTable(table.to_owned()))?)
}

/// [`fit`] against a schema the caller already has (a pull fetches it once per page).
pub(crate) fn fit_to(schema: &TableSchema, record: &Record) -> Record {
    record
        .iter()
        .filter(|(name, _)| schema.column(name).is_some())
        .map(|(n, v)| (n.to_owned(), v.clone()))
        .collect()
}

/// A server's record as the local table would hold it: [`fit_to`], without the
/// local-only columns (the server has none: a column of that name is another client's).
pub(crate) fn fit_remote(schema: &TableSchema, record: &Record) -> Record {
    record
        .iter()
        .filter(|(name, _)| schema.column(name).is_some_and(|c| !c.local))
        .map(|(n, v)| (n.to_owned(), v.clone()))
        .collect()
}

/// A record that is not the app's own write (a server copy, a base copy) made ready to
/// replace the stored row: [`fit_remote`], with the local-only columns as stored. Sync
/// never touches local-only columns.
pub(crate) fn keeping_local_columns(
    tx: &mut dyn StoreTx,
    schema: &TableSchema,
    table: &str,
    id: &str,
    record: &Record,
) -> Result<Record, SyncError> {
    let mut row = fit_remote(schema, record);
    if schema.local_columns().next().is_some()
        && let Some(stored) = tx.get(table, id)?
    {
        for col in schema.local_columns() {
            if let Some(v) = stored.get(&col.name) {
                row.set(col.name.as_str(), v.clone());
            }
        }
    }
    Ok(row)
}

/// Settles an item whose operation has ended: the server's copy becomes the local row
/// (or the row goes, when the server deleted it), and the base is dropped. A base is
/// only kept while a local change is pending: it is captured with the first local
/// change (see `SyncTable::update`), when the local row is the last synced copy.
pub(crate) fn settle(
    tx: &mut dyn StoreTx,
    table: &str,
    id: &str,
    remote: Option<&Record>,
) -> Result<(), SyncError> {
    settle_with(tx, None, table, id, remote)
}

/// [`settle`], given the table's stored schema when the caller already has it (a group
/// commit of push answers fetches it once per table, not once per answer).
pub(crate) fn settle_with(
    tx: &mut dyn StoreTx,
    schema: Option<&TableSchema>,
    table: &str,
    id: &str,
    remote: Option<&Record>,
) -> Result<(), SyncError> {
    match (remote.filter(|r| !r.is_deleted()), schema) {
        (Some(r), Some(schema)) => apply_server_copy(tx, schema, table, id, Some(r))?,
        (Some(r), None) => {
            let schema = stored_schema(tx, table)?;
            apply_server_copy(tx, &schema, table, id, Some(r))?;
        }
        (None, _) => {
            tx.delete(table, id)?;
        }
    }
    tx.remove_base(table, id)?;
    Ok(())
}

/// The server's copy becomes the local row (or the row goes, when the server deleted
/// it). Touches nothing else: for an item with no pending change, that is all a pull
/// needs to write.
pub(crate) fn apply_server_copy(
    tx: &mut dyn StoreTx,
    schema: &TableSchema,
    table: &str,
    id: &str,
    remote: Option<&Record>,
) -> Result<(), SyncError> {
    match remote.filter(|r| !r.is_deleted()) {
        // Most server copies have only known columns: store them without a copy.
        Some(r)
            if r.iter()
                .all(|(name, _)| schema.column(name).is_some_and(|c| !c.local))
                && schema.local_columns().next().is_none() =>
        {
            tx.upsert(table, r)?
        }
        // A table with local-only columns costs one read of the stored row per copy.
        Some(r) => {
            let row = keeping_local_columns(tx, schema, table, id, r)?;
            tx.upsert(table, &row)?
        }
        None => {
            tx.delete(table, id)?;
        }
    }
    Ok(())
}

/// Puts (or rewrites) an item's queue entry so that it is sent against `version`.
fn requeue(
    tx: &mut dyn StoreTx,
    table: &str,
    id: &str,
    kind: OpKind,
    version: Option<String>,
    item: Option<Record>,
) -> Result<(), SyncError> {
    match tx.op(table, id)? {
        Some(mut op) => {
            op.kind = kind;
            op.version = version;
            op.item = item;
            op.revision += 1;
            op.error = None;
            tx.replace_op(&op)?;
        }
        None => {
            tx.add_op(
                Operation::new(table, id, kind)
                    .with_version(version)
                    .with_item(item),
            )?;
        }
    }
    Ok(())
}

/// Carries out a resolution of a stored conflict, in the caller's transaction.
pub(crate) fn apply(
    tx: &mut dyn StoreTx,
    conflict: &StoredConflict,
    resolution: RecordResolution,
) -> Result<(), SyncError> {
    let (table, id) = (conflict.table.as_str(), conflict.item_id.as_str());
    let remote = conflict.remote.as_ref().filter(|r| !r.is_deleted());
    let remote_version = remote.and_then(|r| r.version()).map(str::to_owned);
    let remote_deleted = || SyncError::RemoteDeleted {
        table: table.to_owned(),
        id: id.to_owned(),
    };
    match resolution {
        RecordResolution::KeepRemote => {
            tx.remove_op(table, id)?;
            settle(tx, table, id, remote)?;
        }
        RecordResolution::KeepLocal => match (remote, tx.get(table, id)?) {
            (Some(r), Some(mut row)) => {
                row.set(SystemColumn::Version.name(), remote_version.clone());
                tx.upsert(table, &row)?;
                let base = fit_remote(&stored_schema(tx, table)?, r);
                tx.set_base(table, &base)?;
                requeue(tx, table, id, OpKind::Update, remote_version, None)?;
            }
            (Some(r), None) => {
                // The local delete wins: delete the server's current version.
                let base = fit_remote(&stored_schema(tx, table)?, r);
                tx.set_base(table, &base)?;
                let item = tx.op(table, id)?.and_then(|op| op.item);
                requeue(tx, table, id, OpKind::Delete, remote_version, item)?;
            }
            (None, Some(_)) => return Err(remote_deleted()),
            (None, None) => {
                // Deleted on both sides: nothing left to do.
                tx.remove_op(table, id)?;
                tx.remove_base(table, id)?;
            }
        },
        RecordResolution::Use(value) => {
            let Some(r) = remote else {
                return Err(remote_deleted());
            };
            let schema = stored_schema(tx, table)?;
            let mut row = fit_to(&schema, &value);
            // A value without the local-only columns (a merge over records) keeps them.
            if let Some(stored) = tx.get(table, id)? {
                for col in schema.local_columns() {
                    if !row.contains(&col.name)
                        && let Some(v) = stored.get(&col.name)
                    {
                        row.set(col.name.as_str(), v.clone());
                    }
                }
            }
            row.set(SystemColumn::Id.name(), id);
            row.set(SystemColumn::Version.name(), remote_version.clone());
            row.set(SystemColumn::UpdatedAt.name(), Value::DateTime(Utc::now()));
            tx.upsert(table, &row)?;
            let base = fit_remote(&schema, r);
            tx.set_base(table, &base)?;
            requeue(tx, table, id, OpKind::Update, remote_version, None)?;
        }
    }
    tx.remove_conflict(table, id)?;
    Ok(())
}

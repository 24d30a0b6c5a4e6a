//! [`SqliteTx`]: the [`StoreTx`] of one SQLite transaction. Every statement is cached
//! SQL text (bookkeeping: [`crate::bookkeeping::sql`], app tables: [`TableInfo`]) run
//! through `prepare_cached`; only queries with a filter are built per call.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, ToSqlOutput};
use std::cell::RefCell;
use std::rc::Rc;

use rusqlite::{CachedStatement, Connection, Row, Statement, ToSql};
use sea_query::{Alias, Asterisk, Expr, Func, Query as SeaQuery, SqliteQueryBuilder};
use sea_query_rusqlite::RusqliteBinder;
use sync_core::model::{instant, normalize};
use sync_core::store::{
    ConflictKind, OpKind, Operation, Order, Query, StoreError, StoreTx, StoredConflict, Watermark,
};
use sync_core::{Column, ColumnType, Record, SystemColumn, TableSchema, Value};

use crate::bookkeeping::{self, Sql};
use crate::codec;
use crate::error::{backend, corrupt, is_unique_violation};
use crate::filter::{col_expr, condition, find};
use crate::queue_index::{QueueChanges, QueueIndex};
use crate::table::{TableInfo, Tables, add_column, create_table};
use crate::values::{from_sql, instant_to_sql, to_sql};

/// Table names compare ignoring ASCII case, as in SQLite.
pub(crate) fn table_key(table: &str) -> String {
    table.to_ascii_lowercase()
}

/// What a statement was doing, for error messages; formatted only when one is shown,
/// so the hot path allocates nothing for it.
#[derive(Clone, Copy)]
struct What<'a> {
    doing: &'static str,
    table: Option<&'a str>,
    id: Option<&'a str>,
}

impl Display for What<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.doing)?;
        if let Some(t) = self.table {
            write!(f, " `{t}`")?;
        }
        if let Some(id) = self.id {
            write!(f, " id `{id}`")?;
        }
        Ok(())
    }
}

fn on<'a>(doing: &'static str, table: &'a str) -> What<'a> {
    What {
        doing,
        table: Some(table),
        id: None,
    }
}

fn on_id<'a>(doing: &'static str, table: &'a str, id: &'a str) -> What<'a> {
    What {
        doing,
        table: Some(table),
        id: Some(id),
    }
}

/// Names a bookkeeping row in a corruption message.
struct Seq(i64);

impl Display for Seq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seq {}", self.0)
    }
}

/// The schema cache as one transaction sees it: the committed cache plus this
/// transaction's changes, which reach the cache only when it commits.
///
/// Every statement comes from rusqlite's prepared-statement cache.
pub(crate) struct SqliteTx<'a> {
    conn: &'a Connection,
    committed: &'a Tables,
    changed: Tables,
    /// `None` for a read beside the writer: the index is the writer's (see `store`), so
    /// the queue table is asked about every item.
    queued: Option<&'a QueueIndex>,
    queue_changes: QueueChanges,
    sql: &'static Sql,
    /// Table names as given → their keys, so a batch lowercases each name once.
    keys: RefCell<Vec<(Box<str>, Rc<str>)>>,
    /// Whether the store holds no conflict at all, once looked up: a push asks about
    /// every operation it sends, and there is almost never one.
    no_conflicts: Option<bool>,
}

impl<'a> SqliteTx<'a> {
    pub(crate) fn new(
        conn: &'a Connection,
        committed: &'a Tables,
        queued: Option<&'a QueueIndex>,
    ) -> SqliteTx<'a> {
        SqliteTx {
            conn,
            committed,
            changed: Tables::default(),
            queued,
            queue_changes: QueueChanges::default(),
            sql: bookkeeping::sql(),
            keys: RefCell::new(Vec::new()),
            no_conflicts: None,
        }
    }

    /// The schema and queue changes to publish if the transaction commits.
    pub(crate) fn into_changes(self) -> (Tables, QueueChanges) {
        (self.changed, self.queue_changes)
    }

    /// False when the item certainly has no queued operation.
    fn maybe_queued(&self, key: &str, id: &str) -> bool {
        let Some(queued) = self.queued else {
            return true;
        };
        let h = queued.hash(key, id);
        queued.maybe_contains(&self.queue_changes, h)
    }

    fn info(&self, key: &str) -> Option<Arc<TableInfo>> {
        self.changed
            .get(key)
            .or_else(|| self.committed.get(key))
            .cloned()
    }

    /// [`table_key`], remembered for the transaction.
    fn key(&self, table: &str) -> Rc<str> {
        let mut keys = self.keys.borrow_mut();
        if let Some((_, k)) = keys.iter().find(|(t, _)| **t == *table) {
            return Rc::clone(k);
        }
        let k: Rc<str> = table_key(table).into();
        keys.push((table.into(), Rc::clone(&k)));
        k
    }

    fn known(&self, table: &str) -> Result<Arc<TableInfo>, StoreError> {
        self.info(&self.key(table))
            .ok_or_else(|| StoreError::UnknownTable(table.to_owned()))
    }

    /// A statement from rusqlite's cache.
    fn stmt(&self, sql: &str, what: impl Display) -> Result<CachedStatement<'a>, StoreError> {
        self.conn
            .prepare_cached(sql)
            .map_err(backend(format_args!("preparing {what}")))
    }

    /// Runs a cached statement with these parameters; returns the number of rows changed.
    fn exec(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        what: impl Display,
    ) -> Result<usize, StoreError> {
        let mut st = self.stmt(sql, &what)?;
        bind(&mut st, params, &what)?;
        st.raw_execute().map_err(backend(what))
    }

    /// Runs a cached query and maps each row.
    fn rows<T>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        what: impl Display,
        mut map: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut st = self.stmt(sql, &what)?;
        bind(&mut st, params, &what)?;
        let mut rows = st.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(backend(&what))? {
            out.push(map(row)?);
        }
        Ok(out)
    }

    fn first<T>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        what: impl Display,
        map: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut st = self.stmt(sql, &what)?;
        bind(&mut st, params, &what)?;
        let mut rows = st.raw_query();
        match rows.next().map_err(backend(&what))? {
            Some(row) => map(row).map(Some),
            None => Ok(None),
        }
    }

    fn ddl(&self, sql: &str, what: impl Display) -> Result<(), StoreError> {
        tracing::debug!(change = %what, "local schema change");
        self.conn.execute(sql, []).map(drop).map_err(backend(what))
    }
}

fn bind(
    st: &mut Statement<'_>,
    params: &[&dyn ToSql],
    what: impl Display,
) -> Result<(), StoreError> {
    for (i, p) in params.iter().enumerate() {
        st.raw_bind_parameter(i + 1, p)
            .map_err(backend(format_args!(
                "binding parameter {} of {what}",
                i + 1
            )))?;
    }
    Ok(())
}

/// Reads column `i` of a bookkeeping row; a value of the wrong type is corruption.
fn get<T: FromSql>(
    row: &Row<'_>,
    i: usize,
    table: &str,
    which: &dyn Display,
) -> Result<T, StoreError> {
    row.get::<_, T>(i).map_err(|e| match e {
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => corrupt(table, which, e),
        e => backend(format_args!("reading `{table}`, {which}"))(e),
    })
}

/// A row of an app table, every column decoded by its logical type.
fn decode_row(schema: &TableSchema, row: &Row<'_>) -> Result<Record, StoreError> {
    let id_at = schema
        .columns
        .iter()
        .position(|c| c.system == Some(SystemColumn::Id));
    let id = || match id_at.map(|i| row.get_ref(i)) {
        Some(Ok(v)) => String::from_utf8_lossy(v.as_bytes().unwrap_or(b"?")).into_owned(),
        _ => "?".to_owned(),
    };
    let mut out = Record::with_capacity(schema.columns.len());
    for (i, col) in schema.columns.iter().enumerate() {
        let v = row.get_ref(i).map_err(backend(format_args!(
            "reading `{}`.`{}`",
            schema.name, col.name
        )))?;
        out.push(col.name.clone(), from_sql(&schema.name, &id, col, v)?);
    }
    Ok(out)
}

fn decode_record(table: &str, which: &dyn Display, text: &str) -> Result<Record, StoreError> {
    codec::decode_record(text).map_err(|e| corrupt(table, which, e))
}

fn opt_record(
    table: &str,
    which: &dyn Display,
    text: Option<String>,
) -> Result<Option<Record>, StoreError> {
    text.map(|t| decode_record(table, which, &t)).transpose()
}

/// An operation row ([`bookkeeping`] `OP_COLUMNS` order).
fn decode_op(row: &Row<'_>) -> Result<Operation, StoreError> {
    let t = bookkeeping::OPS;
    let seq: i64 = get(row, 0, t, &"?")?;
    let which = Seq(seq);
    let kind: String = get(row, 3, t, &which)?;
    let attempts: i64 = get(row, 6, t, &which)?;
    let error: Option<String> = get(row, 8, t, &which)?;
    Ok(Operation {
        seq: u64::try_from(seq).map_err(|_| corrupt(t, &which, "negative seq"))?,
        table: get(row, 1, t, &which)?,
        item_id: get(row, 2, t, &which)?,
        kind: OpKind::from_name(&kind)
            .ok_or_else(|| corrupt(t, &which, format_args!("unknown kind `{kind}`")))?,
        version: get(row, 4, t, &which)?,
        item: opt_record(t, &which, get(row, 5, t, &which)?)?,
        attempts: u32::try_from(attempts)
            .map_err(|_| corrupt(t, &which, format_args!("attempts {attempts} out of range")))?,
        // Stored as the i64 with the same bits (see `add_op`).
        revision: get::<i64>(row, 7, t, &which)? as u64,
        error: error
            .map(|e| codec::decode_op_error(&e).map_err(|why| corrupt(t, &which, why)))
            .transpose()?,
    })
}

fn decode_conflict(row: &Row<'_>) -> Result<StoredConflict, StoreError> {
    let t = bookkeeping::CONFLICTS;
    let table: String = get(row, 0, t, &"?")?;
    let item_id: String = get(row, 1, t, &"?")?;
    let which = format!("table `{table}` id `{item_id}`");
    let kind: String = get(row, 2, t, &which)?;
    let detected: String = get(row, 6, t, &which)?;
    Ok(StoredConflict {
        kind: ConflictKind::from_name(&kind)
            .ok_or_else(|| corrupt(t, &which, format_args!("unknown kind `{kind}`")))?,
        local: opt_record(t, &which, get(row, 3, t, &which)?)?,
        remote: opt_record(t, &which, get(row, 4, t, &which)?)?,
        base: opt_record(t, &which, get(row, 5, t, &which)?)?,
        detected_at: instant::parse_stored(&detected)
            .ok_or_else(|| corrupt(t, &which, format_args!("bad instant `{detected}`")))?,
        table,
        item_id,
    })
}

/// Widest table [`as_is`] takes (one bit per column); a wider one goes through
/// `normalize`.
const AS_IS_COLUMNS: usize = 64;

/// The values [`normalize`] would return for `record`, borrowed from it, in schema
/// order, when it would return them unchanged: every column named exactly as in the
/// schema, a non-empty text id, and every value `Null` or already of its column's type
/// ([`coerce`](sync_core::model::coerce) returns such a value as it is) — or an
/// instant's RFC 3339 text in an instant column, parsed here as `coerce` parses it (the
/// server's `updatedAt` and `createdAt` arrive as text on every pulled row). `None`
/// when something else needs converting, is named in another case or is wrong: then
/// the caller goes through `normalize`, which converts or reports the error exactly as
/// MemoryStore does. One pass over the record, one over the schema and no allocation,
/// where `normalize` allocates a dozen times.
///
/// Exact names are enough to find every value `Record::get` (which `normalize` uses)
/// would find: schema names differ even ignoring case, so a record whose names all
/// match exactly has no name that matches another column in another case.
fn as_is<'r>(schema: &TableSchema, record: &'r Record) -> Option<AsIs<'r>> {
    const NULL: &Value = &Value::Null;
    const NOT_DELETED: &Value = &Value::Bool(false);
    let columns = &schema.columns;
    if columns.len() > AS_IS_COLUMNS {
        return None;
    }
    let mut values = [NULL; AS_IS_COLUMNS];
    let mut given = 0u64;
    for (name, v) in record.iter() {
        let i = columns.iter().position(|c| c.name == name)?;
        // Of two values under one name, the first counts, as in `Record::get`.
        if given & (1 << i) == 0 {
            given |= 1 << i;
            values[i] = v;
        }
    }
    let mut row = AsIs {
        values: [Slot::Value(NULL); AS_IS_COLUMNS],
        len: columns.len(),
    };
    for ((col, v), out) in columns.iter().zip(values).zip(&mut row.values) {
        *out = match v {
            Value::Null if col.system == Some(SystemColumn::Deleted) => Slot::Value(NOT_DELETED),
            Value::Null => Slot::Value(NULL),
            v if v.natural_type() == Some(col.ty) => Slot::Value(v),
            Value::Text(s) if col.ty == ColumnType::DateTime => Slot::Instant(instant::parse(s)?),
            _ => return None,
        };
        if col.system == Some(SystemColumn::Id) && !matches!(v, Value::Text(id) if !id.is_empty()) {
            return None;
        }
    }
    Some(row)
}

/// [`as_is`]'s answer: a row's values in schema order.
struct AsIs<'r> {
    values: [Slot<'r>; AS_IS_COLUMNS],
    len: usize,
}

/// One value of an [`AsIs`] row: the record's own, or an instant parsed from its text.
/// (Plain data: a row of them is dropped and moved for nothing.)
#[derive(Clone, Copy)]
enum Slot<'r> {
    Value(&'r Value),
    Instant(DateTime<Utc>),
}

impl<'r> Slot<'r> {
    fn to_sql(self) -> ToSqlOutput<'r> {
        match self {
            Slot::Value(v) => to_sql(v),
            Slot::Instant(t) => instant_to_sql(&t),
        }
    }
}

impl<'r> AsIs<'r> {
    fn values(&self) -> impl Iterator<Item = Slot<'r>> + '_ {
        self.values[..self.len].iter().copied()
    }
}

/// Loads which items have a queued operation.
pub(crate) fn load_queue_index(conn: &Connection) -> Result<QueueIndex, StoreError> {
    let t = bookkeeping::OPS;
    let empty = Tables::default();
    let tx = SqliteTx::new(conn, &empty, None);
    let keys = tx.rows(&tx.sql.op_keys, &[], "loading the queue", |row| {
        Ok((
            get::<String>(row, 0, t, &"?")?,
            get::<String>(row, 1, t, &"?")?,
        ))
    })?;
    let mut index = QueueIndex::default();
    for (key, id) in keys {
        index.insert(&key, &id);
    }
    Ok(index)
}

/// Loads every table's schema from `__tablesync_columns`.
pub(crate) fn load_schemas(conn: &Connection) -> Result<Tables, StoreError> {
    let t = bookkeeping::COLUMNS;
    let empty = Tables::default();
    let tx = SqliteTx::new(conn, &empty, None);
    let rows = tx.rows(&tx.sql.columns_all, &[], "loading table schemas", |row| {
        let key: String = get(row, 0, t, &"?")?;
        let name: String = get(row, 3, t, &"?")?;
        let which = format!("table `{key}` column `{name}`");
        let ty: String = get(row, 4, t, &which)?;
        let system: Option<String> = get(row, 6, t, &which)?;
        let column = Column {
            ty: ColumnType::from_name(&ty)
                .ok_or_else(|| corrupt(t, &which, format_args!("unknown type `{ty}`")))?,
            nullable: get::<bool>(row, 5, t, &which)?,
            system: match system {
                None => None,
                Some(s) => Some(
                    SystemColumn::ALL
                        .into_iter()
                        .find(|c| c.name() == s)
                        .ok_or_else(|| {
                            corrupt(t, &which, format_args!("unknown system column `{s}`"))
                        })?,
                ),
            },
            name,
            // Not on disk: the engine marks local-only columns again when it
            // ensures the table (see `Column::local`).
            local: false,
        };
        Ok((key, get::<String>(row, 1, t, &which)?, column))
    })?;
    let mut schemas: HashMap<String, TableSchema> = HashMap::new();
    for (key, table, column) in rows {
        schemas
            .entry(key)
            .or_insert_with(|| TableSchema {
                name: table,
                columns: Vec::new(),
            })
            .columns
            .push(column);
    }
    schemas
        .into_iter()
        .map(|(key, schema)| {
            schema
                .validate()
                .map_err(|e| corrupt(t, format_args!("table `{key}`"), e))?;
            Ok((key, Arc::new(TableInfo::new(schema))))
        })
        .collect()
}

fn opt_text(r: Option<&Record>) -> Option<String> {
    r.map(codec::encode_record)
}

impl StoreTx for SqliteTx<'_> {
    fn ensure_table(&mut self, schema: &TableSchema) -> Result<(), StoreError> {
        schema.validate()?;
        let key = table_key(&schema.name);
        let existing = self.info(&key);
        let merged = match &existing {
            Some(info) => schema.migrate_from(&info.schema)?,
            None => schema.clone(),
        };
        if existing.as_ref().is_some_and(|info| info.schema == merged) {
            return Ok(());
        }
        match &existing {
            None => self.ddl(
                &create_table(&merged),
                format_args!("creating table `{}`", merged.name),
            )?,
            Some(info) => {
                for col in &merged.columns {
                    if info.schema.column(&col.name).is_none() {
                        self.ddl(
                            &add_column(&merged.name, col),
                            format_args!("adding column `{}` to `{}`", col.name, merged.name),
                        )?;
                    }
                }
            }
        }
        let what = on("recording the schema of", &merged.name);
        self.exec(&self.sql.columns_delete, &[&key], what)?;
        for (i, col) in merged.columns.iter().enumerate() {
            self.exec(
                &self.sql.columns_insert,
                &[
                    &key,
                    &merged.name,
                    &(i as i64),
                    &col.name,
                    &col.ty.name(),
                    &col.nullable,
                    &col.system.map(SystemColumn::name),
                ],
                what,
            )?;
        }
        self.changed.insert(key, Arc::new(TableInfo::new(merged)));
        Ok(())
    }

    fn table_schema(&mut self, table: &str) -> Result<Option<TableSchema>, StoreError> {
        Ok(self.info(&table_key(table)).map(|i| i.schema.clone()))
    }

    fn get(&mut self, table: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let info = self.known(table)?;
        self.first(&info.get, &[&id], on_id("reading", table, id), |row| {
            decode_row(&info.schema, row)
        })
    }

    fn upsert(&mut self, table: &str, record: &Record) -> Result<(), StoreError> {
        let info = self.known(table)?;
        let what = on("writing a row of", table);
        let mut st = self.stmt(&info.upsert, what)?;
        if let Some(row) = as_is(&info.schema, record) {
            for (i, v) in row.values().enumerate() {
                st.raw_bind_parameter(i + 1, v.to_sql())
                    .map_err(backend(what))?;
            }
        } else {
            let row = normalize(&info.schema, record)?;
            for (i, (_, v)) in row.iter().enumerate() {
                st.raw_bind_parameter(i + 1, to_sql(v))
                    .map_err(backend(what))?;
            }
        }
        st.raw_execute().map_err(backend(&what))?;
        Ok(())
    }

    fn delete(&mut self, table: &str, id: &str) -> Result<bool, StoreError> {
        let info = self.known(table)?;
        let n = self.exec(&info.delete, &[&id], on_id("deleting from", table, id))?;
        Ok(n > 0)
    }

    fn query(&mut self, table: &str, query: &Query) -> Result<Vec<Record>, StoreError> {
        let info = self.known(table)?;
        let schema = &info.schema;
        // Sort keys are checked before the filter, as MemoryStore does.
        let keys = query
            .order_by
            .iter()
            .map(|(c, o)| Ok((find(schema, c)?, *o)))
            .collect::<Result<Vec<(&Column, Order)>, StoreError>>()?;
        let mut select = SeaQuery::select();
        select
            .columns(schema.columns.iter().map(|c| Alias::new(&c.name)))
            .from(Alias::new(&schema.name));
        if let Some(f) = &query.filter {
            select.and_where(condition(schema, f)?);
        }
        for (col, o) in keys {
            let o = match o {
                Order::Asc => sea_query::Order::Asc,
                Order::Desc => sea_query::Order::Desc,
            };
            // SQLite sorts NULL first ascending and last descending, as the contract says.
            select.order_by_expr(col_expr(col), o);
        }
        select
            .order_by(SystemColumn::Id.name(), sea_query::Order::Asc)
            // SQLite needs a LIMIT for an OFFSET; u64 beyond i64 cannot bind.
            .limit(query.limit.unwrap_or(u64::MAX).min(i64::MAX as u64))
            .offset(query.offset.min(i64::MAX as u64));
        let (sql, values) = select.build_rusqlite(SqliteQueryBuilder);
        self.rows(&sql, &values.as_params(), on("querying", table), |row| {
            decode_row(schema, row)
        })
    }

    fn count(
        &mut self,
        table: &str,
        filter: Option<&sync_core::store::Filter>,
    ) -> Result<u64, StoreError> {
        let info = self.known(table)?;
        let mut select = SeaQuery::select();
        select
            .expr(Func::count(Expr::col(Asterisk)))
            .from(Alias::new(&info.schema.name));
        if let Some(f) = filter {
            select.and_where(condition(&info.schema, f)?);
        }
        let (sql, values) = select.build_rusqlite(SqliteQueryBuilder);
        let what = on("counting", table);
        let n = self.first(&sql, &values.as_params(), what, |row| {
            get::<i64>(row, 0, table, &"count")
        })?;
        Ok(n.map_or(0, |n| n.max(0) as u64))
    }

    fn clear_table(&mut self, table: &str) -> Result<u64, StoreError> {
        let info = self.known(table)?;
        let key = self.key(table);
        let key: &str = &key;
        let what = on("clearing", table);
        let n = self.exec(&info.delete_all, &[], what)?;
        self.exec(&self.sql.bases_clear, &[&key], what)?;
        self.exec(&self.sql.conflicts_clear, &[&key], what)?;
        self.exec(&self.sql.watermarks_clear, &[&key], what)?;
        Ok(n as u64)
    }

    fn op(&mut self, table: &str, id: &str) -> Result<Option<Operation>, StoreError> {
        if !self.maybe_queued(&self.key(table), id) {
            return Ok(None);
        }
        self.first(
            &self.sql.op_get,
            &[&&*self.key(table), &id],
            on_id("reading the queued operation of", table, id),
            decode_op,
        )
    }

    fn ops(&mut self, table: Option<&str>) -> Result<Vec<Operation>, StoreError> {
        match table {
            None => self.rows(&self.sql.ops_all, &[], "reading the queue", decode_op),
            Some(t) => self.rows(
                &self.sql.ops_of_table,
                &[&table_key(t)],
                on("reading the queue of", t),
                decode_op,
            ),
        }
    }

    fn add_op(&mut self, mut op: Operation) -> Result<Operation, StoreError> {
        let what = on_id("queueing an operation for", &op.table, &op.item_id);
        let key = self.key(&op.table);
        let key: &str = &key;
        let kind = op.kind.name();
        let item = opt_text(op.item.as_ref());
        let first: [&dyn ToSql; 6] = [&key, &op.table, &op.item_id, &kind, &op.version, &item];
        // Every `enqueue` of an item with nothing pending adds such an entry.
        let fresh = op.attempts == 0 && op.revision == 0 && op.error.is_none();
        let mut st = if fresh {
            let mut st = self.stmt(&self.sql.op_insert_new, what)?;
            bind(&mut st, &first, what)?;
            st
        } else {
            let mut st = self.stmt(&self.sql.op_insert, what)?;
            let rest: [&dyn ToSql; 3] = [
                &i64::from(op.attempts),
                // The i64 with the same bits: every u64 round-trips.
                &(op.revision as i64),
                &op.error.as_ref().map(codec::encode_op_error),
            ];
            bind(&mut st, &[first.as_slice(), &rest].concat(), what)?;
            st
        };
        match st.raw_execute() {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                drop(st);
                let pending = self.op(&op.table, &op.item_id)?;
                return Err(StoreError::QueueConflict {
                    pending: pending.map_or(op.kind, |p| p.kind),
                    new: op.kind,
                    table: op.table,
                    id: op.item_id,
                });
            }
            Err(e) => return Err(backend(what)(e)),
        }
        drop(st);
        if let Some(queued) = self.queued {
            self.queue_changes.added(queued.hash(key, &op.item_id));
        }
        let seq = self.conn.last_insert_rowid();
        op.seq = u64::try_from(seq)
            .map_err(|_| StoreError::Backend(format!("negative queue position {seq}")))?;
        Ok(op)
    }

    fn replace_op(&mut self, op: &Operation) -> Result<(), StoreError> {
        let n = self.exec(
            &self.sql.op_update,
            &[
                &op.table,
                &op.kind.name(),
                &op.version,
                &opt_text(op.item.as_ref()),
                &i64::from(op.attempts),
                &(op.revision as i64),
                &op.error.as_ref().map(codec::encode_op_error),
                &&*self.key(&op.table),
                &op.item_id,
            ],
            on_id("updating the queued operation of", &op.table, &op.item_id),
        )?;
        if n == 0 {
            return Err(StoreError::NoOperation {
                table: op.table.clone(),
                id: op.item_id.clone(),
            });
        }
        Ok(())
    }

    fn remove_op(&mut self, table: &str, id: &str) -> Result<bool, StoreError> {
        let n = self.exec(
            &self.sql.op_delete,
            &[&&*self.key(table), &id],
            on_id("removing the queued operation of", table, id),
        )?;
        if n > 0
            && let Some(queued) = self.queued
        {
            let h = queued.hash(&self.key(table), id);
            self.queue_changes.removed(h);
        }
        Ok(n > 0)
    }

    fn save_conflict(&mut self, c: &StoredConflict) -> Result<(), StoreError> {
        // Remove, then insert: a replaced conflict counts as new ("oldest first").
        self.remove_conflict(&c.table, &c.item_id)?;
        self.no_conflicts = Some(false);
        self.exec(
            &self.sql.conflict_insert,
            &[
                &&*self.key(&c.table),
                &c.table,
                &c.item_id,
                &c.kind.name(),
                &opt_text(c.local.as_ref()),
                &opt_text(c.remote.as_ref()),
                &opt_text(c.base.as_ref()),
                &instant::to_stored(&c.detected_at),
            ],
            on_id("saving the conflict of", &c.table, &c.item_id),
        )?;
        Ok(())
    }

    fn conflict(&mut self, table: &str, id: &str) -> Result<Option<StoredConflict>, StoreError> {
        let none = match self.no_conflicts {
            Some(none) => none,
            None => {
                let any = self.first(
                    &self.sql.conflict_any,
                    &[&1i64],
                    "looking for stored conflicts",
                    |_| Ok(()),
                )?;
                *self.no_conflicts.insert(any.is_none())
            }
        };
        if none {
            return Ok(None);
        }
        self.first(
            &self.sql.conflict_get,
            &[&&*self.key(table), &id],
            on_id("reading the conflict of", table, id),
            decode_conflict,
        )
    }

    fn conflicts(&mut self, table: Option<&str>) -> Result<Vec<StoredConflict>, StoreError> {
        match table {
            None => self.rows(
                &self.sql.conflicts_all,
                &[],
                "reading conflicts",
                decode_conflict,
            ),
            Some(t) => self.rows(
                &self.sql.conflicts_of_table,
                &[&table_key(t)],
                on("reading the conflicts of", t),
                decode_conflict,
            ),
        }
    }

    fn remove_conflict(&mut self, table: &str, id: &str) -> Result<bool, StoreError> {
        let n = self.exec(
            &self.sql.conflict_delete,
            &[&&*self.key(table), &id],
            on_id("removing the conflict of", table, id),
        )?;
        Ok(n > 0)
    }

    fn base(&mut self, table: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let which = format!("table `{table}` id `{id}`");
        let text: Option<String> = self.first(
            &self.sql.base_get,
            &[&&*self.key(table), &id],
            on_id("reading the base copy of", table, id),
            |row| get(row, 0, bookkeeping::BASES, &which),
        )?;
        opt_record(bookkeeping::BASES, &which, text)
    }

    fn set_base(&mut self, table: &str, record: &Record) -> Result<(), StoreError> {
        let info = self.known(table)?;
        let row = normalize(&info.schema, record)?;
        let id = row.id().unwrap_or_default();
        self.exec(
            &self.sql.base_upsert,
            &[&&*self.key(table), &id, &codec::encode_record(&row)],
            on_id("storing the base copy of", table, id),
        )?;
        Ok(())
    }

    fn remove_base(&mut self, table: &str, id: &str) -> Result<bool, StoreError> {
        let n = self.exec(
            &self.sql.base_delete,
            &[&&*self.key(table), &id],
            on_id("removing the base copy of", table, id),
        )?;
        Ok(n > 0)
    }

    fn watermark(&mut self, table: &str, query_id: &str) -> Result<Option<Watermark>, StoreError> {
        let which = format!("table `{table}` query `{query_id}`");
        self.first(
            &self.sql.watermark_get,
            &[&&*self.key(table), &query_id],
            on("reading the watermark of", table),
            |row| {
                Ok(Watermark {
                    updated_at: get(row, 0, bookkeeping::WATERMARKS, &which)?,
                    id: get(row, 1, bookkeeping::WATERMARKS, &which)?,
                })
            },
        )
    }

    fn set_watermark(
        &mut self,
        table: &str,
        query_id: &str,
        mark: &Watermark,
    ) -> Result<(), StoreError> {
        self.exec(
            &self.sql.watermark_upsert,
            &[&&*self.key(table), &query_id, &mark.updated_at, &mark.id],
            on("moving a watermark of", table),
        )?;
        Ok(())
    }

    fn remove_watermarks(
        &mut self,
        table: &str,
        query_id: Option<&str>,
    ) -> Result<u64, StoreError> {
        let key = self.key(table);
        let key: &str = &key;
        let what = on("removing watermarks of", table);
        let n = match query_id {
            Some(q) => self.exec(&self.sql.watermark_delete, &[&key, &q], what)?,
            None => self.exec(&self.sql.watermarks_clear, &[&key], what)?,
        };
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate};

    use super::*;

    fn schema() -> TableSchema {
        TableSchema::new("T")
            .with_column("t", ColumnType::Text, true)
            .with_column("i", ColumnType::Integer, true)
            .with_column("r", ColumnType::Real, true)
            .with_column("b", ColumnType::Bool, true)
            .with_column("d", ColumnType::Date, true)
            .with_column("s", ColumnType::DateTime, true)
            .with_column("j", ColumnType::Json, true)
            .with_column("x", ColumnType::Blob, true)
    }

    fn rec(cols: &[(&str, Value)]) -> Record {
        let mut r = Record::new();
        for (c, v) in cols {
            r.push(*c, v.clone());
        }
        r
    }

    /// The fast path must agree with `normalize` wherever it is taken, and be refused
    /// wherever `normalize` would convert a value or fail.
    #[test]
    fn the_as_is_fast_path_agrees_with_normalize() {
        let s = schema();
        let id = ("id", Value::from("a"));
        let taken = [
            rec(std::slice::from_ref(&id)),
            rec(&[id.clone(), ("deleted", Value::Null), ("t", Value::Null)]),
            // Of two values under one name, the first counts.
            rec(&[
                id.clone(),
                ("t", Value::from("x")),
                ("t", Value::Integer(1)),
            ]),
            rec(&[
                ("id", Value::from("a")),
                ("t", Value::from("x")),
                ("i", Value::Integer(-1)),
                ("r", Value::Real(f64::NAN)),
                ("b", Value::Bool(true)),
                (
                    "d",
                    Value::Date(NaiveDate::from_ymd_opt(2026, 1, 2).unwrap()),
                ),
                (
                    "s",
                    Value::DateTime(DateTime::from_timestamp(1, 2).unwrap()),
                ),
                ("j", Value::Json(serde_json::json!([1]))),
                ("x", Value::Blob(vec![])),
                ("deleted", Value::Bool(true)),
                ("version", Value::from("v1")),
            ]),
            // An instant's text, as pulled rows carry `updatedAt`, is parsed as
            // `normalize` parses it.
            rec(&[
                id.clone(),
                ("s", Value::from("2026-11-21T12:50:52.847Z")),
                ("updatedAt", Value::from("2026-11-21T13:50:52.847123+01:00")),
            ]),
        ];
        for r in &taken {
            let fast: Vec<Value> = as_is(&s, r)
                .expect("taken")
                .values()
                .map(|v| match v {
                    Slot::Value(v) => v.clone(),
                    Slot::Instant(t) => Value::DateTime(t),
                })
                .collect();
            let normalized: Vec<Value> = normalize(&s, r)
                .unwrap()
                .iter()
                .map(|(_, v)| v.clone())
                .collect();
            assert_eq!(fast, normalized, "{r:?}");
        }
        let refused = [
            rec(&[]),
            rec(&[("id", Value::from(""))]),
            rec(&[("id", Value::Integer(1))]),
            rec(&[id.clone(), ("nope", Value::Null)]),
            rec(&[id.clone(), ("r", Value::Integer(1))]),
            rec(&[id.clone(), ("b", Value::Integer(1))]),
            rec(&[id.clone(), ("d", Value::from("2026-01-02"))]),
            rec(&[id.clone(), ("j", Value::from("[1]"))]),
            rec(&[id.clone(), ("t", Value::Integer(1))]),
            rec(&[id.clone(), ("s", Value::from("yesterday"))]),
            rec(&[id.clone(), ("s", Value::from("2026-11-21"))]),
            // Names in another case: `normalize` finds their columns; the fast path
            // leaves that search to it.
            rec(&[("ID", Value::from("a")), ("T", Value::from("x"))]),
        ];
        for r in &refused {
            assert!(as_is(&s, r).is_none(), "{r:?}");
        }
    }

    /// A fresh entry and one carrying attempts, a revision and an error take different
    /// statements; both keep every field.
    #[test]
    fn added_operations_keep_every_field() {
        use sync_core::store::{OpError, Store};
        let store = crate::SqliteStore::open_in_memory().unwrap();
        let schema = TableSchema::new("T").with_column("t", ColumnType::Text, true);
        let fresh = Operation::new("T", "a", OpKind::Delete)
            .with_version(Some("v1".into()))
            .with_item(Some(rec(&[("id", Value::from("a"))])));
        let mut tried = Operation::new("T", "b", OpKind::Update).with_version(Some("v2".into()));
        tried.attempts = 3;
        tried.revision = u64::MAX;
        tried.error = Some(OpError {
            status: Some(400),
            message: "bad".into(),
            server_copy: None,
        });
        let added = store
            .transaction(|tx| {
                tx.ensure_table(&schema)?;
                Ok([tx.add_op(fresh.clone())?, tx.add_op(tried.clone())?])
            })
            .unwrap();
        let stored = store.read(|tx| tx.ops(None)).unwrap();
        for ((want, added), stored) in [fresh, tried].into_iter().zip(&added).zip(&stored) {
            assert_eq!(
                *added,
                Operation {
                    seq: added.seq,
                    ..want
                }
            );
            assert_eq!(stored, added);
        }
    }
}

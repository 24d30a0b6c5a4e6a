//! Local storage: the [`Store`] trait, its transactions ([`StoreTx`]), the operation
//! queue, and [`MemoryStore`].
//!
//! # How data flows through a store
//!
//! Every change happens inside [`Store::transaction`]: the closure gets a [`StoreTx`],
//! and everything it does commits together when it returns `Ok`, or not at all when it
//! returns `Err` (or panics). That is how a local write and its queue entry commit
//! together:
//!
//! ```
//! use sync_core::store::{MemoryStore, OpKind, Store, StoreTx, StoreTxExt};
//! use sync_core::{ColumnType, Record, TableSchema};
//!
//! let store = MemoryStore::new();
//! let schema = TableSchema::new("Todo").with_column("text", ColumnType::Text, false);
//! store.transaction(|tx| tx.ensure_table(&schema))?;
//!
//! let mut row = Record::new();
//! row.set("id", "a1");
//! row.set("text", "buy milk");
//! store.transaction(|tx| {
//!     tx.upsert("Todo", &row)?;
//!     tx.enqueue("Todo", "a1", OpKind::Insert, None, None)?;
//!     Ok(())
//! })?;
//! let ops = store.read(|tx| tx.ops(None))?;
//! assert_eq!((ops.len(), ops[0].kind), (1, OpKind::Insert));
//! # Ok::<(), sync_core::store::StoreError>(())
//! ```
//!
//! # Blocking and sharing
//!
//! The trait is synchronous on purpose: a transaction is a closure run to completion
//! on one thread, which keeps SQLite's transactions simple and correct. A store is
//! `Send + Sync` and shared behind an `Arc` by any number of tasks; the engine never
//! calls it on a tokio worker: every call goes through `tokio::task::spawn_blocking`
//! (see [`run_blocking`]). Stores serialize writers internally.

mod conflict;
mod error;
mod memory;
mod query;
mod queue;
mod typed_column;

pub use conflict::{ConflictKind, StoredConflict, Watermark};
pub use error::{StoreError, StoreErrorKind};
pub use memory::MemoryStore;
pub use query::{CmpOp, Filter, Order, Query};
pub use queue::{Collapse, OpError, OpKind, Operation, StoreTxExt, collapse};
pub use typed_column::{IntoOperand, NotNull, Nullable, SortKey, TypedColumn};

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::model::{Column, ColumnType, Record, TableSchema, Value};

/// A local store: rows of synced tables, the operation queue, stored conflicts, the
/// last-synced (base) copy of each row, and pull watermarks.
///
/// Implementations must make [`Store::transaction`] atomic and isolated: concurrent
/// transactions behave as if run one after the other. See the module docs.
pub trait Store: Send + Sync + 'static {
    /// Runs `f` in one write transaction: commits if it returns `Ok`, rolls back if it
    /// returns `Err` or panics.
    fn transaction<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>;

    /// Runs `f` for reading. Writes made through the `StoreTx` of a read are rolled back.
    /// Stores may serve reads concurrently with a writer.
    fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>;
}

/// Runs a store call on tokio's blocking pool, so that SQLite or file I/O never blocks
/// a runtime worker.
///
/// ```
/// use std::sync::Arc;
/// use sync_core::store::{run_blocking, MemoryStore, Store, StoreTx};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let n = run_blocking(&store, |s| s.read(|tx| tx.ops(None))).await.unwrap().len();
/// assert_eq!(n, 0);
/// # });
/// ```
pub async fn run_blocking<S, R, F>(store: &Arc<S>, f: F) -> Result<R, StoreError>
where
    S: Store,
    R: Send + 'static,
    F: FnOnce(&S) -> Result<R, StoreError> + Send + 'static,
{
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
}

/// What can be done inside a store transaction: the storage kernel. Object-safe, so
/// that the engine's logic is written once for every store.
///
/// Six groups of a few required methods each: tables, rows, queue entries, conflicts,
/// base copies and pull watermarks. Every method stores or reads exactly what it says;
/// the rules over them (how a new operation collapses into a pending one, counting a
/// sending attempt, recording an operation's error) are [`StoreTxExt`]'s, written once
/// over this kernel for every store. A backend that wants a fast path finds it inside
/// its own methods (sync-sqlite keeps an in-memory index of queued items, for one).
pub trait StoreTx {
    // ----- tables -----

    /// Creates the table, or migrates it: columns the schema adds are added (existing
    /// rows read them as `Null`), columns it no longer has are left alone, and a column
    /// whose type changed is a [`SchemaError::TypeChanged`](crate::SchemaError::TypeChanged).
    fn ensure_table(&mut self, schema: &TableSchema) -> Result<(), StoreError>;

    /// The schema the store holds for a table (as last ensured, plus any columns kept
    /// from earlier versions).
    fn table_schema(&mut self, table: &str) -> Result<Option<TableSchema>, StoreError>;

    // ----- rows -----

    /// A row by id, with every column of the table.
    fn get(&mut self, table: &str, id: &str) -> Result<Option<Record>, StoreError>;

    /// Inserts or replaces a row. Values are checked against the columns' types
    /// ([`coerce`]); columns the record lacks are stored as `Null` (`deleted`: false).
    fn upsert(&mut self, table: &str, record: &Record) -> Result<(), StoreError>;

    /// Deletes a row; false when there was none.
    fn delete(&mut self, table: &str, id: &str) -> Result<bool, StoreError>;

    /// Rows matching a query (see [`query`](self::Query) for the semantics).
    fn query(&mut self, table: &str, query: &Query) -> Result<Vec<Record>, StoreError>;

    /// How many rows match.
    fn count(&mut self, table: &str, filter: Option<&Filter>) -> Result<u64, StoreError>;

    /// Deletes every row of the table and its base copies, watermarks and conflicts (not
    /// its queued operations: the engine refuses to purge while some are pending).
    /// Returns the number of rows deleted.
    fn clear_table(&mut self, table: &str) -> Result<u64, StoreError>;

    // ----- the operation queue -----

    /// The operation queued for an item.
    fn op(&mut self, table: &str, id: &str) -> Result<Option<Operation>, StoreError>;

    /// Queued operations in queue order, of one table or all.
    fn ops(&mut self, table: Option<&str>) -> Result<Vec<Operation>, StoreError>;

    /// Stores a new operation at the end of the queue and returns it with its `seq`.
    /// An operation for the same item must not already be queued.
    fn add_op(&mut self, op: Operation) -> Result<Operation, StoreError>;

    /// Replaces the queued operation with the same table and id, keeping its position.
    fn replace_op(&mut self, op: &Operation) -> Result<(), StoreError>;

    /// Removes an item's operation; false when there was none.
    fn remove_op(&mut self, table: &str, id: &str) -> Result<bool, StoreError>;

    // ----- conflicts -----

    /// Stores a conflict, replacing any for the same item.
    fn save_conflict(&mut self, conflict: &StoredConflict) -> Result<(), StoreError>;

    /// The conflict stored for an item.
    fn conflict(&mut self, table: &str, id: &str) -> Result<Option<StoredConflict>, StoreError>;

    /// Conflicts of one table (or all), oldest first.
    fn conflicts(&mut self, table: Option<&str>) -> Result<Vec<StoredConflict>, StoreError>;

    /// Removes an item's conflict; false when there was none.
    fn remove_conflict(&mut self, table: &str, id: &str) -> Result<bool, StoreError>;

    // ----- base copies (the last synced version of each row) -----

    /// The last copy of an item known to be on the server.
    fn base(&mut self, table: &str, id: &str) -> Result<Option<Record>, StoreError>;

    /// Stores the last synced copy of an item (its `id` column names it).
    fn set_base(&mut self, table: &str, record: &Record) -> Result<(), StoreError>;

    /// Forgets an item's base copy.
    fn remove_base(&mut self, table: &str, id: &str) -> Result<bool, StoreError>;

    // ----- pull watermarks -----

    /// Where the last pull of a query stopped.
    fn watermark(&mut self, table: &str, query_id: &str) -> Result<Option<Watermark>, StoreError>;

    /// Moves a query's watermark.
    fn set_watermark(
        &mut self,
        table: &str,
        query_id: &str,
        mark: &Watermark,
    ) -> Result<(), StoreError>;

    /// Forgets one query's watermark (`Some`) or all of a table's (`None`).
    fn remove_watermarks(&mut self, table: &str, query_id: Option<&str>)
    -> Result<u64, StoreError>;
}

/// Checks a value against its column and returns it in the column's canonical form:
/// integers widen to reals in real columns, `0`/`1` become bools in bool columns, ISO
/// text becomes a date or instant in date columns, JSON text stays text in JSON
/// columns (stores keep JSON as text). Everything else of the wrong kind is an error.
/// `Null` fits every column but `id`.
///
/// ```
/// use sync_core::store::coerce;
/// use sync_core::{Column, ColumnType, Value};
/// let c = Column::new("price", ColumnType::Real);
/// assert_eq!(coerce("T", &c, Value::Integer(3)).unwrap(), Value::Real(3.0));
/// assert!(coerce("T", &c, Value::Text("3".into())).is_err());
/// ```
pub fn coerce(table: &str, column: &Column, value: Value) -> Result<Value, StoreError> {
    let wrong = |v: &Value| StoreError::WrongType {
        table: table.to_owned(),
        column: column.name.clone(),
        expected: column.ty.name(),
        found: v.kind(),
    };
    Ok(match (column.ty, value) {
        (_, Value::Null) => Value::Null,
        (ColumnType::Text, v @ Value::Text(_)) => v,
        (ColumnType::Integer, v @ Value::Integer(_)) => v,
        (ColumnType::Integer, Value::Real(f))
            if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 =>
        {
            Value::Integer(f as i64)
        }
        (ColumnType::Real, v @ Value::Real(_)) => v,
        (ColumnType::Real, Value::Integer(i)) => Value::Real(i as f64),
        (ColumnType::Bool, v @ Value::Bool(_)) => v,
        (ColumnType::Bool, Value::Integer(i @ (0 | 1))) => Value::Bool(i == 1),
        (ColumnType::Blob, v @ Value::Blob(_)) => v,
        (ColumnType::Date, v @ Value::Date(_)) => v,
        (ColumnType::Date, Value::Text(s)) => match parse_date_text(&s) {
            Some(d) => Value::Date(d),
            None => return Err(wrong(&Value::Text(s))),
        },
        (ColumnType::DateTime, v @ Value::DateTime(_)) => v,
        (ColumnType::DateTime, Value::Text(s)) => match parse_datetime_text(&s) {
            Some(t) => Value::DateTime(t),
            None => return Err(wrong(&Value::Text(s))),
        },
        (ColumnType::Json, v @ Value::Json(_)) => v,
        (ColumnType::Json, Value::Text(s)) => match serde_json::from_str(&s) {
            Ok(j) => Value::Json(j),
            Err(_) => return Err(wrong(&Value::Text(s))),
        },
        (ColumnType::Json, Value::Bool(b)) => Value::Json(b.into()),
        (ColumnType::Json, Value::Integer(i)) => Value::Json(i.into()),
        (ColumnType::Json, Value::Real(f)) => Value::Json(f.into()),
        (_, v) => return Err(wrong(&v)),
    })
}

/// Checks a whole record against a table's schema: every column known, every value
/// coerced, a non-empty text id. Returns the record in schema order, with every column
/// (missing ones `Null`, `deleted` false).
///
/// ```
/// use sync_core::store::normalize;
/// use sync_core::{ColumnType, Record, TableSchema, Value};
/// let s = TableSchema::new("T").with_column("n", ColumnType::Real, true);
/// let mut r = Record::new();
/// r.set("id", "x"); r.set("n", 2i64);
/// let n = normalize(&s, &r).unwrap();
/// assert_eq!(n.get("n"), Some(&Value::Real(2.0)));
/// assert_eq!(n.get("deleted"), Some(&Value::Bool(false)));
/// assert_eq!(n.len(), 6);
/// ```
pub fn normalize(schema: &TableSchema, record: &Record) -> Result<Record, StoreError> {
    for (name, _) in record.iter() {
        if schema.column(name).is_none() {
            return Err(StoreError::UnknownColumn {
                table: schema.name.clone(),
                column: name.to_owned(),
            });
        }
    }
    let mut out = Record::with_capacity(schema.columns.len());
    for col in &schema.columns {
        let v = match record.get(&col.name) {
            Some(v) => coerce(&schema.name, col, v.clone())?,
            None => Value::Null,
        };
        let v = match (col.system, v) {
            (Some(crate::SystemColumn::Deleted), Value::Null) => Value::Bool(false),
            (_, v) => v,
        };
        out.push(col.name.clone(), v);
    }
    match out.id() {
        Some(id) if !id.is_empty() => Ok(out),
        _ => Err(StoreError::MissingId {
            table: schema.name.clone(),
        }),
    }
}

/// Parses a stored or wire date: `YYYY-MM-DD`, or an RFC 3339 instant (its UTC date).
pub fn parse_date_text(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| parse_datetime_text(s).map(|t| t.date_naive()))
}

/// Parses an RFC 3339 instant into UTC.
///
/// ```
/// let t = sync_core::store::parse_datetime_text("2026-11-21T12:50:52.847Z").unwrap();
/// assert_eq!(t.timestamp_millis(), 1_795_265_452_847);
/// assert!(sync_core::store::parse_datetime_text("2026-11-21").is_none());
/// ```
pub fn parse_datetime_text(s: &str) -> Option<DateTime<Utc>> {
    // Every synced row carries two instants, as servers write them; chrono's general
    // RFC 3339 parser costs about 2,500 instructions each. That common form is read by
    // hand, anything else by chrono, so that what is accepted, and how, is chrono's.
    utc_text(s).or_else(|| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.f]Z` with one to nine fractional digits, or `None`.
fn utc_text(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let n = b.len();
    if !(20..=30).contains(&n) || b[n - 1] != b'Z' {
        return None;
    }
    let fraction = match n {
        20 => &b[19..19],
        22.. if b[19] == b'.' => &b[20..n - 1],
        _ => return None,
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let digits = |d: &[u8]| -> Option<u32> {
        d.iter().try_fold(0u32, |v, &c| {
            c.is_ascii_digit().then(|| v * 10 + u32::from(c - b'0'))
        })
    };
    let nanos = digits(fraction)? * 10u32.pow(9 - fraction.len() as u32);
    let date = NaiveDate::from_ymd_opt(
        digits(&b[0..4])? as i32,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )?;
    let time = date.and_hms_nano_opt(
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
        nanos,
    )?;
    Some(time.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_datetime_text_reads_what_chrono_reads() {
        let chrono_parse = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        let mut rng = crate::conformance::Scramble::new();
        let mut texts: Vec<String> = [
            "2026-11-21T12:50:52.847Z",
            "2026-11-21T12:50:52Z",
            "2026-11-21T12:50:52.Z",
            "2026-11-21T12:50:52.1234567891Z",
            "2026-11-21t12:50:52.847z",
            "2026-11-21 12:50:52.847Z",
            "2026-11-21T12:50:52.847+02:00",
            "2016-12-31T23:59:60.500Z", // a leap second
            "2023-02-29T00:00:00Z",     // no such day
            "2023-11-14T24:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2026-1١-21T12:50:52Z",
            "",
            "2026-11-21T12:50:52.847Z",
            "0000-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "2024-02-29T12:00:00.000Z",
            "2026-02-29T12:00:00.000Z",
            "2100-02-29T12:00:00.000Z",
            "2000-02-29T12:00:00.000Z",
            "2026-13-01T00:00:00.000Z",
            "2026-00-01T00:00:00.000Z",
            "2026-01-00T00:00:00.000Z",
            "2026-01-32T00:00:00.000Z",
            "2026-04-31T00:00:00.000Z",
            "2026-01-01T24:00:00.000Z",
            "2026-01-01T23:60:00.000Z",
            "2026-01-01T23:59:60.000Z",
            "2026-01-01T23:59:60.999Z",
            "2026-01-01t00:00:00.000Z",
            "2026-01-01T00:00:00.000z",
            "2026-01-01 00:00:00.000Z",
            "2026-01-01T00:00:00.00Z",
            "2026-01-01T00:00:00.0000Z",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.000+00:00",
            "2026-01-01T00:00:00.000+01:30",
            "2026-1-01T00:00:00.0000Z",
            "+026-01-01T00:00:00.000Z",
            "2026-01-01T0a:00:00.000Z",
            "2026-01-01T00:00:00.-00Z",
            "2026-01-01T00:00:00.000ZZ",
            "2026-01-01T00:00:00.00éZ",
            "",
        ]
        .map(str::to_owned)
        .to_vec();
        for _ in 0..20_000 {
            let secs = (rng.number() % 253_402_300_800) as i64 - 62_167_219_200;
            let nanos = (rng.number() >> 34) as u32 % 1_000_000_000;
            let t = DateTime::from_timestamp(secs, nanos).expect("in range");
            let digits = (rng.number() % 10) as usize;
            let mut text = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            if digits > 0 {
                text.push_str(&format!(".{:09}", nanos)[..=digits]);
            }
            text.push('Z');
            assert_eq!(parse_datetime_text(&text), chrono_parse(&text), "{text}");
            assert!(parse_datetime_text(&text).is_some(), "{text}");
            // And a damaged copy: one byte replaced.
            texts.push(rng.damage(text));
        }
        for text in &texts {
            assert_eq!(parse_datetime_text(text), chrono_parse(text), "{text:?}");
        }
    }
}

//! The store's own tables and every fixed statement on them, built once with sea-query.
//!
//! Their names start with `__tablesync`, a prefix [`validate_table_name`] refuses for app
//! tables, so they can never clash. Table names are kept twice where they are stored: as
//! given (`table_name`, returned to callers) and ASCII-lowercased (`table_key`, compared),
//! because table names compare ignoring case, as in SQLite.
//!
//! [`validate_table_name`]: sync_core::validate_table_name

use std::sync::OnceLock;

use sea_query::{
    ColumnDef, Expr, ExprTrait, Index, OnConflict, Order, Query, QueryStatementWriter,
    SqliteQueryBuilder, Table,
};

/// The on-disk format this build writes and the newest it reads. Opening a file written
/// with a higher version fails with
/// [`StoreError::FormatTooNew`](sync_core::store::StoreError::FormatTooNew).
///
/// ```
/// assert_eq!(sync_sqlite::FORMAT_VERSION, 1);
/// ```
pub const FORMAT_VERSION: i64 = 1;

pub(crate) const META: &str = "__tablesync_meta";
pub(crate) const COLUMNS: &str = "__tablesync_columns";
pub(crate) const OPS: &str = "__tablesync_ops";
pub(crate) const CONFLICTS: &str = "__tablesync_conflicts";
pub(crate) const BASES: &str = "__tablesync_bases";
pub(crate) const WATERMARKS: &str = "__tablesync_watermarks";

/// The `__tablesync_meta` key holding [`FORMAT_VERSION`].
pub(crate) const FORMAT_KEY: &str = "format_version";

// Column names shared by several bookkeeping tables.
const TABLE_KEY: &str = "table_key";
const TABLE_NAME: &str = "table_name";
const ITEM_ID: &str = "item_id";
const KIND: &str = "kind";

/// Columns of `__tablesync_ops`, in the order [`Sql::op_get`] and [`Sql::ops_all`] select them.
const OP_COLUMNS: [&str; 9] = [
    "seq", TABLE_NAME, ITEM_ID, KIND, "version", "item", "attempts", "revision", "error",
];

/// Columns of `__tablesync_conflicts`, in the order they are selected.
const CONFLICT_COLUMNS: [&str; 7] = [
    TABLE_NAME,
    ITEM_ID,
    KIND,
    "local",
    "remote",
    "base",
    "detected_at",
];

/// Columns of `__tablesync_columns`, in the order they are selected.
const COLUMN_COLUMNS: [&str; 7] = [
    TABLE_KEY, TABLE_NAME, "position", "name", "type", "nullable", "system",
];

/// A bound parameter; the value is a stand-in, callers bind their own.
fn p() -> Expr {
    Expr::val(0i64)
}

fn key_is(col: &'static str) -> Expr {
    Expr::col(col).eq(p())
}

fn q<S: QueryStatementWriter>(s: &S) -> String {
    s.build(SqliteQueryBuilder).0
}

/// `CREATE TABLE __tablesync_meta`: created (and its version checked) before anything else.
pub(crate) fn create_meta() -> String {
    Table::create()
        .table(META)
        .if_not_exists()
        .col(ColumnDef::new("key").text().not_null().primary_key())
        .col(ColumnDef::new("value").integer().not_null())
        .build(SqliteQueryBuilder)
}

/// The other bookkeeping tables and their indexes.
pub(crate) fn create_rest() -> Vec<String> {
    vec![
        Table::create()
            .table(COLUMNS)
            .if_not_exists()
            .col(ColumnDef::new(TABLE_KEY).text().not_null())
            .col(ColumnDef::new(TABLE_NAME).text().not_null())
            .col(ColumnDef::new("position").integer().not_null())
            .col(ColumnDef::new("name").text().not_null())
            .col(ColumnDef::new("type").text().not_null())
            .col(ColumnDef::new("nullable").integer().not_null())
            .col(ColumnDef::new("system").text())
            .primary_key(Index::create().col(TABLE_KEY).col("position"))
            .build(SqliteQueryBuilder),
        // AUTOINCREMENT: queue positions are never reused, even after the last entry is
        // removed and the store reopened, so `seq` order is enqueue order forever.
        Table::create()
            .table(OPS)
            .if_not_exists()
            .col(
                ColumnDef::new("seq")
                    .integer()
                    .not_null()
                    .primary_key()
                    .auto_increment(),
            )
            .col(ColumnDef::new(TABLE_KEY).text().not_null())
            .col(ColumnDef::new(TABLE_NAME).text().not_null())
            .col(ColumnDef::new(ITEM_ID).text().not_null())
            .col(ColumnDef::new(KIND).text().not_null())
            .col(ColumnDef::new("version").text())
            .col(ColumnDef::new("item").text())
            .col(ColumnDef::new("attempts").integer().not_null())
            .col(ColumnDef::new("revision").integer().not_null())
            .col(ColumnDef::new("error").text())
            .build(SqliteQueryBuilder),
        Index::create()
            .if_not_exists()
            .name("__tablesync_ops_item")
            .table(OPS)
            .col(TABLE_KEY)
            .col(ITEM_ID)
            .unique()
            .build(SqliteQueryBuilder),
        // AUTOINCREMENT keeps "oldest first" true across removals and reopens.
        Table::create()
            .table(CONFLICTS)
            .if_not_exists()
            .col(
                ColumnDef::new("n")
                    .integer()
                    .not_null()
                    .primary_key()
                    .auto_increment(),
            )
            .col(ColumnDef::new(TABLE_KEY).text().not_null())
            .col(ColumnDef::new(TABLE_NAME).text().not_null())
            .col(ColumnDef::new(ITEM_ID).text().not_null())
            .col(ColumnDef::new(KIND).text().not_null())
            .col(ColumnDef::new("local").text())
            .col(ColumnDef::new("remote").text())
            .col(ColumnDef::new("base").text())
            .col(ColumnDef::new("detected_at").text().not_null())
            .build(SqliteQueryBuilder),
        Index::create()
            .if_not_exists()
            .name("__tablesync_conflicts_item")
            .table(CONFLICTS)
            .col(TABLE_KEY)
            .col(ITEM_ID)
            .unique()
            .build(SqliteQueryBuilder),
        Table::create()
            .table(BASES)
            .if_not_exists()
            .col(ColumnDef::new(TABLE_KEY).text().not_null())
            .col(ColumnDef::new(ITEM_ID).text().not_null())
            .col(ColumnDef::new("record").text().not_null())
            .primary_key(Index::create().col(TABLE_KEY).col(ITEM_ID))
            .build(SqliteQueryBuilder),
        Table::create()
            .table(WATERMARKS)
            .if_not_exists()
            .col(ColumnDef::new(TABLE_KEY).text().not_null())
            .col(ColumnDef::new("query_id").text().not_null())
            .col(ColumnDef::new("updated_at").text().not_null())
            .col(ColumnDef::new(ITEM_ID).text().not_null())
            .primary_key(Index::create().col(TABLE_KEY).col("query_id"))
            .build(SqliteQueryBuilder),
    ]
}

/// Every fixed statement on the bookkeeping tables, as SQL text with `?` parameters.
/// The comment on each field lists its parameters.
pub(crate) struct Sql {
    /// key → value
    pub meta_get: String,
    /// key, value
    pub meta_insert: String,
    /// (none) → [`COLUMN_COLUMNS`], by table and position
    pub columns_all: String,
    /// table_key
    pub columns_delete: String,
    /// [`COLUMN_COLUMNS`]
    pub columns_insert: String,
    /// table_key, item_id → [`OP_COLUMNS`]
    pub op_get: String,
    /// (none) → table_key, item_id of every queued operation
    pub op_keys: String,
    /// (none) → [`OP_COLUMNS`], in queue order
    pub ops_all: String,
    /// table_key → [`OP_COLUMNS`], in queue order
    pub ops_of_table: String,
    /// table_key + [`OP_COLUMNS`] without seq
    pub op_insert: String,
    /// table_key, table_name, item_id, kind, version, item: a new entry, never attempted,
    /// without an error (every fresh `enqueue`; three parameters fewer to bind)
    pub op_insert_new: String,
    /// table_name, kind, version, item, attempts, revision, error, table_key, item_id
    pub op_update: String,
    /// table_key, item_id
    pub op_delete: String,
    /// table_key, item_id → [`CONFLICT_COLUMNS`]
    pub conflict_get: String,
    /// (none) → one row when any conflict is stored
    pub conflict_any: String,
    /// (none) → [`CONFLICT_COLUMNS`], oldest first
    pub conflicts_all: String,
    /// table_key → [`CONFLICT_COLUMNS`], oldest first
    pub conflicts_of_table: String,
    /// table_key + [`CONFLICT_COLUMNS`]
    pub conflict_insert: String,
    /// table_key, item_id
    pub conflict_delete: String,
    /// table_key
    pub conflicts_clear: String,
    /// table_key, item_id → record
    pub base_get: String,
    /// table_key, item_id, record
    pub base_upsert: String,
    /// table_key, item_id
    pub base_delete: String,
    /// table_key
    pub bases_clear: String,
    /// table_key, query_id → updated_at, item_id
    pub watermark_get: String,
    /// table_key, query_id, updated_at, item_id
    pub watermark_upsert: String,
    /// table_key, query_id
    pub watermark_delete: String,
    /// table_key
    pub watermarks_clear: String,
}

/// The statements, built on first use.
pub(crate) fn sql() -> &'static Sql {
    static SQL: OnceLock<Sql> = OnceLock::new();
    SQL.get_or_init(build_sql)
}

fn build_sql() -> Sql {
    let item = || key_is(TABLE_KEY).and(key_is(ITEM_ID));
    let ops_select = || {
        Query::select()
            .columns(OP_COLUMNS)
            .from(OPS)
            .order_by("seq", Order::Asc)
            .to_owned()
    };
    let conflicts_select = || {
        Query::select()
            .columns(CONFLICT_COLUMNS)
            .from(CONFLICTS)
            .order_by("n", Order::Asc)
            .to_owned()
    };
    let delete_where =
        |table: &'static str, cond: Expr| q(Query::delete().from_table(table).and_where(cond));
    Sql {
        meta_get: q(Query::select()
            .column("value")
            .from(META)
            .and_where(key_is("key"))),
        meta_insert: q(Query::insert()
            .into_table(META)
            .columns(["key", "value"])
            .values_panic([p(), p()])),
        columns_all: q(Query::select()
            .columns(COLUMN_COLUMNS)
            .from(COLUMNS)
            .order_by(TABLE_KEY, Order::Asc)
            .order_by("position", Order::Asc)),
        columns_delete: delete_where(COLUMNS, key_is(TABLE_KEY)),
        columns_insert: q(Query::insert()
            .into_table(COLUMNS)
            .columns(COLUMN_COLUMNS)
            .values_panic(COLUMN_COLUMNS.map(|_| p()))),
        op_get: q(ops_select().and_where(item())),
        op_keys: q(Query::select().columns([TABLE_KEY, ITEM_ID]).from(OPS)),
        ops_all: q(&ops_select()),
        ops_of_table: q(ops_select().and_where(key_is(TABLE_KEY))),
        op_insert: q(Query::insert()
            .into_table(OPS)
            .columns(std::iter::once(TABLE_KEY).chain(OP_COLUMNS[1..].iter().copied()))
            .values_panic(OP_COLUMNS.map(|_| p()))),
        op_insert_new: q(Query::insert()
            .into_table(OPS)
            .columns(std::iter::once(TABLE_KEY).chain(OP_COLUMNS[1..].iter().copied()))
            .values_panic(std::iter::repeat_with(p).take(6).chain([
                Expr::cust("0"),
                Expr::cust("0"),
                Expr::null(),
            ]))),
        op_update: q(Query::update()
            .table(OPS)
            .values(
                [
                    TABLE_NAME, KIND, "version", "item", "attempts", "revision", "error",
                ]
                .map(|c| (c, p())),
            )
            .and_where(item())),
        op_delete: delete_where(OPS, item()),
        conflict_get: q(conflicts_select().and_where(item())),
        conflict_any: q(Query::select()
            .expr(Expr::cust("1"))
            .from(CONFLICTS)
            .limit(1)),
        conflicts_all: q(&conflicts_select()),
        conflicts_of_table: q(conflicts_select().and_where(key_is(TABLE_KEY))),
        conflict_insert: q(Query::insert()
            .into_table(CONFLICTS)
            .columns(std::iter::once(TABLE_KEY).chain(CONFLICT_COLUMNS))
            .values_panic(std::iter::repeat_with(p).take(CONFLICT_COLUMNS.len() + 1))),
        conflict_delete: delete_where(CONFLICTS, item()),
        conflicts_clear: delete_where(CONFLICTS, key_is(TABLE_KEY)),
        base_get: q(Query::select()
            .column("record")
            .from(BASES)
            .and_where(item())),
        base_upsert: q(Query::insert()
            .into_table(BASES)
            .columns([TABLE_KEY, ITEM_ID, "record"])
            .values_panic([p(), p(), p()])
            .on_conflict(
                OnConflict::columns([TABLE_KEY, ITEM_ID])
                    .update_column("record")
                    .to_owned(),
            )),
        base_delete: delete_where(BASES, item()),
        bases_clear: delete_where(BASES, key_is(TABLE_KEY)),
        watermark_get: q(Query::select()
            .columns(["updated_at", ITEM_ID])
            .from(WATERMARKS)
            .and_where(key_is(TABLE_KEY).and(key_is("query_id")))),
        watermark_upsert: q(Query::insert()
            .into_table(WATERMARKS)
            .columns([TABLE_KEY, "query_id", "updated_at", ITEM_ID])
            .values_panic([p(), p(), p(), p()])
            .on_conflict(
                OnConflict::columns([TABLE_KEY, "query_id"])
                    .update_columns(["updated_at", ITEM_ID])
                    .to_owned(),
            )),
        watermark_delete: delete_where(WATERMARKS, key_is(TABLE_KEY).and(key_is("query_id"))),
        watermarks_clear: delete_where(WATERMARKS, key_is(TABLE_KEY)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_parameterized_as_documented() {
        let s = sql();
        assert_eq!(
            s.op_get,
            r#"SELECT "seq", "table_name", "item_id", "kind", "version", "item", "attempts", "revision", "error" FROM "__tablesync_ops" WHERE "table_key" = ? AND "item_id" = ? ORDER BY "seq" ASC"#
        );
        assert_eq!(s.op_insert.matches('?').count(), 9);
        assert_eq!(
            s.op_insert_new,
            r#"INSERT INTO "__tablesync_ops" ("table_key", "table_name", "item_id", "kind", "version", "item", "attempts", "revision", "error") VALUES (?, ?, ?, ?, ?, ?, 0, 0, NULL)"#
        );
        assert_eq!(s.op_update.matches('?').count(), 9);
        assert_eq!(
            s.conflict_any,
            r#"SELECT 1 FROM "__tablesync_conflicts" LIMIT ?"#
        );
        assert_eq!(s.conflict_insert.matches('?').count(), 8);
        assert_eq!(s.columns_insert.matches('?').count(), 7);
        assert!(
            s.watermark_upsert.contains("ON CONFLICT"),
            "{}",
            s.watermark_upsert
        );
    }
}

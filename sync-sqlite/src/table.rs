//! App tables: their DDL, and [`TableInfo`], a table's schema with the SQL of its hot
//! statements built once (per schema version) so that a write only binds values.

use std::sync::Arc;

use sea_query::{
    Alias, ColumnDef, Expr, ExprTrait, OnConflict, Query, QueryStatementWriter, SqliteQueryBuilder,
    Table,
};
use sync_core::{Column, ColumnType, SystemColumn, TableSchema};

/// Every table the store knows, by table key; looked up by every write, so hashed with
/// foldhash (keys are the app's own table names).
pub(crate) type Tables = foldhash::HashMap<String, Arc<TableInfo>>;

/// A table as the store knows it: the merged schema (columns of earlier versions kept)
/// and its cached statements.
#[derive(Debug)]
pub(crate) struct TableInfo {
    /// As [`StoreTx::table_schema`](sync_core::store::StoreTx::table_schema) returns it.
    pub schema: TableSchema,
    /// Every column in schema order, then `ON CONFLICT (id) DO UPDATE`.
    pub upsert: String,
    /// id → every column in schema order.
    pub get: String,
    /// id
    pub delete: String,
    /// (none)
    pub delete_all: String,
}

fn name(s: &str) -> Alias {
    Alias::new(s)
}

fn q<S: QueryStatementWriter>(s: &S) -> String {
    s.build(SqliteQueryBuilder).0
}

impl TableInfo {
    pub(crate) fn new(schema: TableSchema) -> TableInfo {
        let t = || name(&schema.name);
        let cols = || schema.columns.iter().map(|c| name(&c.name));
        let by_id = || Expr::col(SystemColumn::Id.name()).eq(Expr::val(""));
        let data: Vec<Alias> = schema
            .columns
            .iter()
            .filter(|c| c.system != Some(SystemColumn::Id))
            .map(|c| name(&c.name))
            .collect();
        let mut on_conflict = OnConflict::column(SystemColumn::Id.name());
        if data.is_empty() {
            on_conflict.do_nothing();
        } else {
            on_conflict.update_columns(data);
        }
        TableInfo {
            upsert: q(Query::insert()
                .into_table(t())
                .columns(cols())
                .values_panic(schema.columns.iter().map(|_| Expr::val("")))
                .on_conflict(on_conflict)),
            get: q(Query::select().columns(cols()).from(t()).and_where(by_id())),
            delete: q(Query::delete().from_table(t()).and_where(by_id())),
            delete_all: q(Query::delete().from_table(t())),
            schema,
        }
    }
}

/// `CREATE TABLE` for a new app table: `id TEXT PRIMARY KEY`, every other column
/// without NOT NULL (decoding enforces types; this keeps migrations to ADD COLUMN).
pub(crate) fn create_table(schema: &TableSchema) -> String {
    let mut t = Table::create();
    t.table(name(&schema.name));
    for col in &schema.columns {
        t.col(column_def(col));
    }
    t.build(SqliteQueryBuilder)
}

/// `ALTER TABLE … ADD COLUMN` for a column a new schema version brings.
pub(crate) fn add_column(table: &str, col: &Column) -> String {
    Table::alter()
        .table(name(table))
        .add_column(column_def(col))
        .build(SqliteQueryBuilder)
}

fn column_def(col: &Column) -> ColumnDef {
    let mut def = ColumnDef::new(name(&col.name));
    match col.ty {
        ColumnType::Text | ColumnType::Date | ColumnType::DateTime | ColumnType::Json => def.text(),
        ColumnType::Integer | ColumnType::Bool => def.integer(),
        // BLOB affinity (not REAL): SQLite stores a REAL-affinity float that happens to be
        // integral as an integer, which turns -0.0 into 0.0. Values are bound as REAL and
        // kept bit for bit.
        ColumnType::Real | ColumnType::Blob => def.blob(),
    };
    if col.system == Some(SystemColumn::Id) {
        def.not_null().primary_key();
    }
    def
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_quote_names_and_bind_values() {
        let s = TableSchema::new("Todo").with_column("text", ColumnType::Text, false);
        assert_eq!(
            create_table(&s),
            r#"CREATE TABLE "Todo" ( "id" text NOT NULL PRIMARY KEY, "version" text, "updatedAt" text, "createdAt" text, "deleted" integer, "text" text )"#
        );
        let info = TableInfo::new(s);
        assert_eq!(
            info.upsert,
            r#"INSERT INTO "Todo" ("id", "version", "updatedAt", "createdAt", "deleted", "text") VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT ("id") DO UPDATE SET "version" = "excluded"."version", "updatedAt" = "excluded"."updatedAt", "createdAt" = "excluded"."createdAt", "deleted" = "excluded"."deleted", "text" = "excluded"."text""#
        );
        assert_eq!(
            info.get,
            r#"SELECT "id", "version", "updatedAt", "createdAt", "deleted", "text" FROM "Todo" WHERE "id" = ?"#
        );
        assert_eq!(
            add_column("Todo", &Column::new("due", ColumnType::Date)),
            r#"ALTER TABLE "Todo" ADD COLUMN "due" text"#
        );
    }
}

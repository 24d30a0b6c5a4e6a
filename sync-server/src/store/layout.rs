//! The storage layout (see the `store` module docs): the statements that create it, and
//! how it grows when a write or a declaration needs a new table or new columns. Both
//! backends share all of it and differ only in how they run the statements.
//!
//! At open, a backend runs [`bootstrap`]. For a schema change it takes its schema lock
//! (SQLite: the write transaction's `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock),
//! reads the table from the registry as it is under that lock ([`Found`]), and asks
//! [`SchemaChange::plan`] what to change: the table as it will be once the change
//! commits, and the [`Step`]s that make it so, DDL and registry rows in the order they
//! run. The backend builds each step with its own query builder and runs it in the
//! caller's transaction, so that a refused write rolls its schema change back with it.
//!
//! Tables and columns are only ever added, under names that never change: a database
//! that an older server created opens as it is (`bootstrap` creates only what is
//! missing).

use std::sync::Arc;

use sea_query::{
    ColumnDef, Index, IndexCreateStatement, InsertStatement, OnConflict, Query, SchemaBuilder,
    Table, TableAlterStatement, TableCreateStatement,
};
use serde_json::Value as Json;

use super::catalog::{ColumnMeta, Kind, TableMeta, check_column_cap, missing_columns, phys_name};
use super::sql::{COLUMNS, CREATED, DELETED, Flavor, ID, KEYS, OWNER, TABLES, UPDATED, VERSION, a};
use super::{StoreError, WriteOp};
use crate::schema::TableDecl;

/// One statement of the layout, built by a backend with its query builder.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "a few of these live for one schema change: boxing would save nothing"
)]
pub(crate) enum Step {
    /// DDL: no values to bind.
    Ddl(Ddl),
    /// A registry row, its values bound.
    Register(InsertStatement),
}

/// A DDL statement of the layout.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "a few of these live for one schema change: boxing would save nothing"
)]
pub(crate) enum Ddl {
    /// A registry table or an app table's data table.
    CreateTable(TableCreateStatement),
    /// A registry index or an app table's pull index.
    CreateIndex(IndexCreateStatement),
    /// A new app column.
    AlterTable(TableAlterStatement),
}

impl Ddl {
    /// The statement's text in `builder`'s dialect.
    pub(crate) fn build<B: SchemaBuilder>(&self, builder: B) -> String {
        match self {
            Ddl::CreateTable(s) => s.build(builder),
            Ddl::CreateIndex(s) => s.build(builder),
            Ddl::AlterTable(s) => s.build(builder),
        }
    }
}

/// The registry tables and their indexes, where they are missing: what a backend runs
/// when it opens a database.
pub(crate) fn bootstrap(flavor: Flavor) -> Vec<Step> {
    let tables = registry_tables(flavor).into_iter().map(Ddl::CreateTable);
    let indexes = registry_indexes().into_iter().map(Ddl::CreateIndex);
    tables.chain(indexes).map(Step::Ddl).collect()
}

/// An app table as the registry holds it under the schema lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// The table and its columns.
    Table(TableMeta),
    /// No such table yet; the registry holds `tables` others.
    Missing {
        /// How many tables the registry holds: the new one's ordinal follows.
        tables: i64,
    },
}

/// The columns a schema change is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wanted<'a> {
    /// Those a write sets that the table lacks, of the kinds their values give them.
    Written(&'a [(String, Json)]),
    /// Those a declaration names that the table lacks; one the table holds with another
    /// kind is an error naming it.
    Declared(&'a TableDecl),
}

impl Wanted<'_> {
    /// The columns `meta` lacks, with their kinds.
    fn missing(self, meta: &TableMeta) -> Result<Vec<(String, Kind)>, StoreError> {
        match self {
            Wanted::Written(data) => Ok(missing_columns(Some(meta), data)),
            Wanted::Declared(decl) => declared_missing(decl, meta),
        }
    }
}

/// A table's schema change: the table as it will be once the change commits, and what
/// to run to get there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaChange {
    /// The name the client wrote (the key is its lowercased form).
    display: String,
    /// The table once the change commits.
    meta: TableMeta,
    /// The ordinal of the table when the change creates it.
    created: Option<i64>,
    /// The columns of `meta` from this index on are the ones the change adds.
    first_added: usize,
}

impl SchemaChange {
    /// The change that gives `table` (lowercased: `key`) the columns it lacks of those
    /// `wanted`, given the table as the registry holds it (a table the change creates
    /// lacks them all). A 400 when the table would have more than
    /// [`MAX_COLUMNS`](super::catalog::MAX_COLUMNS) columns; a declared column held
    /// with another kind is an error.
    pub(crate) fn plan(
        table: &str,
        key: &str,
        found: Found,
        wanted: Wanted<'_>,
    ) -> Result<SchemaChange, StoreError> {
        let (mut meta, created) = match found {
            Found::Table(meta) => (meta, None),
            Found::Missing { tables } => {
                let n = tables + 1;
                let meta = TableMeta {
                    key: key.to_owned(),
                    phys: phys_name('t', n, key),
                    columns: Vec::new(),
                };
                (meta, Some(n))
            }
        };
        let missing = wanted.missing(&meta)?;
        check_column_cap(table, &meta, missing.len())?;
        let first_added = meta.columns.len();
        for (name, kind) in missing {
            let ord = meta.columns.len() as i64 + 1;
            meta.columns.push(ColumnMeta {
                phys: phys_name('c', ord, &name),
                name,
                kind,
            });
        }
        Ok(SchemaChange {
            display: table.to_owned(),
            meta,
            created,
            first_added,
        })
    }

    /// The statements of the change, in the order they run: the table, its pull index
    /// and its registry row when it is new, then each new column and its registry row.
    pub(crate) fn steps(&self, flavor: Flavor) -> Vec<Step> {
        let meta = &self.meta;
        let mut steps = Vec::new();
        if let Some(n) = self.created {
            steps.push(Step::Ddl(Ddl::CreateTable(create_data_table(
                flavor, &meta.phys,
            ))));
            steps.push(Step::Ddl(Ddl::CreateIndex(create_pull_index(
                &meta.phys, n,
            ))));
            steps.push(Step::Register(insert_table(
                &meta.key,
                &self.display,
                &meta.phys,
            )));
        }
        for (i, col) in meta.columns.iter().enumerate().skip(self.first_added) {
            let ord = i as i64 + 1;
            steps.push(Step::Ddl(Ddl::AlterTable(add_column(
                flavor, &meta.phys, col,
            ))));
            steps.push(Step::Register(insert_column(&meta.key, col, ord)));
        }
        steps
    }

    /// The table as it will be once the change commits.
    pub(crate) fn into_meta(self) -> TableMeta {
        self.meta
    }
}

/// What a write needs of the schema before it can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Nothing: its table and every column it sets exist, as this says.
    Nothing(Arc<TableMeta>),
    /// A new table or new columns: a [`SchemaChange`] in the write's own transaction.
    Change,
    /// Its table does not exist and it is not an insert: there is nothing to change
    /// (a 404), and nothing to create.
    NoTable,
}

/// What `op` needs of the schema, given its table as the catalog knows it (`None`: no
/// such table).
pub(crate) fn needs(meta: Option<Arc<TableMeta>>, op: &WriteOp) -> Needs {
    match meta {
        Some(m) if missing_columns(Some(&m), op.data()).is_empty() => Needs::Nothing(m),
        Some(_) => Needs::Change,
        None if matches!(op, WriteOp::Insert { .. }) => Needs::Change,
        None => Needs::NoTable,
    }
}

/// The declared columns `meta` lacks, or an error when one it has is of another kind.
fn declared_missing(decl: &TableDecl, meta: &TableMeta) -> Result<Vec<(String, Kind)>, StoreError> {
    let mut missing = Vec::new();
    for (name, kind) in &decl.columns {
        match meta.column(name) {
            Some(c) if c.kind == *kind => {}
            Some(c) => {
                return Err(StoreError::Database(format!(
                    "table `{}`, column `{name}`: the schema declares it {} but the database holds it as {}",
                    decl.name,
                    kind.as_str(),
                    c.kind.as_str()
                )));
            }
            None => missing.push((name.clone(), *kind)),
        }
    }
    Ok(missing)
}

/// A column as a registry row names it (`display`, `kind`, `phys` of
/// `__tablesync_columns`), or an error naming a kind this server does not know.
pub(crate) fn registered_column(
    name: String,
    kind: &str,
    phys: String,
) -> Result<ColumnMeta, StoreError> {
    let kind = Kind::parse(kind).ok_or_else(|| {
        StoreError::Database(format!("column `{name}` has unknown kind `{kind}`"))
    })?;
    Ok(ColumnMeta { name, phys, kind })
}

/// Text compares byte-wise on both backends (SQLite's default BINARY collation; on
/// PostgreSQL the "C" collation), as the query semantics require and keyset paging on
/// `id` relies on.
fn text_col(flavor: Flavor, name: &str) -> ColumnDef {
    let mut c = ColumnDef::new(a(name));
    c.text();
    if flavor == Flavor::Postgres {
        c.extra("COLLATE \"C\"");
    }
    c
}

/// The registry tables.
fn registry_tables(flavor: Flavor) -> Vec<TableCreateStatement> {
    let tables = Table::create()
        .table(a(TABLES))
        .if_not_exists()
        .col(text_col(flavor, "name").not_null().primary_key())
        .col(text_col(flavor, "display").not_null())
        .col(text_col(flavor, "phys").not_null())
        .col(ColumnDef::new(a("last_ms")).big_integer().not_null())
        .to_owned();
    let columns = Table::create()
        .table(a(COLUMNS))
        .if_not_exists()
        .col(text_col(flavor, "tbl").not_null())
        .col(text_col(flavor, "name").not_null())
        .col(text_col(flavor, "display").not_null())
        .col(text_col(flavor, "kind").not_null())
        .col(text_col(flavor, "phys").not_null())
        .col(ColumnDef::new(a("ord")).big_integer().not_null())
        .primary_key(Index::create().col(a("tbl")).col(a("name")))
        .to_owned();
    let keys = Table::create()
        .table(a(KEYS))
        .if_not_exists()
        .col(text_col(flavor, OWNER).not_null())
        .col(text_col(flavor, "key").not_null())
        .col(ColumnDef::new(a("at_ms")).big_integer().not_null())
        .col(ColumnDef::new(a("status")).integer().not_null())
        .col(text_col(flavor, "body").not_null())
        .primary_key(Index::create().col(a(OWNER)).col(a("key")))
        .to_owned();
    vec![tables, columns, keys]
}

/// Indexes of the registry tables: keys by age, for pruning.
fn registry_indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create()
            .if_not_exists()
            .name("__tablesync_keys_age")
            .table(a(KEYS))
            .col(a("at_ms"))
            .to_owned(),
    ]
}

/// An app table's data table: system columns, keyed by `(owner, id)`.
fn create_data_table(flavor: Flavor, phys: &str) -> TableCreateStatement {
    Table::create()
        .table(a(phys))
        .if_not_exists()
        .col(text_col(flavor, ID).not_null())
        .col(text_col(flavor, OWNER).not_null())
        .col(ColumnDef::new(a(VERSION)).big_integer().not_null())
        .col(ColumnDef::new(a(CREATED)).big_integer().not_null())
        .col(ColumnDef::new(a(UPDATED)).big_integer().not_null())
        .col(ColumnDef::new(a(DELETED)).boolean().not_null())
        .primary_key(Index::create().col(a(OWNER)).col(a(ID)))
        .to_owned()
}

/// The index keyset pulls walk: `(owner, updated_at, id)`.
fn create_pull_index(phys: &str, n: i64) -> IndexCreateStatement {
    Index::create()
        .if_not_exists()
        .name(format!("i{n}_pull"))
        .table(a(phys))
        .col(a(OWNER))
        .col(a(UPDATED))
        .col(a(ID))
        .to_owned()
}

/// A nullable column of `col`'s kind on an app table.
fn add_column(flavor: Flavor, table_phys: &str, col: &ColumnMeta) -> TableAlterStatement {
    let mut def = match col.kind {
        Kind::Text | Kind::Json => text_col(flavor, &col.phys),
        Kind::Number => ColumnDef::new(a(&col.phys)).double().to_owned(),
        Kind::Bool => ColumnDef::new(a(&col.phys)).boolean().to_owned(),
        Kind::DateTime => ColumnDef::new(a(&col.phys)).big_integer().to_owned(),
    };
    Table::alter()
        .table(a(table_phys))
        .add_column(def.null())
        .to_owned()
}

/// Registers an app table: its name (lowercased, the key), the name as the client
/// first wrote it, its physical name and a write clock at 0.
fn insert_table(key: &str, display: &str, phys: &str) -> InsertStatement {
    Query::insert()
        .into_table(a(TABLES))
        .columns([a("name"), a("display"), a("phys"), a("last_ms")])
        .values_panic([key.into(), display.into(), phys.into(), 0i64.into()])
        .on_conflict(OnConflict::column(a("name")).do_nothing().to_owned())
        .to_owned()
}

/// Registers an app column at position `ord`.
fn insert_column(key: &str, col: &ColumnMeta, ord: i64) -> InsertStatement {
    Query::insert()
        .into_table(a(COLUMNS))
        .columns([
            a("tbl"),
            a("name"),
            a("display"),
            a("kind"),
            a("phys"),
            a("ord"),
        ])
        .values_panic([
            key.into(),
            col.name.to_ascii_lowercase().into(),
            col.name.clone().into(),
            col.kind.as_str().into(),
            col.phys.clone().into(),
            ord.into(),
        ])
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    fn texts(steps: &[Step], flavor: Flavor) -> Vec<String> {
        steps
            .iter()
            .map(|s| match (s, flavor) {
                (Step::Ddl(d), Flavor::Sqlite) => d.build(SqliteQueryBuilder),
                (Step::Ddl(d), Flavor::Postgres) => d.build(PostgresQueryBuilder),
                (Step::Register(r), Flavor::Sqlite) => r.to_string(SqliteQueryBuilder),
                (Step::Register(r), Flavor::Postgres) => r.to_string(PostgresQueryBuilder),
            })
            .collect()
    }

    fn written(data: &[(&str, serde_json::Value)]) -> Vec<(String, Json)> {
        data.iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect()
    }

    fn todo(columns: &[(&str, Kind)]) -> TableMeta {
        TableMeta {
            key: "todo".into(),
            phys: "t3_todo".into(),
            columns: columns
                .iter()
                .enumerate()
                .map(|(i, (name, kind))| ColumnMeta {
                    name: (*name).to_owned(),
                    phys: phys_name('c', i as i64 + 1, name),
                    kind: *kind,
                })
                .collect(),
        }
    }

    /// Databases that earlier servers created must keep opening, and grow as before: the
    /// statements are pinned, word for word, for both dialects.
    #[test]
    fn the_layout_is_the_one_existing_databases_have() {
        let data = written(&[("Text", serde_json::json!("milk"))]);
        let change = SchemaChange::plan(
            "Todo",
            "todo",
            Found::Missing { tables: 2 },
            Wanted::Written(&data),
        )
        .unwrap();
        let sqlite = [
            r#"CREATE TABLE IF NOT EXISTS "__tablesync_tables" ( "name" text NOT NULL PRIMARY KEY, "display" text NOT NULL, "phys" text NOT NULL, "last_ms" integer NOT NULL )"#,
            r#"CREATE TABLE IF NOT EXISTS "__tablesync_columns" ( "tbl" text NOT NULL, "name" text NOT NULL, "display" text NOT NULL, "kind" text NOT NULL, "phys" text NOT NULL, "ord" integer NOT NULL, PRIMARY KEY ("tbl", "name") )"#,
            r#"CREATE TABLE IF NOT EXISTS "__tablesync_keys" ( "owner" text NOT NULL, "key" text NOT NULL, "at_ms" integer NOT NULL, "status" integer NOT NULL, "body" text NOT NULL, PRIMARY KEY ("owner", "key") )"#,
            r#"CREATE INDEX IF NOT EXISTS "__tablesync_keys_age" ON "__tablesync_keys" ("at_ms")"#,
            r#"CREATE TABLE IF NOT EXISTS "t3_todo" ( "id" text NOT NULL, "owner" text NOT NULL, "version" integer NOT NULL, "created_at" integer NOT NULL, "updated_at" integer NOT NULL, "deleted" boolean NOT NULL, PRIMARY KEY ("owner", "id") )"#,
            r#"CREATE INDEX IF NOT EXISTS "i3_pull" ON "t3_todo" ("owner", "updated_at", "id")"#,
            r#"INSERT INTO "__tablesync_tables" ("name", "display", "phys", "last_ms") VALUES ('todo', 'Todo', 't3_todo', 0) ON CONFLICT ("name") DO NOTHING"#,
            r#"ALTER TABLE "t3_todo" ADD COLUMN "c1_text" text NULL"#,
            r#"INSERT INTO "__tablesync_columns" ("tbl", "name", "display", "kind", "phys", "ord") VALUES ('todo', 'text', 'Text', 'text', 'c1_text', 1)"#,
        ];
        let postgres = [
            r#"CREATE TABLE IF NOT EXISTS "__tablesync_tables" ( "name" text NOT NULL PRIMARY KEY COLLATE "C", "display" text NOT NULL COLLATE "C", "phys" text NOT NULL COLLATE "C", "last_ms" bigint NOT NULL )"#,
            r#"CREATE TABLE IF NOT EXISTS "__tablesync_columns" ( "tbl" text NOT NULL COLLATE "C", "name" text NOT NULL COLLATE "C", "display" text NOT NULL COLLATE "C", "kind" text NOT NULL COLLATE "C", "phys" text NOT NULL COLLATE "C", "ord" bigint NOT NULL, PRIMARY KEY ("tbl", "name") )"#,
            r#"CREATE TABLE IF NOT EXISTS "__tablesync_keys" ( "owner" text NOT NULL COLLATE "C", "key" text NOT NULL COLLATE "C", "at_ms" bigint NOT NULL, "status" integer NOT NULL, "body" text NOT NULL COLLATE "C", PRIMARY KEY ("owner", "key") )"#,
            r#"CREATE INDEX IF NOT EXISTS "__tablesync_keys_age" ON "__tablesync_keys" ("at_ms")"#,
            r#"CREATE TABLE IF NOT EXISTS "t3_todo" ( "id" text NOT NULL COLLATE "C", "owner" text NOT NULL COLLATE "C", "version" bigint NOT NULL, "created_at" bigint NOT NULL, "updated_at" bigint NOT NULL, "deleted" bool NOT NULL, PRIMARY KEY ("owner", "id") )"#,
            r#"CREATE INDEX IF NOT EXISTS "i3_pull" ON "t3_todo" ("owner", "updated_at", "id")"#,
            r#"INSERT INTO "__tablesync_tables" ("name", "display", "phys", "last_ms") VALUES ('todo', 'Todo', 't3_todo', 0) ON CONFLICT ("name") DO NOTHING"#,
            r#"ALTER TABLE "t3_todo" ADD COLUMN "c1_text" text NULL COLLATE "C""#,
            r#"INSERT INTO "__tablesync_columns" ("tbl", "name", "display", "kind", "phys", "ord") VALUES ('todo', 'text', 'Text', 'text', 'c1_text', 1)"#,
        ];
        for (flavor, expected) in [(Flavor::Sqlite, sqlite), (Flavor::Postgres, postgres)] {
            let mut steps = bootstrap(flavor);
            steps.extend(change.steps(flavor));
            assert_eq!(texts(&steps, flavor), expected, "{flavor:?}");
        }
    }

    #[test]
    fn each_kind_gets_its_column_type() {
        let data = written(&[
            ("n", serde_json::json!(1)),
            ("b", serde_json::json!(true)),
            ("d", serde_json::json!("2026-01-01T00:00:00.000Z")),
            ("j", serde_json::json!({"a": 1})),
        ]);
        let found = Found::Table(todo(&[]));
        let change = SchemaChange::plan("Todo", "todo", found, Wanted::Written(&data)).unwrap();
        let alters = |flavor| -> Vec<String> {
            texts(&change.steps(flavor), flavor)
                .into_iter()
                .filter(|t| t.starts_with("ALTER"))
                .collect()
        };
        assert_eq!(
            alters(Flavor::Sqlite),
            [
                r#"ALTER TABLE "t3_todo" ADD COLUMN "c1_n" double NULL"#,
                r#"ALTER TABLE "t3_todo" ADD COLUMN "c2_b" boolean NULL"#,
                r#"ALTER TABLE "t3_todo" ADD COLUMN "c3_d" integer NULL"#,
                r#"ALTER TABLE "t3_todo" ADD COLUMN "c4_j" text NULL"#,
            ]
        );
        assert_eq!(
            alters(Flavor::Postgres),
            [
                r#"ALTER TABLE "t3_todo" ADD COLUMN "c1_n" double precision NULL"#,
                r#"ALTER TABLE "t3_todo" ADD COLUMN "c2_b" bool NULL"#,
                r#"ALTER TABLE "t3_todo" ADD COLUMN "c3_d" bigint NULL"#,
                r#"ALTER TABLE "t3_todo" ADD COLUMN "c4_j" text NULL COLLATE "C""#,
            ]
        );
    }

    #[test]
    fn an_existing_table_gets_only_the_columns_it_lacks() {
        let found = Found::Table(todo(&[("text", Kind::Text)]));
        let data = written(&[
            ("TEXT", serde_json::json!("milk")),
            ("n", serde_json::json!(2)),
            ("N", serde_json::json!(3)),
            ("later", serde_json::Value::Null),
        ]);
        let change = SchemaChange::plan("Todo", "todo", found, Wanted::Written(&data)).unwrap();
        assert_eq!(
            texts(&change.steps(Flavor::Sqlite), Flavor::Sqlite),
            [
                r#"ALTER TABLE "t3_todo" ADD COLUMN "c2_n" double NULL"#,
                r#"INSERT INTO "__tablesync_columns" ("tbl", "name", "display", "kind", "phys", "ord") VALUES ('todo', 'n', 'n', 'number', 'c2_n', 2)"#,
            ]
        );
        assert_eq!(
            change.into_meta(),
            todo(&[("text", Kind::Text), ("n", Kind::Number)])
        );
    }

    #[test]
    fn a_change_with_nothing_to_add_runs_nothing() {
        let found = Found::Table(todo(&[("text", Kind::Text)]));
        let data = written(&[("Text", serde_json::json!("milk"))]);
        let change = SchemaChange::plan("Todo", "todo", found, Wanted::Written(&data)).unwrap();
        assert!(change.steps(Flavor::Postgres).is_empty());
    }

    #[test]
    fn too_many_columns_are_refused_before_any_statement() {
        let many: Vec<(String, Kind)> = (0..super::super::catalog::MAX_COLUMNS)
            .map(|i| (format!("c{i}"), Kind::Text))
            .collect();
        let names: Vec<(&str, Kind)> = many.iter().map(|(n, k)| (n.as_str(), *k)).collect();
        let data = written(&[("one_more", serde_json::json!(1))]);
        let found = Found::Table(todo(&names));
        let e = SchemaChange::plan("Todo", "todo", found, Wanted::Written(&data)).unwrap_err();
        assert_eq!(
            e,
            StoreError::BadRequest("table `Todo` would have more than 1000 columns".into())
        );
    }

    #[test]
    fn a_declaration_adds_its_missing_columns_and_names_a_kind_it_contradicts() {
        let mut decl = TableDecl::new("Todo");
        decl.columns = vec![("text".into(), Kind::Text), ("due".into(), Kind::DateTime)];
        let found = Found::Table(todo(&[("Text", Kind::Text)]));
        let change = SchemaChange::plan("Todo", "todo", found, Wanted::Declared(&decl)).unwrap();
        assert_eq!(
            change.into_meta(),
            todo(&[("Text", Kind::Text), ("due", Kind::DateTime)])
        );
        let found = Found::Table(todo(&[("due", Kind::Text)]));
        let e = SchemaChange::plan("Todo", "todo", found, Wanted::Declared(&decl)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "database error: table `Todo`, column `due`: the schema declares it datetime but \
             the database holds it as text"
        );
    }

    #[test]
    fn a_write_needs_a_change_for_a_new_table_or_column_and_finds_nothing_without_a_table() {
        let insert = |data: &[(&str, serde_json::Value)]| WriteOp::Insert {
            data: written(data),
        };
        let delete = WriteOp::Delete { if_match: None };
        let meta = Arc::new(todo(&[("text", Kind::Text)]));
        assert_eq!(needs(None, &insert(&[])), Needs::Change);
        assert_eq!(needs(None, &delete), Needs::NoTable);
        assert_eq!(
            needs(Some(Arc::clone(&meta)), &delete),
            Needs::Nothing(Arc::clone(&meta))
        );
        let known = insert(&[("TEXT", serde_json::json!("milk"))]);
        assert_eq!(
            needs(Some(Arc::clone(&meta)), &known),
            Needs::Nothing(Arc::clone(&meta))
        );
        // A null gives a new column no kind: nothing to add.
        let null = insert(&[("later", serde_json::Value::Null)]);
        assert_eq!(
            needs(Some(Arc::clone(&meta)), &null),
            Needs::Nothing(Arc::clone(&meta))
        );
        let update = WriteOp::Update {
            data: written(&[("n", serde_json::json!(1))]),
            if_match: None,
            body_version: None,
        };
        assert_eq!(needs(Some(meta), &update), Needs::Change);
    }

    #[test]
    fn a_registry_row_of_an_unknown_kind_is_an_error_naming_the_column() {
        assert_eq!(
            registered_column("due".into(), "datetime", "c2_due".into()).unwrap(),
            ColumnMeta {
                name: "due".into(),
                phys: "c2_due".into(),
                kind: Kind::DateTime
            }
        );
        let e = registered_column("due".into(), "blob", "c2_due".into()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "database error: column `due` has unknown kind `blob`"
        );
    }
}

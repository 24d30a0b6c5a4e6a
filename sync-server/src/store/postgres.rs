//! The PostgreSQL backend: tokio-postgres through a deadpool pool, statements prepared
//! once per connection. Several server instances may share one database: writes to a
//! table serialize on the table's clock row (see the `store` module docs), and schema
//! changes on a transaction-scoped advisory lock, so instances never race on DDL.
//!
//! Connections use `NoTls`: the database is expected on loopback or a private network.
//! The schema is the connection's `search_path` (e.g. `?options=-csearch_path%3Dapp`).

use std::sync::Arc;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use sea_query::{Alias, Expr, Func, PostgresQueryBuilder, Query};
use sea_query_postgres::PostgresBinder;
use tokio_postgres::NoTls;
use tokio_postgres::types::Type;

use super::catalog::{
    Catalog, Cell, ColumnMeta, Kind, TableMeta, check_column_cap, missing_columns, phys_name,
};
use super::sql::{self, Flavor};
use super::sqlite::{bind_data, now_ms};
use super::{Backend, BoxFuture, Outcome, Page, Plan, Row, StoreError, WriteOp, plan};
use crate::query::TableQuery;

const FLAVOR: Flavor = Flavor::Postgres;

/// The key of the advisory lock that serializes schema changes across instances.
const SCHEMA_LOCK: i64 = 0x7461_626c_6573_796e; // "tablesyn"

/// The PostgreSQL backend.
///
/// ```no_run
/// # async fn f() -> Result<(), sync_server::store::StoreError> {
/// use sync_server::store::{Backend, PostgresBackend};
/// let db = PostgresBackend::connect("postgres://postgres@127.0.0.1:5432/test").await?;
/// assert_eq!(db.get("Todo", "", "nope").await?, None);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresBackend {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    catalog: Catalog,
}

fn lock_schema() -> sea_query::SelectStatement {
    Query::select()
        .expr(Func::cust(Alias::new("pg_advisory_xact_lock")).arg(Expr::val(SCHEMA_LOCK)))
        .to_owned()
}

impl PostgresBackend {
    /// Connects (a pool of up to 16 connections) and creates the registry tables; see
    /// the type's example.
    pub async fn connect(url: &str) -> Result<PostgresBackend, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Database(format!("bad PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let mut client = pool.get().await?;
        let tx = client.transaction().await?;
        let (q, v) = lock_schema().build_postgres(PostgresQueryBuilder);
        tx.execute(&q, &v.as_params()).await?;
        for stmt in sql::bootstrap(FLAVOR) {
            tx.batch_execute(&stmt.build(PostgresQueryBuilder)).await?;
        }
        tx.commit().await?;
        drop(client);
        Ok(PostgresBackend {
            inner: Arc::new(Inner {
                pool,
                catalog: Catalog::default(),
            }),
        })
    }
}

async fn query<C: GenericClient>(
    c: &C,
    q: &impl PostgresBinder,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let (text, values) = q.build_postgres(PostgresQueryBuilder);
    let stmt = c.prepare_cached(&text).await?;
    Ok(c.query(&stmt, &values.as_params()).await?)
}

/// A `SELECT *` over an app table, prepared afresh: a cached plan of it would fail
/// ("cached plan must not change result type") once a column has been added. Outside a
/// transaction another instance can still add a column between the prepare and the
/// execute (inside one, the prepare's lock holds off the `ALTER TABLE`): that read is
/// simply tried again.
async fn query_rows<C: GenericClient>(
    c: &C,
    q: &impl PostgresBinder,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let (text, values) = q.build_postgres(PostgresQueryBuilder);
    let mut attempt = 0;
    loop {
        let stmt = c.prepare(&text).await?;
        match c.query(&stmt, &values.as_params()).await {
            Err(e)
                if attempt < 3
                    && e.code()
                        == Some(&tokio_postgres::error::SqlState::FEATURE_NOT_SUPPORTED) =>
            {
                attempt += 1;
            }
            other => return Ok(other?),
        }
    }
}

async fn execute<C: GenericClient>(c: &C, q: &impl PostgresBinder) -> Result<u64, StoreError> {
    let (text, values) = q.build_postgres(PostgresQueryBuilder);
    let stmt = c.prepare_cached(&text).await?;
    Ok(c.execute(&stmt, &values.as_params()).await?)
}

fn cells(row: &tokio_postgres::Row) -> Result<Vec<(String, Cell)>, StoreError> {
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let ty = col.type_();
        let cell = if *ty == Type::TEXT {
            row.try_get::<_, Option<String>>(i)?.map(Cell::Text)
        } else if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?.map(Cell::Int)
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(i)?.map(Cell::Real)
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)?.map(Cell::Bool)
        } else {
            return Err(StoreError::Database(format!(
                "column `{}` has unexpected type {ty}",
                col.name()
            )));
        };
        out.push((col.name().to_owned(), cell.unwrap_or(Cell::Null)));
    }
    Ok(out)
}

impl Inner {
    async fn load<C: GenericClient>(
        &self,
        c: &C,
        key: &str,
    ) -> Result<Option<Arc<TableMeta>>, StoreError> {
        let Some(r) = query(c, &sql::select_table(key)).await?.pop() else {
            return Ok(None);
        };
        let phys: String = r.try_get(0)?;
        let mut columns = Vec::new();
        for r in query(c, &sql::select_columns(key)).await? {
            let (name, kind, phys): (String, String, String) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let kind = Kind::parse(&kind).ok_or_else(|| {
                StoreError::Database(format!("column `{name}` has unknown kind `{kind}`"))
            })?;
            columns.push(ColumnMeta { name, phys, kind });
        }
        Ok(Some(self.catalog.put(TableMeta {
            key: key.to_owned(),
            phys,
            columns,
        })))
    }

    async fn meta<C: GenericClient>(
        &self,
        c: &C,
        key: &str,
    ) -> Result<Option<Arc<TableMeta>>, StoreError> {
        match self.catalog.get(key) {
            Some(m) => Ok(Some(m)),
            None => self.load(c, key).await,
        }
    }

    /// Creates the table and the columns a write needs, in one transaction under the
    /// schema lock (so two instances never add the same column twice).
    async fn ensure(
        &self,
        client: &mut deadpool_postgres::Client,
        table: &str,
        key: &str,
        data: &[(String, serde_json::Value)],
    ) -> Result<Arc<TableMeta>, StoreError> {
        if let Some(m) = self.meta(&*client, key).await?
            && missing_columns(Some(&m), data).is_empty()
        {
            return Ok(m);
        }
        let tx = client.transaction().await?;
        execute(&tx, &lock_schema()).await?;
        let mut meta = match self.load(&tx, key).await? {
            Some(m) => (*m).clone(),
            None => {
                let n: i64 = query(&tx, &sql::count_tables()).await?[0].try_get(0)?;
                let n = n + 1;
                let phys = phys_name('t', n, key);
                tx.batch_execute(
                    &sql::create_data_table(FLAVOR, &phys).build(PostgresQueryBuilder),
                )
                .await?;
                tx.batch_execute(&sql::create_pull_index(&phys, n).build(PostgresQueryBuilder))
                    .await?;
                execute(&tx, &sql::insert_table(key, table, &phys)).await?;
                TableMeta {
                    key: key.to_owned(),
                    phys,
                    columns: Vec::new(),
                }
            }
        };
        let missing = missing_columns(Some(&meta), data);
        check_column_cap(table, &meta, missing.len())?;
        for (name, kind) in missing {
            let ord = meta.columns.len() as i64 + 1;
            let col = ColumnMeta {
                phys: phys_name('c', ord, &name),
                name,
                kind,
            };
            tx.batch_execute(
                &sql::add_column(FLAVOR, &meta.phys, &col).build(PostgresQueryBuilder),
            )
            .await?;
            execute(&tx, &sql::insert_column(key, &col, ord)).await?;
            meta.columns.push(col);
        }
        tx.commit().await?;
        Ok(self.catalog.put(meta))
    }

    /// Reads rows of a select, reloading the catalog once if a column is new to it.
    async fn rows<C: GenericClient>(
        &self,
        c: &C,
        meta: &mut Arc<TableMeta>,
        q: &sea_query::SelectStatement,
    ) -> Result<Vec<Row>, StoreError> {
        let raw = query_rows(c, q).await?;
        let mut out = Vec::with_capacity(raw.len());
        for r in &raw {
            let cells = cells(r)?;
            let named = || cells.iter().map(|(n, c)| (n.as_str(), c.clone()));
            let row = match sql::decode_row(meta, named()) {
                Ok(row) => row,
                Err(()) => {
                    if let Some(m) = self.load(c, &meta.key).await? {
                        *meta = m;
                    }
                    sql::decode_row(meta, named()).map_err(|()| {
                        StoreError::Database(format!(
                            "table `{}` has an unregistered column",
                            meta.key
                        ))
                    })?
                }
            };
            out.push(row);
        }
        Ok(out)
    }

    async fn write(
        &self,
        table: &str,
        owner: &str,
        id: &str,
        op: WriteOp,
    ) -> Result<Outcome, StoreError> {
        let key = table.to_ascii_lowercase();
        let mut client = self.pool.get().await?;
        let data = match &op {
            WriteOp::Insert { data } | WriteOp::Update { data, .. } => data.as_slice(),
            _ => &[],
        };
        let mut meta = match &op {
            WriteOp::Insert { .. } => self.ensure(&mut client, table, &key, data).await?,
            _ => match self.meta(&client, &key).await? {
                None => return Ok(Outcome::NotFound),
                Some(_) => self.ensure(&mut client, table, &key, data).await?,
            },
        };
        let values = bind_data(table, &meta, data)?;
        let select = sql::select_row(&meta, owner, id);
        let tx = client.transaction().await?;
        // The clock row's lock is held to commit: this table's writes are serialized
        // and their timestamps increase in commit order.
        let now: i64 = query(&tx, &sql::tick(&key, now_ms()))
            .await?
            .first()
            .ok_or_else(|| StoreError::Database(format!("no clock row for `{key}`")))?
            .try_get(0)?;
        let current = self.rows(&tx, &mut meta, &select).await?.pop();
        let changed = match plan(&op, current.as_ref()) {
            Err(outcome) => {
                tx.rollback().await?;
                return Ok(outcome);
            }
            Ok(Plan::Insert) => {
                // `RETURNING *`: never a cached plan (see `query_rows`).
                let q = sql::insert_row(&meta, owner, id, Expr::val(now), &values);
                query_rows(&tx, &q).await?.len() as u64
            }
            Ok(Plan::Update {
                expected,
                deleted,
                with_data,
            }) => {
                let data = if with_data { values.as_slice() } else { &[] };
                let q = sql::update_row(&meta, owner, id, expected, Expr::val(now), deleted, data);
                query_rows(&tx, &q).await?.len() as u64
            }
        };
        if changed != 1 {
            return Err(StoreError::Database(format!(
                "compare-and-swap on `{table}`/`{id}` changed {changed} rows"
            )));
        }
        let row = self.rows(&tx, &mut meta, &select).await?.pop();
        tx.commit().await?;
        row.map(Outcome::Done)
            .ok_or_else(|| StoreError::Database(format!("`{table}`/`{id}` vanished")))
    }
}

impl Backend for PostgresBackend {
    fn get<'a>(
        &'a self,
        table: &'a str,
        owner: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Row>, StoreError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let client = inner.pool.get().await?;
            let Some(mut meta) = inner.meta(&client, &table.to_ascii_lowercase()).await? else {
                return Ok(None);
            };
            let q = sql::select_row(&meta, owner, id);
            Ok(inner
                .rows(&client, &mut meta, &q)
                .await?
                .pop()
                .filter(|r| !r.deleted))
        })
    }

    fn query<'a>(
        &'a self,
        table: &'a str,
        owner: &'a str,
        query_: &'a TableQuery,
    ) -> BoxFuture<'a, Result<Page, StoreError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let key = table.to_ascii_lowercase();
            let client = inner.pool.get().await?;
            let Some(mut meta) = inner.meta(&client, &key).await? else {
                return Ok(Page {
                    rows: Vec::new(),
                    count: query_.count.then_some(0),
                });
            };
            if !sql::unknown_names(&meta, query_).is_empty()
                && let Some(m) = inner.load(&client, &key).await?
            {
                meta = m;
            }
            let (page, count_q) = sql::list(FLAVOR, &meta, owner, query_)?;
            let rows = inner.rows(&client, &mut meta, &page).await?;
            let count = match count_q {
                Some(q) => {
                    let n: i64 = query(&client, &q).await?[0].try_get(0)?;
                    Some(n as u64)
                }
                None => None,
            };
            Ok(Page { rows, count })
        })
    }

    fn write<'a>(
        &'a self,
        table: &'a str,
        owner: &'a str,
        id: &'a str,
        op: WriteOp,
    ) -> BoxFuture<'a, Result<Outcome, StoreError>> {
        Box::pin(self.inner.write(table, owner, id, op))
    }
}

//! The SQLite backend: one connection (rusqlite, bundled SQLite) behind a mutex, used
//! from `spawn_blocking` so that no tokio worker ever waits on SQLite. Writes run in
//! `BEGIN IMMEDIATE` transactions, which also orders writers of other processes on the
//! same file; one server process per file is the supported setup.

use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, TransactionBehavior};
use sea_query::{SqliteQueryBuilder, Value as Sql};
use sea_query_rusqlite::RusqliteBinder;

use super::catalog::{
    Catalog, Cell, ColumnMeta, Kind, TableMeta, check_column_cap, missing_columns, phys_name,
    to_sql,
};
use super::sql::{self, Flavor};
use super::{Backend, BoxFuture, Outcome, Page, Plan, Row, StoreError, WriteOp, plan};
use crate::query::TableQuery;

const FLAVOR: Flavor = Flavor::Sqlite;

/// The SQLite backend.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sync_server::store::{Backend, SqliteBackend};
/// let dir = tempfile::tempdir().unwrap();
/// let db = SqliteBackend::open(dir.path().join("app.db")).unwrap();
/// assert_eq!(db.get("Todo", "", "nope").await.unwrap(), None);
/// # });
/// ```
#[derive(Clone)]
pub struct SqliteBackend {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    catalog: Catalog,
}

impl SqliteBackend {
    /// Opens (creating if needed) a database file; see the type's example.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<SqliteBackend, StoreError> {
        let conn = Connection::open(path)?;
        // WAL lets readers of other connections proceed during a write.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        SqliteBackend::init(conn)
    }

    /// A private in-memory database (gone when the backend is dropped).
    ///
    /// ```
    /// assert!(sync_server::store::SqliteBackend::open_in_memory().is_ok());
    /// ```
    pub fn open_in_memory() -> Result<SqliteBackend, StoreError> {
        SqliteBackend::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<SqliteBackend, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        for stmt in sql::bootstrap(FLAVOR) {
            conn.execute(&stmt.build(SqliteQueryBuilder), [])?;
        }
        Ok(SqliteBackend {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                catalog: Catalog::default(),
            }),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner, &mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.lock();
            f(&inner, &mut conn)
        })
        .await
        .map_err(|e| StoreError::Database(format!("storage task failed: {e}")))?
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done transaction behind
        // (rusqlite rolls back on drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The table's metadata from the registry (`None`: the table does not exist yet).
    fn load(&self, conn: &Connection, key: &str) -> Result<Option<Arc<TableMeta>>, StoreError> {
        let (q, v) = sql::select_table(key).build_rusqlite(SqliteQueryBuilder);
        let mut stmt = conn.prepare_cached(&q)?;
        let mut rows = stmt.query(&*v.as_params())?;
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        let phys: String = r.get(0)?;
        let (q, v) = sql::select_columns(key).build_rusqlite(SqliteQueryBuilder);
        let mut stmt = conn.prepare_cached(&q)?;
        let columns = stmt
            .query_map(&*v.as_params(), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|(name, kind, phys)| {
                let kind = Kind::parse(&kind).ok_or_else(|| {
                    StoreError::Database(format!("column `{name}` has unknown kind `{kind}`"))
                })?;
                Ok(ColumnMeta { name, phys, kind })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(self.catalog.put(TableMeta {
            key: key.to_owned(),
            phys,
            columns,
        })))
    }

    fn meta(&self, conn: &Connection, key: &str) -> Result<Option<Arc<TableMeta>>, StoreError> {
        match self.catalog.get(key) {
            Some(m) => Ok(Some(m)),
            None => self.load(conn, key),
        }
    }

    /// Creates the table and the columns a write needs, in one transaction.
    fn ensure(
        &self,
        conn: &mut Connection,
        table: &str,
        key: &str,
        data: &[(String, serde_json::Value)],
    ) -> Result<Arc<TableMeta>, StoreError> {
        let cached = self.meta(conn, key)?;
        if let Some(m) = &cached
            && missing_columns(Some(m), data).is_empty()
        {
            return Ok(Arc::clone(m));
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exec = |q: String| -> Result<(), StoreError> {
            tx.execute(&q, [])?;
            Ok(())
        };
        // Re-read under the lock: another process may have changed the schema.
        let mut meta = match self.load(&tx, key)? {
            Some(m) => (*m).clone(),
            None => {
                let n = count(&tx, sql::count_tables())? + 1;
                let phys = phys_name('t', n, key);
                exec(sql::create_data_table(FLAVOR, &phys).build(SqliteQueryBuilder))?;
                exec(sql::create_pull_index(&phys, n).build(SqliteQueryBuilder))?;
                let (q, v) =
                    sql::insert_table(key, table, &phys).build_rusqlite(SqliteQueryBuilder);
                tx.execute(&q, &*v.as_params())?;
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
            exec(sql::add_column(FLAVOR, &meta.phys, &col).build(SqliteQueryBuilder))?;
            let (q, v) = sql::insert_column(key, &col, ord).build_rusqlite(SqliteQueryBuilder);
            tx.execute(&q, &*v.as_params())?;
            meta.columns.push(col);
        }
        tx.commit()?;
        Ok(self.catalog.put(meta))
    }

    /// Reads rows of a select, reloading the catalog once if a column is new to it.
    fn rows(
        &self,
        conn: &Connection,
        meta: &mut Arc<TableMeta>,
        q: &sea_query::SelectStatement,
    ) -> Result<Vec<Row>, StoreError> {
        let (text, values) = q.build_rusqlite(SqliteQueryBuilder);
        let mut stmt = conn.prepare_cached(&text)?;
        let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let raw = stmt
            .query_map(&*values.as_params(), |r| {
                (0..names.len())
                    .map(|i| Ok((names[i].clone(), cell(r.get_ref(i)?))))
                    .collect::<Result<Vec<_>, rusqlite::Error>>()
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(raw.len());
        for cells in raw {
            let row = match sql::decode_row(meta, cells.clone()) {
                Ok(r) => r,
                Err(()) => {
                    if let Some(m) = self.load(conn, &meta.key)? {
                        *meta = m;
                    }
                    sql::decode_row(meta, cells).map_err(|()| {
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

    fn write(
        &self,
        conn: &mut Connection,
        table: &str,
        owner: &str,
        id: &str,
        op: WriteOp,
    ) -> Result<Outcome, StoreError> {
        let key = table.to_ascii_lowercase();
        let data = match &op {
            WriteOp::Insert { data } | WriteOp::Update { data, .. } => data.as_slice(),
            _ => &[],
        };
        let mut meta = match &op {
            WriteOp::Insert { .. } => self.ensure(conn, table, &key, data)?,
            // Nothing to change in a table that does not exist.
            _ => match self.meta(conn, &key)? {
                None => return Ok(Outcome::NotFound),
                Some(_) => self.ensure(conn, table, &key, data)?,
            },
        };
        let values = bind_data(table, &meta, data)?;
        let select = sql::select_row(&meta, owner, id);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = {
            let (q, v) = sql::tick(&key, now_ms()).build_rusqlite(SqliteQueryBuilder);
            tx.query_row(&q, &*v.as_params(), |r| r.get::<_, i64>(0))?
        };
        let current = self.rows(&tx, &mut meta, &select)?.pop();
        let changed = match plan(&op, current.as_ref()) {
            Err(outcome) => return Ok(outcome), // dropping `tx` rolls back
            Ok(Plan::Insert) => {
                let (q, v) = sql::insert_row(&meta, owner, id, now, &values)
                    .build_rusqlite(SqliteQueryBuilder);
                tx.execute(&q, &*v.as_params())?
            }
            Ok(Plan::Update {
                expected,
                deleted,
                with_data,
            }) => {
                let data = if with_data { values.as_slice() } else { &[] };
                let (q, v) = sql::update_row(&meta, owner, id, expected, now, deleted, data)
                    .build_rusqlite(SqliteQueryBuilder);
                tx.execute(&q, &*v.as_params())?
            }
        };
        if changed != 1 {
            return Err(StoreError::Database(format!(
                "compare-and-swap on `{table}`/`{id}` changed {changed} rows"
            )));
        }
        let row = self.rows(&tx, &mut meta, &select)?.pop();
        tx.commit()?;
        row.map(Outcome::Done)
            .ok_or_else(|| StoreError::Database(format!("`{table}`/`{id}` vanished")))
    }
}

fn count(conn: &Connection, q: sea_query::SelectStatement) -> Result<i64, StoreError> {
    let (q, v) = q.build_rusqlite(SqliteQueryBuilder);
    Ok(conn.query_row(&q, &*v.as_params(), |r| r.get(0))?)
}

fn cell(v: ValueRef<'_>) -> Cell {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => Cell::Real(f),
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            Cell::Text(String::from_utf8_lossy(t).into_owned())
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The app columns of a write as SQL values of their columns' kinds.
pub(crate) fn bind_data(
    table: &str,
    meta: &TableMeta,
    data: &[(String, serde_json::Value)],
) -> Result<Vec<(String, Sql)>, StoreError> {
    let mut out: Vec<(String, Sql)> = Vec::with_capacity(data.len());
    for (name, value) in data {
        // A null for a column that does not exist yet has nothing to set.
        let Some(col) = meta.column(name) else {
            continue;
        };
        let v = to_sql(table, col, value)?;
        match out.iter_mut().find(|(p, _)| *p == col.phys) {
            Some(slot) => slot.1 = v,
            None => out.push((col.phys.clone(), v)),
        }
    }
    Ok(out)
}

impl Backend for SqliteBackend {
    fn get<'a>(
        &'a self,
        table: &'a str,
        owner: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Row>, StoreError>> {
        let (key, owner, id) = (table.to_ascii_lowercase(), owner.to_owned(), id.to_owned());
        Box::pin(self.run(move |inner, conn| {
            let Some(mut meta) = inner.meta(conn, &key)? else {
                return Ok(None);
            };
            let q = sql::select_row(&meta, &owner, &id);
            Ok(inner
                .rows(conn, &mut meta, &q)?
                .pop()
                .filter(|r| !r.deleted))
        }))
    }

    fn query<'a>(
        &'a self,
        table: &'a str,
        owner: &'a str,
        query: &'a TableQuery,
    ) -> BoxFuture<'a, Result<Page, StoreError>> {
        let (key, owner, query) = (table.to_ascii_lowercase(), owner.to_owned(), query.clone());
        Box::pin(self.run(move |inner, conn| {
            let Some(mut meta) = inner.meta(conn, &key)? else {
                return Ok(Page {
                    rows: Vec::new(),
                    count: query.count.then_some(0),
                });
            };
            if !sql::unknown_names(&meta, &query).is_empty()
                && let Some(m) = inner.load(conn, &key)?
            {
                meta = m;
            }
            let (page, count_q) = sql::list(FLAVOR, &meta, &owner, &query)?;
            let rows = inner.rows(conn, &mut meta, &page)?;
            let count = match count_q {
                Some(q) => Some(count(conn, q)? as u64),
                None => None,
            };
            Ok(Page { rows, count })
        }))
    }

    fn write<'a>(
        &'a self,
        table: &'a str,
        owner: &'a str,
        id: &'a str,
        op: WriteOp,
    ) -> BoxFuture<'a, Result<Outcome, StoreError>> {
        let (table, owner, id) = (table.to_owned(), owner.to_owned(), id.to_owned());
        Box::pin(self.run(move |inner, conn| inner.write(conn, &table, &owner, &id, op)))
    }
}

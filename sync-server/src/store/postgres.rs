//! The PostgreSQL backend: tokio-postgres through a deadpool pool, statements prepared
//! once per connection. Several server instances may share one database: writes to a
//! table serialize on the table's clock row (see the `store` module docs), and schema
//! changes on a transaction-scoped advisory lock, so instances never race on DDL.
//!
//! Connections use `NoTls`: the database is expected on loopback or a private network.
//! The schema is the connection's `search_path` (e.g. `?options=-csearch_path%3Dapp`).

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use sea_query::{Alias, Expr, Func, PostgresQueryBuilder, Query, SubQueryStatement, Value as Sql};
use sea_query_postgres::PostgresBinder;
use tokio_postgres::NoTls;
use tokio_postgres::types::Type;

use super::catalog::{Catalog, Cell, TableMeta, bind_data};
use super::layout::{self, Found, Needs, SchemaChange, Step, Wanted};
use super::notify;
use super::sql::{self, Flavor};
use super::{
    Answer, Backend, BatchOp, BoxFuture, KeyWindow, Outcome, Page, Plan, Row, StoreError,
    StoreOptions, WriteOp, plan,
};
use crate::query::TableQuery;

const FLAVOR: Flavor = Flavor::Postgres;

/// How often a write is tried when its row appears between its read and its write
/// (another instance's insert of the same id won): the second round sees the row.
const INSERT_ROUNDS: usize = 3;

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
    /// How long batch keys are kept (pruned by database time).
    keys: KeyWindow,
    /// Names this instance and its schema in its notifications (see [`notify`]).
    origin: notify::Origin,
    /// Hears the other instances' writes, for the change feed.
    listener: notify::Listener,
}

fn lock_schema() -> sea_query::SelectStatement {
    Query::select()
        .expr(Func::cust(Alias::new("pg_advisory_xact_lock")).arg(Expr::val(SCHEMA_LOCK)))
        .to_owned()
}

impl PostgresBackend {
    /// Connects (a pool of up to 16 connections) with the default [`StoreOptions`] and
    /// creates the registry tables; see the type's example.
    pub async fn connect(url: &str) -> Result<PostgresBackend, StoreError> {
        PostgresBackend::connect_with(url, &StoreOptions::default()).await
    }

    /// Connects with the given options: every statement of its sessions is bounded by
    /// [`StoreOptions::statement_timeout`] (PostgreSQL's own `statement_timeout`, so the
    /// database stops it), and a request waits at most that long for a connection of
    /// the pool, then gets [`StoreError::Busy`].
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), sync_server::store::StoreError> {
    /// let mut options = sync_server::store::StoreOptions::default();
    /// options.statement_timeout = std::time::Duration::from_secs(2);
    /// let url = "postgres://postgres@127.0.0.1:5432/test";
    /// let db = sync_server::store::PostgresBackend::connect_with(url, &options).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(
        url: &str,
        options: &StoreOptions,
    ) -> Result<PostgresBackend, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Database(format!("bad PostgreSQL URL: {e}")))?;
        let limit = format!(
            "-c statement_timeout={}",
            options.statement_timeout.as_millis().max(1)
        );
        let session = match config.get_options() {
            Some(given) if !given.is_empty() => format!("{given} {limit}"),
            _ => limit,
        };
        config.options(&session);
        let listen_config = config.clone();
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .wait_timeout(Some(options.statement_timeout))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let mut client = pool.get().await?;
        let tx = client.transaction().await?;
        let (q, v) = lock_schema().build_postgres(PostgresQueryBuilder);
        tx.execute(&q, &v.as_params()).await?;
        run_steps(&tx, &layout::bootstrap(FLAVOR)).await?;
        tx.commit().await?;
        // A constant statement. NULL when no schema of the search path exists (yet).
        let schema: Option<String> = client
            .query_one("SELECT current_schema()", &[])
            .await?
            .try_get(0)?;
        drop(client);
        let origin = notify::Origin {
            instance: uuid::Uuid::new_v4().simple().to_string(),
            schema: schema.unwrap_or_default(),
        };
        Ok(PostgresBackend {
            inner: Arc::new(Inner {
                pool,
                catalog: Catalog::default(),
                keys: KeyWindow::new(options.key_window),
                listener: notify::Listener::start(
                    listen_config,
                    origin.clone(),
                    options.statement_timeout,
                )
                .await,
                origin,
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

/// A statement over an app table (`SELECT *`, `… RETURNING *`). Not a cached prepared
/// statement: a cached plan of it would fail ("cached plan must not change result
/// type") once a column has been added. With parameters of the plain types the data
/// tables hold it goes out typed, parse, bind and execute in one round trip; otherwise
/// it is prepared afresh, and outside a transaction another instance can still add a
/// column between the prepare and the execute (inside one, the prepare's lock holds off
/// the `ALTER TABLE`): that read is simply tried again.
async fn query_rows(
    c: &tokio_postgres::Client,
    q: &impl PostgresBinder,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let (text, values) = q.build_postgres(PostgresQueryBuilder);
    if let Some(types) = plain_types(&values.0) {
        let params: Vec<_> = values.as_params().into_iter().zip(types).collect();
        return Ok(c.query_typed(&text, &params).await?);
    }
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

/// The parameter types of a statement, when they are all of the types the data
/// tables' columns have (a `LIMIT`'s unsigned count is not: its type is left to the
/// server).
fn plain_types(values: &[sea_query_postgres::PostgresValue]) -> Option<Vec<Type>> {
    values
        .iter()
        .map(|v| match v.0 {
            Sql::Bool(_) => Some(Type::BOOL),
            Sql::Int(_) => Some(Type::INT4),
            Sql::BigInt(_) => Some(Type::INT8),
            Sql::Double(_) => Some(Type::FLOAT8),
            Sql::String(_) => Some(Type::TEXT),
            _ => None,
        })
        .collect()
}

/// A pooled connection or a transaction on one: deadpool's statement cache serves the
/// registry's statements, the raw client the app tables' (see [`query_rows`]).
trait Conn: GenericClient {
    fn raw(&self) -> &tokio_postgres::Client;
}

impl Conn for deadpool_postgres::Client {
    fn raw(&self) -> &tokio_postgres::Client {
        self
    }
}

impl Conn for deadpool_postgres::Transaction<'_> {
    fn raw(&self) -> &tokio_postgres::Client {
        self.client()
    }
}

/// Runs layout statements (see [`layout`]) in order, in the caller's transaction: DDL
/// as a simple query (there is nothing to bind, nor any point in preparing it), a
/// registry row as a cached prepared statement.
async fn run_steps(
    tx: &deadpool_postgres::Transaction<'_>,
    steps: &[Step],
) -> Result<(), StoreError> {
    for step in steps {
        match step {
            Step::Ddl(ddl) => tx.batch_execute(&ddl.build(PostgresQueryBuilder)).await?,
            Step::Register(row) => {
                execute(tx, row).await?;
            }
        }
    }
    Ok(())
}

async fn execute<C: GenericClient>(c: &C, q: &impl PostgresBinder) -> Result<u64, StoreError> {
    let (text, values) = q.build_postgres(PostgresQueryBuilder);
    let stmt = c.prepare_cached(&text).await?;
    Ok(c.execute(&stmt, &values.as_params()).await?)
}

fn cells(row: &tokio_postgres::Row) -> Result<Vec<Cell>, StoreError> {
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
        out.push(cell.unwrap_or(Cell::Null));
    }
    Ok(out)
}

/// How often a read waits a millisecond for the table's clock to fall behind the
/// database's, before it leaves the clock's millisecond out instead.
const HORIZON_WAITS: usize = 20;

impl Inner {
    /// The newest stamp a read of `key` may return: the table's clock, read once no
    /// write holding it is uncommitted, and once the database's time has passed it (so
    /// that every later write is stamped later). Writes of one millisecond share its
    /// stamp, so a reader must not see a millisecond that may still gain rows.
    async fn horizon<C: GenericClient>(&self, c: &C, key: &str) -> Result<Option<i64>, StoreError> {
        let mut clock = None;
        for _ in 0..HORIZON_WAITS {
            let Some(r) = query(c, &sql::read_clock(key)).await?.pop() else {
                return Ok(None);
            };
            let (last, now): (i64, i64) = (r.try_get(0)?, r.try_get(1)?);
            if now > last {
                return Ok(Some(last));
            }
            clock = Some(last);
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        Ok(clock.map(|last| last - 1))
    }

    async fn load<C: GenericClient>(
        &self,
        c: &C,
        key: &str,
    ) -> Result<Option<Arc<TableMeta>>, StoreError> {
        let meta = self.load_uncached(c, key).await?;
        if let Some(m) = &meta {
            self.catalog.put((**m).clone());
        }
        Ok(meta)
    }

    /// [`Inner::load`] without telling the catalog: inside a transaction that may have
    /// changed the schema and may yet roll back.
    async fn load_uncached<C: GenericClient>(
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
            columns.push(layout::registered_column(name, &kind, phys)?);
        }
        Ok(Some(Arc::new(TableMeta {
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

    /// Creates the table if needed and the columns `wanted` that it lacks, inside the
    /// caller's transaction, under the schema lock (so two instances never add the same
    /// column twice), and returns the table as it will be once that commits. Nothing is
    /// cached here: a write that is refused rolls the schema change back with it.
    async fn add_schema(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        table: &str,
        key: &str,
        wanted: Wanted<'_>,
    ) -> Result<TableMeta, StoreError> {
        execute(tx, &lock_schema()).await?;
        let found = match self.load_uncached(tx, key).await? {
            Some(m) => Found::Table((*m).clone()),
            None => Found::Missing {
                tables: query(tx, &sql::count_tables()).await?[0].try_get(0)?,
            },
        };
        let change = SchemaChange::plan(table, key, found, wanted)?;
        run_steps(tx, &change.steps(FLAVOR)).await?;
        Ok(change.into_meta())
    }

    /// Rows of a `SELECT *` or `… RETURNING *`, reloading the catalog once if a column
    /// is new to it.
    async fn rows<C: Conn>(
        &self,
        c: &C,
        meta: &mut Arc<TableMeta>,
        q: &impl PostgresBinder,
    ) -> Result<Vec<Row>, StoreError> {
        let raw = query_rows(c.raw(), q).await?;
        if let Some(first) = raw.first()
            && !first
                .columns()
                .iter()
                .all(|col| sql::knows_column(meta, col.name()))
            && let Some(m) = self.load(c, &meta.key).await?
        {
            *meta = m;
        }
        raw.iter()
            .map(|r| {
                let names = r.columns().iter().map(|col| col.name());
                sql::decode_row(meta, names.zip(cells(r)?)).map_err(|()| {
                    StoreError::Database(format!("table `{}` has an unregistered column", meta.key))
                })
            })
            .collect()
    }

    /// A write: lock the row (when it exists) and read it, decide, then advance the
    /// table's clock and write the row in one statement, and commit. Writes to one row
    /// queue on the row's lock; writes to one table hold its clock only from their last
    /// statement to commit (see the `store` module docs for why that keeps the pull
    /// guarantee). A write that needs a new table or new columns makes that schema
    /// change in its own transaction, so that a refused write changes nothing, the
    /// schema included.
    async fn write(
        &self,
        table: &str,
        owner: &str,
        id: &str,
        op: WriteOp,
    ) -> Result<Outcome, StoreError> {
        let key = table.to_ascii_lowercase();
        let mut client = self.pool.get().await?;
        let data = op.data();
        let known = match layout::needs(self.meta(&client, &key).await?, &op) {
            Needs::Nothing(m) => Some(m),
            Needs::Change => None,
            // Nothing to change in a table that does not exist.
            Needs::NoTable => return Ok(Outcome::NotFound),
        };
        let values = match &known {
            Some(meta) => Some(bind_data(table, meta, data)?),
            None => None,
        };
        // An insert that loses the race for its id to another one inserts nothing; the
        // next round reads the winner's row and answers 409.
        for _ in 0..INSERT_ROUNDS {
            let tx = client.transaction().await?;
            let fresh;
            let (mut meta, values, schema) = match (&known, &values) {
                (Some(m), Some(v)) => (Arc::clone(m), v.as_slice(), false),
                _ => {
                    let wanted = Wanted::Written(data);
                    let meta = Arc::new(self.add_schema(&tx, table, &key, wanted).await?);
                    fresh = bind_data(table, &meta, data)?;
                    (meta, fresh.as_slice(), true)
                }
            };
            let select = sql::select_row_locked(&meta, owner, id);
            let current = self.rows(&tx, &mut meta, &select).await?.pop();
            let write: SubQueryStatement = match plan(&op, current.as_ref()) {
                Err(outcome) => {
                    tx.rollback().await?;
                    return Ok(outcome);
                }
                Ok(Plan::Insert) => {
                    sql::insert_row(&meta, owner, id, sql::clock_value(), values).into()
                }
                Ok(Plan::Update {
                    expected,
                    deleted,
                    with_data,
                }) => {
                    let data = if with_data { values } else { &[] };
                    sql::update_row(
                        &meta,
                        owner,
                        id,
                        expected,
                        sql::clock_value(),
                        deleted,
                        data,
                    )
                    .into()
                }
            };
            let write = sql::clocked(&key, write);
            let written = self.rows(&tx, &mut meta, &write).await?;
            match <[Row; 1]>::try_from(written) {
                Ok([row]) => {
                    execute(&tx, &notify::notify(&self.origin, &key, owner)).await?;
                    tx.commit().await?;
                    if schema {
                        self.catalog.put((*meta).clone());
                    }
                    return Ok(Outcome::Done(row));
                }
                Err(none) if none.is_empty() && current.is_none() => tx.rollback().await?,
                Err(rows) => {
                    return Err(StoreError::Database(format!(
                        "compare-and-swap on `{table}`/`{id}` changed {} rows",
                        rows.len()
                    )));
                }
            }
        }
        Err(StoreError::Database(format!(
            "insert of `{table}`/`{id}` lost {INSERT_ROUNDS} races in a row"
        )))
    }
}

impl Inner {
    /// A batch in one transaction (see [`Backend::write_batch`]): each operation in a
    /// savepoint holding its key's claim and record, and inside it another holding its
    /// write (and schema change), so that a refusal keeps its record and drops its
    /// write. A key another transaction holds is waited for (its insert conflicts), so
    /// two instances never both apply one key.
    async fn write_batch(
        &self,
        owner: &str,
        ops: &[BatchOp],
    ) -> Result<Vec<Result<Answer, StoreError>>, StoreError> {
        let mut client = self.pool.get().await?;
        let mut tx = client.transaction().await?;
        let now: i64 = query(
            &tx,
            &sea_query::Query::select().expr(sql::db_now_ms()).to_owned(),
        )
        .await?[0]
            .try_get(0)?;
        let cutoff = self.keys.cutoff(now);
        if self.keys.prune_due(now) {
            execute(&tx, &sql::prune_keys(cutoff)).await?;
        }
        let mut schema: HashMap<String, Arc<TableMeta>> = HashMap::new();
        let mut answers = Vec::with_capacity(ops.len());
        for op in ops {
            let answer = self
                .batch_one(&mut tx, owner, op, now, cutoff, &mut schema)
                .await;
            answers.push(answer);
        }
        // One notification per table written (PostgreSQL would fold equal ones of one
        // transaction anyway).
        let mut notified: Vec<String> = Vec::new();
        for (op, answer) in ops.iter().zip(&answers) {
            let key = op.table.to_ascii_lowercase();
            if let Ok(a) = answer
                && matches!(a.status, 200 | 201)
                && !a.replayed
                && !notified.contains(&key)
            {
                execute(&tx, &notify::notify(&self.origin, &key, owner)).await?;
                notified.push(key);
            }
        }
        tx.commit().await?;
        for meta in schema.into_values() {
            self.catalog.put((*meta).clone());
        }
        Ok(answers)
    }

    async fn batch_one(
        &self,
        tx: &mut deadpool_postgres::Transaction<'_>,
        owner: &str,
        op: &BatchOp,
        now: i64,
        cutoff: i64,
        schema: &mut HashMap<String, Arc<TableMeta>>,
    ) -> Result<Answer, StoreError> {
        let mut k = tx.transaction().await?;
        if execute(&k, &sql::claim_key(owner, &op.key, now, cutoff)).await? == 0 {
            let rows = query(&k, &sql::select_key(owner, &op.key)).await?;
            let r = rows.first().ok_or_else(|| {
                StoreError::Database(format!("key `{}` vanished while claimed", op.key))
            })?;
            let (status, body): (i32, String) = (r.try_get(0)?, r.try_get(1)?);
            k.commit().await?;
            return Answer::recorded(&op.key, i64::from(status), body);
        }
        let (written, changed) = self.batch_write(&mut k, owner, op, schema).await;
        let answer = match Answer::of(&op.op, &written) {
            Some(a) => a,
            None => {
                k.rollback().await?;
                return Err(match written {
                    Err(e) => e,
                    Ok(_) => StoreError::Database("an answer that cannot be recorded".into()),
                });
            }
        };
        execute(
            &k,
            &sql::record_key(owner, &op.key, answer.status, &answer.body),
        )
        .await?;
        k.commit().await?;
        if let Some(meta) = changed {
            schema.insert(meta.key.clone(), meta);
        }
        Ok(answer)
    }

    /// The write of one batch operation in a savepoint of its own; with the outcome,
    /// the table's schema when this write changed it.
    async fn batch_write(
        &self,
        k: &mut deadpool_postgres::Transaction<'_>,
        owner: &str,
        op: &BatchOp,
        schema: &HashMap<String, Arc<TableMeta>>,
    ) -> (Result<Outcome, StoreError>, Option<Arc<TableMeta>>) {
        let table = op.table.as_str();
        let key = table.to_ascii_lowercase();
        let data = op.op.data();
        let known = match schema.get(&key) {
            Some(m) => Some(Arc::clone(m)),
            None => match self.meta(&*k, &key).await {
                Ok(m) => m,
                Err(e) => return (Err(e), None),
            },
        };
        let known = match layout::needs(known, &op.op) {
            Needs::Nothing(m) => Some(m),
            Needs::Change => None,
            Needs::NoTable => return (Ok(Outcome::NotFound), None),
        };
        for _ in 0..INSERT_ROUNDS {
            let w = match k.transaction().await {
                Ok(w) => w,
                Err(e) => return (Err(e.into()), None),
            };
            let round = async {
                let (mut meta, changed) = match &known {
                    Some(m) => (Arc::clone(m), false),
                    None => {
                        let wanted = Wanted::Written(data);
                        (
                            Arc::new(self.add_schema(&w, table, &key, wanted).await?),
                            true,
                        )
                    }
                };
                let values = bind_data(table, &meta, data)?;
                let select = sql::select_row_locked(&meta, owner, &op.id);
                let current = self.rows(&w, &mut meta, &select).await?.pop();
                let write: SubQueryStatement = match plan(&op.op, current.as_ref()) {
                    Err(outcome) => return Ok(Some((outcome, None))),
                    Ok(Plan::Insert) => {
                        sql::insert_row(&meta, owner, &op.id, sql::clock_value(), &values).into()
                    }
                    Ok(Plan::Update {
                        expected,
                        deleted,
                        with_data,
                    }) => {
                        let data = if with_data { values.as_slice() } else { &[] };
                        let now = sql::clock_value();
                        sql::update_row(&meta, owner, &op.id, expected, now, deleted, data).into()
                    }
                };
                let written = self.rows(&w, &mut meta, &sql::clocked(&key, write)).await?;
                match <[Row; 1]>::try_from(written) {
                    Ok([row]) => Ok(Some((Outcome::Done(row), changed.then_some(meta)))),
                    // Another instance's insert of the id won: the next round reads it.
                    Err(none) if none.is_empty() && current.is_none() => Ok(None),
                    Err(rows) => Err(StoreError::Database(format!(
                        "compare-and-swap on `{table}`/`{}` changed {} rows",
                        op.id,
                        rows.len()
                    ))),
                }
            }
            .await;
            match round {
                Ok(Some((outcome @ Outcome::Done(_), changed))) => {
                    return match w.commit().await {
                        Ok(()) => (Ok(outcome), changed),
                        Err(e) => (Err(e.into()), None),
                    };
                }
                Ok(Some((refusal, _))) => {
                    return match w.rollback().await {
                        Ok(()) => (Ok(refusal), None),
                        Err(e) => (Err(e.into()), None),
                    };
                }
                Ok(None) => {
                    if let Err(e) = w.rollback().await {
                        return (Err(e.into()), None);
                    }
                }
                Err(e) => {
                    let _ = w.rollback().await;
                    return (Err(e), None);
                }
            }
        }
        (
            Err(StoreError::Database(format!(
                "insert of `{table}`/`{}` lost {INSERT_ROUNDS} races in a row",
                op.id
            ))),
            None,
        )
    }
}

impl Backend for PostgresBackend {
    fn batches(&self) -> bool {
        true
    }

    fn feed_changes(&self, sink: super::ChangeSink) {
        self.inner.listener.add(sink);
    }

    fn write_batch<'a>(
        &'a self,
        owner: &'a str,
        ops: Vec<BatchOp>,
    ) -> BoxFuture<'a, Result<Vec<Result<Answer, StoreError>>, StoreError>> {
        Box::pin(async move { self.inner.write_batch(owner, &ops).await })
    }

    fn declare<'a>(
        &'a self,
        table: &'a crate::schema::TableDecl,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let key = table.name.to_ascii_lowercase();
            let mut client = inner.pool.get().await?;
            let tx = client.transaction().await?;
            let meta = inner
                .add_schema(&tx, &table.name, &key, Wanted::Declared(table))
                .await?;
            tx.commit().await?;
            inner.catalog.put(meta);
            Ok(())
        })
    }

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
            let horizon = inner.horizon(&client, &key).await?;
            let (page, count_q) = sql::list(FLAVOR, &meta, owner, query_, horizon)?;
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

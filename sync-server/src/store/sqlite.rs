//! The SQLite backend: one writer thread and a pool of reader threads, each owning one
//! connection (rusqlite, bundled SQLite) to the same WAL file, so that no tokio worker
//! ever waits on SQLite, reads never wait behind writes, and reads run beside each
//! other. Requests reach the threads over two bounded lanes (reads, writes) and come
//! back over a oneshot each.
//!
//! # Bounds
//!
//! - Each lane holds at most [`StoreOptions::sqlite_queue`] waiting requests; past that
//!   a request is refused at once with [`StoreError::Busy`] (a 503 with `Retry-After`),
//!   so a burst of slow requests costs a bounded amount of memory and every answer a
//!   bounded wait.
//! - Reads run one per reader thread ([`StoreOptions::sqlite_readers`]); a slow read
//!   holds one reader, never the writer nor the other readers.
//! - A read whose caller went away (a client that hung up drops its request's future)
//!   is skipped if it has not started, and interrupted if it has: SQLite's progress
//!   handler checks every few thousand virtual-machine steps.
//! - No statement runs longer than [`StoreOptions::statement_timeout`]: the same
//!   handler stops it, and the request gets [`StoreError::TimedOut`] (a 503). A write
//!   group's transaction is bounded the same way, from its `BEGIN`.
//!
//! # Group commit
//!
//! The writer takes every write waiting at that moment and runs them together in one
//! `BEGIN IMMEDIATE` transaction, each in its own savepoint: a write that fails, or
//! that is refused (404, 409, 412), rolls back its savepoint only, and leaves the
//! others alone. Every answer, a refusal too, is sent only after the shared `COMMIT`
//! succeeded, because it may describe a row that an earlier write of the group
//! changed; if the `COMMIT` fails, every write of the group gets the error. So four
//! writes in flight cost one commit (and one fsync on a real disk), and each answer
//! still means what it meant with one transaction per write: acknowledged is
//! committed. Within the group the writes run in arrival order, each advancing its
//! table's clock, so `updatedAt` still increases strictly in commit order.
//!
//! `BEGIN IMMEDIATE` also orders writers of other processes on the same file; one
//! server process per file is the supported setup.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sea_query::{Expr, SqliteQueryBuilder, Value as Sql};
use sea_query_rusqlite::{RusqliteBinder, RusqliteValue, RusqliteValues};
use tokio::sync::oneshot;

use super::catalog::{Catalog, Cell, TableMeta, bind_data};
use super::layout::{self, Found, Needs, SchemaChange, Step, Wanted};
use super::sql::{self, Flavor};
use super::{
    Answer, Backend, BatchOp, BoxFuture, KeyWindow, Outcome, Page, Plan, Row, StoreError,
    StoreOptions, WriteOp, plan,
};
use crate::query::TableQuery;

const FLAVOR: Flavor = Flavor::Sqlite;

/// The most writes one transaction takes: a bound on how long the first of them waits.
const MAX_GROUP: usize = 64;

/// Statement shapes whose text is kept; past that the cache starts over (a client
/// sending ever new column sets must not grow it without bound).
const MAX_SHAPES: usize = 512;

/// Virtual-machine steps between two looks at a statement's deadline and caller: a
/// few tenths of a millisecond of work.
const PROGRESS_STEPS: i32 = 4000;

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
    writes: Sender<Job>,
    reads: Sender<ReadJob>,
    shared: Arc<Shared>,
}

/// What the threads and the handles share.
struct Shared {
    catalog: Catalog,
    clock: Clock,
    stats: Counters,
    statement_timeout: Duration,
    /// How long batch keys are kept.
    keys: KeyWindow,
    /// The private file behind `open_in_memory`, removed when the last thread ends.
    _temp: Option<tempfile::TempDir>,
}

#[derive(Default)]
struct Counters {
    busy: AtomicU64,
    cancelled: AtomicU64,
    timed_out: AtomicU64,
}

/// What the SQLite backend has refused or stopped since it was opened.
///
/// ```
/// let db = sync_server::store::SqliteBackend::open_in_memory().unwrap();
/// assert_eq!(db.stats().reads_cancelled, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SqliteStats {
    /// Requests refused because their lane was full ([`StoreError::Busy`]).
    pub busy: u64,
    /// Reads skipped or interrupted because their caller went away.
    pub reads_cancelled: u64,
    /// Statements stopped at the statement time limit ([`StoreError::TimedOut`]).
    pub timed_out: u64,
}

/// What readers know of the writer's stamps: the newest committed one, and a floor
/// under every stamp of the transaction in progress (`i64::MAX` when none is). Writes
/// of one millisecond share its stamp, so a read returns rows only up to a horizon that
/// no write still to commit can be stamped at or before (see the `store` module docs).
struct Clock {
    last: AtomicI64,
    floor: AtomicI64,
    /// The newest `now` handed out: `now` never goes back, even when the wall clock
    /// does, nor stays behind a stamp found in the file.
    now: AtomicI64,
}

/// How often a read waits a millisecond for the clock's millisecond to pass, before it
/// leaves that millisecond out instead.
const HORIZON_WAITS: usize = 20;

impl Clock {
    /// The time in milliseconds, never less than a time it returned before.
    fn now(&self) -> i64 {
        let wall = chrono::Utc::now().timestamp_millis();
        self.now.fetch_max(wall, SeqCst).max(wall)
    }

    /// The newest stamp a read whose snapshot starts after this call may return.
    ///
    /// Stamps come from [`Clock::now`], which never goes back, through
    /// `GREATEST(last, now)`: so every stamp is at most the newest `now` taken, and a
    /// transaction that opens after the floor is read here stamps at least the `now`
    /// read before it. Hence, with `now` read first and the floor second:
    ///
    /// - a transaction open when the floor is read stamps at or above the floor;
    /// - one opened later stamps at or above `now`;
    /// - one closed before committed before the snapshot: its rows are visible.
    ///
    /// So every stamp below both is committed and visible, and nothing to commit later
    /// can take one of them.
    fn horizon(&self) -> i64 {
        let now = self.now();
        let floor = self.floor.load(SeqCst);
        now.min(floor).saturating_sub(1)
    }

    /// A transaction starts stamping: each of its stamps is at least `last`.
    fn open(&self) {
        self.floor.store(self.last.load(SeqCst), SeqCst);
    }

    /// The transaction ended; `committed` its newest stamp, if it committed.
    fn close(&self, committed: Option<i64>) {
        if let Some(stamp) = committed {
            self.last.fetch_max(stamp, SeqCst);
        }
        self.floor.store(i64::MAX, SeqCst);
    }
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A job run on the writer's connection outside any transaction, with its reply inside.
type RunFn = Box<dyn FnOnce(&Inner, &mut Connection) + Send>;

/// A request to the writer thread.
enum Job {
    /// Runs outside the group transaction (a schema declaration).
    Run(RunFn),
    /// Runs in a group transaction.
    Write(WriteJob),
    /// A batch: one transaction of its own.
    Batch(BatchJob),
}

struct BatchJob {
    owner: String,
    ops: Vec<BatchOp>,
    reply: Reply<Vec<Result<Answer, StoreError>>>,
}

/// What one write is about, whether it came alone or in a batch.
#[derive(Clone, Copy)]
struct Target<'a> {
    table: &'a str,
    owner: &'a str,
    id: &'a str,
    op: &'a WriteOp,
}

impl WriteJob {
    fn target(&self) -> Target<'_> {
        Target {
            table: &self.table,
            owner: &self.owner,
            id: &self.id,
            op: &self.op,
        }
    }
}

/// A read's work and reply.
type ReadFn = Box<dyn FnOnce(&Inner, &mut Connection, &Stop) + Send>;

/// A read, with its reply inside; `cancelled` once its caller went away.
struct ReadJob {
    cancelled: Arc<AtomicBool>,
    run: ReadFn,
}

/// Why the progress handler stopped the statement running, if it did.
#[derive(Clone, Default)]
struct Stop(Arc<AtomicU8>);

const STOP_CANCELLED: u8 = 1;
const STOP_TIMED_OUT: u8 = 2;

impl Stop {
    /// Installs the handler that stops the connection's statements once `cancelled`
    /// is set or `deadline` has passed, recording which.
    fn arm(conn: &Connection, cancelled: Arc<AtomicBool>, deadline: Instant) -> Stop {
        let stop = Stop::default();
        let flag = Arc::clone(&stop.0);
        let handler = move || {
            if cancelled.load(Relaxed) {
                flag.store(STOP_CANCELLED, Relaxed);
                true
            } else if Instant::now() >= deadline {
                flag.store(STOP_TIMED_OUT, Relaxed);
                true
            } else {
                false
            }
        };
        // Only fails on a connection borrowed from C, which these are not.
        let _ = conn.progress_handler(PROGRESS_STEPS, Some(handler));
        stop
    }

    /// The error to answer instead of SQLite's "interrupted", if the handler fired.
    fn error(&self, shared: &Shared) -> Option<StoreError> {
        match self.0.load(Relaxed) {
            STOP_TIMED_OUT => {
                shared.stats.timed_out.fetch_add(1, Relaxed);
                Some(timed_out(shared.statement_timeout))
            }
            STOP_CANCELLED => {
                shared.stats.cancelled.fetch_add(1, Relaxed);
                Some(StoreError::Database("the request was cancelled".into()))
            }
            _ => None,
        }
    }
}

fn timed_out(limit: Duration) -> StoreError {
    StoreError::TimedOut(format!(
        "the query ran longer than the statement time limit ({} ms) and was stopped",
        limit.as_millis()
    ))
}

/// Sets the flag when the request's future is dropped (its caller went away) or done.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

struct WriteJob {
    table: String,
    owner: String,
    id: String,
    op: WriteOp,
    reply: Reply<Outcome>,
}

/// A write whose table and columns exist, ready to run in a group transaction.
struct Ready {
    job: WriteJob,
    key: String,
    meta: Arc<TableMeta>,
    values: Vec<(String, Sql)>,
}

/// What [`Inner::prepare`] made of a write.
enum Prepared {
    /// Ready for a group transaction.
    Ready(Ready),
    /// Already answered: a table that does not exist, a value of the wrong kind.
    Answered,
    /// It needs a new table or new columns first: see [`Inner::write_with_schema`].
    NeedsSchema(WriteJob),
}

/// One thread's state besides its connection.
struct Inner {
    shared: Arc<Shared>,
    /// Statement text by shape (see [`sql::shape_key`]).
    shapes: RefCell<HashMap<String, Arc<str>>>,
    tick: String,
    /// The newest stamp of the transaction in progress (the writer's).
    stamped: std::cell::Cell<Option<i64>>,
}

impl Inner {
    fn new(shared: Arc<Shared>) -> Inner {
        Inner {
            shared,
            shapes: RefCell::new(HashMap::new()),
            tick: sql::tick("", Expr::val(0i64)).build(SqliteQueryBuilder).0,
            stamped: std::cell::Cell::new(None),
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Database("the SQLite storage threads dropped the request".into())
}

/// Puts a job in a lane: refused at once when the lane is full (counted), or when the
/// threads are gone.
fn enqueue<J>(lane: &Sender<J>, name: &str, shared: &Shared, job: J) -> Result<(), StoreError> {
    lane.try_send(job).map_err(|e| match e {
        TrySendError::Full(_) => {
            shared.stats.busy.fetch_add(1, Relaxed);
            StoreError::Busy(format!("the {name} queue is full (--sqlite-queue)"))
        }
        TrySendError::Disconnected(_) => stopped(),
    })
}

impl SqliteBackend {
    /// Opens (creating if needed) a database file with the default [`StoreOptions`];
    /// see the type's example.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<SqliteBackend, StoreError> {
        SqliteBackend::open_with(path, &StoreOptions::default())
    }

    /// Opens (creating if needed) a database file.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut options = sync_server::store::StoreOptions::default();
    /// options.sqlite_readers = 1;
    /// let db = sync_server::store::SqliteBackend::open_with(dir.path().join("a.db"), &options);
    /// assert!(db.is_ok());
    /// ```
    pub fn open_with(
        path: impl AsRef<std::path::Path>,
        options: &StoreOptions,
    ) -> Result<SqliteBackend, StoreError> {
        SqliteBackend::start(path.as_ref(), None, options)
    }

    /// A private database that is gone when the backend is dropped: a file in a fresh
    /// temporary directory (not SQLite's `:memory:`, which one connection alone can
    /// see), so that it has readers beside its writer like any other.
    ///
    /// ```
    /// assert!(sync_server::store::SqliteBackend::open_in_memory().is_ok());
    /// ```
    pub fn open_in_memory() -> Result<SqliteBackend, StoreError> {
        SqliteBackend::open_in_memory_with(&StoreOptions::default())
    }

    /// [`SqliteBackend::open_in_memory`] with the given options.
    ///
    /// ```
    /// let options = sync_server::store::StoreOptions::default();
    /// assert!(sync_server::store::SqliteBackend::open_in_memory_with(&options).is_ok());
    /// ```
    pub fn open_in_memory_with(options: &StoreOptions) -> Result<SqliteBackend, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("tablesync-")
            .tempdir()
            .map_err(|e| {
                StoreError::Database(format!("cannot create a temporary database: {e}"))
            })?;
        let path = dir.path().join("db.sqlite");
        SqliteBackend::start(&path, Some(dir), options)
    }

    fn start(
        path: &std::path::Path,
        temp: Option<tempfile::TempDir>,
        options: &StoreOptions,
    ) -> Result<SqliteBackend, StoreError> {
        let mut conn = Connection::open(path)?;
        no_checkpoint_on_close(&conn)?;
        // WAL lets the readers proceed during a write.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // Per table: the row select and a few write shapes; the default 16 would churn.
        conn.set_prepared_statement_cache_capacity(256);
        run_steps(&conn, &layout::bootstrap(FLAVOR))?;
        let last: Option<i64> =
            conn.query_row(&sql::newest_clock().build(SqliteQueryBuilder).0, [], |r| {
                r.get(0)
            })?;
        let mut readers = Vec::new();
        for _ in 0..options.sqlite_readers.max(1) {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            no_checkpoint_on_close(&r)?;
            r.busy_timeout(Duration::from_secs(5))?;
            r.set_prepared_statement_cache_capacity(256);
            readers.push(r);
        }
        let shared = Arc::new(Shared {
            catalog: Catalog::default(),
            clock: Clock {
                last: AtomicI64::new(last.unwrap_or(i64::MIN)),
                floor: AtomicI64::new(i64::MAX),
                now: AtomicI64::new(last.unwrap_or(i64::MIN)),
            },
            stats: Counters::default(),
            statement_timeout: options.statement_timeout,
            keys: KeyWindow::new(options.key_window),
            _temp: temp,
        });
        let queue = options.sqlite_queue.max(1);
        let (writes, write_rx) = crossbeam_channel::bounded(queue);
        let (reads, read_rx) = crossbeam_channel::bounded(queue);
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name)
                .spawn(f)
                .map(drop)
                .map_err(|e| StoreError::Database(format!("cannot start a storage thread: {e}")))
        };
        let inner = Inner::new(Arc::clone(&shared));
        spawn(
            "tablesync-sqlite-w".into(),
            Box::new(move || serve_writes(inner, &mut conn, write_rx)),
        )?;
        for (n, mut conn) in readers.into_iter().enumerate() {
            let inner = Inner::new(Arc::clone(&shared));
            let rx = read_rx.clone();
            spawn(
                format!("tablesync-sqlite-r{n}"),
                Box::new(move || serve_reads(inner, &mut conn, rx)),
            )?;
        }
        Ok(SqliteBackend {
            writes,
            reads,
            shared,
        })
    }

    /// What the backend has refused or stopped so far; see [`SqliteStats`].
    pub fn stats(&self) -> SqliteStats {
        let s = &self.shared.stats;
        SqliteStats {
            busy: s.busy.load(Relaxed),
            reads_cancelled: s.cancelled.load(Relaxed),
            timed_out: s.timed_out.load(Relaxed),
        }
    }

    /// Waits (a millisecond at a time, a few times at most) until the newest stamp is
    /// in the past, so that a read right after a write sees it rather than leaving its
    /// millisecond out.
    async fn clock_passed(&self) {
        for _ in 0..HORIZON_WAITS {
            let clock = &self.shared.clock;
            if clock.now() > clock.last.load(SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Runs `f` on a reader's connection. Dropping the returned future cancels it.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner, &mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let cancelled = Arc::new(AtomicBool::new(false));
        let _cancel = CancelOnDrop(Arc::clone(&cancelled));
        let job = ReadJob {
            cancelled,
            run: Box::new(move |inner, conn, stop| {
                let result = f(inner, conn);
                let result = match (result, stop.error(&inner.shared)) {
                    (Err(_), Some(e)) => Err(e),
                    (result, _) => result,
                };
                let _ = reply.send(result);
            }),
        };
        enqueue(&self.reads, "read", &self.shared, job)?;
        answer.await.map_err(|_| stopped())?
    }

    /// Runs `f` on the writer's connection, outside any transaction.
    async fn run_on_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner, &mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Run(Box::new(move |inner, conn| {
            let _ = reply.send(f(inner, conn));
        }));
        enqueue(&self.writes, "write", &self.shared, job)?;
        answer.await.map_err(|_| stopped())?
    }
}

/// A reader thread: until every handle is dropped, runs one read at a time, in a read
/// transaction (one snapshot for all its statements), skipping those whose caller went
/// away.
fn serve_reads(inner: Inner, conn: &mut Connection, rx: Receiver<ReadJob>) {
    while let Ok(job) = rx.recv() {
        if job.cancelled.load(Relaxed) {
            inner.shared.stats.cancelled.fetch_add(1, Relaxed);
            continue;
        }
        let deadline = Instant::now() + inner.shared.statement_timeout;
        let stop = Stop::arm(conn, job.cancelled, deadline);
        guarded(conn, |conn| (job.run)(&inner, conn, &stop));
        rollback(conn);
    }
}

/// The writer thread: until every handle is dropped, takes the jobs waiting, runs the
/// schema declarations, then the writes as one group.
fn serve_writes(inner: Inner, conn: &mut Connection, rx: Receiver<Job>) {
    let mut writes = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Run(f) => guarded(conn, |conn| f(&inner, conn)),
                Job::Write(w) => writes.push(w),
                Job::Batch(b) => {
                    // The writes before it commit first, so that order is kept.
                    if !writes.is_empty() {
                        let group = std::mem::take(&mut writes);
                        guarded(conn, |conn| inner.write_group(conn, group));
                    }
                    guarded(conn, |conn| inner.write_batch(conn, b));
                }
            }
            if writes.len() < MAX_GROUP {
                next = rx.try_recv().ok();
            }
        }
        if !writes.is_empty() {
            let group = std::mem::take(&mut writes);
            guarded(conn, |conn| inner.write_group(conn, group));
        }
    }
}

/// Runs `f`, surviving a panic in it (a bug, never client input): the jobs it held are
/// dropped, so their callers get an error, any open transaction is rolled back, and the
/// thread goes on serving the others.
fn guarded(conn: &mut Connection, f: impl FnOnce(&mut Connection)) {
    if std::panic::catch_unwind(AssertUnwindSafe(|| f(conn))).is_err() {
        rollback(conn);
    }
}

impl Inner {
    /// The table's metadata from the registry (`None`: the table does not exist yet).
    fn load(&self, conn: &Connection, key: &str) -> Result<Option<Arc<TableMeta>>, StoreError> {
        let meta = self.load_uncached(conn, key)?;
        if let Some(m) = &meta {
            // The caller gets the schema of its own snapshot; the catalog keeps the
            // newest.
            self.shared.catalog.put((**m).clone());
        }
        Ok(meta)
    }

    /// [`Inner::load`] without telling the catalog: inside a transaction that may have
    /// changed the schema and may yet roll back.
    fn load_uncached(
        &self,
        conn: &Connection,
        key: &str,
    ) -> Result<Option<Arc<TableMeta>>, StoreError> {
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
            .map(|(name, kind, phys)| layout::registered_column(name, &kind, phys))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(Arc::new(TableMeta {
            key: key.to_owned(),
            phys,
            columns,
        })))
    }

    fn meta(&self, conn: &Connection, key: &str) -> Result<Option<Arc<TableMeta>>, StoreError> {
        match self.shared.catalog.get(key) {
            Some(m) => Ok(Some(m)),
            None => self.load(conn, key),
        }
    }

    /// Creates the table if needed and the columns `wanted` that it lacks, inside the
    /// caller's transaction, and returns the table as it will be once that commits.
    /// Nothing is cached here: a write that is refused rolls the schema change back
    /// with it.
    fn add_schema(
        &self,
        conn: &Connection,
        table: &str,
        key: &str,
        wanted: Wanted<'_>,
    ) -> Result<TableMeta, StoreError> {
        // Re-read under the lock: another process may have changed the schema.
        let found = match self.load_uncached(conn, key)? {
            Some(m) => Found::Table((*m).clone()),
            None => Found::Missing {
                tables: count(conn, sql::count_tables())?,
            },
        };
        let change = SchemaChange::plan(table, key, found, wanted)?;
        run_steps(conn, &change.steps(FLAVOR))?;
        Ok(change.into_meta())
    }

    /// A write that needs a new table or new columns, alone in one transaction with
    /// its schema change: committed together when the write is done, rolled back
    /// together when it is refused (404, 409, 412, a bad value), so that a refused
    /// write changes nothing, the schema included. Schema changes are rare; the writes
    /// of a known schema go through [`Inner::write_group`]'s group commit.
    fn write_with_schema(&self, conn: &mut Connection, job: WriteJob) {
        let key = job.table.to_ascii_lowercase();
        let data = job.op.data();
        self.begin_stamping();
        let result = (|| {
            exec(conn, "BEGIN IMMEDIATE")?;
            let written = (|| {
                let meta =
                    Arc::new(self.add_schema(conn, &job.table, &key, Wanted::Written(data))?);
                let values = bind_data(&job.table, &meta, data)?;
                let outcome = self.apply(conn, &key, Arc::clone(&meta), &values, job.target())?;
                Ok::<_, StoreError>((meta, outcome))
            })();
            match written {
                Ok((meta, outcome @ Outcome::Done(_))) => {
                    if let Err(e) = exec(conn, "COMMIT") {
                        rollback(conn);
                        return Err(e);
                    }
                    self.shared.catalog.put((*meta).clone());
                    self.end_stamping(true);
                    Ok(outcome)
                }
                refused => {
                    rollback(conn);
                    refused.map(|(_, outcome)| outcome)
                }
            }
        })();
        self.end_stamping(false);
        let _ = job.reply.send(result);
    }

    /// A batch, alone in one transaction: each operation in its own savepoint, its
    /// schema change (if any) and its key's record with it. Answers go out only after
    /// the `COMMIT`; if it fails, the whole batch fails and nothing of it stands.
    fn write_batch(&self, conn: &mut Connection, job: BatchJob) {
        self.begin_stamping();
        let result = (|| {
            exec(conn, "BEGIN IMMEDIATE")?;
            let run = self.batch_in_tx(conn, &job.owner, &job.ops);
            match run {
                Ok(done) if !conn.is_autocommit() => match exec(conn, "COMMIT") {
                    Ok(()) => Ok(done),
                    Err(e) => {
                        rollback(conn);
                        Err(e)
                    }
                },
                Ok(_) => Err(StoreError::Database(
                    "SQLite rolled the transaction back".into(),
                )),
                Err(e) => {
                    rollback(conn);
                    Err(e)
                }
            }
        })();
        let answers = match result {
            Ok((answers, schema)) => {
                for meta in schema.into_values() {
                    self.shared.catalog.put((*meta).clone());
                }
                self.end_stamping(true);
                Ok(answers)
            }
            Err(e) => {
                self.end_stamping(false);
                Err(e)
            }
        };
        let _ = job.reply.send(answers);
    }

    /// The operations of a batch inside its transaction; the answers, and the tables
    /// whose schema the batch changed.
    #[allow(clippy::type_complexity)]
    fn batch_in_tx(
        &self,
        conn: &Connection,
        owner: &str,
        ops: &[BatchOp],
    ) -> Result<
        (
            Vec<Result<Answer, StoreError>>,
            HashMap<String, Arc<TableMeta>>,
        ),
        StoreError,
    > {
        let now = self.shared.clock.now();
        let cutoff = self.shared.keys.cutoff(now);
        if self.shared.keys.prune_due(now) {
            let (q, v) = sql::prune_keys(cutoff).build_rusqlite(SqliteQueryBuilder);
            conn.execute(&q, &*v.as_params())?;
        }
        let mut schema = HashMap::new();
        let mut answers = Vec::with_capacity(ops.len());
        for op in ops {
            answers.push(self.batch_one(conn, owner, op, now, cutoff, &mut schema));
            if conn.is_autocommit() {
                return Err(StoreError::Database(
                    "SQLite rolled the transaction back".into(),
                ));
            }
        }
        Ok((answers, schema))
    }

    /// One operation of a batch: the recorded answer of its key, or the write in a
    /// savepoint and its answer recorded. A transient failure leaves no record, so that
    /// the operation runs when sent again.
    fn batch_one(
        &self,
        conn: &Connection,
        owner: &str,
        op: &BatchOp,
        now: i64,
        cutoff: i64,
        schema: &mut HashMap<String, Arc<TableMeta>>,
    ) -> Result<Answer, StoreError> {
        exec(conn, "SAVEPOINT k")?;
        let result = (|| {
            let (q, v) =
                sql::claim_key(owner, &op.key, now, cutoff).build_rusqlite(SqliteQueryBuilder);
            if conn.prepare_cached(&q)?.execute(&*v.as_params())? == 0 {
                return Ok((recorded(conn, owner, &op.key)?, None));
            }
            let target = Target {
                table: &op.table,
                owner,
                id: &op.id,
                op: &op.op,
            };
            let (written, changed) = self.batch_write(conn, target, schema);
            let answer = Answer::of(&op.op, &written).ok_or_else(|| match written {
                Err(e) => e,
                Ok(_) => StoreError::Database("an answer that cannot be recorded".into()),
            })?;
            let (q, v) = sql::record_key(owner, &op.key, answer.status, &answer.body)
                .build_rusqlite(SqliteQueryBuilder);
            conn.prepare_cached(&q)?.execute(&*v.as_params())?;
            Ok((answer, changed))
        })();
        if let Ok((answer, changed)) = result {
            match exec(conn, "RELEASE k") {
                Ok(()) => {
                    if let Some(meta) = changed {
                        schema.insert(meta.key.clone(), meta);
                    }
                    return Ok(answer);
                }
                Err(e) => {
                    undo_to(conn, SAVEPOINT_K);
                    return Err(e);
                }
            }
        }
        undo_to(conn, SAVEPOINT_K);
        result.map(|(answer, _)| answer)
    }

    /// The write of a batch operation in its own savepoint: kept when done, rolled back
    /// (its schema change too) when refused or failed. With the outcome, the table's
    /// schema when this write changed it.
    fn batch_write(
        &self,
        conn: &Connection,
        target: Target<'_>,
        schema: &HashMap<String, Arc<TableMeta>>,
    ) -> (Result<Outcome, StoreError>, Option<Arc<TableMeta>>) {
        let mut changed = None;
        let result = self.batch_write_in(conn, target, schema, &mut changed);
        match result {
            Ok(Outcome::Done(_)) => (result, changed),
            _ => (result, None),
        }
    }

    fn batch_write_in(
        &self,
        conn: &Connection,
        target: Target<'_>,
        schema: &HashMap<String, Arc<TableMeta>>,
        changed: &mut Option<Arc<TableMeta>>,
    ) -> Result<Outcome, StoreError> {
        let key = target.table.to_ascii_lowercase();
        let data = target.op.data();
        let meta = match schema.get(&key) {
            Some(m) => Some(Arc::clone(m)),
            None => self.meta(conn, &key)?,
        };
        in_savepoint(conn, || {
            let meta = match layout::needs(meta, target.op) {
                Needs::Nothing(m) => m,
                Needs::NoTable => return Ok(Outcome::NotFound),
                // Its own reads see what the batch added so far.
                Needs::Change => {
                    let m = Arc::new(self.add_schema(
                        conn,
                        target.table,
                        &key,
                        Wanted::Written(data),
                    )?);
                    *changed = Some(Arc::clone(&m));
                    m
                }
            };
            let values = bind_data(target.table, &meta, data)?;
            self.apply(conn, &key, meta, &values, target)
        })
    }

    /// The text of a statement shape, built by `build` the first time.
    fn shape(&self, key: String, build: impl FnOnce() -> String) -> Arc<str> {
        let mut shapes = self.shapes.borrow_mut();
        if let Some(text) = shapes.get(&key) {
            return Arc::clone(text);
        }
        if shapes.len() >= MAX_SHAPES {
            shapes.clear();
        }
        let text: Arc<str> = build().into();
        shapes.insert(key, Arc::clone(&text));
        text
    }

    /// Rows of a `SELECT *` or `… RETURNING *`, reloading the catalog once if a column
    /// is new to it.
    fn rows(
        &self,
        conn: &Connection,
        meta: &mut Arc<TableMeta>,
        text: &str,
        values: Vec<Sql>,
    ) -> Result<Vec<Row>, StoreError> {
        let values = RusqliteValues(values.into_iter().map(RusqliteValue).collect());
        let mut stmt = conn.prepare_cached(text)?;
        let mut names: Vec<String> = Vec::new();
        let raw = stmt
            .query_map(&*values.as_params(), |r| {
                // The names as of this step: a cached statement is re-prepared by
                // SQLite on its first step after a schema change.
                let s = r.as_ref();
                if names.len() != s.column_count() {
                    names = s.column_names().into_iter().map(str::to_owned).collect();
                }
                (0..names.len())
                    .map(|i| Ok(cell(r.get_ref(i)?)))
                    .collect::<Result<Vec<_>, rusqlite::Error>>()
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if !names.iter().all(|n| sql::knows_column(meta, n))
            && let Some(m) = self.load(conn, &meta.key)?
        {
            *meta = m;
        }
        raw.into_iter()
            .map(|cells| {
                sql::decode_row(meta, names.iter().map(String::as_str).zip(cells)).map_err(|()| {
                    StoreError::Database(format!("table `{}` has an unregistered column", meta.key))
                })
            })
            .collect()
    }

    /// The current row with this id, deleted or not.
    fn select_row(
        &self,
        conn: &Connection,
        meta: &mut Arc<TableMeta>,
        owner: &str,
        id: &str,
    ) -> Result<Option<Row>, StoreError> {
        let text = self.shape(sql::shape_key("select", &meta.phys, &[]), || {
            sql::select_row(meta, "", "").build(SqliteQueryBuilder).0
        });
        Ok(self
            .rows(conn, meta, &text, sql::select_row_values(owner, id))?
            .pop())
    }

    /// What a write needs before its transaction: its table and columns, and its
    /// values.
    fn prepare(&self, conn: &mut Connection, job: WriteJob) -> Prepared {
        let key = job.table.to_ascii_lowercase();
        let data = job.op.data();
        let meta = match self.meta(conn, &key) {
            Ok(meta) => meta,
            Err(e) => {
                let _ = job.reply.send(Err(e));
                return Prepared::Answered;
            }
        };
        let meta = match layout::needs(meta, &job.op) {
            Needs::Nothing(m) => m,
            Needs::Change => return Prepared::NeedsSchema(job),
            Needs::NoTable => {
                // Nothing to change in a table that does not exist.
                let _ = job.reply.send(Ok(Outcome::NotFound));
                return Prepared::Answered;
            }
        };
        match bind_data(&job.table, &meta, data) {
            Ok(values) => Prepared::Ready(Ready {
                job,
                key,
                meta,
                values,
            }),
            Err(e) => {
                let _ = job.reply.send(Err(e));
                Prepared::Answered
            }
        }
    }

    /// Runs a group of writes in arrival order, in as few transactions as it takes
    /// (one, unless SQLite itself rolls a transaction back, or a write needs a schema
    /// change and runs alone), then answers each.
    fn write_group(&self, conn: &mut Connection, group: Vec<WriteJob>) {
        let mut ready: VecDeque<Ready> = VecDeque::with_capacity(group.len());
        for job in group {
            match self.prepare(conn, job) {
                Prepared::Ready(r) => ready.push_back(r),
                Prepared::Answered => {}
                Prepared::NeedsSchema(job) => {
                    // The writes before it commit first, so that order is kept.
                    while !ready.is_empty() {
                        self.commit_some(conn, &mut ready);
                    }
                    self.write_with_schema(conn, job);
                }
            }
        }
        while !ready.is_empty() {
            self.commit_some(conn, &mut ready);
        }
    }

    /// Runs writes from the front of `ready` in one transaction and answers them: all
    /// of them, unless SQLite rolls the transaction back on its own (it does on a full
    /// disk, for one), which fails the writes run so far and leaves the rest for the
    /// next transaction.
    fn commit_some(&self, conn: &mut Connection, ready: &mut VecDeque<Ready>) {
        self.begin_stamping();
        let result = self.commit_some_stamped(conn, ready);
        self.end_stamping(result);
    }

    /// Marks the start of a transaction that stamps rows (see [`Clock`]).
    fn begin_stamping(&self) {
        self.stamped.set(None);
        self.shared.clock.open();
    }

    /// Marks its end: `committed` when it committed.
    fn end_stamping(&self, committed: bool) {
        self.shared
            .clock
            .close(self.stamped.take().filter(|_| committed));
    }

    /// [`Inner::commit_some`] inside [`Inner::begin_stamping`]; whether it committed.
    fn commit_some_stamped(&self, conn: &mut Connection, ready: &mut VecDeque<Ready>) -> bool {
        if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
            for r in ready.drain(..) {
                let _ = r.job.reply.send(Err(e.clone()));
            }
            return false;
        }
        let mut answers: Vec<(Reply<Outcome>, Result<Outcome, StoreError>)> =
            Vec::with_capacity(ready.len());
        while let Some(r) = ready.pop_front() {
            let result = self.write_one(conn, r.key, r.meta, r.values, &r.job);
            if conn.is_autocommit() {
                let e = match result {
                    Err(e) => e,
                    Ok(_) => StoreError::Database("SQLite rolled the transaction back".into()),
                };
                for (reply, _) in answers {
                    let _ = reply.send(Err(e.clone()));
                }
                let _ = r.job.reply.send(Err(e));
                return false;
            }
            answers.push((r.job.reply, result));
        }
        match exec(conn, "COMMIT") {
            Ok(()) => {
                // Readers learn the new stamps before the answers go out.
                self.end_stamping(true);
                for (reply, result) in answers {
                    let _ = reply.send(result);
                }
                true
            }
            Err(e) => {
                rollback(conn);
                for (reply, _) in answers {
                    let _ = reply.send(Err(e.clone()));
                }
                false
            }
        }
    }

    /// One write of a group, in its own savepoint: kept when done, rolled back when
    /// refused or failed. Should the savepoint not roll back, the whole transaction
    /// does (and the caller sees it).
    fn write_one(
        &self,
        conn: &Connection,
        key: String,
        meta: Arc<TableMeta>,
        values: Vec<(String, Sql)>,
        job: &WriteJob,
    ) -> Result<Outcome, StoreError> {
        in_savepoint(conn, || self.apply(conn, &key, meta, &values, job.target()))
    }

    /// The write itself, inside its savepoint.
    fn apply(
        &self,
        conn: &Connection,
        key: &str,
        mut meta: Arc<TableMeta>,
        values: &[(String, Sql)],
        job: Target<'_>,
    ) -> Result<Outcome, StoreError> {
        let (table, owner, id) = (job.table, job.owner, job.id);
        let now: i64 = {
            let v = RusqliteValues(
                sql::tick_values(key, self.shared.clock.now())
                    .into_iter()
                    .map(RusqliteValue)
                    .collect(),
            );
            conn.prepare_cached(&self.tick)?
                .query_row(&*v.as_params(), |r| r.get(0))?
        };
        self.stamped
            .set(Some(self.stamped.get().map_or(now, |s| s.max(now))));
        let current = self.select_row(conn, &mut meta, owner, id)?;
        let (text, params) = match plan(job.op, current.as_ref()) {
            // The caller rolls the savepoint back, the clock with it.
            Err(outcome) => return Ok(outcome),
            Ok(Plan::Insert) => {
                let text = self.shape(sql::shape_key("insert", &meta.phys, values), || {
                    sql::insert_row(&meta, owner, id, Expr::val(now), values)
                        .build(SqliteQueryBuilder)
                        .0
                });
                (text, sql::insert_row_values(owner, id, now, values))
            }
            Ok(Plan::Update {
                expected,
                deleted,
                with_data,
            }) => {
                let data = if with_data { values } else { &[] };
                let kind = if deleted.is_some() {
                    "delete"
                } else {
                    "update"
                };
                let text = self.shape(sql::shape_key(kind, &meta.phys, data), || {
                    sql::update_row(&meta, owner, id, expected, Expr::val(now), deleted, data)
                        .build(SqliteQueryBuilder)
                        .0
                });
                let params = sql::update_row_values(owner, id, expected, now, deleted, data);
                (text, params)
            }
        };
        // The statement returns the row it wrote: no second read.
        let written = self.rows(conn, &mut meta, &text, params)?;
        let [row] = <[Row; 1]>::try_from(written).map_err(|w| {
            StoreError::Database(format!(
                "compare-and-swap on `{table}`/`{id}` changed {} rows",
                w.len()
            ))
        })?;
        Ok(Outcome::Done(row))
    }
}

/// Runs a statement without parameters or rows, prepared once: `BEGIN`, `COMMIT` and
/// savepoints run for every write, and parsing them is most of what they cost.
fn exec(conn: &Connection, text: &str) -> Result<(), StoreError> {
    conn.prepare_cached(text)?.raw_execute()?;
    Ok(())
}

/// Runs one write in its own savepoint: kept when done, rolled back when refused or
/// failed. Should the savepoint not roll back, the whole transaction does (and the
/// caller sees it).
fn in_savepoint(
    conn: &Connection,
    write: impl FnOnce() -> Result<Outcome, StoreError>,
) -> Result<Outcome, StoreError> {
    exec(conn, "SAVEPOINT w")?;
    let result = write();
    if let Ok(Outcome::Done(_)) = result {
        match exec(conn, "RELEASE w") {
            Ok(()) => return result,
            Err(e) => {
                undo(conn);
                return Err(e);
            }
        }
    }
    undo(conn);
    result
}

/// Rolls the savepoint of [`in_savepoint`] back and leaves it; failing that, the
/// whole transaction.
fn undo(conn: &Connection) {
    if conn.is_autocommit() {
        return;
    }
    if exec(conn, "ROLLBACK TO w")
        .and_then(|()| exec(conn, "RELEASE w"))
        .is_err()
    {
        rollback(conn);
    }
}

/// Rolls back to a named savepoint and leaves it; failing that, the whole transaction.
fn undo_to(conn: &Connection, (to, release): (&str, &str)) {
    if conn.is_autocommit() {
        return;
    }
    if exec(conn, to).and_then(|()| exec(conn, release)).is_err() {
        rollback(conn);
    }
}

/// The savepoint of one batch operation: its key's claim and record, and its write.
const SAVEPOINT_K: (&str, &str) = ("ROLLBACK TO k", "RELEASE k");

/// The answer recorded under a key.
fn recorded(conn: &Connection, owner: &str, key: &str) -> Result<Answer, StoreError> {
    let (q, v) = sql::select_key(owner, key).build_rusqlite(SqliteQueryBuilder);
    let (status, body): (i64, String) = conn
        .prepare_cached(&q)?
        .query_row(&*v.as_params(), |r| Ok((r.get(0)?, r.get(1)?)))?;
    Answer::recorded(key, status, body)
}

/// SQLite 3.51.1 (bundled by rusqlite 0.38, which sea-query-rusqlite 0.8 requires) can
/// deadlock when connections to one file close concurrently: the checkpoint a closing
/// WAL connection attempts takes the file's lock mutex, then the VFS's global one,
/// while another close takes them the other way round (fixed in 3.51.3; seen here as
/// a hung test run, every thread parked in `unixEnterMutex`). Without the checkpoint
/// on close that path is never taken. Nothing is lost: the WAL stays durable, commits
/// still checkpoint it as they go, and the next open reads what is left.
pub(crate) fn no_checkpoint_on_close(conn: &Connection) -> Result<(), StoreError> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    Ok(())
}

/// Rolls the open transaction back, if any.
fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Runs layout statements (see [`layout`]) in order, in the caller's transaction.
fn run_steps(conn: &Connection, steps: &[Step]) -> Result<(), StoreError> {
    for step in steps {
        match step {
            Step::Ddl(ddl) => conn.execute(&ddl.build(SqliteQueryBuilder), [])?,
            Step::Register(row) => {
                let (q, v) = row.build_rusqlite(SqliteQueryBuilder);
                conn.execute(&q, &*v.as_params())?
            }
        };
    }
    Ok(())
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

impl Backend for SqliteBackend {
    fn batches(&self) -> bool {
        true
    }

    fn write_batch<'a>(
        &'a self,
        owner: &'a str,
        ops: Vec<BatchOp>,
    ) -> BoxFuture<'a, Result<Vec<Result<Answer, StoreError>>, StoreError>> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Batch(BatchJob {
            owner: owner.to_owned(),
            ops,
            reply,
        });
        let sent = enqueue(&self.writes, "write", &self.shared, job);
        Box::pin(async move {
            sent?;
            answer.await.map_err(|_| stopped())?
        })
    }

    fn declare<'a>(
        &'a self,
        table: &'a crate::schema::TableDecl,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let decl = table.clone();
        Box::pin(self.run_on_writer(move |inner, conn| {
            let key = decl.name.to_ascii_lowercase();
            exec(conn, "BEGIN IMMEDIATE")?;
            match inner.add_schema(conn, &decl.name, &key, Wanted::Declared(&decl)) {
                Ok(meta) => {
                    if let Err(e) = exec(conn, "COMMIT") {
                        rollback(conn);
                        return Err(e);
                    }
                    inner.shared.catalog.put(meta);
                    Ok(())
                }
                Err(e) => {
                    rollback(conn);
                    Err(e)
                }
            }
        }))
    }

    fn get<'a>(
        &'a self,
        table: &'a str,
        owner: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Row>, StoreError>> {
        let (key, owner, id) = (table.to_ascii_lowercase(), owner.to_owned(), id.to_owned());
        Box::pin(self.read(move |inner, conn| {
            let Some(mut meta) = inner.meta(conn, &key)? else {
                return Ok(None);
            };
            Ok(inner
                .select_row(conn, &mut meta, &owner, &id)?
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
        let passed = self.clock_passed();
        let read = self.read(move |inner, conn| {
            // The horizon first, then the snapshot (see `Clock::horizon`); the page and
            // its count from one snapshot.
            let horizon = inner.shared.clock.horizon();
            exec(conn, "BEGIN")?;
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
            let (page, count_q) = sql::list(FLAVOR, &meta, &owner, &query, Some(horizon))?;
            let (text, values) = page.build(SqliteQueryBuilder);
            let rows = inner.rows(conn, &mut meta, &text, values.0)?;
            let count = match count_q {
                Some(q) => Some(count(conn, q)? as u64),
                None => None,
            };
            exec(conn, "COMMIT")?;
            Ok(Page { rows, count })
        });
        Box::pin(async move {
            passed.await;
            read.await
        })
    }

    fn write<'a>(
        &'a self,
        table: &'a str,
        owner: &'a str,
        id: &'a str,
        op: WriteOp,
    ) -> BoxFuture<'a, Result<Outcome, StoreError>> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Write(WriteJob {
            table: table.to_owned(),
            owner: owner.to_owned(),
            id: id.to_owned(),
            op,
            reply,
        });
        let sent = enqueue(&self.writes, "write", &self.shared, job);
        Box::pin(async move {
            sent?;
            answer.await.map_err(|_| stopped())?
        })
    }
}

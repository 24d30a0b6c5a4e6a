//! [`SqliteStore`]: opening a database file (or memory), its pragmas and format check,
//! and running transactions on the one connection.

use std::fmt;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use sync_core::store::{Store, StoreError, StoreTx};

use crate::bookkeeping::{self, FORMAT_KEY, FORMAT_VERSION};
use crate::error::{backend, corrupt};
use crate::queue_index::QueueIndex;
use crate::table::Tables;
use crate::tx::{SqliteTx, load_queue_index, load_schemas};

/// How many prepared statements a connection keeps: the bookkeeping statements, four
/// per app table, and recent query shapes.
const STATEMENT_CACHE: usize = 256;

/// How hard SQLite works to keep a committed transaction through a power loss.
///
/// ```
/// use sync_sqlite::{SqliteOptions, Synchronous};
/// assert_eq!(SqliteOptions::new().synchronous, Synchronous::Full);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// `synchronous=FULL` (the default): every commit is on disk when
    /// [`Store::transaction`] returns, even across a power loss or OS crash.
    Full,
    /// `synchronous=NORMAL`: faster commits (WAL is synced at checkpoints only). A crash
    /// of the app loses nothing, but a power loss or OS crash may undo the last few
    /// committed transactions (never corrupt the file). Choose it only if re-doing those
    /// local writes is acceptable.
    Normal,
}

/// Options for [`SqliteStore::open_with`].
///
/// ```
/// use std::time::Duration;
/// use sync_sqlite::{SqliteOptions, Synchronous};
/// let o = SqliteOptions::new().synchronous(Synchronous::Normal).busy_timeout(Duration::from_secs(1));
/// assert_eq!((o.synchronous, o.busy_timeout), (Synchronous::Normal, Duration::from_secs(1)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Durability of commits; [`Synchronous::Full`] by default.
    pub synchronous: Synchronous,
    /// How long a statement waits for another connection's lock (another process on the
    /// same file) before failing; 5 s by default.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl SqliteOptions {
    /// The defaults: `synchronous=FULL`, a 5 s busy timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = sync_sqlite::SqliteOptions::new();
    /// assert_eq!((o.synchronous, o.busy_timeout), (sync_sqlite::Synchronous::Full, Duration::from_secs(5)));
    /// ```
    pub fn new() -> SqliteOptions {
        SqliteOptions::default()
    }

    /// Sets [`SqliteOptions::synchronous`].
    ///
    /// ```
    /// use sync_sqlite::{SqliteOptions, Synchronous};
    /// assert_eq!(SqliteOptions::new().synchronous(Synchronous::Normal).synchronous, Synchronous::Normal);
    /// ```
    pub fn synchronous(mut self, s: Synchronous) -> SqliteOptions {
        self.synchronous = s;
        self
    }

    /// Sets [`SqliteOptions::busy_timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = sync_sqlite::SqliteOptions::new().busy_timeout(Duration::ZERO);
    /// assert_eq!(o.busy_timeout, Duration::ZERO);
    /// ```
    pub fn busy_timeout(mut self, t: Duration) -> SqliteOptions {
        self.busy_timeout = t;
        self
    }
}

struct Inner {
    conn: Connection,
    /// Committed table schemas by lowercased name. A transaction sees its own changes on
    /// top and publishes them here only when it commits.
    tables: Tables,
    /// Committed queue membership, published the same way.
    queued: QueueIndex,
}

/// A [`Store`] in an SQLite database: one file (WAL journal) or memory.
///
/// One connection behind a mutex serves every transaction, so transactions run one at
/// a time (writes start with `BEGIN IMMEDIATE`), and reads wait for a running write.
/// A transaction commits when its closure returns `Ok`; it rolls back when the closure
/// returns `Err` or panics. A [`Store::read`] always rolls back.
///
/// The calls block on disk I/O (`fsync` per commit with [`Synchronous::Full`]). From
/// async code, call the store through [`sync_core::store::run_blocking`], which runs the
/// closure on tokio's blocking pool: a commit on a runtime worker would stall every task
/// scheduled on that worker, and holding the store's mutex across an `.await` is not
/// possible anyway.
///
/// Open a file once per process and share the store behind an `Arc`: the store caches
/// table schemas and assumes no other connection changes them.
///
/// ```
/// use sync_core::store::{OpKind, Store, StoreTx, StoreTxExt};
/// use sync_core::{ColumnType, Record, TableSchema, Value};
/// use sync_sqlite::SqliteStore;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("app.db");
/// let schema = TableSchema::new("Todo").with_column("text", ColumnType::Text, false);
/// {
///     let store = SqliteStore::open(&path)?;
///     store.transaction(|tx| {
///         tx.ensure_table(&schema)?;
///         let mut row = Record::new();
///         row.set("id", "a1");
///         row.set("text", "buy milk");
///         tx.upsert("Todo", &row)?;
///         tx.enqueue("Todo", "a1", OpKind::Insert, None, None)?;
///         Ok(())
///     })?;
/// }
/// // Everything is still there after reopening.
/// let store = SqliteStore::open(&path)?;
/// let (row, ops) = store.read(|tx| Ok((tx.get("Todo", "a1")?, tx.ops(None)?)))?;
/// assert_eq!(row.unwrap().get("text"), Some(&Value::from("buy milk")));
/// assert_eq!((ops.len(), ops[0].kind), (1, OpKind::Insert));
/// # Ok::<(), sync_core::store::StoreError>(())
/// ```
pub struct SqliteStore {
    inner: Mutex<Inner>,
    location: String,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) a store in a file, with the default [`SqliteOptions`]:
    /// WAL journal, `synchronous=FULL`.
    ///
    /// Fails with [`StoreError::FormatTooNew`] when a newer tablesync wrote the file.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = sync_sqlite::SqliteStore::open(dir.path().join("app.db"))?;
    /// assert!(format!("{store:?}").contains("app.db"));
    /// # Ok::<(), sync_core::store::StoreError>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, SqliteOptions::default())
    }

    /// Opens (creating if needed) a store in a file with these options.
    ///
    /// ```
    /// use sync_sqlite::{SqliteOptions, SqliteStore, Synchronous};
    /// let dir = tempfile::tempdir().unwrap();
    /// let opts = SqliteOptions::new().synchronous(Synchronous::Normal);
    /// let store = SqliteStore::open_with(dir.path().join("app.db"), opts)?;
    /// // WAL keeps its log next to the database file.
    /// assert!(dir.path().join("app.db-wal").exists());
    /// # drop(store);
    /// # Ok::<(), sync_core::store::StoreError>(())
    /// ```
    pub fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        let location = path.display().to_string();
        let conn = Connection::open(path).map_err(backend(format_args!("opening `{location}`")))?;
        // SQLite 3.51.1, which rusqlite 0.38 bundles, can deadlock when two connections
        // to one file close at once: the checkpoint a closing WAL connection attempts
        // takes two mutexes in the order opposite to another close (fixed in 3.51.3).
        // Without that checkpoint the path is never taken, and nothing is lost: commits
        // checkpoint the WAL as they go and the next open reads the rest.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .map_err(backend("turning off the checkpoint on close"))?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(backend("setting the busy timeout"))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(backend("switching to the WAL journal"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "`{location}`: SQLite refused the WAL journal (mode is `{mode}`)"
            )));
        }
        let sync = match options.synchronous {
            Synchronous::Full => "PRAGMA synchronous=FULL",
            Synchronous::Normal => "PRAGMA synchronous=NORMAL",
        };
        conn.execute_batch(sync)
            .map_err(backend("setting synchronous"))?;
        let store = SqliteStore::init(conn, location)?;
        Ok(store)
    }

    /// A store in memory, gone when dropped (tests, caches).
    ///
    /// ```
    /// use sync_core::store::{Store, StoreTx};
    /// let store = sync_sqlite::SqliteStore::open_in_memory()?;
    /// assert!(store.read(|tx| tx.ops(None))?.is_empty());
    /// # Ok::<(), sync_core::store::StoreError>(())
    /// ```
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory().map_err(backend("opening a memory database"))?;
        SqliteStore::init(conn, ":memory:".to_owned())
    }

    /// Checks the format version, creates the bookkeeping tables and loads the schemas,
    /// all in one transaction.
    fn init(mut conn: Connection, location: String) -> Result<SqliteStore, StoreError> {
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let sql = bookkeeping::sql();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend("starting the opening transaction"))?;
        tx.execute(&bookkeeping::create_meta(), [])
            .map_err(backend("creating the meta table"))?;
        let found: Option<i64> = tx
            .query_row(&sql.meta_get, [FORMAT_KEY], |r| r.get(0))
            .optional()
            .map_err(|e| corrupt(bookkeeping::META, FORMAT_KEY, e))?;
        match found {
            Some(found) if found > FORMAT_VERSION => {
                return Err(StoreError::FormatTooNew {
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            Some(_) => {}
            None => {
                tx.execute(&sql.meta_insert, (FORMAT_KEY, FORMAT_VERSION))
                    .map_err(backend("recording the format version"))?;
            }
        }
        for ddl in bookkeeping::create_rest() {
            tx.execute(&ddl, [])
                .map_err(backend("creating the bookkeeping tables"))?;
        }
        let tables = load_schemas(&tx)?;
        let queued = load_queue_index(&tx)?;
        tx.commit()
            .map_err(backend("committing the opening transaction"))?;
        Ok(SqliteStore {
            inner: Mutex::new(Inner {
                conn,
                tables,
                queued,
            }),
            location,
        })
    }

    fn run<R>(
        &self,
        kind: Kind,
        f: impl FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        // A panic in a closure rolls its transaction back while unwinding (rusqlite's
        // `Transaction` drop), so the state behind a poisoned lock is consistent.
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Inner {
            conn,
            tables,
            queued,
        } = &mut *guard;
        if !conn.is_autocommit() {
            // Only if a rollback itself failed earlier: finish it before going on.
            conn.execute_batch("ROLLBACK")
                .map_err(backend("rolling back an unfinished transaction"))?;
        }
        let write = kind != Kind::Read;
        let behavior = if write {
            TransactionBehavior::Immediate
        } else {
            TransactionBehavior::Deferred
        };
        let txn = conn
            .transaction_with_behavior(behavior)
            .map_err(backend("starting a transaction"))?;
        let mut tx = SqliteTx::new(&txn, tables, queued);
        let result = f(&mut tx);
        let (changed, queue_changes) = tx.into_changes();
        match result {
            Ok(v) if write => {
                txn.commit().map_err(backend("committing"))?;
                tables.extend(changed);
                queued.apply(queue_changes);
                Ok(v)
            }
            other => {
                let rolled_back = txn.rollback().map_err(backend("rolling back"));
                let v = other?;
                rolled_back?;
                Ok(v)
            }
        }
    }
}

/// What a [`SqliteStore::run`] is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

impl Store for SqliteStore {
    fn transaction<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>,
    {
        self.run(Kind::Write, f)
    }

    fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>,
    {
        self.run(Kind::Read, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::TableSchema;

    /// The connection's `synchronous` level: 1 NORMAL, 2 FULL.
    fn synchronous(store: &SqliteStore) -> i64 {
        let inner = store.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    fn schema(name: &str) -> TableSchema {
        TableSchema::new(name)
    }

    #[test]
    fn a_store_opened_with_normal_stays_normal() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions::new().synchronous(Synchronous::Normal);
        let store = SqliteStore::open_with(dir.path().join("a.db"), options).unwrap();
        store
            .transaction(|tx| tx.ensure_table(&schema("B")))
            .unwrap();
        assert_eq!(synchronous(&store), 1);
        let store = SqliteStore::open(dir.path().join("b.db")).unwrap();
        store
            .transaction(|tx| tx.ensure_table(&schema("B")))
            .unwrap();
        assert_eq!(synchronous(&store), 2, "the default waits for the disk");
    }
}

//! [`SqliteStore`]: opening a database file (or memory), its pragmas and format check,
//! and running transactions: writes on the one writing connection, reads of a file on
//! a pool of reading connections ([`Readers`]).
//!
//! # Why a read sees caches that match its snapshot
//!
//! The store keeps two caches of what is committed: the table schemas ([`Tables`]) and
//! which items are queued ([`QueueIndex`]). A read on its own connection runs beside the
//! writer, so it must never pair its SQLite snapshot with a cache of another moment: a
//! newer schema would name a table or column its snapshot lacks ("no such table"), an
//! older one would miss columns it has.
//!
//! - The schema cache is an `Arc` that a commit replaces whole, never edits. A commit
//!   that changed a schema holds the cache's lock across `COMMIT` and the replacement;
//!   a read holds the same lock while it starts its snapshot (its first statement) and
//!   takes the `Arc`. So a read's snapshot contains a schema change exactly when its
//!   cache does. Commits that change no schema (nearly all) leave the cache alone and
//!   never take that lock during `COMMIT`.
//! - The queue index is the writer's alone: it matches the writer connection, which is
//!   the only one that changes the queue. A pooled read does not use it and asks the
//!   queue table instead (a "maybe" for every item, which only costs the query the
//!   index would have saved).
//!
//! A read that started before a table was created sees, as of its snapshot, no such
//! table: [`StoreError::UnknownTable`], as if it had run before the write. A memory
//! database has one connection; its reads share it with the writer and wait for a
//! running write.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use sync_core::store::{Store, StoreError, StoreTx};

use crate::bookkeeping::{self, FORMAT_KEY, FORMAT_VERSION};
use crate::error::{backend, corrupt};
use crate::queue_index::QueueIndex;
use crate::readers::Readers;
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
/// assert_eq!(o.readers, 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// Durability of commits; [`Synchronous::Full`] by default.
    pub synchronous: Synchronous,
    /// How long a statement waits for another connection's lock (another process on the
    /// same file) before failing; 5 s by default.
    pub busy_timeout: Duration,
    /// How many connections of a file-backed store serve reads at once, beside the one
    /// that writes; 4 by default. A read runs while a write transaction is open (a large
    /// pull does not freeze a UI) and sees the last commit before it started. 0: reads
    /// take the writer's connection, one at a time with the writes.
    pub readers: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            readers: 4,
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

    /// Sets [`SqliteOptions::readers`].
    ///
    /// ```
    /// assert_eq!(sync_sqlite::SqliteOptions::new().readers(0).readers, 0);
    /// ```
    pub fn readers(mut self, n: usize) -> SqliteOptions {
        self.readers = n;
        self
    }
}

/// The settings every connection of a store gets, the writer's and each reader's.
pub(crate) fn configure(conn: &Connection, options: &SqliteOptions) -> Result<(), StoreError> {
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
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// The connection that writes, and what only it uses.
struct Writer {
    conn: Connection,
    /// Committed queue membership. A transaction sees its own changes on top and
    /// publishes them here only when it commits.
    queued: QueueIndex,
}

/// A [`Store`] in an SQLite database: one file (WAL journal) or memory.
///
/// One connection behind a mutex serves every write transaction, so writes run one at
/// a time (each starts with `BEGIN IMMEDIATE`). Reads of a file run on a small pool of
/// reading connections ([`SqliteOptions::readers`]): a read never waits for a running
/// write, and sees every transaction committed before it started, none after. A memory
/// database has one connection, so there reads wait for a running write.
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
    writer: Mutex<Writer>,
    /// Committed table schemas by lowercased name, replaced whole by a commit that
    /// changed one (see the module doc for why this lock is held across that commit).
    tables: Mutex<Arc<Tables>>,
    /// `None` for a memory database: reads take the writer's connection.
    readers: Option<Readers>,
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
        configure(&conn, &options)?;
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
        // Readers open the file by its absolute path, in case the app changes its working
        // directory later, and only once it is WAL and initialized.
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let readers =
            (options.readers > 0).then(|| Readers::new(absolute, options, options.readers));
        SqliteStore::init(conn, location, readers)
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
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        SqliteStore::init(conn, ":memory:".to_owned(), None)
    }

    /// Checks the format version, creates the bookkeeping tables and loads the schemas,
    /// all in one transaction.
    fn init(
        mut conn: Connection,
        location: String,
        readers: Option<Readers>,
    ) -> Result<SqliteStore, StoreError> {
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
            writer: Mutex::new(Writer { conn, queued }),
            tables: Mutex::new(Arc::new(tables)),
            readers,
            location,
        })
    }

    /// The committed schemas, as of now.
    fn committed_tables(&self) -> Arc<Tables> {
        Arc::clone(&self.tables.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs a transaction on the writer's connection: every write, and the reads of a
    /// store without readers.
    fn run<R>(
        &self,
        kind: Kind,
        f: impl FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        // A panic in a closure rolls its transaction back while unwinding (rusqlite's
        // `Transaction` drop), so the state behind a poisoned lock is consistent.
        let mut guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let Writer { conn, queued } = &mut *guard;
        finish_unfinished(conn)?;
        // Only this connection changes schemas, and it is ours: current all along.
        let tables = self.committed_tables();
        let write = kind != Kind::Read;
        let behavior = if write {
            TransactionBehavior::Immediate
        } else {
            TransactionBehavior::Deferred
        };
        let txn = conn
            .transaction_with_behavior(behavior)
            .map_err(backend("starting a transaction"))?;
        let mut tx = SqliteTx::new(&txn, &tables, Some(queued));
        let result = f(&mut tx);
        let (changed, queue_changes) = tx.into_changes();
        match result {
            Ok(v) if write => {
                if changed.is_empty() {
                    txn.commit().map_err(backend("committing"))?;
                } else {
                    // No read starts its snapshot between this commit and the new cache.
                    let mut published = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
                    txn.commit().map_err(backend("committing"))?;
                    let mut next = Tables::clone(&published);
                    next.extend(changed);
                    *published = Arc::new(next);
                }
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

    /// Runs a read on a reading connection, beside the writer.
    fn read_beside<R>(
        &self,
        readers: &Readers,
        f: impl FnOnce(&mut dyn StoreTx) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut lent = readers.take()?;
        let conn = lent.conn();
        finish_unfinished(conn)?;
        let txn = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(backend("starting a read"))?;
        let tables = {
            let published = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
            // A deferred transaction's snapshot starts with its first read: start it
            // while no schema change can commit, so that it and the cache agree.
            txn.query_row(&bookkeeping::sql().meta_get, [FORMAT_KEY], |_| Ok(()))
                .optional()
                .map_err(backend("starting a read's snapshot"))?;
            Arc::clone(&published)
        };
        let mut tx = SqliteTx::new(&txn, &tables, None);
        let result = f(&mut tx);
        drop(tx);
        let rolled_back = txn.rollback().map_err(backend("ending a read"));
        let v = result?;
        rolled_back?;
        Ok(v)
    }
}

/// Rolls back what a failed rollback left open, before the connection is used again.
fn finish_unfinished(conn: &Connection) -> Result<(), StoreError> {
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")
            .map_err(backend("rolling back an unfinished transaction"))?;
    }
    Ok(())
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
        match &self.readers {
            Some(readers) => self.read_beside(readers, f),
            None => self.run(Kind::Read, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::TableSchema;

    /// The connection's `synchronous` level: 1 NORMAL, 2 FULL.
    fn synchronous(store: &SqliteStore) -> i64 {
        let writer = store.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    fn schema(name: &str) -> TableSchema {
        TableSchema::new(name)
    }

    #[test]
    fn reads_of_a_file_share_a_bounded_pool_and_memory_reads_share_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions::new().readers(2);
        let store =
            std::sync::Arc::new(SqliteStore::open_with(dir.path().join("a.db"), options).unwrap());
        store
            .transaction(|tx| tx.ensure_table(&schema("B")))
            .unwrap();
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let store = std::sync::Arc::clone(&store);
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        store.read(|tx| tx.count("B", None)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let readers = store.readers.as_ref().expect("a file store has readers");
        assert!((1..=2).contains(&readers.opened()), "{}", readers.opened());
        let memory = SqliteStore::open_in_memory().unwrap();
        assert!(
            memory.readers.is_none(),
            "one connection holds a memory database"
        );
        let shared = SqliteOptions::new().readers(0);
        let store = SqliteStore::open_with(dir.path().join("b.db"), shared).unwrap();
        assert!(store.readers.is_none());
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

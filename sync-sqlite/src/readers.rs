//! [`Readers`]: the connections that serve [`Store::read`](sync_core::store::Store::read)
//! of a file-backed store, so that a read runs while the writer's transaction is open
//! (WAL: a reader sees the last commit before its snapshot, never waits for a writer).
//!
//! Connections are opened when first needed, up to the pool's size, and kept; a read
//! that finds them all busy waits for one to be handed back. Each gets the settings
//! every connection of the store gets ([`crate::store::configure`]).

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags};
use sync_core::store::StoreError;

use crate::error::backend;
use crate::store::{SqliteOptions, configure};

/// A pool of reading connections to one database file.
pub(crate) struct Readers {
    path: PathBuf,
    options: SqliteOptions,
    size: usize,
    state: Mutex<Pool>,
    handed_back: Condvar,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Connection>,
    /// Connections opened (idle or lent out).
    open: usize,
}

impl Readers {
    /// A pool of up to `size` connections (at least 1) to the file at `path`.
    pub(crate) fn new(path: PathBuf, options: SqliteOptions, size: usize) -> Readers {
        Readers {
            path,
            options,
            size: size.max(1),
            state: Mutex::new(Pool::default()),
            handed_back: Condvar::new(),
        }
    }

    /// A connection for one read, handed back when the [`Lent`] drops.
    pub(crate) fn take(&self) -> Result<Lent<'_>, StoreError> {
        let mut pool = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(conn) = pool.idle.pop() {
                return Ok(Lent {
                    readers: self,
                    conn: Some(conn),
                });
            }
            if pool.open < self.size {
                pool.open += 1;
                drop(pool);
                // Opened outside the lock: other reads go on meanwhile.
                return match self.open() {
                    Ok(conn) => Ok(Lent {
                        readers: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        let mut pool = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                        pool.open -= 1;
                        self.handed_back.notify_one();
                        Err(e)
                    }
                };
            }
            pool = self
                .handed_back
                .wait(pool)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Opens a reading connection. Read-write, not `SQLITE_OPEN_READ_ONLY`: a
    /// [`Store::read`](sync_core::store::Store::read) may write (the writes are rolled
    /// back), and a read-only connection would fail such a write instead. The engine's
    /// reads never write, so the connection never takes the write lock.
    fn open(&self) -> Result<Connection, StoreError> {
        let location = self.path.display();
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(backend(format_args!(
            "opening a reading connection to `{location}`"
        )))?;
        configure(&conn, &self.options)?;
        Ok(conn)
    }

    #[cfg(test)]
    pub(crate) fn opened(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open
    }
}

/// A connection lent out for one read.
pub(crate) struct Lent<'a> {
    readers: &'a Readers,
    conn: Option<Connection>,
}

impl Lent<'_> {
    pub(crate) fn conn(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .expect("only `drop` takes the connection out")
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let mut pool = self
            .readers
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        pool.idle.push(conn);
        self.readers.handed_back.notify_one();
    }
}

//! The sync engine: [`SyncContext`] and typed [`SyncTable`]s, push, pull, purge and
//! conflict resolution. It does no I/O of its own: rows and the queue live behind a
//! [`Store`], the server behind a [`Transport`].
//!
//! # A sync loop between two devices
//!
//! ```
//! use sync_core::engine::{PushStatus, SyncContext};
//! use sync_core::store::MemoryStore;
//! use sync_core::transport::MemoryRemote;
//! # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
//! # #[sync(crate = "sync_core")]
//! # struct Person { id: String, name: String, age: i64, #[version] version: Option<String> }
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let server = MemoryRemote::new();
//! let a = SyncContext::new(MemoryStore::new(), server.transport());
//! let b = SyncContext::new(MemoryStore::new(), server.transport());
//! let (pa, pb) = (a.table::<Person>().await?, b.table::<Person>().await?);
//!
//! // A writes offline: the row and its queue entry commit together.
//! pa.insert(Person { id: "p1".into(), name: "Jane".into(), age: 25, version: None }).await?;
//! assert_eq!(a.pending_count().await?, 1);
//! // Push sends the queue; B pulls the change incrementally.
//! assert_eq!(a.push().await?.status, PushStatus::Complete);
//! pb.pull("all", None).await?;
//! let mut jane = pb.get("p1").await?.unwrap();
//!
//! // Both edit the same person; A syncs first.
//! let mut on_a = pa.get("p1").await?.unwrap();
//! on_a.age = 32;
//! pa.update(on_a).await?;
//! a.push().await?;
//! jane.age = 30;
//! pb.update(jane).await?;
//! // B's pull finds the server's change on top of its pending one: a typed conflict.
//! pb.pull("all", None).await?;
//! let conflicts = pb.conflicts().await?;
//! assert_eq!((conflicts[0].local.as_ref().unwrap().age, conflicts[0].remote.as_ref().unwrap().age), (30, 32));
//! // B keeps its value; the next push sends it against the server's version.
//! pb.keep_local("p1").await?;
//! b.push().await?;
//! pa.pull("all", None).await?;
//! assert_eq!(pa.get("p1").await?.unwrap().age, 30);
//! # Ok::<(), sync_core::engine::SyncError>(())
//! # }).unwrap();
//! ```

mod changes;
mod columns;
mod error;
mod live;
mod pending;
mod pull;
mod push;
mod resolve;
mod syncer;
mod table;

use changes::Touched;
pub use changes::{Change, ChangeCause};
pub use error::SyncError;
pub use pending::PendingOp;
pub use pull::PullReport;
pub use push::{OperationFailure, PushReport, PushStatus};
pub use syncer::{Activity, SyncStatus, Syncer, SyncerOptions};
pub use table::SyncTable;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use crate::conflict::{ConflictKind, ConflictPolicy};
use crate::model::{Record, Syncable, SystemColumn, TableSchema};
use crate::store::{Operation, Store, StoreError, StoreTx, StoredConflict};
use crate::transport::Transport;

use resolve::Decider;

/// Engine settings.
///
/// ```
/// let o = sync_core::engine::SyncOptions::default();
/// assert_eq!((o.max_in_flight, o.page_size, o.max_pull_pages), (4, 100, 10_000));
/// let o = sync_core::engine::SyncOptions::default().max_pull_pages(50);
/// assert_eq!(o.max_pull_pages, 50);
/// ```
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Places in flight at once during a push, each sending one operation or one batch
    /// (see [`max_batch`](SyncOptions::max_batch)); two operations on one item are
    /// never in flight together. 1 pushes strictly in queue order, one operation at a
    /// time, so that a conflict handler's abort leaves everything after the conflict
    /// unsent; with more, an abort stops the push after what is already in flight.
    pub max_in_flight: usize,
    /// Rows per pull page.
    pub page_size: u32,
    /// How often one push retries an operation after a policy resolved its conflict.
    pub max_conflict_retries: u32,
    /// The most pages one pull call requests (at least 1). A server that always says
    /// more rows follow would otherwise keep a pull going forever; reaching the bound
    /// is [`SyncError::PullLimit`], with every page received stored, so the next pull
    /// goes on from there. Default 10 000 (a million rows at the default page size).
    pub max_pull_pages: usize,
    /// The most operations one place in flight hands the transport at once
    /// ([`Transport::push_batch`](crate::transport::Transport::push_batch)) when
    /// `max_in_flight` is more than 1: one request to a server that takes batches (the
    /// tablesync server), one call after another to one that does not. A push shares
    /// its operations equally among the places, up to this. Default 100.
    pub max_batch: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            max_in_flight: 4,
            page_size: 100,
            max_conflict_retries: 3,
            max_pull_pages: 10_000,
            max_batch: 100,
        }
    }
}

impl SyncOptions {
    /// Sets [`max_pull_pages`](SyncOptions::max_pull_pages).
    ///
    /// ```
    /// let o = sync_core::engine::SyncOptions::default().max_pull_pages(3);
    /// assert_eq!(o.max_pull_pages, 3);
    /// ```
    pub fn max_pull_pages(mut self, pages: usize) -> Self {
        self.max_pull_pages = pages;
        self
    }
}

/// Something that happened during sync, for progress bars and UI refreshes.
///
/// ```
/// use sync_core::engine::SyncEvent;
/// let e = SyncEvent::PushProgress { done: 1, total: 4 };
/// assert!(matches!(e, SyncEvent::PushProgress { done: 1, .. }));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SyncEvent {
    /// A push started with this many operations to send.
    PushStarted {
        /// Operations to send.
        total: usize,
    },
    /// One more operation finished (in any way).
    PushProgress {
        /// Finished so far.
        done: usize,
        /// To send in all.
        total: usize,
    },
    /// A push ended.
    PushFinished {
        /// How it ended.
        status: PushStatus,
    },
    /// A pull page was applied.
    PullProgress {
        /// The table.
        table: String,
        /// Rows received so far in this pull.
        received: usize,
        /// The rows this pull receives in all, when the server said (a tablesync
        /// server's stream counts): what a progress bar needs.
        total: Option<u64>,
    },
    /// A pull ended.
    PullFinished {
        /// The table.
        table: String,
        /// Rows received.
        received: usize,
    },
    /// A conflict was stored for the app to resolve.
    ConflictFound {
        /// The table.
        table: String,
        /// The item.
        id: String,
        /// Push or pull.
        kind: ConflictKind,
    },
    /// The server rejected an operation; it stays queued with its error.
    OperationFailed {
        /// The table.
        table: String,
        /// The item.
        id: String,
        /// The server's message.
        message: String,
    },
}

pub(crate) struct TableEntry {
    pub(crate) schema: TableSchema,
    pub(crate) decide: Decider,
    pub(crate) gate: Option<resolve::Gate>,
}

pub(crate) struct Inner<S, T> {
    pub(crate) store: Arc<S>,
    pub(crate) transport: Arc<T>,
    pub(crate) options: SyncOptions,
    pub(crate) tables: RwLock<HashMap<String, Arc<TableEntry>>>,
    pub(crate) events: broadcast::Sender<SyncEvent>,
    /// Committed changes of local rows.
    pub(crate) changes: broadcast::Sender<Change>,
    /// The queries `sync()` and the syncer pull, in registration order.
    pub(crate) registered: std::sync::Mutex<Vec<syncer::Registration>>,
    /// One push at a time: two concurrent pushes could send the same operation twice.
    pub(crate) push_lock: tokio::sync::Mutex<()>,
}

impl<S: Store, T: Transport> Inner<S, T> {
    pub(crate) fn entry(&self, table: &str) -> Option<Arc<TableEntry>> {
        self.tables
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&table.to_ascii_lowercase())
            .cloned()
    }

    pub(crate) fn emit(&self, event: SyncEvent) {
        // No subscriber is fine: events are best-effort notifications.
        let _ = self.events.send(event);
    }

    /// The registered queries, in registration order.
    pub(crate) fn registered(&self) -> Vec<syncer::Registration> {
        self.registered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Registers a query (replacing one with the same table and query id).
    pub(crate) fn register(&self, r: syncer::Registration) {
        let mut all = self.registered.lock().unwrap_or_else(|p| p.into_inner());
        match all
            .iter_mut()
            .find(|x| x.table.eq_ignore_ascii_case(&r.table) && x.query_id == r.query_id)
        {
            Some(x) => *x = r,
            None => all.push(r),
        }
    }

    /// Tells subscribers that these rows changed (call after the commit).
    pub(crate) fn changed(&self, table: &str, ids: Vec<String>, cause: ChangeCause) {
        let _ = self.changes.send(Change::new(table, ids, cause));
    }

    /// Tells subscribers about the rows a step touched (call after the commit).
    pub(crate) fn announce(&self, touched: Touched, cause: ChangeCause) {
        for change in touched.into_changes(cause) {
            let _ = self.changes.send(change);
        }
    }

    /// Runs an engine step in one write transaction on the blocking pool. Any error,
    /// the engine's own included, rolls the whole step back.
    pub(crate) async fn tx<R, F>(&self, f: F) -> Result<R, SyncError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn StoreTx) -> Result<R, SyncError> + Send + 'static,
    {
        self.blocking(move |s| transact(s, Mode::Write, f)).await
    }

    /// Runs an engine read on the blocking pool.
    pub(crate) async fn read<R, F>(&self, f: F) -> Result<R, SyncError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn StoreTx) -> Result<R, SyncError> + Send + 'static,
    {
        self.blocking(move |s| transact(s, Mode::Read, f)).await
    }

    async fn blocking<R, F>(&self, f: F) -> Result<R, SyncError>
    where
        R: Send + 'static,
        F: FnOnce(&S) -> Result<R, SyncError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

/// The app's handle on sync: a store, a transport, registered tables and their
/// conflict policies. Cheap to clone; clones share everything. One push runs at a
/// time per context; give each store exactly one context.
///
/// Its methods run on a tokio runtime with timers enabled (`enable_time`, or
/// `enable_all` as `#[tokio::main]` does); HTTP clients need them anyway. Store calls
/// go to the runtime's blocking pool, never a worker.
///
/// ```
/// use sync_core::engine::{PushStatus, SyncContext, SyncEvent, SyncOptions};
/// use sync_core::store::MemoryStore;
/// use sync_core::transport::MemoryRemote;
/// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
/// # #[sync(crate = "sync_core")]
/// # struct Todo { id: String, text: String, #[version] version: Option<String> }
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let server = MemoryRemote::new();
/// let options = SyncOptions { max_in_flight: 8, ..SyncOptions::default() };
/// let ctx = SyncContext::with_options(MemoryStore::new(), server.transport(), options);
/// let mut events = ctx.subscribe();
/// let todos = ctx.table::<Todo>().await?;
/// todos.insert(Todo { id: String::new(), text: "milk".into(), version: None }).await?;
/// let report = ctx.push().await?;
/// assert_eq!((report.status, report.pushed), (PushStatus::Complete, 1));
/// assert_eq!(events.try_recv().unwrap(), SyncEvent::PushStarted { total: 1 });
/// # Ok::<(), sync_core::engine::SyncError>(())
/// # }).unwrap();
/// ```
pub struct SyncContext<S, T> {
    pub(crate) inner: Arc<Inner<S, T>>,
}

impl<S, T> Clone for SyncContext<S, T> {
    fn clone(&self) -> Self {
        SyncContext {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: Store, T: Transport> SyncContext<S, T> {
    /// A context with default options.
    pub fn new(store: S, transport: T) -> Self {
        Self::with_options(store, transport, SyncOptions::default())
    }

    /// A context with these options.
    pub fn with_options(store: S, transport: T, options: SyncOptions) -> Self {
        let (events, _) = broadcast::channel(1024);
        let (changes, _) = broadcast::channel(1024);
        SyncContext {
            inner: Arc::new(Inner {
                store: Arc::new(store),
                transport: Arc::new(transport),
                options,
                tables: RwLock::new(HashMap::new()),
                events,
                changes,
                registered: std::sync::Mutex::new(Vec::new()),
                push_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The store, for direct reads.
    pub fn store(&self) -> &Arc<S> {
        &self.inner.store
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<T> {
        &self.inner.transport
    }

    /// Registers `R`'s table with the manual conflict policy, creating or migrating it
    /// in the store.
    pub async fn table<R: Syncable + Send + 'static>(
        &self,
    ) -> Result<SyncTable<R, S, T>, SyncError> {
        self.table_with_policy(ConflictPolicy::Manual).await
    }

    /// Registers `R`'s table with a conflict policy.
    pub async fn table_with_policy<R: Syncable + Send + 'static>(
        &self,
        policy: ConflictPolicy<R>,
    ) -> Result<SyncTable<R, S, T>, SyncError> {
        let schema = R::schema().clone();
        schema.validate().map_err(StoreError::from)?;
        let ensure = schema.clone();
        self.inner
            .tx(move |tx| Ok(tx.ensure_table(&ensure)?))
            .await?;
        // The server never has the local-only columns.
        self.inner.transport.register_schema(&schema.synced());
        let entry = Arc::new(TableEntry {
            schema,
            gate: resolve::gate(&policy),
            decide: resolve::decider(policy),
        });
        self.inner
            .tables
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(R::table_name().to_ascii_lowercase(), entry);
        Ok(SyncTable::new(Arc::clone(&self.inner)))
    }

    /// Subscribes to sync events.
    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.inner.events.subscribe()
    }

    /// Subscribes to committed changes of local rows: after every commit that changes
    /// rows, which rows of which table, and why. A receiver that falls more than 1024
    /// changes behind gets [`RecvError::Lagged`](tokio::sync::broadcast::error::RecvError::Lagged)
    /// and should treat every table as changed.
    ///
    /// ```
    /// use sync_core::engine::{ChangeCause, SyncContext};
    /// use sync_core::store::MemoryStore;
    /// use sync_core::transport::MemoryRemote;
    /// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, text: String, #[version] version: Option<String> }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let ctx = SyncContext::new(MemoryStore::new(), MemoryRemote::new().transport());
    /// let mut changes = ctx.changes();
    /// let todos = ctx.table::<Todo>().await?;
    /// todos.insert(Todo { id: "a".into(), text: "milk".into(), version: None }).await?;
    /// let change = changes.try_recv().unwrap();
    /// assert_eq!((change.ids, change.cause), (vec!["a".to_string()], ChangeCause::LocalWrite));
    /// # Ok::<(), sync_core::engine::SyncError>(())
    /// # }).unwrap();
    /// ```
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    /// Queued operations, all tables.
    pub async fn pending_count(&self) -> Result<usize, SyncError> {
        self.inner.read(|tx| Ok(tx.ops(None)?.len())).await
    }

    /// Every local change not yet accepted by the server, all tables, in queue order:
    /// table, id, kind, attempts, the server's last rejection, and whether a conflict
    /// holds it back. See [`PendingOp`] for an example; [`SyncTable::pending`] lists
    /// one table's.
    ///
    /// ```
    /// use sync_core::engine::SyncContext;
    /// use sync_core::store::{MemoryStore, OpKind};
    /// use sync_core::transport::MemoryRemote;
    /// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, text: String, #[version] version: Option<String> }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let ctx = SyncContext::new(MemoryStore::new(), MemoryRemote::new().transport());
    /// let todos = ctx.table::<Todo>().await?;
    /// for id in ["a", "b"] {
    ///     todos.insert(Todo { id: id.into(), text: "milk".into(), version: None }).await?;
    /// }
    /// let ids: Vec<String> = ctx.pending().await?.into_iter().map(|op| op.id).collect();
    /// assert_eq!(ids, ["a", "b"]);
    /// ctx.push().await?;
    /// assert!(ctx.pending().await?.is_empty());
    /// # Ok::<(), sync_core::engine::SyncError>(())
    /// # }).unwrap();
    /// ```
    pub async fn pending(&self) -> Result<Vec<PendingOp>, SyncError> {
        self.inner.read(|tx| Ok(pending::list(tx, None)?)).await
    }

    /// Queued operations the server rejected (they stay queued with their error until
    /// the app fixes, cancels or retries them).
    pub async fn failed_operations(&self) -> Result<Vec<Operation>, SyncError> {
        let ops = self.inner.read(|tx| Ok(tx.ops(None)?)).await?;
        Ok(ops.into_iter().filter(|o| o.error.is_some()).collect())
    }

    /// Stored conflicts of every table, untyped.
    pub async fn all_conflicts(&self) -> Result<Vec<StoredConflict>, SyncError> {
        self.inner.read(|tx| Ok(tx.conflicts(None)?)).await
    }

    /// Sends the queue to the server. See [`PushReport`] for the outcomes.
    pub async fn push(&self) -> Result<PushReport, SyncError> {
        push::push(&self.inner, None).await
    }

    /// Syncs everything once: pushes the queue, then pulls every query registered with
    /// [`SyncTable::register_pull`], in registration order. A pull that fails ends the
    /// sync with its error (what was stored before it stays).
    ///
    /// ```
    /// use sync_core::engine::{PushStatus, SyncContext};
    /// use sync_core::store::MemoryStore;
    /// use sync_core::transport::MemoryRemote;
    /// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, text: String, #[version] version: Option<String> }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let server = MemoryRemote::new();
    /// let (phone, laptop) = (
    ///     SyncContext::new(MemoryStore::new(), server.transport()),
    ///     SyncContext::new(MemoryStore::new(), server.transport()),
    /// );
    /// let on_phone = phone.table::<Todo>().await?;
    /// let on_laptop = laptop.table::<Todo>().await?;
    /// on_laptop.register_pull("all", None).await?;
    /// on_phone.insert(Todo { id: "a".into(), text: "milk".into(), version: None }).await?;
    /// phone.sync().await?;
    /// let report = laptop.sync().await?;
    /// assert_eq!((report.push.status, report.pulls[0].received), (PushStatus::Complete, 1));
    /// assert!(on_laptop.get("a").await?.is_some());
    /// # Ok::<(), sync_core::engine::SyncError>(())
    /// # }).unwrap();
    /// ```
    pub async fn sync(&self) -> Result<SyncReport, SyncError> {
        let push = push::push(&self.inner, None).await?;
        let mut pulls = Vec::new();
        for r in self.inner.registered() {
            pulls.push(pull::pull(&self.inner, &r.table, &r.query_id, r.filter).await?);
        }
        Ok(SyncReport { push, pulls })
    }

    /// Starts a background syncer and returns its handle: it pushes soon after local
    /// writes, pulls the registered queries ([`SyncTable::register_pull`]) when the
    /// server's change feed pokes (else every [`SyncerOptions::poll_interval`]),
    /// retries failures by timer with backoff, and pauses on refused credentials.
    /// Dropping the handle, or [`Syncer::stop`], ends it. Needs a tokio runtime with
    /// time enabled. See [`Syncer`] for an example.
    pub fn spawn_syncer(&self, options: SyncerOptions) -> Syncer {
        Syncer::spawn(Arc::clone(&self.inner), options)
    }
}

/// What [`SyncContext::sync`] did.
///
/// ```
/// let r = sync_core::engine::SyncReport { push: Default::default(), pulls: Vec::new() };
/// assert!(r.pulls.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SyncReport {
    /// The push.
    pub push: PushReport,
    /// Each registered query's pull, in registration order.
    pub pulls: Vec<PullReport>,
}

/// Which kind of store transaction an engine step runs in.
#[derive(Debug)]
enum Mode {
    Read,
    Write,
}

/// Runs `f` in a store transaction (or read), carrying the engine's own errors out
/// through the rollback.
fn transact<S: Store, R>(
    store: &S,
    mode: Mode,
    f: impl FnOnce(&mut dyn StoreTx) -> Result<R, SyncError>,
) -> Result<R, SyncError> {
    let mut failure = None;
    let body = |tx: &mut dyn StoreTx| {
        f(tx).map_err(|e| match e {
            SyncError::Store(se) => se,
            other => {
                failure = Some(other);
                StoreError::Backend("rolled back".into())
            }
        })
    };
    let started = std::time::Instant::now();
    let result = match mode {
        Mode::Read => store.read(body),
        Mode::Write => store.transaction(body),
    };
    tracing::trace!(
        mode = ?mode,
        ok = result.is_ok(),
        micros = started.elapsed().as_micros() as u64,
        "store transaction"
    );
    match (result, failure) {
        (Ok(r), _) => Ok(r),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(e.into()),
    }
}

/// The columns a push sends: the item's id and data columns, never the local-only ones
/// (the server maintains the rest; the version travels as the precondition).
pub(crate) fn outgoing(schema: Option<&TableSchema>, row: &Record) -> Record {
    let mut out = Record::with_capacity(row.len());
    for (name, value) in row.iter() {
        let keep = match SystemColumn::from_name(name) {
            Some(SystemColumn::Id) => true,
            Some(_) => false,
            // Columns the struct no longer has (kept by a migration) are not sent:
            // they would overwrite newer values written by up-to-date clients.
            None => schema.is_none_or(|s| s.column(name).is_some_and(|c| !c.local)),
        };
        if keep {
            out.push(name, value.clone());
        }
    }
    out
}

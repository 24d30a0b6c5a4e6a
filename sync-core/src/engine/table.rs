//! [`SyncTable<T>`]: typed access to one synced table.

use std::marker::PhantomData;
use std::sync::Arc;

use chrono::Utc;

use crate::conflict::{Conflict, Resolution};
use crate::model::{DecodeError, Record, Syncable, SystemColumn, Value};
use crate::store::{Filter, OpKind, Query, Store, StoreTx, StoreTxExt};
use crate::transport::{Stream, Transport};

use super::columns::{self, Scope};
use super::pull::{self, PullReport};
use super::resolve::{self, RecordResolution};
use super::{ChangeCause, Inner, SyncError};

/// One table, typed. Every write commits the row and its queue entry in one
/// transaction; every read comes from the local store, never the network.
///
/// ```
/// use sync_core::engine::SyncContext;
/// use sync_core::store::{MemoryStore, Query};
/// use sync_core::transport::MemoryRemote;
/// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
/// # #[sync(crate = "sync_core")]
/// # struct Todo { id: String, text: String, complete: bool, #[version] version: Option<String> }
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let ctx = SyncContext::new(MemoryStore::new(), MemoryRemote::new().transport());
/// let todos = ctx.table::<Todo>().await?;
/// let milk = todos.insert(Todo { id: String::new(), text: "milk".into(), complete: false, version: None }).await?;
/// todos.insert(Todo { id: "b".into(), text: "bread".into(), complete: false, version: None }).await?;
/// let mut done = milk.clone();
/// done.complete = true;
/// todos.update(done).await?;
/// let c = Todo::columns();
/// let open = todos.query(Query::new().filter(c.complete.eq(false)).sort(c.text.asc())).await?;
/// assert_eq!(open.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(), ["bread"]);
/// todos.delete("b").await?;
/// assert_eq!(todos.count(None).await?, 1);
/// // The unsent insert of "b" and its delete cancelled out: one op (milk) remains.
/// assert_eq!(todos.pending_count().await?, 1);
/// # Ok::<(), sync_core::engine::SyncError>(())
/// # }).unwrap();
/// ```
pub struct SyncTable<R, S, T> {
    inner: Arc<Inner<S, T>>,
    _row: PhantomData<fn() -> R>,
}

impl<R, S, T> Clone for SyncTable<R, S, T> {
    fn clone(&self) -> Self {
        SyncTable {
            inner: Arc::clone(&self.inner),
            _row: PhantomData,
        }
    }
}

fn name<R: Syncable>() -> String {
    R::table_name().to_owned()
}

/// The record a local write stores: the item, stamped with the device time in
/// `updatedAt` (the server's time replaces it once synced; last-writer-wins compares it).
/// A value the wire cannot carry exactly is refused here, before it is stored.
fn local_row<R: Syncable>(item: &R, version: Option<String>) -> Result<Record, SyncError> {
    let mut row = item.to_record()?;
    check_sendable(R::table_name(), &row)?;
    row.set(SystemColumn::Version.name(), version);
    row.set(SystemColumn::UpdatedAt.name(), Value::DateTime(Utc::now()));
    Ok(row)
}

/// JavaScript's `Number.MAX_SAFE_INTEGER`, 2^53 − 1: beyond it a JSON number read as a
/// double (as Microsoft's Node server and most JSON readers do) is not the integer
/// written — our server refuses such a number, and another one changes it.
pub(crate) const MAX_EXACT_INTEGER: i64 = (1 << 53) - 1;

/// The app's own columns of a row hold only values the wire carries exactly, so that
/// what the app wrote is what the server stores and what comes back from it.
///
/// Each case is refused rather than adjusted, because the app's value must never
/// change under it: an integer beyond ±(2^53 − 1) (sent as a JSON number, it is
/// refused or rounded by the server), a NaN or infinite real (JSON has no such
/// number), and an instant with digits below the millisecond (instants travel as
/// `.sssZ` text, so the server's copy would be another instant — and rounding it here
/// would change the app's value just the same). System columns are the engine's and
/// not sent; a JSON column's document is sent as the app built it.
pub(crate) fn check_sendable(table: &str, row: &Record) -> Result<(), SyncError> {
    for (column, value) in row.iter() {
        if SystemColumn::from_name(column).is_some() {
            continue;
        }
        let reason = match value {
            Value::Integer(i) if i.unsigned_abs() > MAX_EXACT_INTEGER.unsigned_abs() => format!(
                "the integer {i} is beyond ±(2^53 − 1), the largest integers a JSON number \
                 carries exactly (servers read JSON numbers as doubles); keep such numbers \
                 in a text field"
            ),
            Value::Real(f) if !f.is_finite() => format!(
                "the real {f} cannot be sent: a JSON number is finite (no NaN or infinity); \
                 use an optional field for \"no value\""
            ),
            Value::DateTime(t) if t.timestamp_subsec_nanos() % 1_000_000 != 0 => format!(
                "the instant {} has digits below the millisecond, which the wire drops \
                 (instants travel as `.sssZ` text, so the server would keep another \
                 instant); round it to milliseconds first, e.g. with chrono's \
                 `DurationRound::duration_trunc(TimeDelta::milliseconds(1))`",
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
            _ => continue,
        };
        return Err(SyncError::ValueNotSendable {
            table: table.to_owned(),
            column: column.to_owned(),
            reason,
        });
    }
    Ok(())
}

impl<R, S, T> SyncTable<R, S, T>
where
    R: Syncable + Send + 'static,
    S: Store,
    T: Transport,
{
    pub(crate) fn new(inner: Arc<Inner<S, T>>) -> Self {
        SyncTable {
            inner,
            _row: PhantomData,
        }
    }

    /// Inserts an item locally and queues its insert. An empty id gets a UUID; the
    /// item is returned with it.
    pub async fn insert(&self, mut item: R) -> Result<R, SyncError> {
        if item.id().is_empty() {
            item.set_id(uuid::Uuid::new_v4().to_string());
        }
        item.set_version(None);
        let row = local_row(&item, None)?;
        let id = item.id().to_owned();
        self.inner
            .tx(move |tx| {
                if tx.get(R::table_name(), &id)?.is_some() {
                    return Err(SyncError::AlreadyExists {
                        table: name::<R>(),
                        id,
                    });
                }
                tx.upsert(R::table_name(), &row)?;
                tx.enqueue(R::table_name(), &id, OpKind::Insert, None, None)?;
                Ok(())
            })
            .await?;
        self.inner.changed(
            R::table_name(),
            vec![item.id().to_owned()],
            ChangeCause::LocalWrite,
        );
        Ok(item)
    }

    /// Updates an item locally and queues the update (collapsing into a pending
    /// operation). The version stays the stored one: the push's precondition is the
    /// server version this device last saw.
    ///
    /// An item whose synced fields all equal the stored row's changes nothing: nothing
    /// is queued, and an operation already queued for the item stays exactly as it is;
    /// only its local-only (`#[sync(local)]`) fields are stored, if it has any. So saving what [`get`](SyncTable::get) returned never sends anything,
    /// and never turns a server change made meanwhile into a conflict.
    ///
    /// ```
    /// use sync_core::engine::SyncContext;
    /// use sync_core::store::MemoryStore;
    /// use sync_core::transport::MemoryRemote;
    /// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, text: String, #[version] version: Option<String> }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let ctx = SyncContext::new(MemoryStore::new(), MemoryRemote::new().transport());
    /// let todos = ctx.table::<Todo>().await?;
    /// let milk = todos.insert(Todo { id: String::new(), text: "milk".into(), version: None }).await?;
    /// ctx.push().await?;
    /// todos.update(milk.clone()).await?; // the same value: nothing to send
    /// assert_eq!(ctx.pending_count().await?, 0);
    /// todos.update(Todo { text: "oat milk".into(), ..milk }).await?;
    /// assert_eq!(ctx.pending_count().await?, 1);
    /// # Ok::<(), sync_core::engine::SyncError>(())
    /// # }).unwrap();
    /// ```
    pub async fn update(&self, item: R) -> Result<(), SyncError> {
        let id = item.id().to_owned();
        let changed_id = id.clone();
        let mut row = local_row(&item, None)?;
        let changed = self
            .inner
            .tx(move |tx| {
                let Some(stored) = tx.get(R::table_name(), &id)? else {
                    return Err(SyncError::NotFound {
                        table: name::<R>(),
                        id,
                    });
                };
                if unchanged(&item, &stored) {
                    // Nothing to send; a change to local-only fields is stored as it is.
                    let mut local = R::schema().local_columns().peekable();
                    if local.peek().is_some() {
                        let mut kept = stored;
                        for col in local {
                            if let Some(v) = row.get(&col.name) {
                                kept.set(col.name.as_str(), v.clone());
                            }
                        }
                        tx.upsert(R::table_name(), &kept)?;
                        return Ok(true);
                    }
                    return Ok(false);
                }
                let version = stored.version().map(str::to_owned);
                keep_base(tx, R::table_name(), &id, &stored)?;
                row.set(SystemColumn::Version.name(), version.clone());
                for col in [SystemColumn::CreatedAt] {
                    if let Some(v) = stored.get(col.name()) {
                        row.set(col.name(), v.clone());
                    }
                }
                tx.upsert(R::table_name(), &row)?;
                tx.enqueue(R::table_name(), &id, OpKind::Update, version, None)?;
                Ok(true)
            })
            .await?;
        if changed {
            self.inner
                .changed(R::table_name(), vec![changed_id], ChangeCause::LocalWrite);
        }
        Ok(())
    }

    /// Deletes an item locally and queues the delete (an insert never sent simply
    /// disappears from the queue).
    pub async fn delete(&self, id: &str) -> Result<(), SyncError> {
        let changed_id = id.to_owned();
        let id = id.to_owned();
        self.inner
            .tx(move |tx| {
                let Some(stored) = tx.get(R::table_name(), &id)? else {
                    return Err(SyncError::NotFound {
                        table: name::<R>(),
                        id,
                    });
                };
                let version = stored.version().map(str::to_owned);
                keep_base(tx, R::table_name(), &id, &stored)?;
                tx.delete(R::table_name(), &id)?;
                tx.enqueue(R::table_name(), &id, OpKind::Delete, version, Some(stored))?;
                Ok(())
            })
            .await?;
        self.inner
            .changed(R::table_name(), vec![changed_id], ChangeCause::LocalWrite);
        Ok(())
    }

    /// One item by id.
    pub async fn get(&self, id: &str) -> Result<Option<R>, SyncError> {
        let id = id.to_owned();
        let row = self
            .inner
            .read(move |tx| Ok(tx.get(R::table_name(), &id)?))
            .await?;
        Ok(row.map(R::from_record).transpose()?)
    }

    /// Items matching a query. A row that does not decode into `R` fails the whole read
    /// with a [`SyncError::Decode`] naming the table, the row's id and the column;
    /// [`query_results`](SyncTable::query_results) reads the other rows nonetheless.
    ///
    /// The query's filter and sort keys name columns of `R`'s schema: a name that is
    /// not one (a typo in a string filter, a removed field's column still in the store)
    /// is a [`StoreError::UnknownColumn`](crate::store::StoreError::UnknownColumn)
    /// naming the table and the column, as in a [`count`](SyncTable::count) or a
    /// [`pull`](SyncTable::pull). The typed handles of `R::columns()` cannot be wrong.
    ///
    /// ```
    /// use sync_core::engine::{SyncContext, SyncError};
    /// use sync_core::store::{Filter, MemoryStore, Query, StoreError};
    /// use sync_core::transport::MemoryRemote;
    /// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, text: String, due_date: Option<chrono::NaiveDate>, #[version] version: Option<String> }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let ctx = SyncContext::new(MemoryStore::new(), MemoryRemote::new().transport());
    /// let todos = ctx.table::<Todo>().await?;
    /// todos.insert(Todo { id: "a".into(), text: "milk".into(), due_date: None, version: None }).await?;
    /// let undated = todos.query(Query::new().filter(Todo::columns().due_date.is_null())).await?;
    /// assert_eq!(undated.len(), 1);
    /// let e = todos.query(Query::new().filter(Filter::is_null("due_date"))).await.unwrap_err();
    /// assert_eq!(e.to_string(), "table `Todo`: no column `due_date`"); // the column is `dueDate`
    /// # Ok::<(), SyncError>(())
    /// # }).unwrap();
    /// ```
    pub async fn query(&self, query: Query) -> Result<Vec<R>, SyncError> {
        Ok(self
            .query_results(query)
            .await?
            .into_iter()
            .collect::<Result<_, _>>()?)
    }

    /// The items matching a query, live: the current result first, then a new one after
    /// every committed change of this table that alters it — a local write, a pulled
    /// page, a push answer that rewrote a row (a server-assigned version), a resolution,
    /// a purge. Changes of other tables never re-run the query.
    ///
    /// Commits made while the stream is not polled are coalesced: however many there
    /// were, the next poll re-runs the query once. A result equal to the last one
    /// yielded is not yielded again (hence `R: PartialEq`; `Clone` keeps that last
    /// result). An error (the store failed, a row does not decode) is yielded in its
    /// place and the stream goes on. The stream holds the context weakly and ends when
    /// every handle on the context is dropped.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use sync_core::engine::SyncContext;
    /// use sync_core::store::{MemoryStore, Query};
    /// use sync_core::transport::MemoryRemote;
    /// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, text: String, complete: bool, #[version] version: Option<String> }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let ctx = SyncContext::new(MemoryStore::new(), MemoryRemote::new().transport());
    /// let todos = ctx.table::<Todo>().await?;
    /// let open = Query::new().filter(Todo::columns().complete.eq(false));
    /// let mut live = std::pin::pin!(todos.watch(open));
    /// assert!(live.next().await.unwrap()?.is_empty());
    /// for text in ["milk", "bread"] {
    ///     todos.insert(Todo { id: text.into(), text: text.into(), complete: false, version: None }).await?;
    /// }
    /// // Two commits, one new result holding both.
    /// assert_eq!(live.next().await.unwrap()?.len(), 2);
    /// drop((todos, ctx));
    /// assert!(live.next().await.is_none(), "the context is gone");
    /// # Ok::<(), sync_core::engine::SyncError>(())
    /// # }).unwrap();
    /// ```
    pub fn watch(
        &self,
        query: Query,
    ) -> impl Stream<Item = Result<Vec<R>, SyncError>> + Send + 'static
    where
        R: Clone + PartialEq,
    {
        let table = R::table_name();
        super::live::live(
            &self.inner,
            move |change| change.table.eq_ignore_ascii_case(table),
            move |inner| {
                let query = query.clone();
                async move { SyncTable::<R, S, T>::new(inner).query(query).await }
            },
        )
    }

    /// One item, live: as [`get`](SyncTable::get) now (`None` when absent), then again
    /// after every committed change that may have touched this item (or the whole
    /// table, as a purge does), yielded only when it differs. Coalescing and the end of
    /// the stream are as for [`watch`](SyncTable::watch).
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use sync_core::engine::SyncContext;
    /// use sync_core::store::MemoryStore;
    /// use sync_core::transport::MemoryRemote;
    /// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, text: String, #[version] version: Option<String> }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let ctx = SyncContext::new(MemoryStore::new(), MemoryRemote::new().transport());
    /// let todos = ctx.table::<Todo>().await?;
    /// let mut milk = std::pin::pin!(todos.watch_one("milk"));
    /// assert_eq!(milk.next().await.unwrap()?, None);
    /// todos.insert(Todo { id: "bread".into(), text: "bread".into(), version: None }).await?;
    /// todos.insert(Todo { id: "milk".into(), text: "milk".into(), version: None }).await?;
    /// assert_eq!(milk.next().await.unwrap()?.map(|t| t.text), Some("milk".to_string()));
    /// # Ok::<(), sync_core::engine::SyncError>(())
    /// # }).unwrap();
    /// ```
    pub fn watch_one(
        &self,
        id: &str,
    ) -> impl Stream<Item = Result<Option<R>, SyncError>> + Send + 'static
    where
        R: Clone + PartialEq,
    {
        let table = R::table_name();
        let (wake_id, read_id) = (id.to_owned(), id.to_owned());
        super::live::live(
            &self.inner,
            move |change| change.touches(table, &wake_id),
            move |inner| {
                let id = read_id.clone();
                async move { SyncTable::<R, S, T>::new(inner).get(&id).await }
            },
        )
    }

    /// Every item, in id order. A row that does not decode fails the whole read (see
    /// [`query`](SyncTable::query)); [`all_results`](SyncTable::all_results) does not.
    pub async fn all(&self) -> Result<Vec<R>, SyncError> {
        self.query(Query::new()).await
    }

    /// Items matching a query, each row decoded on its own: a row that does not decode
    /// into `R` is an `Err` in its place, naming the table, the row's id and the column,
    /// and the rows around it are still there. The outer `Err` is for the read itself
    /// (the store failed). See [`all_results`](SyncTable::all_results) for an example.
    pub async fn query_results(
        &self,
        query: Query,
    ) -> Result<Vec<Result<R, DecodeError>>, SyncError> {
        columns::check_query(R::schema(), &query)?;
        let rows = self
            .inner
            .read(move |tx| Ok(tx.query(R::table_name(), &query)?))
            .await?;
        Ok(rows.into_iter().map(R::from_record).collect())
    }

    /// Every item, in id order, each row decoded on its own (see
    /// [`query_results`](SyncTable::query_results)): one row that does not decode, such
    /// as a row written before a field without a default was added, hides none of the
    /// others.
    ///
    /// ```
    /// use sync_core::Record;
    /// use sync_core::engine::SyncContext;
    /// use sync_core::store::{MemoryStore, Store};
    /// use sync_core::transport::MemoryRemote;
    /// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, text: String, priority: i64, #[version] version: Option<String> }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let ctx = SyncContext::new(MemoryStore::new(), MemoryRemote::new().transport());
    /// let todos = ctx.table::<Todo>().await?;
    /// todos.insert(Todo { id: "a".into(), text: "milk".into(), priority: 1, version: None }).await?;
    /// // A row stored without `priority` (written before the field existed):
    /// let mut old = Record::new();
    /// old.set("id", "b");
    /// old.set("text", "bread");
    /// ctx.store().transaction(|tx| tx.upsert("Todo", &old))?;
    ///
    /// let err = todos.all().await.unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "table `Todo`, item `b`, column `priority`: expected i64, found null; a field added \
    ///      after this row was written needs `#[sync(default)]` or an `Option` type"
    /// );
    ///
    /// let rows = todos.all_results().await?;
    /// assert_eq!(rows.len(), 2);
    /// assert_eq!(rows[0].as_ref().map(|t| t.text.as_str()), Ok("milk"));
    /// let bad = rows[1].as_ref().unwrap_err();
    /// assert_eq!((bad.id.as_deref(), bad.column.as_str()), (Some("b"), "priority"));
    /// # Ok::<(), sync_core::engine::SyncError>(())
    /// # }).unwrap();
    /// ```
    pub async fn all_results(&self) -> Result<Vec<Result<R, DecodeError>>, SyncError> {
        self.query_results(Query::new()).await
    }

    /// How many items match (all when `None`). The filter's columns are checked like
    /// a [`query`](SyncTable::query)'s; a local-only column may be used.
    ///
    /// ```
    /// use sync_core::engine::SyncContext;
    /// use sync_core::store::MemoryStore;
    /// use sync_core::transport::MemoryRemote;
    /// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, text: String, #[sync(local)] starred: bool, #[version] version: Option<String> }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let ctx = SyncContext::new(MemoryStore::new(), MemoryRemote::new().transport());
    /// let todos = ctx.table::<Todo>().await?;
    /// todos.insert(Todo { id: "a".into(), text: "milk".into(), starred: true, version: None }).await?;
    /// todos.insert(Todo { id: "b".into(), text: "bread".into(), starred: false, version: None }).await?;
    /// assert_eq!(todos.count(Some(Todo::columns().starred.eq(true))).await?, 1);
    /// assert_eq!(todos.count(None).await?, 2);
    /// # Ok::<(), sync_core::engine::SyncError>(())
    /// # }).unwrap();
    /// ```
    pub async fn count(&self, filter: Option<Filter>) -> Result<u64, SyncError> {
        if let Some(f) = &filter {
            columns::check_filter(R::schema(), f, Scope::Local)?;
        }
        self.inner
            .read(move |tx| Ok(tx.count(R::table_name(), filter.as_ref())?))
            .await
    }

    /// Queued operations of this table.
    pub async fn pending_count(&self) -> Result<usize, SyncError> {
        self.inner
            .read(|tx| Ok(tx.ops(Some(R::table_name()))?))
            .await
            .map(|v| v.len())
    }

    /// This table's local changes not yet accepted by the server, in queue order (see
    /// [`PendingOp`](super::PendingOp)).
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
    /// todos.insert(Todo { id: "t1".into(), text: "milk".into(), version: None }).await?;
    /// ctx.push().await?;
    /// todos.delete("t1").await?;
    /// let kinds: Vec<_> = todos.pending().await?.into_iter().map(|op| (op.id, op.kind)).collect();
    /// assert_eq!(kinds, [("t1".to_string(), OpKind::Delete)]);
    /// # Ok::<(), sync_core::engine::SyncError>(())
    /// # }).unwrap();
    /// ```
    pub async fn pending(&self) -> Result<Vec<super::PendingOp>, SyncError> {
        self.inner
            .read(|tx| Ok(super::pending::list(tx, Some(R::table_name()))?))
            .await
    }

    /// Pulls the server's changes for this query id (incremental from the last pull
    /// of the same query id). Pushes this table's pending operations first.
    ///
    /// The filter is checked before anything is sent: a column `R` does not have is a
    /// [`StoreError::UnknownColumn`](crate::store::StoreError::UnknownColumn), as in a
    /// local [`query`](SyncTable::query) (a server would answer it with no rows), and a
    /// local-only one a [`SyncError::LocalOnlyColumn`].
    ///
    /// ```
    /// use sync_core::engine::SyncContext;
    /// use sync_core::store::MemoryStore;
    /// use sync_core::transport::MemoryRemote;
    /// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, list: String, #[version] version: Option<String> }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let server = MemoryRemote::new();
    /// let phone = SyncContext::new(MemoryStore::new(), server.transport());
    /// let todos = phone.table::<Todo>().await?;
    /// todos.insert(Todo { id: "a".into(), list: "home".into(), version: None }).await?;
    /// todos.insert(Todo { id: "b".into(), list: "work".into(), version: None }).await?;
    /// phone.push().await?;
    ///
    /// let laptop = SyncContext::new(MemoryStore::new(), server.transport());
    /// let home = laptop.table::<Todo>().await?;
    /// let report = home.pull("home", Some(Todo::columns().list.eq("home"))).await?;
    /// assert_eq!(report.received, 1);
    /// # Ok::<(), sync_core::engine::SyncError>(())
    /// # }).unwrap();
    /// ```
    pub async fn pull(
        &self,
        query_id: &str,
        filter: Option<Filter>,
    ) -> Result<PullReport, SyncError> {
        pull::pull(&self.inner, R::table_name(), query_id, filter).await
    }

    /// Registers a query of this table for [`SyncContext::sync`](super::SyncContext::sync)
    /// and the background syncer to pull, under `query_id` (its watermark's name, as in
    /// [`pull`](SyncTable::pull)); registering the same `query_id` again replaces its
    /// filter. The filter is checked against the schema now.
    ///
    /// ```
    /// use sync_core::engine::SyncContext;
    /// use sync_core::store::MemoryStore;
    /// use sync_core::transport::MemoryRemote;
    /// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, text: String, #[version] version: Option<String> }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let ctx = SyncContext::new(MemoryStore::new(), MemoryRemote::new().transport());
    /// let todos = ctx.table::<Todo>().await?;
    /// todos.register_pull("milk", Some(Todo::columns().text.eq("milk"))).await?;
    /// assert_eq!(ctx.sync().await?.pulls.len(), 1);
    /// # Ok::<(), sync_core::engine::SyncError>(())
    /// # }).unwrap();
    /// ```
    pub async fn register_pull(
        &self,
        query_id: &str,
        filter: Option<Filter>,
    ) -> Result<(), SyncError> {
        if let Some(f) = &filter {
            columns::check_filter(R::schema(), f, Scope::Pull)?;
        }
        self.inner.register(super::syncer::Registration {
            table: R::table_name().to_owned(),
            query_id: query_id.to_owned(),
            filter,
        });
        Ok(())
    }

    /// Drops the local rows, base copies, watermarks and conflicts of this table.
    /// Refuses while operations are pending unless `force`, which drops them too.
    /// Announced as a [`Change`](super::Change) of the whole table (no ids).
    pub async fn purge(&self, force: bool) -> Result<u64, SyncError> {
        let purged = self
            .inner
            .tx(move |tx| {
                let ops = tx.ops(Some(R::table_name()))?;
                if !ops.is_empty() && !force {
                    return Err(SyncError::PendingOperations {
                        table: name::<R>(),
                        count: ops.len(),
                    });
                }
                for op in &ops {
                    tx.remove_op(&op.table, &op.item_id)?;
                }
                Ok(tx.clear_table(R::table_name())?)
            })
            .await?;
        self.inner
            .changed(R::table_name(), Vec::new(), ChangeCause::Purge);
        Ok(purged)
    }

    /// The conflicts stored for this table, oldest first, typed. `local` is the item as
    /// the device holds it now (`None` when deleted locally).
    pub async fn conflicts(&self) -> Result<Vec<Conflict<R>>, SyncError> {
        let stored = self
            .inner
            .read(|tx| {
                let mut conflicts = tx.conflicts(Some(R::table_name()))?;
                // The local side is what the device holds now: the app may have edited
                // the item since the conflict was found.
                for c in &mut conflicts {
                    c.local = tx.get(R::table_name(), &c.item_id)?;
                }
                Ok(conflicts)
            })
            .await?;
        stored.iter().map(resolve::typed_conflict::<R>).collect()
    }

    /// Resolves a stored conflict; the next push sends the result.
    pub async fn resolve(&self, id: &str, resolution: Resolution<R>) -> Result<(), SyncError> {
        let resolution = match resolution {
            Resolution::KeepLocal => RecordResolution::KeepLocal,
            Resolution::KeepRemote => RecordResolution::KeepRemote,
            Resolution::Use(v) => {
                let row = v.to_record()?;
                check_sendable(R::table_name(), &row)?;
                RecordResolution::Use(row)
            }
        };
        let id = id.to_owned();
        let changed_id = id.clone();
        self.inner
            .tx(move |tx| {
                let Some(c) = tx.conflict(R::table_name(), &id)? else {
                    return Err(SyncError::NoConflict {
                        table: name::<R>(),
                        id,
                    });
                };
                resolve::apply(tx, &c, resolution)
            })
            .await?;
        self.inner
            .changed(R::table_name(), vec![changed_id], ChangeCause::Resolve);
        Ok(())
    }

    /// Keeps the local side of a conflict.
    pub async fn keep_local(&self, id: &str) -> Result<(), SyncError> {
        self.resolve(id, Resolution::KeepLocal).await
    }

    /// Takes the server's side of a conflict.
    pub async fn keep_remote(&self, id: &str) -> Result<(), SyncError> {
        self.resolve(id, Resolution::KeepRemote).await
    }

    /// Resolves a conflict with a merged value.
    pub async fn use_value(&self, value: R) -> Result<(), SyncError> {
        let id = value.id().to_owned();
        self.resolve(&id, Resolution::Use(value)).await
    }

    /// Cancels a (failed) operation and restores the last synced copy of the item
    /// (or removes it if it never reached the server).
    pub async fn cancel_and_discard(&self, id: &str) -> Result<(), SyncError> {
        let id = id.to_owned();
        let changed_id = id.clone();
        self.inner
            .tx(move |tx| {
                if !tx.remove_op(R::table_name(), &id)? {
                    return Err(no_op::<R>(&id));
                }
                restore_base(tx, R::table_name(), &id)?;
                Ok(())
            })
            .await?;
        self.inner
            .changed(R::table_name(), vec![changed_id], ChangeCause::Resolve);
        Ok(())
    }

    /// Cancels a (failed) operation and stores this value locally without queueing
    /// it (typically the server's copy carried by the error).
    pub async fn cancel_and_take(&self, value: R) -> Result<(), SyncError> {
        let row = value.to_record()?;
        let id = value.id().to_owned();
        let changed_id = id.clone();
        self.inner
            .tx(move |tx| {
                if !tx.remove_op(R::table_name(), &id)? {
                    return Err(no_op::<R>(&id));
                }
                tx.upsert(R::table_name(), &row)?;
                tx.remove_base(R::table_name(), &id)?;
                Ok(())
            })
            .await?;
        self.inner
            .changed(R::table_name(), vec![changed_id], ChangeCause::Resolve);
        Ok(())
    }
}

/// Whether `item` holds exactly what is stored for it, field by field as the store
/// would keep them. A stored row that no longer decodes (a schema change) counts as
/// changed: writing the item is then the way to repair it.
fn unchanged<R: Syncable>(item: &R, stored: &Record) -> bool {
    R::from_record(stored.clone()).is_ok_and(|stored| item.changed_columns(&stored).is_empty())
}

fn no_op<R: Syncable>(id: &str) -> SyncError {
    SyncError::Store(crate::store::StoreError::NoOperation {
        table: name::<R>(),
        id: id.to_owned(),
    })
}

/// Puts the last synced copy back and forgets it (its operation was cancelled).
/// Local-only columns are not the base's to restore: they keep their stored values.
fn restore_base(tx: &mut dyn StoreTx, table: &str, id: &str) -> Result<(), SyncError> {
    match tx.base(table, id)? {
        Some(base) => {
            let schema = super::resolve::stored_schema(tx, table)?;
            let row = super::resolve::keeping_local_columns(tx, &schema, table, id, &base)?;
            tx.upsert(table, &row)?
        }
        None => {
            tx.delete(table, id)?;
        }
    }
    tx.remove_base(table, id)?;
    Ok(())
}

/// Captures the base of a 3-way merge with the first local change to an item: with no
/// operation pending, the stored row is the last copy both sides agreed on. Later
/// changes keep that base until the operation ends.
fn keep_base(
    tx: &mut dyn StoreTx,
    table: &str,
    id: &str,
    stored: &Record,
) -> Result<(), crate::store::StoreError> {
    if tx.op(table, id)?.is_none() {
        tx.set_base(table, stored)?;
    }
    Ok(())
}

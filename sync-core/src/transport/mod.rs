//! The network side: the [`Transport`] trait the engine pushes and pulls through, and
//! [`MemoryRemote`], an in-process server with the exact server semantics and fault
//! injection, for tests; both it and the tablesync server decide writes by the rules in
//! [`protocol`].
//!
//! A transport moves [`Record`]s. What it sends for an insert or update is the item's id
//! and data columns (the engine strips the server-maintained columns); what it returns
//! is the server's full copy, system columns included (`updatedAt` as the server's text).

mod error;
mod memory;
pub mod protocol;

pub use error::{NetworkKind, TransportError};
pub use memory::{AppliedWrite, Fault, MemoryRemote, MemoryTransport};

use std::future::Future;

pub use futures_core::Stream;
/// `next()` and the other combinators on a [`Stream`] (a pull's pages, a change feed, a
/// live query), so that an app needs no crate of its own to read them.
pub use futures_util::StreamExt;

use crate::model::{Record, TableSchema};
use crate::store::{Filter, Watermark};

/// One page request of an incremental pull.
///
/// ```
/// use sync_core::transport::PullRequest;
/// let r = PullRequest::new(100);
/// assert_eq!((r.page_size, r.include_deleted, r.after.is_none()), (100, true, true));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PullRequest {
    /// Only rows after this `(updatedAt, id)`, in that order (`None`: from the start).
    pub after: Option<Watermark>,
    /// At most this many rows.
    pub page_size: u32,
    /// Include soft-deleted rows (an incremental pull needs them to learn of deletes).
    pub include_deleted: bool,
    /// The app's own condition on the rows, and-ed with the keyset condition.
    pub filter: Option<Filter>,
}

impl PullRequest {
    /// A first-page request including deleted rows.
    pub fn new(page_size: u32) -> PullRequest {
        PullRequest {
            after: None,
            page_size,
            include_deleted: true,
            filter: None,
        }
    }
}

/// One page of a pull, ordered by `(updatedAt, id)`.
///
/// ```
/// let p = sync_core::transport::PullPage { records: vec![], last: None, more: false, total: None };
/// assert!(p.records.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PullPage {
    /// The rows, full server copies.
    pub records: Vec<Record>,
    /// The watermark of the last row, with `updatedAt` exactly as the server wrote it.
    pub last: Option<Watermark>,
    /// Whether more rows may follow.
    pub more: bool,
    /// How many rows the pull has to go, counted from this page's first row, when the
    /// server said (the first page of a tablesync stream): for a progress bar.
    pub total: Option<u64>,
}

/// One write of a push batch: what [`Transport::insert`], [`Transport::update`] or
/// [`Transport::delete`] would send, and the key that makes sending it again safe.
///
/// ```
/// use sync_core::transport::{BatchWrite, Write};
/// let w = BatchWrite::new("q7.2", "Todo", Write::Delete { id: "a".into(), expected_version: None });
/// assert_eq!(w.key, "q7.2");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BatchWrite {
    /// Names the operation, not the attempt: the same operation sent again carries the
    /// same key, so a server that records keys applies it once.
    pub key: String,
    /// The table.
    pub table: String,
    /// The write.
    pub write: Write,
}

impl BatchWrite {
    /// A write with its key; see the type's example.
    pub fn new(key: impl Into<String>, table: impl Into<String>, write: Write) -> BatchWrite {
        BatchWrite {
            key: key.into(),
            table: table.into(),
            write,
        }
    }
}

/// What a [`BatchWrite`] does.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// As [`Transport::insert`].
    Insert {
        /// The item.
        item: Record,
    },
    /// As [`Transport::update`].
    Update {
        /// The item (with its id).
        item: Record,
        /// The version it was based on.
        expected_version: Option<String>,
    },
    /// As [`Transport::delete`].
    Delete {
        /// The item's id.
        id: String,
        /// The version it was based on.
        expected_version: Option<String>,
    },
}

/// The answer to one [`BatchWrite`]: what its single call would have answered (a row
/// for an insert or update; a delete's row when the server sends one).
pub type WriteResult = Result<Option<Record>, TransportError>;

/// How the engine talks to a server. Implemented by `sync_http::HttpTransport` and by
/// [`MemoryTransport`].
///
/// Each call is one request; retrying transient failures is the transport's business,
/// and what is left is reported as a [`TransportError`] the engine can act on.
pub trait Transport: Send + Sync + 'static {
    /// Told the schema of each table the app registers, so that a transport whose wire
    /// format loses types (JSON has no dates or bytes) can decode answers exactly.
    /// The default ignores it.
    fn register_schema(&self, schema: &TableSchema) {
        let _ = schema;
    }

    /// Inserts an item (`id` set by the client). Answers the server's copy; an existing
    /// id is [`TransportError::Conflict`] with the server's copy.
    fn insert(
        &self,
        table: &str,
        item: Record,
    ) -> impl Future<Output = Result<Record, TransportError>> + Send;

    /// Updates an item, conditionally on `expected_version` when given. A stale version
    /// is [`TransportError::PreconditionFailed`] with the server's copy.
    fn update(
        &self,
        table: &str,
        item: Record,
        expected_version: Option<String>,
    ) -> impl Future<Output = Result<Record, TransportError>> + Send;

    /// Deletes an item, conditionally on `expected_version` when given. Answers the
    /// server's copy of the deleted row when the server sends one.
    fn delete(
        &self,
        table: &str,
        id: &str,
        expected_version: Option<String>,
    ) -> impl Future<Output = Result<Option<Record>, TransportError>> + Send;

    /// The server's copy of one item; `None` when it does not exist or was deleted.
    /// (The reference server answers a 409 with the request echoed, so a client must
    /// fetch the real server copy.)
    fn get(
        &self,
        table: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Record>, TransportError>> + Send;

    /// One page of rows after a watermark, in `(updatedAt, id)` order.
    fn pull(
        &self,
        table: &str,
        request: PullRequest,
    ) -> impl Future<Output = Result<PullPage, TransportError>> + Send;

    /// The rows after `request.after` as a stream of pages, in `(updatedAt, id)` order:
    /// each page's `last` is the watermark to store with it, and every page but the last
    /// says `more`. The stream ends after a page that does not say `more`; a stream that
    /// ends after one that does was cut short by the server on purpose (a bound on one
    /// answer) and the engine opens another after the last page it stored. An error
    /// ends the stream.
    ///
    /// The default asks [`pull`](Transport::pull) for one page at a time, each request
    /// made when the page before it has been taken. `HttpTransport` reads one streamed
    /// answer from a server that offers it (the `tablesync` extension) and cuts it into
    /// pages, so a pull of N rows is not N/page_size round trips.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use futures_util::StreamExt;
    /// use sync_core::transport::{MemoryRemote, PullRequest, Transport};
    /// use sync_core::Record;
    /// let transport = MemoryRemote::new().transport();
    /// for id in ["a", "b", "c"] {
    ///     let mut item = Record::new();
    ///     item.set("id", id);
    ///     transport.insert("Todo", item).await.unwrap();
    /// }
    /// let pages: Vec<_> = transport.pull_stream("Todo", PullRequest::new(2)).collect().await;
    /// let sizes: Vec<usize> = pages.iter().map(|p| p.as_ref().unwrap().records.len()).collect();
    /// assert_eq!(sizes, [2, 1]);
    /// # });
    /// ```
    fn pull_stream<'a>(
        &'a self,
        table: &'a str,
        request: PullRequest,
    ) -> impl Stream<Item = Result<PullPage, TransportError>> + Send + 'a {
        page_by_page(self, table, request)
    }

    /// Sends writes in order and answers each, in order: one result per write, each
    /// meaning what its single call's answer means. Once a result stops the push
    /// ([`TransportError::stops_push`]: the network, the credentials), the writes after
    /// it are not sent and get that error too.
    ///
    /// The default sends them one call at a time. `HttpTransport` sends them in
    /// batches to a server that offers them (the `tablesync` extension), each write
    /// with its key, so that a batch sent again after a lost answer applies nothing
    /// twice.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use sync_core::transport::{BatchWrite, MemoryRemote, Transport, Write};
    /// use sync_core::Record;
    /// let transport = MemoryRemote::new().transport();
    /// let mut item = Record::new();
    /// item.set("id", "a");
    /// let writes = vec![
    ///     BatchWrite::new("k1", "Todo", Write::Insert { item }),
    ///     BatchWrite::new("k2", "Todo", Write::Delete { id: "nope".into(), expected_version: None }),
    /// ];
    /// let results = transport.push_batch(writes).await;
    /// assert!(results[0].as_ref().unwrap().is_some());
    /// assert!(results[1].as_ref().is_err());
    /// # });
    /// ```
    fn push_batch(&self, writes: Vec<BatchWrite>) -> impl Future<Output = Vec<WriteResult>> + Send {
        one_at_a_time(self, writes)
    }

    /// Opens the server's change feed for these tables: a stream of [`Poke`]s, each
    /// saying that rows past a client's watermark may exist in a table, so that it is
    /// worth pulling now. `last_event_id` is the [`Poke::event_id`] of the last poke
    /// the caller saw on an earlier feed: the server then pokes at once about whatever
    /// changed since (or about every table, when it cannot tell).
    ///
    /// `Ok(None)`: the server offers no feed (Microsoft's does not); the caller polls
    /// instead. The default. A feed ends with an error, or ends when the server or the
    /// network drops it; the caller opens it again (with backoff). Heartbeats are the
    /// transport's own: they never reach the stream.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use sync_core::transport::{Transport, TransportError, ChangeStream};
    /// struct NoFeed;
    /// # impl Transport for NoFeed {
    /// #   async fn insert(&self, _: &str, i: sync_core::Record) -> Result<sync_core::Record, TransportError> { Ok(i) }
    /// #   async fn update(&self, _: &str, i: sync_core::Record, _: Option<String>) -> Result<sync_core::Record, TransportError> { Ok(i) }
    /// #   async fn delete(&self, _: &str, _: &str, _: Option<String>) -> Result<Option<sync_core::Record>, TransportError> { Ok(None) }
    /// #   async fn get(&self, _: &str, _: &str) -> Result<Option<sync_core::Record>, TransportError> { Ok(None) }
    /// #   async fn pull(&self, _: &str, _: sync_core::transport::PullRequest) -> Result<sync_core::transport::PullPage, TransportError> { unimplemented!() }
    /// # }
    /// let feed: Option<ChangeStream> = NoFeed.change_feed(vec!["Todo".into()], None).await?;
    /// assert!(feed.is_none(), "no feed: poll");
    /// # Ok::<(), TransportError>(())
    /// # });
    /// ```
    fn change_feed(
        &self,
        tables: Vec<String>,
        last_event_id: Option<String>,
    ) -> impl Future<Output = Result<Option<ChangeStream>, TransportError>> + Send {
        let _ = (tables, last_event_id);
        std::future::ready(Ok(None))
    }
}

/// What a change feed yields: [`Transport::change_feed`].
pub type ChangeStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<Poke, TransportError>> + Send + 'static>>;

/// A change feed's news: rows past a client's watermark may exist in `table`.
///
/// ```
/// let poke = sync_core::transport::Poke::new("Todo", Some("17".into()));
/// assert_eq!((poke.table.as_str(), poke.event_id.as_deref()), ("Todo", Some("17")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Poke {
    /// The table, as the caller named it.
    pub table: String,
    /// The event's id, to resume a later feed from ([`Transport::change_feed`]).
    pub event_id: Option<String>,
}

impl Poke {
    /// A poke about `table`.
    pub fn new(table: impl Into<String>, event_id: Option<String>) -> Poke {
        Poke {
            table: table.into(),
            event_id,
        }
    }
}

/// [`Transport::pull_stream`] one [`Transport::pull`] at a time: what the default does,
/// for a transport that streams only sometimes (`HttpTransport` against a server
/// without streams). A page that says `more` but holds no row, or no watermark to go
/// on from, ends the stream (the engine reports the second as malformed).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use futures_util::StreamExt;
/// use sync_core::transport::{MemoryRemote, PullRequest, page_by_page};
/// let transport = MemoryRemote::new().transport();
/// let pages: Vec<_> = page_by_page(&transport, "Todo", PullRequest::new(100)).collect().await;
/// assert_eq!(pages.len(), 1, "one empty page, which says no more");
/// # });
/// ```
pub fn page_by_page<'a, T: Transport + ?Sized>(
    transport: &'a T,
    table: &'a str,
    request: PullRequest,
) -> impl Stream<Item = Result<PullPage, TransportError>> + Send + 'a {
    futures_util::stream::unfold(Some(request), move |next| async move {
        let request = next?;
        match transport.pull(table, request.clone()).await {
            Ok(page) => {
                let go_on = page.more && !page.records.is_empty() && page.last.is_some();
                let after = go_on.then(|| PullRequest {
                    after: page.last.clone(),
                    ..request
                });
                Some((Ok(page), after))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// [`Transport::push_batch`] one call at a time: what the default does, for a transport
/// that batches only sometimes (`HttpTransport` against a server without batches).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use sync_core::transport::{BatchWrite, MemoryRemote, Write, one_at_a_time};
/// let transport = MemoryRemote::new().transport();
/// let w = BatchWrite::new("k", "Todo", Write::Delete { id: "a".into(), expected_version: None });
/// assert_eq!(one_at_a_time(&transport, vec![w]).await.len(), 1);
/// # });
/// ```
pub async fn one_at_a_time<T: Transport + ?Sized>(
    transport: &T,
    writes: Vec<BatchWrite>,
) -> Vec<WriteResult> {
    let mut results = Vec::with_capacity(writes.len());
    let mut stop: Option<TransportError> = None;
    for w in writes {
        if let Some(e) = &stop {
            results.push(Err(e.clone()));
            continue;
        }
        let result = match w.write {
            Write::Insert { item } => transport.insert(&w.table, item).await.map(Some),
            Write::Update {
                item,
                expected_version,
            } => transport
                .update(&w.table, item, expected_version)
                .await
                .map(Some),
            Write::Delete {
                id,
                expected_version,
            } => transport.delete(&w.table, &id, expected_version).await,
        };
        if let Err(e) = &result
            && e.stops_push()
        {
            stop = Some(e.clone());
        }
        results.push(result);
    }
    results
}

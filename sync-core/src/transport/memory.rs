//! [`MemoryRemote`]: an in-process server with the exact semantics of the tablesync
//! server (compare-and-swap on `version`, server-assigned versions and timestamps, soft
//! deletes, keyset paging), shared by any number of clients in one test, and
//! [`MemoryTransport`], a client's connection to it with fault injection. Whether a
//! write goes ahead, or is a 404, 409 or 412, is decided by the server's own rules,
//! [`protocol::decide`](super::protocol::decide).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::protocol::{self, Current, Refusal, Request};
use super::{ChangeStream, NetworkKind, Poke, PullPage, PullRequest, Transport, TransportError};
use crate::model::{Record, SystemColumn, Value, instant};
use crate::store::{OpKind, Watermark};

/// One write the server applied, in order: tests use the log to prove that no
/// operation was applied twice and none was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedWrite {
    /// The table.
    pub table: String,
    /// The item.
    pub id: String,
    /// What was applied.
    pub kind: OpKind,
    /// The version the write produced.
    pub version: String,
    /// The row as the write left it.
    pub row: Record,
}

#[derive(Default)]
struct Server {
    /// Keyed by ASCII-lowercased table name: table names match ignoring case.
    tables: HashMap<String, BTreeMap<String, Record>>,
    versions: u64,
    last_ms: i64,
    frozen_ms: Option<i64>,
    applied: Vec<AppliedWrite>,
    feed: FeedClock,
}

/// What the change feeds watch: writes are numbered, each table remembers its last,
/// and a `watch` channel says the number moved. So any number of writes between two
/// looks are one poke per table, and a feed holds O(tables), never O(writes).
struct FeedClock {
    seq: u64,
    /// By lowercased table name: the number of its last write.
    tables: HashMap<String, u64>,
    moved: tokio::sync::watch::Sender<u64>,
}

impl Default for FeedClock {
    fn default() -> FeedClock {
        FeedClock {
            seq: 0,
            tables: HashMap::new(),
            moved: tokio::sync::watch::channel(0).0,
        }
    }
}

const UPDATED: &str = "updatedAt";
const CREATED: &str = "createdAt";
const DELETED: &str = "deleted";
const VERSION: &str = "version";
const ID: &str = "id";

fn text<'a>(r: &'a Record, col: &str) -> &'a str {
    match r.get(col) {
        Some(Value::Text(s)) => s,
        _ => "",
    }
}

impl Server {
    /// Server time in ms for a write: strictly after every earlier write's, so that a
    /// row written after a reader's pull always sorts after that reader's watermark
    /// (equal timestamps would let a later write hide behind it, sorted by id, and an
    /// incremental pull would miss it). A frozen clock gives ties on purpose.
    fn now_ms(&mut self) -> i64 {
        let next = match self.frozen_ms {
            Some(frozen) => frozen.max(self.last_ms),
            None => Utc::now().timestamp_millis().max(self.last_ms + 1),
        };
        self.last_ms = next;
        next
    }

    fn next_version(&mut self) -> String {
        self.versions += 1;
        format!("v{}", self.versions)
    }

    fn table(&mut self, table: &str) -> &mut BTreeMap<String, Record> {
        self.tables.entry(table.to_ascii_lowercase()).or_default()
    }

    fn stamp(&mut self, table: &str, id: &str, kind: OpKind, row: &mut Record) {
        let version = self.next_version();
        let now = instant::millis_to_wire(self.now_ms());
        row.set(VERSION, version.clone());
        row.set(UPDATED, now);
        self.feed.seq += 1;
        let seq = self.feed.seq;
        self.feed.tables.insert(table.to_ascii_lowercase(), seq);
        self.feed.moved.send_replace(seq);
        self.applied.push(AppliedWrite {
            table: table.to_owned(),
            id: id.to_owned(),
            kind,
            version,
            row: row.clone(),
        });
    }

    fn insert(&mut self, table: &str, item: Record) -> Result<Record, TransportError> {
        reject_reserved(&item)?;
        let id = match item.get(ID) {
            None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
            Some(Value::Text(s)) if !s.is_empty() => s.clone(),
            Some(_) => {
                return Err(TransportError::Server {
                    status: 400,
                    message: "`id` must be a non-empty string".into(),
                });
            }
        };
        self.decide(table, &id, &Request::Insert)?;
        let mut row = Record::new();
        row.push(ID, id.clone());
        for (c, v) in item {
            if SystemColumn::from_name(&c).is_none() {
                row.set(c, v);
            }
        }
        row.set(DELETED, false);
        self.stamp(table, &id, OpKind::Insert, &mut row);
        let created = row.get(UPDATED).cloned().unwrap_or(Value::Null);
        row.set(CREATED, created);
        self.table(table).insert(id, row.clone());
        Ok(row)
    }

    /// The row held for `id` (soft-deleted or not) when the protocol lets `request` go
    /// ahead, else the error the server answers; the server's copy goes with a 409 or
    /// a 412.
    fn decide(
        &mut self,
        table: &str,
        id: &str,
        request: &Request<&str>,
    ) -> Result<Option<Record>, TransportError> {
        let current = self.table(table).get(id).cloned();
        let held = current.as_ref().map(|r| Current {
            version: text(r, VERSION),
            deleted: r.is_deleted(),
        });
        match protocol::decide(request, held.as_ref()) {
            Ok(()) => Ok(current),
            Err(Refusal::Conflict) => Err(TransportError::Conflict {
                server_copy: current,
            }),
            Err(Refusal::PreconditionFailed) => Err(TransportError::PreconditionFailed {
                server_copy: current,
            }),
            Err(Refusal::NotFound) => Err(TransportError::NotFound),
        }
    }

    /// The row a conditional write changes, once the protocol lets it go ahead.
    fn decide_change(
        &mut self,
        table: &str,
        id: &str,
        request: &Request<&str>,
    ) -> Result<Record, TransportError> {
        // `decide` finds a row for every change it lets through.
        self.decide(table, id, request)?
            .ok_or(TransportError::NotFound)
    }

    fn update(
        &mut self,
        table: &str,
        item: Record,
        expected: Option<&str>,
    ) -> Result<Record, TransportError> {
        reject_reserved(&item)?;
        let id = text(&item, ID).to_owned();
        // Without If-Match, a version in the body is still a precondition (409).
        let body_version = match item.get(VERSION) {
            Some(Value::Text(v)) if !v.is_empty() => Some(v.as_str()),
            _ => None,
        };
        let request = Request::Update {
            if_match: if_match(expected),
            body_version,
        };
        let mut row = self.decide_change(table, &id, &request)?;
        for (c, v) in item {
            if SystemColumn::from_name(&c).is_none() {
                row.set(c, v);
            }
        }
        self.stamp(table, &id, OpKind::Update, &mut row);
        self.table(table).insert(id, row.clone());
        Ok(row)
    }

    fn delete(
        &mut self,
        table: &str,
        id: &str,
        expected: Option<&str>,
    ) -> Result<Record, TransportError> {
        let request = Request::Delete {
            if_match: if_match(expected),
        };
        let mut row = self.decide_change(table, id, &request)?;
        row.set(DELETED, true);
        self.stamp(table, id, OpKind::Delete, &mut row);
        self.table(table).insert(id.to_owned(), row.clone());
        Ok(row)
    }

    fn pull(&mut self, table: &str, req: &PullRequest) -> PullPage {
        let mut rows: Vec<&Record> = self
            .table(table)
            .values()
            .filter(|r| req.include_deleted || !r.is_deleted())
            .filter(|r| req.filter.as_ref().is_none_or(|f| f.matches(r)))
            .filter(|r| match &req.after {
                None => true,
                Some(w) => {
                    let (u, id) = (text(r, UPDATED), text(r, ID));
                    u > w.updated_at.as_str() || (u == w.updated_at && id > w.id.as_str())
                }
            })
            .collect();
        rows.sort_by(|a, b| (text(a, UPDATED), text(a, ID)).cmp(&(text(b, UPDATED), text(b, ID))));
        let more = rows.len() > req.page_size as usize;
        rows.truncate(req.page_size as usize);
        let last = rows.last().map(|r| Watermark {
            updated_at: text(r, UPDATED).to_owned(),
            id: text(r, ID).to_owned(),
        });
        PullPage {
            records: rows.into_iter().cloned().collect(),
            last,
            more,
            total: None,
        }
    }
}

/// The `If-Match` precondition an expected version makes, as the server reads it: an
/// empty version goes out as `If-Match: ""`, which names no version, so none is
/// checked (`sync_http::wire::etag::parse_if_match`).
fn if_match(expected: Option<&str>) -> Option<&str> {
    expected.filter(|v| !v.is_empty())
}

fn reject_reserved(item: &Record) -> Result<(), TransportError> {
    for col in [CREATED, UPDATED, DELETED] {
        if item.contains(col) {
            return Err(TransportError::Server {
                status: 400,
                message: format!("`{col}` is reserved and cannot be written by a client"),
            });
        }
    }
    Ok(())
}

/// The in-process server. Cheap to clone; clones share the data.
///
/// ```
/// use sync_core::transport::{MemoryRemote, Transport, TransportError};
/// use sync_core::Record;
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let remote = MemoryRemote::new();
/// let client = remote.transport();
/// let mut item = Record::new();
/// item.set("id", "a1");
/// item.set("text", "milk");
/// let copy = client.insert("Todo", item.clone()).await.unwrap();
/// let v1 = copy.version().unwrap().to_owned();
/// // A second insert of the same id is a conflict carrying the server's copy.
/// let err = client.insert("Todo", item.clone()).await.unwrap_err();
/// assert_eq!(err.server_copy(), Some(&copy));
/// // Compare-and-swap on version: a stale version is a 412.
/// item.set("text", "bread");
/// client.update("Todo", item.clone(), Some(v1.clone())).await.unwrap();
/// let err = client.update("Todo", item, Some(v1)).await.unwrap_err();
/// assert!(matches!(err, TransportError::PreconditionFailed { server_copy: Some(_) }));
/// # });
/// ```
#[derive(Clone, Default)]
pub struct MemoryRemote {
    server: Arc<Mutex<Server>>,
}

impl MemoryRemote {
    /// An empty server.
    pub fn new() -> MemoryRemote {
        MemoryRemote::default()
    }

    fn lock(&self) -> MutexGuard<'_, Server> {
        self.server.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new client connection, with its own fault injection.
    pub fn transport(&self) -> MemoryTransport {
        MemoryTransport {
            remote: self.clone(),
            faults: Arc::new(Mutex::new(Faults::default())),
            break_feeds: Arc::new(tokio::sync::watch::channel(None).0),
        }
    }

    /// The server's copy of an item, deleted or not.
    pub fn get(&self, table: &str, id: &str) -> Option<Record> {
        self.lock().table(table).get(id).cloned()
    }

    /// The live (not deleted) rows of a table, in id order.
    pub fn rows(&self, table: &str) -> Vec<Record> {
        self.lock()
            .table(table)
            .values()
            .filter(|r| !r.is_deleted())
            .cloned()
            .collect()
    }

    /// Changes an item on the server directly, as another client would (unconditional;
    /// inserts when the id is new or was deleted). Errors as the server would answer.
    pub fn write(&self, table: &str, item: Record) -> Result<Record, TransportError> {
        let mut s = self.lock();
        let id = text(&item, ID).to_owned();
        let live = s.table(table).get(&id).is_some_and(|r| !r.is_deleted());
        if live {
            s.update(table, item, None)
        } else {
            s.table(table).remove(&id);
            s.insert(table, item)
        }
    }

    /// Deletes an item on the server directly, as another client would.
    pub fn delete(&self, table: &str, id: &str) -> Option<Record> {
        self.lock().delete(table, id, None).ok()
    }

    /// Every write applied so far, in order.
    pub fn applied(&self) -> Vec<AppliedWrite> {
        self.lock().applied.clone()
    }

    /// Stops the server clock at `at` so that many writes share one `updatedAt` (to
    /// test keyset paging over ties), or lets it run again (`None`). The clock never
    /// goes back. While frozen, a pull between two writes can miss the later one (it
    /// may sort before the watermark by id): the very bug a running clock prevents, so
    /// only freeze it around writes that no one pulls in between.
    pub fn freeze_clock(&self, at: Option<DateTime<Utc>>) {
        self.lock().frozen_ms = at.map(|t| t.timestamp_millis());
    }
}

/// An injected fault, consumed by one call.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Fail before the server sees the request.
    Fail(TransportError),
    /// Apply the request on the server, then lose the response (a network error).
    LoseResponse,
    /// Wait, then proceed normally.
    Delay(Duration),
    /// Signal `reached` when the call gets here, then wait for `release` before the
    /// server sees the request: lets a test act while a call is in flight.
    Hold {
        /// Notified once the call is held.
        reached: Arc<tokio::sync::Notify>,
        /// The call proceeds once this is notified.
        release: Arc<tokio::sync::Notify>,
    },
}

impl Fault {
    /// A [`Fault::Hold`] and its two handles `(fault, reached, release)`.
    ///
    /// ```
    /// let (fault, reached, release) = sync_core::transport::Fault::hold();
    /// assert!(matches!(fault, sync_core::transport::Fault::Hold { .. }));
    /// # drop((reached, release));
    /// ```
    pub fn hold() -> (Fault, Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>) {
        let reached = Arc::new(tokio::sync::Notify::new());
        let release = Arc::new(tokio::sync::Notify::new());
        let fault = Fault::Hold {
            reached: Arc::clone(&reached),
            release: Arc::clone(&release),
        };
        (fault, reached, release)
    }
}

#[derive(Default)]
struct Faults {
    queue: VecDeque<Fault>,
    offline: bool,
    /// The server offers no feed (as Microsoft's): `change_feed` is `Ok(None)`.
    no_feed: bool,
    calls: u64,
    in_flight: usize,
    peak_in_flight: usize,
}

/// Counts a call as in flight until dropped (also when its future is cancelled).
struct InFlight<'a>(&'a MemoryTransport);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.faults().in_flight -= 1;
    }
}

/// A client's connection to a [`MemoryRemote`], with fault injection. Cheap to clone;
/// clones share the fault queue.
///
/// ```
/// use sync_core::transport::{Fault, MemoryRemote, Transport, TransportError};
/// use sync_core::Record;
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let remote = MemoryRemote::new();
/// let client = remote.transport();
/// client.push_fault(Fault::LoseResponse);
/// let mut item = Record::new();
/// item.set("id", "a1");
/// let err = client.insert("Todo", item).await.unwrap_err();
/// assert!(matches!(err, TransportError::Network { .. }));
/// assert!(remote.get("Todo", "a1").is_some(), "applied although the answer was lost");
/// # });
/// ```
#[derive(Clone)]
pub struct MemoryTransport {
    remote: MemoryRemote,
    faults: Arc<Mutex<Faults>>,
    /// Ends this connection's open feeds with the error sent.
    break_feeds: Arc<tokio::sync::watch::Sender<Option<TransportError>>>,
}

impl MemoryTransport {
    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a fault for a coming call (first in, first used).
    pub fn push_fault(&self, fault: Fault) {
        self.faults().queue.push_back(fault);
    }

    /// Fails the next `n` calls with `error`.
    pub fn fail_next(&self, n: usize, error: TransportError) {
        let mut f = self.faults();
        for _ in 0..n {
            f.queue.push_back(Fault::Fail(error.clone()));
        }
    }

    /// Drops every queued fault and goes back online.
    pub fn clear_faults(&self) {
        let mut f = self.faults();
        f.queue.clear();
        f.offline = false;
    }

    /// While offline, every call fails with a network error and reaches nothing, and
    /// the change feeds open on this connection end with that error.
    pub fn set_offline(&self, offline: bool) {
        self.faults().offline = offline;
        if offline {
            self.break_feeds(offline_error());
        }
    }

    /// Ends every change feed open on this connection with `error` (a dropped
    /// connection, a server restart), so that a test sees a syncer open it again.
    /// Feeds opened afterwards are not affected. To refuse opening one, queue a
    /// [`Fault`] as for any call.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use futures_util::StreamExt;
    /// use sync_core::transport::{MemoryRemote, Transport, TransportError};
    /// let client = MemoryRemote::new().transport();
    /// let mut feed = client.change_feed(vec!["Todo".into()], None).await.unwrap().unwrap();
    /// client.break_feeds(TransportError::network("reset"));
    /// assert!(feed.next().await.unwrap().is_err());
    /// assert!(feed.next().await.is_none(), "an error ends the feed");
    /// # });
    /// ```
    pub fn break_feeds(&self, error: TransportError) {
        self.break_feeds.send_replace(Some(error));
    }

    /// Whether the server behind this connection offers a change feed (default: yes).
    /// Without one, [`Transport::change_feed`] is `Ok(None)`, as against Microsoft's
    /// server, and a syncer polls.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use sync_core::transport::{MemoryRemote, Transport};
    /// let client = MemoryRemote::new().transport();
    /// client.set_feed(false);
    /// assert!(client.change_feed(vec!["Todo".into()], None).await.unwrap().is_none());
    /// # });
    /// ```
    pub fn set_feed(&self, offered: bool) {
        self.faults().no_feed = !offered;
    }

    /// How many calls this connection made.
    pub fn calls(&self) -> u64 {
        self.faults().calls
    }

    /// The most calls this connection ever had in flight at once.
    pub fn peak_in_flight(&self) -> usize {
        self.faults().peak_in_flight
    }

    /// The server behind this connection.
    pub fn remote(&self) -> &MemoryRemote {
        &self.remote
    }

    /// Runs one call through the fault injector.
    async fn call<R>(
        &self,
        f: impl FnOnce(&mut Server) -> Result<R, TransportError>,
    ) -> Result<R, TransportError> {
        let fault = {
            let mut faults = self.faults();
            faults.calls += 1;
            faults.in_flight += 1;
            faults.peak_in_flight = faults.peak_in_flight.max(faults.in_flight);
            if faults.offline {
                faults.in_flight -= 1;
                return Err(offline_error());
            }
            faults.queue.pop_front()
        };
        let _in_flight = InFlight(self);
        let lose = match fault {
            Some(Fault::Fail(e)) => return Err(e),
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                false
            }
            Some(Fault::LoseResponse) => true,
            Some(Fault::Hold { reached, release }) => {
                reached.notify_one();
                release.notified().await;
                false
            }
            None => false,
        };
        let result = f(&mut self.remote.lock());
        if lose {
            return Err(TransportError::network_from(
                NetworkKind::Broken,
                "response lost after the server applied the request",
                std::io::Error::from(std::io::ErrorKind::ConnectionReset),
            ));
        }
        result
    }
}

fn offline_error() -> TransportError {
    TransportError::network_from(
        NetworkKind::Connect,
        "offline",
        std::io::Error::from(std::io::ErrorKind::NotConnected),
    )
}

/// An open change feed of a [`MemoryTransport`].
struct MemoryFeed {
    remote: MemoryRemote,
    moved: tokio::sync::watch::Receiver<u64>,
    broken: tokio::sync::watch::Receiver<Option<TransportError>>,
    /// As asked, and lowercased.
    tables: Vec<(String, String)>,
    /// Per table, the number of the last write poked about.
    seen: Vec<u64>,
    ready: VecDeque<Poke>,
    ended: bool,
}

impl MemoryFeed {
    /// Queues a poke for each table written since its last one; only the last carries
    /// the event id, as on the tablesync server (a caller that stops after an earlier
    /// one resumes from before them all).
    fn look(&mut self) {
        let server = self.remote.lock();
        let seq = server.feed.seq;
        let mut due = Vec::new();
        for (n, (_, key)) in self.tables.iter().enumerate() {
            let last = server.feed.tables.get(key).copied().unwrap_or(0);
            if last > self.seen[n] {
                self.seen[n] = last;
                due.push(n);
            }
        }
        drop(server);
        let count = due.len();
        for (k, n) in due.into_iter().enumerate() {
            let id = (k + 1 == count).then(|| seq.to_string());
            self.ready
                .push_back(Poke::new(self.tables[n].0.clone(), id));
        }
    }

    async fn next(&mut self) -> Option<Result<Poke, TransportError>> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(poke) = self.ready.pop_front() {
                return Some(Ok(poke));
            }
            tokio::select! {
                moved = self.moved.changed() => match moved {
                    Ok(()) => self.look(),
                    Err(_) => return None,
                },
                broken = self.broken.changed() => {
                    let error = match broken {
                        Ok(()) => self.broken.borrow_and_update().clone(),
                        Err(_) => None,
                    };
                    if let Some(e) = error {
                        self.ended = true;
                        return Some(Err(e));
                    }
                }
            }
        }
    }
}

impl Transport for MemoryTransport {
    /// A feed of the writes to these tables, by anyone: every write bumps a counter,
    /// which is the event id; resuming from an id pokes the tables written since, and
    /// from one this server never gave, every table. Opening is a call (faults and
    /// offline apply); [`MemoryTransport::set_feed`] turns the feed off and
    /// [`MemoryTransport::break_feeds`] ends open ones.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use futures_util::StreamExt;
    /// use sync_core::transport::{MemoryRemote, Transport};
    /// use sync_core::Record;
    /// let remote = MemoryRemote::new();
    /// let client = remote.transport();
    /// let mut feed = client.change_feed(vec!["Todo".into()], None).await.unwrap().unwrap();
    /// let mut item = Record::new();
    /// item.set("id", "a");
    /// remote.write("Todo", item).unwrap();
    /// let poke = feed.next().await.unwrap().unwrap();
    /// assert_eq!((poke.table.as_str(), poke.event_id.as_deref()), ("Todo", Some("1")));
    /// # });
    /// ```
    async fn change_feed(
        &self,
        tables: Vec<String>,
        last_event_id: Option<String>,
    ) -> Result<Option<ChangeStream>, TransportError> {
        if self.faults().no_feed {
            return Ok(None);
        }
        let broken = self.break_feeds.subscribe();
        let tables: Vec<(String, String)> = tables
            .into_iter()
            .map(|t| {
                let key = t.to_ascii_lowercase();
                (t, key)
            })
            .collect();
        let (moved, seen) = self
            .call(|s| {
                let now = |key: &String| s.feed.tables.get(key).copied().unwrap_or(0);
                let seen: Vec<u64> = match last_event_id.as_deref().map(str::parse::<u64>) {
                    None => tables.iter().map(|(_, k)| now(k)).collect(),
                    Some(Ok(id)) if id <= s.feed.seq => {
                        tables.iter().map(|(_, k)| now(k).min(id)).collect()
                    }
                    // An id this server never gave: it cannot tell, so every table.
                    Some(_) => vec![u64::MAX; tables.len()],
                };
                Ok((s.feed.moved.subscribe(), seen))
            })
            .await?;
        let mut ready = VecDeque::new();
        let mut start = Vec::with_capacity(seen.len());
        let server = self.remote.lock();
        for ((name, key), seen) in tables.iter().zip(seen) {
            if seen == u64::MAX {
                ready.push_back(Poke::new(name.clone(), None));
                start.push(server.feed.tables.get(key).copied().unwrap_or(0));
            } else {
                start.push(seen);
            }
        }
        if let Some(last) = ready.back_mut() {
            last.event_id = Some(server.feed.seq.to_string());
        }
        drop(server);
        let mut feed = MemoryFeed {
            remote: self.remote.clone(),
            moved,
            broken,
            tables,
            seen: start,
            ready,
            ended: false,
        };
        // What was written since the caller's id.
        feed.look();
        let stream = futures_util::stream::unfold(feed, |mut feed| async move {
            let item = feed.next().await?;
            Some((item, feed))
        });
        Ok(Some(Box::pin(stream)))
    }

    async fn insert(&self, table: &str, item: Record) -> Result<Record, TransportError> {
        self.call(|s| s.insert(table, item)).await
    }

    async fn update(
        &self,
        table: &str,
        item: Record,
        expected_version: Option<String>,
    ) -> Result<Record, TransportError> {
        self.call(|s| s.update(table, item, expected_version.as_deref()))
            .await
    }

    async fn delete(
        &self,
        table: &str,
        id: &str,
        expected_version: Option<String>,
    ) -> Result<Option<Record>, TransportError> {
        self.call(|s| s.delete(table, id, expected_version.as_deref()).map(Some))
            .await
    }

    async fn get(&self, table: &str, id: &str) -> Result<Option<Record>, TransportError> {
        self.call(|s| Ok(s.table(table).get(id).filter(|r| !r.is_deleted()).cloned()))
            .await
    }

    async fn pull(&self, table: &str, request: PullRequest) -> Result<PullPage, TransportError> {
        self.call(|s| Ok(s.pull(table, &request))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    fn item(id: &str, text: &str) -> Record {
        let mut r = Record::new();
        r.set(ID, id);
        r.set("text", text);
        r
    }

    /// As on the wire: an empty version goes out as `If-Match: ""`, which the server
    /// reads as no precondition.
    #[test]
    fn an_empty_expected_version_is_no_precondition() {
        let remote = MemoryRemote::new();
        let client = remote.transport();
        block_on(async {
            client.insert("Todo", item("a1", "milk")).await.unwrap();
            client
                .update("Todo", item("a1", "bread"), Some(String::new()))
                .await
                .unwrap();
            client
                .delete("Todo", "a1", Some(String::new()))
                .await
                .unwrap();
        });
        assert!(remote.get("Todo", "a1").unwrap().is_deleted());
    }

    #[test]
    fn refusals_carry_the_servers_copy_deleted_or_not() {
        let remote = MemoryRemote::new();
        let client = remote.transport();
        block_on(async {
            let copy = client.insert("Todo", item("a1", "milk")).await.unwrap();
            let err = client
                .update("Todo", item("a1", "bread"), Some("*".into()))
                .await
                .unwrap_err();
            assert_eq!(err.server_copy(), Some(&copy), "If-Match: * is no wildcard");
            let mut stale = item("a1", "bread");
            stale.set(VERSION, "v0");
            let err = client.update("Todo", stale, None).await.unwrap_err();
            assert!(matches!(err, TransportError::Conflict { .. }), "{err:?}");
            let gone = client.delete("Todo", "a1", None).await.unwrap().unwrap();
            let err = client.insert("Todo", item("a1", "milk")).await.unwrap_err();
            assert_eq!(err.server_copy(), Some(&gone));
            let err = client.delete("Todo", "a1", None).await.unwrap_err();
            assert!(matches!(err, TransportError::NotFound), "{err:?}");
        });
    }

    /// The next poke within 200 ms, or `None`.
    async fn poke(feed: &mut ChangeStream) -> Option<Poke> {
        use futures_util::StreamExt;
        match tokio::time::timeout(Duration::from_millis(200), feed.next()).await {
            Ok(Some(p)) => Some(p.expect("no feed error")),
            Ok(None) => panic!("the feed ended"),
            Err(_) => None,
        }
    }

    #[test]
    fn a_feed_pokes_once_per_written_table_however_many_writes() {
        let remote = MemoryRemote::new();
        let client = remote.transport();
        block_on(async {
            let mut feed = client
                .change_feed(vec!["A".into(), "b".into()], None)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(poke(&mut feed).await, None, "nothing written yet");
            for n in 0..100 {
                remote.write("a", item(&format!("x{n}"), "t")).unwrap();
            }
            client.insert("B", item("y", "t")).await.unwrap();
            remote.write("Unasked", item("z", "t")).unwrap();
            let first = poke(&mut feed).await.unwrap();
            let second = poke(&mut feed).await.unwrap();
            assert_eq!((first.table.as_str(), second.table.as_str()), ("A", "b"));
            assert_eq!(
                first.event_id, None,
                "only the last poke of a look has an id"
            );
            assert_eq!(
                second.event_id.as_deref(),
                Some("102"),
                "every write seen so far"
            );
            assert_eq!(poke(&mut feed).await, None, "102 writes, two pokes");
            remote.delete("B", "y");
            assert_eq!(poke(&mut feed).await.unwrap().table, "b");
        });
    }

    #[test]
    fn a_feed_resumes_from_an_event_id_and_pokes_all_from_an_unknown_one() {
        let remote = MemoryRemote::new();
        let client = remote.transport();
        block_on(async {
            remote.write("A", item("1", "t")).unwrap();
            let tables = || vec!["A".to_owned(), "B".to_owned()];
            let mut feed = client
                .change_feed(tables(), Some("1".into()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(poke(&mut feed).await, None, "nothing since 1");
            drop(feed);
            remote.write("B", item("1", "t")).unwrap();
            let mut feed = client
                .change_feed(tables(), Some("1".into()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(poke(&mut feed).await.unwrap().table, "B");
            assert_eq!(poke(&mut feed).await, None);
            for unknown in ["nonsense", "99"] {
                let mut feed = client
                    .change_feed(tables(), Some(unknown.into()))
                    .await
                    .unwrap()
                    .unwrap();
                let (a, b) = (
                    poke(&mut feed).await.unwrap(),
                    poke(&mut feed).await.unwrap(),
                );
                assert_eq!(
                    (a.table.as_str(), b.table.as_str()),
                    ("A", "B"),
                    "{unknown}"
                );
                assert_eq!(b.event_id.as_deref(), Some("2"), "resumable from here");
            }
        });
    }

    #[test]
    fn a_feed_fails_to_open_with_a_fault_and_ends_when_broken_or_offline() {
        let remote = MemoryRemote::new();
        let client = remote.transport();
        block_on(async {
            use futures_util::StreamExt;
            client.fail_next(1, TransportError::network("refused"));
            assert!(client.change_feed(vec!["A".into()], None).await.is_err());
            let mut feed = client
                .change_feed(vec!["A".into()], None)
                .await
                .unwrap()
                .unwrap();
            let other = remote.transport();
            let mut untouched = other
                .change_feed(vec!["A".into()], None)
                .await
                .unwrap()
                .unwrap();
            client.set_offline(true);
            let e = feed.next().await.unwrap().unwrap_err();
            assert!(matches!(e, TransportError::Network { .. }), "{e:?}");
            assert!(feed.next().await.is_none());
            assert!(
                client.change_feed(vec!["A".into()], None).await.is_err(),
                "offline"
            );
            remote.write("A", item("1", "t")).unwrap();
            assert_eq!(
                poke(&mut untouched).await.unwrap().table,
                "A",
                "another connection"
            );
        });
    }
}

//! Storage: the [`Backend`] trait and its SQLite and PostgreSQL implementations.
//!
//! A request reaches a backend as a table name, the caller's owner key (empty unless
//! the server runs per user) and either a [`TableQuery`], an id to read, or a
//! [`WriteOp`]. The backend answers with [`Row`]s or an [`Outcome`]; the HTTP layer turns
//! those into the protocol's answers.
//!
//! # Storage layout
//!
//! One physical table per app table, one physical column per app column:
//!
//! - `__tablesync_tables(name, display, phys, last_ms)`: every app table (by
//!   lowercased name), its physical name `t<n>_<name>` and its write clock;
//! - `__tablesync_columns(tbl, name, display, kind, phys, ord)`: every app column, its
//!   [`Kind`] and physical name `c<n>_<name>` (see [`catalog`](self::Kind));
//! - `t<n>_<name>(id, owner, version, created_at, updated_at, deleted, c1_…, c2_…)`,
//!   primary key `(owner, id)`, index `(owner, updated_at, id)` for keyset pulls.
//!   `version` is a per-row counter (1 on insert, +1 on every update, delete and
//!   undelete), sent as base64 of its decimal text like the reference server (`"MQ=="`
//!   is 1). Timestamps are milliseconds since the epoch. `owner` is the JWT `sub` in
//!   per-user mode and `''` otherwise, so users never see, nor collide with, each
//!   other's ids.
//!
//! Schema changes (a new table, a new column) run in their own transaction under one
//! global lock, and register the column in the same transaction as its `ALTER TABLE`.
//!
//! # Writes: compare-and-swap and the pull guarantee
//!
//! Every write is one transaction that reads the current row, decides (404, 409, 412 or
//! go, by the protocol's rules in `sync_core::transport::protocol`, which the engine's
//! in-process server applies too), and writes the row stamped by its table's clock:
//! `UPDATE __tablesync_tables SET last_ms = GREATEST(last_ms, now) WHERE name = ?
//! RETURNING last_ms`. That takes the clock row's lock, held until commit, so the
//! writes of one table take non-decreasing `updatedAt`s in commit order, on one
//! instance or many sharing a PostgreSQL database, and never one ahead of the clock
//! (the server's for SQLite, the database's for PostgreSQL, so that instances' clocks
//! cannot disagree), unless that clock is set back: then stamps stay at the newest one
//! until it catches up. Writes of one millisecond share its stamp (the wire carries
//! milliseconds), so more than a thousand commits a second do not push the clock into
//! the future.
//!
//! A read returns rows only up to a *horizon*: a stamp that no write still to commit
//! can be stamped at or before. On PostgreSQL the read takes the table's clock row for
//! share, which waits for the writes holding it, and uses the stamp it finds once the
//! database's time has passed it (every later write is stamped later); on SQLite the
//! writer publishes its newest committed stamp and a floor under the stamps of the
//! transaction in progress. A read right after a write waits for the write's
//! millisecond to pass (a millisecond at most, normally) rather than leave it out. So a
//! reader's rows are a prefix of the `(updatedAt, id)` order of everything that will
//! ever be committed, and a keyset pull `(updatedAt, id) > watermark` never misses a
//! row committed after it. The row is written with `WHERE owner = ? AND id = ? AND
//! version = <read version>` (or inserted with `ON CONFLICT DO NOTHING`), returning
//! it, and the write fails unless exactly one row was written: a compare-and-swap.
//!
//! Only when the clock is taken relative to commit matters, not what the transaction
//! did before, so each backend takes it where it costs least:
//!
//! - SQLite: `BEGIN IMMEDIATE` serializes every write of the file anyway, so the clock
//!   is advanced first; the writes waiting at one moment share one transaction (group
//!   commit, see [`SqliteBackend`]).
//! - PostgreSQL: the read is `SELECT … FOR UPDATE`, which locks the row (when it
//!   exists) until commit, so writes of one row queue there and the compare-and-swap
//!   holds; the clock is advanced by the write's own statement (`WITH clock AS (UPDATE
//!   … RETURNING last_ms) UPDATE … SET updated_at = (SELECT last_ms FROM clock)`), so
//!   a table's writes are serialized only from their last statement to commit. An
//!   insert that loses the race for its id to another instance's inserts nothing and
//!   runs again, reading the winner's row: a 409.

mod catalog;
mod layout;
mod notify;
mod postgres;
mod sql;
mod sqlite;

pub use catalog::Kind;
pub use postgres::PostgresBackend;
pub use sqlite::{SqliteBackend, SqliteStats};

use std::future::Future;
use std::pin::Pin;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value as Json};
use sync_core::model::instant;
use sync_core::transport::protocol::{self, Current, Refusal, Request};

use crate::query::TableQuery;

/// A boxed future, as the object-safe [`Backend`] returns.
///
/// ```
/// let f: sync_server::store::BoxFuture<'static, u8> = Box::pin(async { 1 });
/// # drop(f);
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A storage failure.
///
/// ```
/// let e = sync_server::store::StoreError::BadRequest("column `n`: expected a number".into());
/// assert_eq!(e.to_string(), "column `n`: expected a number");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The request cannot be stored as it is (a value of the wrong kind, a filter on a
    /// JSON column): the client's fault, a 400.
    #[error("{0}")]
    BadRequest(String),
    /// The database failed: a 500, logged.
    #[error("database error: {0}")]
    Database(String),
    /// The backend is at capacity (its queue of waiting requests is full): a 503 with
    /// `Retry-After`, so that a client backs off instead of queueing without bound.
    #[error("the server is busy: {0}")]
    Busy(String),
    /// A statement ran past the statement time limit and was stopped: a 503.
    #[error("{0}")]
    TimedOut(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Database(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        // The error's own Display is just "db error": the server's message is inside.
        match e.as_db_error() {
            // `statement_timeout` (see `PostgresBackend::connect_with`).
            Some(db) if *db.code() == tokio_postgres::error::SqlState::QUERY_CANCELED => {
                StoreError::TimedOut(format!(
                    "the query ran longer than the statement time limit and was stopped ({})",
                    db.code().code()
                ))
            }
            Some(db) => StoreError::Database(format!("{} ({})", db.message(), db.code().code())),
            None => StoreError::Database(e.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> StoreError {
        match e {
            deadpool_postgres::PoolError::Timeout(_) => StoreError::Busy(
                "no database connection came free in time (--statement-timeout)".into(),
            ),
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            e => StoreError::Database(e.to_string()),
        }
    }
}

/// How a backend bounds the work waiting on it and the time one statement may take.
///
/// ```
/// let mut options = sync_server::store::StoreOptions::default();
/// options.statement_timeout = std::time::Duration::from_secs(2);
/// assert_eq!(options.sqlite_readers, 4);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// SQLite: reader threads, each with its own connection, so reads run beside each
    /// other and beside the writer (WAL). At least one is started. `--sqlite-readers`.
    pub sqlite_readers: usize,
    /// SQLite: requests that may wait in each lane (reads, writes); past that a request
    /// is refused with [`StoreError::Busy`] (a 503 with `Retry-After`). `--sqlite-queue`.
    pub sqlite_queue: usize,
    /// The longest one statement may run before it is stopped with
    /// [`StoreError::TimedOut`] (a 503); on PostgreSQL also the longest a request waits
    /// for a pooled connection ([`StoreError::Busy`]). `--statement-timeout`.
    pub statement_timeout: std::time::Duration,
    /// How long a batch operation's idempotency key and answer are kept: a batch sent
    /// again within it is answered from the record and applies nothing twice.
    /// `--key-window`.
    pub key_window: std::time::Duration,
}

/// Default [`StoreOptions::sqlite_readers`].
pub const DEFAULT_SQLITE_READERS: usize = 4;
/// Default [`StoreOptions::sqlite_queue`].
pub const DEFAULT_SQLITE_QUEUE: usize = 1024;
/// Default [`StoreOptions::statement_timeout`]: 10 s.
pub const DEFAULT_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            sqlite_readers: DEFAULT_SQLITE_READERS,
            sqlite_queue: DEFAULT_SQLITE_QUEUE,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            key_window: DEFAULT_KEY_WINDOW,
        }
    }
}

/// One stored row.
///
/// ```
/// let row = sync_server::store::Row {
///     id: "a1".into(), version: 2, created_ms: 0, updated_ms: 1, deleted: false, data: vec![],
/// };
/// assert_eq!(row.version_text(), "Mg==");
/// assert_eq!(row.to_json(None)["updatedAt"], "1970-01-01T00:00:00.001Z");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The id.
    pub id: String,
    /// The version counter.
    pub version: i64,
    /// `createdAt`, ms since the epoch.
    pub created_ms: i64,
    /// `updatedAt`, ms since the epoch.
    pub updated_ms: i64,
    /// Soft-deleted.
    pub deleted: bool,
    /// App columns in registry order (a column that was never set is absent).
    pub data: Vec<(String, Json)>,
}

/// A version counter as its wire text: base64 of the decimal number.
///
/// ```
/// assert_eq!(sync_server::store::version_text(1), "MQ==");
/// assert_eq!(sync_server::store::parse_version("MQ=="), Some(1));
/// assert_eq!(sync_server::store::parse_version("*"), None);
/// ```
pub fn version_text(version: i64) -> String {
    BASE64.encode(version.to_string())
}

/// The counter a version text stands for; `None` for text no row's version can be.
///
/// ```
/// assert_eq!(sync_server::store::parse_version("Mg=="), Some(2));
/// assert_eq!(sync_server::store::parse_version("v1"), None);
/// ```
pub fn parse_version(text: &str) -> Option<i64> {
    let bytes = BASE64.decode(text.trim().as_bytes()).ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

impl Row {
    /// The wire form of the version (see [`version_text`]).
    pub fn version_text(&self) -> String {
        version_text(self.version)
    }

    /// The row as a JSON object: `id`, the app columns, `createdAt`, `updatedAt`,
    /// `version`, `deleted`. With `select`, only those columns, plus `deleted`, which
    /// every row carries because clients' pulls fail without it.
    ///
    /// ```
    /// let row = sync_server::store::Row {
    ///     id: "a1".into(), version: 1, created_ms: 0, updated_ms: 0, deleted: false,
    ///     data: vec![("text".into(), serde_json::json!("milk"))],
    /// };
    /// assert_eq!(serde_json::Value::Object(row.to_json(Some(&["text".into()]))),
    ///     serde_json::json!({"text": "milk", "deleted": false}));
    /// ```
    pub fn to_json(&self, select: Option<&[String]>) -> Map<String, Json> {
        // Keep in step with `RowJson`'s `Serialize` (`row_json_is_to_json`).
        let wanted = |c: &str| select.is_none_or(|s| s.iter().any(|x| x.eq_ignore_ascii_case(c)));
        let mut obj = Map::new();
        if wanted("id") {
            obj.insert("id".into(), Json::String(self.id.clone()));
        }
        for (c, v) in &self.data {
            if wanted(c) {
                obj.insert(c.clone(), v.clone());
            }
        }
        if wanted("createdAt") {
            obj.insert(
                "createdAt".into(),
                Json::String(instant::millis_to_wire(self.created_ms)),
            );
        }
        if wanted("updatedAt") {
            obj.insert(
                "updatedAt".into(),
                Json::String(instant::millis_to_wire(self.updated_ms)),
            );
        }
        if wanted("version") {
            obj.insert("version".into(), Json::String(self.version_text()));
        }
        obj.insert("deleted".into(), Json::Bool(self.deleted));
        obj
    }
}

/// A row as its JSON answer, written straight to the output: the same object as
/// [`Row::to_json`], without building it first.
///
/// ```
/// let row = sync_server::store::Row {
///     id: "a1".into(), version: 1, created_ms: 0, updated_ms: 0, deleted: false,
///     data: vec![("text".into(), serde_json::json!("milk"))],
/// };
/// let select = ["text".to_owned()];
/// assert_eq!(serde_json::to_string(&row.json(Some(&select))).unwrap(),
///     r#"{"text":"milk","deleted":false}"#);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RowJson<'a> {
    row: &'a Row,
    select: Option<&'a [String]>,
}

impl serde::Serialize for RowJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (row, select) = (self.row, self.select);
        let wanted = |c: &str| select.is_none_or(|s| s.iter().any(|x| x.eq_ignore_ascii_case(c)));
        let mut map = s.serialize_map(None)?;
        if wanted("id") {
            map.serialize_entry("id", &row.id)?;
        }
        for (c, v) in &row.data {
            if wanted(c) {
                map.serialize_entry(c, v)?;
            }
        }
        if wanted("createdAt") {
            map.serialize_entry("createdAt", &instant::millis_to_wire(row.created_ms))?;
        }
        if wanted("updatedAt") {
            map.serialize_entry("updatedAt", &instant::millis_to_wire(row.updated_ms))?;
        }
        if wanted("version") {
            map.serialize_entry("version", &row.version_text())?;
        }
        map.serialize_entry("deleted", &row.deleted)?;
        map.end()
    }
}

impl Row {
    /// The row as a JSON answer to serialize: [`Row::to_json`] without the map.
    pub fn json<'a>(&'a self, select: Option<&'a [String]>) -> RowJson<'a> {
        RowJson { row: self, select }
    }
}

/// A write, with its preconditions.
///
/// ```
/// use sync_server::store::WriteOp;
/// let op = WriteOp::Delete { if_match: Some("MQ==".into()) };
/// assert!(matches!(op, WriteOp::Delete { if_match: Some(_) }));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Insert a new row with these app columns.
    Insert {
        /// App columns (no system columns).
        data: Vec<(String, Json)>,
    },
    /// Change these app columns of a live row.
    Update {
        /// App columns to change (no system columns).
        data: Vec<(String, Json)>,
        /// `If-Match`: a mismatch is a 412.
        if_match: Option<String>,
        /// `version` in the body, used without `If-Match`: a mismatch is a 409.
        body_version: Option<String>,
    },
    /// Soft-delete a live row.
    Delete {
        /// `If-Match`: a mismatch is a 412.
        if_match: Option<String>,
    },
    /// Undelete a row (a live one is left live, with a new version).
    Undelete {
        /// `If-Match`: a mismatch is a 412.
        if_match: Option<String>,
    },
}

impl WriteOp {
    /// The app columns the write sets (none for a delete or an undelete).
    pub(crate) fn data(&self) -> &[(String, Json)] {
        match self {
            WriteOp::Insert { data } | WriteOp::Update { data, .. } => data,
            WriteOp::Delete { .. } | WriteOp::Undelete { .. } => &[],
        }
    }
}

/// What a write did.
///
/// ```
/// use sync_server::store::Outcome;
/// assert_ne!(Outcome::NotFound, Outcome::Done(sync_server::store::Row {
///     id: "a".into(), version: 1, created_ms: 0, updated_ms: 0, deleted: false, data: vec![],
/// }));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Applied; the row as it is now.
    Done(Row),
    /// Insert of an existing id (also a soft-deleted one), or a stale body version: the
    /// server's row.
    Conflict(Row),
    /// Stale `If-Match`: the server's row.
    PreconditionFailed(Row),
    /// No such live row.
    NotFound,
}

/// One operation of a batch (see `EXTENSION.md` at the repository root): a write and the
/// idempotency key its client gave it.
///
/// ```
/// use sync_server::store::{BatchOp, WriteOp};
/// let op = BatchOp {
///     table: "Todo".into(),
///     id: "a1".into(),
///     key: "q17.1".into(),
///     op: WriteOp::Delete { if_match: Some("MQ==".into()) },
/// };
/// assert_eq!(op.key, "q17.1");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOp {
    /// The table.
    pub table: String,
    /// The item's id.
    pub id: String,
    /// The client's idempotency key: the same key (per owner) within the window gets
    /// the recorded answer, and applies nothing.
    pub key: String,
    /// The write.
    pub op: WriteOp,
}

/// The answer to one operation of a batch, as recorded under its key.
///
/// ```
/// use sync_server::store::{Answer, Outcome, WriteOp};
/// let a = Answer::of(&WriteOp::Delete { if_match: None }, &Ok(Outcome::NotFound)).unwrap();
/// assert_eq!((a.status, a.replayed), (404, false));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The status a single request would have been answered with.
    pub status: u16,
    /// The row (its JSON text) for 200, 201, 409 and 412; the message otherwise.
    pub body: String,
    /// Whether this is the recorded answer of an earlier request with the same key.
    pub replayed: bool,
}

impl Answer {
    /// The answer a single request would get for this result; `None` for a failure
    /// that another try may not repeat (the database failed, it was busy), which is
    /// never recorded.
    pub fn of(op: &WriteOp, result: &Result<Outcome, StoreError>) -> Option<Answer> {
        let row = |status: u16, row: &Row| Answer {
            status,
            body: serde_json::to_string(&row.json(None)).unwrap_or_default(),
            replayed: false,
        };
        let message = |status: u16, m: &str| Answer {
            status,
            body: m.to_owned(),
            replayed: false,
        };
        Some(match result {
            Ok(Outcome::Done(r)) => match op {
                WriteOp::Insert { .. } | WriteOp::Undelete { .. } => row(201, r),
                _ => row(200, r),
            },
            Ok(Outcome::Conflict(r)) => row(409, r),
            Ok(Outcome::PreconditionFailed(r)) => row(412, r),
            Ok(Outcome::NotFound) => message(404, "The item does not exist"),
            Err(StoreError::BadRequest(m)) => message(400, m),
            Err(_) => return None,
        })
    }

    /// The answer recorded under `key` (status and body as stored), marked replayed.
    pub(crate) fn recorded(key: &str, status: i64, body: String) -> Result<Answer, StoreError> {
        match u16::try_from(status) {
            Ok(status) if status >= 100 => Ok(Answer {
                status,
                body,
                replayed: true,
            }),
            _ => Err(StoreError::Database(format!(
                "key `{key}` has no recorded answer (status {status})"
            ))),
        }
    }

    /// Whether [`Answer::body`] is a row (else a message).
    pub fn has_row(&self) -> bool {
        matches!(self.status, 200 | 201 | 409 | 412)
    }
}

/// How long batch keys are kept, and when a backend last forgot the expired ones.
pub(crate) struct KeyWindow {
    window_ms: i64,
    pruned_ms: std::sync::atomic::AtomicI64,
}

impl KeyWindow {
    pub(crate) fn new(window: std::time::Duration) -> KeyWindow {
        KeyWindow {
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            pruned_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }

    /// Keys recorded before this (at `now`) are expired.
    pub(crate) fn cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(self.window_ms)
    }

    /// Whether to forget expired keys now: at most once a minute per backend.
    pub(crate) fn prune_due(&self, now: i64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let last = self.pruned_ms.load(Relaxed);
        now.saturating_sub(last) >= 60_000
            && self
                .pruned_ms
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
    }
}

/// Default [`StoreOptions::key_window`]: a day.
pub const DEFAULT_KEY_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How a write changes a row, once its preconditions hold.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    /// Insert a new row.
    Insert,
    /// Update the row at this version, setting `deleted` when given.
    Update {
        expected: i64,
        deleted: Option<bool>,
        with_data: bool,
    },
}

/// Decides a write against the current row by the protocol's rules, which live in one
/// place for this server and the engine's in-process one
/// ([`sync_core::transport::protocol::decide`]), and says how it changes the row.
pub(crate) fn plan(op: &WriteOp, current: Option<&Row>) -> Result<Plan, Outcome> {
    // Versions compare as the counters their texts stand for: a text that stands for
    // none (`*`, `v1`) is `None`, which no row's `Some(counter)` equals.
    let version = |text: &Option<String>| text.as_deref().map(parse_version);
    let request = match op {
        WriteOp::Insert { .. } => Request::Insert,
        WriteOp::Update {
            if_match,
            body_version,
            ..
        } => Request::Update {
            if_match: version(if_match),
            body_version: version(body_version),
        },
        WriteOp::Delete { if_match } => Request::Delete {
            if_match: version(if_match),
        },
        WriteOp::Undelete { if_match } => Request::Undelete {
            if_match: version(if_match),
        },
    };
    let held = current.map(|row| Current {
        version: Some(row.version),
        deleted: row.deleted,
    });
    match (protocol::decide(&request, held.as_ref()), current) {
        (Ok(()), _) if matches!(op, WriteOp::Insert { .. }) => Ok(Plan::Insert),
        (Ok(()), Some(row)) => Ok(Plan::Update {
            expected: row.version,
            deleted: match op {
                WriteOp::Delete { .. } => Some(true),
                WriteOp::Undelete { .. } => Some(false),
                _ => None,
            },
            with_data: matches!(op, WriteOp::Update { .. }),
        }),
        (Err(Refusal::Conflict), Some(row)) => Err(Outcome::Conflict(row.clone())),
        (Err(Refusal::PreconditionFailed), Some(row)) => {
            Err(Outcome::PreconditionFailed(row.clone()))
        }
        // The rules let a change other than an insert through, and refuse with a 409 or
        // a 412, only when there is a row: `None` here is a 404 either way.
        (Err(Refusal::NotFound), _) | (_, None) => Err(Outcome::NotFound),
    }
}

/// One page of a list request.
///
/// ```
/// let page = sync_server::store::Page { rows: vec![], count: Some(0) };
/// assert!(page.rows.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The rows.
    pub rows: Vec<Row>,
    /// The count of all matching rows, when asked for (`$inlinecount=allpages`).
    pub count: Option<u64>,
}

/// Where a backend reports writes that another server instance committed (on
/// PostgreSQL, heard through `LISTEN`), for this instance's change feed: the table
/// (`None`: any table may have changed, after a gap such as a lost connection) and the
/// owner. Answers `false` once nobody is fed by it any more, and is then dropped.
///
/// ```
/// let sink: sync_server::store::ChangeSink = std::sync::Arc::new(|table, owner| {
///     println!("{owner} wrote {table:?}");
///     true
/// });
/// assert!(sink(Some("Todo"), ""));
/// ```
pub type ChangeSink = std::sync::Arc<dyn Fn(Option<&str>, &str) -> bool + Send + Sync>;

/// A storage backend. Object-safe, so the router holds an `Arc<dyn Backend>`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sync_server::store::{Backend, Outcome, SqliteBackend, WriteOp};
/// let db = SqliteBackend::open_in_memory().unwrap();
/// let op = WriteOp::Insert { data: vec![("text".into(), serde_json::json!("milk"))] };
/// let Outcome::Done(row) = db.write("Todo", "", "a1", op.clone()).await.unwrap() else { panic!() };
/// assert_eq!(row.version, 1);
/// assert!(matches!(db.write("todo", "", "a1", op).await.unwrap(), Outcome::Conflict(_)));
/// # });
/// ```
pub trait Backend: Send + Sync + 'static {
    /// The live row with this id (`None` when unknown or soft-deleted).
    fn get<'a>(
        &'a self,
        table: &'a str,
        owner: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Row>, StoreError>>;

    /// One page of rows.
    fn query<'a>(
        &'a self,
        table: &'a str,
        owner: &'a str,
        query: &'a TableQuery,
    ) -> BoxFuture<'a, Result<Page, StoreError>>;

    /// Applies a write atomically (compare-and-swap on the version).
    fn write<'a>(
        &'a self,
        table: &'a str,
        owner: &'a str,
        id: &'a str,
        op: WriteOp,
    ) -> BoxFuture<'a, Result<Outcome, StoreError>>;

    /// Creates a declared table and its columns with their declared kinds, where they
    /// are missing (see [`crate::schema`]). A column that exists with another kind is
    /// an error naming it. A backend that cannot declare says so.
    fn declare<'a>(
        &'a self,
        table: &'a crate::schema::TableDecl,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            Err(StoreError::Database(format!(
                "this backend cannot declare table `{}`",
                table.name
            )))
        })
    }

    /// Whether [`Backend::write_batch`] is implemented (the server offers batches only
    /// then).
    fn batches(&self) -> bool {
        false
    }

    /// Applies a batch in one transaction, in order, each operation its own
    /// compare-and-swap: a refused or failed one changes nothing and leaves the others
    /// alone. An operation whose key (for this owner) is recorded within the key window
    /// is answered from the record and applies nothing; every other answer except a
    /// transient failure is recorded under its key in the same transaction as its
    /// write. The outer error fails the whole batch (nothing of it committed).
    fn write_batch<'a>(
        &'a self,
        owner: &'a str,
        ops: Vec<BatchOp>,
    ) -> BoxFuture<'a, Result<Vec<Result<Answer, StoreError>>, StoreError>> {
        let _ = (owner, ops);
        Box::pin(async move { Err(StoreError::Database("this backend has no batches".into())) })
    }

    /// Reports to `sink` the writes other instances sharing this database commit (the
    /// server reports its own). The default reports nothing: one instance owns the
    /// database (SQLite). PostgreSQL's listens on the `tablesync_feed` channel, which
    /// every write's transaction notifies.
    fn feed_changes(&self, sink: ChangeSink) {
        let _ = sink;
    }
}

/// Opens the backend a database URL names: `sqlite://path`, `sqlite::memory:`, or
/// `postgres://…` / `postgresql://…`.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// assert!(sync_server::store::open("sqlite::memory:").await.is_ok());
/// assert!(sync_server::store::open("mysql://x").await.is_err());
/// # });
/// ```
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Backend>, StoreError> {
    open_with(url, &StoreOptions::default()).await
}

/// [`open`] with the given [`StoreOptions`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let mut options = sync_server::store::StoreOptions::default();
/// options.sqlite_readers = 2;
/// assert!(sync_server::store::open_with("sqlite::memory:", &options).await.is_ok());
/// # });
/// ```
pub async fn open_with(
    url: &str,
    options: &StoreOptions,
) -> Result<std::sync::Arc<dyn Backend>, StoreError> {
    if url == "sqlite::memory:" {
        return Ok(std::sync::Arc::new(SqliteBackend::open_in_memory_with(
            options,
        )?));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        return Ok(std::sync::Arc::new(SqliteBackend::open_with(
            path, options,
        )?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(
            PostgresBackend::connect_with(url, options).await?,
        ));
    }
    Err(StoreError::Database(format!(
        "unsupported database URL `{url}`: use sqlite://path, sqlite::memory: or postgres://…"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(version: i64, deleted: bool) -> Row {
        Row {
            id: "a".into(),
            version,
            created_ms: 0,
            updated_ms: 0,
            deleted,
            data: vec![],
        }
    }

    #[test]
    fn row_json_is_to_json() {
        let row = Row {
            id: "a1".into(),
            version: 12,
            created_ms: 1_700_000_000_123,
            updated_ms: 1_700_000_000_456,
            deleted: true,
            data: vec![
                ("text".into(), Json::String("milk \"2%\"".into())),
                ("n".into(), serde_json::json!(2.5)),
                ("tags".into(), serde_json::json!({"a": [1, null]})),
            ],
        };
        let selects: [Option<Vec<String>>; 4] = [
            None,
            Some(vec!["TEXT".into(), "version".into()]),
            Some(vec!["id".into(), "updatedAt".into(), "nope".into()]),
            Some(vec![]),
        ];
        for select in &selects {
            let select = select.as_deref();
            assert_eq!(
                serde_json::to_string(&row.json(select)).unwrap(),
                serde_json::to_string(&row.to_json(select)).unwrap()
            );
        }
    }

    /// The rules themselves are tested next to them, in `sync_core::transport::protocol`;
    /// this is what `plan` adds: version texts read as counters, the server's row in a
    /// 409 or 412, and how each write changes the row.
    #[test]
    fn plan_reads_versions_as_counters_and_refuses_with_the_servers_row() {
        let v2 = Some(version_text(2));
        let v1 = Some(version_text(1));
        let upd = |if_match: Option<String>, body_version: Option<String>| WriteOp::Update {
            data: vec![],
            if_match,
            body_version,
        };
        let live = row(2, false);
        let gone = row(2, true);
        let ins = WriteOp::Insert { data: vec![] };
        assert_eq!(plan(&ins, None), Ok(Plan::Insert));
        assert_eq!(
            plan(&ins, Some(&gone)),
            Err(Outcome::Conflict(gone.clone()))
        );
        assert_eq!(
            plan(&upd(v2.clone(), None), Some(&live)),
            Ok(Plan::Update {
                expected: 2,
                deleted: None,
                with_data: true
            })
        );
        assert_eq!(
            plan(&upd(v1.clone(), None), Some(&live)),
            Err(Outcome::PreconditionFailed(live.clone()))
        );
        assert_eq!(
            plan(&upd(Some("*".into()), None), Some(&live)),
            Err(Outcome::PreconditionFailed(live.clone()))
        );
        // Any text of the same counter names the version.
        assert!(plan(&upd(Some(" Mg== ".into()), None), Some(&live)).is_ok());
        assert_eq!(
            plan(&upd(None, v1.clone()), Some(&live)),
            Err(Outcome::Conflict(live.clone()))
        );
        // If-Match decides when both are present.
        assert!(plan(&upd(v2.clone(), v1.clone()), Some(&live)).is_ok());
        assert_eq!(plan(&upd(None, None), Some(&gone)), Err(Outcome::NotFound));
        assert_eq!(plan(&upd(None, None), None), Err(Outcome::NotFound));
        let del = |if_match| WriteOp::Delete { if_match };
        assert_eq!(plan(&del(None), Some(&gone)), Err(Outcome::NotFound));
        assert_eq!(
            plan(&del(v1.clone()), Some(&live)),
            Err(Outcome::PreconditionFailed(live.clone()))
        );
        assert!(matches!(
            plan(&del(v2), Some(&live)),
            Ok(Plan::Update {
                deleted: Some(true),
                ..
            })
        ));
        let und = WriteOp::Undelete { if_match: None };
        assert!(matches!(
            plan(&und, Some(&gone)),
            Ok(Plan::Update {
                deleted: Some(false),
                ..
            })
        ));
        assert_eq!(plan(&und, None), Err(Outcome::NotFound));
    }
}

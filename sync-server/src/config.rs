//! What a server instance is configured with: a backend, authentication, and limits.

use std::sync::Arc;

use crate::query::FilterLimits;
use crate::schema::{Schema, TableDecl};
use crate::store::{self, Backend, StoreError};

/// How requests are authenticated.
///
/// ```
/// use sync_server::Auth;
/// let auth = Auth::Jwt { secret: b"s3cret".to_vec(), per_user: true };
/// assert!(matches!(auth, Auth::Jwt { per_user: true, .. }));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// No authentication (a warning is logged at startup).
    None,
    /// A shared key in `X-API-KEY` or `Authorization: Bearer <key>`.
    ApiKey(String),
    /// An HS256 JWT in `X-ZUMO-AUTH` or `Authorization: Bearer <jwt>`; `exp` is checked.
    Jwt {
        /// The HMAC secret.
        secret: Vec<u8>,
        /// Each row belongs to the token's `sub`; users see only their own rows.
        per_user: bool,
    },
}

/// The shortest `--api-key` the server starts with.
pub const MIN_API_KEY_LEN: usize = 16;
/// The shortest `--jwt-secret` the server starts with: 256 bits, the HMAC-SHA256 key
/// size RFC 7518 (section 3.2) requires.
pub const MIN_JWT_SECRET_LEN: usize = 32;

impl Auth {
    /// Checks that a credential is strong enough to start a server with: an API key of
    /// at least [`MIN_API_KEY_LEN`] characters, a JWT secret of at least
    /// [`MIN_JWT_SECRET_LEN`] bytes. The error names the setting (`--api-key`,
    /// `--jwt-secret`). (Whatever this says, an empty key or secret lets no request in.)
    ///
    /// ```
    /// use sync_server::Auth;
    /// assert!(Auth::None.check().is_ok());
    /// assert!(Auth::ApiKey("0123456789abcdef".into()).check().is_ok());
    /// assert_eq!(
    ///     Auth::ApiKey(String::new()).check().unwrap_err(),
    ///     "--api-key (TABLESYNC_API_KEY) is empty: give a key of at least 16 characters"
    /// );
    /// let short = Auth::Jwt { secret: b"s3cret".to_vec(), per_user: false };
    /// assert!(short.check().unwrap_err().starts_with("--jwt-secret (TABLESYNC_JWT_SECRET) is 6 bytes"));
    /// ```
    pub fn check(&self) -> Result<(), String> {
        let (flag, len, min, unit) = match self {
            Auth::None => return Ok(()),
            Auth::ApiKey(key) => (
                "--api-key (TABLESYNC_API_KEY)",
                key.chars().count(),
                MIN_API_KEY_LEN,
                "characters",
            ),
            Auth::Jwt { secret, .. } => (
                "--jwt-secret (TABLESYNC_JWT_SECRET)",
                secret.len(),
                MIN_JWT_SECRET_LEN,
                "bytes",
            ),
        };
        if len == 0 {
            let what = if unit == "bytes" { "secret" } else { "key" };
            return Err(format!(
                "{flag} is empty: give a {what} of at least {min} {unit}"
            ));
        }
        if len < min {
            return Err(format!(
                "{flag} is {len} {unit}: it must be at least {min} {unit}"
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for Auth {
    // Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::ApiKey(_) => f.write_str("ApiKey(..)"),
            Auth::Jwt { per_user, .. } => write!(f, "Jwt {{ per_user: {per_user}, .. }}"),
        }
    }
}

/// A server's configuration. Builder methods chain by value.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use sync_server::{Auth, Config};
/// let config = Config::open("sqlite::memory:").await.unwrap()
///     .auth(Auth::ApiKey("k".into()))
///     .max_page_size(500)
///     .max_body(64 * 1024)
///     .tables(["TodoItem"]);
/// assert_eq!(config.max_page_size_value(), 500);
/// # });
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) auth: Auth,
    pub(crate) max_page_size: u64,
    pub(crate) max_body: usize,
    pub(crate) max_url: usize,
    pub(crate) filter_limits: FilterLimits,
    pub(crate) tables: Option<Vec<String>>,
    /// The declared tables, each declared to the backend once, before its first use.
    pub(crate) declared: Arc<Vec<Declared>>,
    pub(crate) dynamic_schema: Option<bool>,
    pub(crate) max_batch: usize,
    pub(crate) max_batch_bytes: usize,
    pub(crate) key_window: std::time::Duration,
    pub(crate) max_stream_rows: u64,
    /// The change feed's writes, from this instance and (PostgreSQL) the others.
    pub(crate) hub: Arc<crate::feed::Hub>,
    pub(crate) feed_heartbeat: std::time::Duration,
    pub(crate) feed_coalesce: std::time::Duration,
    pub(crate) max_feed_tables: usize,
    pub(crate) max_feed_connections: usize,
    /// One permit per open feed.
    pub(crate) feed_slots: Arc<tokio::sync::Semaphore>,
}

/// A declared table and whether the backend has it yet.
pub(crate) struct Declared {
    pub(crate) decl: TableDecl,
    done: tokio::sync::OnceCell<()>,
}

/// Default `--max-page-size`: the reference server's cap.
pub const DEFAULT_MAX_PAGE_SIZE: u64 = 1000;
/// Default `--max-body`: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// Default `--max-batch`: operations in one batch.
pub const DEFAULT_MAX_BATCH: usize = 1000;
/// Default `--max-batch-bytes`: 4 MiB.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 4 << 20;
/// Default `--max-stream-rows`: rows in one streamed pull answer (a client asks again
/// after the last for more).
pub const DEFAULT_MAX_STREAM_ROWS: u64 = 100_000;
/// Default `--max-url`: 32 KiB of path and query, room for any filter within the
/// default [`FilterLimits`] of a sync client.
pub const DEFAULT_MAX_URL: usize = 32 << 10;

impl Config {
    /// A configuration over an open backend: no auth, default limits, any table.
    ///
    /// ```
    /// let db = sync_server::store::SqliteBackend::open_in_memory().unwrap();
    /// let config = sync_server::Config::new(std::sync::Arc::new(db));
    /// assert_eq!(config.max_page_size_value(), sync_server::DEFAULT_MAX_PAGE_SIZE);
    /// ```
    pub fn new(backend: Arc<dyn Backend>) -> Config {
        let hub = Arc::new(crate::feed::Hub::new());
        backend.feed_changes(crate::feed::sink(&hub));
        Config {
            hub,
            feed_heartbeat: crate::feed::DEFAULT_FEED_HEARTBEAT,
            feed_coalesce: crate::feed::DEFAULT_FEED_COALESCE,
            max_feed_tables: crate::feed::DEFAULT_MAX_FEED_TABLES,
            max_feed_connections: crate::feed::DEFAULT_MAX_FEED_CONNECTIONS,
            feed_slots: Arc::new(tokio::sync::Semaphore::new(
                crate::feed::DEFAULT_MAX_FEED_CONNECTIONS,
            )),
            backend,
            auth: Auth::None,
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            max_body: DEFAULT_MAX_BODY,
            max_url: DEFAULT_MAX_URL,
            filter_limits: FilterLimits::default(),
            tables: None,
            declared: Arc::new(Vec::new()),
            dynamic_schema: None,
            max_batch: DEFAULT_MAX_BATCH,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            key_window: store::DEFAULT_KEY_WINDOW,
            max_stream_rows: DEFAULT_MAX_STREAM_ROWS,
        }
    }

    /// Opens the backend a database URL names (see [`store::open`]) and configures it;
    /// see the type's example.
    pub async fn open(database_url: &str) -> Result<Config, StoreError> {
        Ok(Config::new(store::open(database_url).await?))
    }

    /// [`Config::open`] with the backend's bounds set (reader threads, queue lengths,
    /// statement time limit).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut options = sync_server::store::StoreOptions::default();
    /// options.sqlite_queue = 64;
    /// let config = sync_server::Config::open_with("sqlite::memory:", &options).await.unwrap();
    /// # drop(config);
    /// # });
    /// ```
    pub async fn open_with(
        database_url: &str,
        options: &store::StoreOptions,
    ) -> Result<Config, StoreError> {
        Ok(Config::new(store::open_with(database_url, options).await?)
            .key_window(options.key_window))
    }

    /// The most operations one batch may carry (more is a 400), and its largest body
    /// (more is a 413). Each item within it is still bounded by [`Config::max_body`].
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let config = sync_server::Config::open("sqlite::memory:").await.unwrap()
    ///     .max_batch(100, 1 << 20);
    /// # drop(config);
    /// # });
    /// ```
    pub fn max_batch(mut self, operations: usize, bytes: usize) -> Config {
        self.max_batch = operations;
        self.max_batch_bytes = bytes;
        self
    }

    /// The most rows one streamed pull answer carries (`GET /tablesync/v1/stream/...`):
    /// an answer that reaches it ends saying more rows follow, and the client asks again
    /// after its last row. Bounds the time one answer holds a connection; each of its
    /// queries is a page of at most [`Config::max_page_size`] rows.
    ///
    /// ```
    /// let db = sync_server::store::SqliteBackend::open_in_memory().unwrap();
    /// let config = sync_server::Config::new(std::sync::Arc::new(db)).max_stream_rows(10_000);
    /// # drop(config);
    /// ```
    pub fn max_stream_rows(mut self, rows: u64) -> Config {
        self.max_stream_rows = rows.max(1);
        self
    }

    /// The change feed's bounds (`GET /tablesync/v1/feed`): a heartbeat at least every
    /// `heartbeat` (keep it below the connection's idle timeout, which it resets), at
    /// most `max_tables` tables per feed, at most `max_connections` feeds open at once
    /// (each is also one connection of the connection cap; past it a 503), and pokes of
    /// one feed at least `coalesce` apart (writes in between become one poke per table).
    ///
    /// ```
    /// use std::time::Duration;
    /// let db = sync_server::store::SqliteBackend::open_in_memory().unwrap();
    /// let config = sync_server::Config::new(std::sync::Arc::new(db))
    ///     .feed(Duration::from_secs(15), 100, 1000, Duration::from_millis(100));
    /// # drop(config);
    /// ```
    pub fn feed(
        mut self,
        heartbeat: std::time::Duration,
        max_tables: usize,
        max_connections: usize,
        coalesce: std::time::Duration,
    ) -> Config {
        self.feed_heartbeat = heartbeat.max(std::time::Duration::from_millis(10));
        self.max_feed_tables = max_tables.max(1);
        self.max_feed_connections = max_connections.min(tokio::sync::Semaphore::MAX_PERMITS);
        self.feed_slots = Arc::new(tokio::sync::Semaphore::new(self.max_feed_connections));
        self.feed_coalesce = coalesce;
        self
    }

    /// The key window the server announces in its discovery answer: set it to the
    /// backend's [`StoreOptions::key_window`](store::StoreOptions::key_window) when that
    /// is not the default ([`Config::open_with`] does).
    pub fn key_window(mut self, window: std::time::Duration) -> Config {
        self.key_window = window;
        self
    }

    /// Sets the authentication.
    pub fn auth(mut self, auth: Auth) -> Config {
        self.auth = auth;
        self
    }

    /// The largest `$top` accepted (more is a 400).
    pub fn max_page_size(mut self, n: u64) -> Config {
        self.max_page_size = n;
        self
    }

    /// The largest request body in bytes (more is a 413).
    pub fn max_body(mut self, bytes: usize) -> Config {
        self.max_body = bytes;
        self
    }

    /// The longest URL (path and query, in bytes) accepted: more is a 414.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let config = sync_server::Config::open("sqlite::memory:").await.unwrap().max_url(4096);
    /// # drop(config);
    /// # });
    /// ```
    pub fn max_url(mut self, bytes: usize) -> Config {
        self.max_url = bytes;
        self
    }

    /// The most terms a `$filter` may have (comparisons, text functions, constants):
    /// more is a 400 naming the limit.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let config = sync_server::Config::open("sqlite::memory:").await.unwrap()
    ///     .max_filter_terms(100)
    ///     .max_filter_depth(8);
    /// # drop(config);
    /// # });
    /// ```
    pub fn max_filter_terms(mut self, n: usize) -> Config {
        self.filter_limits.max_terms = n;
        self
    }

    /// The deepest nesting of parentheses and `not` in a `$filter`: deeper is a 400
    /// naming the limit.
    pub fn max_filter_depth(mut self, n: usize) -> Config {
        self.filter_limits.max_depth = n;
        self
    }

    /// Serves only these tables (names match ignoring case); others are 404. Without
    /// this, every valid table name is served, created on first write.
    pub fn tables<I, S>(mut self, names: I) -> Config
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tables = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Declares the schema: these tables, with these columns of these kinds, are
    /// created before the server answers its first request to them (see
    /// [`crate::schema`]). Other tables are served only while the schema is dynamic
    /// ([`Config::dynamic_schema`]).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use sync_server::schema::{Schema, TableDecl};
    /// use sync_server::store::Kind;
    /// let config = sync_server::Config::open("sqlite::memory:").await.unwrap()
    ///     .schema(Schema::new([TableDecl::new("TodoItem").column("text", Kind::Text)]))
    ///     .dynamic_schema(false);
    /// config.apply_schema().await.unwrap();
    /// assert!(!config.dynamic_schema_value());
    /// # });
    /// ```
    pub fn schema(mut self, schema: Schema) -> Config {
        self.declared = Arc::new(
            schema
                .tables
                .into_iter()
                .map(|decl| Declared {
                    decl,
                    done: tokio::sync::OnceCell::new(),
                })
                .collect(),
        );
        self
    }

    /// Whether writes may add tables and columns the schema does not declare, each
    /// column taking the kind of its first value. Default: yes, except in per-user
    /// mode, where one user's writes would otherwise shape every user's tables.
    pub fn dynamic_schema(mut self, dynamic: bool) -> Config {
        self.dynamic_schema = Some(dynamic);
        self
    }

    /// Whether the schema is dynamic, defaults applied; see [`Config::dynamic_schema`].
    pub fn dynamic_schema_value(&self) -> bool {
        let per_user = matches!(self.auth, Auth::Jwt { per_user: true, .. });
        self.dynamic_schema.unwrap_or(!per_user)
    }

    /// Declares every table of the schema to the backend now (otherwise each is
    /// declared before its first request), so that a schema the database contradicts
    /// fails at startup; see [`Config::schema`].
    pub async fn apply_schema(&self) -> Result<(), StoreError> {
        for d in self.declared.iter() {
            self.declare(d).await?;
        }
        Ok(())
    }

    /// The declared table of this name, declared to the backend if it was not yet.
    pub(crate) async fn declared_table(
        &self,
        name: &str,
    ) -> Result<Option<&TableDecl>, StoreError> {
        match self
            .declared
            .iter()
            .find(|d| d.decl.name.eq_ignore_ascii_case(name))
        {
            Some(d) => {
                self.declare(d).await?;
                Ok(Some(&d.decl))
            }
            None => Ok(None),
        }
    }

    async fn declare(&self, d: &Declared) -> Result<(), StoreError> {
        d.done
            .get_or_try_init(|| self.backend.declare(&d.decl))
            .await
            .map(|_| ())
    }

    /// The configured maximum page size.
    pub fn max_page_size_value(&self) -> u64 {
        self.max_page_size
    }
}

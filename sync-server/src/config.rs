//! What a server instance is configured with: a backend, authentication, and limits.

use std::sync::Arc;

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
    pub(crate) tables: Option<Vec<String>>,
}

/// Default `--max-page-size`: the reference server's cap.
pub const DEFAULT_MAX_PAGE_SIZE: u64 = 1000;
/// Default `--max-body`: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

impl Config {
    /// A configuration over an open backend: no auth, default limits, any table.
    ///
    /// ```
    /// let db = sync_server::store::SqliteBackend::open_in_memory().unwrap();
    /// let config = sync_server::Config::new(std::sync::Arc::new(db));
    /// assert_eq!(config.max_page_size_value(), sync_server::DEFAULT_MAX_PAGE_SIZE);
    /// ```
    pub fn new(backend: Arc<dyn Backend>) -> Config {
        Config {
            backend,
            auth: Auth::None,
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            max_body: DEFAULT_MAX_BODY,
            tables: None,
        }
    }

    /// Opens the backend a database URL names (see [`store::open`]) and configures it;
    /// see the type's example.
    pub async fn open(database_url: &str) -> Result<Config, StoreError> {
        Ok(Config::new(store::open(database_url).await?))
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

    /// The configured maximum page size.
    pub fn max_page_size_value(&self) -> u64 {
        self.max_page_size
    }
}

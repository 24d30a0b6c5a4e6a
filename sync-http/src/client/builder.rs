//! [`HttpTransportBuilder`]: where the server is, how to authenticate, how long to wait.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sync_core::transport::TransportError;

use super::inner::Inner;
use super::retry::RetryPolicy;
use super::token::{TokenFuture, TokenHeader, TokenRefresher, token_value};
use super::transport::HttpTransport;
use crate::wire::{API_VERSION, API_VERSION_HEADER};

/// The transport's configuration could not be used.
///
/// ```
/// let e = sync_http::HttpTransport::builder("ftp://example.com/").build().unwrap_err();
/// assert_eq!(e.to_string(), "base URL `ftp://example.com/`: the scheme must be http or https");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The base URL cannot be used.
    #[error("base URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header name or value cannot be sent.
    #[error("header `{name}`: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be created (its TLS setup failed).
    #[error("HTTP client: {message}")]
    Client {
        /// What failed.
        message: String,
    },
}

/// Configures an [`HttpTransport`]. Methods take and return the builder by value.
///
/// ```
/// use std::time::Duration;
/// use sync_http::{HttpTransport, RetryPolicy, TokenHeader};
/// let transport = HttpTransport::builder("https://example.com/app/")
///     .timeout(Duration::from_secs(10))
///     .bearer_token("eyJhbGciOi...")
///     .token_header(TokenHeader::Both)
///     .token_refresher(|| async { Ok("a-fresh-token".to_string()) })
///     .header("X-ZUMO-INSTALLATION-ID", "6d1b3c2e")
///     .retry(RetryPolicy { attempts: 3, ..RetryPolicy::default() })
///     .build()
///     .unwrap();
/// assert_eq!(transport.base_url().as_str(), "https://example.com/app/");
/// ```
#[must_use]
pub struct HttpTransportBuilder {
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    token: Option<String>,
    token_header: TokenHeader,
    refresher: Option<TokenRefresher>,
    api_key: Option<(String, String)>,
    headers: Vec<(String, String)>,
    retry: RetryPolicy,
    max_response_bytes: u64,
    max_page_size: u32,
    extensions: bool,
    stream_page_rows: u32,
}

/// The default of [`HttpTransportBuilder::max_response_bytes`]: 32 MiB, a hundred times
/// a page of a thousand ordinary rows.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;

/// The default of [`HttpTransportBuilder::stream_page_rows`]: 2000 rows per stored page
/// of a streamed pull.
pub const DEFAULT_STREAM_PAGE_ROWS: u32 = 2000;

/// The default of [`HttpTransportBuilder::max_page_size`]: 1000, the most rows
/// Microsoft's server gives in one answer (it refuses a larger `$top`).
pub const DEFAULT_MAX_PAGE_SIZE: u32 = 1000;

impl std::fmt::Debug for HttpTransportBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials stay out of logs.
        f.debug_struct("HttpTransportBuilder")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("token_header", &self.token_header)
            .field("has_token", &self.token.is_some())
            .field("has_refresher", &self.refresher.is_some())
            .field("retry", &self.retry)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_page_size", &self.max_page_size)
            .finish_non_exhaustive()
    }
}

/// The two ways to make an [`HttpTransport`]: here, beside the builder they use, so that
/// the transport itself knows nothing of how it is configured.
impl HttpTransport {
    /// A builder for the server at `base_url`.
    ///
    /// ```
    /// let t = sync_http::HttpTransport::builder("http://127.0.0.1:3000").build().unwrap();
    /// assert_eq!(t.base_url().as_str(), "http://127.0.0.1:3000/");
    /// ```
    pub fn builder(base_url: impl Into<String>) -> HttpTransportBuilder {
        HttpTransportBuilder::new(base_url)
    }

    /// A transport with the defaults and no credentials.
    ///
    /// ```
    /// assert!(sync_http::HttpTransport::new("https://example.com/app/").is_ok());
    /// assert!(sync_http::HttpTransport::new("example.com").is_err());
    /// ```
    pub fn new(base_url: impl Into<String>) -> Result<HttpTransport, BuildError> {
        HttpTransportBuilder::new(base_url).build()
    }
}

impl HttpTransportBuilder {
    /// A builder for the server at `base_url` (tables are under `{base_url}tables/`).
    /// Defaults: 30 s per request, 10 s to connect, no credentials, [`RetryPolicy::default`],
    /// answers of at most [`DEFAULT_MAX_RESPONSE_BYTES`], pages of at most
    /// [`DEFAULT_MAX_PAGE_SIZE`] rows.
    pub fn new(base_url: impl Into<String>) -> HttpTransportBuilder {
        HttpTransportBuilder {
            base_url: base_url.into(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            token: None,
            token_header: TokenHeader::default(),
            refresher: None,
            api_key: None,
            headers: Vec::new(),
            retry: RetryPolicy::default(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            extensions: true,
            stream_page_rows: DEFAULT_STREAM_PAGE_ROWS,
        }
    }

    /// Whether to ask the server for the `tablesync` extension (batch push) once, and
    /// use it when offered (default: yes). Off, the transport speaks the Azure table
    /// protocol alone, as it does with a server that does not offer the extension.
    ///
    /// ```
    /// let t = sync_http::HttpTransport::builder("http://127.0.0.1:3000")
    ///     .extensions(false)
    ///     .build()
    ///     .unwrap();
    /// # drop(t);
    /// ```
    pub fn extensions(mut self, ask: bool) -> HttpTransportBuilder {
        self.extensions = ask;
        self
    }

    /// The rows of each page a streamed pull is cut into (default
    /// [`DEFAULT_STREAM_PAGE_ROWS`], at least 1): the engine stores each page with its
    /// watermark in one transaction, so this is the size of a commit and, twice over
    /// (one page stored, one read), the rows a pull holds in memory. A page is cut
    /// earlier when its rows pass a quarter of
    /// [`max_response_bytes`](Self::max_response_bytes). It applies to a server that
    /// streams (the `tablesync` extension); a paged pull asks for the engine's page size.
    ///
    /// ```
    /// let t = sync_http::HttpTransport::builder("http://127.0.0.1:3000")
    ///     .stream_page_rows(500)
    ///     .build()
    ///     .unwrap();
    /// # drop(t);
    /// ```
    pub fn stream_page_rows(mut self, rows: u32) -> Self {
        self.stream_page_rows = rows;
        self
    }

    /// The largest answer body read, in bytes (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    /// A larger one is [`TransportError::ResponseTooLarge`]: refused at once when its
    /// `Content-Length` says so, otherwise as soon as the bytes read pass the limit, so
    /// no answer takes more memory than this, whatever the server sends.
    ///
    /// ```
    /// let t = sync_http::HttpTransport::builder("http://127.0.0.1:3000")
    ///     .max_response_bytes(4 * 1024 * 1024)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(t.max_response_bytes(), 4 * 1024 * 1024);
    /// ```
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The most rows one pull page asks for (`$top`; default [`DEFAULT_MAX_PAGE_SIZE`],
    /// at least 1): a larger page size asked by the engine is sent as this. A server
    /// that refuses a `$top` with a 400 naming it is asked again with the limit its
    /// message names (else 1000, then 50), and that limit is kept for the transport.
    ///
    /// ```
    /// let t = sync_http::HttpTransport::builder("http://127.0.0.1:3000")
    ///     .max_page_size(200)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(t.max_page_size(), 200);
    /// ```
    pub fn max_page_size(mut self, rows: u32) -> Self {
        self.max_page_size = rows;
        self
    }

    /// The longest one attempt of a request may take, answer body included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest connecting may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The bearer token sent with every request (see [`token_header`](Self::token_header)).
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Which header carries the bearer token (default `Authorization: Bearer`).
    pub fn token_header(mut self, header: TokenHeader) -> Self {
        self.token_header = header;
        self
    }

    /// Gets a new token when the server answers 401: called at most once per request,
    /// which is then sent again with the new token. Concurrent requests that were
    /// refused with the same token share one refresh.
    pub fn token_refresher<F, Fut>(mut self, refresh: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, TransportError>> + Send + 'static,
    {
        self.refresher = Some(Arc::new(move || -> TokenFuture { Box::pin(refresh()) }));
        self
    }

    /// A static API key header sent with every request (the reference server has none;
    /// gateways in front of a server often do).
    pub fn api_key(mut self, header: impl Into<String>, value: impl Into<String>) -> Self {
        self.api_key = Some((header.into(), value.into()));
        self
    }

    /// Another header sent with every request (e.g. `X-ZUMO-INSTALLATION-ID`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How transient failures are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Checks the configuration and creates the transport (and its connection pool).
    pub fn build(self) -> Result<HttpTransport, BuildError> {
        let base = base_url(&self.base_url)?;
        let mut tables = base.clone();
        tables.set_path(&format!("{}tables", base.path()));
        let mut headers = HeaderMap::new();
        let (n, v) = header(API_VERSION_HEADER, API_VERSION)?;
        headers.insert(n, v);
        for (name, value) in &self.headers {
            let (n, v) = header(name, value)?;
            headers.append(n, v);
        }
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        if let Some((name, value)) = &self.api_key {
            let (n, v) = header(name, value)?;
            headers.insert(n, v);
        }
        if let Some(token) = &self.token {
            token_value(token).map_err(|reason| BuildError::InvalidHeader {
                name: "bearer token".into(),
                reason,
            })?;
        }
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            // A redirect would carry our credentials headers elsewhere and turn a PATCH
            // into a GET: the protocol has none, so one is answered as an error.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BuildError::Client {
                message: e.to_string(),
            })?;
        Ok(HttpTransport {
            inner: Arc::new(Inner {
                client,
                base,
                tables,
                headers,
                token: RwLock::new(self.token),
                token_header: self.token_header,
                refresher: self.refresher,
                refresh_lock: tokio::sync::Mutex::new(()),
                retry: RetryPolicy {
                    attempts: self.retry.attempts.max(1),
                    ..self.retry
                },
                schemas: RwLock::new(HashMap::new()),
                paging: Mutex::new(HashMap::new()),
                max_response_bytes: self.max_response_bytes,
                page_cap: AtomicU32::new(self.max_page_size.max(1)),
                extensions: self.extensions,
                stream_page_rows: self.stream_page_rows.max(1) as usize,
                discovered: tokio::sync::OnceCell::new(),
            }),
        })
    }
}

/// The base URL, checked, its path ending in `/` so that `tables/...` joins under it.
fn base_url(given: &str) -> Result<Url, BuildError> {
    let bad = |reason: &str| BuildError::InvalidUrl {
        url: given.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(given).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "credentials do not belong in the URL: use bearer_token or api_key",
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), BuildError> {
    let bad = |reason: String| BuildError::InvalidHeader {
        name: name.to_owned(),
        reason,
    };
    let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let mut v = HeaderValue::from_str(value).map_err(|e| bad(e.to_string()))?;
    v.set_sensitive(true);
    Ok((n, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_end_in_a_slash() {
        assert_eq!(
            base_url("https://h/app").unwrap().as_str(),
            "https://h/app/"
        );
        assert_eq!(
            base_url("http://127.0.0.1:3000").unwrap().as_str(),
            "http://127.0.0.1:3000/"
        );
        for bad in [
            "not a url",
            "ftp://h/",
            "https://h/?x=1",
            "https://u:p@h/",
            "mailto:a@b",
        ] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_are_checked() {
        let e = HttpTransportBuilder::new("http://h/")
            .header("bad name", "x")
            .build()
            .unwrap_err();
        assert!(matches!(e, BuildError::InvalidHeader { .. }), "{e}");
        let e = HttpTransportBuilder::new("http://h/")
            .bearer_token("line\nbreak")
            .build()
            .unwrap_err();
        assert!(matches!(e, BuildError::InvalidHeader { .. }), "{e}");
    }
}

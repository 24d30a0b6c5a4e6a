//! The tablesync server: axum routes for the table protocol (Azure Mobile Apps tables,
//! version 2.0; see `PROTOCOL.md`) over SQLite or PostgreSQL.
//!
//! A request flows through [`router`]'s layers: the `ZUMO-API-VERSION` check, then
//! authentication ([`Auth`]: none, an API key, or an HS256 JWT, optionally per user),
//! then a route, which validates the table name, id and body, parses query options
//! ([`query`]) and makes one call to the [`store::Backend`]. The backend does every
//! write as a compare-and-swap on the row's version with a non-decreasing
//! `updatedAt` per table in commit order, so incremental keyset pulls never miss a row
//! (see [`store`]). Every error is JSON `{"error": "..."}`, except 409 and 412, which
//! carry the server's row.
//!
//! [`serve`] and [`serve_until`] run hyper's HTTP/1 connections under [`ServeLimits`]:
//! header, idle and request timeouts, a connection cap, and request-head sizes, so that
//! slow or silent clients cannot deny service to the rest.
//!
//! Decisions where the reference server is silent or sloppy:
//! - any valid table name is served (created on first write; reads of an unwritten
//!   table are empty) unless [`Config::tables`] limits them; invalid names are 404;
//! - columns are added on the fly and keep the kind of their first value (see
//!   [`store::Kind`]); objects and arrays are stored as JSON text and returned as JSON;
//! - `__includeDeleted` includes deleted rows only when it is `true`;
//! - `$select` returns the selected columns plus `deleted`;
//! - a filter on a column that no row has yet matches as if the column were all `NULL`.
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let config = sync_server::Config::open("sqlite::memory:").await.unwrap();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let server = sync_server::serve(listener, config).await.unwrap();
//! assert!(server.addr().port() > 0);
//! server.shutdown().await.unwrap();
//! # });
//! ```

#![warn(missing_docs)]

pub mod auth;
mod config;
mod error;
mod feed;
mod http;
pub mod query;
pub mod schema;
mod serve;
pub mod store;
mod stream;

pub use config::{
    Auth, Config, DEFAULT_MAX_BATCH, DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BODY,
    DEFAULT_MAX_PAGE_SIZE, DEFAULT_MAX_STREAM_ROWS, DEFAULT_MAX_URL, MIN_API_KEY_LEN,
    MIN_JWT_SECRET_LEN,
};
pub use error::ApiError;
pub use feed::{
    DEFAULT_FEED_COALESCE, DEFAULT_FEED_HEARTBEAT, DEFAULT_MAX_FEED_CONNECTIONS,
    DEFAULT_MAX_FEED_TABLES,
};
pub use http::{MAX_ID_LEN, validate_id};
pub use serve::{
    DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEADER_BYTES, DEFAULT_REQUEST_TIMEOUT, FD_HEADROOM, ServeLimits,
    default_max_connections,
};

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The server's routes (`/tables/...`) as an axum router, to serve alone or to merge
/// next to an app's own routes and middleware.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let config = sync_server::Config::open("sqlite::memory:").await.unwrap();
/// let app = axum::Router::new()
///     .route("/health", axum::routing::get(|| async { "ok" }))
///     .merge(sync_server::router(config));
/// # drop(app);
/// # });
/// ```
pub fn router(config: Config) -> axum::Router {
    if config.auth == Auth::None {
        tracing::warn!(
            "no authentication configured: anyone who can reach the server can read and write every table"
        );
    }
    http::router(config)
}

/// A server running in this process, started by [`serve`].
///
/// Dropping it stops the server too (without waiting); [`RunningServer::shutdown`]
/// stops it gracefully and waits.
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let config = sync_server::Config::open("sqlite::memory:").await.unwrap();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let server = sync_server::serve(listener, config).await.unwrap();
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// assert_eq!(server.url(), format!("http://{}", server.addr()));
/// server.shutdown().await.unwrap();
/// # });
/// ```
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes in-flight requests, and waits.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a server on a bound listener (e.g. `127.0.0.1:0`) in the background and
/// returns its address and shutdown handle.
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let config = sync_server::Config::open("sqlite::memory:").await.unwrap();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let server = sync_server::serve(listener, config).await.unwrap();
/// let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// stream.write_all(b"GET /tables/Todo HTTP/1.1\r\nHost: x\r\nZUMO-API-VERSION: 2.0.0\r\nConnection: close\r\n\r\n").await.unwrap();
/// let mut answer = String::new();
/// stream.read_to_string(&mut answer).await.unwrap();
/// assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
/// assert!(answer.ends_with("[]"));
/// server.shutdown().await.unwrap();
/// # });
/// ```
pub async fn serve(listener: TcpListener, config: Config) -> std::io::Result<RunningServer> {
    serve_with(listener, config, ServeLimits::default()).await
}

/// Like [`serve`], with these connection limits (timeouts, connection cap, head sizes).
/// An invalid limit is an error here, before anything is served.
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// let config = sync_server::Config::open("sqlite::memory:").await.unwrap();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let limits = sync_server::ServeLimits::default()
///     .header_timeout(Duration::from_secs(2))
///     .max_connections(100);
/// let server = sync_server::serve_with(listener, config, limits).await.unwrap();
/// server.shutdown().await.unwrap();
/// # });
/// ```
pub async fn serve_with(
    listener: TcpListener,
    config: Config,
    limits: ServeLimits,
) -> std::io::Result<RunningServer> {
    limits.validate()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let addr = listener.local_addr()?;
    let task = tokio::spawn(serve_until_with(listener, router(config), limits, async {
        let _ = stopped.await;
    }));
    Ok(RunningServer {
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes in-flight
/// requests (graceful shutdown), with the default [`ServeLimits`].
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let config = sync_server::Config::open("sqlite::memory:").await.unwrap();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// sync_server::serve_until(listener, sync_server::router(config), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
pub async fn serve_until(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_until_with(listener, app, ServeLimits::default(), shutdown).await
}

/// Like [`serve_until`], with these connection limits: a connection that does not send
/// its request head within the header timeout, or stays idle longer than the idle
/// timeout, is closed; at the connection cap the longest-idle connection makes room;
/// a request not answered within the request timeout gets a JSON 408 or 503. After
/// `shutdown`, idle connections close at once and the wait for the others is bounded
/// by the header and request timeouts.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let config = sync_server::Config::open("sqlite::memory:").await.unwrap();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let limits = sync_server::ServeLimits::default().max_connections(2000);
/// sync_server::serve_until_with(listener, sync_server::router(config), limits, async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
pub async fn serve_until_with(
    listener: TcpListener,
    app: axum::Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve::run(listener, app, limits, shutdown).await
}

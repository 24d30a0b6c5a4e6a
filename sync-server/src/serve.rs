//! The accept loop: hyper's HTTP/1 connections with the limits that keep a slow or
//! silent client from denying service to the rest ([`ServeLimits`]).
//!
//! Each connection is in one of three phases, watched by its own task:
//! - **head**: from accept, or from the first byte after an idle pause, until the
//!   request head is complete; closed after [`ServeLimits::header_timeout`] (a client
//!   dripping header bytes does not extend it);
//! - **busy**: a request is being answered; bounded by [`ServeLimits::request_timeout`]
//!   (a JSON 408 when the body had not arrived, a JSON 503 when the server was slow);
//! - **idle**: a keep-alive connection between requests (or writing its last answer);
//!   closed after [`ServeLimits::idle_timeout`] without progress.
//!
//! hyper's own `header_read_timeout` is off: in hyper 1.x it also runs while a
//! keep-alive connection waits for its next request, so the idle wait could not be
//! longer than the header wait. The phases above give each its own limit.
//!
//! At most [`ServeLimits::max_connections`] connections are open. When a new one comes
//! and all slots are taken, the connection that has been idle or reading its head the
//! longest is closed to make room: a flood of silent connections then evicts itself,
//! and a normal request (whose head arrives at once) is served promptly. Only when every
//! connection is busy does the server stop accepting (the kernel's backlog holds new
//! ones) until one finishes. An accept error such as `EMFILE` (out of file descriptors)
//! also closes the oldest idle connection and retries after a short pause, instead of
//! spinning or exiting.
//!
//! On shutdown the loop stops accepting, idle connections close at once, and requests
//! in flight are finished (each within the request timeout). A change feed's answer
//! never finishes by itself: its connection is closed at once (its client opens the
//! feed again elsewhere, or later).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::error::ApiError;

/// Default `--header-timeout`: 10 s to send a request head.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `--idle-timeout`: 60 s between requests on a keep-alive connection.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `--request-timeout`: 60 s to receive a request body and answer it.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `--max-connections` when the file-descriptor limit allows it (see
/// [`default_max_connections`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// File descriptors kept free for everything else (database, listener, logs) when the
/// default connection cap is derived from the process's limit.
pub const FD_HEADROOM: usize = 64;
/// Default `--max-header-bytes`: 64 KiB for the request line and headers together
/// (above the router's URL limit, `--max-url`, so that a long URL gets its JSON 414).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;

/// The default connection cap: [`DEFAULT_MAX_CONNECTIONS`], or fewer when the
/// process's soft file-descriptor limit minus [`FD_HEADROOM`] is lower (at least 16).
///
/// ```
/// let n = sync_server::default_max_connections();
/// assert!((16..=sync_server::DEFAULT_MAX_CONNECTIONS).contains(&n));
/// ```
pub fn default_max_connections() -> usize {
    let soft = fd_soft_limit().unwrap_or(u64::MAX);
    let room = usize::try_from(soft)
        .unwrap_or(usize::MAX)
        .saturating_sub(FD_HEADROOM);
    room.clamp(16, DEFAULT_MAX_CONNECTIONS)
}

/// The soft `RLIMIT_NOFILE`, where there is one.
pub(crate) fn fd_soft_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Connection limits of the server: timeouts, a connection cap and request-head sizes.
/// Builder methods chain by value; [`Default`] has the `DEFAULT_*` values.
///
/// ```
/// use std::time::Duration;
/// let limits = sync_server::ServeLimits::default()
///     .header_timeout(Duration::from_secs(5))
///     .idle_timeout(Duration::from_secs(30))
///     .request_timeout(Duration::from_secs(20))
///     .max_connections(500)
///     .max_header_bytes(16 * 1024);
/// assert_eq!(limits.max_connections, 500);
/// assert_eq!(sync_server::ServeLimits::default().header_timeout,
///            sync_server::DEFAULT_HEADER_TIMEOUT);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeLimits {
    /// Time to send a complete request head, from connect or from the first byte after
    /// an idle pause; then the connection is closed.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may stay idle between requests.
    pub idle_timeout: Duration,
    /// Time to receive a request's body and answer it (408 or 503 after it).
    pub request_timeout: Duration,
    /// Connections open at once (see the module doc for what happens at the cap).
    pub max_connections: usize,
    /// Bytes of the request line and headers together (more is a 431). The URL alone
    /// is bounded by the router (`Config::max_url`, a JSON 414).
    pub max_header_bytes: usize,
}

impl Default for ServeLimits {
    fn default() -> ServeLimits {
        ServeLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: default_max_connections(),
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        }
    }
}

impl ServeLimits {
    /// Sets [`ServeLimits::header_timeout`].
    pub fn header_timeout(mut self, d: Duration) -> ServeLimits {
        self.header_timeout = d;
        self
    }

    /// Sets [`ServeLimits::idle_timeout`].
    pub fn idle_timeout(mut self, d: Duration) -> ServeLimits {
        self.idle_timeout = d;
        self
    }

    /// Sets [`ServeLimits::request_timeout`].
    pub fn request_timeout(mut self, d: Duration) -> ServeLimits {
        self.request_timeout = d;
        self
    }

    /// Sets [`ServeLimits::max_connections`].
    pub fn max_connections(mut self, n: usize) -> ServeLimits {
        self.max_connections = n;
        self
    }

    /// Sets [`ServeLimits::max_header_bytes`].
    pub fn max_header_bytes(mut self, n: usize) -> ServeLimits {
        self.max_header_bytes = n;
        self
    }

    /// Checks that every limit can be served with: an error naming the first that
    /// cannot.
    ///
    /// ```
    /// let bad = sync_server::ServeLimits::default().max_connections(0);
    /// let e = bad.validate().unwrap_err();
    /// assert!(e.to_string().contains("max connections"), "{e}");
    /// ```
    pub fn validate(&self) -> io::Result<()> {
        let bad = |what: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, what.to_owned()));
        for (name, d) in [
            ("header timeout", self.header_timeout),
            ("idle timeout", self.idle_timeout),
            ("request timeout", self.request_timeout),
        ] {
            if d.is_zero() {
                return bad(&format!("the {name} must be more than zero"));
            }
        }
        if self.max_connections == 0 || self.max_connections > Semaphore::MAX_PERMITS {
            return bad(&format!(
                "max connections must be between 1 and {}, not {}",
                Semaphore::MAX_PERMITS,
                self.max_connections
            ));
        }
        // u32: the shutdown waits for all slots with one `acquire_many`.
        if u32::try_from(self.max_connections).is_err() {
            return bad("max connections must fit in 32 bits");
        }
        if self.max_header_bytes < 1024 {
            return bad(&format!(
                "max header bytes must be at least 1024, not {}",
                self.max_header_bytes
            ));
        }
        Ok(())
    }
}

/// What a connection is doing, and since when.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Head(Instant),
    Busy(u32),
    Idle(Instant),
}

/// One connection as its watchdog, its IO and its requests see it.
struct Watch {
    phase: Mutex<Phase>,
    /// The phase changed (the deadline must be recomputed).
    changed: Notify,
    /// Evicted: close now.
    evict: Notify,
    evicted: AtomicBool,
    /// Its answer stays open until the client leaves (a change feed): at shutdown it is
    /// closed, not waited for.
    long_lived: AtomicBool,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
            evict: Notify::new(),
            evicted: AtomicBool::new(false),
            long_lived: AtomicBool::new(false),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        // A poisoned lock only means a panic elsewhere; the phase is still usable.
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes came in: an idle connection starts reading a head.
    fn on_read(&self) {
        let mut p = self.phase();
        if let Phase::Idle(_) = *p {
            *p = Phase::Head(Instant::now());
            drop(p);
            self.changed.notify_one();
        }
    }

    /// Bytes went out: an idle connection writing its answer is making progress.
    fn on_write(&self) {
        let mut p = self.phase();
        if let Phase::Idle(_) = *p {
            *p = Phase::Idle(Instant::now());
        }
    }

    fn begin_request(self: &Arc<Self>) -> BusyGuard {
        let mut p = self.phase();
        *p = match *p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Head(_) | Phase::Idle(_) => Phase::Busy(1),
        };
        BusyGuard(Arc::clone(self))
    }

    /// When the watchdog must look again; `None` while busy.
    fn deadline(&self, limits: &ServeLimits) -> Option<Instant> {
        match *self.phase() {
            Phase::Head(since) => Some(since + limits.header_timeout),
            Phase::Idle(since) => Some(since + limits.idle_timeout),
            Phase::Busy(_) => None,
        }
    }

    /// The oldest moment of a connection that may be evicted (not busy, not evicted).
    fn evictable_since(&self) -> Option<Instant> {
        if self.evicted.load(Ordering::Relaxed) {
            return None;
        }
        match *self.phase() {
            Phase::Head(since) | Phase::Idle(since) => Some(since),
            Phase::Busy(_) => None,
        }
    }
}

/// Marks a request finished (also when its future is dropped).
struct BusyGuard(Arc<Watch>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let mut p = self.0.phase();
        *p = match *p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        };
        drop(p);
        self.0.changed.notify_one();
    }
}

/// A TCP stream that reports reads and writes to its connection's watch.
struct Watched {
    inner: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.watch.on_read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.watch.on_write();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.watch.on_write();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A request body that records when it has been received completely.
struct Tracked {
    inner: Incoming,
    done: Arc<AtomicBool>,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(r, Poll::Ready(None)) || this.inner.is_end_stream() {
            this.done.store(true, Ordering::Relaxed);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Every open connection, for eviction.
struct Registry {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Watch>>>,
}

impl Registry {
    fn conns(&self) -> MutexGuard<'_, HashMap<u64, Arc<Watch>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, watch: Arc<Watch>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.conns().insert(id, watch);
        id
    }

    fn remove(&self, id: u64) {
        self.conns().remove(&id);
    }

    /// Closes the connection idle or reading its head the longest; false if every
    /// connection is busy.
    fn evict_one(&self) -> bool {
        let victim = self
            .conns()
            .values()
            .filter_map(|w| w.evictable_since().map(|since| (since, Arc::clone(w))))
            .min_by_key(|(since, _)| *since)
            .map(|(_, w)| w);
        match victim {
            Some(w) => {
                w.evicted.store(true, Ordering::Relaxed);
                w.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` with `limits` until `shutdown` completes, then finishes
/// in-flight requests (see the module doc).
pub(crate) async fn run(
    listener: TcpListener,
    app: axum::Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    limits.validate()?;
    if let Some(soft) = fd_soft_limit()
        && (limits.max_connections as u64).saturating_add(FD_HEADROOM as u64) > soft
    {
        tracing::warn!(
            max_connections = limits.max_connections,
            fd_limit = soft,
            "max connections is close to the file-descriptor limit (ulimit -n): \
             accepts may fail with EMFILE; raise the limit or lower --max-connections"
        );
    }
    let limits = Arc::new(limits);
    let cap = limits.max_connections;
    let slots = Arc::new(Semaphore::new(cap));
    let registry = Arc::new(Registry {
        next: AtomicU64::new(0),
        conns: Mutex::new(HashMap::new()),
    });
    let (stop_tx, stop_rx) = watch::channel(());
    tokio::pin!(shutdown);
    // Accept errors are logged at most once a second, with how many there were.
    let mut last_warn: Option<Instant> = None;
    let mut failed_accepts = 0u64;
    'accept: loop {
        let stream = tokio::select! {
            () = &mut shutdown => break 'accept,
            r = listener.accept() => match r {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // EMFILE and the like: free a descriptor, pause, retry. A short
                        // pause when a connection was closed (its descriptor comes back
                        // at once), a longer one when all are busy: never a spin.
                        failed_accepts += 1;
                        if last_warn.is_none_or(|t: Instant| t.elapsed() >= Duration::from_secs(1)) {
                            tracing::warn!(
                                error = %e,
                                failed_accepts,
                                "accept failed; closing the longest-idle connection and retrying"
                            );
                            last_warn = Some(Instant::now());
                            failed_accepts = 0;
                        }
                        let pause = if registry.evict_one() { 2 } else { 50 };
                        tokio::select! {
                            () = &mut shutdown => break 'accept,
                            () = tokio::time::sleep(Duration::from_millis(pause)) => {}
                        }
                    }
                    continue;
                }
            },
        };
        let permit = match Arc::clone(&slots).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => loop {
                // Full: make room by closing the longest-idle connection; when all are
                // busy, wait for one to finish (new connections wait in the backlog).
                registry.evict_one();
                tokio::select! {
                    () = &mut shutdown => break 'accept,
                    p = Arc::clone(&slots).acquire_owned() => {
                        break p.map_err(io::Error::other)?;
                    }
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            },
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            app.clone(),
            Arc::clone(&limits),
            Arc::clone(&registry),
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(());
    // Every connection holds a slot until it is done.
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// Errors of one incoming connection, not of the listener: accept the next one.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

async fn connection(
    stream: TcpStream,
    app: axum::Router,
    limits: Arc<ServeLimits>,
    registry: Arc<Registry>,
    mut stop: watch::Receiver<()>,
    permit: OwnedSemaphorePermit,
) {
    let watch = Arc::new(Watch::new());
    let id = registry.add(Arc::clone(&watch));
    let io = TokioIo::new(Watched {
        inner: stream,
        watch: Arc::clone(&watch),
    });
    let service = {
        let (watch, limits) = (Arc::clone(&watch), Arc::clone(&limits));
        hyper::service::service_fn(move |req| {
            answer(req, app.clone(), Arc::clone(&watch), Arc::clone(&limits))
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        // Our phases replace it (see the module doc); hyper's would also cut idle waits.
        .header_read_timeout(None)
        // hyper's minimum buffer is 8 KiB; `max_header_size` is the exact limit.
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_header_size(limits.max_header_bytes);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        if draining && watch.long_lived.load(Ordering::Relaxed) {
            tracing::debug!("closing a long-lived answer: shutting down");
            break;
        }
        let deadline = watch.deadline(&limits);
        tokio::select! {
            // The connection first: a head already in the socket buffer when the task
            // runs late is read (and the phase moves on) before a deadline is judged.
            biased;
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            () = watch.changed.notified() => {}
            () = sleep_until(deadline) => {
                if watch.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!("closing a connection: header or idle timeout");
                    break;
                }
            }
            () = watch.evict.notified() => {
                tracing::debug!("closing a connection: at the connection cap");
                break;
            }
            _ = stop.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    registry.remove(id);
    drop(permit);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The length of the request target as the client sent it (near enough: the parts).
async fn answer(
    req: Request<Incoming>,
    app: axum::Router,
    watch: Arc<Watch>,
    limits: Arc<ServeLimits>,
) -> Result<Response, Infallible> {
    let _busy = watch.begin_request();
    let received = Arc::new(AtomicBool::new(req.body().is_end_stream()));
    let req = req.map(|inner| {
        Body::new(Tracked {
            inner,
            done: Arc::clone(&received),
        })
    });
    let limit = limits.request_timeout;
    Ok(match tokio::time::timeout(limit, app.oneshot(req)).await {
        Ok(Ok(resp)) => {
            if resp.extensions().get::<crate::feed::LongLived>().is_some() {
                watch.long_lived.store(true, Ordering::Relaxed);
            }
            resp
        }
        Ok(Err(never)) => match never {},
        Err(_) if !received.load(Ordering::Relaxed) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} (--request-timeout)",
                secs(limit)
            ),
        )
        .into_response(),
        Err(_) => {
            tracing::warn!(
                timeout = %secs(limit),
                "a request was not answered within the request timeout"
            );
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the server did not answer within {} (--request-timeout)",
                    secs(limit)
                ),
            )
            .into_response()
        }
    })
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_bad_limit() {
        let e = ServeLimits::default()
            .idle_timeout(Duration::ZERO)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("idle timeout"), "{e}");
        let e = ServeLimits::default()
            .max_header_bytes(10)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("max header bytes"), "{e}");
        ServeLimits::default().validate().unwrap();
    }

    #[tokio::test]
    async fn eviction_picks_the_longest_waiting_connection_and_never_a_busy_one() {
        let registry = Registry {
            next: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
        };
        let busy = Arc::new(Watch::new());
        let _guard = busy.begin_request();
        registry.add(Arc::clone(&busy));
        let old = Arc::new(Watch::new());
        registry.add(Arc::clone(&old));
        tokio::time::sleep(Duration::from_millis(5)).await;
        let young = Arc::new(Watch::new());
        registry.add(Arc::clone(&young));
        assert!(registry.evict_one());
        assert!(old.evicted.load(Ordering::Relaxed));
        assert!(registry.evict_one());
        assert!(young.evicted.load(Ordering::Relaxed));
        assert!(!registry.evict_one(), "only the busy one is left");
        assert!(!busy.evicted.load(Ordering::Relaxed));
    }
}

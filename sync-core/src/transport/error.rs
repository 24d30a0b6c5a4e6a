//! [`TransportError`]: what can go wrong talking to the server, in the categories the
//! engine acts on.

use crate::ErrorSource;
use crate::model::Record;

/// What kind of network failure a [`TransportError::Network`] was, for an app that
/// acts on it (retry later, tell the user to check the address, the clock, the proxy).
///
/// ```
/// use sync_core::transport::{NetworkKind, TransportError};
/// let e = TransportError::network("connection reset");
/// assert_eq!(e.network_kind(), Some(NetworkKind::Other));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NetworkKind {
    /// No answer within the time allowed (connecting, or waiting for the answer).
    Timeout,
    /// The connection could not be made (refused, unreachable).
    Connect,
    /// The server's name could not be resolved.
    Dns,
    /// The TLS handshake failed (a certificate, a protocol version).
    Tls,
    /// The connection broke while the request or its answer was on the way (reset,
    /// closed early, an answer cut short).
    Broken,
    /// Anything else.
    Other,
}

/// A failed transport call.
///
/// The engine acts by category: [`is_conflict`](TransportError::is_conflict) goes to the
/// table's conflict policy; [`stops_push`](TransportError::stops_push) (network and auth)
/// stops the push keeping everything queued; anything else stays with its operation.
///
/// ```
/// use sync_core::transport::TransportError;
/// let e = TransportError::network("connection reset");
/// assert!(e.stops_push() && !e.is_conflict());
/// assert_eq!(e.to_string(), "network failure: connection reset");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// 412: the item changed on the server since the version the client based its
    /// change on.
    #[error("precondition failed: the server's version differs")]
    PreconditionFailed {
        /// The server's current copy, when it sent one.
        server_copy: Option<Record>,
    },
    /// 409: an insert of an id the server already has (or a stale body version).
    #[error("conflict: the server already has this item")]
    Conflict {
        /// The server's copy, when it sent one.
        server_copy: Option<Record>,
    },
    /// 404: no such item (or it was deleted).
    #[error("not found")]
    NotFound,
    /// 401 or 403.
    #[error("not authorized ({status}): {message}")]
    Unauthorized {
        /// The status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// Could not reach the server, or no answer in time. The request may or may not
    /// have been applied.
    #[error("network failure: {message}")]
    Network {
        /// How it failed.
        kind: NetworkKind,
        /// What failed, with its causes.
        message: String,
        /// The underlying error (the HTTP client's), when there is one.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The server refused or failed the request (a 400, a 500, ...).
    #[error("server answered {status}: {message}")]
    Server {
        /// The status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// The answer was not what the protocol says (bad JSON, a missing field, ...).
    #[error("malformed response: {message}")]
    Malformed {
        /// What was wrong, naming the field or header.
        message: String,
    },
    /// The answer's body is larger than the transport accepts. It was not read past
    /// the limit (or not at all, when its `Content-Length` said so up front).
    ///
    /// ```
    /// use sync_core::transport::TransportError;
    /// let e = TransportError::ResponseTooLarge { limit: 1024, message: "GET /tables/Todo".into() };
    /// assert!(!e.stops_push() && e.status().is_none());
    /// assert_eq!(e.to_string(), "response too large: GET /tables/Todo: over the limit of 1024 bytes");
    /// ```
    #[error("response too large: {message}: over the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The limit, in bytes.
        limit: u64,
        /// The request it answered, and what gave the size away.
        message: String,
    },
    /// A pull page holds more rows than the request asked for (`$top`): a server that
    /// ignores the page size could otherwise hand out any number of rows at once.
    ///
    /// ```
    /// use sync_core::transport::TransportError;
    /// let e = TransportError::PageTooLong { asked: 100, got: 101, message: "GET /tables/Todo page".into() };
    /// assert_eq!(e.to_string(), "page too long: GET /tables/Todo page: 101 rows, but at most 100 were asked for");
    /// ```
    #[error("page too long: {message}: {got} rows, but at most {asked} were asked for")]
    PageTooLong {
        /// The page size asked for.
        asked: u64,
        /// The rows the page held.
        got: u64,
        /// The request it answered.
        message: String,
    },
    /// 429 or 503 with a `Retry-After`: the server asks to be left alone that long
    /// (after the transport's own retries, if any). A syncer waits at least that long
    /// before trying again.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sync_core::transport::TransportError;
    /// let e = TransportError::Throttled { status: 429, message: "slow down".into(), retry_after: Duration::from_secs(8) };
    /// assert_eq!((e.status(), e.retry_after()), (Some(429), Some(Duration::from_secs(8))));
    /// assert_eq!(e.to_string(), "server answered 429, retry after 8 s: slow down");
    /// ```
    #[error("server answered {status}, retry after {} s: {message}", retry_after.as_secs())]
    Throttled {
        /// 429 or 503.
        status: u16,
        /// The server's message.
        message: String,
        /// How long the server asked to wait.
        retry_after: std::time::Duration,
    },
}

impl TransportError {
    /// A network failure of no particular kind, with no underlying error.
    pub fn network(message: impl Into<String>) -> TransportError {
        TransportError::Network {
            kind: NetworkKind::Other,
            message: message.into(),
            source: None,
        }
    }

    /// A network failure of `kind`, keeping the error that caused it.
    ///
    /// ```
    /// use sync_core::transport::{NetworkKind, TransportError};
    /// let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "too slow");
    /// let e = TransportError::network_from(NetworkKind::Timeout, "GET /tables/Todo: too slow", io);
    /// assert_eq!(e.network_kind(), Some(NetworkKind::Timeout));
    /// assert!(std::error::Error::source(&e).is_some());
    /// ```
    pub fn network_from(
        kind: NetworkKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> TransportError {
        TransportError::Network {
            kind,
            message: message.into(),
            source: Some(ErrorSource::new(source)),
        }
    }

    /// How long the server asked to wait ([`TransportError::Throttled`]).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            TransportError::Throttled { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The kind of a network failure; `None` for any other error.
    pub fn network_kind(&self) -> Option<NetworkKind> {
        match self {
            TransportError::Network { kind, .. } => Some(*kind),
            _ => None,
        }
    }
    /// 412 or 409: the table's conflict policy decides.
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            TransportError::PreconditionFailed { .. } | TransportError::Conflict { .. }
        )
    }

    /// Network and auth failures stop a push; nothing else does.
    pub fn stops_push(&self) -> bool {
        matches!(
            self,
            TransportError::Network { .. } | TransportError::Unauthorized { .. }
        )
    }

    /// The server's copy carried by a conflict.
    pub fn server_copy(&self) -> Option<&Record> {
        match self {
            TransportError::PreconditionFailed { server_copy }
            | TransportError::Conflict { server_copy } => server_copy.as_ref(),
            _ => None,
        }
    }

    /// The HTTP status this error stands for, when it has one.
    ///
    /// ```
    /// assert_eq!(sync_core::transport::TransportError::NotFound.status(), Some(404));
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            TransportError::PreconditionFailed { .. } => Some(412),
            TransportError::Conflict { .. } => Some(409),
            TransportError::NotFound => Some(404),
            TransportError::Unauthorized { status, .. }
            | TransportError::Server { status, .. }
            | TransportError::Throttled { status, .. } => Some(*status),
            TransportError::Network { .. }
            | TransportError::Malformed { .. }
            | TransportError::ResponseTooLarge { .. }
            | TransportError::PageTooLong { .. } => None,
        }
    }
}

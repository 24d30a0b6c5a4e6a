//! The change feed on the client: one `GET /tablesync/v1/feed?tables=A,B` answer in
//! the Server-Sent Events format, read as it arrives into [`Poke`]s (see
//! [`crate::wire::feed`]).
//!
//! Whether the server has a feed is the discovery answer's, asked once per transport
//! and shared with batches and streams: a server without the extension (Microsoft's)
//! gets no request beyond that one discovery, and `change_feed` is `Ok(None)`, so the
//! caller polls.
//!
//! A feed has no total time limit (the transport's `timeout` bounds ordinary requests
//! only): it is alive while bytes come, and the server sends a heartbeat every
//! `heartbeat_seconds` of its discovery answer. No byte for [`SILENT_HEARTBEATS`]
//! heartbeats ends it with a `Network` error of kind `Timeout`. An event or line past
//! [`MAX_EVENT_BYTES`] ends it with `ResponseTooLarge`, so a hostile server cannot make
//! the client buffer without limit. A poke naming a table the caller did not ask about
//! is dropped. Opening is not retried, except once after a 401 when the transport has a
//! token refresher (as every request does): a second 401 is `Unauthorized`, any other
//! refusal the error its status says; the caller opens the feed again with backoff, as
//! after any end.

use std::collections::VecDeque;
use std::time::Duration;

use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode};
use sync_core::transport::{ChangeStream, NetworkKind, Poke, TransportError};

use super::answer;
use super::inner::Inner;
use super::send::{Call, Reply, error_chain, network_kind};
use crate::wire::feed::{
    CONTENT_TYPE, EventReader, FEED_PATH, FeedLimits, LAST_EVENT_ID, TABLES_PARAM,
};

/// A feed silent for this many heartbeats is dead.
pub(crate) const SILENT_HEARTBEATS: u32 = 3;
/// The longest line or event a feed may send (a poke is a few dozen bytes).
pub(crate) const MAX_EVENT_BYTES: usize = 64 * 1024;
/// The longest refusal body read.
const MAX_REFUSAL_BYTES: usize = 64 * 1024;
/// A feed's whole-request limit, in place of the transport's `timeout`: far beyond
/// any heartbeat, so only silence ends a feed in practice.
const FEED_LIFETIME: Duration = Duration::from_secs(24 * 3600);

impl Inner {
    /// The server's feed limits, when it offers a feed. The one discovery answer of the
    /// transport says so: asking for the stream limits asks it (once), and its answer
    /// stays in `discovered`.
    async fn feed_limits(&self) -> Result<Option<FeedLimits>, TransportError> {
        self.stream_limits().await?;
        Ok(self
            .discovered
            .get()
            .and_then(Option::as_ref)
            .and_then(|d| d.feed.clone()))
    }

    /// [`Transport::change_feed`](sync_core::transport::Transport::change_feed) of
    /// `HttpTransport`; see the module doc.
    pub(crate) async fn change_feed(
        &self,
        tables: Vec<String>,
        last_event_id: Option<String>,
    ) -> Result<Option<ChangeStream>, TransportError> {
        let Some(limits) = self.feed_limits().await? else {
            return Ok(None);
        };
        let malformed = |message: String| TransportError::Malformed { message };
        if tables.is_empty() {
            return Err(malformed("a change feed needs at least one table".into()));
        }
        if tables.len() as u64 > limits.max_tables {
            return Err(malformed(format!(
                "a change feed of {} tables: the server takes at most {}",
                tables.len(),
                limits.max_tables
            )));
        }
        let mut url = self
            .base
            .join(FEED_PATH.trim_start_matches('/'))
            .map_err(|e| malformed(format!("cannot make the feed URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair(TABLES_PARAM, &tables.join(","));
        let call = Call::new(Method::GET, url);
        let what = format!("{} feed", call.describe());
        let mut refreshed = false;
        let (mut response, status) = loop {
            let token = self.token();
            let request = self.feed_request(&call, last_event_id.as_deref())?;
            let started = std::time::Instant::now();
            let response = self.client.execute(request).await.map_err(|e| {
                let message = format!("{what}: {}", error_chain(&e));
                TransportError::network_from(network_kind(&e), message, e)
            })?;
            let status = response.status();
            tracing::debug!(
                path = %call.url.path(),
                status = status.as_u16(),
                millis = started.elapsed().as_millis() as u64,
                "feed request answered"
            );
            if status == StatusCode::UNAUTHORIZED
                && !refreshed
                && let Some(refresh) = &self.refresher
            {
                // The token may have expired: ask for a new one once, as any request.
                refreshed = true;
                self.refresh(refresh, token).await?;
                continue;
            }
            break (response, status);
        };
        if status != StatusCode::OK {
            let headers = std::mem::take(response.headers_mut());
            let body = bounded_body(&mut response).await;
            let reply = Reply {
                status,
                headers,
                body,
            };
            return Err(answer::refusal(&reply, "", None, &what));
        }
        let event_stream = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with(CONTENT_TYPE));
        if !event_stream {
            return Err(malformed(format!(
                "{what}: the answer is not {CONTENT_TYPE}"
            )));
        }
        let heartbeat = Duration::from_secs(limits.heartbeat_seconds.max(1));
        let max =
            MAX_EVENT_BYTES.min(usize::try_from(self.max_response_bytes).unwrap_or(usize::MAX));
        let reader = Reader {
            response,
            events: EventReader::new(max),
            max,
            asked: tables,
            ready: VecDeque::new(),
            silence: heartbeat * SILENT_HEARTBEATS,
            what,
            ended: false,
        };
        let stream = futures_util::stream::unfold(reader, |mut reader| async move {
            let item = reader.next().await?;
            Some((item, reader))
        });
        Ok(Some(Box::pin(stream)))
    }

    /// The feed's request: the transport's headers and credentials, as every request
    /// carries them (built here rather than by `send`, because a feed must not have the
    /// transport's total timeout), `Accept: text/event-stream` and the resume id.
    fn feed_request(
        &self,
        call: &Call,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Request, TransportError> {
        let token = self.token();
        let mut headers = self.credentials(token.as_deref())?;
        headers.insert(header::ACCEPT, HeaderValue::from_static(CONTENT_TYPE));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(id) = last_event_id {
            // An id is the server's text; one that cannot be a header is not resumed
            // from, which the server answers by poking every table.
            if let Ok(v) = HeaderValue::from_str(id) {
                headers.insert(LAST_EVENT_ID, v);
            }
        }
        let mut request = self
            .client
            .request(call.method.clone(), call.url.clone())
            .build()
            .map_err(|e| TransportError::Malformed {
                message: format!("{}: the request cannot be built: {e}", call.describe()),
            })?;
        *request.headers_mut() = headers;
        *request.timeout_mut() = Some(FEED_LIFETIME);
        Ok(request)
    }
}

/// A refusal's body, at most [`MAX_REFUSAL_BYTES`] of it (the message is all it is
/// read for).
async fn bounded_body(response: &mut reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_REFUSAL_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_REFUSAL_BYTES {
            break;
        }
    }
    body
}

/// An open feed, read as its bytes arrive.
struct Reader {
    response: reqwest::Response,
    events: EventReader,
    max: usize,
    /// As the caller named them: pokes are given with these names.
    asked: Vec<String>,
    ready: VecDeque<Poke>,
    silence: Duration,
    what: String,
    ended: bool,
}

impl Reader {
    /// The next poke, or the error that ends the feed; `None` once it ended.
    async fn next(&mut self) -> Option<Result<Poke, TransportError>> {
        loop {
            if let Some(poke) = self.ready.pop_front() {
                return Some(Ok(poke));
            }
            if self.ended {
                return None;
            }
            let chunk = match tokio::time::timeout(self.silence, self.response.chunk()).await {
                Err(_) => {
                    return self.fail(TransportError::network_from(
                        NetworkKind::Timeout,
                        format!(
                            "{}: no byte for {} s, {SILENT_HEARTBEATS} heartbeats",
                            self.what,
                            self.silence.as_secs()
                        ),
                        std::io::Error::from(std::io::ErrorKind::TimedOut),
                    ));
                }
                Ok(Err(e)) => {
                    let message = format!("{}: {}", self.what, error_chain(&e));
                    return self.fail(TransportError::network_from(network_kind(&e), message, e));
                }
                // The server or a proxy closed it: the caller opens it again.
                Ok(Ok(None)) => {
                    self.ended = true;
                    return None;
                }
                Ok(Ok(Some(chunk))) => chunk,
            };
            let mut events = Vec::new();
            if let Err(e) = self.events.push(&chunk, &mut events) {
                return self.fail(TransportError::ResponseTooLarge {
                    limit: self.max as u64,
                    message: format!("{}: {e}", self.what),
                });
            }
            for event in events {
                let Some(table) = event.poke_table() else {
                    continue;
                };
                if let Some(asked) = self.asked.iter().find(|t| t.eq_ignore_ascii_case(&table)) {
                    self.ready.push_back(Poke::new(asked.clone(), event.id));
                }
            }
        }
    }

    fn fail(&mut self, e: TransportError) -> Option<Result<Poke, TransportError>> {
        self.ended = true;
        Some(Err(e))
    }
}

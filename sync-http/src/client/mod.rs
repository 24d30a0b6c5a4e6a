//! [`HttpTransport`]: the engine's [`Transport`](sync_core::transport::Transport) over
//! HTTP (feature `client`, default).
//!
//! # What a call sends
//! Every request carries `ZUMO-API-VERSION: 2.0.0`, the credentials (a bearer token in
//! `Authorization` and/or `X-ZUMO-AUTH`, or a static API key header) and any extra
//! headers the app configured. Writes are `POST /tables/{table}`,
//! `PATCH|DELETE /tables/{table}/{id}` with `If-Match: "<version>"` when the engine
//! has a version; reads are `GET /tables/{table}/{id}` and pages of
//! `GET /tables/{table}?$filter=...` in `(updatedAt, id)` keyset order. Table names and ids
//! are percent-encoded, so any id the app chose reaches the server intact.
//!
//! # What comes back
//! A row is decoded with the table's registered schema; a strong `ETag` must name the
//! body's version. 412 is `PreconditionFailed` with the server's row; 409 is `Conflict`
//! with the server's row only when the body is one (the reference server echoes the
//! request, and then the engine fetches the real copy); 404 is `NotFound`; 401/403 are
//! `Unauthorized`; other refusals are `Server` with the server's message; a body that
//! is not what the protocol says is `Malformed`, naming what was wrong.
//!
//! # Bounds on what comes back
//! An answer body is read chunk by chunk up to
//! [`max_response_bytes`](HttpTransportBuilder::max_response_bytes) and no further
//! (`ResponseTooLarge`; a `Content-Length` above it is refused before any byte is
//! read), so memory stays bounded whatever a server sends. A pull page asks for at
//! most [`max_page_size`](HttpTransportBuilder::max_page_size) rows, and a page holding
//! more rows than it asked for is `PageTooLong`. A 400 naming `$top` (a server with a
//! smaller page limit: Microsoft's caps it at 1000) is asked again with a smaller page —
//! the limit the message names, else 1000, then 50 — kept for the transport.
//!
//! # Retries, and why re-sending is safe
//! Transient failures — no connection, no answer in time, a connection dropped
//! mid-request, 502/503/504, and 429 (waiting as long as `Retry-After` asks, capped) —
//! are retried with capped exponential backoff and jitter, a bounded number of times
//! ([`RetryPolicy`]). What is left afterwards is `Network` (no answer) or `Server`
//! (the last status), and the engine keeps the operation queued.
//!
//! A failure without an answer leaves unknown whether the server applied the write,
//! so a retry may send a write the server already has. That is safe because the engine
//! treats such a re-send as the success it was: an insert answered 409 (or an update
//! answered 412) whose server copy holds exactly the data sent is finished as a
//! success, and a delete answered 404 did what it meant to. Nothing is duplicated —
//! ids are chosen by the client — and nothing is lost.
//!
//! A 401 calls the app's token refresher once per request (shared by the requests
//! refused with the same token) and sends the request again with the new token; a
//! second 401 is `Unauthorized`, which stops the push and keeps everything queued.

// Each file uses only those listed before it (no two import each other):
// `retry`, `token`; `inner` (the state every call shares); `send` (one request) and
// `decode` (bodies into records); `answer`; the features `batch`, `pull`, `stream`,
// `feed`;
// `transport` (the `Transport` impl); `builder`.
mod answer;
mod batch;
mod builder;
mod decode;
mod feed;
mod inner;
mod pull;
mod retry;
mod send;
mod stream;
mod token;
mod transport;

pub use builder::{
    BuildError, DEFAULT_MAX_PAGE_SIZE, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_STREAM_PAGE_ROWS,
    HttpTransportBuilder,
};
pub use retry::RetryPolicy;
pub use token::{TokenFuture, TokenHeader, TokenRefresher};
pub use transport::HttpTransport;

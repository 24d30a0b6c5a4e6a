//! Streamed pull on the client: one `GET /tablesync/v1/stream/{table}` answer, read as
//! it arrives and cut into pages of [`stream_page_rows`] rows, each with the watermark
//! of its last row (see [`crate::wire::stream`]).
//!
//! Only complete lines are rows: a line cut by the end of the body is never decoded. A
//! body that ends without its end line was cut short (a proxy, a reset, a killed
//! server): the complete rows before the cut are given as a page saying more follow,
//! then the cut is a `Network` error, so the engine stores what arrived and opens the
//! stream again after it. Rows must come in `(updatedAt, id)` order after the request's
//! watermark, or the answer is `Malformed` (a server ignoring the keyset condition
//! would otherwise hand out the same rows forever). A line longer than
//! [`max_response_bytes`] is `ResponseTooLarge`, and a page is cut early when its rows
//! pass a quarter of it, so memory stays bounded whatever the server sends.
//!
//! Against a server that does not offer streams (Microsoft's), the pages are asked one
//! by one, exactly as before ([`page_by_page`]).
//!
//! [`stream_page_rows`]: crate::HttpTransportBuilder::stream_page_rows
//! [`max_response_bytes`]: crate::HttpTransportBuilder::max_response_bytes

use std::pin::Pin;

use futures_util::StreamExt;
use reqwest::Method;
use sync_core::model::instant;
use sync_core::store::Watermark;
use sync_core::transport::{
    NetworkKind, PullPage, PullRequest, Stream, Transport, TransportError, page_by_page,
};
use sync_core::{Record, TableSchema, Value};

use super::answer;
use super::decode;
use super::inner::Inner;
use super::send::{Call, Opened, error_chain, network_kind};
use crate::wire::odata::page_query;
use crate::wire::stream::{Control, STREAM_PATH, control};

type Pages<'a> = Pin<Box<dyn Stream<Item = Result<PullPage, TransportError>> + Send + 'a>>;

/// Where a pull is.
enum State<'a> {
    /// Not yet asked.
    Start(PullRequest),
    /// A server without streams: page after page.
    Paged(Pages<'a>),
    /// A streamed answer being read.
    Reading(Box<Reader>),
    /// Ended.
    Done,
}

/// The pages of a pull: [`Transport::pull_stream`] of
/// [`HttpTransport`](super::HttpTransport), whose state is `inner`. Against a server
/// without streams, `transport`'s own [`Transport::pull`] is asked page by page.
pub(crate) fn pages<'a, T: Transport>(
    transport: &'a T,
    inner: &'a Inner,
    table: &'a str,
    request: PullRequest,
) -> impl Stream<Item = Result<PullPage, TransportError>> + Send + 'a {
    futures_util::stream::unfold(State::Start(request), move |state| async move {
        let mut state = state;
        loop {
            match state {
                State::Start(request) => match inner.stream_limits().await {
                    Err(e) => return Some((Err(e), State::Done)),
                    Ok(None) => {
                        state = State::Paged(Box::pin(page_by_page(transport, table, request)))
                    }
                    Ok(Some(limits)) => match open(inner, table, request, limits.count).await {
                        Ok(reader) => state = State::Reading(Box::new(reader)),
                        Err(e) => return Some((Err(e), State::Done)),
                    },
                },
                State::Paged(mut pages) => {
                    let page = pages.next().await?;
                    return Some((page, State::Paged(pages)));
                }
                State::Reading(mut reader) => {
                    let page = reader.next_page().await?;
                    return Some((page, State::Reading(reader)));
                }
                State::Done => return None,
            }
        }
    })
}

/// Sends the stream request; a refusal is the error its single request would be.
/// `count`: the server counts (discovery says so); ask it to, for a progress bar.
async fn open(
    inner: &Inner,
    table: &str,
    request: PullRequest,
    count: bool,
) -> Result<Reader, TransportError> {
    let malformed = |message: String| TransportError::Malformed { message };
    let mut url = inner
        .base
        .join(STREAM_PATH.trim_start_matches('/'))
        .map_err(|e| malformed(format!("cannot make the stream URL: {e}")))?;
    url.path_segments_mut()
        .map_err(|()| malformed("the base URL cannot take a path".into()))?
        .push(table);
    let query = page_query(&request).map_err(|e| {
        malformed(format!(
            "a pull of table `{table}` cannot be expressed: {e}"
        ))
    })?;
    // The server bounds the answer itself; `$top` would bound it to one page.
    url.query_pairs_mut()
        .extend_pairs(query.into_iter().filter(|(k, _)| k != "$top"));
    if count {
        url.query_pairs_mut()
            .append_pair("$inlinecount", "allpages");
    }
    let call = Call::new(Method::GET, url);
    let what = format!("{} stream", call.describe());
    let schema = inner.schema(table);
    let response = match inner.open(&call).await? {
        Opened::Body(response) => response,
        Opened::Reply(reply) => {
            return Err(answer::refusal(&reply, table, schema.as_deref(), &what));
        }
    };
    let max_line = usize::try_from(inner.max_response_bytes).unwrap_or(usize::MAX);
    Ok(Reader {
        response,
        buf: Vec::new(),
        at: 0,
        table: table.to_owned(),
        schema,
        what,
        after: request.after,
        page_rows: inner.stream_page_rows,
        max_line,
        page_bytes: (max_line / 4).max(1),
        pending: None,
        ended: false,
        total: None,
    })
}

/// A streamed answer, read line by line.
struct Reader {
    response: reqwest::Response,
    /// Bytes read and not yet taken; lines start at `at`.
    buf: Vec<u8>,
    at: usize,
    table: String,
    schema: Option<std::sync::Arc<TableSchema>>,
    what: String,
    /// The last row given (first: the request's watermark): each row must follow it.
    after: Option<Watermark>,
    page_rows: usize,
    max_line: usize,
    page_bytes: usize,
    /// An error to give after the page of rows that came before it.
    pending: Option<TransportError>,
    ended: bool,
    /// The count line's figure, until the next page carries it.
    total: Option<u64>,
}

/// What one line was.
enum Line {
    Row(Record, Watermark),
    /// How many rows the answer has to go (before its first row).
    Count(u64),
    End {
        more: bool,
    },
}

impl Reader {
    /// The next page, or the error that ends the stream; `None` once ended.
    async fn next_page(&mut self) -> Option<Result<PullPage, TransportError>> {
        if let Some(e) = self.pending.take() {
            self.ended = true;
            return Some(Err(e));
        }
        if self.ended {
            return None;
        }
        let mut records = Vec::new();
        let mut bytes = 0usize;
        let mut last: Option<Watermark> = None;
        loop {
            // Every complete line read so far.
            while let Some(len) = self.buf[self.at..].iter().position(|&b| b == b'\n') {
                let (start, end) = (self.at, self.at + len);
                self.at = end + 1;
                if self.buf[start..end].iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                bytes += len;
                match self.line(start, end) {
                    Ok(Line::Row(record, mark)) => {
                        records.push(record);
                        last = Some(mark);
                        if records.len() >= self.page_rows || bytes >= self.page_bytes {
                            return Some(Ok(PullPage {
                                records,
                                last,
                                more: true,
                                total: self.total.take(),
                            }));
                        }
                    }
                    Ok(Line::Count(rows)) => self.total = Some(rows),
                    Ok(Line::End { more }) => {
                        self.ended = true;
                        if records.is_empty() && more {
                            // The answer stopped at its bound right after a page.
                            return None;
                        }
                        return Some(Ok(PullPage {
                            records,
                            last,
                            more,
                            total: self.total.take(),
                        }));
                    }
                    Err(e) => return Some(self.fail(records, last, e)),
                }
            }
            // Keep only the partial line.
            self.buf.drain(..self.at);
            self.at = 0;
            if self.buf.len() > self.max_line {
                let e = TransportError::ResponseTooLarge {
                    limit: self.max_line as u64,
                    message: format!(
                        "{}: a line goes on past {} bytes",
                        self.what,
                        self.buf.len()
                    ),
                };
                return Some(self.fail(records, last, e));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk),
                Ok(None) => {
                    let e = TransportError::Network {
                        kind: NetworkKind::Broken,
                        message: format!(
                            "{}: the answer ended before its end line (cut short)",
                            self.what
                        ),
                        source: None,
                    };
                    return Some(self.fail(records, last, e));
                }
                Err(e) => {
                    let message = format!("{}: {}", self.what, error_chain(&e));
                    let e = TransportError::network_from(network_kind(&e), message, e);
                    return Some(self.fail(records, last, e));
                }
            }
        }
    }

    /// The rows before a failure as a page, then the failure; or the failure alone.
    fn fail(
        &mut self,
        records: Vec<Record>,
        last: Option<Watermark>,
        e: TransportError,
    ) -> Result<PullPage, TransportError> {
        if records.is_empty() {
            self.ended = true;
            return Err(e);
        }
        self.pending = Some(e);
        Ok(PullPage {
            records,
            last,
            more: true,
            total: self.total.take(),
        })
    }

    /// One complete line: a row (checked to follow the one before) or the end.
    fn line(&mut self, start: usize, end: usize) -> Result<Line, TransportError> {
        let text = &self.buf[start..end];
        let what = self.what.as_str();
        if let Some(c) = control(text) {
            return match c {
                Ok(Control::End { more }) => Ok(Line::End { more }),
                Ok(Control::Count { rows }) => Ok(Line::Count(rows)),
                Ok(Control::Error { status, message }) => Err(match status {
                    401 | 403 => TransportError::Unauthorized { status, message },
                    _ => TransportError::Server { status, message },
                }),
                Err(e) => Err(TransportError::Malformed {
                    message: format!("{what}: a control line that cannot be read: {e}"),
                }),
            };
        }
        let table = self.table.as_str();
        let schema = self.schema.as_deref();
        let record = decode::row(text, table, schema, what, |other| {
            format!("a line is not a row object: {other}")
        })?;
        let id = record.id().unwrap_or_default().to_owned();
        let Some(Value::Text(updated_at)) = record.get("updatedAt") else {
            return Err(TransportError::Malformed {
                message: format!("{what}: row {id:?} has no `updatedAt`"),
            });
        };
        let mark = Watermark {
            updated_at: updated_at.clone(),
            id,
        };
        if let Some(before) = &self.after
            && !follows(&mark, before)
        {
            return Err(TransportError::Malformed {
                message: format!(
                    "{what}: row ({}, {:?}) does not follow ({}, {:?}): the answer is not in \
                     (updatedAt, id) order after the watermark",
                    mark.updated_at, mark.id, before.updated_at, before.id
                ),
            });
        }
        self.after = Some(mark.clone());
        Ok(Line::Row(record, mark))
    }
}

/// Whether `mark` comes strictly after `before` in `(updatedAt, id)` order (instants
/// compared as instants; unreadable ones as text).
fn follows(mark: &Watermark, before: &Watermark) -> bool {
    instant::order(&mark.updated_at, &before.updated_at)
        .then_with(|| mark.id.cmp(&before.id))
        .is_gt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(t: &str, id: &str) -> Watermark {
        Watermark {
            updated_at: t.into(),
            id: id.into(),
        }
    }

    #[test]
    fn rows_follow_in_keyset_order() {
        let a = mark("2026-01-01T00:00:00.000Z", "b");
        assert!(follows(&mark("2026-01-01T00:00:00.000Z", "c"), &a));
        assert!(follows(&mark("2026-01-01T00:00:00.001Z", "a"), &a));
        assert!(!follows(&a, &a), "the same row again");
        assert!(!follows(&mark("2026-01-01T00:00:00.000Z", "a"), &a));
        assert!(!follows(&mark("2025-12-31T23:59:59.999Z", "z"), &a));
        // One instant written two ways is one instant.
        assert!(follows(&mark("2026-01-01T00:00:00Z", "c"), &a));
    }
}

//! `GET /tablesync/v1/stream/{table}`: the rows of a keyset range in one answer, as
//! newline-delimited JSON (see [`sync_http::wire::stream`] and `EXTENSION.md`).
//!
//! The query is a page's (`$filter` with the keyset condition after the client's
//! watermark and its own condition, `__includeDeleted`), in `(updatedAt, id)` order.
//! The server reads it as pages of at most `--max-page-size` rows, each the backend's
//! ordinary page query after the last row sent, and writes each page when hyper asks
//! for more of the body: so one page is in memory at a time, a client that stops
//! reading stops the queries (and the connection's idle timeout closes it), and a
//! client that leaves drops the rest. Each page is its own read, with its own horizon,
//! so the rows are exactly those the same pages asked one by one would give.
//!
//! An answer carries at most `--max-stream-rows` rows (or the client's `$top`, if
//! lower) and ends with `{"@end":{"more":...}}`. A failure before the first page is an
//! ordinary error answer; one after is an `{"@error":...}` line, and no end line.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use sync_core::model::instant;
use sync_core::store::{Filter, Order, Watermark};
use sync_http::wire::stream::{CONTENT_TYPE, count_line, end_line, error_line};

use crate::config::Config;
use crate::error::ApiError;
use crate::http::{Owner, TablePath, owner, path_error, table_name};
use crate::query::{TableQuery, parse_filter};
use crate::store::{Page, StoreError};

/// The only order a stream has.
fn keyset_order() -> Vec<(String, Order)> {
    vec![("updatedAt".into(), Order::Asc), ("id".into(), Order::Asc)]
}

pub(crate) async fn rows(
    State(config): State<Arc<Config>>,
    path: TablePath,
    RawQuery(raw): RawQuery,
    o: Option<axum::Extension<Owner>>,
) -> Result<Response, ApiError> {
    let Path(table) = path.map_err(path_error)?;
    let (table, _) = table_name(&config, &table).await?;
    let raw = raw.unwrap_or_default();
    let mut q = TableQuery::parse_with(&raw, config.max_stream_rows, &config.filter_limits)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let given = |name: &str| form_urlencoded::parse(raw.as_bytes()).any(|(k, _)| k == name);
    for option in ["$skip", "$select"] {
        if given(option) {
            return Err(ApiError::bad_request(format!(
                "{option} is not offered on a stream: it is a keyset range in (updatedAt, id) \
                 order"
            )));
        }
    }
    if !q.order_by.is_empty() && q.order_by != keyset_order() {
        return Err(ApiError::bad_request(
            "$orderby: a stream is in `updatedAt,id` order only",
        ));
    }
    let budget = if given("$top") {
        q.top
    } else {
        config.max_stream_rows
    };
    let page_rows = config.max_page_size.min(budget).max(1);
    q.order_by = keyset_order();
    q.top = page_rows.min(budget);
    // `$inlinecount=allpages`: the first page's query counts, and the count goes first.
    let counted = q.count;
    let mut rows = Rows {
        config: Arc::clone(&config),
        table,
        owner: owner(o),
        base: q.filter.clone(),
        query: q,
        budget,
        page_rows,
        sent: 0,
        first: None,
        done: budget == 0,
    };
    // A failure before any row is an ordinary answer, with its status.
    if !rows.done {
        rows.first = Some(rows.read().await?);
    }
    rows.query.count = false;
    let count = counted.then(|| rows.first.as_ref().and_then(|p| p.count).unwrap_or(0));
    let head = count.map(|n| Bytes::from(count_line(n)));
    let body = futures_util::stream::unfold((head, rows), |(head, mut rows)| async move {
        if let Some(head) = head {
            return Some((Ok::<_, Infallible>(head), (None, rows)));
        }
        let chunk = rows.next().await?;
        Some((Ok::<_, Infallible>(chunk), (None, rows)))
    });
    let mut response = Response::new(Body::from_stream(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

/// Where a stream is.
struct Rows {
    config: Arc<Config>,
    table: String,
    owner: String,
    /// The client's condition (its keyset start and its own filter).
    base: Option<Filter>,
    /// The next page's query.
    query: TableQuery,
    budget: u64,
    page_rows: u64,
    sent: u64,
    /// The first page, read before the answer began.
    first: Option<Page>,
    done: bool,
}

impl Rows {
    async fn read(&self) -> Result<Page, StoreError> {
        self.config
            .backend
            .query(&self.table, &self.owner, &self.query)
            .await
    }

    /// The next part of the body: a page's lines, with the end line after the last.
    async fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let page = match self.first.take() {
            Some(page) => Ok(page),
            None => self.read().await,
        };
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                self.done = true;
                let e = ApiError::from(e);
                return Some(Bytes::from(error_line(e.status.as_u16(), &e.message)));
            }
        };
        let mut out = Vec::with_capacity(page.rows.len() * 256 + 32);
        for row in &page.rows {
            if let Err(e) = serde_json::to_writer(&mut out, &row.json(None)) {
                self.done = true;
                out.extend(error_line(500, &format!("a row cannot be written: {e}")));
                return Some(Bytes::from(out));
            }
            out.push(b'\n');
        }
        let n = page.rows.len() as u64;
        self.sent += n;
        let full = n >= self.query.top;
        match page.rows.last() {
            Some(last) if full && self.sent < self.budget => {
                let after = Watermark {
                    updated_at: instant::millis_to_wire(last.updated_ms),
                    id: last.id.clone(),
                };
                // The same keyset condition a client sends, read by the same parser.
                match parse_filter(&sync_http::wire::odata::keyset(&after)) {
                    Ok(keyset) => {
                        self.query.filter = Some(match &self.base {
                            Some(base) => Filter::And(vec![base.clone(), keyset]),
                            None => keyset,
                        });
                        self.query.top = self.page_rows.min(self.budget - self.sent);
                    }
                    Err(e) => {
                        self.done = true;
                        out.extend(error_line(500, &format!("cannot go on after a row: {e}")));
                    }
                }
            }
            _ => {
                self.done = true;
                out.extend(end_line(full));
            }
        }
        Some(Bytes::from(out))
    }
}

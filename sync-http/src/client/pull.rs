//! Incremental pull: one page of rows after a watermark, in `(updatedAt, id)` order.
//!
//! The normal request is a keyset page: `$filter` "after (T, I)", `$orderby=updatedAt,id`,
//! `$top`. A server-given next link (`Link: <...>; rel=next`, or `nextLink` /
//! `@odata.nextLink` in an object body) is followed for the request that continues
//! exactly where its page ended — but only when it points under our own base URL:
//! the reference server's link loses the port and the mount path, and following it
//! would leave the server (with our credentials).
//!
//! A server that cannot evaluate the keyset filter (it answers 400 or 500 to it) is
//! paged with `updatedAt ge T` and `$skip`, remembered per table. `$skip` counts the
//! rows already seen at T, the watermark's instant, since several rows can share one
//! `updatedAt`. Each skipped page overlaps the previous one by a row, which must be one
//! already seen: if rows at T changed meanwhile (an update moves a row to a later T),
//! the count is stale and the page steps back, so no row is skipped; rows seen twice
//! are dropped by id. After a restart nothing is remembered: the rows at T up to the
//! watermark's id are dropped, or delivered again (harmless: the engine applies a row
//! it already has as a no-op).

use std::collections::HashSet;
use std::sync::atomic::Ordering as AtomicOrdering;

use reqwest::{Method, Url};
use sync_core::model::instant;
use sync_core::store::Watermark;
use sync_core::transport::{PullPage, PullRequest, TransportError};
use sync_core::{Record, TableSchema, Value};

use super::answer;
use super::decode;
use super::inner::{Inner, SeenAt, TablePaging};
use super::send::Call;
use crate::wire::odata::{filter_to_odata, page_query, quote};

/// A pulled row and its place in `(updatedAt, id)` order.
struct Row {
    record: Record,
    mark: Watermark,
}

/// The server's message, when `e` is a 400 about the page size (`$top`): ours says
/// "$top: 5000 is above the maximum page size 1000"; Microsoft's names `$top` too.
fn top_refused(e: &TransportError) -> Option<&str> {
    match e {
        TransportError::Server {
            status: 400,
            message,
        } if message
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word.eq_ignore_ascii_case("top")) =>
        {
            Some(message)
        }
        _ => None,
    }
}

/// The page size to ask instead of `top` after a refusal saying `message`: the
/// largest number below `top` the message names (the server's limit), else 1000,
/// else 50; `None` when there is nothing smaller to try.
fn smaller_top(message: &str, top: u32) -> Option<u32> {
    let named = message
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok())
        .filter(|n| (1..top).contains(n))
        .max();
    named.or_else(|| [1000, 50].into_iter().find(|&n| n < top))
}

/// Paging gives up after this many requests for one page (a server whose answers
/// never settle), rather than looping forever.
const MAX_REQUESTS_PER_PAGE: usize = 1000;

impl Inner {
    fn paging<R>(&self, key: &str, f: impl FnOnce(&mut TablePaging) -> R) -> R {
        let mut map = match self.paging.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(map.entry(key.to_owned()).or_default())
    }

    /// One page. A 400 naming `$top` is asked again with a smaller page (at most
    /// twice: the limit the message names, else 1000, then 50), and the smaller page
    /// size is kept for every later page of the transport.
    pub(crate) async fn pull(
        &self,
        table: &str,
        request: PullRequest,
    ) -> Result<PullPage, TransportError> {
        let mut top = request
            .page_size
            .min(self.page_cap.load(AtomicOrdering::Relaxed));
        let mut retries = 0;
        loop {
            match self.pull_with(table, &request, top).await {
                Err(e) if retries < 2 => match top_refused(&e).and_then(|m| smaller_top(m, top)) {
                    Some(smaller) => {
                        self.page_cap.fetch_min(smaller, AtomicOrdering::Relaxed);
                        top = smaller;
                        retries += 1;
                    }
                    None => return Err(e),
                },
                other => return other,
            }
        }
    }

    /// One page of at most `top` rows.
    async fn pull_with(
        &self,
        table: &str,
        request: &PullRequest,
        top: u32,
    ) -> Result<PullPage, TransportError> {
        let key = table.to_lowercase();
        let schema = self.schema(table);
        let (fallback, link) = self.paging(&key, |p| {
            let link = p.next.take().filter(|(r, _)| r == request).map(|(_, u)| u);
            (p.fallback, link)
        });
        if let Some(url) = link {
            return self
                .keyset_page(table, &key, request, top, url, schema.as_deref())
                .await;
        }
        if fallback && request.after.is_some() {
            return self
                .fallback_page(table, &key, request, top, schema.as_deref())
                .await;
        }
        let asked = PullRequest {
            page_size: top,
            ..request.clone()
        };
        let query = page_query(&asked).map_err(|e| TransportError::Malformed {
            message: format!("a pull of table `{table}` cannot be expressed: {e}"),
        })?;
        let mut url = self.table_url(table)?;
        url.query_pairs_mut().extend_pairs(query);
        match self
            .keyset_page(table, &key, request, top, url, schema.as_deref())
            .await
        {
            // The keyset filter is the only `or` we send: a server that refuses it
            // (400, or 500 on the reference's kind of parser) may take `ge` + `$skip`.
            // A refusal of the page size is not about the filter.
            Err(
                refused @ TransportError::Server {
                    status: 400 | 500, ..
                },
            ) if request.after.is_some() && top_refused(&refused).is_none() => {
                match self
                    .fallback_page(table, &key, request, top, schema.as_deref())
                    .await
                {
                    Ok(page) => {
                        self.paging(&key, |p| p.fallback = true);
                        Ok(page)
                    }
                    // It was not the keyset filter the server minded.
                    Err(_) => Err(refused),
                }
            }
            other => other,
        }
    }

    /// One GET of a page: its rows, and the next link the server gave.
    async fn fetch(
        &self,
        table: &str,
        url: Url,
        top: u32,
        schema: Option<&TableSchema>,
    ) -> Result<(Vec<Row>, Option<Url>), TransportError> {
        let call = Call::new(Method::GET, url);
        let what = format!("{} page", call.describe());
        let reply = self.send(&call).await?;
        if !reply.status.is_success() {
            return Err(answer::refusal(&reply, table, schema, &what));
        }
        // A server that ignores `$top` could answer any number of rows at once.
        let max_rows = top as usize;
        let (rows, next_link) = decode::rows(
            &reply.body,
            table,
            schema,
            &what,
            max_rows,
            |record| {
                let id = record.id().unwrap_or_default().to_owned();
                let Some(Value::Text(updated_at)) = record.get("updatedAt") else {
                    return Err(TransportError::Malformed {
                        message: format!(
                            "{what}: row {id:?} has no `updatedAt`, so no pull can continue after it"
                        ),
                    });
                };
                let mark = Watermark {
                    updated_at: updated_at.clone(),
                    id,
                };
                Ok(Row { record, mark })
            },
        )?;
        let link = next_link.or_else(|| answer::link_next(&reply.headers));
        let next = link.and_then(|l| self.own_link(&call.url, &l));
        Ok((rows, next))
    }

    /// A next link, resolved against the request, when it stays under the base URL
    /// (same scheme, host and port, path under the base path's `tables/`).
    fn own_link(&self, request: &Url, link: &str) -> Option<Url> {
        let url = request.join(link).ok()?;
        let base = &self.base;
        let prefix = format!("{}tables/", base.path());
        let same = url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default()
            && url.path().starts_with(&prefix)
            && url.fragment().is_none();
        same.then_some(url)
    }

    /// A keyset page (or the page of a followed next link).
    async fn keyset_page(
        &self,
        table: &str,
        key: &str,
        request: &PullRequest,
        top: u32,
        url: Url,
        schema: Option<&TableSchema>,
    ) -> Result<PullPage, TransportError> {
        let what = format!("GET {} page", url.path());
        let (rows, next) = self.fetch(table, url, top, schema).await?;
        let last = rows.last().map(|r| r.mark.clone());
        // A server that ignores the filter would hand out the same page forever.
        if let (Some(after), Some(last)) = (&request.after, &last) {
            let behind = match (
                instant::parse(&last.updated_at),
                instant::parse(&after.updated_at),
            ) {
                (Some(l), Some(a)) => l < a,
                _ => false,
            };
            if behind || (instant::same(&last.updated_at, &after.updated_at) && last.id == after.id)
            {
                return Err(TransportError::Malformed {
                    message: format!(
                        "{what}: the page ends at ({}, {:?}), not after the watermark ({}, {:?}): the server did not apply the keyset filter",
                        last.updated_at, last.id, after.updated_at, after.id
                    ),
                });
            }
        }
        let full = top > 0 && rows.len() >= top as usize;
        let next = next.filter(|_| last.is_some());
        let more = full || next.is_some();
        self.paging(key, |p| {
            p.next = next.map(|url| {
                (
                    PullRequest {
                        after: last.clone(),
                        ..request.clone()
                    },
                    url,
                )
            });
        });
        Ok(PullPage {
            records: rows.into_iter().map(|r| r.record).collect(),
            last,
            more,
            total: None,
        })
    }

    /// A page for a server without keyset support: `updatedAt ge T` with `$skip`.
    async fn fallback_page(
        &self,
        table: &str,
        key: &str,
        request: &PullRequest,
        top: u32,
        schema: Option<&TableSchema>,
    ) -> Result<PullPage, TransportError> {
        let Some(after) = request.after.clone() else {
            return Err(TransportError::Malformed {
                message: "a skip page needs a watermark".into(),
            });
        };
        let page_size = top.max(1) as usize;
        let remembered = self.paging(key, |p| p.seen.clone().filter(|s| s.after == after));
        let (mut count, mut ids) = match remembered {
            Some(s) => (Some(s.count), s.ids),
            None => (None, HashSet::from([after.id.clone()])),
        };
        // One row of overlap, to check the count still holds; a page of one cannot.
        let overlap = usize::from(page_size >= 2);
        let mut skip = count.map_or(0, |c| c.saturating_sub(overlap));
        let at_t = |r: &Row| instant::same(&r.mark.updated_at, &after.updated_at);
        for _ in 0..MAX_REQUESTS_PER_PAGE {
            let url = self.skip_url(table, request, &after, skip, page_size)?;
            let (rows, _) = self.fetch(table, url, page_size as u32, schema).await?;
            let full = rows.len() >= page_size;
            if count.is_some() && skip > 0 && overlap == 1 {
                let anchored = rows
                    .first()
                    .is_some_and(|r| at_t(r) && ids.contains(&r.mark.id));
                if !anchored {
                    // Rows at T moved on since: unseen ones may now sit before `skip`.
                    skip = skip.saturating_sub(page_size);
                    continue;
                }
            }
            let fresh_from = match count {
                Some(_) => 0,
                // Nothing remembered: rows at T up to the watermark's id were delivered.
                None => rows
                    .iter()
                    .position(|r| at_t(r) && r.mark.id == after.id)
                    .map_or(0, |p| p + 1),
            };
            let kept: Vec<&Row> = rows[fresh_from..]
                .iter()
                .filter(|r| !(at_t(r) && ids.contains(&r.mark.id)))
                .collect();
            let Some(last) = kept.last().map(|r| r.mark.clone()) else {
                if !full {
                    return Ok(PullPage {
                        records: Vec::new(),
                        last: None,
                        more: false,
                        total: None,
                    });
                }
                // A whole page of rows already seen (all at T): move past them.
                ids.extend(rows.iter().filter(|r| at_t(r)).map(|r| r.mark.id.clone()));
                let seen = skip + rows.len();
                count = Some(seen);
                skip = seen.saturating_sub(overlap);
                continue;
            };
            let seen = if instant::same(&last.updated_at, &after.updated_at) {
                ids.extend(rows.iter().filter(|r| at_t(r)).map(|r| r.mark.id.clone()));
                SeenAt {
                    after: last.clone(),
                    count: skip + rows.len(),
                    ids,
                }
            } else {
                // Rows at the new instant all come after those at T: all are in this page.
                let at_last: Vec<&Row> = rows
                    .iter()
                    .filter(|r| instant::same(&r.mark.updated_at, &last.updated_at))
                    .collect();
                SeenAt {
                    after: last.clone(),
                    count: at_last.len(),
                    ids: at_last.iter().map(|r| r.mark.id.clone()).collect(),
                }
            };
            let records = kept.into_iter().map(|r| r.record.clone()).collect();
            self.paging(key, |p| p.seen = Some(seen));
            return Ok(PullPage {
                records,
                last: Some(last),
                more: full,
                total: None,
            });
        }
        Err(TransportError::Malformed {
            message: format!(
                "GET {} pages: no stable page after {MAX_REQUESTS_PER_PAGE} requests",
                self.table_url(table)?.path()
            ),
        })
    }

    /// `updatedAt ge T` and the app's filter, `$skip` rows.
    fn skip_url(
        &self,
        table: &str,
        request: &PullRequest,
        after: &Watermark,
        skip: usize,
        top: usize,
    ) -> Result<Url, TransportError> {
        let mut filter = format!("(updatedAt ge datetimeoffset{})", quote(&after.updated_at));
        if let Some(f) = &request.filter {
            let f = filter_to_odata(f).map_err(|e| TransportError::Malformed {
                message: format!("a pull of table `{table}` cannot be expressed: {e}"),
            })?;
            filter = format!("{filter} and {f}");
        }
        let mut url = self.table_url(table)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("$filter", &filter)
                .append_pair("$orderby", "updatedAt,id")
                .append_pair("$top", &top.to_string());
            if skip > 0 {
                q.append_pair("$skip", &skip.to_string());
            }
            if request.include_deleted {
                q.append_pair("__includeDeleted", "true");
            }
        }
        Ok(url)
    }
}

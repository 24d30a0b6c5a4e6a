//! Pull: bring the server's changes into the store, page by page.
//!
//! The transport gives the rows after the query's watermark in `(updatedAt, id)` order
//! as a stream of pages ([`Transport::pull_stream`]: one request per page, or one
//! streamed answer cut into pages); each page and the new watermark commit in one
//! transaction, so a crash mid-pull resumes where it stopped and applies nothing twice.
//! A pulled row whose item has a pending local operation becomes a conflict (unless the
//! server has not changed since the local change was based on it, or already holds
//! exactly the local change).
//!
//! Page N+1 is read while page N is being stored, at most one page ahead (two pages in
//! memory). Each page's transaction first checks that the stored watermark is still
//! the one the page follows: if another pull of the same query (or a purge) moved it
//! meanwhile, the page is dropped unwritten and a new stream is opened after the stored
//! watermark. A page that cannot be stored ends the pull with its error, and the page
//! being read ahead is dropped. A stream that breaks (the network, a 5xx) after at
//! least one of its pages was stored is opened again after the last stored page; one
//! that breaks before is the pull's error. A stream the server ended on purpose with
//! more rows to come is followed by another.
//!
//! Once a page committed, the rows it stored, replaced or deleted are announced as one
//! [`Change`](super::Change) ([`ChangeCause::Pull`]): ids only, the rows stay in the store.
//!
//! A pull requests at most [`SyncOptions::max_pull_pages`](super::SyncOptions) pages:
//! a server that always says more rows follow ends it with
//! [`SyncError::PullLimit`], every page received stored. A filter is checked against
//! the table's registered schema before anything is sent: a server answers a filter
//! on a column it has no row with yet by an empty list (Microsoft's does), so an
//! unknown column would look like a pull of nothing.

use std::sync::Arc;

use futures_util::StreamExt;

use crate::store::{ConflictKind, Filter, OpKind, Store, StoreTx, StoredConflict, Watermark};
use crate::transport::{PullPage, PullRequest, Transport, TransportError};

use super::columns::{self, Scope};
use super::push::{self, PushReport, PushStatus, same_data};
use super::resolve::{
    self, Decider, RecordDecision, apply_server_copy, fit_remote, settle, stored_schema,
};
use super::{ChangeCause, Inner, SyncError, SyncEvent, outgoing};

/// What a pull did.
///
/// ```
/// let r = sync_core::engine::PullReport::default();
/// assert_eq!(r.received, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullReport {
    /// The table.
    pub table: String,
    /// Rows received.
    pub received: usize,
    /// Pages requested.
    pub pages: usize,
    /// Conflicts stored for the app during this pull, including those the push it
    /// made first found.
    pub conflicts: usize,
    /// Conflicts a policy resolved, including during that push.
    pub resolved: usize,
    /// The push made first because the table had pending operations.
    pub push: Option<PushReport>,
}

pub(crate) async fn pull<S: Store, T: Transport>(
    inner: &Arc<Inner<S, T>>,
    table: &str,
    query_id: &str,
    filter: Option<Filter>,
) -> Result<PullReport, SyncError> {
    let span = tracing::debug_span!("pull", table, query = query_id);
    let result =
        tracing::Instrument::instrument(pull_in_span(inner, table, query_id, filter), span).await;
    if let Err(e) = &result {
        tracing::debug!(table, query = query_id, error = %e, "pull failed");
    }
    result
}

async fn pull_in_span<S: Store, T: Transport>(
    inner: &Arc<Inner<S, T>>,
    table: &str,
    query_id: &str,
    filter: Option<Filter>,
) -> Result<PullReport, SyncError> {
    let mut report = PullReport {
        table: table.to_owned(),
        ..PullReport::default()
    };
    if let (Some(f), Some(entry)) = (&filter, inner.entry(table)) {
        columns::check_filter(&entry.schema, f, Scope::Pull)?;
    }
    push_first(inner, table, &mut report).await?;
    let this = Pull {
        inner,
        table,
        query_id,
        filter,
        decide: inner.entry(table).map(|e| Arc::clone(&e.decide)),
        schema: inner.entry(table).map(|e| e.schema.clone()),
        max_pages: inner.options.max_pull_pages.max(1),
        total: std::sync::atomic::AtomicU64::new(u64::MAX),
    };
    // The watermark this pull believes is stored; each page's transaction checks it.
    let mut after = this.stored_watermark().await?;
    // Each turn reads one stream of pages, opened after the stored watermark.
    while this.stream(&mut report, &mut after).await? == Ended::Reopen {}
    tracing::debug!(
        received = report.received,
        pages = report.pages,
        conflicts = report.conflicts,
        resolved = report.resolved,
        "pull finished"
    );
    inner.emit(SyncEvent::PullFinished {
        table: table.to_owned(),
        received: report.received,
    });
    Ok(report)
}

/// A pull pushes the table's pending operations first: a pulled row never overwrites
/// a local change the server has not seen; a push that cannot finish ends the pull.
async fn push_first<S: Store, T: Transport>(
    inner: &Arc<Inner<S, T>>,
    table: &str,
    report: &mut PullReport,
) -> Result<(), SyncError> {
    let t = table.to_owned();
    let pending = inner.read(move |tx| Ok(tx.ops(Some(&t))?.len())).await?;
    if pending == 0 {
        return Ok(());
    }
    let pushed = push::push(inner, Some(table.to_owned())).await?;
    if pushed.status != PushStatus::Complete {
        return Err(SyncError::PushIncomplete {
            table: table.to_owned(),
            status: pushed.status,
        });
    }
    report.conflicts += pushed.conflicts;
    report.resolved += pushed.resolved;
    report.push = Some(pushed);
    Ok(())
}

/// What one pull of one query needs at every page.
struct Pull<'a, S, T> {
    inner: &'a Arc<Inner<S, T>>,
    table: &'a str,
    query_id: &'a str,
    filter: Option<Filter>,
    decide: Option<Decider>,
    schema: Option<crate::model::TableSchema>,
    max_pages: usize,
    /// The rows the pull receives in all, once a stream said (`u64::MAX`: not known).
    total: std::sync::atomic::AtomicU64,
}

/// How one stream of pages ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Open another after the last stored page (the stream broke, the server ended it
    /// at its bound, or the watermark moved under it).
    Reopen,
    /// The pull is complete.
    Done,
}

/// What the next item of a stream means.
enum Next {
    Page(PullPage),
    Reopen,
    Done,
}

impl<S: Store, T: Transport> Pull<'_, S, T> {
    async fn stored_watermark(&self) -> Result<Option<Watermark>, SyncError> {
        let (t, q) = (self.table.to_owned(), self.query_id.to_owned());
        self.inner.read(move |tx| Ok(tx.watermark(&t, &q)?)).await
    }

    fn transport_error(&self, source: TransportError) -> SyncError {
        SyncError::Transport {
            table: self.table.to_owned(),
            source,
        }
    }

    /// Reads one stream of pages opened after `after`, storing each page (and moving
    /// `after`) while the next is read.
    async fn stream(
        &self,
        report: &mut PullReport,
        after: &mut Option<Watermark>,
    ) -> Result<Ended, SyncError> {
        if report.pages >= self.max_pages {
            return Err(limit(report));
        }
        let request = PullRequest {
            after: after.clone(),
            page_size: self.inner.options.page_size.max(1),
            include_deleted: true,
            filter: self.filter.clone(),
        };
        let mut pages = std::pin::pin!(self.inner.transport.pull_stream(self.table, request));
        // The next page, read while the previous one was being stored.
        let mut ahead = Some(pages.next().await);
        // Pages stored from this stream, and whether the last one said more follow.
        let (mut stored, mut more) = (0usize, false);
        loop {
            let page = match self.next(ahead.take().flatten(), stored, more)? {
                Next::Page(page) => page,
                Next::Reopen => return Ok(Ended::Reopen),
                Next::Done => return Ok(Ended::Done),
            };
            let n = page.records.len();
            more = page.more;
            if let Some(to_go) = page.total {
                // Counted from this page's first row: what came before is received.
                let total = (report.received as u64).saturating_add(to_go);
                self.total.store(
                    total.min(u64::MAX - 1),
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            if more && n > 0 && page.last.is_none() {
                // Asked again from the same place, it would answer this page forever.
                return Err(self.transport_error(TransportError::Malformed {
                    message: "a page said more rows follow but gave no position to continue \
                              after"
                        .into(),
                }));
            }
            let last = page.last.clone();
            // Not beyond the bound: the page after the last one allowed is never read.
            let read_on = more && n > 0 && report.pages + 1 < self.max_pages;
            let applied = if read_on {
                // The next page is read while this one is written (one page ahead, no
                // more). A store error ends the pull at once and drops the read.
                let read = async { Ok(pages.next().await) };
                let (applied, next) = tokio::try_join!(self.store(page, after.clone()), read)?;
                ahead = Some(next);
                applied
            } else {
                self.store(page, after.clone()).await?
            };
            report.pages += 1;
            let Some(applied) = applied else {
                // Another pull of this query (or a purge) moved the watermark since this
                // stream was opened: nothing was written; start again from the stored one.
                tracing::debug!("the watermark moved under this pull; starting again from it");
                *after = self.stored_watermark().await?;
                return Ok(Ended::Reopen);
            };
            stored += 1;
            if last.is_some() {
                *after = last;
            }
            self.count(report, n, applied);
            if !more || n == 0 {
                return Ok(Ended::Done);
            }
            if !read_on {
                return Err(limit(report));
            }
        }
    }

    /// What the stream's next item means, given how many of its pages were stored and
    /// whether the last said more follow.
    fn next(
        &self,
        item: Option<Result<PullPage, TransportError>>,
        stored: usize,
        more: bool,
    ) -> Result<Next, SyncError> {
        match item {
            Some(Ok(page)) => Ok(Next::Page(page)),
            Some(Err(e)) if stored > 0 && resumable(&e) => {
                // The stream broke after storing something: go on after it.
                tracing::debug!(error = %e, stored, "stream broke; opening it again after the last stored page");
                Ok(Next::Reopen)
            }
            Some(Err(e)) => Err(self.transport_error(e)),
            // The server ended the stream on purpose with rows still to come.
            None if more && stored > 0 => {
                tracing::debug!(
                    stored,
                    "stream ended at the server's bound; opening the next"
                );
                Ok(Next::Reopen)
            }
            None => Ok(Next::Done),
        }
    }

    /// Stores a page in one transaction, if the stored watermark is still `expected`,
    /// and announces the rows it changed once committed (not once the page read ahead
    /// arrives: a live query shows each page while the pull goes on). The page is freed
    /// here rather than on the store's thread, the busier one of a large pull.
    async fn store(
        &self,
        page: PullPage,
        expected: Option<Watermark>,
    ) -> Result<Option<Applied>, SyncError> {
        let (t, q, d, s) = (
            self.table.to_owned(),
            self.query_id.to_owned(),
            self.decide.clone(),
            self.schema.clone(),
        );
        let (mut applied, page) = self
            .inner
            .tx(move |tx| {
                let applied = apply_page(tx, &t, &q, &expected, &page, d.as_ref(), s.as_ref())?;
                Ok((applied, page))
            })
            .await?;
        drop(page);
        if let Some(changed) = applied.as_mut().map(|a| std::mem::take(&mut a.changed))
            && !changed.is_empty()
        {
            self.inner.changed(self.table, changed, ChangeCause::Pull);
        }
        Ok(applied)
    }

    /// Counts a stored page into the report and tells the app.
    fn count(&self, report: &mut PullReport, rows: usize, applied: Applied) {
        let table = self.table;
        report.received += rows;
        tracing::debug!(
            rows,
            received = report.received,
            pages = report.pages,
            conflicts = applied.conflicts.len(),
            "page stored"
        );
        report.resolved += applied.resolved;
        report.conflicts += applied.conflicts.len();
        for id in applied.conflicts {
            tracing::debug!(table, id = %id, "pull conflict");
            self.inner.emit(SyncEvent::ConflictFound {
                table: table.to_owned(),
                id,
                kind: ConflictKind::Pull,
            });
        }
        let total = self.total.load(std::sync::atomic::Ordering::Relaxed);
        self.inner.emit(SyncEvent::PullProgress {
            table: table.to_owned(),
            received: report.received,
            total: (total != u64::MAX).then_some(total),
        });
    }
}

/// The bound on pages was reached with more rows to come.
fn limit(report: &PullReport) -> SyncError {
    SyncError::PullLimit {
        table: report.table.clone(),
        pages: report.pages,
        received: report.received,
    }
}

/// Whether a stream that broke with `e` is worth opening again after what it stored:
/// the network, or the server briefly unable. Anything else would break it again.
fn resumable(e: &TransportError) -> bool {
    match e {
        TransportError::Network { .. } => true,
        TransportError::Server { status, .. } => matches!(status, 429 | 500..=599),
        TransportError::Throttled { .. } => true,
        _ => false,
    }
}

#[derive(Default)]
struct Applied {
    conflicts: Vec<String>,
    resolved: usize,
    /// The items whose local row the page stored, replaced or deleted.
    changed: Vec<String>,
}

/// Stores one page and its watermark, if the stored watermark is still `expected`, the
/// one the page was requested after; otherwise writes nothing and answers `None`.
fn apply_page(
    tx: &mut dyn StoreTx,
    table: &str,
    query_id: &str,
    expected: &Option<Watermark>,
    page: &PullPage,
    decide: Option<&Decider>,
    schema: Option<&crate::model::TableSchema>,
) -> Result<Option<Applied>, SyncError> {
    if tx.watermark(table, query_id)? != *expected {
        return Ok(None);
    }
    let mut applied = Applied::default();
    // Once per page, not once per row: the schema, and the (few) unresolved conflicts.
    let stored = stored_schema(tx, table)?;
    let mut in_conflict: std::collections::HashMap<String, crate::store::StoredConflict> = tx
        .conflicts(Some(table))?
        .into_iter()
        .map(|c| (c.item_id.clone(), c))
        .collect();
    for remote in &page.records {
        let Some(id) = remote.id().filter(|i| !i.is_empty()) else {
            return Err(SyncError::Transport {
                table: table.to_owned(),
                source: TransportError::Malformed {
                    message: "a pulled row has no text `id`".into(),
                },
            });
        };
        let live = (!remote.is_deleted()).then_some(remote);
        // An unresolved conflict keeps the row as the app left it; its remote side
        // follows the server.
        if let Some(c) = in_conflict.get_mut(id) {
            c.remote = live.map(|r| fit_remote(&stored, r));
            tx.save_conflict(c)?;
            continue;
        }
        let Some(op) = tx.op(table, id)? else {
            apply_server_copy(tx, &stored, table, id, live)?;
            applied.changed.push(id.to_owned());
            continue;
        };
        // The server has not changed since the local change was based on it.
        if op.version.is_some() && op.version.as_deref() == remote.version() {
            continue;
        }
        let local = match op.kind {
            OpKind::Delete => None,
            OpKind::Insert | OpKind::Update => tx.get(table, id)?,
        };
        // The server already holds exactly the local change (an answer lost earlier).
        let converged = match (op.kind, &local, live) {
            (OpKind::Delete, _, None) => true,
            (_, Some(l), Some(r)) => same_data(tx, table, &outgoing(schema, l), r)?,
            _ => false,
        };
        if converged {
            tx.remove_op(table, id)?;
            settle(tx, table, id, live)?;
            applied.changed.push(id.to_owned());
            continue;
        }
        let mut conflict = StoredConflict::new(table, id, ConflictKind::Pull);
        conflict.local = local;
        conflict.remote = live.map(|r| fit_remote(&stored, r));
        conflict.base = tx.base(table, id)?;
        let decision = match decide {
            Some(d) => d(&conflict)?,
            None => RecordDecision::Defer,
        };
        match decision {
            RecordDecision::Resolve(res) => {
                resolve::apply(tx, &conflict, res)?;
                applied.resolved += 1;
                applied.changed.push(id.to_owned());
            }
            // Aborting means nothing during a pull: keep the conflict for the app.
            RecordDecision::Defer | RecordDecision::AbortPush => {
                tx.save_conflict(&conflict)?;
                applied.conflicts.push(id.to_owned());
            }
        }
    }
    if let Some(last) = &page.last {
        tx.set_watermark(table, query_id, last)?;
    }
    Ok(Some(applied))
}

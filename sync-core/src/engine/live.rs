//! Live queries: a query's result as a [`Stream`] that follows the store
//! ([`SyncTable::watch`](super::SyncTable::watch), [`watch_one`](super::SyncTable::watch_one)).
//!
//! A live query subscribes to the context's [`Change`]s when it is made, before its first
//! read, so no commit can fall between the first result and the subscription. Then:
//!
//! 1. read and yield the current result;
//! 2. wait for a change that may affect it (its table; for one item, that item) — changes
//!    of other tables are skipped without a read;
//! 3. take every change already waiting, whatever its table, without looking: one read
//!    after them covers them all, so a burst of commits made while the app was not polling
//!    costs one re-query, not one each;
//! 4. read again, and yield the result only if it differs from the last one yielded;
//!    go to 2.
//!
//! A subscriber that fell so far behind that changes were lost
//! ([`RecvError::Lagged`]) reads again, as if every table had changed. The stream holds
//! the context weakly: it ends once the app dropped every handle on the context.
//! Reads go through the store's read path on the blocking pool, like every other read.

use std::future::Future;
use std::sync::{Arc, Weak};

use futures_core::Stream;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::store::Store;
use crate::transport::Transport;

use super::{Change, Inner, SyncError};

/// A live read of `V`: `read` now, then again after every change that `wakes`, coalesced,
/// yielding only results that differ from the last one yielded.
pub(crate) fn live<S, T, V, W, F, Fut>(
    inner: &Arc<Inner<S, T>>,
    wakes: W,
    read: F,
) -> impl Stream<Item = Result<V, SyncError>> + Send + 'static
where
    S: Store,
    T: Transport,
    V: PartialEq + Clone + Send + 'static,
    W: Fn(&Change) -> bool + Send + 'static,
    F: FnMut(Arc<Inner<S, T>>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<V, SyncError>> + Send,
{
    let state = Live {
        inner: Arc::downgrade(inner),
        // Subscribed now, before the first read: nothing committed after that read is missed.
        changes: inner.changes.subscribe(),
        wakes,
        read,
        last: None,
        started: false,
    };
    futures_util::stream::unfold(state, |mut live| async move {
        let item = live.next().await?;
        Some((item, live))
    })
}

struct Live<S, T, V, W, F> {
    inner: Weak<Inner<S, T>>,
    changes: Receiver<Change>,
    wakes: W,
    read: F,
    /// The last result yielded, if it was not an error.
    last: Option<V>,
    started: bool,
}

impl<S, T, V, W, F, Fut> Live<S, T, V, W, F>
where
    S: Store,
    T: Transport,
    V: PartialEq + Clone,
    W: Fn(&Change) -> bool,
    F: FnMut(Arc<Inner<S, T>>) -> Fut,
    Fut: Future<Output = Result<V, SyncError>>,
{
    /// The next result to yield; `None` once the context is gone.
    async fn next(&mut self) -> Option<Result<V, SyncError>> {
        let result = if self.started {
            loop {
                self.wait().await?;
                match self.read().await? {
                    Ok(v) if self.last.as_ref() == Some(&v) => continue,
                    other => break other,
                }
            }
        } else {
            self.started = true;
            self.read().await?
        };
        self.last = result.as_ref().ok().cloned();
        Some(result)
    }

    /// Waits for a change that wakes this query, then takes every change already
    /// waiting; `None` once the context is gone.
    async fn wait(&mut self) -> Option<()> {
        loop {
            match self.changes.recv().await {
                Ok(change) if (self.wakes)(&change) => break,
                Ok(_) => continue,
                // Changes were lost: any of them may have been this query's.
                Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => return None,
            }
        }
        // The read that follows sees every commit announced so far.
        while let Ok(_) | Err(TryRecvError::Lagged(_)) = self.changes.try_recv() {}
        Some(())
    }

    async fn read(&mut self) -> Option<Result<V, SyncError>> {
        let inner = self.inner.upgrade()?;
        Some((self.read)(inner).await)
    }
}

#[cfg(test)]
mod tests {
    //! Coalescing and waking are proved on the stream itself, with a read that counts
    //! its calls when it is made (inside the poll), so that "no re-query" is certain
    //! rather than a timing; every cause of a change through the public `watch`.

    use std::pin::pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use futures_util::{FutureExt, StreamExt};

    use super::*;
    use crate::engine::{ChangeCause, SyncContext, SyncTable};
    use crate::store::{MemoryStore, Query};
    use crate::transport::{MemoryRemote, MemoryTransport};

    #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    #[sync(crate = "sync_core")]
    struct Todo {
        id: String,
        text: String,
        #[version]
        version: Option<String>,
    }

    #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
    #[sync(crate = "sync_core")]
    struct Note {
        id: String,
        body: String,
        #[version]
        version: Option<String>,
    }

    type Ctx = SyncContext<MemoryStore, MemoryTransport>;

    fn todo(id: &str, text: &str) -> Todo {
        Todo {
            id: id.into(),
            text: text.into(),
            version: None,
        }
    }

    fn texts(todos: &[Todo]) -> Vec<&str> {
        todos.iter().map(|t| t.text.as_str()).collect()
    }

    /// A live read of every todo that counts its re-queries.
    fn counted(
        ctx: &Ctx,
        wakes: impl Fn(&Change) -> bool + Send + 'static,
    ) -> (
        impl Stream<Item = Result<Vec<Todo>, SyncError>> + Send + 'static,
        Arc<AtomicUsize>,
    ) {
        let reads = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&reads);
        let stream = live(&ctx.inner, wakes, move |inner| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { SyncTable::<Todo, _, _>::new(inner).all().await }
        });
        (stream, reads)
    }

    fn todo_table(c: &Change) -> bool {
        c.table.eq_ignore_ascii_case("todo")
    }

    /// The next result, bounded: a stream that never yields fails the test.
    async fn next<V>(s: &mut (impl Stream<Item = Result<V, SyncError>> + Unpin)) -> V {
        tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .expect("a result within 10 s")
            .expect("the stream goes on")
            .expect("the read succeeds")
    }

    async fn context() -> (
        Ctx,
        SyncTable<Todo, MemoryStore, MemoryTransport>,
        MemoryRemote,
    ) {
        let server = MemoryRemote::new();
        let ctx = SyncContext::new(MemoryStore::new(), server.transport());
        let todos = ctx.table::<Todo>().await.unwrap();
        (ctx, todos, server)
    }

    #[tokio::test]
    async fn a_burst_of_commits_made_while_not_polling_costs_one_requery() {
        let (ctx, todos, _server) = context().await;
        let (stream, reads) = counted(&ctx, todo_table);
        let mut live = pin!(stream);
        assert!(next(&mut live).await.is_empty());
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        for i in 0..20 {
            todos.insert(todo(&format!("t{i:02}"), "x")).await.unwrap();
        }
        assert_eq!(
            next(&mut live).await.len(),
            20,
            "one result holds the burst"
        );
        assert_eq!(
            reads.load(Ordering::SeqCst),
            2,
            "twenty commits, one re-query"
        );
        assert!(
            live.next().now_or_never().is_none(),
            "nothing else to yield"
        );
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_subscriber_that_lagged_reads_again_once() {
        let (ctx, todos, _server) = context().await;
        let (stream, reads) = counted(&ctx, todo_table);
        let mut live = pin!(stream);
        next(&mut live).await;
        // More changes than the channel keeps: some are lost, and the stream knows it.
        for i in 0..1100 {
            todos.insert(todo(&format!("t{i:04}"), "x")).await.unwrap();
        }
        assert_eq!(next(&mut live).await.len(), 1100);
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn changes_of_other_tables_and_items_do_not_wake_a_live_query() {
        let (ctx, todos, _server) = context().await;
        let notes = ctx.table::<Note>().await.unwrap();
        let (stream, reads) = counted(&ctx, todo_table);
        let mut live = pin!(stream);
        next(&mut live).await;
        for id in ["n1", "n2", "n3"] {
            let body = "b".to_owned();
            notes
                .insert(Note {
                    id: id.into(),
                    body,
                    version: None,
                })
                .await
                .unwrap();
        }
        // The notes' changes are waiting in the channel: one poll takes them all.
        assert!(live.next().now_or_never().is_none());
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "no re-query for another table"
        );
        todos.insert(todo("a", "milk")).await.unwrap();
        assert_eq!(texts(&next(&mut live).await), ["milk"]);

        // One item: a change of another item of the same table does not wake it.
        let mut one = pin!(todos.watch_one("a"));
        assert_eq!(next(&mut one).await.map(|t| t.text), Some("milk".into()));
        todos.insert(todo("b", "bread")).await.unwrap();
        assert!(one.next().now_or_never().is_none());
        todos.update(todo("a", "oat milk")).await.unwrap();
        assert_eq!(
            next(&mut one).await.map(|t| t.text),
            Some("oat milk".into())
        );
    }

    #[tokio::test]
    async fn an_unchanged_result_is_not_yielded_again() {
        let (ctx, todos, _server) = context().await;
        todos.insert(todo("a", "milk")).await.unwrap();
        let (stream, reads) = counted(&ctx, todo_table);
        let mut live = pin!(stream);
        next(&mut live).await;
        // A change of the table that leaves the result as it was: re-queried, not yielded.
        ctx.inner
            .changed("Todo", vec!["a".into()], ChangeCause::LocalWrite);
        let quiet = tokio::time::timeout(Duration::from_millis(300), live.next()).await;
        assert!(quiet.is_err(), "the same result again: {quiet:?}");
        assert_eq!(reads.load(Ordering::SeqCst), 2, "it was re-queried");
        todos.insert(todo("b", "bread")).await.unwrap();
        assert_eq!(texts(&next(&mut live).await), ["milk", "bread"]);
    }

    #[tokio::test]
    async fn every_cause_of_a_change_wakes_a_live_query() {
        let (ctx, todos, server) = context().await;
        let mut live = pin!(todos.watch(Query::new()));
        assert!(next(&mut live).await.is_empty());

        // A local write.
        todos.insert(todo("a", "milk")).await.unwrap();
        let now = next(&mut live).await;
        assert_eq!(
            (texts(&now), now[0].version.as_deref()),
            (vec!["milk"], None)
        );

        // A push answer: the server assigned a version.
        ctx.push().await.unwrap();
        let now = next(&mut live).await;
        assert!(now[0].version.is_some(), "{now:?}");

        // A pulled page: another device wrote.
        let other = SyncContext::new(MemoryStore::new(), server.transport());
        let theirs = other.table::<Todo>().await.unwrap();
        theirs.insert(todo("b", "bread")).await.unwrap();
        other.push().await.unwrap();
        todos.pull("all", None).await.unwrap();
        assert_eq!(texts(&next(&mut live).await), ["milk", "bread"]);

        // A resolution: both edit `b`; the pull stores a conflict, keep_remote settles it.
        theirs.pull("all", None).await.unwrap();
        let mut b = theirs.get("b").await.unwrap().unwrap();
        b.text = "rye bread".into();
        theirs.update(b).await.unwrap();
        other.push().await.unwrap();
        let mut mine = todos.get("b").await.unwrap().unwrap();
        mine.text = "white bread".into();
        todos.update(mine).await.unwrap();
        assert_eq!(texts(&next(&mut live).await), ["milk", "white bread"]);
        // The pending edit is pushed first: a conflict, and the row stays as edited.
        todos.pull("all", None).await.unwrap();
        assert_eq!(todos.conflicts().await.unwrap().len(), 1);
        todos.keep_remote("b").await.unwrap();
        assert_eq!(texts(&next(&mut live).await), ["milk", "rye bread"]);

        // A cancel: an unsent insert goes away.
        todos.insert(todo("c", "cheese")).await.unwrap();
        assert_eq!(next(&mut live).await.len(), 3);
        todos.cancel_and_discard("c").await.unwrap();
        assert_eq!(next(&mut live).await.len(), 2);

        // A purge.
        todos.purge(true).await.unwrap();
        assert!(next(&mut live).await.is_empty());

        // The stream ends with the context.
        drop((todos, theirs, ctx));
        let end = tokio::time::timeout(Duration::from_secs(10), live.next()).await;
        assert!(end.unwrap().is_none());
    }
}

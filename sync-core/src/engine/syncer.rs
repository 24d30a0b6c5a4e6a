//! The background syncer: push soon after local writes, pull what the app registered
//! (on a change-feed poke, else on an interval), retry by timer with backoff, pause on
//! auth errors, and say what it is doing through a [`SyncStatus`] watch.
//!
//! It is one task running a loop over a small state ([`Plan`]): what is due when. Every
//! wait is a `select!` over the stop signal, the next deadline, the app's changes, the
//! feed and a manual wake-up, so the task is idle (no wake-ups at all) when nothing is
//! due, and a retry is armed by a timer, never only by the next local write. Stopping
//! cancels the task at its next await: every store transaction is atomic, and an
//! operation whose answer was not stored is sent again (and recognized) next time.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::sync::{Notify, broadcast, watch};
use tokio::time::Instant;

use super::{ChangeCause, Inner, PushReport, PushStatus, SyncError};
use crate::store::{Filter, Store};
use crate::transport::{ChangeStream, Transport, TransportError};

/// How a [`Syncer`] paces itself. The defaults suit an app on a phone or a laptop.
///
/// ```
/// use std::time::Duration;
/// use sync_core::engine::SyncerOptions;
/// let o = SyncerOptions::default();
/// assert_eq!(o.push_debounce, Duration::from_millis(100));
/// assert_eq!((o.retry_base, o.retry_max), (Duration::from_secs(1), Duration::from_secs(300)));
/// let fast = SyncerOptions { poll_interval: Duration::from_secs(5), ..o };
/// assert_eq!(fast.poll_interval, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
pub struct SyncerOptions {
    /// How long after a local write the push starts, so that a burst of writes is one
    /// push (each further write within the wait does not move it).
    pub push_debounce: Duration,
    /// How long after a feed's poke the pull starts, so that pokes about several
    /// tables arriving together are one round of pulls.
    pub poke_debounce: Duration,
    /// How often registered queries are pulled when no feed pokes (and, with a feed,
    /// as a safety net).
    pub poll_interval: Duration,
    /// The first retry's wait after a failure; also the least wait between retries.
    pub retry_base: Duration,
    /// The longest wait between retries.
    pub retry_max: Duration,
    /// While paused on an auth error, how often to try again (the transport asks its
    /// token refresher on each try), besides [`Syncer::resume`].
    pub auth_retry: Duration,
    /// Whether to use the server's change feed when it offers one.
    pub use_feed: bool,
}

impl Default for SyncerOptions {
    fn default() -> Self {
        SyncerOptions {
            push_debounce: Duration::from_millis(100),
            poke_debounce: Duration::from_millis(2),
            poll_interval: Duration::from_secs(60),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            auth_retry: Duration::from_secs(300),
            use_feed: true,
        }
    }
}

/// What the syncer is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Activity {
    /// Waiting for something to be due.
    Idle,
    /// Pushing the queue.
    Uploading,
    /// Pulling registered queries.
    Downloading,
}

/// What a UI shows about sync, from [`Syncer::status`]: "3 changes waiting, retrying in
/// 8 s" is `pending` and `next_retry`.
///
/// ```
/// let s = sync_core::engine::SyncStatus::default();
/// assert_eq!((s.online, s.pending, s.next_retry), (None, 0, None));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SyncStatus {
    /// Whether the server answered the last attempt; `None` before the first.
    pub online: Option<bool>,
    /// Pushing, pulling, or neither.
    pub activity: Activity,
    /// Queued local changes.
    pub pending: usize,
    /// Conflicts stored for the app.
    pub conflicts: usize,
    /// Queued operations the server rejected (they stay queued with their error).
    pub failed: usize,
    /// When a push and the pulls after it last all succeeded.
    pub last_success: Option<DateTime<Utc>>,
    /// The last failure, until a later success.
    pub last_error: Option<String>,
    /// When the next retry is armed, while failing.
    pub next_retry: Option<Instant>,
    /// Paused because the server refused the credentials: resumes after
    /// [`Syncer::resume`] or on its own every [`SyncerOptions::auth_retry`].
    pub auth_paused: bool,
    /// Whether a change feed is connected (else the syncer polls).
    pub feed_connected: bool,
}

impl Default for SyncStatus {
    fn default() -> Self {
        SyncStatus {
            online: None,
            activity: Activity::Idle,
            pending: 0,
            conflicts: 0,
            failed: 0,
            last_success: None,
            last_error: None,
            next_retry: None,
            auth_paused: false,
            feed_connected: false,
        }
    }
}

/// A query the syncer (and [`SyncContext::sync`](super::SyncContext::sync)) pulls.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub(crate) table: String,
    pub(crate) query_id: String,
    pub(crate) filter: Option<Filter>,
}

/// The handle of a background syncer ([`SyncContext::spawn_syncer`](super::SyncContext::spawn_syncer)).
/// Dropping it stops the syncer, as [`stop`](Syncer::stop) does without waiting.
///
/// ```
/// use std::time::Duration;
/// use sync_core::engine::{SyncContext, SyncerOptions};
/// use sync_core::store::MemoryStore;
/// use sync_core::transport::MemoryRemote;
/// # #[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
/// # #[sync(crate = "sync_core")]
/// # struct Todo { id: String, text: String, #[version] version: Option<String> }
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let server = MemoryRemote::new();
/// let ctx = SyncContext::new(MemoryStore::new(), server.transport());
/// let todos = ctx.table::<Todo>().await?;
/// todos.register_pull("all", None).await?;
/// let syncer = ctx.spawn_syncer(SyncerOptions::default());
/// let mut status = syncer.status();
/// todos.insert(Todo { id: "a".into(), text: "milk".into(), version: None }).await?;
/// // No push() call: the syncer sends it shortly after the write.
/// status.wait_for(|s| s.pending == 0 && s.last_success.is_some()).await.unwrap();
/// assert!(server.get("Todo", "a").is_some());
/// syncer.stop().await;
/// # Ok::<(), sync_core::engine::SyncError>(())
/// # }).unwrap();
/// ```
pub struct Syncer {
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
    status: watch::Receiver<SyncStatus>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Syncer {
    pub(crate) fn spawn<S: Store, T: Transport>(
        inner: Arc<Inner<S, T>>,
        options: SyncerOptions,
    ) -> Syncer {
        let (stop, stopped) = watch::channel(false);
        let (report, status) = watch::channel(SyncStatus::default());
        let wake = Arc::new(Notify::new());
        let run = Run {
            changes: inner.changes.subscribe(),
            inner,
            options,
            status: report,
            wake: Arc::clone(&wake),
            rng: fastrand::Rng::new(),
        };
        let task = tokio::spawn(tracing::Instrument::instrument(
            run.run(stopped),
            tracing::debug_span!("syncer"),
        ));
        Syncer {
            stop,
            wake,
            status,
            task: Some(task),
        }
    }

    /// The syncer's status, to read now or watch for changes.
    pub fn status(&self) -> watch::Receiver<SyncStatus> {
        self.status.clone()
    }

    /// Ends an auth pause (call it after giving the transport a new token) and syncs
    /// now; when not paused, only syncs now (a retry waiting is not waited for).
    pub fn resume(&self) {
        self.wake.notify_one();
    }

    /// Stops the syncer and waits until its task has ended. Nothing is half-committed:
    /// the task stops between store transactions, and an operation sent but whose
    /// answer was not stored stays queued and is sent again (and recognized) later.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// What is due when. `None`: nothing of that kind is due.
#[derive(Debug, Default)]
struct Plan {
    push: Option<Instant>,
    /// Pull every registered query.
    pull_all: Option<Instant>,
    /// Tables a feed poked: pull their registered queries.
    poked: HashSet<String>,
    poke_due: Option<Instant>,
    /// (Re)open the change feed.
    feed: Option<Instant>,
    /// Failures in a row (push, pull or feed): the backoff's exponent.
    failures: u32,
    feed_failures: u32,
    /// Paused on an auth error until this instant (or a resume).
    auth_until: Option<Instant>,
    /// The server asked (`Retry-After`) to hear nothing from us until this instant.
    quiet_until: Option<Instant>,
    last_feed_event: Option<String>,
    /// The server said it has no feed: poll only.
    no_feed: bool,
    /// The feed was lost since it was last open.
    feed_lost: bool,
}

impl Plan {
    fn next_deadline(&self) -> Option<Instant> {
        if let Some(until) = self.auth_until {
            return Some(until);
        }
        if let Some(until) = self.quiet_until {
            return Some(until);
        }
        [self.push, self.pull_all, self.poke_due, self.feed]
            .into_iter()
            .flatten()
            .min()
    }
}

/// The wait before retry number `failures` (1 = the first): "full jitter" between
/// `base` and the exponential ceiling `base * 2^(failures-1)`, capped at `max`. Never
/// less than `base`, so that a syncer offline makes at most one attempt per `base`.
fn backoff(failures: u32, base: Duration, max: Duration, rng: &mut fastrand::Rng) -> Duration {
    let base = base
        .max(Duration::from_millis(1))
        .min(max.max(Duration::from_millis(1)));
    let shift = failures.saturating_sub(1).min(30);
    let ceiling = base.saturating_mul(1u32 << shift).min(max).max(base);
    let spread = (ceiling - base).as_millis() as u64;
    base + Duration::from_millis(rng.u64(0..=spread))
}

/// How an attempt ended, for the plan.
enum Attempt {
    Ok,
    /// Failed: retry with backoff, and not before `after` when the server asked for a
    /// wait. `offline` when the server could not be reached.
    Retry {
        message: String,
        offline: bool,
        after: Option<Duration>,
    },
    /// The credentials were refused: pause.
    Auth(String),
}

struct Run<S, T> {
    inner: Arc<Inner<S, T>>,
    options: SyncerOptions,
    changes: broadcast::Receiver<super::Change>,
    status: watch::Sender<SyncStatus>,
    wake: Arc<Notify>,
    rng: fastrand::Rng,
}

impl<S: Store, T: Transport> Run<S, T> {
    async fn run(mut self, mut stopped: watch::Receiver<bool>) {
        let now = Instant::now();
        let mut plan = Plan {
            push: Some(now),
            pull_all: Some(now),
            feed: self.options.use_feed.then_some(now),
            ..Plan::default()
        };
        let mut feed: Option<ChangeStream> = None;
        loop {
            self.refresh_counts().await;
            let deadline = plan.next_deadline();
            tokio::select! {
                biased;
                _ = stopped.wait_for(|s| *s) => break,
                _ = sleep_until(deadline) => {}
                change = self.changes.recv() => self.on_change(&mut plan, change),
                poke = next_poke(&mut feed) => self.on_poke(&mut plan, &mut feed, poke),
                _ = self.wake.notified() => {
                    let now = Instant::now();
                    plan.auth_until = None;
                    plan.push = Some(now);
                    plan.pull_all = Some(now);
                    self.status.send_modify(|s| s.auth_paused = false);
                }
            }
            // Whatever is due, raced with the stop signal: stopping cancels an
            // attempt between its store transactions.
            let acted = tokio::select! {
                biased;
                _ = stopped.wait_for(|s| *s) => false,
                _ = self.act(&mut plan, &mut feed) => true,
            };
            if !acted {
                break;
            }
        }
        self.status.send_modify(|s| {
            s.activity = Activity::Idle;
            s.feed_connected = false;
        });
    }

    /// Runs what the plan says is due now.
    async fn act(&mut self, plan: &mut Plan, feed: &mut Option<ChangeStream>) {
        let now = Instant::now();
        if let Some(until) = plan.auth_until {
            if until > now {
                return;
            }
            // Try again (the transport asks its token refresher first).
            plan.auth_until = None;
            plan.push = Some(now);
            plan.pull_all = Some(now);
        }
        if let Some(until) = plan.quiet_until {
            if until > now {
                return;
            }
            plan.quiet_until = None;
        }
        if plan.push.is_some_and(|t| t <= now) {
            plan.push = None;
            let attempt = self.push().await;
            self.settle(plan, attempt, Due::Push);
        }
        if plan.auth_until.is_some() {
            return;
        }
        if plan.pull_all.is_some_and(|t| t <= now) {
            plan.pull_all = None;
            plan.poked.clear();
            plan.poke_due = None;
            let attempt = self.pull(None).await;
            if matches!(attempt, Attempt::Ok) {
                plan.pull_all = Some(Instant::now() + self.options.poll_interval);
            }
            self.settle(plan, attempt, Due::PullAll);
        } else if plan.poke_due.is_some_and(|t| t <= now) {
            plan.poke_due = None;
            let tables = std::mem::take(&mut plan.poked);
            let attempt = self.pull(Some(&tables)).await;
            if !matches!(attempt, Attempt::Ok) {
                plan.poked = tables;
            }
            self.settle(plan, attempt, Due::Poked);
        }
        if plan.feed.is_some_and(|t| t <= now) && plan.auth_until.is_none() {
            plan.feed = None;
            self.open_feed(plan, feed).await;
        }
    }

    fn on_change(
        &mut self,
        plan: &mut Plan,
        change: Result<super::Change, broadcast::error::RecvError>,
    ) {
        let is_local = |change: &Result<super::Change, broadcast::error::RecvError>| match change {
            Ok(c) => c.cause == ChangeCause::LocalWrite,
            // Missed some: one of them may have been a local write.
            Err(broadcast::error::RecvError::Lagged(_)) => true,
            // The context is gone: nothing will ever write again.
            Err(broadcast::error::RecvError::Closed) => false,
        };
        let mut local = is_local(&change);
        // A burst of changes is one wake-up of the loop.
        loop {
            match self.changes.try_recv() {
                Ok(c) => local |= c.cause == ChangeCause::LocalWrite,
                Err(broadcast::error::TryRecvError::Lagged(_)) => local = true,
                Err(_) => break,
            }
        }
        // A push already armed (debounce, or a retry's backoff) keeps its time.
        if local && plan.push.is_none() {
            plan.push = Some(Instant::now() + self.options.push_debounce);
        }
    }

    fn on_poke(
        &mut self,
        plan: &mut Plan,
        feed: &mut Option<ChangeStream>,
        poke: Option<Result<crate::transport::Poke, TransportError>>,
    ) {
        match poke {
            Some(Ok(poke)) => {
                if poke.event_id.is_some() {
                    plan.last_feed_event = poke.event_id;
                }
                plan.poked.insert(poke.table.to_ascii_lowercase());
                if plan.poke_due.is_none() {
                    // Pokes that arrive together are one pull.
                    plan.poke_due = Some(Instant::now() + self.options.poke_debounce);
                }
                plan.feed_failures = 0;
            }
            Some(Err(e)) => self.feed_lost(plan, feed, Some(e)),
            None => self.feed_lost(plan, feed, None),
        }
    }

    fn feed_lost(
        &mut self,
        plan: &mut Plan,
        feed: &mut Option<ChangeStream>,
        error: Option<TransportError>,
    ) {
        *feed = None;
        plan.feed_failures = plan.feed_failures.saturating_add(1);
        let wait = backoff(
            plan.feed_failures,
            self.options.retry_base,
            self.options.retry_max,
            &mut self.rng,
        );
        tracing::debug!(error = ?error, wait_ms = wait.as_millis() as u64, "change feed lost");
        plan.feed = Some(Instant::now() + wait);
        plan.feed_lost = true;
        self.status.send_modify(|s| s.feed_connected = false);
    }

    async fn open_feed(&mut self, plan: &mut Plan, feed: &mut Option<ChangeStream>) {
        if plan.no_feed {
            return;
        }
        let tables = self.registered_tables();
        if tables.is_empty() {
            // Nothing to hear about; look again at the next poll.
            plan.feed = Some(Instant::now() + self.options.poll_interval);
            return;
        }
        match self
            .inner
            .transport
            .change_feed(tables, plan.last_feed_event.clone())
            .await
        {
            Ok(Some(stream)) => {
                *feed = Some(stream);
                if std::mem::take(&mut plan.feed_lost) {
                    // Back after a loss: whatever happened while it was down is pulled
                    // now (the server pokes about it too, when it can tell).
                    plan.pull_all = Some(Instant::now());
                }
                self.status.send_modify(|s| s.feed_connected = true);
            }
            Ok(None) => plan.no_feed = true,
            Err(e) => self.feed_lost(plan, feed, Some(e)),
        }
    }

    fn registered_tables(&self) -> Vec<String> {
        let mut tables: Vec<String> = self
            .inner
            .registered()
            .into_iter()
            .map(|r| r.table)
            .collect();
        tables.sort();
        tables.dedup();
        tables
    }

    /// Folds an attempt's outcome into the plan and the status.
    fn settle(&mut self, plan: &mut Plan, attempt: Attempt, due: Due) {
        let now = Instant::now();
        match attempt {
            Attempt::Ok => {
                plan.failures = 0;
                self.status.send_modify(|s| {
                    s.online = Some(true);
                    s.next_retry = None;
                    if due != Due::Push {
                        s.last_success = Some(Utc::now());
                        s.last_error = None;
                    }
                });
            }
            Attempt::Retry {
                message,
                offline,
                after,
            } => {
                plan.failures = plan.failures.saturating_add(1);
                let wait = backoff(
                    plan.failures,
                    self.options.retry_base,
                    self.options.retry_max,
                    &mut self.rng,
                );
                // The server's Retry-After wins over a shorter backoff, and holds back
                // every request (a pull would push first), not only this one.
                let at = now + after.map_or(wait, |a| wait.max(a));
                if after.is_some() {
                    plan.quiet_until = Some(at);
                }
                match due {
                    Due::Push => plan.push = Some(plan.push.map_or(at, |t| t.max(at))),
                    Due::PullAll => plan.pull_all = Some(at),
                    Due::Poked => plan.poke_due = Some(at),
                }
                tracing::debug!(error = %message, failures = plan.failures, "sync attempt failed");
                self.status.send_modify(|s| {
                    s.online = Some(!offline);
                    s.last_error = Some(message);
                    s.next_retry = Some(at);
                });
            }
            Attempt::Auth(message) => {
                let until = now + self.options.auth_retry;
                plan.auth_until = Some(until);
                tracing::debug!(error = %message, "sync paused: credentials refused");
                self.status.send_modify(|s| {
                    s.online = Some(true);
                    s.auth_paused = true;
                    s.last_error = Some(message);
                    s.next_retry = Some(until);
                });
            }
        }
    }

    async fn push(&mut self) -> Attempt {
        self.status
            .send_modify(|s| s.activity = Activity::Uploading);
        let result = super::push::push(&self.inner, None).await;
        self.status.send_modify(|s| s.activity = Activity::Idle);
        match result {
            Ok(report) => push_attempt(&report),
            Err(e) => Attempt::Retry {
                message: e.to_string(),
                offline: false,
                after: None,
            },
        }
    }

    /// Pulls the registered queries (of these tables only, when given), in the order
    /// they were registered; stops at the first that fails.
    async fn pull(&mut self, tables: Option<&HashSet<String>>) -> Attempt {
        let queries: Vec<Registration> = self
            .inner
            .registered()
            .into_iter()
            .filter(|r| tables.is_none_or(|t| t.contains(&r.table.to_ascii_lowercase())))
            .collect();
        if queries.is_empty() {
            return Attempt::Ok;
        }
        self.status
            .send_modify(|s| s.activity = Activity::Downloading);
        let mut attempt = Attempt::Ok;
        for r in queries {
            let result = super::pull::pull(&self.inner, &r.table, &r.query_id, r.filter).await;
            if let Err(e) = result {
                attempt = error_attempt(&e);
                break;
            }
        }
        self.status.send_modify(|s| s.activity = Activity::Idle);
        attempt
    }

    /// Reads the queue's counts into the status (one read transaction).
    async fn refresh_counts(&self) {
        let counts = self
            .inner
            .read(|tx| {
                let ops = tx.ops(None)?;
                let failed = ops.iter().filter(|o| o.error.is_some()).count();
                Ok((ops.len(), failed, tx.conflicts(None)?.len()))
            })
            .await;
        if let Ok((pending, failed, conflicts)) = counts {
            self.status.send_if_modified(|s| {
                let changed = (s.pending, s.failed, s.conflicts) != (pending, failed, conflicts);
                (s.pending, s.failed, s.conflicts) = (pending, failed, conflicts);
                changed
            });
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    Push,
    PullAll,
    Poked,
}

/// What a push report means for the schedule: a stop or a rejection the server may
/// take back later (5xx, 429, 408, no status) is retried with backoff; so is a queue
/// holding operations the server rejected for good, at the backoff's pace, so that
/// they are retried on schedule without holding the others (which were sent).
fn push_attempt(report: &PushReport) -> Attempt {
    match &report.status {
        PushStatus::AuthError(m) => Attempt::Auth(m.clone()),
        PushStatus::NetworkError(m) => Attempt::Retry {
            message: m.clone(),
            offline: true,
            after: None,
        },
        _ if !report.failed.is_empty() => {
            let f = &report.failed[0];
            Attempt::Retry {
                message: format!(
                    "{} operation(s) rejected; first: table `{}`, id `{}`: {}",
                    report.failed.len(),
                    f.table,
                    f.id,
                    f.error.message
                ),
                offline: false,
                after: report.failed.iter().filter_map(|f| f.retry_after).max(),
            }
        }
        _ => Attempt::Ok,
    }
}

fn error_attempt(e: &SyncError) -> Attempt {
    match e {
        SyncError::Transport {
            source: TransportError::Unauthorized { .. },
            ..
        }
        | SyncError::PushIncomplete {
            status: PushStatus::AuthError(_),
            ..
        } => Attempt::Auth(e.to_string()),
        SyncError::PushIncomplete {
            status: PushStatus::NetworkError(_),
            ..
        }
        | SyncError::Transport {
            source: TransportError::Network { .. },
            ..
        } => Attempt::Retry {
            message: e.to_string(),
            offline: true,
            after: None,
        },
        SyncError::Transport { source, .. } => Attempt::Retry {
            message: e.to_string(),
            offline: false,
            after: source.retry_after(),
        },
        _ => Attempt::Retry {
            message: e.to_string(),
            offline: false,
            after: None,
        },
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn next_poke(
    feed: &mut Option<ChangeStream>,
) -> Option<Result<crate::transport::Poke, TransportError>> {
    match feed {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_full_jitter_between_the_base_and_a_capped_ceiling() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let mut rng = fastrand::Rng::with_seed(7);
        for failures in 1..40u32 {
            let ceiling = Duration::from_secs(1u64 << (failures - 1).min(20)).min(max);
            let mut seen = Vec::new();
            for _ in 0..200 {
                let d = backoff(failures, base, max, &mut rng);
                assert!(
                    d >= base && d <= ceiling,
                    "{failures}: {d:?} not in [1 s, {ceiling:?}]"
                );
                seen.push(d);
            }
            if ceiling >= Duration::from_secs(4) {
                // Jittered: the waits spread over the range, not one value.
                let (lo, hi) = (seen.iter().min().unwrap(), seen.iter().max().unwrap());
                assert!(*hi - *lo > ceiling / 2, "{failures}: {lo:?}..{hi:?}");
            }
        }
        assert_eq!(
            backoff(1, base, max, &mut rng),
            base,
            "the first retry waits the base"
        );
    }

    #[test]
    fn push_reports_map_to_the_schedule() {
        let ok = PushReport::default();
        assert!(matches!(push_attempt(&ok), Attempt::Ok));
        let down = PushReport {
            status: PushStatus::NetworkError("network failure: down".into()),
            ..PushReport::default()
        };
        assert!(matches!(
            push_attempt(&down),
            Attempt::Retry { offline: true, .. }
        ));
        let auth = PushReport {
            status: PushStatus::AuthError("401".into()),
            ..PushReport::default()
        };
        assert!(matches!(push_attempt(&auth), Attempt::Auth(_)));
        let rejected = PushReport {
            failed: vec![super::super::OperationFailure {
                table: "T".into(),
                id: "poison".into(),
                kind: crate::store::OpKind::Insert,
                error: crate::store::OpError {
                    status: Some(400),
                    message: "bad".into(),
                    server_copy: None,
                },
                retry_after: None,
            }],
            ..PushReport::default()
        };
        match push_attempt(&rejected) {
            Attempt::Retry {
                message, offline, ..
            } => {
                assert!(!offline);
                assert!(
                    message.contains("poison") && message.contains("bad"),
                    "{message}"
                );
            }
            _ => panic!("a rejected operation is retried on schedule"),
        }
    }
}

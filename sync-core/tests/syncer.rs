//! The background syncer on tokio's paused clock, against `MemoryRemote` and its
//! faults: time only moves when every task waits, so each schedule is exact.

use std::time::Duration;

use sync_core::engine::{SyncContext, SyncEvent, SyncStatus, Syncer, SyncerOptions};
use sync_core::store::MemoryStore;
use sync_core::transport::StreamExt;
use sync_core::transport::{Fault, MemoryRemote, MemoryTransport, TransportError};
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, sync_derive::Syncable)]
#[sync(crate = "sync_core")]
struct Todo {
    id: String,
    text: String,
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

fn options() -> SyncerOptions {
    SyncerOptions {
        push_debounce: Duration::from_millis(100),
        poke_debounce: Duration::from_millis(2),
        poll_interval: Duration::from_secs(30),
        retry_base: Duration::from_secs(1),
        retry_max: Duration::from_secs(60),
        auth_retry: Duration::from_secs(300),
        use_feed: true,
    }
}

async fn device(
    server: &MemoryRemote,
) -> (
    Ctx,
    sync_core::engine::SyncTable<Todo, MemoryStore, MemoryTransport>,
) {
    let ctx = SyncContext::new(MemoryStore::new(), server.transport());
    let todos = ctx.table::<Todo>().await.unwrap();
    todos.register_pull("all", None).await.unwrap();
    (ctx, todos)
}

/// Waits (on the paused clock) until the status satisfies `f`, at most `limit`.
async fn until(syncer: &Syncer, limit: Duration, f: impl FnMut(&SyncStatus) -> bool) -> SyncStatus {
    let mut status = syncer.status();
    tokio::time::timeout(limit, status.wait_for(f))
        .await
        .expect("the status never got there")
        .expect("the syncer is gone")
        .clone()
}

fn pushes(events: &mut tokio::sync::broadcast::Receiver<SyncEvent>) -> usize {
    let mut n = 0;
    while let Ok(e) = events.try_recv() {
        if matches!(e, SyncEvent::PushStarted { total } if total > 0) {
            n += 1;
        }
    }
    n
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_writes_is_one_push_soon_after_it() {
    let server = MemoryRemote::new();
    let (ctx, todos) = device(&server).await;
    let syncer = ctx.spawn_syncer(options());
    until(&syncer, Duration::from_secs(5), |s| {
        s.last_success.is_some()
    })
    .await;
    let mut events = ctx.subscribe();
    let started = Instant::now();
    for i in 0..20 {
        todos.insert(todo(&format!("t{i}"), "milk")).await.unwrap();
    }
    until(&syncer, Duration::from_secs(5), |s| s.pending == 0).await;
    assert_eq!(server.rows("Todo").len(), 20);
    assert_eq!(pushes(&mut events), 1, "the burst went as one push");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(100) && took < Duration::from_millis(500),
        "pushed after the debounce, soon: {took:?}"
    );
    syncer.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_push_is_retried_by_timer_with_no_new_write() {
    let server = MemoryRemote::new();
    let (ctx, todos) = device(&server).await;
    // No feed: its reconnection would be a second reason to try, and this test is
    // about the timer alone.
    ctx.transport().set_feed(false);
    let syncer = ctx.spawn_syncer(options());
    until(&syncer, Duration::from_secs(5), |s| {
        s.last_success.is_some()
    })
    .await;
    ctx.transport().set_offline(true);
    todos.insert(todo("a", "milk")).await.unwrap();
    let failing = until(&syncer, Duration::from_secs(5), |s| s.online == Some(false)).await;
    assert_eq!(failing.pending, 1);
    let retry = failing.next_retry.expect("a retry is armed");
    assert!(failing.last_error.is_some());
    // Back online; nothing else happens on the device.
    ctx.transport().set_offline(false);
    let done = until(&syncer, Duration::from_secs(120), |s| s.pending == 0).await;
    assert!(
        Instant::now() >= retry,
        "sent by the armed retry, not before"
    );
    assert_eq!(done.online, Some(true));
    assert_eq!(done.next_retry, None);
    assert!(server.get("Todo", "a").is_some());
    syncer.stop().await;
}

#[tokio::test(start_paused = true)]
async fn offline_for_ten_minutes_costs_a_bounded_number_of_attempts() {
    let server = MemoryRemote::new();
    let (ctx, todos) = device(&server).await;
    ctx.transport().set_offline(true);
    todos.insert(todo("a", "milk")).await.unwrap();
    let before = ctx.transport().calls();
    let syncer = ctx.spawn_syncer(options());
    tokio::time::sleep(Duration::from_secs(600)).await;
    let calls = ctx.transport().calls() - before;
    // Backoff from 1 s doubling to the 60 s cap: about 6 attempts to reach it, then at
    // least 1 s and at most 60 s apart; each attempt is a push and a pull (2 calls).
    // Never a busy loop: at most one attempt per second of backoff base.
    assert!(calls >= 2 * 8, "it keeps trying: {calls} calls");
    assert!(
        calls <= 2 * 80,
        "bounded wake-ups: {calls} calls in 10 minutes"
    );
    let status = syncer.status().borrow().clone();
    assert_eq!((status.online, status.pending), (Some(false), 1));
    syncer.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_auth_error_pauses_until_resumed() {
    let server = MemoryRemote::new();
    let (ctx, todos) = device(&server).await;
    let syncer = ctx.spawn_syncer(options());
    until(&syncer, Duration::from_secs(5), |s| {
        s.last_success.is_some()
    })
    .await;
    let refused = TransportError::Unauthorized {
        status: 401,
        message: "token expired".into(),
    };
    ctx.transport().fail_next(1, refused);
    todos.insert(todo("a", "milk")).await.unwrap();
    let paused = until(&syncer, Duration::from_secs(5), |s| s.auth_paused).await;
    assert!(paused.last_error.unwrap().contains("token expired"));
    // Paused: a minute passes, more writes come, nothing is sent.
    let calls = ctx.transport().calls();
    todos.insert(todo("b", "bread")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(ctx.transport().calls(), calls, "no request while paused");
    // The app gives the transport a new token, then resumes the syncer.
    syncer.resume();
    until(&syncer, Duration::from_secs(5), |s| {
        !s.auth_paused && s.pending == 0
    })
    .await;
    assert_eq!(server.rows("Todo").len(), 2);
    syncer.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_auth_pause_tries_again_on_its_own_after_auth_retry() {
    let server = MemoryRemote::new();
    let (ctx, todos) = device(&server).await;
    let syncer = ctx.spawn_syncer(options());
    until(&syncer, Duration::from_secs(5), |s| {
        s.last_success.is_some()
    })
    .await;
    let refused = TransportError::Unauthorized {
        status: 401,
        message: "no".into(),
    };
    ctx.transport().fail_next(1, refused);
    todos.insert(todo("a", "milk")).await.unwrap();
    until(&syncer, Duration::from_secs(5), |s| s.auth_paused).await;
    let paused_at = Instant::now();
    until(&syncer, Duration::from_secs(400), |s| s.pending == 0).await;
    assert!(paused_at.elapsed() >= Duration::from_secs(300));
    syncer.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_poison_operation_does_not_stall_the_others() {
    let server = MemoryRemote::new();
    let (ctx, todos) = device(&server).await;
    let syncer = ctx.spawn_syncer(options());
    until(&syncer, Duration::from_secs(5), |s| {
        s.last_success.is_some()
    })
    .await;
    let bad = TransportError::Server {
        status: 400,
        message: "text too long".into(),
    };
    // The first write the push sends is refused (which one, the lanes decide).
    ctx.transport().fail_next(1, bad.clone());
    for id in ["a", "b", "c"] {
        todos.insert(todo(id, "x")).await.unwrap();
    }
    let status = until(&syncer, Duration::from_secs(5), |s| s.failed == 1).await;
    assert_eq!(status.pending, 1, "only the rejected operation is left");
    let failed = ctx.failed_operations().await.unwrap();
    let poison = failed[0].item_id.clone();
    assert!(
        failed[0]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("too long")
    );
    for id in ["a", "b", "c"] {
        assert_eq!(server.get("Todo", id).is_some(), id != poison, "{id}");
    }
    assert!(
        status.next_retry.is_some(),
        "the rejected one is retried on schedule"
    );
    // On a later retry the server takes it (the fault is used up).
    until(&syncer, Duration::from_secs(120), |s| s.pending == 0).await;
    assert!(server.get("Todo", &poison).is_some());
    syncer.stop().await;
}

#[tokio::test(start_paused = true)]
async fn registered_queries_are_pulled_on_the_poll_interval() {
    let server = MemoryRemote::new();
    let (ctx, todos) = device(&server).await;
    let (other, on_other) = device(&server).await;
    let syncer = ctx.spawn_syncer(options());
    until(&syncer, Duration::from_secs(5), |s| {
        s.last_success.is_some()
    })
    .await;
    on_other
        .insert(todo("x", "from the other device"))
        .await
        .unwrap();
    other.push().await.unwrap();
    let written = Instant::now();
    tokio::time::timeout(Duration::from_secs(40), async {
        while todos.get("x").await.unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await
    .expect("pulled within the poll interval");
    assert!(written.elapsed() <= Duration::from_secs(31));
    syncer.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stopping_during_a_push_loses_nothing_and_applies_nothing_twice() {
    let server = MemoryRemote::new();
    let (ctx, todos) = device(&server).await;
    let syncer = ctx.spawn_syncer(options());
    until(&syncer, Duration::from_secs(5), |s| {
        s.last_success.is_some()
    })
    .await;
    let (hold, reached, release) = Fault::hold();
    ctx.transport().push_fault(hold);
    todos.insert(todo("a", "milk")).await.unwrap();
    reached.notified().await; // the push's request is in flight
    tokio::time::timeout(Duration::from_secs(5), syncer.stop())
        .await
        .expect("stop returns while a request is in flight");
    drop(release);
    // The request never reached the server: the item is still queued, once.
    assert_eq!(ctx.pending_count().await.unwrap(), 1);
    assert!(server.get("Todo", "a").is_none());
    ctx.push().await.unwrap();
    assert_eq!(ctx.pending_count().await.unwrap(), 0);
    let applied: Vec<_> = server
        .applied()
        .into_iter()
        .filter(|w| w.id == "a")
        .collect();
    assert_eq!(applied.len(), 1, "applied once: {applied:?}");
    assert!(todos.get("a").await.unwrap().unwrap().version.is_some());
}

#[tokio::test(start_paused = true)]
async fn a_feed_poke_pulls_at_once_and_a_lost_feed_is_opened_again() {
    let server = MemoryRemote::new();
    let (ctx, todos) = device(&server).await;
    let (other, on_other) = device(&server).await;
    let syncer = ctx.spawn_syncer(options());
    until(&syncer, Duration::from_secs(5), |s| {
        s.feed_connected && s.last_success.is_some()
    })
    .await;
    on_other.insert(todo("x", "poked")).await.unwrap();
    other.push().await.unwrap();
    let written = Instant::now();
    let mut live = std::pin::pin!(todos.watch_one("x"));
    while live.next().await.unwrap().unwrap().is_none() {}
    // The poll interval is 30 s: only the poke explains this.
    assert!(
        written.elapsed() < Duration::from_secs(1),
        "{:?}",
        written.elapsed()
    );
    // The feed breaks; the syncer opens it again by itself and hears the next write.
    ctx.transport()
        .break_feeds(TransportError::network("feed cut"));
    until(&syncer, Duration::from_secs(5), |s| !s.feed_connected).await;
    until(&syncer, Duration::from_secs(60), |s| s.feed_connected).await;
    on_other.insert(todo("y", "after the break")).await.unwrap();
    other.push().await.unwrap();
    let written = Instant::now();
    let mut live = std::pin::pin!(todos.watch_one("y"));
    while live.next().await.unwrap().unwrap().is_none() {}
    assert!(
        written.elapsed() < Duration::from_secs(1),
        "{:?}",
        written.elapsed()
    );
    syncer.stop().await;
}

#[tokio::test(start_paused = true)]
async fn without_a_feed_the_syncer_polls_and_says_so() {
    let server = MemoryRemote::new();
    let (ctx, _todos) = device(&server).await;
    ctx.transport().set_feed(false);
    let syncer = ctx.spawn_syncer(options());
    let status = until(&syncer, Duration::from_secs(5), |s| {
        s.last_success.is_some()
    })
    .await;
    assert!(!status.feed_connected);
    let calls = ctx.transport().calls();
    tokio::time::sleep(Duration::from_secs(95)).await;
    // Three polls of the one registered query in 95 s at a 30 s interval.
    let polls = ctx.transport().calls() - calls;
    assert!((3..=4).contains(&polls), "{polls} calls");
    syncer.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_from_the_server_is_honoured() {
    let server = MemoryRemote::new();
    let (ctx, todos) = device(&server).await;
    ctx.transport().set_feed(false);
    let syncer = ctx.spawn_syncer(options());
    until(&syncer, Duration::from_secs(5), |s| {
        s.last_success.is_some()
    })
    .await;
    let busy = TransportError::Throttled {
        status: 429,
        message: "slow down".into(),
        retry_after: Duration::from_secs(90),
    };
    ctx.transport().fail_next(1, busy);
    todos.insert(todo("a", "milk")).await.unwrap();
    let refused = until(&syncer, Duration::from_secs(5), |s| s.next_retry.is_some()).await;
    let asked = refused.next_retry.unwrap();
    // Backoff alone would retry within 1 s; the server asked for 90.
    assert!(
        asked >= Instant::now() + Duration::from_secs(89),
        "{asked:?}"
    );
    let calls = ctx.transport().calls();
    tokio::time::sleep(Duration::from_secs(85)).await;
    assert_eq!(
        ctx.transport().calls(),
        calls,
        "nothing sent while asked to wait"
    );
    until(&syncer, Duration::from_secs(30), |s| s.pending == 0).await;
    assert!(server.get("Todo", "a").is_some());
    syncer.stop().await;
}

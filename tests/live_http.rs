//! Sync that runs by itself, end to end over HTTP: two devices, each with a background
//! syncer and a live query on the same item; an insert on one appears in the other's
//! stream with no push or pull call, through the server's change feed. The pollers'
//! interval is a minute, so only the feed explains a row arriving within seconds.
//! On PostgreSQL the two devices talk to two server instances over one database.

use std::time::{Duration, Instant};

use sync_http::HttpTransport;
use tablesync::engine::{SyncContext, SyncTable, Syncer, SyncerOptions};
use tablesync::transport::StreamExt;
use tablesync::{SqliteStore, Syncable};

#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("LiveNote")]
struct Note {
    id: String,
    text: String,
    #[version]
    version: Option<String>,
}

struct Device {
    notes: SyncTable<Note, SqliteStore, HttpTransport>,
    syncer: Syncer,
    _ctx: SyncContext<SqliteStore, HttpTransport>,
}

async fn device(url: &str) -> Device {
    let ctx = SyncContext::new(
        SqliteStore::open_in_memory().expect("a device's store"),
        HttpTransport::new(url).expect("a device's transport"),
    );
    let notes = ctx.table::<Note>().await.expect("register Note");
    notes
        .register_pull("all", None)
        .await
        .expect("register the pull");
    let syncer = ctx.spawn_syncer(SyncerOptions {
        poll_interval: Duration::from_secs(60),
        ..SyncerOptions::default()
    });
    let mut status = syncer.status();
    tokio::time::timeout(
        Duration::from_secs(20),
        status.wait_for(|s| s.feed_connected && s.last_success.is_some()),
    )
    .await
    .expect("the device synced once and is on the feed")
    .expect("the syncer runs");
    Device {
        notes,
        syncer,
        _ctx: ctx,
    }
}

async fn serve(database: &str) -> sync_server::RunningServer {
    let config = sync_server::Config::open(database)
        .await
        .expect("open the server's database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    sync_server::serve(listener, config).await.expect("serve")
}

/// An insert on `a` reaches `b`'s live query by itself, and an edit on `b` reaches
/// `a`'s, each within seconds (the poll interval is a minute).
async fn each_sees_the_other(a: &Device, b: &Device) {
    let id = format!(
        "note-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut on_b = std::pin::pin!(b.notes.watch_one(&id));
    assert_eq!(on_b.next().await.unwrap().unwrap(), None);
    let written = Instant::now();
    a.notes
        .insert(Note {
            id: id.clone(),
            text: "from a".into(),
            version: None,
        })
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(note) = on_b.next().await.unwrap().unwrap() {
                return note;
            }
        }
    })
    .await
    .expect("b's live query showed a's insert");
    assert_eq!(seen.text, "from a");
    assert!(written.elapsed() < Duration::from_secs(10));

    let mut on_a = std::pin::pin!(a.notes.watch_one(&id));
    on_a.next().await.unwrap().unwrap();
    b.notes
        .update(Note {
            text: "edited on b".into(),
            ..seen
        })
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let note = on_a.next().await.unwrap().unwrap();
            if note.is_some_and(|n| n.text == "edited on b") {
                return;
            }
        }
    })
    .await
    .expect("a's live query showed b's edit");
    // Both queues drained by the syncers.
    for (who, d) in [("a", a), ("b", b)] {
        let mut status = d.syncer.status();
        tokio::time::timeout(Duration::from_secs(10), status.wait_for(|s| s.pending == 0))
            .await
            .unwrap_or_else(|_| panic!("{who} still has changes waiting"))
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_with_syncers_see_each_others_writes_through_the_feed() {
    let server = serve("sqlite::memory:").await;
    let url = server.url();
    let (a, b) = (device(&url).await, device(&url).await);
    each_sees_the_other(&a, &b).await;
    a.syncer.stop().await;
    b.syncer.stop().await;
    server.shutdown().await.expect("graceful shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_on_two_server_instances_over_one_postgres_see_each_other() {
    let Ok(db) = std::env::var("TABLESYNC_TEST_POSTGRES") else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED devices_on_two_server_instances_over_one_postgres_see_each_other: \
             TABLESYNC_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test)"
        );
        return;
    };
    let (one, two) = (serve(&db).await, serve(&db).await);
    let a = device(&one.url()).await;
    let b = device(&two.url()).await;
    each_sees_the_other(&a, &b).await;
    a.syncer.stop().await;
    b.syncer.stop().await;
    one.shutdown().await.expect("graceful shutdown");
    two.shutdown().await.expect("graceful shutdown");
}

//! Two devices that sync by themselves: no `push()` or `pull()` anywhere.
//!
//! A tablesync server starts on a loopback port over an in-memory SQLite database; a
//! phone and a laptop (each with its own SQLite store) each run a background syncer
//! (`spawn_syncer`) registered for the whole `Note` table. The laptop shows a live
//! query (`watch`) of the open notes; the phone adds notes and ticks one off; each
//! change appears on the laptop a little over 100 ms later: the phone's syncer waits
//! its push debounce (100 ms by default, so that a burst of writes is one push), and
//! the server's change feed pokes the laptop within milliseconds of the push. Then the
//! laptop edits a note and the phone's `watch_one` sees it.
//!
//! Run with `cargo run --example live`.

use std::time::{Duration, Instant};

use sync_http::HttpTransport;
use tablesync::engine::{SyncContext, SyncTable, Syncer, SyncerOptions};
use tablesync::store::Query;
use tablesync::transport::StreamExt;
use tablesync::{SqliteStore, Syncable};

#[derive(Syncable, Debug, Clone, PartialEq)]
struct Note {
    id: String,
    text: String,
    done: bool,
    #[version]
    version: Option<String>,
}

type Notes = SyncTable<Note, SqliteStore, HttpTransport>;

async fn device(
    url: &str,
) -> anyhow::Result<(SyncContext<SqliteStore, HttpTransport>, Notes, Syncer)> {
    let ctx = SyncContext::new(SqliteStore::open_in_memory()?, HttpTransport::new(url)?);
    let notes = ctx.table::<Note>().await?;
    notes.register_pull("all", None).await?;
    let syncer = ctx.spawn_syncer(SyncerOptions::default());
    // Wait for the first sync and the feed, so the demo shows the feed's speed.
    let mut status = syncer.status();
    tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(|s| s.last_success.is_some() && s.feed_connected),
    )
    .await??;
    Ok((ctx, notes, syncer))
}

fn show(who: &str, notes: &[Note]) {
    let mut texts: Vec<&str> = notes.iter().map(|n| n.text.as_str()).collect();
    texts.sort();
    println!("  {who} sees {} open: {}", notes.len(), texts.join(", "));
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = sync_server::Config::open("sqlite::memory:").await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = sync_server::serve(listener, config).await?;
    let url = server.url();
    println!("server on {url}");
    let (_phone, on_phone, phone_sync) = device(&url).await?;
    let (_laptop, on_laptop, laptop_sync) = device(&url).await?;

    let open = Query::new().filter(Note::columns().done.eq(false));
    let mut live = std::pin::pin!(on_laptop.watch(open));
    show("laptop", &live.next().await.expect("a first result")?);

    // Each write on the phone: the laptop's live query shows it by itself.
    let writes: [(&str, Option<&str>); 3] = [
        ("add 'buy milk'", Some("buy milk")),
        ("add 'call Ana'", Some("call Ana")),
        ("tick off 'buy milk'", None),
    ];
    for (what, text) in writes {
        let started = Instant::now();
        match text {
            Some(text) => {
                on_phone
                    .insert(Note {
                        id: String::new(),
                        text: text.into(),
                        done: false,
                        version: None,
                    })
                    .await?;
            }
            None => {
                let milk = on_phone
                    .all()
                    .await?
                    .into_iter()
                    .find(|n| n.text == "buy milk")
                    .expect("the phone has its note");
                on_phone.update(Note { done: true, ..milk }).await?;
            }
        }
        println!("phone: {what}");
        let result = tokio::time::timeout(Duration::from_secs(10), live.next())
            .await?
            .expect("the live query goes on")?;
        show("laptop", &result);
        println!(
            "    ({} ms after the phone's write returned)",
            started.elapsed().as_millis()
        );
    }

    // And the other way: an edit on the laptop reaches the phone's view of that note.
    let ana = on_laptop
        .all()
        .await?
        .into_iter()
        .find(|n| n.text == "call Ana")
        .expect("the laptop has the note");
    let mut on_phone_ana = std::pin::pin!(on_phone.watch_one(&ana.id));
    on_phone_ana.next().await.expect("a first result")?;
    on_laptop
        .update(Note {
            text: "call Ana back".into(),
            ..ana
        })
        .await?;
    println!("laptop: edit 'call Ana' to 'call Ana back'");
    let seen = tokio::time::timeout(Duration::from_secs(10), on_phone_ana.next())
        .await?
        .expect("the live query goes on")?;
    println!("  phone sees: {}", seen.map(|n| n.text).unwrap_or_default());

    let status = phone_sync.status().borrow().clone();
    println!(
        "phone status: {} pending, online: {:?}, feed: {}",
        status.pending, status.online, status.feed_connected
    );
    phone_sync.stop().await;
    laptop_sync.stop().await;
    server.shutdown().await?;
    Ok(())
}

//! End to end over loopback HTTP: the engine's acceptance stories again, with real
//! `HttpTransport` clients against a real tablesync server, on SQLite and (when
//! `TABLESYNC_TEST_POSTGRES` names a database) on PostgreSQL.

mod common;

use std::sync::Arc;

use common::{Person, TODO, TodoItem, todo};
use sync_http::HttpTransport;
use tablesync::conflict::{Conflict, ConflictHandler, ConflictKind, ConflictPolicy, Decision};
use tablesync::engine::{PushStatus, SyncContext, SyncEvent, SyncOptions};
use tablesync::transport::Transport;
use tablesync::{Record, SqliteStore, Syncable, Value};

type Device = SyncContext<SqliteStore, HttpTransport>;

/// A server on an ephemeral loopback port, over the given database.
async fn server(database: &str) -> sync_server::RunningServer {
    let config = sync_server::Config::open(database)
        .await
        .expect("open the server's database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    sync_server::serve(listener, config).await.expect("serve")
}

fn device(url: &str) -> Device {
    let store = SqliteStore::open_in_memory().expect("device store");
    SyncContext::new(store, HttpTransport::new(url).expect("transport"))
}

/// Another client changing the server directly (an unconditional PATCH).
async fn server_edit(url: &str, table: &str, id: &str, cols: &[(&str, Value)]) {
    let other = HttpTransport::new(url).expect("transport");
    let mut r = Record::new();
    r.set("id", id);
    for (c, v) in cols {
        r.set(*c, v.clone());
    }
    other.update(table, r, None).await.expect("server edit");
}

async fn server_row(url: &str, table: &str, id: &str) -> Option<Record> {
    HttpTransport::new(url)
        .expect("transport")
        .get(table, id)
        .await
        .expect("get")
}

/// A unique id, so that runs on a shared PostgreSQL database never collide.
fn uid(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

async fn story_tutorial(url: &str, choice: &str) {
    let a = device(url);
    let todos = a.table::<TodoItem>().await.unwrap();
    let item = todos.insert(todo("Buy milk")).await.unwrap();
    assert_eq!(a.push().await.unwrap().pushed, 1);
    server_edit(url, TODO, &item.id, &[("complete", Value::Bool(true))]).await;
    let mut mine = todos.get(&item.id).await.unwrap().unwrap();
    mine.text = "Buy oat milk".into();
    todos.update(mine).await.unwrap();
    let report = a.push().await.unwrap();
    assert_eq!(
        (report.status, report.conflicts),
        (PushStatus::Complete, 1),
        "{choice}"
    );
    let c = todos.conflicts().await.unwrap().remove(0);
    assert_eq!(c.kind, ConflictKind::Push);
    assert_eq!(c.differing_fields(), ["text", "complete"]);
    match choice {
        "keep local" => {
            todos.keep_local(&item.id).await.unwrap();
            assert_eq!(a.push().await.unwrap().pushed, 1);
            let s = TodoItem::from_record(server_row(url, TODO, &item.id).await.unwrap()).unwrap();
            assert_eq!((s.text.as_str(), s.complete), ("Buy oat milk", false));
            assert_eq!(todos.get(&item.id).await.unwrap().unwrap(), s);
        }
        "keep remote" => {
            todos.keep_remote(&item.id).await.unwrap();
            assert_eq!(a.pending_count().await.unwrap(), 0);
            let local = todos.get(&item.id).await.unwrap().unwrap();
            assert_eq!((local.text.as_str(), local.complete), ("Buy milk", true));
        }
        _ => {
            let merged = c.merge().unwrap();
            assert!(merged.is_clean());
            todos.use_value(merged.value).await.unwrap();
            assert_eq!(a.push().await.unwrap().pushed, 1);
            let s = TodoItem::from_record(server_row(url, TODO, &item.id).await.unwrap()).unwrap();
            assert_eq!((s.text.as_str(), s.complete), ("Buy oat milk", true));
        }
    }
}

struct Abort;
impl<T> ConflictHandler<T> for Abort {
    fn on_conflict(&self, _: &Conflict<T>) -> Decision<T> {
        Decision::AbortPush
    }
}

async fn story_tutorial_abort(url: &str) {
    let a = SyncContext::with_options(
        SqliteStore::open_in_memory().unwrap(),
        HttpTransport::new(url).unwrap(),
        SyncOptions {
            max_in_flight: 1,
            ..SyncOptions::default()
        },
    );
    let todos = a
        .table_with_policy::<TodoItem>(ConflictPolicy::Handler(Arc::new(Abort)))
        .await
        .unwrap();
    let item = todos.insert(todo("Buy milk")).await.unwrap();
    a.push().await.unwrap();
    server_edit(url, TODO, &item.id, &[("complete", Value::Bool(true))]).await;
    let mut mine = todos.get(&item.id).await.unwrap().unwrap();
    mine.text = "mine".into();
    todos.update(mine).await.unwrap();
    assert_eq!(a.push().await.unwrap().status, PushStatus::Aborted);
    assert_eq!(a.pending_count().await.unwrap(), 1);
    let todos = a.table::<TodoItem>().await.unwrap();
    assert_eq!(a.push().await.unwrap().conflicts, 1);
    todos.keep_local(&item.id).await.unwrap();
    assert_eq!(a.push().await.unwrap().pushed, 1);
}

async fn story_blog(url: &str) {
    let (a, b) = (device(url), device(url));
    let (pa, pb) = (
        a.table::<Person>().await.unwrap(),
        b.table::<Person>().await.unwrap(),
    );
    let id = uid("jane");
    let only_jane = tablesync::store::Filter::eq("id", id.as_str());
    pa.insert(Person {
        id: id.clone(),
        ..common::jane()
    })
    .await
    .unwrap();
    a.push().await.unwrap();
    assert_eq!(
        pb.pull(&id, Some(only_jane.clone()))
            .await
            .unwrap()
            .received,
        1
    );
    let mut on_a = pa.get(&id).await.unwrap().unwrap();
    on_a.age = 32;
    pa.update(on_a).await.unwrap();
    a.push().await.unwrap();
    let mut on_b = pb.get(&id).await.unwrap().unwrap();
    on_b.age = 30;
    pb.update(on_b).await.unwrap();
    let report = pb.pull(&id, Some(only_jane.clone())).await.unwrap();
    assert_eq!(report.push.map(|p| p.conflicts), Some(1));
    let c = pb.conflicts().await.unwrap().remove(0);
    assert_eq!((c.local.unwrap().age, c.remote.unwrap().age), (30, 32));
    pb.keep_local(&id).await.unwrap();
    assert_eq!(b.push().await.unwrap().pushed, 1);
    pa.pull(&id, Some(only_jane.clone())).await.unwrap();
    pb.pull(&id, Some(only_jane)).await.unwrap();
    let (fa, fb) = (
        pa.get(&id).await.unwrap().unwrap(),
        pb.get(&id).await.unwrap().unwrap(),
    );
    assert_eq!(fa, fb);
    assert_eq!(fa.age, 30);
}

async fn story_blog_field_merge(url: &str) {
    let (a, b) = (device(url), device(url));
    let pa = a
        .table_with_policy::<Person>(ConflictPolicy::FieldMerge)
        .await
        .unwrap();
    let pb = b
        .table_with_policy::<Person>(ConflictPolicy::FieldMerge)
        .await
        .unwrap();
    let id = uid("jane");
    let only = tablesync::store::Filter::eq("id", id.as_str());
    pa.insert(Person {
        id: id.clone(),
        ..common::jane()
    })
    .await
    .unwrap();
    let pushed = a.push().await.unwrap();
    assert_eq!(pushed.pushed, 1, "{pushed:?}");
    let pulled = pb.pull(&id, Some(only.clone())).await.unwrap();
    let mut on_a = pa.get(&id).await.unwrap().unwrap();
    on_a.name = "Janet".into();
    pa.update(on_a).await.unwrap();
    let mut on_b = pb
        .get(&id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("B pulled {pulled:?} and has no {id}"));
    on_b.age = 30;
    pb.update(on_b).await.unwrap();
    a.push().await.unwrap();
    assert_eq!(b.push().await.unwrap().resolved, 1);
    pa.pull(&id, Some(only)).await.unwrap();
    let (fa, fb) = (
        pa.get(&id).await.unwrap().unwrap(),
        pb.get(&id).await.unwrap().unwrap(),
    );
    assert_eq!((fa.name.as_str(), fa.age), ("Janet", 30));
    assert_eq!(fa, fb);
}

async fn story_deletes(url: &str) {
    let a = device(url);
    let todos = a.table::<TodoItem>().await.unwrap();
    // Local update against a server delete.
    let x = todos.insert(todo("x")).await.unwrap();
    // Local delete against a server update.
    let y = todos.insert(todo("y")).await.unwrap();
    a.push().await.unwrap();
    HttpTransport::new(url)
        .unwrap()
        .delete(TODO, &x.id, None)
        .await
        .unwrap();
    server_edit(
        url,
        TODO,
        &y.id,
        &[("text", Value::from("changed on server"))],
    )
    .await;
    let mut mx = todos.get(&x.id).await.unwrap().unwrap();
    mx.complete = true;
    todos.update(mx).await.unwrap();
    todos.delete(&y.id).await.unwrap();
    assert_eq!(a.push().await.unwrap().conflicts, 2);
    for c in todos.conflicts().await.unwrap() {
        if c.id == x.id {
            assert!(c.local.is_some() && c.remote.is_none());
            todos.keep_remote(&x.id).await.unwrap();
        } else {
            assert!(c.local.is_none());
            assert_eq!(c.remote.unwrap().text, "changed on server");
            todos.keep_local(&y.id).await.unwrap();
        }
    }
    assert_eq!(a.push().await.unwrap().pushed, 1);
    assert_eq!(todos.get(&x.id).await.unwrap(), None);
    assert!(
        server_row(url, TODO, &y.id).await.is_none(),
        "deleted on the server"
    );
    assert_eq!(a.pending_count().await.unwrap(), 0);
}

async fn story_hostile_ids_and_paging(url: &str) {
    let a = device(url);
    let todos = a.table::<TodoItem>().await.unwrap();
    let prefix = uid("p");
    let ids: Vec<String> = (0..120)
        .map(|i| format!("{prefix}/{i:03} it's; 100% a_b ü"))
        .collect();
    for id in &ids {
        todos
            .insert(TodoItem {
                id: id.clone(),
                ..todo("paged")
            })
            .await
            .unwrap();
    }
    assert_eq!(a.push().await.unwrap().pushed, 120);
    let b = SyncContext::with_options(
        SqliteStore::open_in_memory().unwrap(),
        HttpTransport::new(url).unwrap(),
        SyncOptions {
            page_size: 25,
            ..SyncOptions::default()
        },
    );
    let tb = b.table::<TodoItem>().await.unwrap();
    let mine = tablesync::store::Filter::starts_with("id", prefix.as_str());
    let r = tb.pull("paged", Some(mine.clone())).await.unwrap();
    assert_eq!(r.received, 120);
    assert_eq!(tb.count(None).await.unwrap(), 120);
    for id in &ids {
        assert!(tb.get(id).await.unwrap().is_some(), "{id}");
    }
    assert_eq!(
        tb.pull("paged", Some(mine)).await.unwrap().received,
        0,
        "incremental"
    );
}

/// A field note whose text stays on the device.
#[derive(Syncable, Debug, Clone, PartialEq)]
struct FieldNote {
    id: String,
    site: String,
    #[sync(local)]
    notes: String,
    #[version]
    version: Option<String>,
}

/// A local-only field never reaches the real server, and survives a pull that updates
/// its row from the server.
async fn story_local_fields(url: &str) {
    let a = device(url);
    let notes = a.table::<FieldNote>().await.unwrap();
    let id = uid("note");
    notes
        .insert(FieldNote {
            id: id.clone(),
            site: "north".into(),
            notes: "gate code 1234".into(),
            version: None,
        })
        .await
        .unwrap();
    assert_eq!(a.push().await.unwrap().pushed, 1);
    let on_server = server_row(url, "FieldNote", &id).await.expect("pushed");
    assert_eq!(on_server.get("site"), Some(&Value::from("north")));
    assert!(!on_server.contains("notes"), "{on_server:?}");

    server_edit(url, "FieldNote", &id, &[("site", Value::from("south"))]).await;
    let pulled = notes.pull("all", None).await.unwrap();
    assert_eq!(pulled.conflicts, 0);
    let mine = notes.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (mine.site.as_str(), mine.notes.as_str()),
        ("south", "gate code 1234")
    );

    let b = device(url);
    let theirs = b.table::<FieldNote>().await.unwrap();
    theirs.pull("all", None).await.unwrap();
    let copy = theirs.get(&id).await.unwrap().unwrap();
    assert_eq!((copy.site.as_str(), copy.notes.as_str()), ("south", ""));
}

macro_rules! e2e {
    ($($name:ident => $body:expr),* $(,)?) => {
        mod sqlite_server {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let s = server("sqlite::memory:").await;
                    let url = s.url();
                    let run = $body;
                    run(url.clone()).await;
                    s.shutdown().await.expect("graceful shutdown");
                }
            )*
        }
        mod postgres_server {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Ok(db) = std::env::var("TABLESYNC_TEST_POSTGRES") else {
                        eprintln!("skipped: TABLESYNC_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test)");
                        return;
                    };
                    let s = server(&db).await;
                    let url = s.url();
                    let run = $body;
                    run(url.clone()).await;
                    s.shutdown().await.expect("graceful shutdown");
                }
            )*
        }
    };
}

e2e!(
    tutorial_keep_local => |url: String| async move { story_tutorial(&url, "keep local").await },
    tutorial_keep_remote => |url: String| async move { story_tutorial(&url, "keep remote").await },
    tutorial_merged_value => |url: String| async move { story_tutorial(&url, "merged").await },
    tutorial_abort_push => |url: String| async move { story_tutorial_abort(&url).await },
    blog_two_devices_converge => |url: String| async move { story_blog(&url).await },
    blog_field_merge => |url: String| async move { story_blog_field_merge(&url).await },
    deletes_both_directions => |url: String| async move { story_deletes(&url).await },
    hostile_ids_page_through_the_real_server => |url: String| async move { story_hostile_ids_and_paging(&url).await },
    local_fields_never_reach_the_server => |url: String| async move { story_local_fields(&url).await },
);

/// A client whose page size is above the server's limit pulls everything: the
/// server's 400 names its limit, which the transport then keeps (a paged pull: the
/// extension off); and a filtered pull of a table the server has no row of yet (no
/// column known to it) is an empty pull. The same pull streamed is one answer of 20
/// rows, read by the server as pages of 7, stored as pages of 8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_size_above_the_servers_limit_still_pulls_everything() {
    let config = sync_server::Config::open("sqlite::memory:")
        .await
        .expect("open the server's database")
        .max_page_size(7);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let s = sync_server::serve(listener, config).await.expect("serve");
    let url = s.url();
    let eager = || {
        SyncContext::with_options(
            SqliteStore::open_in_memory().unwrap(),
            HttpTransport::builder(&url)
                .max_page_size(5000)
                .extensions(false)
                .build()
                .unwrap(),
            SyncOptions {
                page_size: 50,
                ..SyncOptions::default()
            },
        )
    };
    let b = eager();
    let tb = b.table::<TodoItem>().await.unwrap();
    let done = tablesync::store::Filter::eq("complete", true);
    let r = tb.pull("done", Some(done)).await.unwrap();
    assert_eq!(r.received, 0, "a fresh table pulls nothing, and fine");

    let a = device(&url);
    let ta = a.table::<TodoItem>().await.unwrap();
    for i in 0..20 {
        ta.insert(todo(&format!("item {i}"))).await.unwrap();
    }
    assert_eq!(a.push().await.unwrap().pushed, 20);
    let mut events = b.subscribe();
    let r = tb.pull("all", None).await.unwrap();
    assert_eq!((r.received, r.pages), (20, 3));
    let totals = |events: &mut tokio::sync::broadcast::Receiver<SyncEvent>| {
        let mut seen = Vec::new();
        while let Ok(e) = events.try_recv() {
            if let SyncEvent::PullProgress {
                received, total, ..
            } = e
            {
                seen.push((received, total));
            }
        }
        seen
    };
    assert_eq!(
        totals(&mut events),
        [(7, None), (14, None), (20, None)],
        "pages: no total"
    );
    assert_eq!(tb.count(None).await.unwrap(), 20);
    assert_eq!(
        b.transport().max_page_size(),
        7,
        "the server's limit is kept"
    );
    let streamed = SyncContext::new(
        SqliteStore::open_in_memory().unwrap(),
        HttpTransport::builder(&url)
            .stream_page_rows(8)
            .build()
            .unwrap(),
    );
    let tc = streamed.table::<TodoItem>().await.unwrap();
    let mut events = streamed.subscribe();
    let r = tc.pull("all", None).await.unwrap();
    assert_eq!((r.received, r.pages), (20, 3), "pages of 8, 8 and 4");
    assert_eq!(
        totals(&mut events),
        [(8, Some(20)), (16, Some(20)), (20, Some(20))],
        "a stream counts: a progress bar with a total"
    );
    assert_eq!(tc.all().await.unwrap().len(), 20);
    s.shutdown().await.expect("graceful shutdown");
}

// ---- batch push (the `tablesync` extension) ----

/// A server whose requests are logged as `METHOD /path`; with `extension: false` it
/// answers the extension's paths as Microsoft's server does (a 404 page).
async fn logged_server(
    max_batch: usize,
    extension: bool,
) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::extract::{Request, State};
    use axum::middleware::{Next, from_fn_with_state};
    use axum::response::{IntoResponse, Response};
    type Log = Arc<std::sync::Mutex<Vec<String>>>;
    async fn observe(
        State((log, extension)): State<(Log, bool)>,
        req: Request,
        next: Next,
    ) -> Response {
        let path = req.uri().path().to_owned();
        log.lock().unwrap().push(format!("{} {path}", req.method()));
        if !extension && path.starts_with("/tablesync") {
            let page = "<!DOCTYPE html><pre>Cannot GET</pre>";
            return (axum::http::StatusCode::NOT_FOUND, page).into_response();
        }
        next.run(req).await
    }
    let config = sync_server::Config::open("sqlite::memory:")
        .await
        .unwrap()
        .max_batch(max_batch, 1 << 20);
    let log: Log = Arc::default();
    let app = sync_server::router(config)
        .layer(from_fn_with_state((Arc::clone(&log), extension), observe));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, log)
}

fn record(cols: &[(&str, Value)]) -> Record {
    let mut r = Record::new();
    for (c, v) in cols {
        r.set(*c, v.clone());
    }
    r
}

/// Five writes of every kind, two of them refused; what each result says.
async fn five_writes(t: &HttpTransport, round: &str) -> Vec<String> {
    use tablesync::transport::{BatchWrite, Write};
    let stale = t
        .insert("T", record(&[("id", "b".into()), ("n", 1.into())]))
        .await
        .map(|r| r.version().map(str::to_owned));
    let stale = stale.unwrap_or_else(|_| Some("MQ==".into()));
    let key = |k: &str| format!("{round}.{k}");
    let writes = vec![
        BatchWrite::new(
            key("1"),
            "T",
            Write::Insert {
                item: record(&[("id", "a".into()), ("n", 1.into())]),
            },
        ),
        BatchWrite::new(
            key("2"),
            "T",
            Write::Update {
                item: record(&[("id", "a".into()), ("n", 2.into())]),
                expected_version: None,
            },
        ),
        BatchWrite::new(
            key("3"),
            "T",
            Write::Update {
                item: record(&[("id", "b".into()), ("n", 9.into())]),
                expected_version: Some("OTk=".into()),
            },
        ),
        BatchWrite::new(
            key("4"),
            "T",
            Write::Delete {
                id: "nope".into(),
                expected_version: None,
            },
        ),
        BatchWrite::new(
            key("5"),
            "T",
            Write::Update {
                item: record(&[("id", "b".into()), ("n", 3.into())]),
                expected_version: stale,
            },
        ),
    ];
    t.push_batch(writes)
        .await
        .into_iter()
        .map(|r| match r {
            Ok(Some(row)) => format!(
                "ok {} n={:?}",
                row.id().unwrap_or_default(),
                row.get("n").cloned()
            ),
            Ok(None) => "ok none".into(),
            Err(e) => format!(
                "{} copy={:?}",
                e.status().map_or("-".into(), |s| s.to_string()),
                e.server_copy().and_then(|c| c.get("n").cloned())
            ),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_batch_is_one_request_to_our_server_and_means_what_single_calls_mean() {
    let (url, log) = logged_server(1000, true).await;
    let t = HttpTransport::new(&url).unwrap();
    let batched = five_writes(&t, "r1").await;
    let requests = log.lock().unwrap().clone();
    assert_eq!(
        requests,
        [
            "POST /tables/T",
            "GET /tablesync/v1",
            "POST /tablesync/v1/batch"
        ],
        "the insert alone, discovery once, then one batch"
    );
    // The same writes against a server without the extension: one request each.
    let (url2, log2) = logged_server(1000, false).await;
    let t2 = HttpTransport::new(&url2).unwrap();
    let single = five_writes(&t2, "r1").await;
    assert_eq!(batched, single, "a batched write means what it means alone");
    assert_eq!(
        batched,
        [
            "ok a n=Some(Integer(1))",
            "ok a n=Some(Integer(2))",
            "412 copy=Some(Integer(1))",
            "404 copy=None",
            "ok b n=Some(Integer(3))",
        ]
    );
    let requests2 = log2.lock().unwrap().clone();
    assert_eq!(requests2[1], "GET /tablesync/v1");
    assert_eq!(requests2.len(), 2 + 5, "{requests2:?}");
    assert!(requests2[2..].iter().all(|r| r.contains("/tables/T")));
    // Asked once per transport.
    let _ = five_writes(&t2, "r2").await;
    let asked = log2
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.contains("tablesync"))
        .count();
    assert_eq!(asked, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_batch_is_cut_to_the_servers_limit_and_sent_again_applies_nothing_twice() {
    use tablesync::transport::{BatchWrite, Write};
    let (url, log) = logged_server(2, true).await;
    let t = HttpTransport::new(&url).unwrap();
    let writes: Vec<BatchWrite> = (0..5)
        .map(|i| {
            BatchWrite::new(
                format!("k{i}"),
                "T",
                Write::Update {
                    item: record(&[("id", "x".into()), ("n", (i as i64).into())]),
                    expected_version: None,
                },
            )
        })
        .collect();
    t.insert("T", record(&[("id", "x".into()), ("n", 0.into())]))
        .await
        .unwrap();
    let first: Vec<_> = t.push_batch(writes.clone()).await;
    assert!(first.iter().all(|r| r.is_ok()), "{first:?}");
    let posts = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.as_str() == "POST /tablesync/v1/batch")
        .count();
    assert_eq!(posts, 3, "five writes in batches of at most two");
    let version = server_row(&url, "T", "x")
        .await
        .unwrap()
        .version()
        .map(str::to_owned);
    // Sent again (say the answers were lost): the same answers, nothing applied.
    let again = t.push_batch(writes).await;
    let versions = |rs: &[tablesync::transport::WriteResult]| -> Vec<Option<String>> {
        rs.iter()
            .map(|r| {
                r.as_ref()
                    .unwrap()
                    .as_ref()
                    .unwrap()
                    .version()
                    .map(str::to_owned)
            })
            .collect()
    };
    assert_eq!(versions(&first), versions(&again));
    assert_eq!(
        server_row(&url, "T", "x")
            .await
            .unwrap()
            .version()
            .map(str::to_owned),
        version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_pushes_to_our_server_in_batches_and_to_microsofts_one_request_a_write() {
    for extension in [true, false] {
        let (url, log) = logged_server(1000, extension).await;
        let d = device(&url);
        let todos = d.table::<TodoItem>().await.unwrap();
        for i in 0..30 {
            todos.insert(todo(&format!("item {i}"))).await.unwrap();
        }
        let report = d.push().await.unwrap();
        assert_eq!((report.pushed, report.total), (30, 30), "{report:?}");
        let requests = log.lock().unwrap().clone();
        let batches = requests
            .iter()
            .filter(|r| r.as_str() == "POST /tablesync/v1/batch")
            .count();
        let singles = requests
            .iter()
            .filter(|r| r.as_str() == format!("POST /tables/{TODO}"))
            .count();
        if extension {
            // Four places in flight share the thirty: a batch each.
            assert_eq!((batches, singles), (4, 0), "{requests:?}");
        } else {
            assert_eq!((batches, singles), (0, 30), "{requests:?}");
            assert_eq!(requests[0], "GET /tablesync/v1", "asked once");
        }
        assert_eq!(d.pending_count().await.unwrap(), 0);
        let fresh = device(&url);
        let all = fresh.table::<TodoItem>().await.unwrap();
        all.pull("all", None).await.unwrap();
        assert_eq!(all.all().await.unwrap().len(), 30);
    }
}

//! Tracing: with a subscriber, the engine, the store, the transport and the server say
//! what they do — a push and its batches, a pull and its pages, conflicts, store
//! transactions, each request with its status and time, one line per server request
//! with method, path, status, latency and user — with the table, ids and counts as
//! fields. (Without a subscriber they record nothing: the macros check a global level
//! first.)

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::Item;
use sync_http::HttpTransport;
use tablesync::engine::SyncContext;
use tablesync::store::MemoryStore;
use tablesync::transport::MemoryRemote;
use tablesync::{Record, SqliteStore};

/// Everything the subscriber writes, for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    fn lines_with(&self, parts: &[&str]) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .map(str::to_owned)
            .collect()
    }
}

fn item(id: &str, value: i64) -> Item {
    Item {
        id: id.into(),
        value,
        stamp: format!("s-{id}-{value}"),
        version: None,
    }
}

#[test]
fn push_pull_conflicts_transactions_and_requests_are_traced_with_their_fields() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("sync_core=trace,sync_http=debug,sync_sqlite=debug,sync_server=info")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // In process: a push with a conflict, a pull.
        let server = MemoryRemote::new();
        let a = SyncContext::new(MemoryStore::new(), server.transport());
        let items = a.table::<Item>().await.unwrap();
        items.insert(item("t1", 1)).await.unwrap();
        items.insert(item("t2", 2)).await.unwrap();
        a.push().await.unwrap();
        let mut theirs = Record::new();
        theirs.set("id", "t1");
        theirs.set("value", 10i64);
        server.write("Item", theirs).unwrap();
        let mut mine = items.get("t1").await.unwrap().unwrap();
        mine.value = 5;
        items.update(mine).await.unwrap();
        assert_eq!(a.push().await.unwrap().conflicts, 1);
        let b = SyncContext::new(MemoryStore::new(), server.transport());
        let pulled = b
            .table::<Item>()
            .await
            .unwrap()
            .pull("all", None)
            .await
            .unwrap();
        assert_eq!(pulled.received, 2);

        // Over HTTP, against the server in process, to an SQLite store.
        let config = sync_server::Config::open("sqlite::memory:").await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let s = sync_server::serve(listener, config).await.unwrap();
        let c = SyncContext::new(
            SqliteStore::open_in_memory().unwrap(),
            HttpTransport::new(s.url()).unwrap(),
        );
        let over_http = c.table::<Item>().await.unwrap();
        over_http.insert(item("h1", 1)).await.unwrap();
        c.push().await.unwrap();
        over_http.pull("all", None).await.unwrap();
        s.shutdown().await.unwrap();
    });
    let must = |parts: &[&str]| {
        let lines = captured.lines_with(parts);
        assert!(
            !lines.is_empty(),
            "no line with {parts:?} in:\n{}",
            captured.text()
        );
    };
    must(&["push finished", "pushed=2", "conflicts=0"]);
    must(&["push finished", "conflicts=1"]);
    must(&["push conflict", "table=\"Item\"", "id=\"t1\""]);
    must(&[
        "push{table=\"*\"}",
        "batch answered",
        "writes=1",
        "refused=0",
    ]);
    must(&[
        "pull{table=\"Item\" query=\"all\"}",
        "page stored",
        "rows=2",
    ]);
    must(&["pull finished", "received=2"]);
    must(&["store transaction", "mode=Write", "ok=true"]);
    must(&[
        "sync_sqlite",
        "local schema change",
        "creating table `Item`",
    ]);
    must(&[
        "sync_http",
        "request answered",
        "path=/tablesync/v1",
        "status=200",
    ]);
    must(&[
        "sync_http",
        "request answered",
        "path=/tablesync/v1/batch",
        "status=200",
    ]);
    must(&["sync_http", "path=/tablesync/v1/stream/Item", "status=200"]);
    must(&["discovery", "batch=true", "stream=true"]);
    must(&[
        "sync_server::request",
        "method=POST",
        "path=/tablesync/v1/batch",
        "status=200",
        "micros=",
    ]);
    must(&[
        "sync_server::request",
        "method=GET",
        "path=/tablesync/v1/stream/Item",
        "status=200",
    ]);
}

//! The SQLite backend under slow reads: reads beside reads and writes (WAL readers),
//! a statement time limit, reads whose client hung up stopped, and a bounded queue
//! that answers 503 with Retry-After. Slow reads are `$orderby` on a column without an
//! index over a table filled directly in the file; every assertion is on order or on
//! counts, none on how long something took.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use sync_server::Config;
use sync_server::store::{SqliteBackend, StoreOptions};

use crate::common::{Env, PgSchema};

/// Rows in the table the slow reads sort.
const ROWS: i64 = 400_000;

/// A server over a SQLite file with `T` holding [`ROWS`] rows, and its backend.
struct Loaded {
    env: Env,
    db: SqliteBackend,
    _dir: tempfile::TempDir,
}

async fn loaded(tune: impl FnOnce(&mut StoreOptions)) -> Loaded {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.db");
    let mut options = StoreOptions::default();
    tune(&mut options);
    let db = SqliteBackend::open_with(&path, &options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = sync_server::serve(listener, Config::new(Arc::new(db.clone())))
        .await
        .unwrap();
    let env = Env::of(server);
    let r = env
        .post(
            "/tables/T",
            serde_json::json!({"id":  "seed","n": 1,"s": "seed"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let p = path.clone();
    tokio::task::spawn_blocking(move || fill(&p)).await.unwrap();
    Loaded { env, db, _dir: dir }
}

/// Fills `T` straight in the file (the server only reads it).
fn fill(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    let table: String = conn
        .query_row(
            "SELECT phys FROM __tablesync_tables WHERE name = 't'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let col = |name: &str| -> String {
        conn.query_row(
            "SELECT phys FROM __tablesync_columns WHERE tbl = 't' AND name = ?1",
            [name],
            |r| r.get(0),
        )
        .unwrap()
    };
    let (n, s) = (col("n"), col("s"));
    // Names come from the registry, not from a client: the only text formatted in.
    conn.execute(
        &format!(
            "INSERT INTO \"{table}\" (id, owner, version, created_at, updated_at, deleted, \
             \"{n}\", \"{s}\") WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k \
             WHERE i < ?1) SELECT 'r' || i, '', 1, 0, 0, 0, i % 977, hex(randomblob(12)) FROM k"
        ),
        [ROWS],
    )
    .unwrap();
}

/// A read that sorts the whole table on a column without an index.
const SLOW: &str = "/tables/T?$orderby=s%20desc&$top=1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_do_not_wait_behind_a_slow_read() {
    let l = loaded(|o| o.sqlite_readers = 2).await;
    let started = std::time::Instant::now();
    let slow = {
        let (http, url) = (l.env.http.clone(), format!("{}{SLOW}", l.env.base));
        tokio::spawn(async move {
            let r = http
                .get(url)
                .header("ZUMO-API-VERSION", "2.0.0")
                .send()
                .await
                .unwrap();
            (r.status(), started.elapsed())
        })
    };
    // Let the slow read reach its reader.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let quick = std::time::Instant::now();
    let r = l.env.get("/tables/T/seed").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = l
        .env
        .post(
            "/tables/T",
            serde_json::json!({"id":  "new","n": 2,"s": "x"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = l.env.get("/tables/T/new").await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Answered while the slow read still runs: with one storage thread they waited.
    let quick = quick.elapsed();
    assert!(
        !slow.is_finished(),
        "the slow read finished first: the table is too small to show anything"
    );
    let (status, slow) = slow.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    println!(
        "a read, a write and a read answered in {quick:?} in all, beside a {slow:?} sort \
         of {ROWS} rows"
    );
    l.env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_time_limit_is_stopped_with_a_503() {
    let l = loaded(|o| o.statement_timeout = Duration::from_millis(50)).await;
    let r = l.env.get(SLOW).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(
        r.error().contains("statement time limit (50 ms)"),
        "{}",
        r.text
    );
    assert_eq!(l.db.stats().timed_out, 1);
    // The reader goes on serving.
    let r = l.env.get("/tables/T/seed").await;
    assert_eq!(r.status, 200, "{}", r.text);
    l.env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_whose_client_hung_up_stop_costing_work() {
    const HUNG_UP: u64 = 6;
    let l = loaded(|o| {
        o.sqlite_readers = 1;
        o.statement_timeout = Duration::from_secs(600);
    })
    .await;
    // How long the slow read takes here, answered: the impatient clients give up at a
    // third of it, whatever the machine's speed (a fixed 150 ms was once not enough).
    let started = std::time::Instant::now();
    let r = l.env.get(SLOW).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let slow = started.elapsed();
    let patience = (slow / 3).max(Duration::from_millis(5));
    let impatient = reqwest::Client::builder()
        .timeout(patience)
        .build()
        .unwrap();
    let mut calls = Vec::new();
    for _ in 0..HUNG_UP {
        let (http, url) = (impatient.clone(), format!("{}{SLOW}", l.env.base));
        calls.push(tokio::spawn(async move {
            http.get(url)
                .header("ZUMO-API-VERSION", "2.0.0")
                .send()
                .await
                .is_err()
        }));
    }
    for c in calls {
        assert!(
            c.await.unwrap(),
            "a slow read ({slow:?} answered) answered within {patience:?}"
        );
    }
    // Each was interrupted (the one running) or skipped (those queued); with no
    // cancellation the lone reader would sort the table six times over.
    for _ in 0..600 {
        if l.db.stats().reads_cancelled == HUNG_UP {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(l.db.stats().reads_cancelled, HUNG_UP);
    println!("{HUNG_UP} reads whose client hung up: {:?}", l.db.stats());
    let r = l.env.get("/tables/T/seed").await;
    assert_eq!(r.status, 200, "{}", r.text);
    l.env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_with_retry_after() {
    const CALLS: usize = 8;
    let l = loaded(|o| {
        o.sqlite_readers = 1;
        o.sqlite_queue = 2;
    })
    .await;
    let mut calls = Vec::new();
    for _ in 0..CALLS {
        let (http, url) = (l.env.http.clone(), format!("{}{SLOW}", l.env.base));
        calls.push(tokio::spawn(async move {
            let r = http
                .get(url)
                .header("ZUMO-API-VERSION", "2.0.0")
                .send()
                .await
                .unwrap();
            let retry = r.headers().get("retry-after").cloned();
            (r.status(), retry, r.text().await.unwrap())
        }));
    }
    let mut busy = 0;
    for c in calls {
        let (status, retry, text) = c.await.unwrap();
        match status.as_u16() {
            200 => {}
            503 => {
                busy += 1;
                assert_eq!(retry.as_ref().map(|v| v.to_str().unwrap()), Some("1"));
                assert!(text.contains("--sqlite-queue"), "{text}");
            }
            s => panic!("unexpected {s}: {text}"),
        }
    }
    // One runs, two wait: at least five of eight were refused at once.
    assert!(busy >= CALLS - 3, "{busy} of {CALLS} refused");
    assert_eq!(l.db.stats().busy, busy as u64);
    println!("{busy} of {CALLS} slow reads refused at once (one reader, a queue of 2)");
    l.env.stop().await;
}

/// PostgreSQL's own `statement_timeout` stops a sort that takes longer, as a 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_time_limit_is_stopped_with_a_503_postgres() {
    let Some(schema) = PgSchema::create("statement_timeout").await else {
        return;
    };
    let url = schema.url();
    // Create and fill the table with the default limit.
    let config = Config::open(&url).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let env = Env::of(sync_server::serve(listener, config).await.unwrap());
    let r = env
        .post(
            "/tables/T",
            serde_json::json!({"id":  "seed","n": 1,"s": "seed"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    env.stop().await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let table: String = client
        .query_one("SELECT phys FROM __tablesync_tables WHERE name = 't'", &[])
        .await
        .unwrap()
        .get(0);
    let col = |rows: &[tokio_postgres::Row], name: &str| -> String {
        rows.iter()
            .find(|r| r.get::<_, String>(0) == name)
            .unwrap()
            .get(1)
    };
    let cols = client
        .query(
            "SELECT name, phys FROM __tablesync_columns WHERE tbl = 't'",
            &[],
        )
        .await
        .unwrap();
    let (n, s) = (col(&cols, "n"), col(&cols, "s"));
    client
        .execute(
            &format!(
                "INSERT INTO \"{table}\" (id, owner, version, created_at, updated_at, deleted, \
                 \"{n}\", \"{s}\") SELECT 'r' || i, '', 1, 0, 0, false, i % 977, md5(i::text) \
                 FROM generate_series(1, $1::bigint) AS i"
            ),
            &[&ROWS],
        )
        .await
        .unwrap();
    // Then serve it with a limit no full sort of it can meet.
    let mut options = StoreOptions::default();
    options.statement_timeout = Duration::from_millis(5);
    let config = Config::open_with(&url, &options).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let env = Env::of(sync_server::serve(listener, config).await.unwrap());
    let r = env.get(SLOW).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.error().contains("statement time limit"), "{}", r.text);
    env.stop().await;
    drop(schema);
}

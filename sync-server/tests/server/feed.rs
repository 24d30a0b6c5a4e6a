//! The change feed (`GET /tablesync/v1/feed`, EXTENSION.md): pokes after writes,
//! heartbeats, resuming from `Last-Event-ID`, per-user isolation, its bounds, a burst
//! of writes coalesced, shutdown with feeds open, and on PostgreSQL two instances: a
//! write through one pokes the feeds of the other.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sync_http::wire::feed::{EventReader, FEED_PATH, Sse};
use sync_server::{Auth, Config};

use crate::common::{Db, Env, PgSchema, SECRET, bearer};

/// A feed as a test reads it.
struct Feed {
    response: reqwest::Response,
    reader: EventReader,
    events: VecDeque<Sse>,
    heartbeats: usize,
}

impl Feed {
    /// Opens a feed; the answer's status and body when it is refused.
    async fn open(
        env: &Env,
        tables: &str,
        headers: &[(&str, &str)],
    ) -> Result<Feed, (StatusCode, String, Option<String>)> {
        let mut rb = env
            .http
            .get(format!("{}{FEED_PATH}", env.base))
            .query(&[("tables", tables)])
            .header("ZUMO-API-VERSION", "2.0.0");
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let response = rb.send().await.expect("feed request");
        if response.status() != StatusCode::OK {
            let status = response.status();
            let retry = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            return Err((status, response.text().await.unwrap(), retry));
        }
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "an SSE answer"
        );
        Ok(Feed {
            response,
            reader: EventReader::new(64 * 1024),
            events: VecDeque::new(),
            heartbeats: 0,
        })
    }

    /// The next event within `wait`, or `None`.
    async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            let chunk = tokio::time::timeout_at(until, self.response.chunk())
                .await
                .ok()?
                .expect("the feed reads")
                .expect("the feed does not end");
            self.heartbeats += chunk.windows(11).filter(|w| w == b": heartbeat").count();
            let mut out = Vec::new();
            self.reader.push(&chunk, &mut out).expect("bounded lines");
            self.events.extend(out);
        }
    }

    /// The tables of every poke within `wait`.
    async fn pokes(&mut self, wait: Duration) -> Vec<String> {
        let until = Instant::now() + wait;
        let mut tables = Vec::new();
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.next(left).await {
                Some(e) => tables.push(e.poke_table().expect("only pokes")),
                None => break,
            }
        }
        tables
    }

    /// The next poke within `wait`, with its event id (the poke must come).
    async fn poke(&mut self, wait: Duration) -> (String, Option<String>) {
        let e = self.next(wait).await.expect("a poke in time");
        (e.poke_table().expect("a poke"), e.id)
    }
}

const SOON: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(400);

fn fast(config: Config) -> Config {
    config.feed(Duration::from_secs(15), 4, 10, Duration::from_millis(20))
}

async fn pokes_after_writes_to_asked_tables_only(db: Db) {
    let Some(env) = Env::start(db, "feed_pokes", fast).await else {
        return;
    };
    let mut feed = Feed::open(&env, "Todo,Other", &[]).await.unwrap();
    assert!(feed.next(QUIET).await.is_none(), "nothing written yet");
    let r = env.post("/tables/Todo", json!({"id": "a", "n": 1})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (table, id) = feed.poke(SOON).await;
    assert_eq!(table, "Todo");
    assert!(id.is_some(), "a poke carries the id to resume from");
    assert_eq!(
        feed.pokes(QUIET).await,
        Vec::<String>::new(),
        "one write, one poke"
    );
    // A table nobody asked about, and a refused write, poke nothing.
    env.post("/tables/Third", json!({"id": "x"})).await;
    let stale = env
        .patch("/tables/Todo/a", json!({"n": 2}), Some("\"OTk=\""))
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(feed.pokes(QUIET).await, Vec::<String>::new());
    // A batch pokes each table it wrote once; names keep the feed's spelling.
    let batch = json!({"operations": [
        {"key": "k1", "table": "other", "method": "insert", "item": {"id": "b"}},
        {"key": "k2", "table": "OTHER", "method": "insert", "item": {"id": "c"}},
    ]});
    let r = env
        .call(
            reqwest::Method::POST,
            "/tablesync/v1/batch",
            Some(&batch.to_string()),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(feed.pokes(QUIET).await, ["Other"]);
    // The same batch again is replayed: it wrote nothing, so it pokes nothing.
    env.call(
        reqwest::Method::POST,
        "/tablesync/v1/batch",
        Some(&batch.to_string()),
        &[],
    )
    .await;
    assert_eq!(feed.pokes(QUIET).await, Vec::<String>::new());
    let d = env.get("/tablesync/v1").await;
    assert_eq!(
        d.json["feed"],
        json!({"heartbeat_seconds": 15, "max_tables": 4})
    );
    drop(feed);
    env.stop().await;
}

#[tokio::test]
async fn sqlite_pokes_after_writes_to_asked_tables_only() {
    pokes_after_writes_to_asked_tables_only(Db::Sqlite).await;
}

#[tokio::test]
async fn postgres_pokes_after_writes_to_asked_tables_only() {
    pokes_after_writes_to_asked_tables_only(Db::Postgres).await;
}

#[tokio::test]
async fn a_quiet_feed_sends_heartbeats() {
    let env = Env::start(Db::Sqlite, "feed_heartbeat", |c| {
        c.feed(Duration::from_millis(200), 4, 10, Duration::ZERO)
    })
    .await
    .unwrap();
    let mut feed = Feed::open(&env, "Todo", &[]).await.unwrap();
    assert!(
        feed.next(Duration::from_millis(1100)).await.is_none(),
        "no event"
    );
    assert!(
        feed.heartbeats >= 3,
        "{} heartbeats in 1.1 s",
        feed.heartbeats
    );
    drop(feed);
    env.stop().await;
}

#[tokio::test]
async fn a_feed_resumes_from_its_last_event_id() {
    let env = Env::start(Db::Sqlite, "feed_resume", fast).await.unwrap();
    let mut feed = Feed::open(&env, "A,B", &[]).await.unwrap();
    env.post("/tables/A", json!({"id": "1"})).await;
    let (table, id) = feed.poke(SOON).await;
    assert_eq!(table, "A");
    let id = id.unwrap();
    drop(feed);
    // Written while no feed was open.
    env.post("/tables/B", json!({"id": "1"})).await;
    let mut feed = Feed::open(&env, "A,B", &[("Last-Event-ID", &id)])
        .await
        .unwrap();
    assert_eq!(
        feed.pokes(QUIET).await,
        ["B"],
        "only what changed since {id}"
    );
    drop(feed);
    // Nothing changed since the newest id: nothing to say.
    let mut feed = Feed::open(&env, "A,B", &[]).await.unwrap();
    env.post("/tables/A", json!({"id": "2"})).await;
    let (_, newest) = feed.poke(SOON).await;
    drop(feed);
    let mut feed = Feed::open(&env, "A,B", &[("Last-Event-ID", &newest.unwrap())])
        .await
        .unwrap();
    assert_eq!(feed.pokes(QUIET).await, Vec::<String>::new());
    drop(feed);
    // An id this server cannot place (another instance's, a restart's): every table.
    let mut feed = Feed::open(&env, "A,B", &[("Last-Event-ID", "someone-else.3")])
        .await
        .unwrap();
    let mut pokes = feed.pokes(QUIET).await;
    pokes.sort();
    assert_eq!(pokes, ["A", "B"]);
    drop(feed);
    env.stop().await;
}

#[tokio::test]
async fn per_user_feeds_hear_only_their_own_rows() {
    let env = Env::start(Db::Sqlite, "feed_per_user", |c| {
        fast(c)
            .auth(Auth::Jwt {
                secret: SECRET.to_vec(),
                per_user: true,
            })
            .dynamic_schema(true)
    })
    .await
    .unwrap();
    let (alice, bob) = (bearer("alice"), bearer("bob"));
    let mut alice_feed = Feed::open(&env, "Todo", &[("X-ZUMO-AUTH", &alice)])
        .await
        .unwrap();
    let mut bob_feed = Feed::open(&env, "Todo", &[("X-ZUMO-AUTH", &bob)])
        .await
        .unwrap();
    let write = |token: String, id: &'static str| {
        let env = &env;
        async move {
            let body = json!({"id": id}).to_string();
            let r = env
                .call(
                    reqwest::Method::POST,
                    "/tables/Todo",
                    Some(&body),
                    &[("X-ZUMO-AUTH", &token)],
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    };
    write(bob.clone(), "b1").await;
    assert_eq!(bob_feed.poke(SOON).await.0, "Todo");
    assert_eq!(
        alice_feed.pokes(QUIET).await,
        Vec::<String>::new(),
        "bob's row"
    );
    write(alice.clone(), "a1").await;
    assert_eq!(alice_feed.poke(SOON).await.0, "Todo");
    assert_eq!(
        bob_feed.pokes(QUIET).await,
        Vec::<String>::new(),
        "alice's row"
    );
    // Without credentials there is no feed.
    let refused = Feed::open(&env, "Todo", &[]).await.err().unwrap();
    assert_eq!(refused.0, StatusCode::UNAUTHORIZED);
    drop((alice_feed, bob_feed));
    env.stop().await;
}

#[tokio::test]
async fn feeds_past_their_bounds_are_refused_saying_why() {
    let env = Env::start(Db::Sqlite, "feed_bounds", |c| {
        c.feed(Duration::from_millis(200), 2, 1, Duration::ZERO)
    })
    .await
    .unwrap();
    for (tables, says) in [
        ("A,B,C", "at most 2 tables"),
        ("A,,B", "an empty table name"),
        ("A,__tablesync_x", "`__tablesync_x` is not a table"),
    ] {
        let (status, body, _) = Feed::open(&env, tables, &[]).await.err().unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{tables}: {body}");
        assert!(
            body.contains(says) && body.contains(tables),
            "{tables}: {body}"
        );
    }
    let no_list = env.get(FEED_PATH).await;
    assert_eq!(no_list.status, 400, "{}", no_list.text);
    // Duplicates are one table.
    let feed = Feed::open(&env, "A,a,B", &[]).await.unwrap();
    let (status, body, retry) = Feed::open(&env, "A", &[]).await.err().unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("max-feed-connections"), "{body}");
    assert!(retry.is_some(), "Retry-After");
    // A feed that leaves gives its slot back (noticed at its next heartbeat at most).
    drop(feed);
    let started = Instant::now();
    let again = loop {
        match Feed::open(&env, "A", &[]).await {
            Ok(f) => break f,
            Err(_) if started.elapsed() < SOON => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("the slot never came back: {e:?}"),
        }
    };
    drop(again);
    env.stop().await;
}

#[tokio::test]
async fn a_burst_of_writes_is_a_few_pokes() {
    let coalesce = Duration::from_millis(250);
    let env = Env::start(Db::Sqlite, "feed_burst", |c| {
        c.feed(Duration::from_secs(15), 4, 10, coalesce)
    })
    .await
    .unwrap();
    let mut feed = Feed::open(&env, "Todo", &[]).await.unwrap();
    let started = Instant::now();
    let writer = |w: usize| {
        let env = &env;
        async move {
            for k in 0..50 {
                let r = env
                    .post("/tables/Todo", json!({"id": format!("w{w}_{k}")}))
                    .await;
                assert_eq!(r.status, 201, "{}", r.text);
            }
        }
    };
    tokio::join!(writer(0), writer(1), writer(2), writer(3));
    let took = started.elapsed();
    let pokes = feed.pokes(coalesce * 3).await;
    // One leading poke, then at most one per interval, and one after the burst.
    let bound = (took.as_millis() / coalesce.as_millis()) as usize + 2;
    assert!(!pokes.is_empty());
    assert!(
        pokes.len() <= bound,
        "{} pokes for 200 writes in {took:?} (at most {bound})",
        pokes.len()
    );
    drop(feed);
    env.stop().await;
}

#[tokio::test]
async fn shutdown_closes_open_feeds() {
    let env = Env::start(Db::Sqlite, "feed_shutdown", fast).await.unwrap();
    let feed = Feed::open(&env, "Todo", &[]).await.unwrap();
    tokio::time::timeout(SOON, env.stop())
        .await
        .expect("shutdown does not wait for a feed to end");
    drop(feed);
}

/// Two instances on one PostgreSQL schema: a write through one pokes the feeds of the
/// other, through LISTEN/NOTIFY.
#[tokio::test]
async fn postgres_a_write_on_one_instance_pokes_the_feeds_of_another() {
    let Some(schema) = PgSchema::create("feed_two_instances").await else {
        return;
    };
    let mut envs = Vec::new();
    for _ in 0..2 {
        let config = fast(Config::open(&schema.url()).await.unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        envs.push(Env::of(sync_server::serve(listener, config).await.unwrap()));
    }
    let (a, b) = (&envs[0], &envs[1]);
    let mut feed = Feed::open(b, "Todo,Other", &[]).await.unwrap();
    // Whatever a listener reports when it starts listening is not what is tested.
    feed.pokes(QUIET).await;
    let r = a.post("/tables/Todo", json!({"id": "a"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        feed.poke(SOON).await.0,
        "Todo",
        "heard from the other instance"
    );
    assert_eq!(feed.pokes(QUIET).await, Vec::<String>::new());
    let batch = json!({"operations": [
        {"key": "k1", "table": "Other", "method": "insert", "item": {"id": "b"}},
    ]});
    let r = a
        .call(
            reqwest::Method::POST,
            "/tablesync/v1/batch",
            Some(&batch.to_string()),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(feed.poke(SOON).await.0, "Other");
    // A refused write commits nothing and notifies nobody.
    let stale = a
        .patch("/tables/Todo/a", json!({"n": 2}), Some("\"OTk=\""))
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(feed.pokes(QUIET).await, Vec::<String>::new());
    drop(feed);
    for env in envs {
        env.stop().await;
    }
    drop(schema);
}

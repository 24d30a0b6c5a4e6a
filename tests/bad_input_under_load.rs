//! The server's bad-input corpus (after `sync-server/tests/server/bad_input.rs`) sent
//! concurrently while other tasks make valid conditional writes, on a real server on
//! 127.0.0.1:
//!
//! - every bad request gets a 4xx with a JSON `{"error": ...}` body;
//! - every valid write gets its 2xx and its effect is there at the end; each writer
//!   chains its writes with `If-Match` on the version its previous write returned, so
//!   a bad request that touched a writer's row would make the next valid write fail;
//! - the row only bad requests are aimed at is byte-for-byte unchanged, and no row
//!   exists that no valid write created;
//! - the server still serves afterwards.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value as Json, json};

const MAX_BODY: usize = 4096;
const BAD_TASKS: usize = 4;
const PASSES: usize = 10;
const WRITERS: usize = 3;
const WRITES: usize = 100;
const TABLE: &str = "/tables/TodoItem";

struct Answer {
    status: StatusCode,
    etag: Option<String>,
    json: Json,
    text: String,
}

async fn call(
    http: &Client,
    base: &str,
    method: Method,
    path: &str,
    body: Option<String>,
    if_match: Option<&str>,
) -> Answer {
    let mut r = http
        .request(method.clone(), format!("{base}{path}"))
        .header("ZUMO-API-VERSION", "2.0.0");
    if let Some(b) = body {
        r = r.header("content-type", "application/json").body(b);
    }
    if let Some(v) = if_match {
        r = r.header("if-match", v);
    }
    let response = r
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path:.100}: no answer: {e}"));
    let status = response.status();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.unwrap_or_default();
    Answer {
        status,
        etag,
        json: serde_json::from_str(&text).unwrap_or(Json::Null),
        text,
    }
}

/// The corpus: (method, path, body). Bad requests are aimed at `a1` (only bad requests
/// touch it) and at the writers' rows `w0..`.
fn corpus() -> Vec<(Method, String, Option<String>)> {
    let huge = format!("{{\"id\":\"h\",\"text\":\"{}\"}}", "x".repeat(MAX_BODY * 4));
    let many_columns = {
        let mut o = serde_json::Map::new();
        for i in 0..1200 {
            o.insert(format!("c{i}"), json!(1));
        }
        Json::Object(o).to_string()
    };
    let mut bad: Vec<(Method, String, Option<String>)> = Vec::new();
    let post_bodies = [
        "{\"id\": \"b1\", ".to_owned(),
        "not json".into(),
        String::new(),
        "[{\"id\": \"b1\"}]".into(),
        "\"b1\"".into(),
        "42".into(),
        "null".into(),
        json!({"id": 5}).to_string(),
        json!({"id": ["b1"]}).to_string(),
        json!({"id": ""}).to_string(),
        json!({"id": "x".repeat(256)}).to_string(),
        json!({"id": "a\u{1}b"}).to_string(),
        json!({"id": "b1", "version": 7}).to_string(),
        json!({"id": "b1", "deleted": "no"}).to_string(),
        json!({"id": "b1", "updatedAt": 0}).to_string(),
        json!({"id": "b1", "createdAt": null}).to_string(),
        json!({"id": "b1", "bad column": 1}).to_string(),
        json!({"id": "b1", "x;drop table t": 1}).to_string(),
        json!({"id": "b1", "n": "one"}).to_string(),
        // Existing ids: a 409, the server's row, nothing written.
        json!({"id": "a1", "text": "overwrite?"}).to_string(),
        json!({"id": "w0", "n": -1}).to_string(),
        huge.clone(),
        many_columns,
        // Values the database cannot hold exactly: 400 naming the column.
        r#"{"id": "b1", "n": 18446744073709551617}"#.into(),
        r#"{"id": "b1", "n": -9223372036854775809}"#.into(),
        json!({"id": "b1", "text": "a\u{0}b"}).to_string(),
        // Refused writes naming new columns: they must not add them (see the end).
        json!({"id": "a1", "fresh1": 1}).to_string(),
        json!({"id": "b1", "fresh2": 1, "text": 5}).to_string(),
    ];
    for b in post_bodies {
        bad.push((Method::POST, TABLE.into(), Some(b)));
    }
    for target in ["a1", "w0", "w1", "w2"] {
        let path = format!("{TABLE}/{target}");
        for b in [
            "{".to_owned(),
            "[]".into(),
            json!({"version": false}).to_string(),
            json!({"deleted": true}).to_string(),
            json!({"due": "tomorrow"}).to_string(),
            json!({"n": "1'; DROP TABLE x; --"}).to_string(),
            json!({"id": "other"}).to_string(),
            huge.clone(),
            r#"{"n": 100000000000000000001}"#.into(),
            json!({"text": "\u{0}"}).to_string(),
            // A stale body version: 409, and its new column is not added.
            json!({"fresh3": 1, "version": "OTk5"}).to_string(),
        ] {
            bad.push((Method::PATCH, path.clone(), Some(b)));
        }
    }
    let enc = form_urlencoded;
    for path in [
        format!("{TABLE}?$top=101"),
        format!("{TABLE}?$top=99999999999999999999999"),
        format!("{TABLE}?$skip=99999999999999999999"),
        format!("{TABLE}?$filter={}", enc("@#$ garbage")),
        format!("{TABLE}?$filter={}", enc("((n eq 1)")),
        format!("{TABLE}?$filter={}", enc("n eq 1.2.3")),
        format!(
            "{TABLE}?$filter={}",
            enc("due eq datetimeoffset'not a date'")
        ),
        format!("{TABLE}?$filter={}", enc("text eq 'unterminated")),
        format!(
            "{TABLE}?$filter={}",
            enc("text eq 'a'; DROP TABLE __tablesync_tables; --")
        ),
        format!("{TABLE}?$orderby={}", enc("n; drop table x")),
        format!("{TABLE}?$select={}", enc("text,(select 1)")),
        format!("{TABLE}?$filter={}", enc(&"(".repeat(5000))),
        // Filters like those that used to overflow the server's stack: past the term
        // limit (400), past the URL limit (414; the `http` crate cannot even carry one
        // of the 50 KB that did it), nested past the depth limit.
        format!("{TABLE}?$filter={}", enc(&["n eq 0"; 1100].join(" or "))),
        format!("{TABLE}?$filter={}", enc(&["true"; 4000].join(" and "))),
        format!(
            "{TABLE}?$filter={}",
            enc(&format!("{}n eq 1{}", "(".repeat(100), ")".repeat(100)))
        ),
        format!("{TABLE}?$filter={}", enc(&"not ".repeat(100))),
        format!("{TABLE}?$filter={}", enc("n eq 18446744073709551617")),
        format!("{TABLE}?$filter={}", enc("text eq 'a\u{0}b'")),
        "/tables/Todo%3BDROP%20TABLE%20x".to_owned(),
        "/tables/__tablesync_columns".to_owned(),
        format!("/tables/{}", "t".repeat(129)),
        format!("{TABLE}/{}", "x".repeat(256)),
        format!("{TABLE}/a%00b"),
    ] {
        bad.push((Method::GET, path, None));
    }
    // Unknown ids and SQL metacharacters: 404, nothing written.
    for id in ["nope", "a1' OR '1'='1", "%25", "_"] {
        let path = format!("{TABLE}/{id}");
        bad.push((Method::DELETE, path.clone(), None));
        bad.push((Method::PATCH, path, Some(json!({"text": "x"}).to_string())));
    }
    bad
}

/// Percent-encodes a query value (everything but unreserved characters).
fn form_urlencoded(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn run() -> String {
    let config = sync_server::Config::open("sqlite::memory:")
        .await
        .expect("server database")
        .max_body(MAX_BODY)
        .max_page_size(100);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let server = sync_server::serve(listener, config).await.expect("serve");
    let base = server.url();
    let http = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    // The rows: a1 for bad requests only, w<i> for writer i.
    let a1 = call(
        &http,
        &base,
        Method::POST,
        TABLE,
        Some(
            json!({"id": "a1", "text": "milk", "n": 1, "due": "2026-01-01T00:00:00.000Z"})
                .to_string(),
        ),
        None,
    )
    .await;
    assert_eq!(a1.status, 201, "{}", a1.text);
    let a1_before = call(
        &http,
        &base,
        Method::GET,
        &format!("{TABLE}/a1"),
        None,
        None,
    )
    .await;
    let mut first_versions = Vec::new();
    for i in 0..WRITERS {
        let r = call(
            &http,
            &base,
            Method::POST,
            TABLE,
            Some(json!({"id": format!("w{i}"), "text": "writer", "n": 0}).to_string()),
            None,
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        first_versions.push(r.etag.expect("a strong ETag"));
    }

    let corpus = Arc::new(corpus());
    let bad_sent = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..BAD_TASKS {
        let (http, base, corpus, sent) = (
            http.clone(),
            base.clone(),
            Arc::clone(&corpus),
            Arc::clone(&bad_sent),
        );
        tasks.spawn(async move {
            let mut rng = fastrand::Rng::with_seed(t as u64);
            for _ in 0..PASSES {
                let mut order: Vec<usize> = (0..corpus.len()).collect();
                rng.shuffle(&mut order);
                for i in order {
                    let (method, path, body) = &corpus[i];
                    let r = call(&http, &base, method.clone(), path, body.clone(), None).await;
                    assert!(
                        r.status.is_client_error(),
                        "{method} {path:.100} {:.80}: {} {:.200}",
                        body.as_deref().unwrap_or(""),
                        r.status,
                        r.text
                    );
                    // A 409 carries the server's row; every other refusal a JSON error.
                    if r.status != StatusCode::CONFLICT {
                        assert!(
                            r.json.get("error").is_some_and(Json::is_string),
                            "{method} {path:.100}: not a JSON error: {} {:.200}",
                            r.status,
                            r.text
                        );
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            Vec::new()
        });
    }
    for (i, first) in first_versions.into_iter().enumerate() {
        let (http, base) = (http.clone(), base.clone());
        tasks.spawn(async move {
            let path = format!("{TABLE}/w{i}");
            let mut version = first;
            let mut posted = Vec::new();
            for k in 1..=WRITES {
                let r = call(
                    &http,
                    &base,
                    Method::PATCH,
                    &path,
                    Some(json!({"n": k, "text": format!("w{i} write {k}")}).to_string()),
                    Some(&version),
                )
                .await;
                assert_eq!(
                    r.status, 200,
                    "writer {i}, write {k}: something else changed the row: {}",
                    r.text
                );
                assert_eq!(r.json["n"], json!(k), "writer {i}");
                let stale = std::mem::replace(&mut version, r.etag.expect("a strong ETag"));
                if k % 10 == 0 {
                    // The compare-and-swap still refuses a stale version.
                    let r = call(
                        &http,
                        &base,
                        Method::PATCH,
                        &path,
                        Some(json!({"n": -(k as i64)}).to_string()),
                        Some(&stale),
                    )
                    .await;
                    assert_eq!(r.status, 412, "writer {i}: {}", r.text);
                }
                let id = format!("v{i}-{k}");
                let r = call(
                    &http,
                    &base,
                    Method::POST,
                    TABLE,
                    Some(json!({"id": id, "text": "valid insert", "n": k}).to_string()),
                    None,
                )
                .await;
                assert_eq!(r.status, 201, "writer {i} insert {id}: {}", r.text);
                posted.push(id);
            }
            posted
        });
    }
    let mut expected: BTreeSet<String> = ["a1".to_owned()].into();
    expected.extend((0..WRITERS).map(|i| format!("w{i}")));
    while let Some(done) = tasks.join_next().await {
        expected.extend(done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())));
    }

    // Every valid write's effect is there; bad requests changed nothing.
    for i in 0..WRITERS {
        let r = call(
            &http,
            &base,
            Method::GET,
            &format!("{TABLE}/w{i}"),
            None,
            None,
        )
        .await;
        assert_eq!(r.json["n"], json!(WRITES), "w{i}: {}", r.text);
        assert_eq!(r.json["text"], json!(format!("w{i} write {WRITES}")));
    }
    let a1_after = call(
        &http,
        &base,
        Method::GET,
        &format!("{TABLE}/a1"),
        None,
        None,
    )
    .await;
    assert_eq!(a1_after.text, a1_before.text, "a bad request changed a1");
    assert_eq!(a1_after.etag, a1_before.etag);
    let mut ids = BTreeSet::new();
    let mut skip = 0;
    loop {
        let page = call(
            &http,
            &base,
            Method::GET,
            &format!("{TABLE}?__includeDeleted=true&$orderby=id&$top=100&$skip={skip}"),
            None,
            None,
        )
        .await;
        assert_eq!(page.status, 200, "{}", page.text);
        let rows = page.json.as_array().cloned().unwrap_or_default();
        for r in &rows {
            assert_eq!(r["deleted"], json!(false), "a bad request deleted {r}");
            ids.insert(r["id"].as_str().expect("text id").to_owned());
        }
        if rows.len() < 100 {
            break;
        }
        skip += 100;
    }
    assert_eq!(
        ids, expected,
        "rows that no valid write created, or missing ones"
    );
    // Still serving; and no refused write fixed the kind of its new columns: they take
    // text now.
    let r = call(
        &http,
        &base,
        Method::POST,
        TABLE,
        Some(
            json!({"id": "after", "text": "ok", "fresh1": "a", "fresh2": "b", "fresh3": "c"})
                .to_string(),
        ),
        None,
    )
    .await;
    assert_eq!(
        r.status, 201,
        "a refused write shaped the schema: {}",
        r.text
    );
    server.shutdown().await.expect("graceful shutdown");
    let valid = WRITERS * WRITES * 2 + WRITERS * (WRITES / 10);
    format!(
        "{} bad requests ({} kinds × {BAD_TASKS} tasks × {PASSES} passes) all 4xx with a JSON \
         error or a 409 row, {valid} concurrent valid requests ({} conditional updates, {} \
         inserts, {} stale-version refusals) all as expected, {} rows checked, none changed \
         by a bad request",
        bad_sent.load(Ordering::Relaxed),
        corpus.len(),
        WRITERS * WRITES,
        WRITERS * WRITES,
        WRITERS * (WRITES / 10),
        ids.len(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_under_concurrent_valid_writes_is_refused_and_changes_nothing() {
    let started = Instant::now();
    let figures = tokio::time::timeout(Duration::from_secs(120), run())
        .await
        .expect("finished within 120 s");
    println!(
        "bad input under load: {figures} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
}

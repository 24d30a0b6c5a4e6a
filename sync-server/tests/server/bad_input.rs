//! Hostile and broken requests: each gets a 4xx with a JSON error, the server keeps
//! serving, and no row changes (the table is snapshotted before and after).

use reqwest::Method;
use serde_json::json;

use crate::common::{Db, Env};

const MAX_BODY: usize = 4096;

async fn corpus(db: Db) {
    let Some(env) = Env::start(db, "bad_input_corpus", |c| {
        c.max_body(MAX_BODY).max_page_size(100)
    })
    .await
    else {
        return;
    };
    let seeded = env
        .post(
            "/tables/TodoItem",
            json!({"id": "a1", "text": "milk", "n": 1, "due": "2026-01-01T00:00:00.000Z"}),
        )
        .await;
    assert_eq!(seeded.status, 201);
    let before = env.snapshot("TodoItem").await;
    let huge = format!("{{\"id\":\"h\",\"text\":\"{}\"}}", "x".repeat(MAX_BODY * 4));
    let many_columns = {
        let mut o = serde_json::Map::new();
        for i in 0..1200 {
            o.insert(format!("c{i}"), json!(1));
        }
        serde_json::Value::Object(o).to_string()
    };
    let long_id = "x".repeat(256);
    let bodies: Vec<(Method, &str, String)> = vec![
        (Method::POST, "/tables/TodoItem", "{\"id\": \"b1\", ".into()),
        (Method::POST, "/tables/TodoItem", "not json".into()),
        (Method::POST, "/tables/TodoItem", "".into()),
        (
            Method::POST,
            "/tables/TodoItem",
            "[{\"id\": \"b1\"}]".into(),
        ),
        (Method::POST, "/tables/TodoItem", "\"b1\"".into()),
        (Method::POST, "/tables/TodoItem", "42".into()),
        (Method::POST, "/tables/TodoItem", "null".into()),
        (
            Method::POST,
            "/tables/TodoItem",
            json!({"id": 5}).to_string(),
        ),
        (
            Method::POST,
            "/tables/TodoItem",
            json!({"id": ["b1"]}).to_string(),
        ),
        (
            Method::POST,
            "/tables/TodoItem",
            json!({"id": ""}).to_string(),
        ),
        (
            Method::POST,
            "/tables/TodoItem",
            json!({"id": long_id}).to_string(),
        ),
        (
            Method::POST,
            "/tables/TodoItem",
            json!({"id": "a\u{1}b"}).to_string(),
        ),
        (
            Method::POST,
            "/tables/TodoItem",
            json!({"id": "b1", "version": 7}).to_string(),
        ),
        (
            Method::POST,
            "/tables/TodoItem",
            json!({"id": "b1", "deleted": "no"}).to_string(),
        ),
        (
            Method::POST,
            "/tables/TodoItem",
            json!({"id": "b1", "updatedAt": 0}).to_string(),
        ),
        (
            Method::POST,
            "/tables/TodoItem",
            json!({"id": "b1", "createdAt": null}).to_string(),
        ),
        (
            Method::POST,
            "/tables/TodoItem",
            json!({"id": "b1", "bad column": 1}).to_string(),
        ),
        (
            Method::POST,
            "/tables/TodoItem",
            json!({"id": "b1", "x;drop table t": 1}).to_string(),
        ),
        (
            Method::POST,
            "/tables/TodoItem",
            json!({"id": "b1", "n": "one"}).to_string(),
        ),
        (Method::POST, "/tables/TodoItem", huge.clone()),
        (Method::POST, "/tables/TodoItem", many_columns),
        (Method::PATCH, "/tables/TodoItem/a1", "{".into()),
        (Method::PATCH, "/tables/TodoItem/a1", "[]".into()),
        (
            Method::PATCH,
            "/tables/TodoItem/a1",
            json!({"version": false}).to_string(),
        ),
        (
            Method::PATCH,
            "/tables/TodoItem/a1",
            json!({"deleted": true}).to_string(),
        ),
        (
            Method::PATCH,
            "/tables/TodoItem/a1",
            json!({"due": "tomorrow"}).to_string(),
        ),
        (
            Method::PATCH,
            "/tables/TodoItem/a1",
            json!({"n": "1'; DROP TABLE x; --"}).to_string(),
        ),
        (
            Method::PATCH,
            "/tables/TodoItem/a1",
            json!({"id": "other"}).to_string(),
        ),
        (Method::PATCH, "/tables/TodoItem/a1", huge),
    ];
    for (method, path, body) in &bodies {
        let r = env.call(method.clone(), path, Some(body), &[]).await;
        assert!(
            r.status.is_client_error(),
            "{method} {path} {:.80}: {} {}",
            body,
            r.status,
            r.text
        );
        r.error();
    }
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let gets = [
        "/tables/TodoItem?$top=101".to_owned(),
        "/tables/TodoItem?$top=99999999999999999999999".to_owned(),
        "/tables/TodoItem?$skip=99999999999999999999".to_owned(),
        format!("/tables/TodoItem?$filter={}", enc("@#$ garbage")),
        format!("/tables/TodoItem?$filter={}", enc("((n eq 1)")),
        format!("/tables/TodoItem?$filter={}", enc("n eq 1))")),
        format!("/tables/TodoItem?$filter={}", enc("length(text) eq 4")),
        format!("/tables/TodoItem?$filter={}", enc("n eq 1.2.3")),
        format!(
            "/tables/TodoItem?$filter={}",
            enc("due eq datetimeoffset'not a date'")
        ),
        format!("/tables/TodoItem?$filter={}", enc("text eq 'unterminated")),
        format!(
            "/tables/TodoItem?$filter={}",
            enc("text eq 'a'; DROP TABLE __tablesync_tables; --")
        ),
        format!("/tables/TodoItem?$filter={}", enc("1 eq 1")),
        format!("/tables/TodoItem?$filter={}", enc("n eq n")),
        format!("/tables/TodoItem?$orderby={}", enc("n; drop table x")),
        format!("/tables/TodoItem?$select={}", enc("text,(select 1)")),
        format!("/tables/TodoItem?$filter={}", enc(&"(".repeat(5000))),
        "/tables/Todo%3BDROP%20TABLE%20x".to_owned(),
        "/tables/Todo'Item/a1".to_owned(),
        "/tables/__tablesync_columns".to_owned(),
        format!("/tables/{}", "t".repeat(129)),
        format!("/tables/TodoItem/{}", "x".repeat(256)),
        "/tables/TodoItem/a%00b".to_owned(),
        "/tables/TodoItem/%FF%FE".to_owned(),
    ];
    for path in &gets {
        let r = env.get(path).await;
        assert!(
            r.status.is_client_error(),
            "GET {path:.120}: {} {}",
            r.status,
            r.text
        );
        r.error();
    }
    // SQL metacharacters in ids are just ids.
    for id in ["a1' OR '1'='1", "a1\"; DROP TABLE t; --", "%", "_", "a1\\"] {
        let path = format!("/tables/TodoItem/{}", enc(id).replace('+', "%20"));
        let r = env.get(&path).await;
        assert_eq!(r.status, 404, "{id}: {}", r.text);
        assert_eq!(env.delete(&path, None).await.status, 404);
        assert_eq!(
            env.patch(&path, json!({"text": "x"}), None).await.status,
            404
        );
    }
    // Missing or wrong API versions on writes.
    let r = env
        .http
        .post(format!("{}/tables/TodoItem", env.base))
        .header("ZUMO-API-VERSION", "2.1.0")
        .body(json!({"id": "v1"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(env.snapshot("TodoItem").await, before, "no row changed");
    // Still serving, and writes still work.
    let r = env
        .post("/tables/TodoItem", json!({"id": "after", "text": "ok"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_json_4xx_and_changes_nothing_sqlite() {
    corpus(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_json_4xx_and_changes_nothing_postgres() {
    corpus(Db::Postgres).await;
}

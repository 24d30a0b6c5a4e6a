//! Streamed pull (the `tablesync` extension): a keyset range in one answer of
//! newline-delimited JSON, on SQLite and PostgreSQL. The rows are exactly those the
//! same pull asked page by page gives, an answer stops at its bound saying more follow,
//! a user sees only their own rows, and options a stream cannot honour are refused.

use reqwest::Method;
use serde_json::{Value as Json, json};
use sync_server::Auth;

use crate::common::{Db, Env, SECRET, bearer};

/// A stream's lines: its rows, and its control line (`None` when it had none).
fn lines(text: &str) -> (Vec<Json>, Option<Json>) {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "every line ends: {text:?}"
    );
    let mut rows = Vec::new();
    let mut control = None;
    for (n, line) in text.lines().enumerate() {
        let v: Json = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(control.is_none(), "nothing after the control line: {line}");
        if v.get("@count").is_some() {
            assert_eq!(n, 0, "the count comes first: {text}");
            continue;
        }
        if v.get("@end").is_some() || v.get("@error").is_some() {
            control = Some(v);
        } else {
            rows.push(v);
        }
    }
    (rows, control)
}

fn query(after: Option<(&str, &str)>, extra: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some((t, id)) = after {
        let w = sync_core::store::Watermark {
            updated_at: t.to_owned(),
            id: id.to_owned(),
        };
        q.append_pair("$filter", &sync_http::wire::odata::keyset(&w));
    }
    q.append_pair("__includeDeleted", "true");
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    q.finish()
}

fn mark(row: &Json) -> (String, String) {
    (
        row["updatedAt"].as_str().unwrap().to_owned(),
        row["id"].as_str().unwrap().to_owned(),
    )
}

async fn stream(env: &Env, table: &str, q: &str) -> (Vec<Json>, Option<Json>) {
    let r = env
        .call(
            Method::GET,
            &format!("/tablesync/v1/stream/{table}?{q}"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    lines(&r.text)
}

async fn same_rows_as_pages(db: Db) {
    let Some(env) = Env::start(db, "stream_rows", |c| {
        c.max_page_size(10).max_stream_rows(25)
    })
    .await
    else {
        return;
    };
    for i in 0..60 {
        let r = env
            .post("/tables/S", json!({"id": format!("r{i:02}"), "n": i}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    // Some rows change and one is deleted: they move to the end of the order.
    for i in [3, 17, 41] {
        let r = env
            .patch(&format!("/tables/S/r{i:02}"), json!({"n": -i}), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(env.delete("/tables/S/r05", None).await.status, 200);
    let d = env.get("/tablesync/v1").await;
    assert_eq!(d.json["stream"]["max_rows"], 25, "{}", d.text);

    let (paged, _) = env.pull("S", None, 7).await;
    assert_eq!(paged.len(), 60);
    // Answers of at most 25 rows, each read as pages of 10, each after the last.
    let mut streamed = Vec::new();
    let mut after: Option<(String, String)> = None;
    let mut answers = Vec::new();
    loop {
        let q = query(after.as_ref().map(|(t, i)| (t.as_str(), i.as_str())), &[]);
        let (rows, control) = stream(&env, "S", &q).await;
        let more = control.expect("an end line")["@end"]["more"]
            .as_bool()
            .expect("an end line says more or not");
        answers.push((rows.len(), more));
        if let Some(last) = rows.last() {
            after = Some(mark(last));
        }
        streamed.extend(rows);
        if !more {
            break;
        }
    }
    assert_eq!(answers, [(25, true), (25, true), (10, false)]);
    assert_eq!(
        streamed, paged,
        "the same rows in the same order as pages give"
    );
    assert!(streamed.iter().any(|r| r["deleted"] == true));
    // A client's `$top` bounds its answer further; the order may be named.
    let (rows, control) = stream(
        &env,
        "S",
        &query(None, &[("$top", "12"), ("$orderby", "updatedAt,id")]),
    )
    .await;
    assert_eq!(rows.len(), 12);
    assert_eq!(control.unwrap()["@end"]["more"], true);
    // The app's own condition, and-ed with the keyset.
    let (rows, _) = stream(&env, "S", &query(None, &[("$filter", "n lt 0")])).await;
    assert_eq!(rows.len(), 3);
    // Asked, the stream counts first: the rows from its start, past its own bound.
    assert_eq!(d.json["stream"]["count"], true, "{}", d.text);
    let counted = |q: String| {
        let env = &env;
        async move {
            let r = env
                .get(&format!(
                    "/tablesync/v1/stream/S?{q}&%24inlinecount=allpages"
                ))
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            let first: Json = serde_json::from_str(r.text.lines().next().unwrap()).unwrap();
            (first["@count"]["rows"].as_u64(), lines(&r.text).0.len())
        }
    };
    assert_eq!(counted(query(None, &[])).await, (Some(60), 25));
    let third = mark(&paged[2]);
    assert_eq!(
        counted(query(Some((&third.0, &third.1)), &[])).await,
        (Some(57), 25),
        "after the third row"
    );
    assert_eq!(
        counted(query(None, &[("$filter", "n lt 0")])).await,
        (Some(3), 3)
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_gives_the_rows_pages_give_in_answers_of_bounded_size_sqlite() {
    same_rows_as_pages(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_gives_the_rows_pages_give_in_answers_of_bounded_size_postgres() {
    same_rows_as_pages(Db::Postgres).await;
}

async fn refusals(db: Db) {
    let Some(env) = Env::start(db, "stream_refusals", |c| c.max_stream_rows(100)).await else {
        return;
    };
    assert_eq!(env.post("/tables/S", json!({"id": "a"})).await.status, 201);
    for (q, says) in [
        ("$skip=1", "$skip"),
        ("$select=id", "$select"),
        ("$orderby=id%20desc", "$orderby"),
        ("$top=101", "$top"),
        ("$filter=n%20eq", "$filter"),
    ] {
        let r = env.get(&format!("/tablesync/v1/stream/S?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert!(r.error().contains(says), "{q}: {}", r.text);
    }
    let r = env.get("/tablesync/v1/stream/no-such!").await;
    assert_eq!(r.status, 404, "{}", r.text);
    // The API version is required as on every table route.
    let r = env
        .http
        .get(format!("{}/tablesync/v1/stream/S", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // An empty table streams its end line only.
    let (rows, control) = stream(&env, "Empty", "").await;
    assert!(rows.is_empty());
    assert_eq!(control.unwrap(), json!({"@end": {"more": false}}));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_a_stream_cannot_honour_are_refused_naming_them_sqlite() {
    refusals(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_a_stream_cannot_honour_are_refused_naming_them_postgres() {
    refusals(Db::Postgres).await;
}

async fn per_user(db: Db) {
    let Some(env) = Env::start(db, "stream_users", |c| {
        c.auth(Auth::Jwt {
            secret: SECRET.to_vec(),
            per_user: true,
        })
        .dynamic_schema(true)
        .max_page_size(3)
    })
    .await
    else {
        return;
    };
    let (alice, bob) = (bearer("alice"), bearer("bob"));
    for i in 0..10 {
        let who = if i % 2 == 0 { &alice } else { &bob };
        let body = json!({"id": format!("x{i}"), "who": if i % 2 == 0 { "alice" } else { "bob" }});
        let r = env
            .call(
                Method::POST,
                "/tables/S",
                Some(&body.to_string()),
                &[("X-ZUMO-AUTH", who)],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    for (token, name) in [(&alice, "alice"), (&bob, "bob")] {
        let r = env
            .call(
                Method::GET,
                &format!("/tablesync/v1/stream/S?{}", query(None, &[])),
                None,
                &[("X-ZUMO-AUTH", token)],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let (rows, _) = lines(&r.text);
        assert_eq!(rows.len(), 5, "{name}: {}", r.text);
        assert!(
            rows.iter().all(|r| r["who"] == name),
            "{name} sees only their rows: {}",
            r.text
        );
    }
    let r = env.get("/tablesync/v1/stream/S").await;
    assert_eq!(r.status, 401, "no token, no stream: {}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_streams_only_their_own_rows_sqlite() {
    per_user(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_streams_only_their_own_rows_postgres() {
    per_user(Db::Postgres).await;
}

/// A client that opens a stream of many rows and reads none of it holds one page on
/// the server, not the table: other requests are answered meanwhile, and when the
/// client goes the rest is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_nobody_reads_does_not_hold_the_server() {
    let env = Env::start(Db::Sqlite, "stream_unread", |c| c.max_page_size(100))
        .await
        .unwrap();
    let rows: Vec<Json> = (0..1000)
        .map(|i| json!({"id": format!("u{i:04}"), "pad": "x".repeat(500)}))
        .collect();
    for chunk in rows.chunks(100) {
        let ops: Vec<Json> = chunk
            .iter()
            .map(|item| json!({"key": format!("k{}", item["id"].as_str().unwrap()), "table": "U", "method": "insert", "item": item}))
            .collect();
        let body = json!({"operations": ops}).to_string();
        let r = env
            .call(Method::POST, "/tablesync/v1/batch", Some(&body), &[])
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let held: Vec<reqwest::Response> = {
        let mut v = Vec::new();
        for _ in 0..8 {
            let r = env
                .http
                .get(format!(
                    "{}/tablesync/v1/stream/U?__includeDeleted=true",
                    env.base
                ))
                .header("ZUMO-API-VERSION", "2.0.0")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            v.push(r);
        }
        v
    };
    // Eight answers of 500 KiB each open and unread: the server answers at once.
    let r = env.get("/tables/U/u0999").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = env.post("/tables/U", json!({"id": "new"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    drop(held);
    // And reading one through gives every row.
    let (rows, control) = stream(&env, "U", &query(None, &[])).await;
    assert_eq!(rows.len(), 1001);
    assert_eq!(control.unwrap()["@end"]["more"], false);
    env.stop().await;
}

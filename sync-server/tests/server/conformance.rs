//! Protocol conformance over loopback HTTP: every row of PROTOCOL.md's status table,
//! ETag/If-Match, reserved fields, the API version, query options and keyset paging.
//! Each case runs on SQLite and, when TABLESYNC_TEST_POSTGRES is set, on PostgreSQL.

use reqwest::Method;
use serde_json::{Value as Json, json};

use crate::common::{Env, counter};

fn is_wire_instant(s: &str) -> bool {
    // 2026-11-21T12:50:52.847Z
    s.len() == 24
        && s.ends_with('Z')
        && s.as_bytes()[10] == b'T'
        && s.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

pub async fn insert_answers_201_with_strong_etag_and_full_row(env: &Env) {
    let r = env
        .post(
            "/tables/TodoItem",
            json!({"id": "a1", "text": "milk", "n": 3, "done": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["id"], "a1");
    assert_eq!(r.json["text"], "milk");
    assert_eq!(r.json["n"], 3);
    assert_eq!(r.json["done"], false);
    assert_eq!(r.json["deleted"], false);
    assert_eq!(r.json["version"], "MQ==", "the reference's first version");
    assert_eq!(r.etag.as_deref(), Some("\"MQ==\""));
    let (c, u) = (
        r.json["createdAt"].as_str().unwrap(),
        r.json["updatedAt"].as_str().unwrap(),
    );
    assert!(is_wire_instant(c) && is_wire_instant(u), "{c} {u}");
    assert_eq!(c, u);
    // A GET answers the same row with the same strong ETag.
    let g = env.get("/tables/todoitem/a1").await;
    assert_eq!(g.status, 200);
    assert_eq!(g.json, r.json);
    assert_eq!(g.etag, r.etag);
}

pub async fn insert_without_id_gets_a_server_uuid(env: &Env) {
    let r = env.post("/tables/TodoItem", json!({"text": "x"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let r = env
        .post("/tables/TodoItem", json!({"id": null, "text": "y"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

pub async fn insert_of_an_existing_id_is_409_with_the_server_row(env: &Env) {
    let first = env
        .post("/tables/TodoItem", json!({"id": "a1", "text": "milk"}))
        .await;
    let r = env
        .post("/tables/TodoItem", json!({"id": "a1", "text": "other"}))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.json, first.json, "ours: the body is the server row");
    assert_eq!(r.etag.as_deref(), Some("\"MQ==\""));
    // Also when the row is soft-deleted.
    let d = env.delete("/tables/TodoItem/a1", None).await;
    assert_eq!(d.status, 200);
    let r = env
        .post("/tables/TodoItem", json!({"id": "a1", "text": "again"}))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.json["deleted"], true);
    assert_eq!(r.json, d.json);
}

pub async fn update_changes_only_the_given_columns_and_bumps_version(env: &Env) {
    let a = env
        .post(
            "/tables/TodoItem",
            json!({"id": "a1", "text": "milk", "n": 1}),
        )
        .await;
    let r = env
        .patch(
            "/tables/TodoItem/a1",
            json!({"text": "bread"}),
            Some(&format!("\"{}\"", a.version())),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["text"], "bread");
    assert_eq!(r.json["n"], 1);
    assert_eq!(counter(&r.version()), 2);
    assert_eq!(r.etag, Some(format!("\"{}\"", r.version())));
    assert_eq!(r.json["createdAt"], a.json["createdAt"]);
    assert!(r.json["updatedAt"].as_str() > a.json["updatedAt"].as_str());
    // No If-Match and no body version: the write wins. Quotes on If-Match are optional.
    let r2 = env
        .patch("/tables/TodoItem/a1", json!({"n": 2}), None)
        .await;
    assert_eq!(r2.status, 200);
    let r3 = env
        .patch("/tables/TodoItem/a1", json!({"n": 3}), Some(&r2.version()))
        .await;
    assert_eq!(r3.status, 200, "{}", r3.text);
    // A body id equal to the URL's is fine; a different one is a 400.
    let ok = env
        .patch("/tables/TodoItem/a1", json!({"id": "a1", "n": 4}), None)
        .await;
    assert_eq!(ok.status, 200);
    let bad = env
        .patch("/tables/TodoItem/a1", json!({"id": "b2", "n": 5}), None)
        .await;
    assert_eq!(bad.status, 400);
    bad.error();
}

pub async fn stale_if_match_is_412_with_the_server_row(env: &Env) {
    let a = env
        .post("/tables/TodoItem", json!({"id": "a1", "text": "milk"}))
        .await;
    let v1 = format!("\"{}\"", a.version());
    let b = env
        .patch("/tables/TodoItem/a1", json!({"text": "b"}), Some(&v1))
        .await;
    assert_eq!(b.status, 200);
    for stale in [v1.as_str(), "*", "\"nonsense\"", "W/\"MQ==\""] {
        let r = env
            .patch("/tables/TodoItem/a1", json!({"text": "c"}), Some(stale))
            .await;
        assert_eq!(r.status, 412, "If-Match {stale}: {}", r.text);
        assert_eq!(r.json, b.json);
        assert_eq!(r.etag, b.etag, "a strong ETag of the server row");
        let d = env.delete("/tables/TodoItem/a1", Some(stale)).await;
        assert_eq!(d.status, 412);
        assert_eq!(d.json, b.json);
    }
    // Nothing changed.
    assert_eq!(env.get("/tables/TodoItem/a1").await.json, b.json);
}

pub async fn stale_body_version_without_if_match_is_409(env: &Env) {
    let a = env
        .post("/tables/TodoItem", json!({"id": "a1", "text": "milk"}))
        .await;
    let b = env
        .patch("/tables/TodoItem/a1", json!({"text": "b"}), None)
        .await;
    let r = env
        .patch(
            "/tables/TodoItem/a1",
            json!({"text": "c", "version": a.version()}),
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.json, b.json);
    // The current version in the body is fine.
    let r = env
        .patch(
            "/tables/TodoItem/a1",
            json!({"text": "c", "version": b.version()}),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

pub async fn unknown_or_deleted_ids_are_404(env: &Env) {
    let r = env.get("/tables/TodoItem/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "The item does not exist");
    env.post("/tables/TodoItem", json!({"id": "a1", "text": "milk"}))
        .await;
    for (status, r) in [
        (
            404,
            env.patch("/tables/TodoItem/nope", json!({"text": "x"}), None)
                .await,
        ),
        (404, env.delete("/tables/TodoItem/nope", None).await),
        (
            404,
            env.call(Method::POST, "/tables/TodoItem/nope", None, &[])
                .await,
        ),
    ] {
        assert_eq!(r.status, status, "{}", r.text);
        assert_eq!(r.error(), "The item does not exist");
    }
    let d = env.delete("/tables/TodoItem/a1", None).await;
    assert_eq!(d.status, 200);
    assert_eq!(env.get("/tables/TodoItem/a1").await.status, 404);
    assert_eq!(
        env.get("/tables/TodoItem/a1?__includeDeleted=true")
            .await
            .status,
        404
    );
    assert_eq!(
        env.patch("/tables/TodoItem/a1", json!({"text": "x"}), None)
            .await
            .status,
        404
    );
    assert_eq!(env.delete("/tables/TodoItem/a1", None).await.status, 404);
    // A table nobody wrote to: empty list, 404 items.
    let l = env.get("/tables/Never").await;
    assert_eq!((l.status.as_u16(), l.rows().len()), (200, 0));
    assert_eq!(env.get("/tables/Never/x").await.status, 404);
    assert_eq!(env.delete("/tables/Never/x", None).await.status, 404);
}

pub async fn delete_is_soft_and_undelete_restores(env: &Env) {
    let a = env
        .post("/tables/TodoItem", json!({"id": "a1", "text": "milk"}))
        .await;
    let d = env
        .delete("/tables/TodoItem/a1", Some(&format!("\"{}\"", a.version())))
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.json["deleted"], true);
    assert_eq!(d.json["text"], "milk");
    assert_eq!(counter(&d.version()), 2);
    assert_eq!(d.etag, Some(format!("\"{}\"", d.version())));
    assert!(d.json["updatedAt"].as_str() > a.json["updatedAt"].as_str());
    // Gone from lists unless asked for.
    assert!(env.get("/tables/TodoItem").await.rows().is_empty());
    let all = env
        .get("/tables/TodoItem?__includeDeleted=true")
        .await
        .rows();
    assert_eq!(all, vec![d.json.clone()]);
    assert!(
        env.get("/tables/TodoItem?__includeDeleted=false")
            .await
            .rows()
            .is_empty()
    );
    // Undelete: 201, live again, new version; stale If-Match is 412.
    let stale = env
        .call(
            Method::POST,
            "/tables/TodoItem/a1",
            None,
            &[("If-Match", "\"MQ==\"")],
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.text);
    let u = env
        .call(Method::POST, "/tables/TodoItem/a1", None, &[])
        .await;
    assert_eq!(u.status, 201, "{}", u.text);
    assert_eq!(u.json["deleted"], false);
    assert_eq!(counter(&u.version()), 3);
    assert_eq!(u.etag, Some(format!("\"{}\"", u.version())));
    assert_eq!(env.get("/tables/TodoItem/a1").await.json, u.json);
}

pub async fn reserved_fields_are_400_and_write_nothing(env: &Env) {
    env.post("/tables/TodoItem", json!({"id": "a1", "text": "milk"}))
        .await;
    let before = env.snapshot("TodoItem").await;
    for field in ["createdAt", "updatedAt", "deleted", "UpdatedAt", "DELETED"] {
        let mut body = json!({"id": "b1", "text": "x"});
        body[field] = json!(if field.eq_ignore_ascii_case("deleted") {
            json!(false)
        } else {
            json!("2026-01-01T00:00:00.000Z")
        });
        let r = env.post("/tables/TodoItem", body.clone()).await;
        assert_eq!(r.status, 400, "{field}: {}", r.text);
        assert!(r.error().contains("reserved"), "{}", r.text);
        body["id"] = json!("a1");
        let r = env.patch("/tables/TodoItem/a1", body, None).await;
        assert_eq!(r.status, 400, "{field}: {}", r.text);
    }
    assert_eq!(env.snapshot("TodoItem").await, before);
}

pub async fn api_version_is_required_and_checked(env: &Env) {
    let before = env.snapshot("TodoItem").await;
    let url = format!("{}/tables/TodoItem", env.base);
    let body = json!({"id": "v1", "text": "x"}).to_string();
    for version in [None, Some("3.0.0"), Some("2.0"), Some("1.0.0"), Some("")] {
        let mut rb = env
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body.clone());
        if let Some(v) = version {
            rb = rb.header("ZUMO-API-VERSION", v);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 400, "{version:?}");
        let j: Json = r.json().await.unwrap();
        assert!(j["error"].as_str().unwrap().contains("API version"), "{j}");
    }
    assert_eq!(env.snapshot("TodoItem").await, before);
    // The query parameter works, and 2.0.x is accepted.
    let r = env
        .http
        .get(format!("{url}?ZUMO-API-VERSION=2.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = env
        .http
        .get(&url)
        .header("zumo-api-version", "2.0.7")
        .header("X-ZUMO-VERSION", "ZUMO/4.0 (lang=Managed; os=Linux)")
        .header(
            "X-ZUMO-INSTALLATION-ID",
            "7c8b5b8e-0000-0000-0000-000000000000",
        )
        .header("X-ZUMO-FEATURES", "OL,TU")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

pub async fn table_names_match_ignoring_case(env: &Env) {
    env.post("/tables/TodoItem", json!({"id": "a1", "Text": "milk"}))
        .await;
    let r = env.get("/tables/TODOITEM/a1").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["Text"], "milk");
    // Column names too: the first spelling is kept.
    let r = env
        .patch("/tables/todoitem/a1", json!({"text": "bread"}), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["Text"], "bread");
}

pub async fn errors_are_json_for_unknown_routes_and_tables(env: &Env) {
    for (method, path, status) in [
        (Method::GET, "/nope", 404),
        (Method::GET, "/tables", 404),
        (Method::GET, "/tables/a/b/c", 404),
        (Method::GET, "/tables/1bad", 404),
        (Method::GET, "/tables/__tablesync_tables", 404),
        (Method::GET, "/tables/sqlite_master", 404),
        (Method::PUT, "/tables/TodoItem/a1", 405),
        (Method::PUT, "/tables/TodoItem", 405),
    ] {
        let r = env.call(method.clone(), path, None, &[]).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.text);
        r.error();
    }
}

pub async fn dynamic_columns_keep_their_kind(env: &Env) {
    let r = env
        .post(
            "/tables/Things",
            json!({"id": "a", "s": "x", "n": 1.5, "b": true, "due": "2026-12-01T10:00:00+02:00",
                   "obj": {"k": [1, 2]}, "arr": [1, "x"], "nothing": null}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json["due"], "2026-12-01T08:00:00.000Z",
        "dates come back as .sssZ UTC"
    );
    assert_eq!(r.json["obj"], json!({"k": [1, 2]}));
    assert_eq!(r.json["arr"], json!([1, "x"]));
    assert_eq!(r.json["n"], 1.5);
    assert!(r.json.get("nothing").is_none());
    let before = env.snapshot("Things").await;
    for (col, v) in [
        ("s", json!(1)),
        ("n", json!("one")),
        ("b", json!("yes")),
        ("due", json!("soon")),
        ("n", json!(9007199254740993i64)),
    ] {
        let r = env.patch("/tables/Things/a", json!({col: v}), None).await;
        assert_eq!(r.status, 400, "{col}={v}: {}", r.text);
        assert!(r.error().contains(&format!("column `{col}`")), "{}", r.text);
    }
    assert_eq!(env.snapshot("Things").await, before);
    // Null clears any kind.
    let r = env
        .patch(
            "/tables/Things/a",
            json!({"s": null, "n": null, "due": null}),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["s"], Json::Null);
}

async fn seed(env: &Env) {
    for (i, (text, n, done)) in [
        ("apple", 1, false),
        ("banana", 2, true),
        ("cherry", 3, false),
        ("it's", 4, true),
        ("50%_off", 5, false),
    ]
    .into_iter()
    .enumerate()
    {
        let r = env
            .post(
                "/tables/Q",
                json!({"id": format!("q{i}"), "text": text, "n": n, "done": done,
                       "due": format!("2026-01-0{}T00:00:00.000Z", i + 1)}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    env.post("/tables/Q", json!({"id": "q5", "n": 6})).await; // text and due are null
}

async fn ids(env: &Env, query: &str) -> Vec<String> {
    let r = env.get(&format!("/tables/Q?{query}")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    r.rows()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

pub async fn filters_select_the_right_rows(env: &Env) {
    seed(env).await;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let cases: &[(&str, &[&str])] = &[
        ("done eq true", &["q1", "q3"]),
        ("done eq false", &["q0", "q2", "q4"]),
        ("n gt 2", &["q2", "q3", "q4", "q5"]),
        ("n ge 2 and n le 3", &["q1", "q2"]),
        ("n lt 2 or n gt 5", &["q0", "q5"]),
        ("n eq 1 or n eq 2 and done eq false", &["q0"]),
        ("(n eq 1 or n eq 2) and done eq true", &["q1"]),
        ("not (n gt 1)", &["q0"]),
        ("text eq 'it''s'", &["q3"]),
        ("text ne 'apple'", &["q1", "q2", "q3", "q4"]),
        ("text eq null", &["q5"]),
        ("text ne null", &["q0", "q1", "q2", "q3", "q4"]),
        ("startswith(text,'ch')", &["q2"]),
        ("endswith(text,'ana')", &["q1"]),
        ("substringof('an',text)", &["q1"]),
        ("substringof('%_',text)", &["q4"]),
        ("contains(text,'%')", &["q4"]),
        ("startswith(text,'A')", &[]),
        (
            "substringof('x',text) eq false",
            &["q0", "q1", "q2", "q3", "q4"],
        ),
        (
            "due gt datetimeoffset'2026-01-03T00:00:00.000Z'",
            &["q3", "q4"],
        ),
        (
            "due ge datetimeoffset'2026-01-03T02:00:00+02:00'",
            &["q2", "q3", "q4"],
        ),
        ("due lt datetime'2026-01-02T00:00:00'", &["q0"]),
        ("due eq datetimeoffset'2026-01-03T00:00:00.0001Z'", &[]),
        ("due gt datetimeoffset'2026-01-04T23:59:59.9999Z'", &["q4"]),
        ("true", &["q0", "q1", "q2", "q3", "q4", "q5"]),
        ("false", &[]),
        ("later eq 'x'", &[]),
        ("later eq null", &["q0", "q1", "q2", "q3", "q4", "q5"]),
        ("id gt 'q3'", &["q4", "q5"]),
        ("text eq 'x'' or 1=1 --'", &[]),
    ];
    for (filter, want) in cases {
        let got = ids(env, &format!("$filter={}&$orderby=id", enc(filter))).await;
        assert_eq!(got, *want, "$filter={filter}");
    }
    // Dates compare as instants, and give the reference's answers for .sssZ text.
    let r = env.get("/tables/Q/q0").await;
    let t = r.json["updatedAt"].as_str().unwrap().to_owned();
    let got = ids(
        env,
        &format!(
            "$filter={}",
            enc(&format!("updatedAt eq datetimeoffset'{t}'"))
        ),
    )
    .await;
    assert_eq!(got, ["q0"]);
}

pub async fn orderby_top_skip_select_count(env: &Env) {
    seed(env).await;
    assert_eq!(ids(env, "$orderby=n%20desc&$top=2").await, ["q5", "q4"]);
    assert_eq!(ids(env, "$orderby=n&$top=2&$skip=1").await, ["q1", "q2"]);
    assert_eq!(
        ids(env, "%24orderby=text%20asc&%24top=3").await,
        ["q5", "q4", "q0"],
        "NULL first, byte order"
    );
    assert_eq!(
        ids(env, "$orderby=done,n%20desc").await,
        ["q5", "q4", "q2", "q0", "q3", "q1"]
    );
    assert_eq!(ids(env, "$orderby=id&$top=0").await, Vec::<String>::new());
    let r = env
        .get("/tables/Q?$orderby=id&$top=2&$inlinecount=allpages&$filter=n%20gt%201")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["count"], 5);
    assert_eq!(r.json["results"].as_array().unwrap().len(), 2);
    let r = env.get("/tables/Q?$orderby=id&$top=1&$select=text,n").await;
    assert_eq!(
        r.rows(),
        vec![json!({"text": "apple", "n": 1, "deleted": false})]
    );
    let r = env.get("/tables/Q/q0?$select=id,version").await;
    assert_eq!(r.json.as_object().unwrap().len(), 3, "{}", r.text);
    // The default page size is 50; above the maximum is a 400.
    for i in 0..55 {
        env.post("/tables/Many", json!({"id": format!("m{i:02}")}))
            .await;
    }
    assert_eq!(env.get("/tables/Many").await.rows().len(), 50);
    assert_eq!(env.get("/tables/Many?$top=1000").await.rows().len(), 55);
    let r = env.get("/tables/Many?$top=1001").await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("$top"));
}

pub async fn write_timestamps_never_go_back_nor_ahead_of_the_clock(env: &Env) {
    let mut last = String::new();
    for i in 0..40 {
        let r = env
            .post("/tables/Fast", json!({"id": format!("f{i}")}))
            .await;
        let t = r.json["updatedAt"].as_str().unwrap().to_owned();
        // Writes of one millisecond share its stamp; a later one is never earlier.
        assert!(t >= last, "{t} after {last}");
        let ms = sync_core::model::instant::parse_millis(&t).unwrap();
        assert!(
            ms <= chrono::Utc::now().timestamp_millis(),
            "{t} is in the future"
        );
        last = t;
    }
    let r = env.patch("/tables/Fast/f0", json!({"x": 1}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["updatedAt"].as_str().unwrap() >= last.as_str());
}

pub async fn keyset_paging_sees_every_row_once(env: &Env) {
    for i in 0..45 {
        env.post(
            "/tables/Page",
            json!({"id": format!("p{:02}", (i * 7) % 45)}),
        )
        .await;
    }
    let (rows, w) = env.pull("Page", None, 7).await;
    let mut ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 45);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 45, "no row twice");
    // Nothing new: the next pull is empty.
    let (again, w2) = env.pull("Page", w.clone(), 7).await;
    assert!(again.is_empty());
    assert_eq!(w2, w);
}

pub async fn a_write_after_a_pull_is_seen_by_the_next_pull(env: &Env) {
    let mut watermark = None;
    for i in 0..30 {
        // Alternate inserts with ids that sort before and after earlier ones, updates
        // and deletes: each must show up in the very next incremental pull.
        let id = format!("{}{i:02}", if i % 2 == 0 { "z" } else { "a" });
        let w = match i % 3 {
            0 => env.post("/tables/Inc", json!({"id": id, "n": i})).await,
            1 => {
                env.post("/tables/Inc", json!({"id": id, "n": i})).await;
                env.patch(&format!("/tables/Inc/{id}"), json!({"n": -i}), None)
                    .await
            }
            _ => {
                env.post("/tables/Inc", json!({"id": id})).await;
                env.delete(&format!("/tables/Inc/{id}"), None).await
            }
        };
        assert!(w.status.is_success(), "{}", w.text);
        let (rows, next) = env.pull("Inc", watermark, 4).await;
        assert!(
            rows.iter()
                .any(|r| r["id"] == w.json["id"] && r["version"] == w.json["version"]),
            "write {i} ({id}) missing from the next pull: {rows:?}"
        );
        watermark = next;
    }
}

pub async fn invalid_query_options_are_400_with_a_position(env: &Env) {
    seed(env).await;
    env.post("/tables/Q", json!({"id": "q9", "obj": {"a": 1}}))
        .await;
    for (q, needle) in [
        ("$filter=n%20eq", "position"),
        ("$filter=foo(n)", "unknown function `foo` at position 1"),
        ("$filter=n%20eq%20'x'", "cannot be compared"),
        ("$filter=obj%20eq%201", "holds JSON"),
        ("$orderby=n%20sideways", "$orderby"),
        ("$top=x", "$top"),
        ("$skip=-1", "$skip"),
        ("$select=a%20b", "$select"),
    ] {
        let r = env.get(&format!("/tables/Q?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert!(r.error().contains(needle), "{q}: {}", r.text);
    }
}

macro_rules! conformance {
    ($db:expr, $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let Some(env) = Env::start($db, stringify!($case), |c| c).await else { return };
            super::$case(&env).await;
            env.stop().await;
        }
    )*};
}

macro_rules! suite {
    ($db:expr) => {
        use crate::common::{Db, Env};
        conformance!(
            $db,
            insert_answers_201_with_strong_etag_and_full_row,
            insert_without_id_gets_a_server_uuid,
            insert_of_an_existing_id_is_409_with_the_server_row,
            update_changes_only_the_given_columns_and_bumps_version,
            stale_if_match_is_412_with_the_server_row,
            stale_body_version_without_if_match_is_409,
            unknown_or_deleted_ids_are_404,
            delete_is_soft_and_undelete_restores,
            reserved_fields_are_400_and_write_nothing,
            api_version_is_required_and_checked,
            table_names_match_ignoring_case,
            errors_are_json_for_unknown_routes_and_tables,
            dynamic_columns_keep_their_kind,
            filters_select_the_right_rows,
            orderby_top_skip_select_count,
            write_timestamps_never_go_back_nor_ahead_of_the_clock,
            keyset_paging_sees_every_row_once,
            a_write_after_a_pull_is_seen_by_the_next_pull,
            invalid_query_options_are_400_with_a_position,
        );
    };
}

mod sqlite {

    suite!(Db::Sqlite);
}

mod postgres {

    suite!(Db::Postgres);
}

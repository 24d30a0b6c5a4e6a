//! Requests an attacker would send: filters long and deep, values the database cannot
//! hold, tokens not yet valid, refused writes that would shape the schema, weak
//! credentials. Each is a clear 4xx (or a refusal to start), never a 5xx or a crash,
//! and changes nothing; on SQLite and on PostgreSQL.

use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header};
use reqwest::Method;
use serde_json::json;
use sync_server::Auth;

use crate::common::{Db, Env};

/// `$filter` text with `+` for spaces, so that the URL stays short.
fn filter_url(table: &str, filter: &str) -> String {
    let enc: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    format!("/tables/{table}?$filter={enc}&$orderby=id")
}

fn ns(rows: &[serde_json::Value]) -> Vec<i64> {
    rows.iter().map(|r| r["n"].as_i64().unwrap()).collect()
}

async fn long_and_deep_filters(db: Db) {
    let Some(env) = Env::start(db, "long_filters", |c| c).await else {
        return;
    };
    for n in 1..=3 {
        let r = env
            .post("/tables/T", json!({"id": format!("r{n}"), "n": n}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    // At the default limit of 1000 terms, a chain of `or` and one of `and` are answered
    // correctly (SQLite used to refuse more than 1000 levels of a left-deep tree).
    let mut terms = vec!["n eq 0"; 999];
    terms.push("n eq 2");
    let r = env.get(&filter_url("T", &terms.join(" or "))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ns(&r.rows()), [2]);
    let mut terms = vec!["true"; 999];
    terms.push("n gt 1");
    let r = env.get(&filter_url("T", &terms.join(" and "))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ns(&r.rows()), [2, 3]);
    // Nested chains: 10 groups of 100.
    let group = format!("({})", vec!["n eq 3"; 100].join(" or "));
    let r = env
        .get(&filter_url("T", &[group.as_str(); 10].join(" and ")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ns(&r.rows()), [3]);
    // One past the limit, and the filters that used to kill the process.
    let over = vec!["n eq 0"; 1001].join(" or ");
    let r = env.get(&filter_url("T", &over)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.error().contains("more than 1000 terms"), "{}", r.text);
    assert!(r.error().contains("max-filter-terms"), "{}", r.text);
    let deep = format!("{}n eq 1{}", "(".repeat(100), ")".repeat(100));
    let r = env.get(&filter_url("T", &deep)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.error().contains("max-filter-depth"), "{}", r.text);
    let nots = format!("{}n eq 1", "not ".repeat(100));
    assert_eq!(env.get(&filter_url("T", &nots)).await.status, 400);
    // Still serving.
    let r = env.get("/tables/T/r1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_and_deep_filters_are_answered_or_refused_by_name_sqlite() {
    long_and_deep_filters(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_and_deep_filters_are_answered_or_refused_by_name_postgres() {
    long_and_deep_filters(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_and_url_limits_are_configurable() {
    let env = Env::start(Db::Sqlite, "filter_limits", |c| {
        c.max_filter_terms(10).max_filter_depth(2).max_url(2048)
    })
    .await
    .unwrap();
    let r = env
        .get(&filter_url("T", &["n eq 1"; 10].join(" or ")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = env
        .get(&filter_url("T", &["n eq 1"; 11].join(" or ")))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.error().contains("more than 10 terms"), "{}", r.text);
    assert_eq!(env.get(&filter_url("T", "((n eq 1))")).await.status, 200);
    let r = env.get(&filter_url("T", "(((n eq 1)))")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.error().contains("nested deeper than 2 levels"),
        "{}",
        r.text
    );
    let r = env
        .get(&format!("/tables/T?$select={}", "a".repeat(2100)))
        .await;
    assert_eq!(r.status, 414, "{}", r.text);
    assert!(r.error().contains("longer than 2048 bytes"), "{}", r.text);
    assert!(r.error().contains("max-url"), "{}", r.text);
    env.stop().await;
}

async fn unstorable_values(db: Db) {
    let Some(env) = Env::start(db, "unstorable_values", |c| c).await else {
        return;
    };
    let r = env
        .post(
            "/tables/T",
            json!({"id": "a1", "text": "ok", "n": 1, "tags": [1]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let before = env.snapshot("T").await;
    let refused: Vec<(Method, &str, String, &str)> = vec![
        (
            Method::POST,
            "/tables/T",
            r#"{"id": "b1", "n": 18446744073709551617}"#.into(),
            "column `n`: the integer 18446744073709551617 cannot be stored exactly",
        ),
        (
            Method::POST,
            "/tables/T",
            r#"{"id": "b1", "n": 100000000000000000001}"#.into(),
            "column `n`: the integer 100000000000000000001",
        ),
        (
            Method::PATCH,
            "/tables/T/a1",
            r#"{"n": -9223372036854775809}"#.into(),
            "column `n`: the integer -9223372036854775809",
        ),
        (
            Method::PATCH,
            "/tables/T/a1",
            r#"{"tags": [1, {"x": 18446744073709551617}]}"#.into(),
            "column `tags`: the integer 18446744073709551617",
        ),
        (
            Method::POST,
            "/tables/T",
            json!({"id": "b2", "n": 9007199254740993u64}).to_string(),
            "column `n`: 9007199254740993 cannot be stored exactly",
        ),
        (
            Method::POST,
            "/tables/T",
            json!({"id": "b1", "text": "a\u{0}b"}).to_string(),
            "column `text`: text cannot contain the NUL character",
        ),
        (
            Method::PATCH,
            "/tables/T/a1",
            json!({"text": "\u{0}"}).to_string(),
            "column `text`: text cannot contain the NUL character",
        ),
        (
            Method::POST,
            "/tables/T",
            json!({"id": "b1", "fresh": "\u{0}"}).to_string(),
            "column `fresh`: text cannot contain the NUL character",
        ),
    ];
    for (method, path, body, want) in &refused {
        let r = env.call(method.clone(), path, Some(body), &[]).await;
        assert_eq!(r.status, 400, "{method} {path} {body}: {}", r.text);
        assert!(r.error().contains(want), "{body}: {}", r.text);
    }
    for filter in [
        "n eq 18446744073709551617",
        "n lt -9223372036854775809",
        "text eq 'a\u{0}b'",
        "startswith(text, '\u{0}')",
    ] {
        let r = env.get(&filter_url("T", filter)).await;
        assert_eq!(r.status, 400, "{filter}: {}", r.text);
        r.error();
    }
    assert_eq!(env.snapshot("T").await, before, "no row changed");
    // NUL refused in a new column left no text column behind: it takes a number.
    let r = env.post("/tables/T", json!({"id": "c1", "fresh": 5})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_that_cannot_be_stored_exactly_are_400_naming_the_column_sqlite() {
    unstorable_values(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_that_cannot_be_stored_exactly_are_400_naming_the_column_postgres() {
    unstorable_values(Db::Postgres).await;
}

async fn refused_writes(db: Db) {
    let Some(env) = Env::start(db, "refused_writes", |c| c).await else {
        return;
    };
    let r = env
        .post("/tables/T", json!({"id": "a1", "text": "x"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v1 = r.version();
    let r = env.patch("/tables/T/a1", json!({"text": "y"}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let before = env.snapshot("T").await;
    // Each refused write names a column no row has, with a value of one kind.
    let r = env.patch("/tables/T/nope", json!({"colA": 1}), None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let stale = format!("\"{v1}\"");
    let r = env
        .patch("/tables/T/a1", json!({"colB": 1}), Some(&stale))
        .await;
    assert_eq!(r.status, 412, "{}", r.text);
    let r = env
        .patch("/tables/T/a1", json!({"colC": 1, "version": v1}), None)
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = env.post("/tables/T", json!({"id": "a1", "colD": 1})).await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = env
        .post("/tables/T", json!({"id": "b1", "colE": 1, "text": 5}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = env
        .post("/tables/Fresh", json!({"id": "f1", "a": 1, "b": "\u{0}"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(env.snapshot("T").await, before, "no row changed");
    // None of them fixed a kind: the same columns now take text.
    let cols = ["colA", "colB", "colC", "colD", "colE"];
    let mut body = serde_json::Map::new();
    body.insert("id".into(), json!("c1"));
    for c in cols {
        body.insert(c.into(), json!("text"));
    }
    let r = env.post("/tables/T", serde_json::Value::Object(body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    for c in cols {
        assert_eq!(r.json[c], "text", "{}", r.text);
    }
    let r = env
        .post("/tables/Fresh", json!({"id": "f1", "a": "x"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_changes_nothing_not_even_the_schema_sqlite() {
    refused_writes(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_changes_nothing_not_even_the_schema_postgres() {
    refused_writes(Db::Postgres).await;
}

const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes";

fn token(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_not_yet_valid_is_refused() {
    let env = Env::start(Db::Sqlite, "nbf", |c| {
        c.auth(Auth::Jwt {
            secret: SECRET.to_vec(),
            per_user: true,
        })
        .dynamic_schema(true)
    })
    .await
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let exp = now + 2 * 365 * 86_400;
    let body = json!({"id": "a1", "text": "x"}).to_string();
    let next_year = token(json!({"sub": "mallory", "exp": exp, "nbf": now + 365 * 86_400}));
    let r = env
        .call(
            Method::POST,
            "/tables/T",
            Some(&body),
            &[("X-ZUMO-AUTH", &next_year)],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.error().contains("invalid token"), "{}", r.text);
    let nul_sub = token(json!({"sub": "ali\u{0}ce", "exp": exp}));
    let r = env
        .call(
            Method::POST,
            "/tables/T",
            Some(&body),
            &[("X-ZUMO-AUTH", &nul_sub)],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(
        r.error().contains("`sub` contains control characters"),
        "{}",
        r.text
    );
    let valid = token(json!({"sub": "alice", "exp": exp, "nbf": now - 5}));
    let r = env
        .call(
            Method::POST,
            "/tables/T",
            Some(&body),
            &[("X-ZUMO-AUTH", &valid)],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rows = env.snapshot_as("T", &valid).await;
    assert_eq!(rows.len(), 1, "only alice's write went through");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_credential_lets_nobody_in() {
    for auth in [
        Auth::ApiKey(String::new()),
        Auth::Jwt {
            secret: Vec::new(),
            per_user: true,
        },
    ] {
        let env = Env::start(Db::Sqlite, "empty_credential", |c| c.auth(auth))
            .await
            .unwrap();
        let forged = jsonwebtoken::encode(
            &Header::default(),
            &json!({"sub": "anyone", "exp": chrono::Utc::now().timestamp() + 600}),
            &EncodingKey::from_secret(b""),
        )
        .unwrap();
        for headers in [
            vec![("X-API-KEY", "")],
            vec![("Authorization", "Bearer ")],
            vec![("X-ZUMO-AUTH", forged.as_str())],
            vec![("Authorization", &format!("Bearer {forged}"))],
        ] {
            let r = env
                .call(Method::POST, "/tables/T", Some("{}"), &headers)
                .await;
            assert_eq!(r.status, 401, "{headers:?}: {}", r.text);
        }
        env.stop().await;
    }
}

/// Runs `tablesync-server` with these arguments and environment; it must exit by
/// itself (it is killed after 20 s) and fail, printing `want`.
fn refuses_to_start(args: &[&str], env: &[(&str, &str)], want: &str) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tablesync-server"));
    cmd.args(["--listen", "127.0.0.1:0", "--database", "sqlite::memory:"])
        .args(args)
        .env_remove("TABLESYNC_API_KEY")
        .env_remove("TABLESYNC_JWT_SECRET")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start tablesync-server");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tablesync-server {args:?} {env:?} started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!status.success(), "{args:?} {env:?}: {text}");
    assert!(text.contains(want), "{args:?} {env:?}: {text}");
}

#[test]
fn the_server_refuses_to_start_with_an_empty_or_short_secret() {
    refuses_to_start(
        &["--api-key", ""],
        &[],
        "--api-key (TABLESYNC_API_KEY) is empty",
    );
    refuses_to_start(&[], &[("TABLESYNC_API_KEY", "")], "--api-key");
    refuses_to_start(&["--api-key", "short"], &[], "at least 16 characters");
    refuses_to_start(
        &["--jwt-secret", ""],
        &[],
        "--jwt-secret (TABLESYNC_JWT_SECRET) is empty",
    );
    refuses_to_start(&[], &[("TABLESYNC_JWT_SECRET", "")], "--jwt-secret");
    refuses_to_start(
        &["--jwt-secret", "s3cret", "--per-user"],
        &[],
        "is 6 bytes: it must be at least 32 bytes",
    );
}

fn as_user(sub: &str) -> String {
    token(json!({"sub": sub, "exp": chrono::Utc::now().timestamp() + 600}))
}

async fn tenants(db: Db) {
    use sync_server::schema::{Schema, TableDecl};
    use sync_server::store::Kind;
    let schema = Schema::new([TableDecl::new("Note")
        .column("text", Kind::Text)
        .column("n", Kind::Number)
        .column("day", Kind::Text)]);
    let Some(env) = Env::start(db, "tenants", |c| {
        c.auth(Auth::Jwt {
            secret: SECRET.to_vec(),
            per_user: true,
        })
        .schema(schema)
    })
    .await
    else {
        return;
    };
    let (mallory, alice) = (as_user("mallory"), as_user("alice"));
    let send = |method: Method, path: &str, body: serde_json::Value, who: &str| {
        let (path, body, who) = (path.to_owned(), body.to_string(), who.to_owned());
        let env = &env;
        async move {
            env.call(method, &path, Some(&body), &[("X-ZUMO-AUTH", &who)])
                .await
        }
    };
    // The first writer does not fix a kind: the schema does.
    let r = send(
        Method::POST,
        "/tables/Note",
        json!({"id": "m1", "text": 5}),
        &mallory,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = send(
        Method::POST,
        "/tables/Note",
        json!({"id": "m1", "day": "2026-01-01T00:00:00.000Z"}),
        &mallory,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = send(
        Method::POST,
        "/tables/Note",
        json!({"id": "a1", "text": "mine", "n": 2, "day": "Monday"}),
        &alice,
    )
    .await;
    assert_eq!(
        r.status, 201,
        "a declared text column takes any text: {}",
        r.text
    );
    // Junk columns and tables are refused; the error names only what was sent.
    let r = send(
        Method::POST,
        "/tables/Note",
        json!({"id": "m2", "junk1": 1}),
        &mallory,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.error().contains("has no column `junk1`"), "{}", r.text);
    let r = send(
        Method::PATCH,
        "/tables/Note/m1",
        json!({"junk2": true}),
        &mallory,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = send(Method::POST, "/tables/Junk", json!({"id": "j"}), &mallory).await;
    assert_eq!(r.status, 404, "{}", r.text);
    // Errors about a column speak of the declared schema only.
    let r = env
        .call(
            Method::GET,
            &filter_url("Note", "junk1 eq 1"),
            None,
            &[("X-ZUMO-AUTH", &alice)],
        )
        .await;
    assert_eq!(
        r.status, 200,
        "an undeclared column matches nothing: {}",
        r.text
    );
    assert!(r.rows().is_empty());
    let r = send(
        Method::POST,
        "/tables/Note",
        json!({"id": "a2", "n": 3}),
        &alice,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(env.snapshot_as("Note", &alice).await.len(), 2);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_per_user_mode_no_tenant_shapes_the_schema_sqlite() {
    tenants(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_per_user_mode_no_tenant_shapes_the_schema_postgres() {
    tenants(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_mode_without_a_schema_adds_no_columns_unless_told() {
    let env = Env::start(Db::Sqlite, "per_user_fixed", |c| {
        c.auth(Auth::Jwt {
            secret: SECRET.to_vec(),
            per_user: true,
        })
    })
    .await
    .unwrap();
    let who = as_user("mallory");
    let body = json!({"id": "m1", "c1": 1}).to_string();
    let r = env
        .call(
            Method::POST,
            "/tables/T",
            Some(&body),
            &[("X-ZUMO-AUTH", &who)],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.error().contains("--dynamic-schema"), "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_the_database_contradicts_fails_naming_the_column() {
    use sync_server::schema::{Schema, TableDecl};
    use sync_server::store::{Backend, Kind, SqliteBackend};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let db = SqliteBackend::open(&path).unwrap();
    let op = sync_server::store::WriteOp::Insert {
        data: vec![("n".into(), json!(1))],
    };
    db.write("T", "", "a", op).await.unwrap();
    drop(db);
    let config = sync_server::Config::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
        .schema(Schema::new([TableDecl::new("t").column("N", Kind::Text)]));
    let e = config.apply_schema().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "database error: table `t`, column `N`: the schema declares it text but the database holds it as number"
    );
    let ok = sync_server::Config::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
        .schema(Schema::new([TableDecl::new("T")
            .column("n", Kind::Number)
            .column("extra", Kind::Bool)]));
    ok.apply_schema().await.unwrap();
}

/// Milliseconds since the epoch of a row's `updatedAt`.
fn updated_ms(row: &serde_json::Value) -> i64 {
    sync_core::model::instant::parse_millis(row["updatedAt"].as_str().unwrap()).unwrap()
}

async fn clock_under_load(db: Db) {
    const WRITERS: usize = 8;
    const MAX_WRITES: usize = 1500;
    let Some(env) = Env::start(db, "clock_under_load", |c| c).await else {
        return;
    };
    let env = std::sync::Arc::new(env);
    let stop_at = std::time::Instant::now() + Duration::from_secs(3);
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let env = std::sync::Arc::clone(&env);
        writers.spawn(async move {
            let (mut ids, mut lead) = (Vec::new(), i64::MIN);
            for k in 0..MAX_WRITES {
                if std::time::Instant::now() > stop_at {
                    break;
                }
                let id = format!("w{w}-{k}");
                let r = env.post("/tables/T", json!({"id": id, "n": k})).await;
                assert_eq!(r.status, 201, "{}", r.text);
                let now = chrono::Utc::now().timestamp_millis();
                lead = lead.max(updated_ms(&r.json) - now);
                ids.push(id);
            }
            (ids, lead)
        });
    }
    // An incremental keyset puller runs all along: it must miss nothing, although
    // writes of one millisecond now share its stamp.
    let puller = {
        let env = std::sync::Arc::clone(&env);
        tokio::spawn(async move {
            let mut seen = std::collections::BTreeSet::new();
            let mut mark = None;
            while std::time::Instant::now() < stop_at {
                let (rows, next) = env.pull("T", mark.clone(), 25).await;
                seen.extend(rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
                mark = next.or(mark);
            }
            (seen, mark)
        })
    };
    let (mut all, mut lead) = (std::collections::BTreeSet::new(), i64::MIN);
    while let Some(done) = writers.join_next().await {
        let (ids, l) = done.unwrap();
        all.extend(ids);
        lead = lead.max(l);
    }
    let (mut seen, mark) = puller.await.unwrap();
    let (rows, _) = env.pull("T", mark, 25).await;
    seen.extend(rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
    let _ = writeln_stderr(format!(
        "clock under load ({db:?}): {} writes from {WRITERS} writers in 3 s, newest updatedAt at most {lead} ms ahead of the wall clock",
        all.len()
    ));
    assert!(
        lead <= 50,
        "updatedAt ran {lead} ms ahead of the wall clock after {} writes",
        all.len()
    );
    assert_eq!(seen, all, "the incremental puller missed rows");
    if let Ok(env) = std::sync::Arc::try_unwrap(env) {
        env.stop().await;
    }
}

/// Straight to stderr: the harness swallows the output of a passing test.
fn writeln_stderr(line: String) -> std::io::Result<()> {
    use std::io::Write as _;
    writeln!(std::io::stderr(), "{line}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_clock_stays_with_the_wall_clock_under_load_and_pulls_miss_nothing_sqlite() {
    clock_under_load(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_clock_stays_with_the_wall_clock_under_load_and_pulls_miss_nothing_postgres() {
    clock_under_load(Db::Postgres).await;
}

/// Writes as fast as the backend takes them, from many tasks at once, for 2 s: the
/// stamps must not run ahead of the wall clock (they ran 0.6 s ahead per second at
/// 1,600 writes/s when every write took the next millisecond).
async fn backend_clock_lead(db: std::sync::Arc<dyn sync_server::store::Backend>, name: &str) {
    use sync_server::store::{Outcome, WriteOp};
    let stop_at = std::time::Instant::now() + Duration::from_secs(2);
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..16 {
        let db = std::sync::Arc::clone(&db);
        tasks.spawn(async move {
            let (mut n, mut lead) = (0usize, i64::MIN);
            while std::time::Instant::now() < stop_at && n < 20_000 {
                let op = WriteOp::Insert {
                    data: vec![("n".into(), json!(n))],
                };
                let Outcome::Done(row) = db.write("T", "", &format!("{t}-{n}"), op).await.unwrap()
                else {
                    panic!("insert refused");
                };
                lead = lead.max(row.updated_ms - chrono::Utc::now().timestamp_millis());
                n += 1;
            }
            (n, lead)
        });
    }
    let (mut writes, mut lead) = (0, i64::MIN);
    while let Some(done) = tasks.join_next().await {
        let (n, l) = done.unwrap();
        writes += n;
        lead = lead.max(l);
    }
    let _ = writeln_stderr(format!(
        "backend clock under load ({name}): {writes} writes in 2 s, stamps at most {lead} ms ahead of the wall clock"
    ));
    assert!(
        lead <= 50,
        "{name}: stamps ran {lead} ms ahead of the wall clock after {writes} writes in 2 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamps_never_run_ahead_of_the_wall_clock_at_full_speed_sqlite() {
    let db = sync_server::store::SqliteBackend::open_in_memory().unwrap();
    backend_clock_lead(std::sync::Arc::new(db), "SQLite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamps_never_run_ahead_of_the_wall_clock_at_full_speed_postgres() {
    let Some(schema) = crate::common::PgSchema::create("clock_lead").await else {
        return;
    };
    let db = sync_server::store::PostgresBackend::connect(&schema.url())
        .await
        .unwrap();
    backend_clock_lead(std::sync::Arc::new(db), "PostgreSQL").await;
}

/// The server's log written to a pipe (a file, a journal) carries no colour codes; at
/// a terminal it may.
#[test]
fn logs_off_a_terminal_carry_no_colour_codes() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tablesync-server"))
        .args(["--listen", "127.0.0.1:0", "--database", "sqlite::memory:"])
        .args(["--api-key", "short"])
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .output()
        .expect("run tablesync-server");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("refusing to start"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a piped log: {text:?}"
    );
}

//! The `tablesync` extension: discovery and batch push, on SQLite and PostgreSQL. Each
//! operation of a batch means what its single request means; its key makes a batch
//! sent again apply nothing twice, even across a SIGKILL of the server.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value as Json, json};
use sync_server::Auth;

use crate::common::{Db, Env, PgSchema, SECRET, bearer};

async fn batch(env: &Env, ops: Json, headers: &[(&str, &str)]) -> crate::common::Resp {
    // A string "BIG" stands for an integer literal no JSON value can hold.
    let body = json!({ "operations": ops })
        .to_string()
        .replace("\"BIG\"", "99999999999999999999");
    env.call(Method::POST, "/tablesync/v1/batch", Some(&body), headers)
        .await
}

fn statuses(r: &crate::common::Resp) -> Vec<u64> {
    r.json["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {}", r.text))
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect()
}

async fn discovery(db: Db) {
    let Some(env) = Env::start(db, "batch_discovery", |c| c.max_batch(7, 9000)).await else {
        return;
    };
    let r = env.get("/tablesync/v1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["extension"], "tablesync");
    assert_eq!(r.json["version"], 1);
    assert_eq!(r.json["max_page_size"], 1000);
    assert_eq!(r.json["batch"]["max_operations"], 7);
    assert_eq!(r.json["batch"]["max_bytes"], 9000);
    assert_eq!(r.json["batch"]["key_window_seconds"], 86400);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_names_the_extension_and_its_limits_sqlite() {
    discovery(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_names_the_extension_and_its_limits_postgres() {
    discovery(Db::Postgres).await;
}

async fn semantics(db: Db) {
    let Some(env) = Env::start(db, "batch_semantics", |c| c).await else {
        return;
    };
    let r = env.post("/tables/T", json!({"id": "old", "n": 1})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let old_version = r.version();
    let r = batch(
        &env,
        json!([
            {"key": "k1", "table": "T", "method": "insert", "item": {"id": "a", "n": 1, "s": "x"}},
            {"key": "k2", "table": "T", "method": "update", "id": "a", "item": {"n": 2}},
            {"key": "k3", "table": "T", "method": "update", "id": "old", "version": "OTk=", "item": {"n": 5}},
            {"key": "k4", "table": "T", "method": "update", "id": "missing", "item": {"n": 5}},
            {"key": "k5", "table": "T", "method": "insert", "item": {"id": "old", "n": 3}},
            {"key": "k6", "table": "T", "method": "insert", "item": {"id": "b", "createdAt": "x"}},
            {"key": "k7", "table": "T", "method": "delete", "id": "old", "version": old_version},
            {"key": "k8", "table": "T", "method": "undelete", "id": "old"},
            {"key": "", "table": "T", "method": "delete", "id": "a"},
            {"key": "k9", "table": "T", "method": "insert", "item": {"id": "c", "n": "BIG"}},
        ]),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        statuses(&r),
        [201, 200, 412, 404, 409, 400, 200, 201, 400, 400],
        "{}",
        r.text
    );
    let results = r.json["results"].as_array().unwrap();
    // Operations on one item keep their order: the update saw the insert.
    assert_eq!(results[1]["item"]["n"], 2);
    assert_eq!(results[1]["item"]["version"], "Mg==");
    // A refused operation carries the server's row, as its single answer does.
    assert_eq!(results[2]["item"]["id"], "old");
    assert_eq!(results[2]["item"]["version"], old_version.as_str());
    assert_eq!(results[4]["item"]["n"], 1);
    assert!(results[5]["error"].as_str().unwrap().contains("createdAt"));
    assert!(
        results[8]["error"]
            .as_str()
            .unwrap()
            .contains("invalid key")
    );
    assert!(
        results[9]["error"].as_str().unwrap().contains("column `n`"),
        "{}",
        r.text
    );
    assert!(results.iter().all(|x| x.get("replayed").is_none()));
    // What the single requests see.
    assert_eq!(env.get("/tables/T/a").await.json["n"], 2);
    let old = env.get("/tables/T/old").await;
    assert_eq!(
        (old.json["n"].clone(), old.json["deleted"].clone()),
        (json!(1), json!(false))
    );
    assert_eq!(env.get("/tables/T/c").await.status, 404);
    // A refused operation's new column was rolled back with it: another kind fits.
    let r = batch(
        &env,
        json!([
            {"key": "k10", "table": "T", "method": "insert", "item": {"id": "a", "fresh": 1}},
            {"key": "k11", "table": "T", "method": "insert", "item": {"id": "d", "fresh": "text"}},
        ]),
        &[],
    )
    .await;
    assert_eq!(statuses(&r), [409, 201], "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_operation_of_a_batch_means_what_its_single_request_means_sqlite() {
    semantics(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_operation_of_a_batch_means_what_its_single_request_means_postgres() {
    semantics(Db::Postgres).await;
}

async fn exactly_once(db: Db) {
    let Some(env) = Env::start(db, "batch_keys", |c| c).await else {
        return;
    };
    let ops = json!([
        {"key": "dev1.1", "table": "T", "method": "insert", "item": {"id": "a", "s": "mine"}},
        {"key": "dev1.2", "table": "T", "method": "update", "id": "a", "item": {"s": "mine, edited"}},
        {"key": "dev1.3", "table": "T", "method": "update", "id": "zz", "item": {"s": "no such row"}},
    ]);
    let first = batch(&env, ops.clone(), &[]).await;
    assert_eq!(statuses(&first), [201, 200, 404], "{}", first.text);
    // Another client writes the same row meanwhile: the same data a second apply of
    // the first batch would write, so no data comparison could tell.
    let r = env.get("/tables/T/a").await;
    let r = env
        .patch(
            "/tables/T/a",
            json!({"s": "mine, edited"}),
            Some(&format!("\"{}\"", r.version())),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let version = r.version();
    // The first client lost its answer and sends the batch again.
    let again = batch(&env, ops, &[]).await;
    assert_eq!(statuses(&again), [201, 200, 404], "{}", again.text);
    let (a, b) = (
        first.json["results"].as_array().unwrap(),
        again.json["results"].as_array().unwrap(),
    );
    for (a, b) in a.iter().zip(b) {
        assert_eq!(b["replayed"], true, "{b}");
        assert_eq!(a["item"], b["item"]);
        assert_eq!(a["error"], b["error"]);
    }
    // Nothing was applied twice: the row is as the other client left it.
    let r = env.get("/tables/T/a").await;
    assert_eq!(r.version(), version);
    // A new key is a new operation.
    let r = batch(
        &env,
        json!([{"key": "dev1.4", "table": "T", "method": "update", "id": "a", "item": {"s": "later"}}]),
        &[],
    )
    .await;
    assert_eq!(statuses(&r), [200]);
    assert!(r.json["results"][0].get("replayed").is_none());
    assert_ne!(env.get("/tables/T/a").await.version(), version);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sent_again_is_answered_from_its_keys_and_applies_nothing_twice_sqlite() {
    exactly_once(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sent_again_is_answered_from_its_keys_and_applies_nothing_twice_postgres() {
    exactly_once(Db::Postgres).await;
}

async fn per_user_keys(db: Db) {
    let Some(env) = Env::start(db, "batch_users", |c| {
        c.auth(Auth::Jwt {
            secret: SECRET.to_vec(),
            per_user: true,
        })
        .dynamic_schema(true)
    })
    .await
    else {
        return;
    };
    let (alice, bob) = (bearer("alice"), bearer("bob"));
    let op = |s: &str| json!([{"key": "same", "table": "T", "method": "insert", "item": {"id": "a", "s": s}}]);
    let r = batch(&env, op("alice's"), &[("X-ZUMO-AUTH", &alice)]).await;
    assert_eq!(statuses(&r), [201], "{}", r.text);
    // Bob's key of the same text is his own: applied, not Alice's answer.
    let r = batch(&env, op("bob's"), &[("X-ZUMO-AUTH", &bob)]).await;
    assert_eq!(statuses(&r), [201], "{}", r.text);
    assert_eq!(r.json["results"][0]["item"]["s"], "bob's");
    assert!(r.json["results"][0].get("replayed").is_none());
    let r = batch(&env, op("again"), &[("X-ZUMO-AUTH", &alice)]).await;
    assert_eq!(r.json["results"][0]["replayed"], true);
    assert_eq!(r.json["results"][0]["item"]["s"], "alice's");
    // No token, no batch.
    let r = batch(&env, op("x"), &[]).await;
    assert_eq!(r.status, 401, "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_keys_are_per_user_sqlite() {
    per_user_keys(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_keys_are_per_user_postgres() {
    per_user_keys(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_limits_are_answered_by_name() {
    let env = Env::start(Db::Sqlite, "batch_limits", |c| {
        c.max_batch(3, 4096).max_body(200)
    })
    .await
    .unwrap();
    let one = |k: usize| json!({"key": format!("k{k}"), "table": "T", "method": "insert", "item": {"id": format!("i{k}")}});
    let r = batch(&env, json!((0..4).map(one).collect::<Vec<_>>()), &[]).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.error()
            .contains("more than the server's limit of 3 (max-batch)"),
        "{}",
        r.text
    );
    let big = "x".repeat(5000);
    let r = batch(
        &env,
        json!([{"key": "k", "table": "T", "method": "insert", "item": {"s": big}}]),
        &[],
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.text);
    let r = batch(
        &env,
        json!([
            {"key": "k1", "table": "T", "method": "insert", "item": {"s": "y".repeat(300)}},
            one(2),
            {"key": "k3", "table": "bad name!", "method": "insert", "item": {}},
        ]),
        &[],
    )
    .await;
    assert_eq!(statuses(&r), [413, 201, 404], "{}", r.text);
    assert!(
        r.json["results"][0]["error"]
            .as_str()
            .unwrap()
            .contains("max-body")
    );
    for bad in [
        "[]",
        "{\"operations\": 5}",
        "{\"operations\": [1]}",
        "not json",
    ] {
        let r = env
            .call(Method::POST, "/tablesync/v1/batch", Some(bad), &[])
            .await;
        match r.status.as_u16() {
            400 => {}
            200 => assert_eq!(statuses(&r), [400], "{bad}: {}", r.text),
            s => panic!("{bad}: {s} {}", r.text),
        }
    }
    env.stop().await;
}

/// A server process killed at a random moment of a batch, then started again on the
/// same database: the batch sent again leaves every operation applied exactly once.
async fn killed(db: Db) {
    const ROUNDS: usize = 16;
    const OPS: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let schema = match db {
        Db::Sqlite => None,
        Db::Postgres => match PgSchema::create("batch_kill").await {
            Some(s) => Some(s),
            None => return,
        },
    };
    let url = match &schema {
        None => format!("sqlite://{}", dir.path().join("kill.db").display()),
        Some(s) => s.url(),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut expected = 1u64;
    let mut killed_with_answer_lost = 0usize;
    let base = {
        let (mut child, base) = start_binary(&url).await;
        let r = http
            .post(format!("{base}/tables/T"))
            .header("ZUMO-API-VERSION", "2.0.0")
            .json(&json!({"id": "r", "n": 0}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        child.kill().unwrap();
        child.wait().unwrap();
        base
    };
    drop(base);
    // How long one batch takes here, so that the kills spread over before it arrives,
    // while it runs and after it committed.
    let took = {
        let ops: Vec<Json> = (0..OPS)
            .map(|j| json!({"key": format!("warm.{j}"), "table": "T", "method": "update", "id": "r", "item": {"n": j}}))
            .collect();
        let (mut child, base) = start_binary(&url).await;
        let started = std::time::Instant::now();
        let r = http
            .post(format!("{base}/tablesync/v1/batch"))
            .header("ZUMO-API-VERSION", "2.0.0")
            .json(&json!({ "operations": ops }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let took = started.elapsed();
        expected += OPS as u64;
        child.kill().unwrap();
        child.wait().unwrap();
        took
    };
    let (mut before, mut after) = (0usize, 0usize);
    let mut round = 0;
    // At least ROUNDS kills, and more (later and later) until both sides of the commit
    // were hit, on however slow a machine.
    while round < ROUNDS || ((before == 0 || after == 0) && round < 4 * ROUNDS) {
        let delay = if round < ROUNDS {
            took.mul_f64(2.0 * round as f64 / ROUNDS as f64)
        } else {
            took * (1 << (round - ROUNDS + 1).min(12)) as u32
        };
        let ops: Vec<Json> = (0..OPS)
            .map(|j| json!({"key": format!("r{round}.{j}"), "table": "T", "method": "update", "id": "r", "item": {"n": j}}))
            .collect();
        let body = json!({ "operations": ops }).to_string();
        let (mut child, base) = start_binary(&url).await;
        let send = {
            let (http, base, body) = (http.clone(), base.clone(), body.clone());
            tokio::spawn(async move {
                http.post(format!("{base}/tablesync/v1/batch"))
                    .header("ZUMO-API-VERSION", "2.0.0")
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
            })
        };
        tokio::time::sleep(delay).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let answered = matches!(send.await.unwrap(), Ok(r) if r.status() == 200);
        let (mut child, base) = start_binary(&url).await;
        let r = http
            .post(format!("{base}/tablesync/v1/batch"))
            .header("ZUMO-API-VERSION", "2.0.0")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Json = r.json().await.unwrap();
        let results = v["results"].as_array().unwrap();
        assert!(results.iter().all(|x| x["status"] == 200), "{v}");
        let replayed = results.iter().filter(|x| x["replayed"] == true).count();
        // All or nothing: the batch is one transaction.
        assert!(
            replayed == 0 || replayed == OPS,
            "{replayed} of {OPS} replayed"
        );
        if replayed == 0 {
            before += 1;
        } else {
            after += 1;
        }
        if replayed == OPS && !answered {
            killed_with_answer_lost += 1;
        }
        expected += OPS as u64;
        let r: Json = http
            .get(format!("{base}/tables/T/r"))
            .header("ZUMO-API-VERSION", "2.0.0")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let version: u64 = String::from_utf8(
            base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                r["version"].as_str().unwrap(),
            )
            .unwrap(),
        )
        .unwrap()
        .parse()
        .unwrap();
        assert_eq!(version, expected, "round {round}: applied twice or lost");
        child.kill().unwrap();
        child.wait().unwrap();
        round += 1;
    }
    println!(
        "{db:?}: {round} kills spread over a batch of {OPS} updates ({took:?}): {before} \
         before its commit, {after} after ({killed_with_answer_lost} with the answer lost); \
         sent again, every update was applied exactly once"
    );
    // The kills must have hit both sides of the commit for the test to mean anything.
    assert!(after > 0, "no kill came after a commit");
    assert!(before > 0, "no kill came before a commit");
    drop(schema);
}

/// A server process, killed when dropped (a failing test leaves none behind).
struct Proc(std::process::Child);

impl Proc {
    fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()
    }

    fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tablesync-server` on an ephemeral port and waits for it to answer.
async fn start_binary(url: &str) -> (Proc, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tablesync-server"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--database", url])
        .env_remove("TABLESYNC_API_KEY")
        .env_remove("TABLESYNC_JWT_SECRET")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start tablesync-server");
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (Proc(child), base);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("tablesync-server did not start on {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sent_again_after_the_server_was_killed_applies_each_operation_once_sqlite() {
    killed(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sent_again_after_the_server_was_killed_applies_each_operation_once_postgres() {
    killed(Db::Postgres).await;
}

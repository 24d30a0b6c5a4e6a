//! Two server instances on one PostgreSQL database, concurrent writers and pullers:
//! no update is lost, and every incremental puller ends with every committed row at
//! its final version.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use sync_server::Config;

use crate::common::{Env, PgSchema, counter};

const SHARED: usize = 8;
const WRITERS: usize = 6;
const PULLERS: usize = 2;
const WRITE_FOR: Duration = Duration::from_millis(2500);

#[derive(Default, Debug)]
struct Tally {
    /// Successful conditional updates per shared id.
    updates: HashMap<String, i64>,
    /// Ids this writer inserted.
    inserted: Vec<String>,
    stale: u64,
}

async fn writer(env: Arc<Env>, w: usize) -> Tally {
    let mut t = Tally::default();
    let start = Instant::now();
    let mut k = 0usize;
    while start.elapsed() < WRITE_FOR {
        k += 1;
        // Overlapping targets: writers walk the shared ids at different strides.
        let id = format!("s{}", (k * (w + 1) + w) % SHARED);
        let cur = env.get(&format!("/tables/Race/{id}")).await;
        assert_eq!(cur.status, 200, "{}", cur.text);
        let n = cur.json["n"].as_i64().unwrap();
        let etag = cur.etag.clone().unwrap();
        let r = env
            .patch(
                &format!("/tables/Race/{id}"),
                json!({"n": n + 1, "by": w as i64}),
                Some(&etag),
            )
            .await;
        match r.status.as_u16() {
            200 => *t.updates.entry(id).or_default() += 1,
            412 => t.stale += 1,
            s => panic!("writer {w}: unexpected {s}: {}", r.text),
        }
        if k.is_multiple_of(4) {
            let new_id = format!("w{w}_{k}");
            let r = env
                .post("/tables/Race", json!({"id": new_id, "n": 0}))
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            t.inserted.push(new_id);
            // Re-inserting a shared id is always a conflict, on any instance.
            let r = env.post("/tables/Race", json!({"id": "s0", "n": 99})).await;
            assert_eq!(r.status, 409, "{}", r.text);
        }
    }
    t
}

/// id -> (version counter, n)
type Seen = HashMap<String, (i64, i64)>;

fn absorb(seen: &mut Seen, rows: &[serde_json::Value], who: &str) {
    for r in rows {
        let id = r["id"].as_str().unwrap().to_owned();
        let v = counter(r["version"].as_str().unwrap());
        let n = r["n"].as_i64().unwrap_or(-1);
        if let Some((old, _)) = seen.get(&id) {
            assert!(v > *old, "{who}: {id} went from version {old} to {v}");
        }
        seen.insert(id, (v, n));
    }
}

async fn puller(env: Arc<Env>, p: usize, done: Arc<AtomicBool>) -> Seen {
    let who = format!("puller {p}");
    let mut seen = Seen::new();
    let mut watermark = None;
    let mut pulls = 0;
    while !done.load(Ordering::Acquire) {
        let (rows, w) = env.pull("Race", watermark, 10).await;
        absorb(&mut seen, &rows, &who);
        watermark = w;
        pulls += 1;
    }
    // The writers have stopped: one more incremental pull must complete the picture.
    let (rows, _) = env.pull("Race", watermark, 10).await;
    absorb(&mut seen, &rows, &who);
    assert!(pulls > 1, "{who} pulled only {pulls} times");
    seen
}

/// Two server instances on the same PostgreSQL schema.
async fn two_instances(schema: &PgSchema) -> Vec<Arc<Env>> {
    let mut envs = Vec::new();
    for _ in 0..2 {
        let config = Config::open(&schema.url()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        envs.push(Arc::new(Env::of(
            sync_server::serve(listener, config).await.unwrap(),
        )));
    }
    envs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_lose_no_update_and_pullers_miss_no_row() {
    let Some(schema) =
        PgSchema::create("two_instances_lose_no_update_and_pullers_miss_no_row").await
    else {
        return;
    };
    let envs = two_instances(&schema).await;
    for i in 0..SHARED {
        let r = envs[i % 2]
            .post("/tables/Race", json!({"id": format!("s{i}"), "n": 0}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let done = Arc::new(AtomicBool::new(false));
    let pullers: Vec<_> = (0..PULLERS)
        .map(|p| tokio::spawn(puller(Arc::clone(&envs[p % 2]), p, Arc::clone(&done))))
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(Arc::clone(&envs[w % 2]), w)))
        .collect();
    let mut updates: HashMap<String, i64> = HashMap::new();
    let mut inserted = Vec::new();
    let mut stale = 0;
    for w in writers {
        let t = w.await.unwrap();
        for (id, n) in t.updates {
            *updates.entry(id).or_default() += n;
        }
        inserted.extend(t.inserted);
        stale += t.stale;
    }
    done.store(true, Ordering::Release);
    let seen: Vec<Seen> = futures_join(pullers).await;

    // The truth, read afresh.
    let (rows, _) = envs[0].pull("Race", None, 100).await;
    let mut truth = Seen::new();
    absorb(&mut truth, &rows, "final read");
    let total: i64 = updates.values().sum();
    eprintln!(
        "{total} updates, {stale} stale If-Match answers, {} inserts, {} rows",
        inserted.len(),
        truth.len()
    );
    assert!(
        total > 20,
        "too little happened to prove anything: {total} updates"
    );
    for i in 0..SHARED {
        let id = format!("s{i}");
        let ok = updates.get(&id).copied().unwrap_or(0);
        assert_eq!(
            truth[&id],
            (1 + ok, ok),
            "{id}: every successful update counted once"
        );
    }
    for id in &inserted {
        assert_eq!(truth[id], (1, 0), "{id}");
    }
    assert_eq!(truth.len(), SHARED + inserted.len());
    for (p, s) in seen.iter().enumerate() {
        assert_eq!(s, &truth, "puller {p} has every row at its final version");
    }
    for env in envs {
        Arc::into_inner(env).unwrap().stop().await;
    }
    drop(schema);
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<Seen>>) -> Vec<Seen> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Inserts of one new id racing on two instances: one wins (201), every other one
/// reads the winner's row and answers 409 with it, none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_inserts_of_one_id_are_one_201_and_409s() {
    let Some(schema) = PgSchema::create("racing_inserts_of_one_id_are_one_201_and_409s").await
    else {
        return;
    };
    let envs = two_instances(&schema).await;
    // The table and its column exist first: the race is on the row, not the schema.
    let r = envs[0]
        .post("/tables/Twin", json!({"id": "seed", "n": 0}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for round in 0..20 {
        let id = format!("t{round}");
        let racers: Vec<_> = (0..6)
            .map(|k| {
                let (env, id) = (Arc::clone(&envs[k % 2]), id.clone());
                tokio::spawn(async move {
                    env.post("/tables/Twin", json!({"id": id, "n": k as i64}))
                        .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for r in racers {
            answers.push(r.await.unwrap());
        }
        let won: Vec<_> = answers.iter().filter(|r| r.status == 201).collect();
        assert_eq!(
            won.len(),
            1,
            "{id}: {:?}",
            answers.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        for r in &answers {
            assert!(
                r.status == 201 || r.status == 409,
                "{id}: {} {}",
                r.status,
                r.text
            );
            assert_eq!(
                r.json["n"], won[0].json["n"],
                "{id}: every answer has the winner's row"
            );
        }
    }
    for env in envs {
        Arc::into_inner(env).unwrap().stop().await;
    }
    drop(schema);
}

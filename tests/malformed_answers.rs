//! Fuzzing what `HttpTransport` parses: a fake server on 127.0.0.1 answers every
//! request with a generated answer — any status, hostile `ETag`, `Content-Type`,
//! `Retry-After` and `Link` headers, bodies of random bytes, random JSON, rows of
//! nearly the right shape with wrong types, huge or deeply nested values, bodies cut
//! short — and:
//!
//! - every transport call ends, within a time limit, in `Ok` or a typed
//!   `TransportError`, never a panic or a hang; a row it accepts has a text id;
//! - through a `SyncContext` on a `SqliteStore`, a push or pull that does not succeed
//!   changes nothing in the store (rows, queue, conflicts, watermark), and an
//!   operation that was neither accepted nor turned into a conflict stays queued as it
//!   was;
//! - a body over the transport's response-size limit (framed by an exact or a short
//!   `Content-Length`, or by the connection's end) is `ResponseTooLarge` for every
//!   call, and a page of more rows than asked for is `PageTooLong`;
//! - a server that always says more rows follow (a second, smaller run) ends a pull
//!   with `PullLimit` after the configured pages, every page it sent stored, or, when
//!   one of its pages is broken, with that page's error and the pages before it stored.
//!
//! 256 cases (and 24 endless ones); `PROPTEST_RNG_SEED=S` replays a run (its seed is printed), and
//! `PROPTEST_CASES=N` runs more.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Item;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::{Value as Json, json};
use sync_http::{HttpTransport, RetryPolicy};
use tablesync::engine::{SyncContext, SyncError, SyncOptions};
use tablesync::store::{Operation, Query, Store, StoredConflict, Watermark};
use tablesync::transport::{PullRequest, Transport, TransportError};
use tablesync::{Record, SqliteStore, Syncable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The longest one call (its retries included) may take before it counts as a hang.
const CALL_LIMIT: Duration = Duration::from_secs(5);

/// The transports' response-size limit: above every other generated body (the
/// largest, a huge string, is under 200 KB), so only the oversized ones pass it.
const LIMIT: u64 = 256 * 1024;

/// The page size of the raw transport pull.
const RAW_PAGE: u32 = 10;

// ---------------------------------------------------------------------------------
// The fake server: answers every request with the current answer's bytes, verbatim.

/// What the fake answers each request with: the same bytes, or bytes made anew.
type Generate = Box<dyn FnMut() -> Vec<u8> + Send>;

struct Fake {
    url: String,
    answer: Arc<Mutex<Vec<u8>>>,
    generate: Arc<Mutex<Option<Generate>>>,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    async fn start() -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}/", listener.local_addr().expect("address"));
        let answer = Arc::new(Mutex::new(Vec::new()));
        let generate: Arc<Mutex<Option<Generate>>> = Arc::new(Mutex::new(None));
        let requests = Arc::new(AtomicUsize::new(0));
        let (a, r) = (Arc::clone(&answer), Arc::clone(&requests));
        let g = Arc::clone(&generate);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let (a, r, g) = (Arc::clone(&a), Arc::clone(&r), Arc::clone(&g));
                tokio::spawn(async move {
                    // Read the request (head and Content-Length body), bounded in time.
                    let read = tokio::time::timeout(Duration::from_secs(2), async {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 8192];
                        loop {
                            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                                let len = head
                                    .lines()
                                    .find_map(|l| l.strip_prefix("content-length:"))
                                    .and_then(|v| v.trim().parse::<usize>().ok())
                                    .unwrap_or(0);
                                if buf.len() >= end + 4 + len {
                                    return true;
                                }
                            }
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return false,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                    })
                    .await;
                    if read != Ok(true) {
                        return;
                    }
                    r.fetch_add(1, Ordering::Relaxed);
                    let made = g
                        .lock()
                        .expect("generator lock")
                        .as_mut()
                        .map(|make| make());
                    let bytes = made.unwrap_or_else(|| a.lock().expect("answer lock").clone());
                    let _ = stream.write_all(&bytes).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Fake {
            url,
            answer,
            generate,
            requests,
            task,
        }
    }

    fn answer_with(&self, bytes: Vec<u8>) {
        *self.generate.lock().expect("generator lock") = None;
        *self.answer.lock().expect("answer lock") = bytes;
    }

    /// Answers each request with `make()`, in the order the requests come.
    fn generate_with(&self, make: impl FnMut() -> Vec<u8> + Send + 'static) {
        *self.generate.lock().expect("generator lock") = Some(Box::new(make));
    }

    fn transport(&self) -> HttpTransport {
        self.builder().build().expect("transport")
    }

    /// A transport that speaks the table protocol alone.
    fn transport_paged(&self) -> HttpTransport {
        self.builder().extensions(false).build().expect("transport")
    }

    fn builder(&self) -> sync_http::HttpTransportBuilder {
        HttpTransport::builder(&self.url)
            .timeout(Duration::from_secs(1))
            .connect_timeout(Duration::from_secs(1))
            .retry(RetryPolicy {
                attempts: 2,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(2),
                max_retry_after: Duration::from_millis(20),
            })
            .max_response_bytes(LIMIT)
    }
}

// ---------------------------------------------------------------------------------
// Generated answers.

#[derive(Debug, Clone)]
enum Framing {
    /// `Content-Length` equal to the body.
    Exact,
    /// `Content-Length` larger than the body: the answer is cut short.
    Short,
    /// No `Content-Length`: the body ends where the connection does.
    UntilClose,
}

/// What every call must make of an answer, beyond the checks all answers get.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Anything typed.
    Any,
    /// Its body is over [`LIMIT`]: `ResponseTooLarge`, whatever the call.
    TooLarge,
    /// A page of this many rows, more than [`RAW_PAGE`]: the raw pull is `PageTooLong`.
    LongPage(usize),
}

#[derive(Clone)]
struct Answer {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    framing: Framing,
    expect: Expect,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body as text (most are), cut: a failing case must be readable.
        let body = String::from_utf8_lossy(&self.body);
        let cut: String = body.chars().take(600).collect();
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("headers", &self.headers)
            .field("body", &cut)
            .field("body_len", &self.body.len())
            .field("framing", &self.framing)
            .field("expect", &self.expect)
            .finish()
    }
}

impl Answer {
    fn bytes(&self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason);
        for (n, v) in &self.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        match self.framing {
            Framing::Exact => head.push_str(&format!("content-length: {}\r\n", self.body.len())),
            Framing::Short => {
                head.push_str(&format!("content-length: {}\r\n", self.body.len() + 7))
            }
            Framing::UntilClose => {}
        }
        head.push_str("connection: close\r\n\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => prop::sample::select(vec![
            200u16, 201, 204, 304, 400, 401, 403, 404, 409, 412, 413, 429, 500, 502, 503, 504,
        ]),
        1 => 100u16..1000,
    ]
}

fn visible(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(0x20u8..0x7f, 0..max).prop_map(|v| String::from_utf8(v).expect("ascii"))
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let etag = prop_oneof![
        Just("\"v1\"".to_owned()),
        Just("\"v2\"".to_owned()),
        Just("W/\"v1\"".to_owned()),
        Just("\"\"".to_owned()),
        Just("v1".to_owned()),
        Just("\"unterminated".to_owned()),
        visible(40),
    ];
    let content_type = prop_oneof![
        Just("application/json".to_owned()),
        Just("application/json; charset=utf-8".to_owned()),
        Just("text/html".to_owned()),
        visible(30),
    ];
    let retry_after = prop_oneof![
        Just("0".to_owned()),
        Just("1".to_owned()),
        Just("99999999999999999999999".to_owned()),
        Just("-1".to_owned()),
        Just("Sun, 06 Nov 1994 08:49:37 GMT".to_owned()),
        Just("Fri, 31 Dec 9999 23:59:59 GMT".to_owned()),
        visible(30),
    ];
    let link = prop_oneof![
        Just("<http://127.0.0.1:1/tables/Item?$skip=50>; rel=next".to_owned()),
        Just("<>; rel=next".to_owned()),
        visible(60),
    ];
    (
        prop::option::of(etag),
        prop::option::of(content_type),
        prop::option::of(retry_after),
        prop::option::of(link),
        prop::option::of(visible(20)),
    )
        .prop_map(|(etag, ct, ra, link, other)| {
            let mut h = Vec::new();
            let mut add = |n: &str, v: Option<String>| {
                if let Some(v) = v {
                    h.push((n.to_owned(), v));
                }
            };
            add("etag", etag);
            add("content-type", ct);
            add("retry-after", ra);
            add("link", link);
            add("x-anything", other);
            h
        })
}

fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
        visible(20).prop_map(Json::String),
        ".{0,12}".prop_map(Json::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::btree_map("[a-zA-Z_]{1,10}", inner, 0..6)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for a column: the right type most of the time, anything otherwise.
fn field(right: Json) -> impl Strategy<Value = Option<Json>> {
    prop_oneof![
        6 => Just(Some(right)),
        2 => any_json().prop_map(Some),
        1 => Just(None),
    ]
}

/// A row of nearly the right shape.
fn near_row() -> impl Strategy<Value = Json> {
    let id = prop_oneof![
        Just("n1".to_owned()),
        Just("s1".to_owned()),
        Just("s2".to_owned()),
        Just("other".to_owned()),
        Just(String::new()),
        visible(12),
    ];
    (
        id,
        prop::sample::select(vec!["v1", "v2", "MQ=="]),
        prop::sample::select(vec![
            "2026-11-21T12:50:52.847Z",
            "2026-11-21T12:50:52Z",
            "2026-11-21 12:50",
            "not a date",
            "9999-12-31T23:59:59.999Z",
        ]),
        field(json!(false)),
        field(json!(7)),
        field(json!("stamp")),
    )
        .prop_flat_map(|(id, version, updated, deleted, value, stamp)| {
            (
                field(json!(id)),
                field(json!(version)),
                field(json!(updated)),
                field(json!("2026-01-01T00:00:00.000Z")),
                Just((deleted, value, stamp)),
                prop::option::of(("[a-z]{1,8}", any_json())),
            )
        })
        .prop_map(
            |(id, version, updated, created, (deleted, value, stamp), extra)| {
                let mut o = serde_json::Map::new();
                for (k, v) in [
                    ("id", id),
                    ("version", version),
                    ("updatedAt", updated),
                    ("createdAt", created),
                    ("deleted", deleted),
                    ("value", value),
                    ("stamp", stamp),
                ] {
                    if let Some(v) = v {
                        o.insert(k.to_owned(), v);
                    }
                }
                if let Some((k, v)) = extra {
                    o.insert(k, v);
                }
                Json::Object(o)
            },
        )
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let deep = (1usize..20_000).prop_map(|n| {
        let mut s = "[".repeat(n);
        s.push_str(&"]".repeat(n));
        s.into_bytes()
    });
    let huge_string = (1usize..200_000).prop_map(|n| {
        json!({"id": "s1", "version": "v1", "stamp": "x".repeat(n)})
            .to_string()
            .into_bytes()
    });
    let huge_number = prop_oneof![
        Just(b"1e999999".to_vec()),
        Just(b"[{\"id\":\"s1\",\"value\":123456789012345678901234567890}]".to_vec()),
        Just(b"{\"id\":\"s1\",\"value\":-1e400,\"version\":\"v1\"}".to_vec()),
    ];
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..300),
        2 => any_json().prop_map(|j| j.to_string().into_bytes()),
        4 => near_row().prop_map(|j| j.to_string().into_bytes()),
        3 => prop::collection::vec(near_row(), 0..5).prop_map(|v| Json::Array(v).to_string().into_bytes()),
        1 => (prop::collection::vec(near_row(), 0..4), any_json())
            .prop_map(|(v, count)| json!({"results": v, "count": count}).to_string().into_bytes()),
        1 => deep,
        1 => huge_string,
        1 => huge_number,
        1 => Just(Vec::new()),
    ]
}

/// A row that is right in every way, for the id `id`, at `version`.
fn good_row(id: &str, version: &str, updated: &str) -> Json {
    json!({
        "id": id, "version": version, "updatedAt": updated,
        "createdAt": "2026-01-01T00:00:00.000Z", "deleted": false, "value": 7, "stamp": "server",
    })
}

/// Answers a server might plausibly give: a 2xx, 409 or 412 with a well-formed row or
/// page and a matching strong ETag, with at most one thing wrong — the row's id, a
/// deleted row, a stale or missing version, an ETag that disagrees.
fn plausible() -> impl Strategy<Value = Answer> {
    let id = prop::sample::select(vec!["n1", "s1", "s2", "other", "S1"]);
    let version = prop::sample::select(vec!["v1", "v2", "v3"]);
    let updated = prop::sample::select(vec![
        "2025-12-31T23:59:59.999Z",
        "2026-01-01T00:00:00.000Z",
        "2026-11-21T12:50:52.847Z",
    ]);
    let flaw = 0u8..8;
    (
        prop::sample::select(vec![200u16, 200, 201, 201, 204, 409, 412]),
        prop::collection::vec((id, version, updated), 1..4),
        flaw,
        any::<bool>(),
    )
        .prop_map(|(status, rows, flaw, page)| {
            let mut rows: Vec<Json> = rows.iter().map(|(i, v, u)| good_row(i, v, u)).collect();
            let version = rows[0]["version"].as_str().unwrap_or_default().to_owned();
            let mut etag = Some(format!("\"{version}\""));
            match flaw {
                0 => rows[0]["deleted"] = json!(true),
                1 => etag = Some("\"v9\"".into()),
                2 => etag = None,
                3 => {
                    rows[0].as_object_mut().map(|o| o.remove("version"));
                }
                4 => rows[0]["updatedAt"] = json!("2026-11-21T12:50:52Z"),
                _ => {}
            }
            let body = if page {
                etag = None;
                Json::Array(rows)
            } else {
                rows.swap_remove(0)
            };
            let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
            if let Some(e) = etag {
                headers.push(("etag".to_owned(), e));
            }
            Answer {
                status,
                reason: "OK".into(),
                headers,
                body: body.to_string().into_bytes(),
                framing: Framing::Exact,
                expect: Expect::Any,
            }
        })
}

fn json_headers() -> Vec<(String, String)> {
    vec![("content-type".to_owned(), "application/json".to_owned())]
}

/// A 200 whose body is over the limit: a page of one row with a huge text, or junk;
/// its length given exactly, given too large (cut short), or not at all.
fn oversized() -> impl Strategy<Value = Answer> {
    (
        (LIMIT as usize + 1)..(4 * LIMIT as usize),
        any::<bool>(),
        prop_oneof![
            Just(Framing::Exact),
            Just(Framing::Short),
            Just(Framing::UntilClose)
        ],
    )
        .prop_map(|(len, page, framing)| {
            let body = if page {
                let mut r = good_row("s1", "v1", "2026-11-21T12:50:52.847Z");
                r["stamp"] = json!("x".repeat(len));
                json!([r]).to_string().into_bytes()
            } else {
                vec![b'x'; len]
            };
            Answer {
                status: 200,
                reason: "OK".into(),
                headers: json_headers(),
                body,
                framing,
                expect: Expect::TooLarge,
            }
        })
}

/// A well-formed page of more rows than the raw pull asks for: fewer than the
/// engine's page size (100) or more.
fn long_page() -> impl Strategy<Value = Answer> {
    prop_oneof![(RAW_PAGE as usize + 1)..60, 101usize..160].prop_map(|n| {
        let rows: Vec<Json> = (0..n)
            .map(|i| good_row(&format!("r{i:03}"), "v1", "2026-11-21T12:50:52.847Z"))
            .collect();
        Answer {
            status: 200,
            reason: "OK".into(),
            headers: json_headers(),
            body: Json::Array(rows).to_string().into_bytes(),
            framing: Framing::Exact,
            expect: Expect::LongPage(n),
        }
    })
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        4 => wild(),
        4 => plausible(),
        1 => oversized(),
        1 => long_page(),
    ]
}

fn wild() -> impl Strategy<Value = Answer> {
    (
        status(),
        prop_oneof![Just("OK".to_owned()), visible(10)],
        headers(),
        body(),
        prop_oneof![
            6 => Just(Framing::Exact),
            1 => Just(Framing::Short),
            1 => Just(Framing::UntilClose),
        ],
    )
        .prop_map(|(status, reason, headers, body, framing)| Answer {
            status,
            reason,
            headers,
            body,
            framing,
            expect: Expect::Any,
        })
}

// ---------------------------------------------------------------------------------
// The checks.

async fn bounded<R>(what: &str, f: impl Future<Output = R>) -> Result<R, TestCaseError> {
    tokio::time::timeout(CALL_LIMIT, f)
        .await
        .map_err(|_| TestCaseError::fail(format!("{what} hung for {CALL_LIMIT:?}")))
}

fn has_id(r: &Record, what: &str) -> Result<(), TestCaseError> {
    if r.id().is_none_or(str::is_empty) {
        return Err(TestCaseError::fail(format!(
            "{what} accepted a row without id: {r:?}"
        )));
    }
    Ok(())
}

fn item(id: &str, version: Option<&str>) -> Record {
    let mut r = Record::new();
    r.set("id", id);
    r.set("value", 1i64);
    r.set("stamp", format!("{id}-0"));
    r.set("version", version.map(str::to_owned));
    r
}

/// Raw transport calls: each ends in `Ok` or a typed error, in time, and an oversized
/// answer or page in the error that says so.
async fn transport_calls(
    fake: &Fake,
    expect: Expect,
    counts: &Counts,
) -> Result<(), TestCaseError> {
    let t = fake.transport();
    t.register_schema(Item::schema());
    let outcomes: Vec<(&str, Result<Vec<Record>, TransportError>)> = vec![
        (
            "get",
            bounded("get", t.get("Item", "s1"))
                .await?
                .map(|r| r.into_iter().collect()),
        ),
        (
            "insert",
            bounded("insert", t.insert("Item", item("n1", None)))
                .await?
                .map(|r| vec![r]),
        ),
        (
            "update",
            bounded(
                "update",
                t.update("Item", item("s1", Some("v1")), Some("v1".into())),
            )
            .await?
            .map(|r| vec![r]),
        ),
        (
            "delete",
            bounded("delete", t.delete("Item", "s2", Some("v1".into())))
                .await?
                .map(|r| r.into_iter().collect()),
        ),
        (
            "pull",
            bounded(
                "pull",
                t.pull(
                    "Item",
                    PullRequest {
                        after: Some(Watermark {
                            updated_at: "2026-01-01T00:00:00.000Z".into(),
                            id: "a".into(),
                        }),
                        ..PullRequest::new(RAW_PAGE)
                    },
                ),
            )
            .await?
            .map(|p| p.records),
        ),
    ];
    for (what, outcome) in outcomes {
        match (expect, &outcome) {
            (Expect::TooLarge, Err(TransportError::ResponseTooLarge { limit: LIMIT, .. })) => {
                counts.too_large.fetch_add(1, Ordering::Relaxed);
            }
            (Expect::TooLarge, other) => {
                return Err(TestCaseError::fail(format!(
                    "{what}: a body over the limit gave {other:?}"
                )));
            }
            (Expect::LongPage(n), Err(TransportError::PageTooLong { asked, got, .. }))
                if what == "pull" =>
            {
                prop_assert_eq!((*asked, *got), (u64::from(RAW_PAGE), n as u64));
                counts.long_page.fetch_add(1, Ordering::Relaxed);
            }
            (Expect::LongPage(_), other) if what == "pull" => {
                return Err(TestCaseError::fail(format!(
                    "pull: a page longer than asked for gave {other:?}"
                )));
            }
            _ => {}
        }
        match outcome {
            Ok(rows) => {
                counts.ok.fetch_add(1, Ordering::Relaxed);
                for r in &rows {
                    has_id(r, what)?;
                }
                // A single-row answer is about the row asked for.
                let asked = match what {
                    "get" | "update" => Some("s1"),
                    "insert" => Some("n1"),
                    "delete" => Some("s2"),
                    _ => None,
                };
                if let (Some(asked), Some(r)) = (asked, rows.first()) {
                    prop_assert_eq!(
                        r.id(),
                        Some(asked),
                        "{} of {} accepted another row's answer",
                        what,
                        asked
                    );
                }
            }
            Err(e) => {
                counts.err.fetch_add(1, Ordering::Relaxed);
                // Typed by construction; its message must render.
                let _ = e.to_string();
            }
        }
    }
    Ok(())
}

/// A queue entry as a failed send must leave it: position, kind, base version,
/// revision, the deleted row it carries.
type QueuedOp = (
    u64,
    tablesync::store::OpKind,
    Option<String>,
    u64,
    Option<Record>,
);

/// What a store holds: rows, the queue (without attempt counters and errors, which a
/// failed send legitimately updates), conflicts, the watermark.
#[derive(Debug, PartialEq)]
struct Snapshot {
    rows: Vec<Record>,
    ops: BTreeMap<String, QueuedOp>,
    conflicts: Vec<StoredConflict>,
    watermark: Option<Watermark>,
}

fn snapshot(store: &SqliteStore) -> Snapshot {
    store
        .read(|tx| {
            let ops = tx
                .ops(None)?
                .into_iter()
                .map(|o: Operation| {
                    (
                        o.item_id.clone(),
                        (o.seq, o.kind, o.version, o.revision, o.item),
                    )
                })
                .collect();
            Ok(Snapshot {
                rows: tx.query("Item", &Query::new())?,
                ops,
                conflicts: tx.conflicts(None)?,
                watermark: tx.watermark("Item", "all")?,
            })
        })
        .expect("snapshot the store")
}

async fn device(fake: &Fake) -> SyncContext<SqliteStore, HttpTransport> {
    let ctx = SyncContext::with_options(
        SqliteStore::open_in_memory().expect("store"),
        fake.transport(),
        SyncOptions {
            max_conflict_retries: 1,
            ..SyncOptions::default()
        },
    );
    ctx.table::<Item>().await.expect("register Item");
    ctx
}

/// Seeds synced rows s1, s2 (version v1) and a watermark.
fn seed_synced(ctx: &SyncContext<SqliteStore, HttpTransport>) {
    ctx.store()
        .transaction(|tx| {
            for id in ["s1", "s2"] {
                let mut r = item(id, Some("v1"));
                r.set("updatedAt", "2026-01-01T00:00:00.000Z");
                tx.upsert("Item", &r)?;
                tx.set_base("Item", &r)?;
            }
            tx.set_watermark(
                "Item",
                "all",
                &Watermark {
                    updated_at: "2026-01-01T00:00:00.000Z".into(),
                    id: "s2".into(),
                },
            )
        })
        .expect("seed synced rows");
}

/// A push of an insert, an update and a delete: an operation neither accepted nor in
/// conflict stays queued as it was, with its row.
async fn push_check(fake: &Fake, counts: &Counts) -> Result<(), TestCaseError> {
    let ctx = device(fake).await;
    seed_synced(&ctx);
    let items = ctx.table::<Item>().await.expect("table");
    items
        .insert(Item {
            id: "n1".into(),
            value: 5,
            stamp: "n1-1".into(),
            version: None,
        })
        .await
        .expect("insert");
    let mut s1 = items.get("s1").await.expect("get").expect("s1");
    s1.value = 9;
    s1.stamp = "s1-1".into();
    items.update(s1).await.expect("update");
    items.delete("s2").await.expect("delete");
    let before = snapshot(ctx.store());
    let report = bounded("push", ctx.push()).await?;
    let after = snapshot(ctx.store());
    for r in &after.rows {
        prop_assert!(
            matches!(r.id(), Some("n1" | "s1")),
            "a push planted a row it never wrote: {:?}",
            r
        );
    }
    match report {
        Err(e) => {
            counts.push_err.fetch_add(1, Ordering::Relaxed);
            prop_assert_eq!(&after, &before, "a failed push changed the store: {}", e);
        }
        Ok(r) => {
            if r.pushed + r.resolved + r.conflicts == 0 {
                counts.push_nothing.fetch_add(1, Ordering::Relaxed);
                prop_assert_eq!(
                    &after,
                    &before,
                    "a push that achieved nothing changed the store: {:?}",
                    r
                );
            } else {
                counts.push_some.fetch_add(1, Ordering::Relaxed);
                // Whatever is still queued without a conflict is untouched.
                for (id, op) in &after.ops {
                    if after.conflicts.iter().any(|c| &c.item_id == id) {
                        continue;
                    }
                    let row = |s: &Snapshot| s.rows.iter().find(|r| r.id() == Some(id)).cloned();
                    if before.ops.get(id) == Some(op) {
                        prop_assert_eq!(
                            row(&after),
                            row(&before),
                            "{} changed while still queued: {:?}",
                            id,
                            r
                        );
                    }
                }
                for c in &after.conflicts {
                    prop_assert!(
                        after.ops.contains_key(&c.item_id),
                        "conflict without its operation: {:?}",
                        c
                    );
                }
            }
        }
    }
    Ok(())
}

/// A pull that fails changes nothing (rows, watermark).
async fn pull_check(fake: &Fake, counts: &Counts) -> Result<(), TestCaseError> {
    let ctx = device(fake).await;
    seed_synced(&ctx);
    let items = ctx.table::<Item>().await.expect("table");
    let before = snapshot(ctx.store());
    let pulled = bounded("pull", items.pull("all", None)).await?;
    let after = snapshot(ctx.store());
    match pulled {
        Ok(_) => {
            counts.pull_ok.fetch_add(1, Ordering::Relaxed);
            for r in &after.rows {
                has_id(r, "a pulled page")?;
            }
        }
        Err(e) => {
            counts.pull_err.fetch_add(1, Ordering::Relaxed);
            prop_assert!(
                matches!(e, SyncError::Transport { .. }),
                "a bad page is a transport error, not {e}"
            );
            prop_assert_eq!(&after, &before, "a failed pull changed the store: {}", e);
        }
    }
    Ok(())
}

#[derive(Default)]
struct Counts {
    ok: AtomicUsize,
    err: AtomicUsize,
    push_err: AtomicUsize,
    push_nothing: AtomicUsize,
    push_some: AtomicUsize,
    pull_ok: AtomicUsize,
    pull_err: AtomicUsize,
    too_large: AtomicUsize,
    long_page: AtomicUsize,
}

#[test]
fn every_malformed_answer_is_ok_or_a_typed_error_and_a_failed_sync_changes_nothing() {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = rt.block_on(Fake::start());
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 256,
        ..Config::default()
    });
    let counts = Counts::default();
    let result = runner.run(&answer(), |a| {
        fake.answer_with(a.bytes());
        rt.block_on(async {
            transport_calls(&fake, a.expect, &counts).await?;
            push_check(&fake, &counts).await?;
            pull_check(&fake, &counts).await
        })
    });
    if let Err(e) = result {
        panic!("{e}\nreplay: PROPTEST_RNG_SEED={seed} cargo test --test malformed_answers");
    }
    let n = |a: &AtomicUsize| a.load(Ordering::Relaxed);
    println!(
        "malformed answers: {cases} cases (seed {seed}, {} requests served): transport calls {} \
         Ok / {} typed errors, none panicked or hung; pushes: {} failed, {} achieved nothing, \
         {} achieved something — store unchanged wherever nothing was achieved; pulls: {} \
         failed with the store unchanged, {} succeeded; {} calls refused a body over the \
         limit, {} pulls a page longer than asked for ({:.1} s)",
        fake.requests.load(Ordering::Relaxed),
        n(&counts.ok),
        n(&counts.err),
        n(&counts.push_err),
        n(&counts.push_nothing),
        n(&counts.push_some),
        n(&counts.pull_err),
        n(&counts.pull_ok),
        n(&counts.too_large),
        n(&counts.long_page),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_answered_with_the_row_as_it_was_stays_deleted() {
    let fake = Fake::start().await;
    let ctx = device(&fake).await;
    seed_synced(&ctx);
    let items = ctx.table::<Item>().await.expect("table");
    items.delete("s2").await.expect("delete");
    // A server that deletes hard may answer with the row as it was, not marked deleted.
    fake.answer_with(
        Answer {
            status: 200,
            reason: "OK".into(),
            headers: vec![("etag".into(), "\"v1\"".into())],
            body: good_row("s2", "v1", "2026-01-01T00:00:00.000Z")
                .to_string()
                .into_bytes(),
            framing: Framing::Exact,
            expect: Expect::Any,
        }
        .bytes(),
    );
    let report = ctx.push().await.expect("push");
    assert_eq!(report.pushed, 1);
    assert_eq!(ctx.pending_count().await.expect("pending"), 0);
    assert_eq!(
        items.get("s2").await.expect("get"),
        None,
        "the delete was undone"
    );
}

/// One case of a server that always says more rows follow.
#[derive(Debug, Clone)]
struct Endless {
    page_size: u32,
    max_pages: usize,
    /// The page (from 0) answered with junk instead, if any.
    broken: Option<usize>,
}

fn endless() -> impl Strategy<Value = Endless> {
    (1u32..=8, 1usize..=6, prop::option::of(0usize..8)).prop_map(
        |(page_size, max_pages, broken)| Endless {
            page_size,
            max_pages,
            broken,
        },
    )
}

/// The `n`th row the endless server hands out, each after the one before.
fn endless_row(n: usize) -> Json {
    let at = format!(
        "2026-11-21T12:{:02}:{:02}.{:03}Z",
        n / 60_000,
        n / 1000 % 60,
        n % 1000
    );
    good_row(&format!("e{n:05}"), "v1", &at)
}

/// A pull from a server whose every page is full: it ends at the bound with every
/// page stored, or at a broken page with the pages before it stored.
async fn endless_check(fake: &Fake, case: &Endless) -> Result<(), TestCaseError> {
    let (size, broken) = (case.page_size as usize, case.broken);
    let mut page = 0;
    fake.generate_with(move || {
        let (k, body) = (
            page,
            if Some(page) == broken {
                b"<html>oops</html>".to_vec()
            } else {
                let rows = (page * size..(page + 1) * size).map(endless_row).collect();
                Json::Array(rows).to_string().into_bytes()
            },
        );
        page = k + 1;
        Answer {
            status: 200,
            reason: "OK".into(),
            headers: json_headers(),
            body,
            framing: Framing::Exact,
            expect: Expect::Any,
        }
        .bytes()
    });
    let ctx = SyncContext::with_options(
        SqliteStore::open_in_memory().expect("store"),
        // Pages, one request each: every request is a page (no discovery first).
        fake.transport_paged(),
        SyncOptions {
            page_size: case.page_size,
            ..SyncOptions::default()
        }
        .max_pull_pages(case.max_pages),
    );
    let items = ctx.table::<Item>().await.expect("register Item");
    let before = fake.requests.load(Ordering::Relaxed);
    let pulled = bounded("endless pull", items.pull("all", None)).await?;
    let requested = fake.requests.load(Ordering::Relaxed) - before;
    let stored_pages = match (pulled, case.broken) {
        (Err(SyncError::Transport { source, .. }), Some(b)) if b < case.max_pages => {
            prop_assert!(
                matches!(source, TransportError::Malformed { .. }),
                "{source}"
            );
            prop_assert_eq!(requested, b + 1, "pages asked for");
            b
        }
        (
            Err(SyncError::PullLimit {
                pages, received, ..
            }),
            _,
        ) => {
            prop_assert_eq!((pages, received), (case.max_pages, case.max_pages * size));
            prop_assert_eq!(
                requested,
                case.max_pages,
                "no page asked for past the bound"
            );
            case.max_pages
        }
        (other, _) => {
            return Err(TestCaseError::fail(format!(
                "an endless pull ended with {other:?}"
            )));
        }
    };
    // Every page received before the end is stored, with its watermark.
    let after = snapshot(ctx.store());
    let ids: Vec<&str> = after.rows.iter().filter_map(Record::id).collect();
    let want: Vec<String> = (0..stored_pages * size)
        .map(|n| format!("e{n:05}"))
        .collect();
    prop_assert_eq!(ids, want.iter().map(String::as_str).collect::<Vec<_>>());
    prop_assert_eq!(
        after.watermark.map(|w| w.id),
        want.last().cloned(),
        "the watermark is the last stored row's"
    );
    Ok(())
}

#[test]
fn a_server_always_saying_more_follow_ends_a_pull_at_the_bound_with_every_page_stored() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = rt.block_on(Fake::start());
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 64,
        ..Config::default()
    });
    let result = runner.run(&endless(), |case| rt.block_on(endless_check(&fake, &case)));
    if let Err(e) = result {
        panic!("{e}\nreplay: PROPTEST_RNG_SEED={seed} cargo test --test malformed_answers");
    }
}

// ---------------------------------------------------------------------------------
// Streamed pulls: a server that offers streams and answers each stream request with a
// generated body of newline-delimited JSON.

/// The discovery answer of a server offering streams.
fn discovery_answer() -> Vec<u8> {
    let body = json!({"extension": "tablesync", "version": 1, "max_page_size": 1000,
        "max_body": 1048576, "stream": {"max_rows": 1000}})
    .to_string();
    Answer {
        status: 200,
        reason: "OK".into(),
        headers: json_headers(),
        body: body.into_bytes(),
        framing: Framing::Exact,
        expect: Expect::Any,
    }
    .bytes()
}

/// One generated stream answer. Rows that may be stored have ids `s…`, in order after
/// every row of the answers before; rows that must never be stored have ids that say
/// why: `cut…` (its line is cut by the end of the body) and `late…` (after a line
/// that ends the answer).
fn stream_answer(rng: &mut fastrand::Rng, next: &mut usize) -> Vec<u8> {
    let mut body = Vec::new();
    let row = |rng: &mut fastrand::Rng, next: &mut usize| {
        *next += 1 + rng.usize(0..3);
        let n = *next;
        let at = format!(
            "2026-11-21T12:{:02}:{:02}.{:03}Z",
            n / 60_000,
            n / 1000 % 60,
            n % 1000
        );
        good_row(&format!("s{n:05}"), "v1", &at).to_string()
    };
    let (mut ended, mut rows) = (false, 0);
    for _ in 0..rng.usize(0..12) {
        let line = match rng.u8(0..20) {
            0..=11 => {
                rows += 1;
                row(rng, next)
            }
            // Behind the row before it in this answer: out of order.
            14 if rows > 0 => good_row("s00000", "v1", "2020-01-01T00:00:00.000Z").to_string(),
            14 => continue,
            12 => "{\"id\": 5}".into(),
            13 => "not json at all".into(),
            15 => "{\"@end\": {\"more\": \"maybe\"}}".into(),
            16 => {
                let status = [500, 503, 400, 401][rng.usize(0..4)];
                json!({"@error": {"status": status, "message": "failed midway"}}).to_string()
            }
            17 => format!("{{\"@end\":{{\"more\":{}}}}}", rng.bool()),
            18 => String::new(),
            _ => "[1,2,3]".into(),
        };
        let ends = line.starts_with("{\"@") || (line != row_like(&line));
        body.extend_from_slice(line.as_bytes());
        body.push(b'\n');
        if ends && !line.is_empty() {
            ended = true;
            break;
        }
    }
    if ended {
        // Whatever follows the line that ended the answer is never read as rows.
        body.extend_from_slice(
            good_row("late1", "v1", "2026-11-21T13:00:00.000Z")
                .to_string()
                .as_bytes(),
        );
        body.push(b'\n');
    } else {
        match rng.u8(0..4) {
            0 => body.extend_from_slice(b"{\"@end\":{\"more\":false}}\n"),
            1 => body.extend_from_slice(b"{\"@end\":{\"more\":true}}\n"),
            // A row cut in its middle, and nothing after.
            2 => {
                let cut = good_row("cut1", "v1", "2026-11-21T13:00:00.000Z").to_string();
                body.extend_from_slice(&cut.as_bytes()[..cut.len() / 2]);
            }
            // The body just stops after a whole line.
            _ => {}
        }
    }
    let (status, framing) = match rng.u8(0..10) {
        0 => (503, Framing::Exact),
        1 => (200, Framing::Short),
        2 => (200, Framing::UntilClose),
        _ => (200, Framing::Exact),
    };
    Answer {
        status,
        reason: "X".into(),
        headers: vec![("content-type".into(), "application/x-ndjson".into())],
        body,
        framing,
        expect: Expect::Any,
    }
    .bytes()
}

/// A line that is a good row of the stream (ids `s…` after the previous), else not.
fn row_like(line: &str) -> String {
    match serde_json::from_str::<Json>(line) {
        Ok(v)
            if v["id"]
                .as_str()
                .is_some_and(|id| id.starts_with('s') && id != "s00000") =>
        {
            line.to_owned()
        }
        _ => String::new(),
    }
}

/// Every stream answer, however broken, ends a pull in `Ok` or a typed error within the
/// time limit; what is stored is only rows of complete, well-formed lines, in order,
/// with the watermark of the last one, and never a row after the line that ended its
/// answer or a row cut short.
#[test]
fn every_broken_stream_ends_a_pull_cleanly_storing_only_whole_rows_in_order() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = rt.block_on(Fake::start());
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut ok, mut failed, mut stored_rows, mut answers) = (0, 0, 0, 0);
    for case in 0..128 {
        let case_seed = rng.u64(..);
        let sent = Arc::new(AtomicUsize::new(0));
        let s = Arc::clone(&sent);
        let mut first = true;
        let mut crng = fastrand::Rng::with_seed(case_seed);
        let mut next = 0usize;
        fake.generate_with(move || {
            if std::mem::take(&mut first) {
                return discovery_answer();
            }
            s.fetch_add(1, Ordering::Relaxed);
            stream_answer(&mut crng, &mut next)
        });
        let replay = format!(
            "case {case}, replay: PROPTEST_RNG_SEED={seed} cargo test --test malformed_answers"
        );
        let result = rt.block_on(async {
            let ctx = SyncContext::with_options(
                SqliteStore::open_in_memory().expect("store"),
                fake.builder()
                    .stream_page_rows(3)
                    .build()
                    .expect("transport"),
                SyncOptions::default().max_pull_pages(40),
            );
            let items = ctx.table::<Item>().await.expect("register Item");
            let pulled = bounded("streamed pull", items.pull("all", None))
                .await
                .unwrap_or_else(|e| panic!("{e}; {replay}"));
            (pulled.map(|_| ()), snapshot(ctx.store()))
        });
        answers += sent.load(Ordering::Relaxed);
        match &result.0 {
            Ok(()) => ok += 1,
            Err(SyncError::Transport { .. } | SyncError::PullLimit { .. }) => failed += 1,
            Err(other) => panic!("an untyped end: {other:?}; {replay}"),
        }
        let after = result.1;
        let ids: Vec<&str> = after.rows.iter().filter_map(Record::id).collect();
        assert!(
            ids.iter().all(|id| id.starts_with('s') && *id != "s00000"),
            "only whole, well-formed rows in order are stored: {ids:?}; {replay}"
        );
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "no row twice; {replay}");
        assert_eq!(
            after.watermark.map(|w| w.id),
            sorted.last().map(|s| s.to_string()),
            "the watermark is the last stored row's; {replay}"
        );
        stored_rows += ids.len();
    }
    println!(
        "128 broken stream cases, {answers} stream answers: {ok} pulls ended Ok, {failed} with a typed error; {stored_rows} rows stored, all whole and in order"
    );
    assert!(
        ok > 0 && failed > 0,
        "both ends seen: {ok} ok, {failed} failed"
    );
}

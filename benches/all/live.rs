//! Propagation: from one device's `insert` returning to the other devices' live view
//! seeing the row, with 1, 10 and 100 devices on one server (in process, SQLite in
//! memory, loopback), every device driven by its own background syncer: over the
//! server's change feed, and over polling (every 250 ms).
//!
//! A device "sees" the row when its `SyncContext::changes()` reports the pulled row
//! (what a `watch` wakes on). The writer pushes at once (no debounce); the watchers
//! run the default options (a poke's table is pulled 2 ms after it; the server pokes
//! one feed at most every 10 ms). Samples go one at a time, with
//! a random pause between them so that polls and inserts do not fall into step.
//!
//! Ceiling: the same run's bare loopback round trip (one reqwest GET of one row),
//! the least any propagation could take (it needs a write and a read).
//!
//! Then a server in a process of its own holds 1,000 idle feeds: its resident memory
//! next to the same process's before the feeds (target: under 100 MiB).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sync_http::HttpTransport;
use tablesync::engine::{ChangeCause, SyncContext, Syncer, SyncerOptions};
use tablesync::{SqliteStore, Syncable};
use tokio::time::Instant;

use crate::push::ServerProcess;
use crate::report::{Report, Row};
use crate::rows::PUSH_TABLE;
use crate::servers::{Server, runtime};
use crate::settings::Settings;

#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("BenchLive")]
struct LiveItem {
    id: String,
    text: String,
    #[version]
    version: Option<String>,
}

type Ctx = SyncContext<SqliteStore, HttpTransport>;

fn device(url: &str) -> Ctx {
    let store = SqliteStore::open_in_memory().expect("a device's store");
    let transport = HttpTransport::new(url).expect("a device's transport");
    SyncContext::new(store, transport)
}

pub fn run(settings: &Settings) -> Report {
    let mut report = Report::new(
        "live: one device's insert to other devices' change notification, loopback, server in process (SQLite in memory)",
    );
    let server = Server::sqlite(None);
    let rt = runtime(2);
    let (bare_p50, bare_p99) = rt.block_on(bare_round_trip(&server.url));
    let ceiling = format!("bare GET: p50 {bare_p50:.2} / p99 {bare_p99:.2} ms");
    for (mode, use_feed) in [("feed", true), ("polling every 250 ms", false)] {
        for devices in [1usize, 10, 100] {
            let samples = settings.n(if devices == 100 { 30 } else { 60 }).max(5);
            let result = rt.block_on(propagation(&server.url, devices, use_feed, samples));
            match result {
                Err(e) => report.note(format!("live, {mode}, {devices} devices: {e}")),
                Ok(Measured {
                    mut latencies,
                    feed,
                    busy_cores,
                }) => {
                    latencies.sort_by(f64::total_cmp);
                    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
                    let (p50, p99) = (p(0.5), p(0.99));
                    let case = format!(
                        "{devices} device(s), {}{}",
                        mode,
                        if use_feed && !feed {
                            " (server has no feed: polled)"
                        } else {
                            ""
                        }
                    );
                    let target = use_feed && devices == 100;
                    let met = p50 <= 10.0 && p99 <= 50.0;
                    report.row(Row::text(
                        "live",
                        &case,
                        format!("p50 {p50:.1} / p99 {p99:.1} ms"),
                        ceiling.clone(),
                        if target {
                            format!(
                                "<= 10 / 50 ms {}; {busy_cores:.1} cores busy",
                                if met { "met" } else { "MISSED" }
                            )
                        } else {
                            format!("{} samples, {busy_cores:.1} cores busy", latencies.len())
                        },
                    ));
                }
            }
        }
    }
    server.stop();
    report.note(
        "live: latency = from the writer's insert returning to each watcher's change notification of the pulled row",
    );
    idle_feeds(settings, &mut report);
    report
}

/// The resident memory of a server process holding 1,000 idle feeds open, next to the
/// same process before it had any.
fn idle_feeds(settings: &Settings, report: &mut Report) {
    const FEEDS: usize = 1000;
    let dir = settings.server_tempdir();
    let server = ServerProcess::start(&dir.path().join("feeds.db"), 10);
    let rt = runtime(2);
    let before = rss_kib(server.pid());
    let opened = rt.block_on(open_feeds(&server.url, FEEDS));
    // Let the server settle (each feed's first write, the heartbeat timers).
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(server.pid());
    match (opened, before, after) {
        (Ok(feeds), Some(before), Some(after)) => {
            report.row(Row::memory(
                "live",
                &format!(
                    "server RSS with {} idle feeds (idle server beside it)",
                    feeds.len()
                ),
                after,
                before,
                100.0,
            ));
            drop(feeds);
        }
        (Err(e), _, _) => report.note(format!("live, idle feeds: {e}")),
        _ => report.note("live, idle feeds: cannot read the server's /proc status"),
    }
    server.stop();
}

/// Opens `n` feeds on raw connections and waits until each said it is open.
async fn open_feeds(url: &str, n: usize) -> Result<Vec<tokio::net::TcpStream>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://").to_owned();
    let request = format!(
        "GET /tablesync/v1/feed?tables={PUSH_TABLE} HTTP/1.1\r\nhost: {addr}\r\n\
         zumo-api-version: 2.0.0\r\naccept: text/event-stream\r\n\r\n"
    );
    let mut feeds = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("feed {i}: connect: {e}"))?;
        s.write_all(request.as_bytes())
            .await
            .map_err(|e| format!("feed {i}: send: {e}"))?;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).contains(": tablesync feed") {
            let read = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                .await
                .map_err(|_| format!("feed {i}: no answer within 10 s"))?
                .map_err(|e| format!("feed {i}: read: {e}"))?;
            if read == 0 {
                return Err(format!(
                    "feed {i}: closed: {}",
                    String::from_utf8_lossy(&got).lines().next().unwrap_or("")
                ));
            }
            got.extend_from_slice(&buf[..read]);
        }
        feeds.push(s);
    }
    Ok(feeds)
}

/// A process's resident memory now, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    crate::child::status_kib(&pid.to_string(), "VmRSS")
}

/// p50 and p99 of one bare GET, in ms.
async fn bare_round_trip(url: &str) -> (f64, f64) {
    let client = reqwest::Client::new();
    let get = format!("{url}/tables/BenchLive?$top=1");
    let mut times = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let answer = client
            .get(&get)
            .header("ZUMO-API-VERSION", "2.0.0")
            .send()
            .await;
        if let Ok(a) = answer {
            let _ = a.bytes().await;
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (times[100], times[198])
}

struct Measured {
    /// One figure per watcher per sample, in ms.
    latencies: Vec<f64>,
    /// Whether every watcher was on the feed.
    feed: bool,
    /// Cores the process (server and every device) kept busy while rows propagated:
    /// near the machine's 2, the devices wait for CPU, not for the network.
    busy_cores: f64,
}

/// The CPU time this process has used, every thread.
fn cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) } == 0;
    if !ok {
        return Duration::ZERO;
    }
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

async fn propagation(
    url: &str,
    devices: usize,
    use_feed: bool,
    samples: usize,
) -> Result<Measured, String> {
    let writer = device(url);
    let items = writer
        .table::<LiveItem>()
        .await
        .map_err(|e| e.to_string())?;
    let _writer_syncer = writer.spawn_syncer(SyncerOptions {
        push_debounce: Duration::ZERO,
        poll_interval: Duration::from_secs(3600),
        use_feed: false,
        ..SyncerOptions::default()
    });
    let seen: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
    let mut watchers: Vec<(Ctx, Syncer)> = Vec::new();
    let mut listeners = tokio::task::JoinSet::new();
    for _ in 0..devices {
        let ctx = device(url);
        let table = ctx.table::<LiveItem>().await.map_err(|e| e.to_string())?;
        table
            .register_pull("all", None)
            .await
            .map_err(|e| e.to_string())?;
        let mut changes = ctx.changes();
        let seen = Arc::clone(&seen);
        listeners.spawn(async move {
            while let Ok(change) = changes.recv().await {
                if change.cause != ChangeCause::Pull {
                    continue;
                }
                let now = Instant::now();
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                for id in change.ids {
                    seen.entry(id).or_default().push(now);
                }
            }
        });
        let syncer = ctx.spawn_syncer(SyncerOptions {
            poll_interval: Duration::from_millis(250),
            use_feed,
            ..SyncerOptions::default()
        });
        watchers.push((ctx, syncer));
    }
    // Every watcher has pulled once (and is on the feed, when there is one).
    let settle = Instant::now() + Duration::from_secs(30);
    let mut feed = use_feed;
    for (_, syncer) in &watchers {
        let mut status = syncer.status();
        let ready = tokio::time::timeout_at(settle, status.wait_for(|s| s.last_success.is_some()))
            .await
            .is_ok();
        if !ready {
            return Err("a watcher never finished its first pull within 30 s".into());
        }
        if use_feed {
            tokio::time::sleep(Duration::from_millis(50)).await;
            feed &= status.borrow().feed_connected;
        }
    }
    let mut rng = fastrand::Rng::with_seed(42);
    let mut latencies = Vec::with_capacity(samples * devices);
    let (mut busy, mut waited) = (Duration::ZERO, Duration::ZERO);
    for k in 0..samples {
        let cpu_before = cpu_time();
        let id = format!("live-{devices}-{use_feed}-{k}");
        items
            .insert(LiveItem {
                id: id.clone(),
                text: "x".into(),
                version: None,
            })
            .await
            .map_err(|e| e.to_string())?;
        let written = Instant::now();
        let deadline = written + Duration::from_secs(10);
        loop {
            let got = seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&id)
                .map_or(0, Vec::len);
            if got >= devices {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{got} of {devices} watchers saw {id} within 10 s"));
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        busy += cpu_time().saturating_sub(cpu_before);
        waited += written.elapsed();
        let seen_at = seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
            .unwrap_or_default();
        latencies.extend(
            seen_at
                .iter()
                .map(|t| t.saturating_duration_since(written).as_secs_f64() * 1000.0),
        );
        tokio::time::sleep(Duration::from_millis(rng.u64(5..40))).await;
    }
    for (_, syncer) in watchers {
        syncer.stop().await;
    }
    listeners.abort_all();
    Ok(Measured {
        latencies,
        feed,
        busy_cores: busy.as_secs_f64() / waited.as_secs_f64().max(1e-9),
    })
}

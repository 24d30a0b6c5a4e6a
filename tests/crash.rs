//! Crash test: a sync client SIGKILLed at random moments loses nothing and applies
//! nothing twice.
//!
//! The parent runs a tablesync server (SQLite backend) on 127.0.0.1 and re-executes
//! this binary as a client process that owns a `SqliteStore` file. The client loops
//! through three phases — a burst of local writes, a push (with a few local edits made
//! while the push is in flight), a pull in small pages — announcing each phase on
//! stdout and acknowledging each committed local write. The parent kills it:
//!
//! - during local writes: a few milliseconds after the write phase starts;
//! - during a push, after the server applied a write but before the client stored the
//!   answer: a layer around the server's router tells the parent that it applied one of
//!   the client's writes and holds the answer back until the client is dead;
//! - during a pull: on a page request (or the streamed pull's one request), either
//!   holding the answer back or letting it go and killing while the client stores it
//!   (a streamed pull is stored in pages of five rows, so a kill lands between them).
//!
//! Two rounds of three speak the `tablesync` extension (batch push, streamed pull),
//! the third the table protocol alone (one request per write, pages). One round in
//! four has no phases: the client only writes, in bursts, while a background syncer
//! (`spawn_syncer`) pushes and pulls by itself; it is killed after a write the server
//! applied, on a page, or at a random moment.
//!
//! After each kill the parent reopens the file, checks that every acknowledged write
//! is still there, syncs it clean (push until the queue is empty, conflicts resolved by
//! keep local, then pull) and checks: the client's rows equal the server's; every
//! acknowledged write is on the server or superseded by a later write to that item;
//! no write reached the server twice (each write carries a unique stamp, and the layer
//! counts the stamps of the writes the server applied).
//!
//! Runs without the test harness: the same binary is the parent (no environment
//! variable) or the client (`TABLESYNC_CRASH_CHILD` names the database file).
//! `TABLESYNC_CRASH_SEED=S` replays the parent's choices of one run (kill timing still
//! races the client, as a crash does).

mod common;
mod support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use common::Item;
use support::server::{Applied, CountingServer, applied_write};
use sync_http::HttpTransport;
use tablesync::engine::{SyncContext, SyncError, SyncOptions, SyncTable, SyncerOptions};
use tablesync::{SqliteStore, Syncable};
use tokio::sync::{mpsc, oneshot};

const CHILD_DB: &str = "TABLESYNC_CRASH_CHILD";
const CHILD_URL: &str = "TABLESYNC_CRASH_URL";
const CHILD_ROUND: &str = "TABLESYNC_CRASH_ROUND";
const SEED_ENV: &str = "TABLESYNC_CRASH_SEED";
/// Marks the client's requests, so that only they trigger kills.
const CLIENT_HEADER: &str = "x-crash-client";
const KILLS: usize = 102;
/// The client stops by itself after this, should the parent be gone.
const CHILD_LIFETIME: Duration = Duration::from_secs(30);
/// How long the server holds back an answer the parent kills the client for.
const HOLD: Duration = Duration::from_millis(150);
/// The longest the parent waits for the moment it wants to kill at.
const MOMENT_TIMEOUT: Duration = Duration::from_secs(10);

type Client = SyncContext<SqliteStore, HttpTransport>;

const NAME: &str = "sigkill_at_every_sync_phase_loses_nothing_and_applies_nothing_twice";

fn main() {
    if let Some(db) = std::env::var_os(CHILD_DB) {
        child(Path::new(&db));
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("{NAME}: test");
        return;
    }
    // Like the harness: a name filter that does not match, or a matching `--skip`,
    // leaves the test out.
    let (mut filters, mut skipped) = (Vec::new(), false);
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--skip" => skipped |= rest.next().is_some_and(|s| NAME.contains(s.as_str())),
            "--test-threads" | "--color" | "--format" | "--logfile" | "-Z" => {
                rest.next();
            }
            f if !f.starts_with('-') => filters.push(f),
            _ => {}
        }
    }
    if skipped || !(filters.is_empty() || filters.iter().any(|f| NAME.contains(f))) {
        println!("test {NAME} ... filtered out");
        return;
    }
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let figures = rt.block_on(sigkill_at_every_sync_phase());
    println!(
        "test {NAME} ... ok ({figures}, {:.1} s)",
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------
// The client process.

fn child(db: &Path) {
    let url = std::env::var(CHILD_URL).expect("the server's URL");
    let round: u32 = std::env::var(CHILD_ROUND)
        .ok()
        .and_then(|r| r.parse().ok())
        .expect("the round");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("child runtime");
    rt.block_on(async move {
        // Every third round speaks the table protocol alone (pages, one request per
        // write), the others the extension (batches, streamed pulls).
        let ctx = client(db, &url, "child", 5, round % 3 != 2);
        let items = ctx.table::<Item>().await.expect("child registers Item");
        let mut ids: Vec<String> = items
            .all()
            .await
            .expect("child reads its items")
            .into_iter()
            .map(|i| i.id)
            .collect();
        let mut rng = fastrand::Rng::with_seed(u64::from(round) * 7919 + 17);
        let mut n = 0u32;
        let started = Instant::now();
        if syncer_round(round as usize) {
            items
                .register_pull("all", None)
                .await
                .expect("child registers its pull");
            let _syncer = ctx.spawn_syncer(SyncerOptions {
                push_debounce: Duration::from_millis(2),
                poll_interval: Duration::from_millis(30),
                retry_base: Duration::from_millis(20),
                retry_max: Duration::from_millis(200),
                ..SyncerOptions::default()
            });
            say("phase syncer");
            while started.elapsed() < CHILD_LIFETIME {
                for _ in 0..rng.usize(5..30) {
                    write(&items, &mut ids, &mut rng, round, &mut n).await;
                }
                tokio::time::sleep(Duration::from_millis(rng.u64(0..15))).await;
            }
            return;
        }
        while started.elapsed() < CHILD_LIFETIME {
            say("phase write");
            let mut written = Vec::new();
            for _ in 0..rng.usize(20..60) {
                if let Some(id) = write(&items, &mut ids, &mut rng, round, &mut n).await {
                    written.push(id);
                }
            }
            written.retain(|id| ids.contains(id));
            // The first items in the queue are the first in flight.
            written.truncate(4);
            say("phase push");
            // Edits of items while their operation is in flight must survive the push.
            let edits = async {
                for _ in 0..rng.usize(0..6) {
                    tokio::time::sleep(Duration::from_micros(rng.u64(0..1500))).await;
                    update(&items, &written, &mut rng, round, &mut n).await;
                }
            };
            let (report, ()) = tokio::join!(ctx.push(), edits);
            report.expect("child push");
            for c in items.conflicts().await.expect("child lists conflicts") {
                items.keep_local(&c.id).await.expect("child keeps local");
            }
            say("phase pull");
            items.pull("all", None).await.expect("child pull");
        }
    });
}

/// A line on stdout, flushed: only whole lines count for the parent.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("child writes to stdout");
    out.flush().expect("child flushes stdout");
}

/// The stamp of the `n`-th local write of a round: `r<round>w<n>`, so that stamps order
/// as written (the checks tell a later write by its greater stamp).
fn stamp(round: u32, n: &mut u32) -> String {
    *n += 1;
    format!("r{round:04}w{n:06}")
}

async fn write(
    items: &SyncTable<Item, SqliteStore, HttpTransport>,
    ids: &mut Vec<String>,
    rng: &mut fastrand::Rng,
    round: u32,
    n: &mut u32,
) -> Option<String> {
    match rng.u8(0..10) {
        0..=2 => {
            let s = stamp(round, n);
            let id = format!("i-{s}");
            let item = Item {
                id: id.clone(),
                value: rng.i64(0..1000),
                stamp: s.clone(),
                version: None,
            };
            items.insert(item).await.expect("child inserts");
            say(&format!("W {id} {s}"));
            ids.push(id.clone());
            Some(id)
        }
        3..=7 => update(items, ids, rng, round, n).await,
        _ => {
            if ids.is_empty() {
                return None;
            }
            let id = ids.swap_remove(rng.usize(..ids.len()));
            say(&format!("d {id}"));
            items.delete(&id).await.expect("child deletes");
            say(&format!("D {id}"));
            None
        }
    }
}

async fn update(
    items: &SyncTable<Item, SqliteStore, HttpTransport>,
    ids: &[String],
    rng: &mut fastrand::Rng,
    round: u32,
    n: &mut u32,
) -> Option<String> {
    if ids.is_empty() {
        return None;
    }
    let id = &ids[rng.usize(..ids.len())];
    let mut item = items
        .get(id)
        .await
        .expect("child reads an item")
        .expect("the child's items exist");
    item.value = rng.i64(0..1000);
    item.stamp = stamp(round, n);
    items.update(item.clone()).await.expect("child updates");
    say(&format!("W {id} {}", item.stamp));
    Some(id.clone())
}

fn client(db: &Path, url: &str, who: &str, page_size: u32, extensions: bool) -> Client {
    let store = SqliteStore::open(db).expect("open the client's store");
    let transport = HttpTransport::builder(url)
        .timeout(Duration::from_secs(10))
        .header(CLIENT_HEADER, who)
        // A streamed pull is stored in pages of this size too, so a kill can land
        // between two of them.
        .stream_page_rows(page_size)
        .extensions(extensions)
        .build()
        .expect("transport");
    SyncContext::with_options(
        store,
        transport,
        SyncOptions {
            page_size,
            ..SyncOptions::default()
        },
    )
}

// ---------------------------------------------------------------------------------
// The server: a `CountingServer` (it counts the stamps of applied writes), with a layer
// that signals kill moments.

/// When the parent wants to kill the client.
enum Moment {
    /// After the server applied the `skip`+1-th write of the client from now; its
    /// answer is held back.
    ServerApplied,
    /// On the `skip`+1-th page request of the client from now; the page is held back
    /// (`hold`) or sent.
    Page { hold: bool },
}

struct Trigger {
    moment: Moment,
    skip: usize,
    fire: oneshot::Sender<()>,
}

#[derive(Default)]
struct Watch {
    armed: Mutex<Option<Trigger>>,
}

impl Watch {
    fn arm(&self, moment: Moment, skip: usize) -> oneshot::Receiver<()> {
        let (fire, fired) = oneshot::channel();
        *self.armed.lock().expect("armed lock") = Some(Trigger { moment, skip, fire });
        fired
    }

    fn disarm(&self) {
        self.armed.lock().expect("armed lock").take();
    }

    /// Whether this exchange is the armed moment; fires it if so. Returns whether to
    /// hold the answer back.
    fn moment(&self, applied_write: bool, page: bool) -> bool {
        let mut armed = self.armed.lock().expect("armed lock");
        let Some(t) = armed.as_mut() else {
            return false;
        };
        let hold = match t.moment {
            Moment::ServerApplied if applied_write => true,
            Moment::Page { hold } if page => hold,
            _ => return false,
        };
        if t.skip > 0 {
            t.skip -= 1;
            return false;
        }
        let t = armed.take().expect("armed");
        let _ = t.fire.send(());
        hold
    }
}

async fn observe(State(watch): State<Arc<Watch>>, request: Request, next: Next) -> Response {
    let from_child = request
        .headers()
        .get(CLIENT_HEADER)
        .is_some_and(|v| v == "child");
    let method = request.method().clone();
    // A page request, or a streamed pull (which holds every page of the pull).
    let path = request.uri().path();
    let page = method == Method::GET
        && [
            format!("/tables/{}", Item::table_name()),
            format!("/tablesync/v1/stream/{}", Item::table_name()),
        ]
        .iter()
        .any(|p| path.eq_ignore_ascii_case(p));
    // The counting layer inside has counted an applied write by the time it answers.
    let response = next.run(request).await;
    if from_child && watch.moment(applied_write(&method, &response), page) {
        // The server has done its part; the client is killed before it hears of it.
        tokio::time::sleep(HOLD).await;
    }
    response
}

// ---------------------------------------------------------------------------------
// The parent.

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Phase {
    Write,
    Push,
    Pull,
    /// A syncer round: no phases, the syncer pushes and pulls as it likes.
    Syncer,
}

/// Whether this round's client writes under a background syncer.
fn syncer_round(round: usize) -> bool {
    round % 4 == 3
}

/// What the parent knows of an item from the client's acknowledgements.
#[derive(Debug, Clone)]
struct Fate {
    /// The last acknowledged write's stamp, or `None` once deleted.
    last: Option<String>,
    /// A delete was started but not acknowledged before the kill.
    maybe_deleted: bool,
}

#[derive(Default)]
struct Ledger {
    items: HashMap<String, Fate>,
    acked: HashSet<String>,
    acked_writes: usize,
    acked_deletes: usize,
}

impl Ledger {
    fn take(&mut self, line: &str) -> Option<Phase> {
        let mut words = line.split(' ');
        match (words.next(), words.next(), words.next()) {
            (Some("phase"), Some("write"), None) => return Some(Phase::Write),
            (Some("phase"), Some("push"), None) => return Some(Phase::Push),
            (Some("phase"), Some("pull"), None) => return Some(Phase::Pull),
            (Some("phase"), Some("syncer"), None) => return Some(Phase::Syncer),
            (Some("W"), Some(id), Some(stamp)) => {
                self.acked_writes += 1;
                self.acked.insert(stamp.to_owned());
                self.items.insert(
                    id.to_owned(),
                    Fate {
                        last: Some(stamp.to_owned()),
                        maybe_deleted: false,
                    },
                );
            }
            (Some("d"), Some(id), None) => {
                if let Some(f) = self.items.get_mut(id) {
                    f.maybe_deleted = true;
                }
            }
            (Some("D"), Some(id), None) => {
                self.acked_deletes += 1;
                self.items.insert(
                    id.to_owned(),
                    Fate {
                        last: None,
                        maybe_deleted: false,
                    },
                );
            }
            _ => panic!("the client said something unexpected: {line:?}"),
        }
        None
    }
}

/// A running client and the lines it has said so far.
struct Running {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    reader: std::thread::JoinHandle<()>,
}

fn spawn_client(db: &Path, url: &str, round: usize) -> Running {
    let exe = std::env::current_exe().expect("own executable");
    let mut child = Command::new(exe)
        .env(CHILD_DB, db)
        .env(CHILD_URL, url)
        .env(CHILD_ROUND, round.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the client");
    let out = child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::unbounded_channel();
    let reader = std::thread::spawn(move || {
        let mut out = BufReader::new(out);
        let mut line = String::new();
        // Only whole lines count: a kill may cut the last one short.
        while out.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(l) = line.strip_suffix('\n') {
                let _ = tx.send(l.to_owned());
            }
            line.clear();
        }
    });
    Running {
        child,
        lines,
        reader,
    }
}

/// Kills the client when it drops, so that a failing parent leaves no process behind.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Figures {
    kills: HashMap<Phase, usize>,
    /// Rounds whose client ran a background syncer (killed at any of the moments).
    syncer_rounds: usize,
    held_writes: usize,
    held_pages: usize,
    sent_pages: usize,
    acked_writes: usize,
    acked_deletes: usize,
    queued: usize,
    keep_local: usize,
    applied: usize,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let k = |p| self.kills.get(&p).copied().unwrap_or(0);
        write!(
            f,
            "{} kills ({} during local writes, {} during push — {} right after the server \
             applied a write whose answer the client never got —, {} during pull — {} with \
             the page held back, {} while storing a page), {} acknowledged writes and {} \
             acknowledged deletes checked, {} writes applied by the server, none twice; \
             recovery delivered {} operations the kills left queued and kept local in {} conflicts; \
             {} rounds under a background syncer ({} killed at a random moment)",
            k(Phase::Write) + k(Phase::Push) + k(Phase::Pull) + k(Phase::Syncer),
            k(Phase::Write),
            k(Phase::Push),
            self.held_writes,
            k(Phase::Pull),
            self.held_pages,
            self.sent_pages,
            self.acked_writes,
            self.acked_deletes,
            self.applied,
            self.queued,
            self.keep_local,
            self.syncer_rounds,
            k(Phase::Syncer),
        )
    }
}

async fn sigkill_at_every_sync_phase() -> Figures {
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("crash test seed {seed} (replay the parent's choices: {SEED_ENV}={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let watch = Arc::new(Watch::default());
    let config = sync_server::Config::open("sqlite::memory:")
        .await
        .expect("server database");
    let server = CountingServer::start_with(config, |app| {
        app.layer(from_fn_with_state(Arc::clone(&watch), observe))
    })
    .await;
    let url = server.url.clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("client.db");
    let mut ledger = Ledger::default();
    let mut figures = Figures {
        kills: HashMap::new(),
        syncer_rounds: 0,
        held_writes: 0,
        held_pages: 0,
        sent_pages: 0,
        acked_writes: 0,
        acked_deletes: 0,
        queued: 0,
        keep_local: 0,
        applied: 0,
    };
    // An observer that follows the server incrementally, and from scratch now and then.
    let observer = SyncContext::new(
        SqliteStore::open_in_memory().expect("observer store"),
        HttpTransport::new(&url).expect("observer transport"),
    );
    let seen = observer.table::<Item>().await.expect("observer table");
    for round in 0..KILLS {
        let target = match round % 3 {
            0 => Phase::Write,
            1 => Phase::Push,
            _ => Phase::Pull,
        };
        let phase = kill_one(&db, &url, round, target, &watch, &mut rng, &mut ledger).await;
        if syncer_round(round) {
            figures.syncer_rounds += 1;
        }
        match phase {
            Killed::During(p) => *figures.kills.entry(p).or_default() += 1,
            Killed::AfterServerWrite => {
                *figures.kills.entry(Phase::Push).or_default() += 1;
                figures.held_writes += 1;
            }
            Killed::OnPage { held } => {
                *figures.kills.entry(Phase::Pull).or_default() += 1;
                if held {
                    figures.held_pages += 1;
                } else {
                    figures.sent_pages += 1;
                }
            }
        }
        let recovered =
            recover_and_check(&db, &url, &mut ledger, &server.applied, &seen, round).await;
        figures.queued += recovered.queued;
        figures.keep_local += recovered.keep_local;
        if round % 10 == 9 || round + 1 == KILLS {
            check_fresh_pull(&url, &seen, round).await;
        }
    }
    let applied = Arc::clone(&server.applied);
    server.shutdown().await;
    figures.acked_writes = ledger.acked_writes;
    figures.acked_deletes = ledger.acked_deletes;
    figures.applied = applied.stamps().len();
    let k = |p| figures.kills.get(&p).copied().unwrap_or(0);
    for p in [Phase::Write, Phase::Push, Phase::Pull] {
        assert!(k(p) >= KILLS / 5, "too few kills during {p:?}: {}", k(p));
    }
    assert!(
        figures.held_writes >= KILLS / 5,
        "too few kills between a server write and its answer"
    );
    figures
}

enum Killed {
    During(Phase),
    AfterServerWrite,
    OnPage { held: bool },
}

/// Runs one client and kills it at a moment of the target phase; reads what it said.
async fn kill_one(
    db: &Path,
    url: &str,
    round: usize,
    target: Phase,
    watch: &Watch,
    rng: &mut fastrand::Rng,
    ledger: &mut Ledger,
) -> Killed {
    let Running {
        child,
        mut lines,
        reader,
    } = spawn_client(db, url, round);
    let mut child = KillOnDrop(Some(child));
    let mut last_phase = None;
    let mut said = Vec::new();
    let deadline = tokio::time::Instant::now() + MOMENT_TIMEOUT;
    let mut killed = match target {
        // A syncer round's "write" kill: any moment of its run.
        Phase::Write | Phase::Syncer if syncer_round(round) => {
            let line = tokio::time::timeout_at(deadline, lines.recv())
                .await
                .unwrap_or_else(|_| panic!("round {round}: the client never started"))
                .unwrap_or_else(|| panic!("round {round}: the client died by itself"));
            said.push(line);
            tokio::time::sleep(Duration::from_micros(rng.u64(0..300_000))).await;
            None
        }
        Phase::Write | Phase::Syncer => {
            // The first or second write phase, a few milliseconds in.
            let nth = rng.usize(1..=2);
            let mut starts = 0;
            while starts < nth {
                let line = tokio::time::timeout_at(deadline, lines.recv())
                    .await
                    .unwrap_or_else(|_| panic!("round {round}: the client never started writing"))
                    .unwrap_or_else(|| panic!("round {round}: the client died by itself"));
                if line == "phase write" {
                    starts += 1;
                }
                said.push(line);
            }
            tokio::time::sleep(Duration::from_micros(rng.u64(0..8000))).await;
            None
        }
        Phase::Push => {
            let fired = watch.arm(Moment::ServerApplied, rng.usize(0..4));
            wait_for(fired, deadline, round, "a write of the client").await;
            // The answer is held back: give the client a moment to edit the item.
            tokio::time::sleep(Duration::from_micros(rng.u64(0..4000))).await;
            Some(Killed::AfterServerWrite)
        }
        Phase::Pull => {
            let hold = rng.bool();
            let fired = watch.arm(Moment::Page { hold }, rng.usize(0..4));
            wait_for(fired, deadline, round, "a page request of the client").await;
            if !hold {
                // The page is on its way: kill while the client stores it (or just after).
                tokio::time::sleep(Duration::from_micros(rng.u64(0..3000))).await;
            }
            Some(Killed::OnPage { held: hold })
        }
    };
    let mut c = child.0.take().expect("the child");
    c.kill().expect("SIGKILL the client");
    let status = c.wait().expect("reap the client");
    watch.disarm();
    assert!(
        !status.success(),
        "round {round}: the client ended by itself ({status})"
    );
    drop(child);
    reader.join().expect("reader thread");
    while let Some(line) = lines.recv().await {
        said.push(line);
    }
    for line in &said {
        if let Some(p) = ledger.take(line) {
            last_phase = Some(p);
        }
    }
    let last_phase = last_phase.unwrap_or_else(|| panic!("round {round}: the client never began"));
    // The phase the client was in is the last one it announced.
    // (A server write can also come from the push a pull starts with: still a push.)
    match killed {
        // A syncer announces no phases.
        _ if last_phase == Phase::Syncer => {}
        Some(Killed::OnPage { held: true }) => assert_eq!(last_phase, Phase::Pull, "round {round}"),
        // The page went out before the kill: the client may have finished the pull
        // and gone on; the phase it announced last is where the kill landed.
        Some(Killed::OnPage { held: false }) if last_phase != Phase::Pull => {
            killed = Some(Killed::During(last_phase));
        }
        _ => {}
    }
    killed.get_or_insert(Killed::During(last_phase));
    killed.expect("set")
}

async fn wait_for(
    fired: oneshot::Receiver<()>,
    deadline: tokio::time::Instant,
    round: usize,
    what: &str,
) {
    match tokio::time::timeout_at(deadline, fired).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => panic!("round {round}: the trigger for {what} was dropped"),
        Err(_) => panic!("round {round}: {what} never came within {MOMENT_TIMEOUT:?}"),
    }
}

struct Recovered {
    /// Operations the kill left queued.
    queued: usize,
    keep_local: usize,
}

/// Reopens the killed client's file, checks that the acknowledged writes survived,
/// syncs it clean and checks it against the server.
async fn recover_and_check(
    db: &Path,
    url: &str,
    ledger: &mut Ledger,
    applied: &Applied,
    seen: &SyncTable<Item, SqliteStore, HttpTransport>,
    round: usize,
) -> Recovered {
    let ctx = client(db, url, "recovery", 50, true);
    let items = ctx.table::<Item>().await.expect("recovery registers Item");
    // 1. Every acknowledged write survived the kill.
    let local: HashMap<String, Item> = items
        .all()
        .await
        .expect("read after the kill")
        .into_iter()
        .map(|i| (i.id.clone(), i))
        .collect();
    check_fates(ledger, &local, round, "the local store after the kill");
    // 2. A clean sync.
    let mut recovered = Recovered {
        queued: ctx.pending_count().await.expect("pending after the kill"),
        keep_local: 0,
    };
    let mut clean = false;
    for _ in 0..10 {
        for c in items.conflicts().await.expect("conflicts") {
            items.keep_local(&c.id).await.unwrap_or_else(|e| {
                panic!("round {round}: keep local {}: {e}", c.id);
            });
            recovered.keep_local += 1;
        }
        let report = ctx.push().await.expect("recovery push");
        assert!(
            report.failed.is_empty(),
            "round {round}: rejected operations {:?}",
            report.failed
        );
        if ctx.pending_count().await.expect("pending") == 0
            && items.conflicts().await.expect("conflicts").is_empty()
        {
            clean = true;
            break;
        }
    }
    assert!(clean, "round {round}: the queue did not empty in 10 pushes");
    match items.pull("all", None).await {
        Ok(_) => {}
        Err(SyncError::PushIncomplete { .. }) => panic!("round {round}: push incomplete"),
        Err(e) => panic!("round {round}: recovery pull: {e}"),
    }
    // 3. The client equals the server.
    seen.pull("all", None).await.expect("observer pull");
    let mine = items.all().await.expect("client rows");
    let server = seen.all().await.expect("server rows");
    assert_eq!(mine.len(), server.len(), "round {round}: row counts differ");
    assert_eq!(
        mine, server,
        "round {round}: the client differs from the server"
    );
    // 4. Every acknowledged write is on the server or superseded.
    let server: HashMap<String, Item> = server.into_iter().map(|i| (i.id.clone(), i)).collect();
    check_fates(ledger, &server, round, "the server");
    for (id, f) in &mut ledger.items {
        // An unacknowledged delete is settled now: the server tells.
        if f.maybe_deleted && !server.contains_key(id) {
            f.last = None;
        }
        f.maybe_deleted = false;
    }
    // 5. Nothing applied twice.
    if let Some((s, n)) = applied.stamps().into_iter().find(|(_, n)| *n > 1) {
        panic!("round {round}: write {s} was applied {n} times");
    }
    recovered
}

/// Each item is where its last acknowledged write left it, or a later write the
/// client made but did not get to acknowledge.
fn check_fates(ledger: &Ledger, rows: &HashMap<String, Item>, round: usize, place: &str) {
    for (id, fate) in &ledger.items {
        let row = rows.get(id);
        match (&fate.last, row) {
            (Some(s), Some(r)) => assert!(
                r.stamp == *s || (r.stamp > *s && !ledger.acked.contains(&r.stamp)),
                "round {round}: in {place}, {id} holds write {} but the last acknowledged \
                 write is {s}",
                r.stamp
            ),
            (Some(s), None) => assert!(
                fate.maybe_deleted,
                "round {round}: acknowledged write {s} on {id} is missing from {place}"
            ),
            (None, Some(r)) => panic!(
                "round {round}: {id} was deleted (acknowledged) but {place} has it with {}",
                r.stamp
            ),
            (None, None) => {}
        }
    }
}

/// Compares the incremental observer with a fresh client that pulls everything.
async fn check_fresh_pull(
    url: &str,
    seen: &SyncTable<Item, SqliteStore, HttpTransport>,
    round: usize,
) {
    let fresh = SyncContext::new(
        SqliteStore::open_in_memory().expect("fresh store"),
        HttpTransport::new(url).expect("fresh transport"),
    );
    let table = fresh.table::<Item>().await.expect("fresh table");
    table.pull("all", None).await.expect("fresh pull");
    assert_eq!(
        table.all().await.expect("fresh rows"),
        seen.all().await.expect("observer rows"),
        "round {round}: an incremental pull missed or kept something a full pull does not"
    );
}

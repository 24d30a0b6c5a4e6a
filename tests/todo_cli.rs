//! The todo example, driven as a person would drive it: the built binary, a server it
//! starts itself (`todo serve`), and two `--db` files as two devices, with exit codes
//! and output checked.
//!
//! Cargo builds examples for `cargo test` but gives integration tests no path to them
//! (`CARGO_BIN_EXE_*` is for `[[bin]]` targets only), so the first test to need the
//! binary runs `cargo build --example todo` in the profile this test was built with and
//! takes the executable's path from cargo's own JSON messages, which also honours
//! `CARGO_TARGET_DIR`. After `cargo test --workspace` that build is already fresh.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// No command of the app should come near this; a hung one fails the test instead of
/// hanging it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

fn todo_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build_todo)
}

fn build_todo() -> PathBuf {
    // This test runs from target/<profile>/deps/: build the example in the same profile.
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or("debug")
        .to_owned();
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args([
            "build",
            "--example",
            "todo",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    // Cargo gives this test the variables it gives a crate (CARGO_MANIFEST_DIR,
    // CARGO_PKG_*, ...). Some build scripts (ring's) track them, so passing them on
    // would make the nested cargo rebuild half the tree, and the next outer build undo
    // it: hand the nested cargo the environment the outer one had.
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_by_cargo = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || [
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&name);
        if set_by_cargo {
            cargo.env_remove(name);
        }
    }
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cargo.arg("--release");
        }
        other => {
            cargo.args(["--profile", other]);
        }
    }
    let out = cargo.output().expect("run cargo");
    assert!(
        out.status.success(),
        "cargo build --example todo failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "todo")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no executable for the todo example")
}

/// What one run of the app did.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    fn ok(self) -> String {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        assert!(
            self.stderr.is_empty(),
            "a successful command said nothing on stderr: {self:#?}"
        );
        self.stdout
    }

    /// Asserts the one-line `error: ...` with exit code 1 and returns that line.
    #[track_caller]
    fn error(self) -> String {
        assert_eq!(self.code, Some(1), "expected exit code 1: {self:#?}");
        let line = self.stderr.trim_end();
        assert!(
            line.starts_with("error: ") && !line.contains('\n'),
            "expected one `error: ...` line: {self:#?}"
        );
        assert!(!line.contains("panicked"), "{self:#?}");
        line.to_owned()
    }
}

/// A child process that is killed when this goes out of scope, even when a test fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a pipe to its end on a thread, so the child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs `todo --db <db> --server <server> <args>` with stdin not a terminal.
fn todo(db: &Path, server: &str, args: &[&str]) -> Run {
    let mut child = Command::new(todo_binary())
        .arg("--db")
        .arg(db)
        .args(["--server", server])
        .args(args)
        .env_remove("TODO_DB")
        .env_remove("TODO_SERVER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the todo binary");
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let mut child = Killed(child);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for todo") {
            break status;
        }
        assert!(
            started.elapsed() < COMMAND_TIMEOUT,
            "`todo {}` did not finish in {COMMAND_TIMEOUT:?}",
            args.join(" ")
        );
        thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// `todo serve` on a free loopback port, over a database in `dir`; killed on drop.
struct Server {
    url: String,
    _process: Killed,
}

fn serve(dir: &Path) -> Server {
    let database = format!("sqlite://{}", dir.join("server.db").display());
    let mut child = Command::new(todo_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start `todo serve`");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let process = Killed(child);
    // The first line names the URL; the thread then drains the rest.
    let (first_line, got_it) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = first_line.send(lines.next());
        lines.for_each(drop);
    });
    let line = match got_it.recv_timeout(Duration::from_secs(30)) {
        Ok(Some(Ok(line))) => line,
        other => {
            drop(process);
            panic!(
                "`todo serve` did not say where it listens ({other:?}); stderr: {}",
                stderr.join().unwrap_or_default()
            );
        }
    };
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from `todo serve`: {line:?}"))
        .to_owned();
    let addr = url.trim_start_matches("http://").to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "{url} does not answer");
        thread::sleep(Duration::from_millis(20));
    }
    Server {
        url,
        _process: process,
    }
}

/// A loopback URL where nothing listens.
fn dead_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{addr}")
}

/// The line of a `list` output showing `text`.
#[track_caller]
fn line_of<'a>(list: &'a str, text: &str) -> &'a str {
    list.lines()
        .find(|l| l.ends_with(text))
        .unwrap_or_else(|| panic!("no line for {text:?} in:\n{list}"))
}

#[test]
fn two_devices_sync_through_todo_serve_and_resolve_a_conflict() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path());
    let url = server.url.as_str();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));

    // Device A adds two items and pushes them.
    let milk = todo(&a, url, &["add", "Buy milk", "--due", "2026-12-01"]).ok();
    let milk = milk.trim().to_owned();
    assert_eq!(milk.len(), 36, "add prints the new id: {milk:?}");
    todo(&a, url, &["add", "Call mom", "--due", "2026-12-03"]).ok();
    let list = todo(&a, url, &["list"]).ok();
    assert!(line_of(&list, "Buy milk").starts_with("* "), "{list}");
    assert_eq!(todo(&a, url, &["push"]).ok(), "pushed 2 changes\n");

    // Device B pulls them.
    let pulled = todo(&b, url, &["pull"]).ok();
    assert!(pulled.contains("pulled 2 rows"), "{pulled}");
    let list = todo(&b, url, &["list"]).ok();
    let line = line_of(&list, "Buy milk");
    assert!(line.starts_with(&format!("  {}", &milk[..8])), "{list}");
    assert!(line.contains("2026-12-01  [ ] Buy milk"), "{list}");
    assert!(line_of(&list, "Call mom").contains("2026-12-03"), "{list}");

    // A renames the milk item and pushes; B, not having pulled, edits the same item:
    // its due date, and then the same field, the text.
    let prefix = &milk[..6];
    todo(&a, url, &["edit", prefix, "--text", "Buy oat milk"]).ok();
    todo(&a, url, &["push"]).ok();
    todo(&b, url, &["edit", prefix, "--due", "2026-12-05"]).ok();
    todo(&b, url, &["edit", prefix, "--text", "Buy almond milk"]).ok();
    let pushed = todo(&b, url, &["push"]).ok();
    assert!(pushed.contains("1 conflict"), "{pushed}");
    let list = todo(&b, url, &["list"]).ok();
    assert!(
        line_of(&list, "Buy almond milk").starts_with("! "),
        "{list}"
    );
    assert!(list.contains("in conflict"), "{list}");

    // B looks at it: both versions, the base, and which fields differ.
    let shown = todo(&b, url, &["conflicts"]).ok();
    for expected in [
        "local (this device)",
        "remote (server)",
        "base (last synced)",
        "Buy almond milk",
        "Buy oat milk",
        "Buy milk",
        "2026-12-05",
        "differs: text, due",
    ] {
        assert!(
            shown.contains(expected),
            "{expected:?} missing in:\n{shown}"
        );
    }

    // Without a choice and without a terminal, resolve says how to choose.
    let refusal = todo(&b, url, &["resolve"]).error();
    assert!(refusal.contains("pass `local` or `remote`"), "{refusal}");
    let refusal = todo(&b, url, &["resolve", prefix]).error();
    assert!(refusal.contains("pass `local` or `remote`"), "{refusal}");

    // B keeps its own version and pushes it; A pulls.
    todo(&b, url, &["resolve", prefix, "local"]).ok();
    assert_eq!(todo(&b, url, &["conflicts"]).ok(), "no conflicts\n");
    assert_eq!(todo(&b, url, &["push"]).ok(), "pushed 1 change\n");
    todo(&a, url, &["pull"]).ok();
    todo(&b, url, &["pull"]).ok();
    let (on_a, on_b) = (todo(&a, url, &["list"]).ok(), todo(&b, url, &["list"]).ok());
    assert_eq!(on_a, on_b, "both devices list the same items");
    let line = line_of(&on_a, "Buy almond milk");
    assert!(line.contains("2026-12-05"), "{on_a}");
    assert!(!on_a.contains('*') && !on_a.contains('!'), "{on_a}");

    // Offline: a push to a dead server says so, names it, and keeps the change queued.
    todo(&a, url, &["done", "Buy"]).error(); // not an id prefix: ids are hex
    todo(&a, url, &["done", prefix]).ok();
    let dead = dead_server();
    let offline = todo(&a, &dead, &["push"]).error();
    assert!(
        offline.contains(&format!("cannot reach the server at {dead}")),
        "{offline}"
    );
    assert!(offline.contains("1 change still queued"), "{offline}");
    let list = todo(&a, url, &["list"]).ok();
    assert!(
        line_of(&list, "Buy almond milk").starts_with("* "),
        "{list}"
    );
    let offline = todo(&a, &dead, &["pull"]).error();
    assert!(offline.contains(&dead), "{offline}");
    // Back online, the next push sends everything.
    assert_eq!(todo(&a, url, &["push"]).ok(), "pushed 1 change\n");
    todo(&b, url, &["pull"]).ok();
    let list = todo(&b, url, &["list"]).ok();
    assert!(line_of(&list, "Buy almond milk").contains("[x]"), "{list}");
}

#[test]
fn bad_input_is_one_error_line_with_exit_code_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("device.db");
    let nowhere = dead_server();
    let id = todo(&db, &nowhere, &["add", "Water plants"]).ok();

    let e = todo(&db, &nowhere, &["done", "ffffffff-nope"]).error();
    assert!(
        e.contains("no todo with an id starting with `ffffffff-nope`"),
        "{e}"
    );
    let e = todo(&db, &nowhere, &["add", "Pay rent", "--due", "12/01/2026"]).error();
    assert!(
        e.contains("bad date `12/01/2026`") && e.contains("YYYY-MM-DD"),
        "{e}"
    );
    let e = todo(&db, &nowhere, &["edit", id.trim(), "--due", "2026-02-30"]).error();
    assert!(e.contains("bad date"), "{e}");
    let e = todo(&db, &nowhere, &["edit", id.trim()]).error();
    assert!(e.contains("nothing to change"), "{e}");
    let e = todo(&db, &nowhere, &["delete", ""]).error();
    assert!(e.contains("empty id"), "{e}");
    let e = todo(&db, &nowhere, &["resolve", "abc", "local"]).error();
    assert!(e.contains("no conflicts"), "{e}");
    let e = todo(&db, "not a url", &["list"]).error();
    assert!(e.contains("--server") && e.contains("not a url"), "{e}");
    // Nothing was written by the failed commands.
    let list = todo(&db, &nowhere, &["list"]).ok();
    assert_eq!(
        list.lines().filter(|l| l.contains("[ ]")).count(),
        1,
        "{list}"
    );
}

#[test]
fn a_pull_of_many_pages_prints_progress_lines_with_the_total_when_not_on_a_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path());
    let url = server.url.as_str();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    // One more than a page (the app stores 100 rows a page, streamed or paged).
    for i in 0..101 {
        todo(
            &a,
            url,
            &["add", &format!("item {i}"), "--due", "2026-12-01"],
        )
        .ok();
    }
    assert_eq!(todo(&a, url, &["push"]).ok(), "pushed 101 changes\n");
    let pulled = todo(&b, url, &["pull"]).ok();
    // The server's stream counts the rows: each line says the total.
    assert_eq!(pulled, "pulled 100 of 101 rows…\npulled 101 rows\n");
    assert_eq!(todo(&b, url, &["pull"]).ok(), "up to date\n");

    // 101 ids over 16 hex digits: some first character starts two of them.
    let list = todo(&b, url, &["list"]).ok();
    let mut firsts: Vec<char> = list
        .lines()
        .filter(|l| l.contains("item "))
        .filter_map(|l| l.trim_start().chars().next())
        .collect();
    firsts.sort_unstable();
    let shared = firsts
        .windows(2)
        .find(|w| w[0] == w[1])
        .map(|w| w[0].to_string())
        .expect("pigeonhole");
    let e = todo(&b, url, &["done", &shared]).error();
    assert!(
        e.contains("is ambiguous") && e.contains("more of the id"),
        "{e}"
    );
}

/// `todo watch` on one device shows what another device pushes, with no command on
/// the watching device: its background syncer pulls by itself.
#[test]
fn todo_watch_shows_another_devices_push_by_itself() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve(dir.path());
    let url = server.url.as_str();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let mut child = Command::new(todo_binary())
        .arg("--db")
        .arg(&b)
        .args(["--server", url, "watch", "--poll-secs", "1"])
        .env_remove("TODO_DB")
        .env_remove("TODO_SERVER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start `todo watch`");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let watching = Killed(child);
    let (lines, seen) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut output = String::new();
    let mut wait_for = |what: &str, pred: &dyn Fn(&str) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match seen.recv_timeout(left) {
                Ok(line) => {
                    output.push_str(&line);
                    output.push('\n');
                    if pred(&line) {
                        return;
                    }
                }
                Err(_) => panic!("`todo watch` never showed {what}; it printed:\n{output}"),
            }
        }
    };
    wait_for("that it synced", &|l| {
        l == "-- synced" || l == "-- synced (live)"
    });
    todo(&a, url, &["add", "buy oat milk"]).ok();
    todo(&a, url, &["push"]).ok();
    wait_for("the other device's todo", &|l| l.ends_with("buy oat milk"));
    drop(watching);
    assert!(
        !stderr.join().unwrap_or_default().contains("panicked"),
        "{output}"
    );
}

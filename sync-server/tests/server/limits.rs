//! Connection limits (`ServeLimits`): slow, silent and oversized clients over raw
//! loopback TCP do not deny service to a normal request. Every wait is bounded
//! (`BOUND`); timeouts configured here are short so that the tests are quick.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sync_server::{Config, RunningServer, ServeLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest any single wait in these tests may take before it counts as a failure.
const BOUND: Duration = Duration::from_secs(10);
const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(60);

const GET: &[u8] =
    b"GET /tables/Todo HTTP/1.1\r\nHost: x\r\nZUMO-API-VERSION: 2.0.0\r\nConnection: close\r\n\r\n";

async fn start(limits: ServeLimits) -> RunningServer {
    super::common::logs();
    let config = Config::open("sqlite::memory:").await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    sync_server::serve_with(listener, config, limits)
        .await
        .unwrap()
}

/// Figures for the report: straight to stderr (the harness swallows `eprintln!`).
fn note(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Sends `request` on a new connection and reads the whole answer (the request says
/// `Connection: close`), within `BOUND`.
async fn exchange(server: &RunningServer, request: &[u8]) -> String {
    tokio::time::timeout(BOUND, async {
        let mut s = TcpStream::connect(server.addr()).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .expect("the server answers within the bound")
}

/// A normal request answers 200 within the bound; returns how long it took.
async fn normal_request(server: &RunningServer) -> Duration {
    let t = Instant::now();
    let answer = exchange(server, GET).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    t.elapsed()
}

/// Reads one answer (head and `Content-Length` body) off a keep-alive connection.
async fn read_answer(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "closed before a whole answer: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

/// Opens a POST whose head is in and whose handler is reading the body (the server has
/// sent `100 Continue`), with only the first `sent` bytes of `body` sent.
async fn in_flight_post(server: &RunningServer, body: &[u8], sent: usize) -> TcpStream {
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "POST /tables/Todo HTTP/1.1\r\nHost: x\r\nZUMO-API-VERSION: 2.0.0\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let cont = tokio::time::timeout(BOUND, read_answer(&mut s))
        .await
        .expect("100 Continue within the bound");
    assert!(cont.starts_with("HTTP/1.1 100"), "{cont}");
    s.write_all(&body[..sent]).await.unwrap();
    s
}

/// Waits (within `BOUND`) until the server closes `s`; false if it stays open.
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut sink = [0u8; 1024];
    tokio::time::timeout(BOUND, async {
        loop {
            match s.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_dripping_header_bytes_are_closed_and_a_normal_request_answers() {
    const DRIPPERS: usize = 300;
    let server = start(
        ServeLimits::default()
            .header_timeout(SHORT)
            .idle_timeout(LONG)
            .max_connections(1000),
    )
    .await;
    let mut drippers = Vec::new();
    for _ in 0..DRIPPERS {
        let s = TcpStream::connect(server.addr()).await.unwrap();
        drippers.push(tokio::spawn(async move {
            // One header line every 50 ms: never a whole head, always some progress.
            let (mut r, mut w) = s.into_split();
            let mut sink = [0u8; 1024];
            if w.write_all(b"GET /tables/Todo HTTP/1.1\r\n").await.is_err() {
                return true;
            }
            tokio::time::timeout(BOUND, async {
                loop {
                    tokio::select! {
                        n = r.read(&mut sink) => if matches!(n, Ok(0) | Err(_)) { return },
                        () = tokio::time::sleep(Duration::from_millis(50)) => {
                            if w.write_all(b"X-Drip: a\r\n").await.is_err() {
                                return;
                            }
                        }
                    }
                }
            })
            .await
            .is_ok()
        }));
    }
    // While they drip (the first ones are not closed yet), a normal request answers.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let took = normal_request(&server).await;
    note(&format!(
        "normal request with {DRIPPERS} connections dripping headers: {} ms",
        took.as_millis()
    ));
    let mut closed = 0;
    for d in drippers {
        closed += usize::from(d.await.unwrap());
    }
    assert_eq!(closed, DRIPPERS, "every dripping connection is closed");
    normal_request(&server).await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_beyond_the_cap_do_not_starve_a_normal_request() {
    const CAP: usize = 50;
    const SILENT: usize = 200;
    // Long timeouts: only the cap's eviction can make room here.
    let server = start(
        ServeLimits::default()
            .header_timeout(LONG)
            .idle_timeout(LONG)
            .max_connections(CAP),
    )
    .await;
    let closed = Arc::new(AtomicUsize::new(0));
    let mut silent = Vec::new();
    for _ in 0..SILENT {
        let mut s = TcpStream::connect(server.addr()).await.unwrap();
        let closed = Arc::clone(&closed);
        silent.push(tokio::spawn(async move {
            let mut sink = [0u8; 64];
            if let Ok(0) | Err(_) = s.read(&mut sink).await {
                closed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let took = normal_request(&server).await;
    note(&format!(
        "normal request with {SILENT} silent connections, cap {CAP}: {} ms",
        took.as_millis()
    ));
    // The cap holds: all but CAP of the silent connections were closed.
    let deadline = Instant::now() + BOUND;
    while closed.load(Ordering::Relaxed) < SILENT - CAP && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let n = closed.load(Ordering::Relaxed);
    assert!(
        n >= SILENT - CAP,
        "only {n} of {SILENT} silent connections closed at cap {CAP}"
    );
    for s in silent {
        s.abort();
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_progress_is_not_evicted_at_the_cap() {
    let server = start(
        ServeLimits::default()
            .header_timeout(LONG)
            .idle_timeout(LONG)
            .max_connections(2),
    )
    .await;
    let body = br#"{"id":"a","text":"hello"}"#;
    // Busy: its handler is reading the body.
    let mut busy = in_flight_post(&server, body, 5).await;
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(TcpStream::connect(server.addr()).await.unwrap());
    }
    // The silent ones evict each other, never the busy one.
    for s in silent.iter_mut().take(4) {
        assert!(closed_by_server(s).await, "a silent connection was evicted");
    }
    busy.write_all(&body[5..]).await.unwrap();
    let answer = tokio::time::timeout(BOUND, read_answer(&mut busy))
        .await
        .expect("the busy request is answered");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    // A long header timeout: the idle timeout is what closes the connection.
    let server = start(
        ServeLimits::default()
            .header_timeout(LONG)
            .idle_timeout(SHORT),
    )
    .await;
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    let keep_alive = b"GET /tables/Todo HTTP/1.1\r\nHost: x\r\nZUMO-API-VERSION: 2.0.0\r\n\r\n";
    s.write_all(keep_alive).await.unwrap();
    let answer = read_answer(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        closed_by_server(&mut s).await,
        "the idle connection stayed open"
    );
    normal_request(&server).await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_connection_that_starts_dripping_gets_the_header_timeout() {
    // Idle is long, the header timeout short: once bytes of a next request come in,
    // the header timeout applies, not the idle one.
    let server = start(
        ServeLimits::default()
            .header_timeout(SHORT)
            .idle_timeout(LONG),
    )
    .await;
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    s.write_all(b"GET /tables/Todo HTTP/1.1\r\nHost: x\r\nZUMO-API-VERSION: 2.0.0\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    s.write_all(b"GET /tables/Todo HTTP/1.1\r\n").await.unwrap();
    let (mut r, mut w) = s.into_split();
    let dripping = tokio::spawn(async move {
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if w.write_all(b"X-Drip: a\r\n").await.is_err() {
                return;
            }
        }
    });
    let mut sink = [0u8; 256];
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            if let Ok(0) | Err(_) = r.read(&mut sink).await {
                return;
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the dripping keep-alive connection stayed open"
    );
    dripping.abort();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_is_not_cut_by_the_header_or_idle_timeout() {
    let server = start(
        ServeLimits::default()
            .header_timeout(SHORT)
            .idle_timeout(SHORT)
            .request_timeout(LONG),
    )
    .await;
    let body = br#"{"id":"slow","text":"takes a while"}"#;
    let mut s = in_flight_post(&server, body, 8).await;
    // Several header and idle timeouts pass while the body is on its way.
    tokio::time::sleep(SHORT * 4).await;
    s.write_all(&body[8..]).await.unwrap();
    let answer = tokio::time::timeout(BOUND, read_answer(&mut s))
        .await
        .expect("answered within the bound");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_url_or_header_block_is_414_or_431_and_the_server_goes_on() {
    let server = start(ServeLimits::default()).await;
    let long_url = format!(
        "GET /tables/Todo?$filter={} HTTP/1.1\r\nHost: x\r\nZUMO-API-VERSION: 2.0.0\r\nConnection: close\r\n\r\n",
        "a".repeat(sync_server::DEFAULT_MAX_URL + 1)
    );
    let answer = exchange(&server, long_url.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 414"), "{answer:.200}");
    assert!(
        answer.contains(r#"{"error":"#),
        "a JSON error: {answer:.400}"
    );
    assert!(answer.contains("max-url"), "{answer:.400}");

    let huge_url = format!(
        "GET /tables/Todo?$filter={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(sync_server::DEFAULT_MAX_HEADER_BYTES * 2)
    );
    let answer = exchange(&server, huge_url.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 431") || answer.starts_with("HTTP/1.1 414"),
        "{answer:.200}"
    );

    let big_header = format!(
        "GET /tables/Todo HTTP/1.1\r\nHost: x\r\nZUMO-API-VERSION: 2.0.0\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(sync_server::DEFAULT_MAX_HEADER_BYTES + 1)
    );
    let answer = exchange(&server, big_header.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");

    let many: String = (0..2000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many_headers = format!(
        "GET /tables/Todo HTTP/1.1\r\nHost: x\r\nZUMO-API-VERSION: 2.0.0\r\n{many}Connection: close\r\n\r\n"
    );
    let answer = exchange(&server, many_headers.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");

    normal_request(&server).await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_gets_a_json_408() {
    let server = start(ServeLimits::default().request_timeout(SHORT)).await;
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    s.write_all(
        b"POST /tables/Todo HTTP/1.1\r\nHost: x\r\nZUMO-API-VERSION: 2.0.0\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":",
    )
    .await
    .unwrap();
    let answer = tokio::time::timeout(BOUND, read_answer(&mut s))
        .await
        .expect("an answer within the bound");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("--request-timeout"), "{answer}");
    normal_request(&server).await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_an_in_flight_request() {
    let server = start(ServeLimits::default()).await;
    let addr = server.addr();
    // An idle keep-alive connection does not hold the shutdown up.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /tables/Todo HTTP/1.1\r\nHost: x\r\nZUMO-API-VERSION: 2.0.0\r\n\r\n")
        .await
        .unwrap();
    read_answer(&mut idle).await;
    // In flight: the handler is reading a body of which half is in.
    let body = br#"{"id":"g","text":"in flight"}"#;
    let mut s = in_flight_post(&server, body, 10).await;
    let stopping = tokio::spawn(server.shutdown());
    // Once the listener is gone, the shutdown has begun.
    let deadline = Instant::now() + BOUND;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "the server still accepts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        closed_by_server(&mut idle).await,
        "the idle connection is closed"
    );
    s.write_all(&body[10..]).await.unwrap();
    let answer = tokio::time::timeout(BOUND, read_answer(&mut s))
        .await
        .expect("the in-flight request is answered");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    tokio::time::timeout(BOUND, stopping)
        .await
        .expect("the shutdown completes")
        .unwrap()
        .unwrap();
}

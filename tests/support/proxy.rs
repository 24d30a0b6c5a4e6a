//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1, between clients and a server.
//!
//! Each client connection carries one request: the proxy reads it, forwards it on a
//! fresh upstream connection with `Connection: close` (so the server's answer ends
//! where the upstream stream ends), and relays the answer. While faults are on, a
//! seeded generator picks for each request one of:
//!
//! - pass it through untouched;
//! - delay it (before forwarding), sometimes past the client's timeout;
//! - answer 500 or 503 itself, without forwarding;
//! - reset the connection before forwarding (the server never sees the request);
//! - forward it, then reset the connection instead of answering (the server applied
//!   the write; the client never hears of it);
//! - forward it, then send the answer's head and only part of its body.
//!
//! The proxy only reads what it needs of HTTP: the request head, `Content-Length`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy did to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    Pass,
    Delay,
    Answer500,
    Answer503,
    ResetBefore,
    ResetAfter,
    Truncate,
}

pub const FAULTS: [Fault; 7] = [
    Fault::Pass,
    Fault::Delay,
    Fault::Answer500,
    Fault::Answer503,
    Fault::ResetBefore,
    Fault::ResetAfter,
    Fault::Truncate,
];

/// How many requests met each fault; and of the extension's batch and stream
/// requests, how many there were and how many met a fault.
#[derive(Default)]
pub struct Counts([AtomicUsize; 7], [AtomicUsize; 4]);

/// Which of the extension's routes a request is for.
#[derive(Clone, Copy)]
pub enum Route {
    Batch = 0,
    Stream = 2,
}

impl Counts {
    pub fn get(&self, fault: Fault) -> usize {
        self.0[fault as usize].load(Ordering::Relaxed)
    }

    /// The requests to `route`, and how many of them met a fault.
    pub fn route(&self, route: Route) -> (usize, usize) {
        let i = route as usize;
        (
            self.1[i].load(Ordering::Relaxed),
            self.1[i + 1].load(Ordering::Relaxed),
        )
    }

    fn bump_route(&self, head: &str, fault: Fault) {
        let route = if head.starts_with("POST /tablesync/v1/batch") {
            Route::Batch
        } else if head.starts_with("GET /tablesync/v1/stream/") {
            Route::Stream
        } else {
            return;
        };
        self.1[route as usize].fetch_add(1, Ordering::Relaxed);
        if fault != Fault::Pass {
            self.1[route as usize + 1].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn bump(&self, fault: Fault) {
        self.0[fault as usize].fetch_add(1, Ordering::Relaxed);
    }
}

struct Shared {
    upstream: std::net::SocketAddr,
    faults_on: AtomicBool,
    rng: Mutex<fastrand::Rng>,
    /// The percentage of requests that meet a fault.
    fault_percent: u8,
    /// A delay this long or longer is past the clients' timeout.
    hang: Duration,
    counts: Counts,
}

pub struct Proxy {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// A proxy to `upstream`, faults on, `fault_percent` of the requests faulty, the
    /// choices drawn from `seed`; `hang` is a delay that exceeds the clients' timeout.
    pub async fn start(
        upstream: std::net::SocketAddr,
        seed: u64,
        fault_percent: u8,
        hang: Duration,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy on loopback");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let shared = Arc::new(Shared {
            upstream,
            faults_on: AtomicBool::new(true),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            fault_percent,
            hang,
            counts: Counts::default(),
        });
        let s = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let s = Arc::clone(&s);
                connections.spawn(async move {
                    let _ = relay(&s, client).await;
                });
                // Reap finished connections so the set stays small.
                while connections.try_join_next().is_some() {}
            }
        });
        Proxy { url, shared, task }
    }

    /// Faults off: every request passes (already running ones finish as chosen).
    pub fn disable_faults(&self) {
        self.shared.faults_on.store(false, Ordering::SeqCst);
    }

    pub fn counts(&self) -> &Counts {
        &self.shared.counts
    }
}

fn choose(s: &Shared) -> (Fault, Duration) {
    if !s.faults_on.load(Ordering::SeqCst) {
        return (Fault::Pass, Duration::ZERO);
    }
    let mut rng = s.rng.lock().expect("proxy rng lock");
    if rng.u8(0..100) >= s.fault_percent {
        return (Fault::Pass, Duration::ZERO);
    }
    let fault = FAULTS[rng.usize(1..FAULTS.len())];
    let delay = match fault {
        // One delay in eight hangs past the client's timeout.
        Fault::Delay if rng.u8(0..8) == 0 => s.hang,
        Fault::Delay => Duration::from_millis(rng.u64(1..80)),
        _ => Duration::ZERO,
    };
    (fault, delay)
}

/// Where the head ends (the index after `\r\n\r\n`).
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn reset(stream: TcpStream) {
    // SO_LINGER 0: closing sends RST instead of FIN.
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn relay(s: &Shared, mut client: TcpStream) -> std::io::Result<()> {
    // The request: head, then Content-Length bytes of body.
    let mut buf = Vec::with_capacity(4096);
    let end = loop {
        if let Some(end) = head_end(&buf) {
            break end;
        }
        let mut chunk = [0u8; 4096];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 1 << 20 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let want = end + content_length(&head);
    while buf.len() < want {
        let mut chunk = vec![0u8; want - buf.len()];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    // One request per connection, both sides.
    let mut forward = String::new();
    for line in head.trim_end_matches("\r\n").split("\r\n") {
        let is_connection = line
            .split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("connection"));
        if !is_connection {
            forward.push_str(line);
            forward.push_str("\r\n");
        }
    }
    forward.push_str("Connection: close\r\n\r\n");
    let mut request = forward.into_bytes();
    request.extend_from_slice(&buf[end..want]);

    let (fault, delay) = choose(s);
    s.counts.bump(fault);
    s.counts.bump_route(&head, fault);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match fault {
        Fault::Answer500 | Fault::Answer503 => {
            let (code, reason) = if fault == Fault::Answer500 {
                (500, "Internal Server Error")
            } else {
                (503, "Service Unavailable")
            };
            let body = format!("{{\"error\":\"the proxy says {code}\"}}");
            let answer = format!(
                "HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(answer.as_bytes()).await?;
            client.shutdown().await?;
            return Ok(());
        }
        Fault::ResetBefore => {
            reset(client).await;
            return Ok(());
        }
        _ => {}
    }
    let mut upstream = TcpStream::connect(s.upstream).await?;
    upstream.write_all(&request).await?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer).await?;
    match fault {
        Fault::ResetAfter => reset(client).await,
        Fault::Truncate => {
            let cut = head_end(&answer).map_or(answer.len() / 2, |end| {
                let body = answer.len() - end;
                end + body / 2
            });
            client.write_all(&answer[..cut]).await?;
            // A clean close mid-body: the client sees fewer bytes than announced.
            client.shutdown().await?;
        }
        _ => {
            client.write_all(&answer).await?;
            client.shutdown().await?;
        }
    }
    Ok(())
}

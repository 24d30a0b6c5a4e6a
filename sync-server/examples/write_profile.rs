//! A deterministic driver for profiling the write path end to end: one keep-alive
//! HTTP/1.1 connection to an in-process server on a SQLite file, sending
//! `GET` + conditional `PATCH` pairs one after the other, as the load benchmark's
//! clients do. Run it under callgrind with two counts and divide the difference:
//!
//! ```text
//! cargo build --release -p sync-server --example write_profile
//! valgrind --tool=callgrind target/release/examples/write_profile 200
//! valgrind --tool=callgrind target/release/examples/write_profile 1200
//! ```
//!
//! The client side is a few hand-written lines over a `TcpStream`, so nearly every
//! instruction counted is the server's.

use std::io::{Read, Write};
use std::net::TcpStream;

fn main() {
    let pairs: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().expect("a temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let url = format!("sqlite://{}", dir.path().join("profile.db").display());
    let server = rt.block_on(async {
        let config = sync_server::Config::open(&url).await.expect("the backend");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        sync_server::serve(listener, config).await.expect("serve")
    });
    let mut conn = Connection(TcpStream::connect(server.addr()).expect("connect"));
    conn.0.set_nodelay(true).expect("nodelay");
    for r in 0..16 {
        let body = format!("{{\"id\":\"row-{r:02}\",\"n\":0}}");
        let (status, _, _) = conn.send("POST", "/tables/BenchLoad", None, &body);
        assert_eq!(status, 201);
    }
    for i in 0..pairs {
        let path = format!("/tables/BenchLoad/row-{:02}", i % 16);
        let (status, etag, _) = conn.send("GET", &path, None, "");
        assert_eq!(status, 200);
        let body = format!("{{\"n\":{}}}", i + 1);
        let (status, _, answer) = conn.send("PATCH", &path, etag.as_deref(), &body);
        assert_eq!(status, 200, "{answer}");
    }
    drop(conn);
    rt.block_on(server.shutdown()).expect("shutdown");
}

struct Connection(TcpStream);

impl Connection {
    /// One request; the answer's status, `ETag` and body.
    fn send(
        &mut self,
        method: &str,
        path: &str,
        if_match: Option<&str>,
        body: &str,
    ) -> (u16, Option<String>, String) {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nZUMO-API-VERSION: 2.0.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(v) = if_match {
            req.push_str(&format!("If-Match: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.0.write_all(req.as_bytes()).expect("write");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.0.read(&mut chunk).expect("read");
            assert!(n > 0, "the server closed the connection");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            let Some(end) = text.find("\r\n\r\n") else {
                continue;
            };
            let head = &text[..end];
            let length = header(head, "content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() < end + 4 + length {
                continue;
            }
            let status = head[9..12].parse().expect("a status");
            let etag = header(head, "etag").map(str::to_owned);
            return (status, etag, text[end + 4..end + 4 + length].to_owned());
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

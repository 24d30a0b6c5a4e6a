//! `HttpTransport::change_feed` end to end: against the tablesync server (pokes after
//! writes, resuming by event id, credentials sent, a feed that ends with its server),
//! and against raw fake servers: one without the extension (no feed, and no request
//! beyond the one discovery), one whose feed goes silent (a timeout after three
//! heartbeats) and one that sends an endless line (refused, not buffered).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sync_core::Record;
use sync_core::transport::{ChangeStream, NetworkKind, Poke, Transport, TransportError};
use sync_http::HttpTransport;
use sync_server::{Auth, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "a-feed-test-api-key";

async fn next(feed: &mut ChangeStream, wait: Duration) -> Option<Result<Poke, TransportError>> {
    let item = std::future::poll_fn(|cx| feed.as_mut().poll_next(cx));
    tokio::time::timeout(wait, item)
        .await
        .unwrap_or_else(|_| panic!("nothing within {wait:?}"))
}

async fn quiet(feed: &mut ChangeStream, wait: Duration) -> bool {
    let item = std::future::poll_fn(|cx| feed.as_mut().poll_next(cx));
    tokio::time::timeout(wait, item).await.is_err()
}

fn item(id: &str) -> Record {
    let mut r = Record::new();
    r.set("id", id);
    r
}

#[tokio::test]
async fn http_transport_hears_pokes_from_the_server_and_resumes() {
    let config = Config::open("sqlite::memory:")
        .await
        .unwrap()
        .auth(Auth::ApiKey(KEY.into()))
        .feed(Duration::from_secs(1), 10, 10, Duration::from_millis(10));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = sync_server::serve(listener, config).await.unwrap();
    // The key as a bearer token: the feed carries the credentials as every request.
    let transport = HttpTransport::builder(server.url())
        .bearer_token(KEY)
        .build()
        .unwrap();
    let tables = || vec!["Todo".to_owned(), "Other".to_owned()];
    let mut feed = transport
        .change_feed(tables(), None)
        .await
        .unwrap()
        .expect("a feed");
    assert!(
        quiet(&mut feed, Duration::from_millis(1500)).await,
        "heartbeats are no pokes"
    );
    transport.insert("todo", item("a")).await.unwrap();
    let poke = next(&mut feed, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(poke.table, "Todo", "named as the caller named it");
    let id = poke.event_id.expect("an id to resume from");
    drop(feed);
    transport.insert("Other", item("b")).await.unwrap();
    let mut feed = transport
        .change_feed(tables(), Some(id))
        .await
        .unwrap()
        .unwrap();
    let poke = next(&mut feed, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(poke.table, "Other", "what changed since the id, only");
    assert!(quiet(&mut feed, Duration::from_millis(300)).await);
    // Without the key there is no feed.
    let stranger = HttpTransport::new(server.url()).unwrap();
    let refused = stranger.change_feed(tables(), None).await.err().unwrap();
    assert!(
        matches!(refused, TransportError::Unauthorized { .. }),
        "{refused:?}"
    );
    // A stale token is refreshed once, as for any request, and the feed opens.
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let stale = HttpTransport::builder(server.url())
        .bearer_token("expired")
        .token_refresher(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok(KEY.to_owned()) }
        })
        .build()
        .unwrap();
    assert!(stale.change_feed(tables(), None).await.unwrap().is_some());
    assert_eq!(asked.load(Ordering::SeqCst), 1, "refreshed once");
    // A server that stops ends the feed; the caller opens it again later.
    server.shutdown().await.unwrap();
    let end = next(&mut feed, Duration::from_secs(5)).await;
    assert!(!matches!(end, Some(Ok(_))), "{end:?}");
}

/// A raw HTTP/1.1 server: `answer(path)` is the whole answer to a request for `path`
/// (head and body, the body ending with the connection), then the connection is held
/// open for `hold`. Counts requests.
async fn fake(
    answer: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
    hold: Duration,
) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let answer = Arc::new(answer);
    let counted = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (answer, count) = (Arc::clone(&answer), Arc::clone(&counted));
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                count.fetch_add(1, Ordering::SeqCst);
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                let path = path.split('?').next().unwrap_or("").to_owned();
                let _ = socket.write_all(&answer(&path)).await;
                tokio::time::sleep(hold).await;
            });
        }
    });
    (url, count)
}

fn discovery_with_feed(heartbeat: u64) -> Vec<u8> {
    let body = format!(
        r#"{{"extension":"tablesync","version":1,"max_page_size":1000,"max_body":1048576,"feed":{{"heartbeat_seconds":{heartbeat},"max_tables":10}}}}"#
    );
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn feed_head() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n".to_vec()
}

#[tokio::test]
async fn against_a_server_without_the_extension_there_is_no_feed_and_one_request() {
    let (url, count) = fake(
        |_| {
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found"
                .to_vec()
        },
        Duration::ZERO,
    )
    .await;
    let transport = HttpTransport::new(url).unwrap();
    for _ in 0..3 {
        let feed = transport
            .change_feed(vec!["Todo".into()], None)
            .await
            .unwrap();
        assert!(feed.is_none(), "no feed: the caller polls");
    }
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "the one discovery request, nothing else"
    );
}

#[tokio::test]
async fn a_feed_silent_for_three_heartbeats_is_a_timeout() {
    let (url, _) = fake(
        |path| match path {
            "/tablesync/v1" => discovery_with_feed(1),
            _ => [feed_head(), b": tablesync feed\n\n".to_vec()].concat(),
        },
        Duration::from_secs(30),
    )
    .await;
    let transport = HttpTransport::new(url).unwrap();
    let mut feed = transport
        .change_feed(vec!["Todo".into()], None)
        .await
        .unwrap()
        .unwrap();
    let started = Instant::now();
    let end = next(&mut feed, Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(
            end,
            TransportError::Network {
                kind: NetworkKind::Timeout,
                ..
            }
        ),
        "{end:?}"
    );
    assert!(
        waited >= Duration::from_millis(2900),
        "three heartbeats, not {waited:?}"
    );
    assert!(
        next(&mut feed, Duration::from_secs(1)).await.is_none(),
        "then it ends"
    );
}

#[tokio::test]
async fn a_feed_line_past_the_bound_is_refused_not_buffered() {
    let (url, _) = fake(
        |path| match path {
            "/tablesync/v1" => discovery_with_feed(15),
            _ => {
                let mut answer = feed_head();
                answer.extend(sync_http::wire::feed::poke_event("Todo", Some("e.1")));
                answer.extend(b"data: ");
                answer.extend(vec![b'x'; 1 << 20]);
                answer
            }
        },
        Duration::from_secs(30),
    )
    .await;
    let transport = HttpTransport::new(url).unwrap();
    let mut feed = transport
        .change_feed(vec!["todo".into()], None)
        .await
        .unwrap()
        .unwrap();
    let poke = next(&mut feed, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(poke.table, "todo", "the poke before the flood");
    let end = next(&mut feed, Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(end, TransportError::ResponseTooLarge { .. }),
        "{end:?}"
    );
}

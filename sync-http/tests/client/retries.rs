//! Transient failures are retried, a bounded number of times.

use std::time::{Duration, Instant};

use sync_core::transport::{Transport, TransportError};
use sync_http::{HttpTransport, RetryPolicy};

use crate::fake::{Canned, Fake, fast_retries, row};

fn ok() -> Canned {
    Canned::row(200, row("a1", "2026-11-21T12:50:52.847Z", "MQ=="))
}

#[tokio::test]
async fn a_503_is_retried_until_it_succeeds() {
    let fake = Fake::scripted().await;
    fake.push(Canned::text(503, "busy"))
        .push(Canned::text(502, ""))
        .push(Canned::text(504, ""));
    fake.push(ok());
    let got = fake.transport().get("Todo", "a1").await.unwrap();
    assert!(got.is_some());
    assert_eq!(fake.requests(), 4);
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_asks() {
    let fake = Fake::scripted().await;
    fake.push(Canned::text(429, "").header("retry-after", "0"));
    fake.push(Canned::text(429, "").header("retry-after", "1"));
    fake.push(ok());
    let started = Instant::now();
    fake.transport().get("Todo", "a1").await.unwrap();
    let took = started.elapsed();
    assert_eq!(fake.requests(), 3);
    assert!(took >= Duration::from_millis(950), "waited only {took:?}");
    assert!(took < Duration::from_secs(4), "waited {took:?}");
}

#[tokio::test]
async fn retry_after_is_capped() {
    let fake = Fake::scripted().await;
    fake.push(Canned::text(429, "").header("retry-after", "3600"));
    fake.push(ok());
    let t = fake
        .builder()
        .retry(RetryPolicy {
            max_retry_after: Duration::from_millis(50),
            ..fast_retries(2)
        })
        .build()
        .unwrap();
    let started = Instant::now();
    t.get("Todo", "a1").await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn after_the_last_attempt_a_5xx_is_a_server_error() {
    let fake = Fake::with(|_| Canned::text(503, "down for maintenance")).await;
    let e = fake.transport().get("Todo", "a1").await.unwrap_err();
    assert_eq!(
        e,
        TransportError::Server {
            status: 503,
            message: "down for maintenance".into()
        }
    );
    assert_eq!(fake.requests(), 4);

    let e = fake
        .builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .get("Todo", "a1")
        .await;
    assert!(matches!(e, Err(TransportError::Server { status: 503, .. })));
    assert_eq!(fake.requests(), 5);
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let t = HttpTransport::builder(format!("http://127.0.0.1:{port}/"))
        .retry(fast_retries(3))
        .build()
        .unwrap();
    let e = t.get("Todo", "a1").await.unwrap_err();
    let TransportError::Network {
        message,
        kind,
        source,
    } = &e
    else {
        panic!("expected a network error, got {e:?}");
    };
    assert!(message.starts_with("GET /tables/Todo/a1: "), "{message}");
    // Refused: a connect failure, with reqwest's error kept as the source.
    assert_eq!(
        *kind,
        sync_core::transport::NetworkKind::Connect,
        "{message}"
    );
    let source = source.as_ref().expect("the HTTP client's error is kept");
    assert!(
        source
            .downcast_ref::<reqwest::Error>()
            .is_some_and(|r| r.is_connect())
    );
}

#[tokio::test]
async fn no_answer_in_time_is_a_network_error_after_the_retries() {
    let fake = Fake::with(|_| ok().delay(Duration::from_secs(3))).await;
    let t = fake
        .builder()
        .timeout(Duration::from_millis(150))
        .retry(fast_retries(2))
        .build()
        .unwrap();
    let started = Instant::now();
    let e = t.get("Todo", "a1").await.unwrap_err();
    assert!(matches!(e, TransportError::Network { .. }), "{e:?}");
    assert_eq!(
        e.network_kind(),
        Some(sync_core::transport::NetworkKind::Timeout),
        "{e:?}"
    );
    assert_eq!(fake.requests(), 2);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn after_the_last_attempt_a_429_with_retry_after_says_how_long_to_wait() {
    let fake = Fake::with(|_| Canned::text(429, "slow down").header("retry-after", "120")).await;
    let e = fake
        .builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .get("Todo", "a1")
        .await
        .unwrap_err();
    assert_eq!(
        e,
        TransportError::Throttled {
            status: 429,
            message: "slow down".into(),
            retry_after: Duration::from_secs(120),
        }
    );
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(e.status(), Some(429));
}

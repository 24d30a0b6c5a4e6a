//! What a server sends back is bounded: a body over the response-size limit is cut
//! off at the limit (or refused up front by its `Content-Length`), and a page holds
//! no more rows than it asked for.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use sync_core::transport::{PullRequest, Transport, TransportError};

use crate::fake::{Canned, Fake, row};

const T1: &str = "2026-11-21T12:00:00.001Z";

/// A page of one row whose text takes `len` bytes.
fn page_of(len: usize) -> String {
    let mut r = row("a", T1, "MQ==");
    r["text"] = json!("x".repeat(len));
    json!([r]).to_string()
}

#[tokio::test]
async fn an_answer_whose_content_length_is_over_the_limit_is_refused_unread() {
    let body = page_of(10_000);
    let fake = Fake::scripted().await;
    fake.push(Canned::text(200, &body).header("content-type", "application/json"));
    let t = fake.builder().max_response_bytes(4096).build().unwrap();
    let e = t.pull("Todo", PullRequest::new(10)).await.unwrap_err();
    let TransportError::ResponseTooLarge { limit, message } = &e else {
        panic!("expected ResponseTooLarge, got {e:?}");
    };
    assert_eq!(*limit, 4096);
    assert_eq!(
        message,
        &format!(
            "GET /app/tables/Todo: the answer's Content-Length is {}",
            body.len()
        )
    );
    assert_eq!(
        fake.requests(),
        1,
        "a too-large answer is not asked for again"
    );
}

#[tokio::test]
async fn an_answer_of_exactly_the_limit_is_read() {
    let body = page_of(10_000);
    let fake = Fake::scripted().await;
    fake.push(Canned::text(200, &body).header("content-type", "application/json"));
    let t = fake
        .builder()
        .max_response_bytes(body.len() as u64)
        .build()
        .unwrap();
    let page = t.pull("Todo", PullRequest::new(10)).await.unwrap();
    assert_eq!(page.records.len(), 1);
}

#[tokio::test]
async fn a_chunked_answer_past_the_limit_is_cut_off_not_buffered() {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 1024; // 64 MiB in all
    const LIMIT: u64 = 256 * 1024;
    let produced = Arc::new(AtomicUsize::new(0));
    let fake = Fake::scripted().await;
    let chunk = Arc::new(vec![b' '; CHUNK]);
    fake.push(Canned::streamed(
        200,
        vec![chunk; CHUNKS],
        Arc::clone(&produced),
    ));
    let t = fake.builder().max_response_bytes(LIMIT).build().unwrap();
    let e = t.get("Todo", "a1").await.unwrap_err();
    assert!(
        matches!(
            &e,
            TransportError::ResponseTooLarge { limit: LIMIT, message }
                if message.starts_with("GET /app/tables/Todo/a1: the answer's body goes on past ")
        ),
        "{e:?}"
    );
    // The client stopped reading at the limit: the server could hand over no more
    // than what the connection's buffers hold beyond it, far from the whole body.
    let sent = produced.load(Ordering::Relaxed);
    assert!(
        sent < CHUNK * CHUNKS / 4,
        "the server handed over {sent} of {} bytes: the client read on past the limit",
        CHUNK * CHUNKS
    );
}

#[tokio::test]
async fn a_chunked_answer_within_the_limit_is_read_whole() {
    let body = page_of(50_000).into_bytes();
    let chunks = body.chunks(4096).map(|c| Arc::new(c.to_vec())).collect();
    let fake = Fake::scripted().await;
    fake.push(Canned::streamed(200, chunks, Arc::new(AtomicUsize::new(0))));
    let t = fake
        .builder()
        .max_response_bytes(body.len() as u64)
        .build()
        .unwrap();
    let page = t.pull("Todo", PullRequest::new(10)).await.unwrap();
    assert_eq!(
        page.records[0].get("text"),
        Some(&"x".repeat(50_000).into())
    );
}

#[tokio::test]
async fn a_page_with_more_rows_than_asked_for_is_refused() {
    let fake = Fake::scripted().await;
    fake.push(Canned::json(
        200,
        json!([
            row("a", T1, "MQ=="),
            row("b", T1, "MQ=="),
            row("c", T1, "MQ==")
        ]),
    ));
    let e = fake
        .transport()
        .pull("Todo", PullRequest::new(2))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        TransportError::PageTooLong {
            asked: 2,
            got: 3,
            message: "GET /app/tables/Todo page".into(),
        }
    );
    assert_eq!(
        e.to_string(),
        "page too long: GET /app/tables/Todo page: 3 rows, but at most 2 were asked for"
    );
}

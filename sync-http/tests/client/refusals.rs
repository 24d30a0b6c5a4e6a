//! Refusals in the categories the engine acts on, and the token refresh on 401.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use sync_core::Record;
use sync_core::transport::{Transport, TransportError};

use crate::fake::{Canned, Fake, row};

fn item(id: &str) -> Record {
    let mut r = Record::new();
    r.set("id", id);
    r.set("text", "mine");
    r
}

#[tokio::test]
async fn a_412_carries_the_server_copy() {
    let fake = Fake::scripted().await;
    let mut server = row("a1", "2026-11-21T12:50:52.847Z", "Mw==");
    server["text"] = json!("theirs");
    fake.push(Canned::row(412, server));
    let e = fake
        .transport()
        .update("Todo", item("a1"), Some("MQ==".into()))
        .await
        .unwrap_err();
    let TransportError::PreconditionFailed {
        server_copy: Some(copy),
    } = e
    else {
        panic!("expected a 412 with a copy, got {e:?}");
    };
    assert_eq!(
        (copy.version(), copy.get("text")),
        (Some("Mw=="), Some(&"theirs".into()))
    );
}

#[tokio::test]
async fn a_409_with_a_server_row_carries_it() {
    let fake = Fake::scripted().await;
    fake.push(Canned::row(
        409,
        row("a1", "2026-11-21T12:50:52.847Z", "Mg=="),
    ));
    let e = fake
        .transport()
        .insert("Todo", item("a1"))
        .await
        .unwrap_err();
    let TransportError::Conflict {
        server_copy: Some(copy),
    } = e
    else {
        panic!("expected a 409 with a copy, got {e:?}");
    };
    assert_eq!(copy.version(), Some("Mg=="));
}

#[tokio::test]
async fn a_409_echoing_the_request_is_not_a_server_copy() {
    let fake = Fake::scripted().await;
    // The reference server answers a duplicate insert with the request body.
    fake.push(Canned::json(409, json!({"id": "a1", "text": "mine"})));
    let e = fake
        .transport()
        .insert("Todo", item("a1"))
        .await
        .unwrap_err();
    assert_eq!(e, TransportError::Conflict { server_copy: None });
}

#[tokio::test]
async fn a_404_is_not_found_and_other_refusals_keep_the_servers_message() {
    let fake = Fake::scripted().await;
    fake.push(Canned::json(
        404,
        json!({"error": "The item does not exist"}),
    ));
    fake.push(Canned::json(400, json!({"error": "text is reserved"})));
    fake.push(Canned::text(500, "<html>boom</html>"));
    fake.push(Canned::text(403, ""));
    let t = fake.transport();
    assert_eq!(
        t.update("Todo", item("a1"), None).await.unwrap_err(),
        TransportError::NotFound
    );
    assert_eq!(
        t.insert("Todo", item("a1")).await.unwrap_err(),
        TransportError::Server {
            status: 400,
            message: "text is reserved".into()
        }
    );
    assert_eq!(
        t.insert("Todo", item("a1")).await.unwrap_err(),
        TransportError::Server {
            status: 500,
            message: "<html>boom</html>".into()
        }
    );
    assert_eq!(
        t.insert("Todo", item("a1")).await.unwrap_err(),
        TransportError::Unauthorized {
            status: 403,
            message: "Forbidden".into()
        }
    );
    assert_eq!(fake.requests(), 4, "none of these is retried");
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_retries_with_it() {
    let fake = Fake::scripted().await;
    fake.push(Canned::json(401, json!({"error": "expired"})));
    fake.push(Canned::row(
        200,
        row("a1", "2026-11-21T12:50:52.847Z", "MQ=="),
    ));
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let t = fake
        .builder()
        .bearer_token("old")
        .token_refresher(move || {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok(format!("new{n}")) }
        })
        .build()
        .unwrap();
    t.get("Todo", "a1").await.unwrap().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let seen = fake.seen();
    assert_eq!(seen[0].header("authorization"), Some("Bearer old"));
    assert_eq!(seen[1].header("authorization"), Some("Bearer new1"));

    // The new token stays; a second 401 on one request is final.
    fake.push(Canned::json(401, json!({"error": "nope"})));
    fake.push(Canned::json(401, json!({"error": "still nope"})));
    let e = t.get("Todo", "a1").await.unwrap_err();
    assert_eq!(
        e,
        TransportError::Unauthorized {
            status: 401,
            message: "still nope".into()
        }
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let seen = fake.seen();
    assert_eq!(seen[2].header("authorization"), Some("Bearer new1"));
    assert_eq!(seen[3].header("authorization"), Some("Bearer new2"));
    assert_eq!(seen.len(), 4);
}

#[tokio::test]
async fn a_401_without_a_refresher_or_with_a_failing_one_is_unauthorized() {
    let fake = Fake::scripted().await;
    fake.push(Canned::json(401, json!({"error": "who are you"})));
    let e = fake.transport().get("Todo", "a1").await.unwrap_err();
    assert_eq!(
        e,
        TransportError::Unauthorized {
            status: 401,
            message: "who are you".into()
        }
    );

    fake.push(Canned::json(401, json!({"error": "expired"})));
    let t = fake
        .builder()
        .token_refresher(|| async {
            Err(TransportError::Unauthorized {
                status: 401,
                message: "sign in again".into(),
            })
        })
        .build()
        .unwrap();
    let e = t.get("Todo", "a1").await.unwrap_err();
    assert_eq!(
        e,
        TransportError::Unauthorized {
            status: 401,
            message: "sign in again".into()
        }
    );
    assert_eq!(fake.requests(), 2);
}

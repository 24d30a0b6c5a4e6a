//! Answers that are not what the protocol says are `Malformed`, naming what was wrong.

use serde_json::json;
use sync_core::transport::{PullRequest, Transport, TransportError};
use sync_core::{ColumnType, TableSchema};

use crate::fake::{Canned, Fake, row};

fn message(e: TransportError) -> String {
    match e {
        TransportError::Malformed { message } => message,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_body_that_is_not_json() {
    let fake = Fake::scripted().await;
    fake.push(Canned::text(200, "<html>hello</html>"));
    let m = message(fake.transport().get("Todo", "a1").await.unwrap_err());
    assert!(
        m.starts_with("GET /app/tables/Todo/a1: the body is not JSON"),
        "{m}"
    );
    assert!(m.contains("<html>hello</html>"), "{m}");
}

#[tokio::test]
async fn a_row_that_is_not_an_object() {
    let fake = Fake::scripted().await;
    fake.push(Canned::json(
        201,
        json!([row("a1", "2026-11-21T12:50:52.847Z", "MQ==")]),
    ));
    let mut item = sync_core::Record::new();
    item.set("id", "a1");
    let m = message(fake.transport().insert("Todo", item).await.unwrap_err());
    assert_eq!(
        m,
        "POST /app/tables/Todo: expected a JSON object (a row), got an array"
    );
}

#[tokio::test]
async fn a_numeric_version() {
    let fake = Fake::scripted().await;
    let mut r = row("a1", "2026-11-21T12:50:52.847Z", "");
    r["version"] = json!(3);
    fake.push(Canned::json(200, r));
    let m = message(fake.transport().get("Todo", "a1").await.unwrap_err());
    assert!(
        m.contains("column `version`: expected a string, got a number"),
        "{m}"
    );
}

#[tokio::test]
async fn a_strong_etag_that_differs_from_the_body_version() {
    let fake = Fake::scripted().await;
    fake.push(
        Canned::json(200, row("a1", "2026-11-21T12:50:52.847Z", "MQ==")).header("etag", "\"Mg==\""),
    );
    let m = message(fake.transport().get("Todo", "a1").await.unwrap_err());
    assert!(
        m.contains("the ETag says version \"Mg==\" but the body says \"MQ==\""),
        "{m}"
    );
}

#[tokio::test]
async fn a_value_that_does_not_fit_the_schema_or_a_row_without_id() {
    let fake = Fake::scripted().await;
    let mut r = row("a1", "2026-11-21T12:50:52.847Z", "MQ==");
    r["done"] = json!("yes");
    fake.push(Canned::json(200, r));
    fake.push(Canned::json(200, json!({"text": "no id"})));
    let t = fake.transport();
    t.register_schema(&TableSchema::new("Todo").with_column("done", ColumnType::Bool, false));
    let m = message(t.get("todo", "a1").await.unwrap_err());
    assert!(
        m.contains("column `done`: expected bool, got a string"),
        "{m}"
    );
    let m = message(t.get("Todo", "a1").await.unwrap_err());
    assert!(m.ends_with("the row has no text `id`"), "{m}");
}

#[tokio::test]
async fn a_page_of_the_wrong_shape() {
    let fake = Fake::scripted().await;
    fake.push(Canned::json(200, json!({"value": []})));
    fake.push(Canned::json(200, json!("rows")));
    fake.push(Canned::json(200, json!([{"id": "a1", "version": "MQ=="}])));
    let t = fake.transport();
    let m = message(t.pull("Todo", PullRequest::new(10)).await.unwrap_err());
    assert_eq!(
        m,
        "GET /app/tables/Todo page: expected a JSON array or {results: [...]}, got an object without `results`"
    );
    let m = message(t.pull("Todo", PullRequest::new(10)).await.unwrap_err());
    assert!(m.ends_with("got a string"), "{m}");
    let m = message(t.pull("Todo", PullRequest::new(10)).await.unwrap_err());
    assert!(m.contains("row \"a1\" has no `updatedAt`"), "{m}");
}

#[tokio::test]
async fn an_answer_about_another_row() {
    let fake = Fake::scripted().await;
    fake.push(Canned::row(
        201,
        row("b2", "2026-11-21T12:50:52.847Z", "MQ=="),
    ));
    fake.push(Canned::row(
        200,
        row("A1", "2026-11-21T12:50:52.847Z", "MQ=="),
    ));
    fake.push(Canned::row(
        412,
        row("b2", "2026-11-21T12:50:52.847Z", "Mg=="),
    ));
    let t = fake.transport();
    let mut item = sync_core::Record::new();
    item.set("id", "a1");
    let m = message(t.insert("Todo", item.clone()).await.unwrap_err());
    assert_eq!(
        m,
        "POST /app/tables/Todo: the answer is about row \"b2\", not \"a1\""
    );
    let m = message(t.get("Todo", "a1").await.unwrap_err());
    assert!(
        m.ends_with("the answer is about row \"A1\", not \"a1\""),
        "{m}"
    );
    // A conflict's server copy of another row is no server copy.
    let e = t
        .update("Todo", item, Some("MQ==".into()))
        .await
        .unwrap_err();
    assert_eq!(e, TransportError::PreconditionFailed { server_copy: None });
}

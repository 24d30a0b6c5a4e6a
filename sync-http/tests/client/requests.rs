//! The shape of each request, checked on the server side, and the rows decoded.

use serde_json::json;
use sync_core::transport::Transport;
use sync_core::{ColumnType, Record, TableSchema, Value};
use sync_http::TokenHeader;

use crate::fake::{Canned, Fake, row};

const HOSTILE_ID: &str = "a/b c%'é;?#..";
const HOSTILE_PATH: &str = "/app/tables/Todo/a%2Fb%20c%25%27%C3%A9%3B%3F%23..";

fn schema() -> TableSchema {
    TableSchema::new("Todo")
        .with_column("text", ColumnType::Text, false)
        .with_column("due", ColumnType::Date, true)
}

fn item(id: &str) -> Record {
    let mut r = Record::new();
    r.set("id", id);
    r.set("text", "milk");
    r.set("due", Value::Date("2026-12-01".parse().unwrap()));
    r
}

fn server_row(id: &str, version: &str) -> serde_json::Value {
    let mut r = row(id, "2026-11-21T12:50:52.847Z", version);
    r["text"] = json!("milk");
    r["due"] = json!("2026-12-01T00:00:00.000Z");
    r
}

#[tokio::test]
async fn insert_posts_the_item_with_protocol_and_auth_headers() {
    let fake = Fake::scripted().await;
    fake.push(Canned::row(201, server_row("a1", "MQ==")));
    let t = fake
        .builder()
        .bearer_token("tok1")
        .token_header(TokenHeader::Both)
        .header("X-ZUMO-INSTALLATION-ID", "inst-1")
        .build()
        .unwrap();
    t.register_schema(&schema());
    let saved = t.insert("Todo", item("a1")).await.unwrap();

    let seen = &fake.seen()[0];
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/app/tables/Todo")
    );
    assert_eq!(seen.header("zumo-api-version"), Some("2.0.0"));
    assert_eq!(seen.header("authorization"), Some("Bearer tok1"));
    assert_eq!(seen.header("x-zumo-auth"), Some("tok1"));
    assert_eq!(seen.header("x-zumo-installation-id"), Some("inst-1"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("if-match"), None);
    assert_eq!(
        seen.body,
        r#"{"id":"a1","text":"milk","due":"2026-12-01T00:00:00.000Z"}"#
    );
    assert_eq!(saved.version(), Some("MQ=="));
    assert_eq!(
        saved.get("due"),
        Some(&Value::Date("2026-12-01".parse().unwrap()))
    );
    assert_eq!(
        saved.get("updatedAt"),
        Some(&Value::from("2026-11-21T12:50:52.847Z"))
    );
}

#[tokio::test]
async fn update_patches_a_hostile_id_with_if_match() {
    let fake = Fake::scripted().await;
    fake.push(Canned::row(200, server_row(HOSTILE_ID, "Mg==")));
    let t = fake
        .builder()
        .token_header(TokenHeader::ZumoAuth)
        .bearer_token("tok")
        .build()
        .unwrap();
    t.register_schema(&schema());
    let saved = t
        .update("Todo", item(HOSTILE_ID), Some("MQ==".into()))
        .await
        .unwrap();

    let seen = &fake.seen()[0];
    assert_eq!(seen.method, "PATCH");
    assert_eq!(seen.path, HOSTILE_PATH);
    assert_eq!(seen.header("if-match"), Some("\"MQ==\""));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.header("x-zumo-auth"), Some("tok"));
    assert_eq!(seen.json()["id"], json!(HOSTILE_ID));
    assert_eq!(saved.id(), Some(HOSTILE_ID));
    assert_eq!(saved.version(), Some("Mg=="));
}

#[tokio::test]
async fn an_unconditional_update_sends_no_if_match() {
    let fake = Fake::scripted().await;
    fake.push(Canned::row(200, server_row("a1", "Mg==")));
    fake.transport()
        .update("Todo", item("a1"), None)
        .await
        .unwrap();
    assert_eq!(fake.seen()[0].header("if-match"), None);
}

#[tokio::test]
async fn delete_sends_if_match_and_returns_the_deleted_row() {
    let fake = Fake::scripted().await;
    let mut deleted = server_row(HOSTILE_ID, "Mw==");
    deleted["deleted"] = json!(true);
    fake.push(Canned::row(200, deleted));
    fake.push(Canned::text(204, ""));
    let t = fake
        .builder()
        .api_key("x-api-key", "k-123")
        .build()
        .unwrap();

    let copy = t
        .delete("Todo", HOSTILE_ID, Some("Mg==".into()))
        .await
        .unwrap();
    assert!(copy.unwrap().is_deleted());
    let none = t.delete("Todo", "gone", None).await.unwrap();
    assert_eq!(none, None);

    let seen = fake.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("DELETE", HOSTILE_PATH)
    );
    assert_eq!(seen[0].header("if-match"), Some("\"Mg==\""));
    assert_eq!(seen[0].header("x-api-key"), Some("k-123"));
    assert_eq!(seen[0].header("zumo-api-version"), Some("2.0.0"));
    assert_eq!(seen[1].header("if-match"), None);
    assert_eq!(seen[1].body, "");
}

#[tokio::test]
async fn get_reads_one_row_and_a_404_is_none() {
    let fake = Fake::scripted().await;
    fake.push(Canned::row(200, server_row(HOSTILE_ID, "MQ==")));
    fake.push(Canned::json(
        404,
        json!({"error": "The item does not exist"}),
    ));
    let t = fake.transport();
    t.register_schema(&schema());
    let got = t.get("Todo", HOSTILE_ID).await.unwrap().unwrap();
    assert_eq!(got.get("text"), Some(&Value::from("milk")));
    assert_eq!(t.get("Todo", "nope").await.unwrap(), None);
    let seen = fake.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", HOSTILE_PATH)
    );
    assert_eq!(seen[1].path, "/app/tables/Todo/nope");
}

#[tokio::test]
async fn a_weak_etag_is_ignored_and_a_strong_one_fills_a_missing_version() {
    let fake = Fake::scripted().await;
    fake.push(
        Canned::json(200, row("a1", "2026-11-21T12:50:52.847Z", "MQ=="))
            .header("etag", "W/\"1a-xyz\""),
    );
    let mut no_version = row("a1", "2026-11-21T12:50:52.847Z", "");
    no_version.as_object_mut().unwrap().remove("version");
    fake.push(Canned::json(200, no_version).header("etag", "\"Nw==\""));
    let t = fake.transport();
    assert_eq!(
        t.get("Todo", "a1").await.unwrap().unwrap().version(),
        Some("MQ==")
    );
    assert_eq!(
        t.get("Todo", "a1").await.unwrap().unwrap().version(),
        Some("Nw==")
    );
}

#[tokio::test]
async fn ids_that_no_url_can_carry_are_refused_before_sending() {
    let fake = Fake::scripted().await;
    let t = fake.transport();
    for id in ["", ".", ".."] {
        let e = t.get("Todo", id).await.unwrap_err();
        assert!(
            matches!(e, sync_core::transport::TransportError::Malformed { .. }),
            "{e}"
        );
    }
    assert_eq!(fake.requests(), 0);
}

#[tokio::test]
async fn a_write_sends_its_headers_in_one_order_and_a_retry_sends_it_again_unchanged() {
    let fake = Fake::scripted().await;
    fake.push(Canned::text(503, "busy"));
    fake.push(Canned::row(200, server_row("a1", "Mg==")));
    let t = fake
        .builder()
        .bearer_token("tok")
        .token_header(TokenHeader::Both)
        .header("X-ZUMO-INSTALLATION-ID", "inst-1")
        .header("X-Extra", "one")
        .header("X-Extra", "two")
        .api_key("x-api-key", "k-123")
        .retry(crate::fake::fast_retries(2))
        .build()
        .unwrap();
    t.register_schema(&schema());
    t.update("Todo", item("a1"), Some("MQ==".into()))
        .await
        .unwrap();

    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        let headers: Vec<(&str, &str)> = s
            .headers
            .iter()
            // Added by reqwest and hyper, not by the transport.
            .filter(|(n, _)| !matches!(n.as_str(), "host" | "content-length"))
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            headers,
            [
                ("zumo-api-version", "2.0.0"),
                ("x-zumo-installation-id", "inst-1"),
                ("x-extra", "one"),
                ("x-extra", "two"),
                ("accept", "application/json"),
                ("x-api-key", "k-123"),
                ("authorization", "Bearer tok"),
                ("x-zumo-auth", "tok"),
                ("if-match", "\"MQ==\""),
                ("content-type", "application/json"),
            ]
        );
    }
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(
        seen[0].body,
        r#"{"id":"a1","text":"milk","due":"2026-12-01T00:00:00.000Z"}"#
    );
}

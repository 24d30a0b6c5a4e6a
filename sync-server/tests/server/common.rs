//! A server per test on 127.0.0.1:0, over SQLite in memory or a fresh PostgreSQL schema
//! (dropped afterwards), and a small HTTP client speaking the protocol.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::Value as Json;
use sync_server::{Config, RunningServer};

pub const PG_ENV: &str = "TABLESYNC_TEST_POSTGRES";

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh PostgreSQL schema, dropped on drop.
pub struct PgSchema {
    base: String,
    name: String,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

impl PgSchema {
    /// `None` (and a note on stderr) when TABLESYNC_TEST_POSTGRES is not set.
    pub async fn create(test: &str) -> Option<PgSchema> {
        let Ok(base) = std::env::var(PG_ENV) else {
            // Straight to stderr: the harness would swallow eprintln! of a passing test.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test} on PostgreSQL: {PG_ENV} is not set \
                 (e.g. {PG_ENV}=postgres://postgres@127.0.0.1:5432/test)"
            );
            return None;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        // Digits and underscores only: safe to put in DDL.
        let name = format!(
            "ts_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            nanos % 1_000_000_000
        );
        let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create schema");
        Some(PgSchema { base, name })
    }

    /// A database URL whose connections use this schema.
    pub fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.base, self.name)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // A runtime of its own: drop may run inside or outside the test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&base, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// An answer.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub etag: Option<String>,
    pub json: Json,
    pub text: String,
}

impl Resp {
    pub fn version(&self) -> String {
        self.json["version"].as_str().unwrap_or_default().to_owned()
    }

    /// Asserts a JSON error body `{"error": "..."}` and returns the message.
    pub fn error(&self) -> String {
        let obj = self
            .json
            .as_object()
            .unwrap_or_else(|| panic!("not a JSON object: {} {}", self.status, self.text));
        obj.get("error")
            .and_then(Json::as_str)
            .unwrap_or_else(|| panic!("no error field: {} {}", self.status, self.text))
            .to_owned()
    }

    pub fn rows(&self) -> Vec<Json> {
        match &self.json {
            Json::Array(a) => a.clone(),
            Json::Object(o) => o["results"].as_array().cloned().unwrap_or_default(),
            _ => panic!("not a list: {}", self.text),
        }
    }
}

/// A running server and a client for it.
pub struct Env {
    pub server: Option<RunningServer>,
    pub http: reqwest::Client,
    pub base: String,
    /// Dropped after the server: the PostgreSQL schema, if any.
    pub _schema: Option<PgSchema>,
}

/// Server logs (errors behind a 500) show in the failing test's output.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("sync_server=warn")
        .with_test_writer()
        .try_init();
}

impl Env {
    /// A client of a server started elsewhere (several instances on one database).
    pub fn of(server: RunningServer) -> Env {
        logs();
        Env {
            base: server.url(),
            server: Some(server),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap(),
            _schema: None,
        }
    }

    pub async fn start(db: Db, test: &str, tune: impl FnOnce(Config) -> Config) -> Option<Env> {
        logs();
        let (url, schema) = match db {
            Db::Sqlite => ("sqlite::memory:".to_owned(), None),
            Db::Postgres => {
                let s = PgSchema::create(test).await?;
                (s.url(), Some(s))
            }
        };
        let config = tune(Config::open(&url).await.expect("open the database"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = sync_server::serve(listener, config).await.unwrap();
        Some(Env {
            base: server.url(),
            server: Some(server),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap(),
            _schema: schema,
        })
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.unwrap();
        }
    }

    /// A request with the API version header and these extra headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("ZUMO-API-VERSION", "2.0.0");
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb
                .header("Content-Type", "application/json")
                .body(b.to_owned());
        }
        let r = rb.send().await.expect("request");
        let status = r.status();
        let etag = r
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = r.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Json::Null);
        Resp {
            status,
            etag,
            json,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Json) -> Resp {
        self.call(Method::POST, path, Some(&body.to_string()), &[])
            .await
    }

    pub async fn patch(&self, path: &str, body: Json, if_match: Option<&str>) -> Resp {
        let h: Vec<(&str, &str)> = if_match.map(|v| ("If-Match", v)).into_iter().collect();
        self.call(Method::PATCH, path, Some(&body.to_string()), &h)
            .await
    }

    pub async fn delete(&self, path: &str, if_match: Option<&str>) -> Resp {
        let h: Vec<(&str, &str)> = if_match.map(|v| ("If-Match", v)).into_iter().collect();
        self.call(Method::DELETE, path, None, &h).await
    }

    /// Every row of a table, deleted too, ordered by id: for before/after snapshots.
    pub async fn snapshot(&self, table: &str) -> Vec<Json> {
        let r = self
            .get(&format!(
                "/tables/{table}?$orderby=id&$top=100&__includeDeleted=true"
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.rows()
    }

    /// [`Env::snapshot`] with a JWT.
    pub async fn snapshot_as(&self, table: &str, token: &str) -> Vec<Json> {
        let path = format!("/tables/{table}?$orderby=id&$top=100&__includeDeleted=true");
        let r = self
            .call(Method::GET, &path, None, &[("X-ZUMO-AUTH", token)])
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.rows()
    }

    /// Pulls everything after `watermark` with the client's keyset filter, pages of
    /// `page`; returns the rows and the new watermark.
    pub async fn pull(
        &self,
        table: &str,
        mut watermark: Option<(String, String)>,
        page: usize,
    ) -> (Vec<Json>, Option<(String, String)>) {
        let mut out = Vec::new();
        loop {
            let mut q: Vec<(String, String)> = Vec::new();
            if let Some((t, id)) = &watermark {
                let w = sync_core::store::Watermark {
                    updated_at: t.clone(),
                    id: id.clone(),
                };
                q.push(("$filter".into(), sync_http::wire::odata::keyset(&w)));
            }
            q.push(("$orderby".into(), "updatedAt,id".into()));
            q.push(("$top".into(), page.to_string()));
            q.push(("__includeDeleted".into(), "true".into()));
            let query: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(q)
                .finish();
            let r = self.get(&format!("/tables/{table}?{query}")).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let rows = r.rows();
            let n = rows.len();
            if let Some(last) = rows.last() {
                watermark = Some((
                    last["updatedAt"].as_str().unwrap().to_owned(),
                    last["id"].as_str().unwrap().to_owned(),
                ));
            }
            out.extend(rows);
            if n < page {
                return (out, watermark);
            }
        }
    }
}

/// The version counter behind a version text (base64 of the decimal number).
pub fn counter(version: &str) -> i64 {
    sync_server::store::parse_version(version).unwrap_or_else(|| panic!("bad version {version}"))
}

/// The HS256 secret of the tests that sign their own tokens.
pub const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes";

/// A bearer token for `sub`, valid for ten minutes, signed with [`SECRET`].
pub fn bearer(sub: &str) -> String {
    let claims = serde_json::json!({"sub": sub, "exp": chrono::Utc::now().timestamp() + 600});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

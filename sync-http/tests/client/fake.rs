//! A scriptable fake server: records every request and answers from a queue of canned
//! responses, or from a function of the request.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{Value as Json, json};
use sync_http::{HttpTransport, HttpTransportBuilder, RetryPolicy};

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// As sent, percent-encoding included.
    pub path: String,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Json {
        serde_json::from_str(&self.body).expect("the request body is JSON")
    }

    /// A query parameter, decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        let Query(q) = Query::<HashMap<String, String>>::try_from_uri(&self.uri).ok()?;
        q.get(name).cloned()
    }
}

/// A canned answer.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
    /// Instead of `body`: a chunked body, produced as the client reads it.
    pub stream: Option<Streamed>,
}

/// A chunked body: its chunks, and the bytes the server got to hand to the
/// connection so far.
#[derive(Debug, Clone)]
pub struct Streamed {
    pub chunks: Vec<Arc<Vec<u8>>>,
    pub produced: Arc<AtomicUsize>,
}

impl Canned {
    pub fn json(status: u16, body: Json) -> Canned {
        Canned::text(status, &body.to_string()).header("content-type", "application/json")
    }

    pub fn text(status: u16, body: &str) -> Canned {
        Canned {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
            delay: Duration::ZERO,
            stream: None,
        }
    }

    /// A chunked answer (no `Content-Length`) of these chunks; `produced` counts the
    /// bytes handed to the connection.
    pub fn streamed(status: u16, chunks: Vec<Arc<Vec<u8>>>, produced: Arc<AtomicUsize>) -> Canned {
        Canned {
            stream: Some(Streamed { chunks, produced }),
            ..Canned::text(status, "")
        }
    }

    /// A single-row answer with the row's strong ETag, as the protocol has it.
    pub fn row(status: u16, row: Json) -> Canned {
        let etag = format!("\"{}\"", row["version"].as_str().unwrap_or_default());
        Canned::json(status, row).header("etag", &etag)
    }

    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Canned {
        self.delay = delay;
        self
    }
}

type Responder = Arc<dyn Fn(&Seen) -> Canned + Send + Sync>;

struct Shared {
    seen: Mutex<Vec<Seen>>,
    script: Mutex<VecDeque<Canned>>,
    responder: Option<Responder>,
}

pub struct Fake {
    /// The base URL clients use, with a path prefix: `http://127.0.0.1:PORT/app/`.
    pub url: String,
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        uri: parts.uri.clone(),
        headers: parts.headers.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    shared.seen.lock().unwrap().push(seen.clone());
    let canned = match &shared.responder {
        Some(respond) => respond(&seen),
        None => shared
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Canned::text(599, "the fake's script is exhausted")),
    };
    if !canned.delay.is_zero() {
        tokio::time::sleep(canned.delay).await;
    }
    let body = match canned.stream {
        Some(s) => {
            let produced = s.produced;
            let chunks = futures_util::stream::iter(s.chunks).map(move |chunk| {
                produced.fetch_add(chunk.len(), Ordering::Relaxed);
                Ok::<_, std::io::Error>(chunk.as_ref().clone())
            });
            Body::from_stream(chunks)
        }
        None => Body::from(canned.body),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(canned.status).unwrap();
    for (name, value) in canned.headers {
        response.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}

impl Fake {
    async fn serve(responder: Option<Responder>) -> Fake {
        let shared = Arc::new(Shared {
            seen: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            responder,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake {
            url: format!("http://127.0.0.1:{port}/app/"),
            port,
            shared,
            task,
        }
    }

    /// A server answering from the queue filled by [`Fake::push`].
    pub async fn scripted() -> Fake {
        Fake::serve(None).await
    }

    /// A server answering with `respond(request)`.
    pub async fn with(respond: impl Fn(&Seen) -> Canned + Send + Sync + 'static) -> Fake {
        Fake::serve(Some(Arc::new(respond))).await
    }

    pub fn push(&self, canned: Canned) -> &Fake {
        self.shared.script.lock().unwrap().push_back(canned);
        self
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    pub fn requests(&self) -> usize {
        self.shared.seen.lock().unwrap().len()
    }

    /// A builder for this server: fast retries, short timeouts.
    pub fn builder(&self) -> HttpTransportBuilder {
        HttpTransport::builder(&self.url)
            .timeout(Duration::from_secs(5))
            .retry(fast_retries(4))
    }

    pub fn transport(&self) -> HttpTransport {
        self.builder().build().unwrap()
    }
}

pub fn fast_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(2),
    }
}

/// A server row.
pub fn row(id: &str, updated_at: &str, version: &str) -> Json {
    json!({
        "id": id,
        "version": version,
        "updatedAt": updated_at,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "deleted": false,
    })
}

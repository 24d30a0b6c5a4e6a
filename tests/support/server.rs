//! A tablesync server (SQLite in memory) on 127.0.0.1:0 whose router is wrapped in a
//! layer that counts, per `stamp` column value, the writes the server applied (a 2xx
//! answer to POST, PATCH or DELETE). Tests give every local write a unique stamp, so
//! the count says whether a write reached the server, and whether more than once.
//! A test may wrap the counting router in layers of its own (`start_with`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use tokio::sync::oneshot;

#[derive(Default)]
pub struct Applied {
    stamps: Mutex<HashMap<String, usize>>,
}

impl Applied {
    /// stamp -> how many times the server applied a write carrying it.
    pub fn stamps(&self) -> HashMap<String, usize> {
        self.stamps.lock().expect("applied lock").clone()
    }
}

pub struct CountingServer {
    pub addr: SocketAddr,
    pub url: String,
    pub applied: Arc<Applied>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl CountingServer {
    pub async fn start(config: sync_server::Config) -> CountingServer {
        CountingServer::start_with(config, |app| app).await
    }

    /// Like `start`, with `wrap` adding layers around the counting one: they see each
    /// request before it is counted, and each answer after.
    pub async fn start_with(
        config: sync_server::Config,
        wrap: impl FnOnce(Router) -> Router,
    ) -> CountingServer {
        let applied = Arc::new(Applied::default());
        let app = wrap(
            sync_server::router(config).layer(from_fn_with_state(Arc::clone(&applied), count)),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sync_server::serve_until(listener, app, async {
            let _ = stopped.await;
        }));
        CountingServer {
            addr,
            url: format!("http://{addr}"),
            applied,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn in_memory() -> CountingServer {
        let config = sync_server::Config::open("sqlite::memory:")
            .await
            .expect("server database");
        CountingServer::start(config).await
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }
}

impl Drop for CountingServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn count(State(applied): State<Arc<Applied>>, request: Request, next: Next) -> Response {
    if request.uri().path() == sync_http::wire::batch::BATCH_PATH {
        return count_batch(&applied, request, next).await;
    }
    let method = request.method().clone();
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, 1 << 20).await else {
        return Response::builder()
            .status(413)
            .body(Body::empty())
            .expect("a response");
    };
    let stamp = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("stamp")?.as_str().map(str::to_owned));
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if applied_write(&method, &response)
        && let Some(s) = stamp
    {
        *applied
            .stamps
            .lock()
            .expect("applied lock")
            .entry(s)
            .or_default() += 1;
    }
    response
}

/// A batch: each operation whose result says the server applied it now (a 2xx that is
/// not a replay of a recorded answer) counts as its single request would.
async fn count_batch(applied: &Applied, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, 64 << 20).await else {
        return Response::builder()
            .status(413)
            .body(Body::empty())
            .expect("a response");
    };
    let stamps: Vec<Option<String>> = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            Some(
                v.get("operations")?
                    .as_array()?
                    .iter()
                    .map(|op| Some(op.get("item")?.get("stamp")?.as_str()?.to_owned()))
                    .collect(),
            )
        })
        .unwrap_or_default();
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let Ok(answer) = to_bytes(body, 256 << 20).await else {
        return Response::builder()
            .status(500)
            .body(Body::empty())
            .expect("a response");
    };
    if parts.status.is_success()
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&answer)
        && let Some(results) = v.get("results").and_then(|r| r.as_array())
    {
        let mut counts = applied.stamps.lock().expect("applied lock");
        for (stamp, result) in stamps.iter().zip(results) {
            let ok = result
                .get("status")
                .and_then(|s| s.as_u64())
                .is_some_and(|s| (200..300).contains(&s));
            let replayed = result.get("replayed").and_then(|r| r.as_bool()) == Some(true);
            if ok
                && !replayed
                && let Some(s) = stamp
            {
                *counts.entry(s.clone()).or_default() += 1;
            }
        }
    }
    Response::from_parts(parts, Body::from(answer))
}

/// Whether `response` answers a write the server applied: a 2xx answer to POST, PATCH or
/// DELETE.
pub fn applied_write(method: &Method, response: &Response) -> bool {
    matches!(*method, Method::POST | Method::PATCH | Method::DELETE)
        && response.status().is_success()
}

//! In-process tablesync servers on loopback, each on its own runtime so that the
//! clients under test never share a scheduler with it, and the fast seeding path.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;
use sync_server::store::{Backend, Outcome, SqliteBackend, WriteOp};
use sync_server::{Config, RunningServer};
use tokio::runtime::Runtime;

/// A multi-threaded runtime with `workers` threads.
pub fn runtime(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A tablesync server and the backend under it, running on its own runtime.
pub struct Server {
    pub rt: Runtime,
    pub backend: Arc<dyn Backend>,
    running: Option<RunningServer>,
    pub url: String,
}

impl Server {
    /// A server over a fresh SQLite file (or memory, when `path` is `None`).
    pub fn sqlite(path: Option<&Path>) -> Server {
        let backend = match path {
            Some(p) => SqliteBackend::open(p).expect("the server's SQLite file"),
            None => SqliteBackend::open_in_memory().expect("the server's SQLite memory"),
        };
        Server::over(Arc::new(backend))
    }

    /// A server over PostgreSQL.
    pub fn postgres(url: &str) -> Result<Server, String> {
        let rt = runtime(2);
        let backend = rt
            .block_on(sync_server::store::open(url))
            .map_err(|e| e.to_string())?;
        Ok(Server::start(rt, backend))
    }

    fn over(backend: Arc<dyn Backend>) -> Server {
        Server::start(runtime(2), backend)
    }

    fn start(rt: Runtime, backend: Arc<dyn Backend>) -> Server {
        let config = Config::new(Arc::clone(&backend));
        let running = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind loopback");
            sync_server::serve(listener, config).await.expect("serve")
        });
        let url = running.url();
        Server {
            rt,
            backend,
            running: Some(running),
            url,
        }
    }

    /// Inserts rows straight through the backend (no HTTP): `columns(i)` for row `i`,
    /// with id `id(i)`. Four writes in flight keep the backend busy.
    pub fn seed(
        &self,
        table: &str,
        n: usize,
        id: impl Fn(usize) -> String + Send + Sync + 'static,
        columns: impl Fn(usize) -> Vec<(String, Json)> + Send + Sync + 'static,
    ) {
        let (id, columns) = (Arc::new(id), Arc::new(columns));
        self.rt.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for lane in 0..4 {
                let (backend, id, columns, table) = (
                    Arc::clone(&self.backend),
                    Arc::clone(&id),
                    Arc::clone(&columns),
                    table.to_owned(),
                );
                tasks.spawn(async move {
                    for i in (lane..n).step_by(4) {
                        let op = WriteOp::Insert { data: columns(i) };
                        match backend.write(&table, "", &id(i), op).await {
                            Ok(Outcome::Done(_)) => {}
                            other => panic!("seeding row {i} of `{table}`: {other:?}"),
                        }
                    }
                });
            }
            while let Some(done) = tasks.join_next().await {
                done.expect("a seeding task");
            }
        });
    }

    pub fn stop(mut self) {
        if let Some(running) = self.running.take() {
            self.rt
                .block_on(running.shutdown())
                .expect("the server stops");
        }
    }
}

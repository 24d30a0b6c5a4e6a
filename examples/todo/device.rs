//! One device: the tutorial's item, a local SQLite store and an HTTP transport, and
//! the lookups every command shares (ids by prefix, which items have unsent changes or
//! conflicts). Two `--db` files on one machine are two devices.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use sync_http::{HttpTransport, RetryPolicy};
use tablesync::chrono::NaiveDate;
use tablesync::engine::{PushStatus, SyncContext, SyncError, SyncTable};
use tablesync::transport::{NetworkKind, TransportError};
use tablesync::{SqliteStore, Syncable};

/// The tutorial's item.
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("TodoWithDate")]
pub struct TodoItem {
    pub id: String,
    pub text: String,
    pub complete: bool,
    pub due_date: NaiveDate,
    #[version]
    pub version: Option<String>,
}

pub type Todos = SyncTable<TodoItem, SqliteStore, HttpTransport>;

/// Ids are shown this long at least; longer only when two ids share the first 8
/// characters, like git's abbreviated hashes.
const SHORT_ID: usize = 8;

pub struct Device {
    pub ctx: SyncContext<SqliteStore, HttpTransport>,
    pub todos: Todos,
    /// The server's URL as the user gave it, for messages.
    pub server: String,
}

impl Device {
    /// Opens (creating if needed) the device's database and points it at `server`.
    /// Nothing touches the network until a push or pull.
    pub async fn open(db: &Path, server: &str) -> anyhow::Result<Device> {
        // A person is waiting at the prompt: fail within seconds, not after the
        // library's defaults (30 s per request, 4 attempts) meant for background sync.
        let transport = HttpTransport::builder(server)
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(15))
            .retry(RetryPolicy {
                attempts: 2,
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(1),
                max_retry_after: Duration::from_secs(5),
            })
            // A streamed pull is stored (and its progress shown) every 100 rows, as a
            // paged one is, so the progress line moves on a list of a few hundred.
            .stream_page_rows(100)
            .build()
            .context("--server")?;
        let path = db.to_owned();
        // Opening creates and migrates the file: SQLite work, so off the runtime.
        let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
            .await?
            .with_context(|| format!("cannot open the database `{}`", db.display()))?;
        let ctx = SyncContext::new(store, transport);
        let todos = ctx.table::<TodoItem>().await?;
        Ok(Device {
            ctx,
            todos,
            server: server.to_owned(),
        })
    }

    /// Ids of items with a change not yet accepted by the server.
    pub async fn pending_ids(&self) -> anyhow::Result<BTreeSet<String>> {
        let pending = self.todos.pending().await?;
        Ok(pending.into_iter().map(|op| op.id).collect())
    }

    /// Ids of items in conflict.
    pub async fn conflict_ids(&self) -> anyhow::Result<BTreeSet<String>> {
        let conflicts = self.ctx.all_conflicts().await?;
        Ok(conflicts
            .into_iter()
            .filter(|c| c.table == TodoItem::table_name())
            .map(|c| c.item_id)
            .collect())
    }

    /// The item whose id starts with `prefix`.
    pub async fn find(&self, prefix: &str) -> anyhow::Result<TodoItem> {
        let ids: Vec<String> = self.todos.all().await?.into_iter().map(|t| t.id).collect();
        let id = resolve_prefix(prefix, &ids, "todo")?;
        self.todos
            .get(&id)
            .await?
            .ok_or_else(|| anyhow!("no todo with id `{id}`"))
    }

    /// Turns an engine error into a sentence for a person: a network failure names the
    /// server's URL, since that is what the user can check.
    pub fn explain(&self, error: SyncError) -> anyhow::Error {
        match &error {
            SyncError::Transport { source, .. } => self.explain_transport(source),
            SyncError::PushIncomplete { status, .. } => match status {
                PushStatus::NetworkError(message) => self.unreachable(message),
                PushStatus::AuthError(message) => self.refused(message),
                _ => anyhow!(error),
            },
            _ => anyhow!(error),
        }
    }

    fn explain_transport(&self, error: &TransportError) -> anyhow::Error {
        match error {
            TransportError::Network {
                kind,
                source: Some(source),
                ..
            } => {
                // The innermost cause ("Connection refused (os error 111)") is what a
                // person can act on; the kind says what to check.
                let mut cause: &dyn std::error::Error = source;
                while let Some(next) = cause.source() {
                    cause = next;
                }
                let hint = match kind {
                    NetworkKind::Timeout => " (no answer in time)",
                    NetworkKind::Dns => " (check the server's name)",
                    NetworkKind::Tls => " (check the certificate and the URL's scheme)",
                    NetworkKind::Connect => " (is it running?)",
                    _ => "",
                };
                anyhow!("cannot reach the server at {}{hint}: {cause}", self.server)
            }
            TransportError::Network { message, .. } => self.unreachable(message),
            TransportError::Unauthorized { .. } => self.refused(&error.to_string()),
            other => anyhow!("the server at {} answered: {other}", self.server),
        }
    }

    pub fn unreachable(&self, message: &str) -> anyhow::Error {
        // The transport's message nests every layer (request, URL, hyper, the socket);
        // the innermost one ("Connection refused (os error 111)", "operation timed
        // out") is what a person can act on, and the URL is already named.
        let cause = message.rsplit(": ").next().unwrap_or(message);
        anyhow!("cannot reach the server at {}: {cause}", self.server)
    }

    pub fn refused(&self, message: &str) -> anyhow::Error {
        anyhow!("the server at {} refused access ({message})", self.server)
    }
}

/// The one id among `ids` that is `prefix` or starts with it.
pub fn resolve_prefix(prefix: &str, ids: &[String], what: &str) -> anyhow::Result<String> {
    if prefix.is_empty() {
        bail!("an empty id matches every {what}: give the first characters of one");
    }
    if let Some(exact) = ids.iter().find(|id| *id == prefix) {
        return Ok(exact.clone());
    }
    let matches: Vec<&String> = ids.iter().filter(|id| id.starts_with(prefix)).collect();
    match matches.as_slice() {
        [] => bail!("no {what} with an id starting with `{prefix}`"),
        [one] => Ok((*one).clone()),
        many => {
            let len = short_len(ids);
            let mut shown: Vec<&str> = many.iter().take(5).map(|id| short(id, len)).collect();
            let more = format!("and {} more", many.len() - shown.len());
            if many.len() > shown.len() {
                shown.push(&more);
            }
            bail!(
                "`{prefix}` is ambiguous: it matches {}; type more of the id",
                shown.join(", ")
            )
        }
    }
}

/// How many characters make every id in `ids` distinct (at least [`SHORT_ID`]).
pub fn short_len<S: AsRef<str>>(ids: &[S]) -> usize {
    let mut sorted: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
    sorted.sort_unstable();
    let common = sorted
        .windows(2)
        .map(|w| {
            w[0].chars()
                .zip(w[1].chars())
                .take_while(|(a, b)| a == b)
                .count()
        })
        .max()
        .unwrap_or(0);
    (common + 1).max(SHORT_ID)
}

/// The first `len` characters of an id.
pub fn short(id: &str, len: usize) -> &str {
    match id.char_indices().nth(len) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}
